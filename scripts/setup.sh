#!/bin/sh
# Installs the Debian packages shmrt builds and tests with. Idempotent:
# apt-get runs only when a package is missing. Needs root (or sudo).
# redis-server, libhiredis-dev and python3-rq are the benchmark's peers:
# CI's smoke run (scripts/bench.sh --smoke) measures them too.
set -eu
pkgs="build-essential cmake pkg-config libck-dev liburcu-dev libcmocka-dev libinih-dev
redis-server libhiredis-dev python3-rq"
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
