#!/bin/sh
# Runs the benchmarks (bench/README.md) with their peers, in one command:
#   1. installs the peers when missing (redis-server, libhiredis-dev,
#      python3-rq, gnuplot-nox; idempotent, like scripts/setup.sh);
#   2. builds into ${BUILD_DIR:-build} (scripts/build.sh);
#   3. starts a private redis-server on 127.0.0.1 on a free port, without
#      persistence, and stops it on exit;
#   4. runs build/bench/shmrt_bench with the full counts; the tables go to
#      stdout and bench/out/table.txt, the figures to bench/out/results.json,
#      the latency plot to bench/out/latency.png.
# Arguments are passed to shmrt_bench (e.g. --only floors,latency); with
# --smoke the files are named smoke-*.
# SHMRT_BENCH_NO_INSTALL=1 skips step 1 (missing peers are then skipped).
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
out=bench/out

install_peers() {
	pkgs="redis-server libhiredis-dev python3-rq gnuplot-nox"
	missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "bench: installing$missing"
	if ! { $SUDO apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
			$missing >/dev/null; }; then
		echo "bench: could not install$missing; those peers are skipped" >&2
	fi
}

# A port nobody listens on now (a race with other programs is possible;
# start_redis retries).
free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

redis_pid=""
redis_port=""
stop_redis() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		redis_pid=""
	fi
}
trap stop_redis EXIT
trap 'stop_redis; exit 130' INT TERM

# Start redis-server on a free port; wait (10 s at most) until it answers.
start_redis() {
	command -v redis-server >/dev/null 2>&1 || return 1
	for attempt in 1 2 3; do
		port=$(free_port)
		redis-server --bind 127.0.0.1 --port "$port" --save '' \
			--appendonly no --daemonize no --protected-mode yes \
			--logfile "$PWD/$out/redis.log" --dir "$PWD/$out" &
		redis_pid=$!
		i=0
		while [ $i -lt 100 ]; do
			if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
				redis_port=$port
				return 0
			fi
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.1
			i=$((i + 1))
		done
		echo "bench: redis-server did not start on port $port (try $attempt)" >&2
		stop_redis
	done
	return 1
}

[ "${SHMRT_BENCH_NO_INSTALL:-0}" = 1 ] || install_peers
BUILD_DIR=$build scripts/build.sh
mkdir -p "$out"
if start_redis; then
	echo "bench: redis-server $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$redis_port" >&2
	set -- --redis-port "$redis_port" "$@"
else
	echo "bench: redis-server not available; redis and rq are skipped" >&2
fi
# A smoke run (--smoke) keeps its files apart from the full run's.
prefix=""
for a in "$@"; do
	[ "$a" = --smoke ] && prefix=smoke-
done
# The pipeline's status is tee's: the benchmark's goes through a file.
{
	status=0
	"$build/bench/shmrt_bench" --json "$out/${prefix}results.json" \
		--plot "$out/${prefix}latency.png" "$@" || status=$?
	echo "$status" >"$out/.status"
} | tee "$out/${prefix}table.txt"
exit "$(cat "$out/.status")"
