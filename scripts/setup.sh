#!/bin/sh
# Installs the Debian packages shmrt builds and tests with. Idempotent:
# apt-get runs only when a package is missing. Needs root (or sudo).
set -eu
# python3-*: the Python package (python/), its build and its tests;
# prometheus: promtool checks `shmrt stat --prometheus` (tests/cli);
# hiredis, redis-server: the redis backend and its tests; util-linux:
# unshare, for a worker on a "second host" (tests/redis); redis-server
# and python3-rq are also the benchmark's peers, which CI's smoke run
# (scripts/bench.sh --smoke) measures.
pkgs="build-essential cmake pkg-config libck-dev liburcu-dev libcmocka-dev libinih-dev
python3-dev python3-cffi python3-pytest python3-setuptools python3-pip python3-wheel
prometheus
libhiredis-dev redis-server util-linux python3-rq"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
