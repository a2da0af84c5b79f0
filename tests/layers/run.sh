#!/bin/sh
# tests/layers/run.sh [--build] [REPO] - the layer rule's own test.
#
# scripts/check-layers.sh is what makes an include of a higher layer fail
# the build (CMake runs it before any layer library is compiled). This
# test runs it on a scratch copy of src/: the copy as it is must pass;
# then, one at a time on a fresh copy, an upward include, a sibling
# include, a new top-level folder and a few spellings of an include must
# each make it fail with a FILE:LINE message naming the rule, and a few
# downward includes must not.
#
# --build also configures a scratch copy of the project with CMake and
# checks that `cmake --build --target layers` succeeds as it is and fails
# once an upward include is injected (the build, not only the script).
#
# REPO defaults to the checkout this script is in. Exits 0 when every
# check holds, 1 otherwise (each failed check is printed). Needs only
# POSIX sh and coreutils (and cmake for --build).
set -eu

build=0
if [ "${1:-}" = "--build" ]; then
	build=1
	shift
fi
root=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
check="$root/scripts/check-layers.sh"
[ -f "$check" ] || {
	echo "no $check" >&2
	exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/layers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok   $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $1" >&2
	sed 's/^/     | /' "$tmp/out" >&2
}

fresh() { # a new copy of src/ at $tmp/src
	rm -rf "$tmp/src"
	cp -R "$root/src" "$tmp/src"
}

# inject FILE TEXT: append the line TEXT to $tmp/src/FILE; sets $line to
# its line number.
inject() {
	f="$tmp/src/$1"
	[ -f "$f" ] || {
		echo "no src/$1 to inject into" >"$tmp/out"
		return 1
	}
	# A file that does not end in a newline gets one first.
	[ -z "$(tail -c 1 "$f")" ] || printf '\n' >>"$f"
	printf '%s\n' "$2" >>"$f"
	line=$(wc -l <"$f" | tr -d ' ')
}

run_check() {
	set +e
	sh "$check" "$tmp/src" >"$tmp/out" 2>&1
	rc=$?
	set -e
}

# expect_pass NAME: the check passes on the current copy.
expect_pass() {
	run_check
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ]; then
		ok "$1"
	else
		echo "(exit $rc)" >>"$tmp/out"
		fail "$1: expected the check to pass"
	fi
}

# expect_fail NAME MESSAGE: the check fails, and prints MESSAGE (a fixed
# string) and the closing line.
expect_fail() {
	run_check
	if [ "$rc" -eq 0 ]; then
		fail "$1: expected the check to fail, it passed"
	elif ! grep -qF -- "$2" "$tmp/out"; then
		echo "(exit $rc; wanted: $2)" >>"$tmp/out"
		fail "$1: the message does not say FILE:LINE and the rule"
	elif ! grep -qF "the layer rule is broken" "$tmp/out"; then
		fail "$1: no closing 'the layer rule is broken' line"
	else
		ok "$1"
	fi
}

# upward FILE INCLUDE-LINE LAYER TARGET-DIR ALLOWED: inject and expect
# "FILE:LINE: layer 'LAYER' may not include 'TARGET-DIR/' (it may use: ALLOWED)".
upward() {
	fresh
	if inject "$1" "$2"; then
		expect_fail "$1 + $2" "$1:$line: layer '$3' may not include '$4/' (it may use: $5)"
	else
		fail "$1 + $2"
	fi
}

# downward FILE INCLUDE-LINE: inject and expect the check to pass.
downward() {
	fresh
	if inject "$1" "$2"; then
		expect_pass "$1 + $2 (allowed)"
	else
		fail "$1 + $2"
	fi
}

below_backend="rt http compress cache config ops"

fresh
expect_pass "src/ as it is"

# Upward includes, each on a fresh copy.
upward rt/loop.c '#include "serve/conn.h"' rt serve nothing
upward backend/pool.h '#include "daemon/daemon.h"' backend daemon "$below_backend"
upward http/msg.c '#include "cache/store.h"' http cache rt
upward rt/task.h '#include "http/msg.h"' rt http nothing
upward compress/codec.c '#include "cache/key.h"' compress cache "rt http"
upward ops/log.c '#include "backend/pick.h"' ops backend "rt http compress config"
upward backend/exchange.c '#include "serve/req.h"' backend serve "$below_backend"
upward serve/conn.c '#include "daemon/daemon.h"' serve daemon "$below_backend backend route"
# Request policy sits beside backend/, not under it.
upward backend/pick.c '#include "route/match.h"' backend route "$below_backend"
upward route/match.c '#include "backend/gen.h"' route backend "$below_backend"
# Siblings that do not list each other.
upward cache/key.c '#include "config/config.h"' cache config "rt http compress"
upward config/load.c '#include "cache/store.h"' config cache "rt http compress"
upward cache/store.c '#include "ops/log.h"' cache ops "rt http compress"
# The origin is a test program beside the daemon, not above it.
upward origin/conn.c '#include "serve/req.h"' origin serve "rt http compress"
upward main.c '#include "origin/origin.h"' main origin \
	"$below_backend backend serve daemon route cli"
# The subcommands sit beside main.c, not under the daemon.
upward cli/log.c '#include "daemon/daemon.h"' cli daemon "rt http compress config ops"
upward daemon/admin.c '#include "cli/log.h"' daemon cli "$below_backend backend serve route"
# Other spellings of the same include.
upward rt/loop.c '  #  include   "serve/conn.h"' rt serve nothing
upward rt/io.c '#include "daemon/stats.h" /* a comment */' rt daemon nothing

# A top-level folder that is not a layer.
fresh
mkdir "$tmp/src/proxy"
printf '#include "rt/task.h"\n' >"$tmp/src/proxy/proxy.c"
expect_fail "new folder src/proxy/" "src/proxy/: not a layer"
fresh
mkdir "$tmp/src/disk"
expect_fail "new empty folder src/disk/" "src/disk/: not a layer"

# Includes a layer may make.
downward serve/conn.c '#include "rt/task.h"'
downward daemon/admin.c '#include "http/msg.h"'
downward backend/pick.c '#include "ops/log.h"'
downward cache/key.c '#include "compress/codec.h"'
downward main.c '#include "daemon/daemon.h"'
downward rt/loop.c '#include "rt/task.h"'
downward rt/loop.c '#include <stdio.h>'

# Spellings the compiler resolves to a higher layer's header just the
# same: src/ is on the include path of every layer, and a quoted include
# is looked up beside the including file first. At the time of writing
# check-layers.sh matches only '#include "DIR/...' and lets these through.
upward rt/loop.c '#include "../serve/conn.h"' rt serve nothing
upward rt/loop.c '#include <serve/conn.h>' rt serve nothing

# The build runs the check: every layer library waits for it.
if grep -q 'scripts/check-layers.sh' "$root/CMakeLists.txt" &&
	grep -Eq 'add_custom_target\([a-z_]+ ALL' "$root/CMakeLists.txt"; then
	ok "CMakeLists.txt runs scripts/check-layers.sh in the default build"
else
	echo "CMakeLists.txt: no add_custom_target(... ALL ...) running scripts/check-layers.sh" >"$tmp/out"
	fail "CMakeLists.txt runs the check"
fi

if [ "$build" -eq 1 ]; then
	proj="$tmp/proj"
	mkdir "$proj"
	for p in CMakeLists.txt src scripts bench conf docs systemd; do
		[ -e "$root/$p" ] && cp -R "$root/$p" "$proj/"
	done
	if cmake -S "$proj" -B "$proj/b" -DRINGCACHE_TESTS=OFF >"$tmp/out" 2>&1; then
		set +e
		cmake --build "$proj/b" --target layers >"$tmp/out" 2>&1
		rc=$?
		set -e
		if [ "$rc" -eq 0 ]; then
			ok "cmake --build --target layers passes as it is"
		else
			fail "cmake --build --target layers on the copy as it is"
		fi
		f="$proj/src/rt/loop.c"
		printf '#include "serve/conn.h"\n' >>"$f"
		line=$(wc -l <"$f" | tr -d ' ')
		set +e
		cmake --build "$proj/b" --target layers >"$tmp/out" 2>&1
		rc=$?
		set -e
		if [ "$rc" -ne 0 ] &&
			grep -qF "rt/loop.c:$line: layer 'rt' may not include 'serve/'" "$tmp/out"; then
			ok "cmake --build fails on an upward include"
		else
			fail "cmake --build with rt/loop.c + serve/conn.h: expected a failure"
		fi
	else
		fail "cmake configure of a scratch copy"
	fi
fi

echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
