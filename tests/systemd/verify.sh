#!/bin/sh
# Check systemd/ringcache.service with systemd-analyze verify. The unit
# names the installed paths (/usr/sbin/ringcache); the check runs on a copy
# that points at the built binary, so it needs no install. Any message from
# systemd-analyze (a bad directive, a missing command) fails the test.
# usage: verify.sh SOURCE_DIR RINGCACHE_BINARY
set -eu
src=$1
bin=$2
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd-analyze not found (Debian package systemd)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/sbin/ringcache#$bin#g" "$src/systemd/ringcache.service" >"$tmp/ringcache.service"
out=$(systemd-analyze verify --man=no "$tmp/ringcache.service" 2>&1) || {
	echo "$out" >&2
	exit 1
}
if [ -n "$out" ]; then
	echo "$out" >&2
	exit 1
fi
# The unit must be Type=notify and hardened as documented.
for want in Type=notify NotifyAccess=main WatchdogSec= DynamicUser=yes ProtectSystem=strict \
	NoNewPrivileges=yes CapabilityBoundingSet=CAP_NET_BIND_SERVICE LimitNOFILE= \
	'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qF "$want" "$src/systemd/ringcache.service" || {
		echo "ringcache.service lacks $want" >&2
		exit 1
	}
done
echo "systemd/ringcache.service: ok"
