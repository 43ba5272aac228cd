#!/bin/sh
# examples/run_example.sh SHMRT EMBEDDER HANDLER_LIB
# The examples, end to end: `shmrt run --handlers` starts a tenant with
# the example handler library in its worker processes; the embedder
# attaches, enqueues and waits; `shmrt stop` stops the runner.
set -eu
shmrt=$1 embedder=$2 lib=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/runner.sh"
dir=$(mktemp -d)
tenant="example-$$"
runner=""
cleanup() {
	[ -n "$runner" ] && kill -9 "$runner" 2>/dev/null || true
	"$shmrt" destroy -c "$dir/example.ini" --force >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
sed "s/^\[tenant example\]/[tenant $tenant]/" "$here/example.ini" >"$dir/example.ini"
export SHMRT_CONF="$dir/example.ini"
unset SHMRT_MODE

runner_start "$shmrt" "$dir/run.out" --handlers "$lib"

out=$("$embedder" "$dir/example.ini" "$tenant" upper hello "shared memory")
echo "$out"
echo "$out" | grep -q "^hello -> HELLO (succeeded)$"
echo "$out" | grep -q "^shared memory -> SHARED MEMORY (succeeded)$"
"$embedder" "$dir/example.ini" "$tenant" count "one two three" | grep -q "3 words"
# A final failure is reported as such (exit 1).
if "$embedder" "$dir/example.ini" "$tenant" count " "; then
	echo "an empty payload should fail"; exit 1
fi

"$shmrt" stop --drain-timeout 5000
wait "$runner"
runner=""
cat "$dir/run.out"
grep -q "stopped" "$dir/run.out"
[ ! -e "/dev/shm/shmrt.$tenant" ]
echo "examples: ok"
