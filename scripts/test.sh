#!/usr/bin/env bash
# Runs podyard's whole test suite on a fresh Debian machine with a running Docker Engine:
# builds the local test image (no registry is needed), runs every Rust test, end-to-end
# ones against real containers included, then the compatibility suite with the real
# RunPod clients (scripts/compat.sh; needs python3 and PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-test-image.sh
cargo test --workspace --locked "$@"
scripts/compat.sh
