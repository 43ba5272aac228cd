#!/bin/sh
# The main job: build, then run the shmrt demo on the default config.
set -eu
cd "$(dirname "$0")/.."
scripts/build.sh
exec "${BUILD_DIR:-build}/shmrt" demo -c "${SHMRT_CONF:-conf/shmrt.ini}" "$@"
