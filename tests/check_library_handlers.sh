#!/bin/sh
# The shmrt command's handlers (src/workers/handlers.c: the demo's, the
# builtin.* ones and builtin.crash, which kills its own process) are in
# the shmrt binary and in neither library.
#   check_library_handlers.sh SHMRT_BINARY LIBRARY...
# Fails (exit 1) naming each library that has them; the binary must have
# them, so that the check cannot pass on a file nm cannot read.
bin=$1; shift
syms=' (handle_crash|shmrt__handlers_register)$'
if ! nm "$bin" | grep -qE "$syms"; then
	echo "library handlers: $bin lacks the command's handlers (or nm failed)"
	exit 1
fi
status=0
for lib in "$@"; do
	if nm "$lib" 2>/dev/null | grep -E "$syms"; then
		echo "library handlers: $lib holds the command's handlers"
		status=1
	fi
done
[ $status -eq 0 ] && echo "library handlers: ok"
exit $status
