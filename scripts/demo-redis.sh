#!/bin/sh
# The demo on the redis backend, in one command: installs what shmrt needs
# (scripts/setup.sh: redis-server and libhiredis-dev included), builds,
# starts a private redis-server on 127.0.0.1 at a free port (its own
# directory, appendonly yes), runs `shmrt demo` with
# conf/shmrt-redis.ini pointed at it, and stops the server by its pid.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build=${BUILD_DIR:-build}
dir=$(mktemp -d /tmp/shmrt-demo-redis-XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
	--appendonly yes --appendfsync everysec --daemonize no \
	--logfile "$dir/redis.log" &
pid=$!
i=0
until redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo-redis: redis-server did not start (see $dir/redis.log)" >&2
		exit 1
	fi
	sleep 0.1
done
sed "s/^redis = .*/redis = 127.0.0.1:$port/" conf/shmrt-redis.ini >"$dir/shmrt-redis.ini"
echo "demo-redis: redis-server $(redis-server --version | cut -d' ' -f3) on 127.0.0.1:$port"
timeout -s KILL 300 "$build/shmrt" demo -c "$dir/shmrt-redis.ini" "$@"
