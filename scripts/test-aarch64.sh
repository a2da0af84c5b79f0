#!/bin/sh
# The AArch64 context switch (src/rt/ctx_aarch64.S) tested under qemu-user,
# there being no aarch64 machine here: tests/arch/ctx_test.c built
#   1. natively (on x86-64), so that the test itself is known to be right;
#   2. for aarch64 with aarch64-linux-gnu-gcc -static -O2, run by qemu-aarch64;
#   3. for aarch64 with -mbranch-protection=standard (BTI + PAC), dynamic,
#      with a _start that has a landing pad (tests/arch/bti_start_aarch64.S),
#      run by qemu-aarch64 -cpu max, which enforces BTI on the program's
#      pages and authenticates return addresses.
# Usage: scripts/test-aarch64.sh [BUILD_DIR]   (default build; output in BUILD_DIR/aarch64)
# Packages: scripts/deps.sh test (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user).
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-build}/aarch64
CROSS=aarch64-linux-gnu-gcc
SYSROOT=/usr/aarch64-linux-gnu

fail() {
	echo "test-aarch64: FAIL: $*" >&2
	exit 1
}

QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
command -v "$CROSS" >/dev/null 2>&1 || fail "no $CROSS (scripts/deps.sh test installs gcc-aarch64-linux-gnu)"
[ -n "$QEMU" ] || fail "no qemu-aarch64 (scripts/deps.sh test installs qemu-user)"
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || fail "no $SYSROOT (libc6-dev-arm64-cross)"
mkdir -p "$OUT"

CFLAGS="-std=gnu17 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -D_GNU_SOURCE -Isrc"
SRCS="tests/arch/ctx_test.c src/rt/ctx.c src/rt/stack.c"

# run NAME COMMAND...: the program's own lines, then a verdict that names
# a crash by its signal (a broken switch often dies before it can say so).
run() {
	name=$1
	shift
	echo "-- $name: $*"
	rc=0
	timeout 60 "$@" || rc=$?
	case $rc in
	0) ;;
	124) fail "$name: timed out after 60 s" ;;
	1) fail "$name: checks failed (above)" ;;
	*) [ "$rc" -gt 128 ] && fail "$name: died by signal $((rc - 128))"
	   fail "$name: exit $rc" ;;
	esac
}

case $(uname -m) in
x86_64)
	# shellcheck disable=SC2086
	cc $CFLAGS -o "$OUT/ctx_test.native" $SRCS src/rt/ctx_x86_64.S tests/arch/ctx_check_x86_64.S ||
		fail "native build"
	run native "$OUT/ctx_test.native"
	;;
*) echo "-- native: skipped on $(uname -m)" ;;
esac

# shellcheck disable=SC2086
$CROSS $CFLAGS -static -o "$OUT/ctx_test" $SRCS src/rt/ctx_aarch64.S tests/arch/ctx_check_aarch64.S ||
	fail "aarch64 build"
run aarch64 "$QEMU" "$OUT/ctx_test"

# shellcheck disable=SC2086
$CROSS $CFLAGS -mbranch-protection=standard -nostartfiles -o "$OUT/ctx_test.bti" \
	tests/arch/bti_start_aarch64.S $SRCS src/rt/ctx_aarch64.S tests/arch/ctx_check_aarch64.S ||
	fail "aarch64 BTI+PAC build"
# Every object must have kept its BTI/PAC marking, or nothing is enforced.
aarch64-linux-gnu-readelf -n "$OUT/ctx_test.bti" | grep -q "AArch64 feature: BTI, PAC" ||
	fail "aarch64 BTI+PAC build: the program is not marked BTI, PAC (an object lost its note)"
run aarch64-bti-pac "$QEMU" -cpu max -L "$SYSROOT" "$OUT/ctx_test.bti"

echo "test-aarch64: ok (x86-64 native, aarch64 under $(basename "$QEMU"), aarch64 BTI+PAC)"
