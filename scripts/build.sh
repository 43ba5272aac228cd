#!/bin/sh
# Configures and builds into ${BUILD_DIR:-build}. SHMRT_SANITIZER selects
# sanitizers ("address,undefined" or "thread"). Warnings are errors here
# (SHMRT_WERROR=ON: developer and CI builds), not in a plain cmake build.
set -eu
cd "$(dirname "$0")/.."
"$(dirname "$0")/setup.sh"
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DSHMRT_SANITIZER="${SHMRT_SANITIZER:-}" -DSHMRT_WERROR=ON \
	>/dev/null
cmake --build "$build" -j"$(nproc)" -- --no-print-directory >/dev/null
