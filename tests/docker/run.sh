#!/usr/bin/env bash
# Build the real image from docker/Dockerfile and run it, without a Docker
# engine: podman builds it (on a local debian:bookworm-slim base made by
# scripts/container-base.sh or already present); its root filesystem, mounted
# by buildah and bound read-only (as readOnlyRootFilesystem in docker/k8s),
# is where the commands run, as the image's user, under docker/seccomp.json
# (loaded by tests/docker/check_seccomp.py exec, with libseccomp as runc
# loads it), on the host network. Checks: the image builds with the
# project's own deps.sh and build commands; it has no curl, and every
# run-time package deps.sh installs is one the binaries link; its user is
# numeric, not root, and named ringcache; `ringcache -t` accepts the shipped
# config's syntax; the daemon serves, caches and compresses through the
# origin shipped in the image, every loop on io_uring under the shipped
# profile; the image's HEALTHCHECK command (and compose's, for the origin)
# passes against them, and fails against a port nothing listens on; the
# daemon drains and exits 0 on SIGTERM; under Docker's own default profile
# it serves on epoll after one warning. Prints the image's size.
# usage: tests/docker/run.sh     (about 5 minutes the first time, 30 s after)
#   RINGCACHE_IMAGE=NAME   the image's name (default ringcache), so that
#                          runs from other trees do not replace each other's
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
image=${RINGCACHE_IMAGE:-ringcache}
fail() {
	echo "tests/docker/run.sh: $*" >&2
	exit 1
}
scripts/container-base.sh
podman build --isolation=chroot --pull=never --format docker -f docker/Dockerfile -t "$image" . >/tmp/ringcache-image-build.log 2>&1 || {
	tail -40 /tmp/ringcache-image-build.log >&2
	exit 1
}
ctr=$(buildah from "localhost/$image")
mnt=$(buildah mount "$ctr")
ro=$(mktemp -d)
# On the way out, whatever failed: the processes still running in the root
# first, or the mounts are busy.
cleanup() {
	local jobs
	jobs=$(jobs -p)
	[ -z "$jobs" ] || { kill $jobs 2>/dev/null; wait $jobs 2>/dev/null; }
	umount "$ro" 2>/dev/null || true
	rmdir "$ro" 2>/dev/null || true
	buildah umount "$ctr" >/dev/null 2>&1 || true
	buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Not with `buildah run` or `podman run`: buildah 1.28 cannot change its
# seccomp profile (its default refuses io_uring_setup), and podman's runtime
# cannot start containers on this host's hybrid cgroups.
mount --bind "$mnt" "$ro"
mount -o remount,bind,ro "$ro"
inspect() { podman image inspect --format "$1" "localhost/$image"; }

# The user: numeric (Kubernetes' runAsNonRoot can check only a number), not
# root, the image's ringcache user and group; and nothing that could make it
# root again.
user=$(inspect '{{.Config.User}}')
[[ $user =~ ^([0-9]+):([0-9]+)$ ]] || fail "the image's user '$user' is not UID:GID"
uid=${BASH_REMATCH[1]} gid=${BASH_REMATCH[2]}
[ "$uid" != 0 ] && [ "$gid" != 0 ] || fail "the image runs as root ($user)"
name=$(awk -F: -v u="$uid" '$3 == u { print $1 }' "$mnt/etc/passwd")
[ "$name" = ringcache ] || fail "uid $uid is '$name' in the image, not ringcache"
group=$(awk -F: -v g="$gid" '$3 == g { print $1 }' "$mnt/etc/group")
[ "$group" = ringcache ] || fail "gid $gid is '$group' in the image, not ringcache"
setid=$(find "$mnt" -xdev -type f -perm /6000 | sed "s#^$mnt##")
[ -z "$setid" ] || fail "set-user-ID or set-group-ID programs in the image: $setid"

# No curl, and no run-time package the binaries do not need.
[ ! -e "$mnt/usr/bin/curl" ] || fail "curl is in the image"
! chroot "$mnt" dpkg-query -W -f='${Status}\n' curl 2>/dev/null | grep -q 'install ok installed' ||
	fail "the curl package is installed in the image"
linked=$(chroot "$mnt" ldd /usr/sbin/ringcache /usr/bin/ringcache-origin)
! grep -q 'not found' <<<"$linked" || fail "a library is missing: $(grep 'not found' <<<"$linked")"
owners=$(awk '$2 == "=>" && $3 ~ /^\// { n = split($3, p, "/"); print "*/" p[n] }' <<<"$linked" | sort -u |
	xargs chroot "$mnt" dpkg -S | cut -d: -f1 | sort -u)
runtime=$(sed -n 's/^[[:space:]]*runtime) PKGS="\(.*\)" ;;$/\1/p' scripts/deps.sh)
[ -n "$runtime" ] || fail "no runtime package list in scripts/deps.sh"
for p in $runtime; do
	grep -qx "$p" <<<"$owners" || fail "deps.sh runtime installs $p, which neither binary links"
done

# The HEALTHCHECK: exec form (no shell), the daemon's own client, on the
# admin address of the shipped configuration.
read -r -a hc < <(inspect '{{range .Config.Healthcheck.Test}}{{.}} {{end}}')
admin=$(sed -n '/^admin:/,/^[^ ]/s/^  listen: "\(.*\)"$/\1/p' docker/ringcache.yaml)
[ "${hc[*]}" = "CMD /usr/sbin/ringcache --health http://$admin/health" ] ||
	fail "HEALTHCHECK is '${hc[*]}', not CMD /usr/sbin/ringcache --health http://$admin/health"

# The commands the containers would run: in the image's read-only root, as
# its user, under docker/seccomp.json.
inside() { tests/docker/check_seccomp.py exec docker/seccomp.json "$ro" "$user" "$@"; }
uname=$(inside /usr/bin/id -un)
[ "$uname" = ringcache ] || fail "the image runs as '$uname', not ringcache"

# A port nothing listens on, below the ephemeral range so that an outgoing
# connection cannot take it meanwhile: 20000-29999 under the usual range
# (32768-60999), 1024 up to its start where the range begins lower (some
# machines start it at 10000).
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range
port_base=20000 port_span=10000
if ((eph_lo < 30000 && eph_lo > 2024)); then
	port_base=1024 port_span=$((eph_lo - 1024))
fi
port() {
	local p
	while :; do
		p=$((port_base + RANDOM % port_span))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
# The ports are picked before they are bound: another program on this host
# may take one meanwhile. Then the daemon (or the origin) fails to start
# with "Address already in use", and the start is tried again on new ports.
started=0
for attempt in 1 2 3 4 5 6; do
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
	# Through $mnt: $ro is the read-only view of the same files.
	install -m 0644 /tmp/ringcache-image-test.yaml "$mnt/tmp/test.yaml"
	inside /usr/sbin/ringcache -t -c /tmp/test.yaml

	timeout 20 tests/docker/check_seccomp.py exec docker/seccomp.json "$ro" "$user" \
		/usr/bin/ringcache-origin -l "127.0.0.1:$OP" >/tmp/ringcache-image-origin.log 2>&1 &
	opid=$!
	timeout --preserve-status -s TERM 8 tests/docker/check_seccomp.py exec docker/seccomp.json "$ro" "$user" \
		/usr/sbin/ringcache -c /tmp/test.yaml >/tmp/ringcache-image-daemon.log 2>&1 &
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
[ "$started" = 1 ] || fail "no free ports after 6 attempts"
url="http://127.0.0.1:$RP/img?size=5000&words=1&cc=max-age%3D60"
curl -fsS -o /dev/null "$url"
status=$(curl -fsS -D - -o /dev/null -H 'Accept-Encoding: br' "$url" | tr -d '\r')
echo "$status" | grep -q '^Cache-Status: ringcache; hit' || fail "no cache hit: $status"
echo "$status" | grep -q '^Content-Encoding: br' || fail "not compressed: $status"
# The HEALTHCHECK command, on this daemon's admin port; compose's for the
# origin; and the same command against a port nothing listens on, which
# must fail (exit 1, the status Docker reads as unhealthy).
inside "${hc[1]}" "${hc[2]}" "${hc[3]/$admin/127.0.0.1:$AP}" || fail "the HEALTHCHECK command fails against the daemon"
inside /usr/sbin/ringcache --health "http://127.0.0.1:$OP/__stats" || fail "compose's origin healthcheck fails"
st=0
inside "${hc[1]}" "${hc[2]}" "http://127.0.0.1:$(port)/health" 2>/dev/null || st=$?
[ "$st" = 1 ] || fail "the HEALTHCHECK command exits $st against a closed port, not 1"
# Under docker/seccomp.json every loop runs on io_uring (not on the epoll
# fallback).
loops=$(curl -fsS "http://127.0.0.1:$AP/metrics" | grep '^ringcache_loop_io_backend{' || true)
[ "$(grep -c 'backend="io_uring"} 1' <<<"$loops")" = 2 ] ||
	fail "not every loop runs on io_uring under docker/seccomp.json: $loops"
grep -q '2 loops on io_uring' /tmp/ringcache-image-daemon.log || fail "no '2 loops on io_uring' in the start log"
# timeout sends SIGTERM after 8 s; --preserve-status gives the daemon's own status.
wait "$dpid" || { echo "the daemon did not exit 0 on SIGTERM:" >&2; cat /tmp/ringcache-image-daemon.log >&2; exit 1; }
grep -q 'draining' /tmp/ringcache-image-daemon.log
# Under Docker's own default profile the same image falls back to epoll,
# with one warning that names the shipped profile, and serves.
timeout --preserve-status -s TERM 4 tests/docker/check_seccomp.py exec docker/seccomp-moby-default.json "$ro" "$user" \
	/usr/sbin/ringcache -c /tmp/test.yaml >/tmp/ringcache-image-daemon.log 2>&1 &
dpid=$!
for _ in $(seq 30); do curl -s -o /dev/null "http://127.0.0.1:$RP/" && break; sleep 0.1; done
curl -fsS -o /dev/null "$url" || fail "no answer under Docker's default profile: $(cat /tmp/ringcache-image-daemon.log)"
wait "$dpid" || fail "the daemon did not exit 0 under Docker's default profile: $(cat /tmp/ringcache-image-daemon.log)"
[ "$(grep -c '\[warn\]' /tmp/ringcache-image-daemon.log)" = 1 ] &&
	grep -q 'the loops run on epoll: io_uring_setup: Operation not permitted.*docker/seccomp.json' /tmp/ringcache-image-daemon.log &&
	grep -q '2 loops on epoll' /tmp/ringcache-image-daemon.log ||
	fail "under Docker's default profile, not one warning and epoll: $(cat /tmp/ringcache-image-daemon.log)"
kill "$opid" 2>/dev/null || true
wait "$opid" 2>/dev/null || true
size=$(inspect '{{.Size}}')
echo "docker image: built, no curl, run-time libraries only, runs as $user (ringcache) on a read-only root;"
echo "  on io_uring under docker/seccomp.json: serves, caches, compresses, healthy by ringcache --health,"
echo "  drains; on epoll after one warning under Docker's default profile"
echo "docker image size: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1048576 }') MiB)"
