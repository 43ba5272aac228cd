#!/bin/sh
# The layering guard: a layer includes only the layers below it.
#   shm < runtime < workers < cli (and cli skips shm and runtime, below)
# Fails (exit 1) naming each file and include that breaks the order.
top=${1:-.}
status=0
check() { # layer, forbidden layers...
	layer=$1; shift
	for forbidden in "$@"; do
		hits=$(grep -nE "#include *[<\"](\.\./)*($forbidden)/" \
			"$top/src/$layer"/*.c "$top/src/$layer"/*.h 2>/dev/null)
		if [ -n "$hits" ]; then
			echo "layering: src/$layer must not include src/$forbidden:"
			echo "$hits"
			status=1
		fi
	done
}
check shm runtime workers cli
check runtime workers cli
check workers cli
# Inside src/shm, the job layers (slot.h): slot.c at the bottom; lanes,
# keys and their lock on it; submit, lease and finish (job.h) on top.
for f in slot.c slot.h lane.c lane.h idem.c idem.h qstate.c qstate.h; do
	hits=$(grep -n '#include "job.h"' "$top/src/shm/$f" 2>/dev/null)
	if [ -n "$hits" ]; then
		echo "layering: src/shm/$f is below job.h and must not include it:"
		echo "$hits"
		status=1
	fi
done
# The CLI is a user of the public API (include/shmrt) and of the workers
# layer; of the engine it may read only the configuration file's schema
# (runtime/conf.h), which is what its -c FILE names. Everything else it
# needs is a public call, so embedders get it too.
check cli shm
hits=$(grep -nE "#include *[<\"](\.\./)*runtime/" "$top"/src/cli/*.c \
	"$top"/src/cli/*.h 2>/dev/null | grep -vE "runtime/conf\.h[>\"]")
if [ -n "$hits" ]; then
	echo "layering: src/cli may include only runtime/conf.h of src/runtime:"
	echo "$hits"
	status=1
fi
# No catch-all module: these names say nothing about what they own.
for f in "$top"/src/*/util*.c "$top"/src/*/common*.c "$top"/src/*/misc*.c "$top"/src/*/helpers*.c; do
	[ -e "$f" ] && { echo "layering: catch-all module $f"; status=1; }
done
[ $status -eq 0 ] && echo "layering: ok"
exit $status
