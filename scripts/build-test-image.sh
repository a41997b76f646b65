#!/usr/bin/env bash
# Builds podyard-test/busybox:latest, the image the runtime and agent tests start, from
# Debian's busybox-static: nothing is pulled, so it works without registry access.
# Idempotent: does nothing when the image was already built from the same Dockerfile.
set -euo pipefail

IMAGE="podyard-test/busybox:latest"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DOCKERFILE="$ROOT/docker/testimage/Dockerfile"
REV="$(sha256sum "$DOCKERFILE" | cut -c1-16)"

built_rev="$(docker image inspect "$IMAGE" \
    --format '{{ index .Config.Labels "podyard.testimage.rev" }}' 2>/dev/null || true)"
if [ "$built_rev" = "$REV" ]; then
    echo "$IMAGE is up to date"
    exit 0
fi

# The image is FROM scratch, so it needs the statically linked busybox, not Debian's
# dynamically linked `busybox` package.
if ! dpkg -s busybox-static >/dev/null 2>&1; then
    echo "installing busybox-static" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y busybox-static
fi
if ! /bin/busybox --list | grep -qx sh; then
    echo "/bin/busybox lacks sh; install Debian's busybox-static" >&2
    exit 1
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$DOCKERFILE" "$context/Dockerfile"
cp /bin/busybox "$context/busybox"
docker build --quiet --label "podyard.testimage.rev=$REV" -t "$IMAGE" "$context"
echo "built $IMAGE"
