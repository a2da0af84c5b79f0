#!/usr/bin/env bash
# The Debian package end to end. Builds it (`make deb`) unless given one,
# runs lintian on it, then in a clean Debian 12 root (a fresh container of
# the local bookworm-slim base from scripts/container-base.sh, mounted by
# buildah and entered with chroot, as tests/docker/run.sh does) checks:
#   - apt installs it with its dependencies; the user, the log directory,
#     the conffiles, the man page, the unit and its drop-in are there and
#     the unit is enabled; systemd-analyze accepts the unit as installed;
#   - `ringcache -t` accepts /etc/ringcache/ringcache.yaml as shipped;
#   - the daemon, started as the package's user with that file unchanged,
#     fetches from an origin and serves the second request from its cache,
#     and writes the access log;
#   - the packaged logrotate rule moves the log and SIGUSR1 makes the
#     daemon write a new one; SIGTERM drains and exits 0;
#   - remove keeps the conffiles and the user; purge leaves none of the
#     package's files, its log directory, user, group or enable links, and
#     keeps an admin's own file in /etc/ringcache and another program's cache.
# There is no systemd as PID 1 in the root, so the daemon is started
# directly, with setpriv, as the unit would (User=ringcache,
# NoNewPrivileges). The daemon, the origin and curl share a network
# namespace of their own with only loopback in it: the shipped
# configuration's fixed ports (8080, 9000, 9090) cannot collide with
# anything on this host, and nothing leaves the machine. apt reaches the
# Debian mirror from the host's namespace.
# usage: tests/deb/run.sh [PACKAGE.deb]   (about 10 s with a built
#        package, the base image and a quick mirror; make deb adds 20 s)
# shellcheck disable=SC2016 # dpkg-query formats are ${Field}, not shell
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
t0=$(date +%s)
fail() { echo "deb test: $*" >&2; exit 1; }
step() { echo "-- $* ($(($(date +%s) - t0)) s)"; }

version=$(sed -n 's/^project(ringcache VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || fail "no project VERSION in CMakeLists.txt"
deb=${1:-}
if [ -z "$deb" ]; then
	step "make deb"
	timeout 1200 make -s deb >/dev/null
	deb=build-deb/ringcache_${version}_$(dpkg --print-architecture).deb
fi
[ -f "$deb" ] || fail "$deb not found (make deb names it ringcache_<version>_<arch>.deb)"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")

# Warnings fail the test as errors do; the package has none today, and
# one that is accepted belongs in debian/ringcache.lintian-overrides with
# its reason.
step "lintian"
lst=0
lint=$(lintian --fail-on error,warning --display-info "$deb" 2>&1) || lst=$?
grep -v 'running with root privileges' <<<"$lint" || true
[ "$lst" = 0 ] || fail "lintian reports errors or warnings (above)"

# The origin is the test's, not the package's: it runs on the host, in the
# test's network namespace.
origin=build/ringcache-origin
if [ ! -x "$origin" ]; then
	step "building $origin"
	./scripts/deps.sh build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2 --target ringcache-origin >/dev/null
fi

scripts/container-base.sh >/dev/null
image=docker.io/library/debian:bookworm-slim
ctr=$(buildah from --pull=never "$image")
mnt=$(buildah mount "$ctr")
logs=$(mktemp -d)
holder="" opid="" dpid=""
cleanup() {
	local st=$?
	for p in $dpid $opid $holder; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	umount "$mnt/proc" 2>/dev/null || true
	umount "$mnt/dev" 2>/dev/null || true
	buildah umount "$ctr" >/dev/null 2>&1 || true
	buildah rm "$ctr" >/dev/null 2>&1 || true
	if [ "$st" != 0 ]; then
		for f in "$logs"/*.log; do [ -s "$f" ] && { echo "== $f" >&2; tail -30 "$f" >&2; }; done
	fi
	rm -rf "$logs"
	exit "$st"
}
trap cleanup EXIT
# apt, adduser and start-stop-daemon (the logrotate rule) need /proc and /dev.
mount -t proc proc "$mnt/proc"
mount --bind /dev "$mnt/dev"
cp /etc/resolv.conf "$mnt/etc/resolv.conf"
inside() { chroot "$mnt" "$@"; }
apt_in() { timeout 600 chroot "$mnt" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0 "$@"; }

step "apt-get install ./$(basename "$deb") logrotate in a clean Debian 12 root"
inside dpkg-query -W ringcache >/dev/null 2>&1 && fail "the base image already has ringcache"
cp "$deb" "$mnt/tmp/"
apt_in update
# logrotate is only Recommended; it is installed here to run the rule.
apt_in install -y --no-install-recommends "/tmp/$(basename "$deb")" logrotate >"$logs/install.log" 2>&1 ||
	fail "apt-get install failed"
[ "$(inside dpkg-query -W -f='${Status}' ringcache)" = "install ok installed" ] ||
	fail "ringcache is not installed: $(inside dpkg-query -W -f='${Status}' ringcache)"
[ "$(inside /usr/sbin/ringcache --version)" = "ringcache $version" ] || fail "ringcache --version is not $version"

step "what the package made"
IFS=: read -r _ _ uid gid _ home shell < <(inside getent passwd ringcache) || fail "no user ringcache"
[ "$uid" -lt 1000 ] || fail "ringcache is uid $uid, not a system user"
[ "$home:$shell" = "/nonexistent:/usr/sbin/nologin" ] || fail "ringcache has home $home, shell $shell"
[ "$(inside getent group ringcache | cut -d: -f3)" = "$gid" ] || fail "no group ringcache for gid $gid"
[ "$(inside stat -c '%U:%G %a' /var/log/ringcache)" = "ringcache:adm 2750" ] ||
	fail "/var/log/ringcache is $(inside stat -c '%U:%G %a' /var/log/ringcache)"
conffiles=$(inside dpkg-query -W -f='${Conffiles}' ringcache)
for f in /etc/ringcache/ringcache.yaml /etc/logrotate.d/ringcache; do
	grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile"
done
for f in /usr/share/man/man8/ringcache.8.gz /lib/systemd/system/ringcache.service \
	/lib/systemd/system/ringcache.service.d/debian.conf /usr/share/doc/ringcache/examples/ringcache.yaml; do
	[ -f "$mnt$f" ] || fail "$f is missing"
done
# Enabled by the postinst (deb-systemd-helper works without systemd running).
[ "$(systemctl --root="$mnt" is-enabled ringcache.service)" = enabled ] || fail "ringcache.service is not enabled"
# The unit with the package's drop-in, checked by the host's systemd (the
# root has none): copies that run the root's binary, as tests/systemd does.
mkdir -p "$logs/unit/ringcache.service.d"
sed "s#/usr/sbin/ringcache#$mnt/usr/sbin/ringcache#g" "$mnt/lib/systemd/system/ringcache.service" \
	>"$logs/unit/ringcache.service"
cp "$mnt/lib/systemd/system/ringcache.service.d/debian.conf" "$logs/unit/ringcache.service.d/"
out=$(systemd-analyze verify --man=no "$logs/unit/ringcache.service" 2>&1) && [ -z "$out" ] ||
	fail "systemd-analyze verify: $out"
# ExecReload= runs /bin/kill, so the package depends on procps.
[ -x "$mnt/bin/kill" ] || fail "no /bin/kill in the root for ExecReload="
grep -qx 'User=ringcache' "$mnt/lib/systemd/system/ringcache.service.d/debian.conf" ||
	fail "the drop-in does not run the unit as ringcache"

# As the unit runs it: the package's user and groups, no new privileges.
as_user() { chroot "$mnt" setpriv --reuid=ringcache --regid=ringcache --init-groups --no-new-privs -- "$@"; }
step "ringcache -t -c /etc/ringcache/ringcache.yaml as ringcache"
as_user /usr/sbin/ringcache -t -c /etc/ringcache/ringcache.yaml

# A network namespace with only loopback, held by a sleeping process.
unshare --net sleep 600 &
holder=$!
for _ in $(seq 50); do [ "$(readlink /proc/$holder/ns/net)" != "$(readlink /proc/self/ns/net)" ] && break; sleep 0.1; done
netns=/proc/$holder/ns/net
in_ns() { nsenter --net="$netns" "$@"; }
in_ns ip link set lo up

step "the daemon as ringcache with the shipped config, in front of an origin"
# Started with nsenter itself, not in_ns: $! is then timeout's pid (nsenter
# execs it), which the daemon is the child of. timeout bounds each life if
# the test dies, and hands the SIGTERM below on to the daemon.
nsenter --net="$netns" timeout 120 "$origin" -l 127.0.0.1:9000 >"$logs/origin.log" 2>&1 &
opid=$!
nsenter --net="$netns" timeout 120 chroot "$mnt" \
	setpriv --reuid=ringcache --regid=ringcache --init-groups --no-new-privs -- \
	/usr/sbin/ringcache -c /etc/ringcache/ringcache.yaml >"$logs/daemon.log" 2>&1 &
dpid=$!
up=0
for _ in $(seq 100); do
	in_ns curl -fs -o /dev/null http://127.0.0.1:9090/health && in_ns curl -fs -o /dev/null http://127.0.0.1:9000/ &&
		{ up=1; break; }
	kill -0 "$dpid" 2>/dev/null || fail "the daemon exited"
	sleep 0.1
done
[ "$up" = 1 ] || fail "the daemon or the origin did not answer in 10 s"
daemon=$(pgrep -P "$dpid" -x ringcache) || fail "no ringcache process under $dpid"
[ "$(awk '/^Uid:/ {print $2 ":" $3}' "/proc/$daemon/status")" = "$uid:$uid" ] ||
	fail "the daemon does not run as ringcache (uid $uid): $(grep '^Uid:' "/proc/$daemon/status")"

url='http://127.0.0.1:8080/deb-test?size=1000&cc=max-age%3D60'
head1=$(in_ns curl -fsS -D - -o "$logs/body" "$url" | tr -d '\r')
[ "$(stat -c %s "$logs/body")" = 1000 ] || fail "the body is not 1000 bytes"
grep -q '^Cache-Status: ringcache; fwd=uri-miss;.*stored' <<<"$head1" || fail "first request not a miss: $head1"
head2=$(in_ns curl -fsS -D - -o /dev/null "$url" | tr -d '\r')
grep -q '^Cache-Status: ringcache; hit' <<<"$head2" || fail "second request not a hit: $head2"

# Access log lines are written by the loops through io_uring: give them a moment.
log=$mnt/var/log/ringcache/access.log
lines() { grep -c "$1" "$2" 2>/dev/null || true; }
for _ in $(seq 30); do [ "$(lines 'GET /deb-test' "$log")" = 2 ] && break; sleep 0.1; done
[ "$(lines 'GET /deb-test' "$log")" = 2 ] || fail "access.log does not have the 2 requests"
owner=$(inside stat -c %U:%G /var/log/ringcache/access.log)
[ "$owner" = ringcache:adm ] || fail "access.log is owned by $owner"

step "logrotate -f /etc/logrotate.d/ringcache"
inside logrotate -f /etc/logrotate.d/ringcache
[ -f "$log.1" ] || fail "logrotate did not move access.log"
[ "$(lines 'GET /deb-test' "$log.1")" = 2 ] || fail "access.log.1 does not have the 2 requests"
in_ns curl -fsS -o /dev/null 'http://127.0.0.1:8080/after-rotate'
for _ in $(seq 30); do [ "$(lines 'GET /after-rotate' "$log")" = 1 ] && break; sleep 0.1; done
[ "$(lines 'GET /after-rotate' "$log")" = 1 ] || fail "no new access.log after SIGUSR1"
[ "$(lines 'GET /after-rotate' "$log.1")" = 0 ] || fail "the daemon still writes access.log.1"
grep -q 'SIGUSR1: reopened' "$logs/daemon.log" || fail "the daemon did not log the reopen"

step "SIGTERM: drain and exit 0"
kill -TERM "$dpid"
st=0
wait "$dpid" || st=$?
dpid=""
[ "$st" = 0 ] || fail "the daemon exited $st on SIGTERM"

# What purge must leave: an admin's own file next to the conffile, and
# another program's cache, whose file is even owned by the ringcache user
# (purge removes the paths it made, not whatever the user owns).
echo "# the admin's" >"$mnt/etc/ringcache/local.yaml"
mkdir -p "$mnt/var/cache/neighbour"
echo object >"$mnt/var/cache/neighbour/object"
chown "$uid:$gid" "$mnt/var/cache/neighbour/object"
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's#^\./#/#; /[^/]$/p')

step "apt-get remove ringcache"
apt_in remove -y ringcache >"$logs/remove.log" 2>&1 || fail "apt-get remove failed"
[ "$(inside dpkg-query -W -f='${Status}' ringcache)" = "deinstall ok config-files" ] || fail "not in config-files state"
[ ! -e "$mnt/usr/sbin/ringcache" ] || fail "remove left /usr/sbin/ringcache"
[ -f "$mnt/etc/ringcache/ringcache.yaml" ] || fail "remove took the conffile"
inside getent passwd ringcache >/dev/null || fail "remove took the user"

step "apt-get purge ringcache"
apt_in purge -y ringcache >"$logs/purge.log" 2>&1 || fail "apt-get purge failed"
! grep 'ringcache: could not' "$logs/purge.log" || fail "purge could not remove the user or group"
inside dpkg-query -W -f='${Status}' ringcache 2>/dev/null | grep -q ' installed\|config-files' &&
	fail "ringcache is still known to dpkg"
for f in $files; do
	[ ! -e "$mnt$f" ] || fail "purge left $f"
done
for f in /var/log/ringcache /etc/systemd/system/multi-user.target.wants/ringcache.service \
	/var/lib/systemd/deb-systemd-helper-enabled/ringcache.service.dsh-also; do
	[ ! -e "$mnt$f" ] || fail "purge left $f"
done
! inside getent passwd ringcache >/dev/null || fail "purge left the user ringcache"
! inside getent group ringcache >/dev/null || fail "purge left the group ringcache"
[ -f "$mnt/etc/ringcache/local.yaml" ] || fail "purge removed the admin's /etc/ringcache/local.yaml"
[ -f "$mnt/var/cache/neighbour/object" ] || fail "purge removed another program's cache"

echo "deb test: ringcache_${version} installs, checks, serves and caches as ringcache, rotates its log," \
	"and removes and purges cleanly ($(($(date +%s) - t0)) s)"
