#!/bin/sh
# examples/python/run.sh [SHMRT] - the Python example service, end to end:
# `shmrt run` starts the tenant (and the C workers of its exam queue), a
# Python worker process serves the chat, upload and profile queues, the
# client enqueues a workload and checks it; then the worker gets SIGTERM
# and `shmrt stop` stops the tenant. SHMRT defaults to build/shmrt; the
# shmrt package is found on $PYTHONPATH, else in build/python when it is
# there, else installed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/examples/runner.sh"
shmrt=${1:-$root/build/shmrt}
py=/usr/bin/python3
if [ -z "${PYTHONPATH:-}" ] && [ -d "$root/build/python/shmrt" ]; then
	export PYTHONPATH="$root/build/python"
fi
dir=$(mktemp -d)
tenant="pyexample-$$"
runner="" worker=""
cleanup() {
	[ -n "$worker" ] && kill -9 "$worker" 2>/dev/null || true
	[ -n "$runner" ] && kill -9 "$runner" 2>/dev/null || true
	"$shmrt" destroy -c "$dir/example.ini" --force >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
sed "s/^\[tenant pyexample\]/[tenant $tenant]/" "$here/example.ini" >"$dir/example.ini"
export SHMRT_CONF="$dir/example.ini" SHMRT_EXAMPLE_TENANT="$tenant"
export PYTHONDONTWRITEBYTECODE=1
unset SHMRT_MODE

runner_start "$shmrt" "$dir/run.out"

"$py" -m shmrt worker service:rt --path "$here" -q chat -q upload -q profile \
	-n 3 2>"$dir/worker.out" &
worker=$!
(cd "$here" && timeout -s KILL 120 "$py" client.py)

kill -TERM "$worker"
status=0
wait "$worker" || status=$?
worker=""
cat "$dir/worker.out"
[ "$status" -eq 0 ] || { echo "worker exited $status"; exit 1; }
"$shmrt" stop --drain-timeout 5000
wait "$runner"
runner=""
grep -q "stopped" "$dir/run.out"
[ ! -e "/dev/shm/shmrt.$tenant" ]
echo "python example: ok"
