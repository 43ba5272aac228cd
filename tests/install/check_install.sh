#!/bin/sh
# tests/install/check_install.sh BUILD SOURCE LIBDIR SYSCONFDIR [SANFLAGS]
# Installs the build into a temporary prefix, checks what is installed,
# builds two consumers of it (examples/embedder.c) - one with
# pkg-config, one with find_package(shmrt) - and a third against the
# static library, and runs each against the installed `shmrt run`.
# The shared-library consumers are built with pkg-config unable to see
# any .pc file but shmrt's, so they need no ck, urcu or inih dev files,
# and their flags are printed and checked for none of them.
set -eu
build=$1 src=$2 libdir=$3 sysconfdir=$4 sanflags=${5:-}
dir=$(mktemp -d /tmp/shmrt-install.XXXXXX)
prefix=$dir/prefix
tenant="install-$$"
runner=""
fail() { echo "install: FAIL: $*"; exit 1; }
cleanup() {
	[ -n "$runner" ] && kill -9 "$runner" 2>/dev/null || true
	"$prefix/bin/shmrt" destroy -c "$dir/shmrt.ini" --force >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
unset SHMRT_MODE SHMRT_TEST_MODE SHMRT_CONF PKG_CONFIG_PATH

timeout -s KILL 120 cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/shmrt include/shmrt/shmrt.h include/shmrt/version.h \
	"$libdir/libshmrt.so" "$libdir/libshmrt.a" "$libdir/pkgconfig/shmrt.pc" \
	"$libdir/cmake/shmrt/shmrt-config.cmake" share/man/man1/shmrt.1 \
	share/bash-completion/completions/shmrt share/doc/shmrt/LICENSE \
	"$sysconfdir/shmrt/shmrt.ini"; do
	[ -e "$prefix/$f" ] || fail "not installed: $f"
done
echo "install: files ok"

# The man page renders without warnings; the completion completes.
if command -v groff >/dev/null; then
	warn=$(LC_ALL=C groff -man -ww -z "$prefix/share/man/man1/shmrt.1" 2>&1)
	[ -z "$warn" ] || fail "man page: $warn"
fi
got=$(bash -c '. "$1"; COMP_WORDS=(shmrt enq); COMP_CWORD=1; _shmrt;
	echo "${COMPREPLY[*]}"' sh "$prefix/share/bash-completion/completions/shmrt")
[ "$got" = enqueue ] || fail "bash completion gave '$got'"

# pkg-config sees only the installed shmrt.pc.
export PKG_CONFIG_LIBDIR="$prefix/$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs shmrt) || fail "pkg-config shmrt"
echo "install: pkg-config --cflags --libs shmrt: $flags"
case " $flags " in
*-lck* | *urcu* | *inih* | *__x86_64__*) fail "flags name a dependency" ;;
esac
static=$(pkg-config --static --libs shmrt)
echo "install: pkg-config --static --libs shmrt: $static"
case " $static " in *" -lck "*) ;; *) fail "--static lacks -lck" ;; esac
[ "$(pkg-config --modversion shmrt)" = "$("$prefix/bin/shmrt" --version | cut -d' ' -f2)" ] ||
	fail "pkg-config version differs from shmrt --version"
# shellcheck disable=SC2086 # flags are words
timeout -s KILL 120 cc $sanflags -o "$dir/pc_consumer" \
	"$src/examples/embedder.c" $flags -Wl,-rpath,"$prefix/$libdir"

# find_package(shmrt), also with no dependency's .pc in reach.
for kind in shared static; do
	on=OFF; [ $kind = static ] && on=ON
	[ $kind = static ] && unset PKG_CONFIG_LIBDIR
	timeout -s KILL 120 cmake -S "$src/tests/install/consumer" \
		-B "$dir/cm_$kind" -DCMAKE_PREFIX_PATH="$prefix" \
		-DCONSUMER_STATIC=$on -DEMBEDDER_SOURCE="$src/examples/embedder.c" \
		-DCMAKE_C_FLAGS="$sanflags" -DCMAKE_EXE_LINKER_FLAGS="$sanflags" \
		>"$dir/cm_$kind.log" 2>&1 || { cat "$dir/cm_$kind.log"; fail "configure $kind"; }
	timeout -s KILL 120 cmake --build "$dir/cm_$kind" >>"$dir/cm_$kind.log" 2>&1 ||
		{ cat "$dir/cm_$kind.log"; fail "build $kind"; }
	grep "shmrt " "$dir/cm_$kind.log" | sed 's/^-- /install: find_package: /'
done

# Each consumer enqueues on a tenant the installed shmrt runs.
printf '[runtime]\nmode = process\ndrain_timeout_ms = 3000\n[tenant %s]\n[queue echo]\nhandler = builtin.echo\n' \
	"$tenant" >"$dir/shmrt.ini"
"$prefix/bin/shmrt" run -c "$dir/shmrt.ini" >"$dir/run.out" 2>&1 &
runner=$!
i=0
until "$prefix/bin/shmrt" stat -c "$dir/shmrt.ini" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$dir/run.out"; fail "runner did not start"; }
	sleep 0.1
done
for c in "$dir/pc_consumer" "$dir/cm_shared/consumer" "$dir/cm_static/consumer"; do
	out=$(timeout -s KILL 60 "$c" "$dir/shmrt.ini" "$tenant" echo hi) ||
		fail "$c exited $?"
	[ "$out" = "hi -> hi (succeeded)" ] || fail "$c printed '$out'"
done
echo "install: pkg-config, find_package and static consumers ran"
timeout -s KILL 60 "$prefix/bin/shmrt" stop -c "$dir/shmrt.ini" >/dev/null
wait "$runner" || fail "runner exited $?"
runner=""
echo "install: ok"
