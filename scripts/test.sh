#!/usr/bin/env bash
# Runs podyard's whole test suite on a fresh Debian machine with a running Docker Engine:
# builds the local test image (no registry is needed) and runs every test, end-to-end ones
# against real containers included.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-test-image.sh
cargo test --workspace --locked "$@"
