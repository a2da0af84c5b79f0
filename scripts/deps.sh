#!/bin/sh
# Install the Debian 12 packages ringcache needs to build, test and run.
# Used by `make run`, `make test`, CI and the Docker image. Installs only
# what is missing, so it is quick when everything is there.
set -eu

# libc-ares-dev: backends[].servers names followed in DNS (backend/dns.c);
# nettle-dev (libnettle8 at runtime): SHA-1 for ringcache-origin's WebSocket handshake;
# libhiredis-dev: cluster.invalidation.redis, the invalidation log as a Redis Stream
# (serve/cstream.c).
BUILD="build-essential cmake pkg-config liburing-dev libyaml-dev node-llhttp libpcre2-dev libxxhash-dev zlib1g-dev libbrotli-dev libzstd-dev libc-ares-dev nettle-dev libhiredis-dev"
# slowhttptest: tests/scenario/hostile_slow.c; clang and libclang-rt-14-dev
# (libFuzzer, sanitizer runtimes): the tests/fuzz harnesses.
# libseccomp-dev: tests/tools/noiouring.c, a filter that refuses io_uring as
# Docker's default profile does (tests/scenario/io_backend.c).
TEST="libcriterion-dev curl wrk valgrind systemd slowhttptest clang libclang-rt-14-dev libseccomp-dev tmux"
# redis-server: the cluster's Redis Stream tests (tests/scenario/cluster.c).
TEST="$TEST redis-server"
# tests/docker/check_k8s.py and check_seccomp.py (Debian's python3 is /usr/bin/python3).
TEST="$TEST python3-yaml python3-seccomp"
# chromium and python3-websocket (its DevTools protocol): the dashboard in a
# headless browser (tests/scenario/dash_browser.py); prometheus (promtool):
# contrib/'s alert rules (tests/contrib/check.py).
TEST="$TEST chromium python3-websocket prometheus"
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (qemu-aarch64):
# the AArch64 context switch cross-built and run by scripts/test-aarch64.sh.
TEST="$TEST gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
# debhelper (dh, dpkg-buildpackage's helpers) and lintian: `make deb`;
# buildah and podman hold the clean Debian 12 root tests/deb/run.sh installs into.
DEB="debhelper lintian buildah podman"
case "${1:-all}" in
	build) PKGS="$BUILD" ;;
	test|all) PKGS="$BUILD $TEST" ;;
	deb) PKGS="$BUILD $DEB" ;;
	runtime) PKGS="liburing2 libyaml-0-2 libpcre2-8-0 libxxhash0 zlib1g libbrotli1 libzstd1 libc-ares2 libnettle8 libhiredis0.14" ;;
	*) echo "usage: $0 [build|test|deb|runtime|all]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
