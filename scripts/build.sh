#!/bin/sh
# Configures and builds into ${BUILD_DIR:-build}. SHMRT_SANITIZER selects
# sanitizers ("address,undefined" or "thread").
set -eu
cd "$(dirname "$0")/.."
"$(dirname "$0")/setup.sh"
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DSHMRT_SANITIZER="${SHMRT_SANITIZER:-}" >/dev/null
cmake --build "$build" -j"$(nproc)" -- --no-print-directory >/dev/null
