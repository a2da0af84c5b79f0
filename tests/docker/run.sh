#!/usr/bin/env bash
# Build the real image from docker/Dockerfile and run it, without a Docker
# engine: podman builds it (on a local debian:bookworm-slim base made by
# tools/container-base.sh or already present); its root filesystem, mounted
# by buildah, is where the commands run, as the image's user, on the host
# network. Checks: the image builds with the project's own
# deps.sh and build commands; `ringcache -t` accepts the shipped config's
# syntax; the daemon runs as the non-root user, serves and caches through
# the origin shipped in the image, answers the HEALTHCHECK command, and
# drains and exits 0 on SIGTERM.
# usage: tests/docker/run.sh     (about 5 minutes the first time, 30 s after)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
scripts/container-base.sh
podman build --isolation=chroot --pull=never --format docker -f docker/Dockerfile -t ringcache . >/tmp/ringcache-image-build.log 2>&1 || {
	tail -40 /tmp/ringcache-image-build.log >&2
	exit 1
}
ctr=$(buildah from localhost/ringcache)
mnt=$(buildah mount "$ctr")
trap 'buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
# Commands run in the image's root filesystem as its user, on the host
# network. Not with `buildah run`: its seccomp profile, like Docker's and
# podman's defaults, does not allow io_uring_setup (ENOSYS), and buildah
# 1.28 cannot change it; compose.yaml sets seccomp:unconfined for the same
# reason.
user=$(sed -n 's/^USER \(.*\)$/\1/p' docker/Dockerfile)
inside() { chroot --userspec="$user:$user" "$mnt" "$@"; }
uid=$(inside id -un)
[ "$uid" = ringcache ] || { echo "the image runs as '$uid', not ringcache" >&2; exit 1; }

# A port nothing listens on (below the ephemeral range, so an outgoing
# connection cannot take it meanwhile).
port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 10000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
# The ports are picked before they are bound: another program on this host
# may take one meanwhile. Then the daemon (or the origin) fails to start
# with "Address already in use", and the start is tried again on new ports.
started=0
for attempt in 1 2 3; do
	OP=$(port); RP=$(port); AP=$(port)
	cat >/tmp/ringcache-image-test.yaml <<YAML
listen: ["127.0.0.1:$RP"]
threads: 2
backends:
  - name: app
    servers: ["127.0.0.1:$OP"]
admin:
  listen: "127.0.0.1:$AP"
compression:
  enabled: true
YAML
	install -m 0644 /tmp/ringcache-image-test.yaml "$mnt/tmp/test.yaml"
	inside ringcache -t -c /tmp/test.yaml

	inside timeout 20 ringcache-origin -l "127.0.0.1:$OP" >/tmp/ringcache-image-origin.log 2>&1 &
	opid=$!
	inside timeout --preserve-status -s TERM 8 ringcache -c /tmp/test.yaml >/tmp/ringcache-image-daemon.log 2>&1 &
	dpid=$!
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://127.0.0.1:$RP/" && curl -s -o /dev/null "http://127.0.0.1:$OP/" &&
			{ started=1; break; }
		sleep 0.1
	done
	[ "$started" = 1 ] && break
	if ! grep -q 'Address already in use' /tmp/ringcache-image-daemon.log /tmp/ringcache-image-origin.log; then
		echo "the daemon or the origin did not start (attempt $attempt):" >&2
		cat /tmp/ringcache-image-daemon.log /tmp/ringcache-image-origin.log >&2
		exit 1
	fi
	kill "$dpid" "$opid" 2>/dev/null || true
	wait "$dpid" "$opid" 2>/dev/null || true
done
[ "$started" = 1 ] || { echo "no free ports after 3 attempts" >&2; exit 1; }
url="http://127.0.0.1:$RP/img?size=5000&words=1&cc=max-age%3D60"
curl -fsS -o /dev/null "$url"
status=$(curl -fsS -D - -o /dev/null -H 'Accept-Encoding: br' "$url" | tr -d '\r')
echo "$status" | grep -q '^Cache-Status: ringcache; hit' || { echo "no cache hit: $status" >&2; exit 1; }
echo "$status" | grep -q '^Content-Encoding: br' || { echo "not compressed: $status" >&2; exit 1; }
# The HEALTHCHECK command of the Dockerfile, run in the image.
inside curl -fsS "http://127.0.0.1:$AP/health" >/dev/null
# timeout sends SIGTERM after 8 s; --preserve-status gives the daemon's own status.
wait "$dpid" || { echo "the daemon did not exit 0 on SIGTERM:" >&2; cat /tmp/ringcache-image-daemon.log >&2; exit 1; }
grep -q 'draining' /tmp/ringcache-image-daemon.log
kill "$opid" 2>/dev/null || true
wait "$opid" 2>/dev/null || true
echo "docker image: built, runs as ringcache, serves, caches, compresses, healthy, drains"
