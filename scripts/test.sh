#!/bin/sh
# The whole test suite: build, then every CTest test (unit, multiprocess,
# fault). Honours BUILD_DIR, SHMRT_SANITIZER and SHMRT_TEST_SCALE.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh
exec ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure "$@"
