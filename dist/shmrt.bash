# bash completion for shmrt(1): commands, each command's options, and
# files for -c, --data-file and --handlers.

_shmrt()
{
	local cur prev cmd opts
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	cmd=${COMP_WORDS[1]}

	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "run worker enqueue status stat scan
			stop destroy demo --help --version -V" -- "$cur"))
		return
	fi
	case $prev in
	-c | --conf | --data-file | --handlers)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--mode)
		COMPREPLY=($(compgen -W "inline process" -- "$cur"))
		return
		;;
	esac
	opts="-c --conf -t --tenant --help"
	case $cmd in
	run) opts="$opts --mode --handlers" ;;
	worker) opts="$opts -q --queue --handlers --parent" ;;
	enqueue) opts="$opts --lane --key --data --data-file --wait --timeout" ;;
	status) opts="$opts --json" ;;
	stat) opts="$opts --json --prometheus" ;;
	stop) opts="$opts --drain-timeout" ;;
	destroy) opts="$opts --force" ;;
	demo) opts="-c --conf --help" ;;
	esac
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -F _shmrt shmrt
