# examples/runner.sh - sourced by the example scripts (sh).
#
# runner_start SHMRT LOG [RUN_ARGS...]: start `SHMRT run RUN_ARGS` in the
# background (output to LOG; $SHMRT_CONF names the tenant), set $runner
# to its pid, and wait (10 s at most) until the tenant answers
# `shmrt stat`; exit 1 with the runner's output if it never does.
runner_start() {
	_shmrt=$1 _log=$2
	shift 2
	"$_shmrt" run "$@" >"$_log" 2>&1 &
	runner=$!
	_i=0
	until "$_shmrt" stat >/dev/null 2>&1; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || { echo "runner did not start"; cat "$_log"; exit 1; }
		sleep 0.1
	done
}
