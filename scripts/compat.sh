#!/usr/bin/env bash
# Runs the client compatibility suite (compat/): real RunPod clients, pinned, against a
# live `podyard serve` with real containers. Each client gets its own venv under
# .venv-compat/ because their dependencies conflict; a venv is reused while its pins are
# unchanged. Needs python3 with venv, PyPI access (or pip's cache) and a Docker Engine.
set -euo pipefail
cd "$(dirname "$0")/.."

VENVS=".venv-compat"
PYTEST="pytest==9.2.0"
# venv name, pinned client, tests it runs
SUITES=(
    "runpod-1.12.0 runpod==1.12.0 compat/runpod_sdk"
    "runpod-1.7.7 runpod==1.7.7 compat/runpod_sdk"
    "dstack-0.22.4 dstack==0.22.4 compat/dstack_backend"
)

# Creates or reuses the venv $1 with the requirement $2 and pytest.
venv() {
    local dir="$VENVS/$1" pins="$2 $PYTEST"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.pins" 2>/dev/null)" = "$pins" ]; then
        return
    fi
    echo "creating $dir with $pins" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    # shellcheck disable=SC2086 # the pins are separate words on purpose
    "$dir/bin/pip" install --quiet --disable-pip-version-check $pins
    echo "$pins" >"$dir/.pins"
}

mkdir -p "$VENVS"
pids=()
for suite in "${SUITES[@]}"; do
    read -r name client _ <<<"$suite"
    venv "$name" "$client" &
    pids+=("$!")
done
for pid in "${pids[@]}"; do
    wait "$pid"
done

scripts/build-test-image.sh
cargo build -p podyard --locked
export PODYARD_BIN="$PWD/target/debug/podyard"
# Keeps the tree clean: no __pycache__ under compat/.
export PYTHONDONTWRITEBYTECODE=1

failed=()
for suite in "${SUITES[@]}"; do
    read -r name _ tests <<<"$suite"
    echo "== $name: $tests" >&2
    status=0
    "$VENVS/$name/bin/python" -m pytest -c compat/pytest.ini --rootdir compat "$tests" \
        || status=$?
    case "$status" in
        0) ;;
        5) echo "$name: pytest collected no tests in $tests" >&2; failed+=("$name") ;;
        *) failed+=("$name") ;;
    esac
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "compat suite failed for: ${failed[*]}" >&2
    exit 1
fi
echo "compat suite passed for every client" >&2
