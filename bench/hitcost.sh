#!/bin/sh
# hitcost.sh BUILD [SUBSCRIBERS] - user-space instructions per 1 KiB cache hit.
#
# The daemon (one loop thread) runs under callgrind with collection off;
# after a warm-up wrk run the counters are switched on, a measured wrk run
# (-t1 -c10, 1 KiB hits) follows, and the total Ir is divided by the
# requests the daemon counted in that window (/stats). SUBSCRIBERS: that
# many `curl /log` readers streaming every record during the measured run
# (LOGQ: the query string of their GET /log, e.g. "format=compact").
# STUCK=1: the subscribers never read.
# CPU=1: no valgrind; the daemon's user+system CPU time (/proc/PID/stat)
# per request instead of instructions.
# DISK=1: with a disk tier (cache.disk, a 64 MiB store in the run's
# temporary directory, which must not be tmpfs: TMPDIR=/var/tmp): the
# hits are memory hits of an object that is also on disk.
set -eu
build=${1:?usage: hitcost.sh BUILD [SUBSCRIBERS]}
subs=${2:-0}
secs=${SECS:-10}
dir=$(mktemp -d)
cleanup() {
	for p in $(cat "$dir"/pids 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	# The daemon drains on SIGTERM: wait, so the next run finds its ports free.
	for p in $(cat "$dir"/pids 2>/dev/null); do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
cat >"$dir/rc.yaml" <<YAML
listen: ["127.0.0.1:28203"]
threads: 1
backends:
  - name: origin
    servers: ["127.0.0.1:28200"]
cache:
  memory: 64MiB
$([ -n "${DISK:-}" ] && printf '  disk: {path: "%s/store", size: 64MiB, min_ttl: 0s}\n' "$dir")
compression:
  enabled: false
admin:
  listen: "127.0.0.1:28209"
log:
  level: warn
YAML
"$build/ringcache-origin" -l 127.0.0.1:28200 >/dev/null 2>&1 &
echo $! >>"$dir/pids"
if [ -n "${CPU:-}" ]; then
	"$build/ringcache" -c "$dir/rc.yaml" >"$dir/rc.log" 2>&1 &
else
	valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
		"$build/ringcache" -c "$dir/rc.yaml" >"$dir/rc.log" 2>&1 &
fi
vg=$!
echo $vg >>"$dir/pids"
i=0
url='http://127.0.0.1:28203/obj1k?size=1024&cc=max-age%3D3600'
until curl -fs "$url" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 300 ] || { cat "$dir/rc.log"; exit 1; }; sleep 0.2
done
wrk -t1 -c10 -d3s "$url" >/dev/null
reqs() { curl -fs http://127.0.0.1:28209/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
n=0
while [ $n -lt "$subs" ]; do
	if [ -n "${STUCK:-}" ]; then
		# A subscriber that never reads: its socket fills, then the
		# loops go on writing records it loses.
		python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1",28209)); s.sendall(b"GET /log?" + sys.argv[1].encode() + b" HTTP/1.1\r\nHost: b\r\n\r\n")
time.sleep(3600)' "${LOGQ:-}" &
	else
		curl -sN "http://127.0.0.1:28209/log?${LOGQ:-}" >/dev/null 2>&1 &
	fi
	echo $! >>"$dir/pids"
	n=$((n + 1))
done
sleep 1
ticks() { awk '{print $14 + $15}' /proc/$vg/stat; }
[ -n "${CPU:-}" ] || callgrind_control -i on $vg >/dev/null
r0=$(reqs)
t0=$(ticks)
wrk -t1 -c10 -d${secs}s "$url" >/dev/null
t1=$(ticks)
r1=$(reqs)
if [ -n "${CPU:-}" ]; then
	hz=$(getconf CLK_TCK)
	echo "requests $((r1 - r0)) cpu_ticks $((t1 - t0)) cpu_ns_per_req $(((t1 - t0) * (1000000000 / hz) / (r1 - r0))) subscribers $subs ${LOGQ:-}"
	exit 0
fi
callgrind_control -d $vg >/dev/null
sleep 1
ir=$(cat "$dir"/cg.out* | awk '/^summary:/ {s += $2} END {print s}')
[ -z "${KEEP:-}" ] || cp "$dir"/cg.out.1 "$KEEP"
hits=$((r1 - r0))
echo "requests $hits instructions $ir per_hit $((ir / hits)) subscribers $subs ${LOGQ:-}"
