#!/usr/bin/env bash
# bench/insns.sh - user-space instructions per request of one ringcache
# build, counted by callgrind: steady on a noisy shared machine, where
# timings are not. One loop (threads: 1), the build's own origin, a warm-up,
# the counters zeroed, then N requests from one wrk connection set; the
# daemon's whole process (every thread) is counted.
#
# usage: bench/insns.sh [--requests N] [--conns C] [--url PATH] [--extra YAML] BUILD
#   BUILD   a build directory with ringcache and ringcache-origin (Release)
#   --url   default /insns/hit?size=1024&cc=max-age%3D3600 (a 1 KiB hit)
#   --extra a file of top-level YAML keys appended to the config
#   --keep  FILE: keep the counted callgrind dump there (callgrind_annotate FILE)
# Prints "INSTRUCTIONS REQUESTS INSTRUCTIONS_PER_REQUEST".
set -euo pipefail
REQUESTS=20000
CONNS=10
URL='/insns/hit?size=1024&cc=max-age%3D3600'
EXTRA=
KEEP=
while (($#)); do
	case $1 in
	--requests) REQUESTS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--url) URL=$2; shift 2 ;;
	--extra) EXTRA=$(realpath "$2"); shift 2 ;;
	--keep) KEEP=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "usage: $0 [--requests N] [--conns C] [--url PATH] [--extra YAML] [--keep FILE] BUILD" >&2; exit 2; }
B=$(cd "$1" && pwd)
for t in valgrind callgrind_control curl python3; do
	command -v $t >/dev/null || { echo "insns: $t is not installed" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/ringcache-insns.XXXXXX)
OPORT=28310
PPORT=28311
PIDS=()
cleanup() {
	# The counted dump is written: no need to wait for a drain under valgrind.
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
cat >"$WORK/c.yaml" <<YAML
listen: ["127.0.0.1:$PPORT"]
threads: 1
backends:
  - name: app
    servers: ["127.0.0.1:$OPORT"]
cache:
  memory: 64MiB
compression:
  enabled: false
YAML
[ -z "$EXTRA" ] || cat "$EXTRA" >>"$WORK/c.yaml"
"$B/ringcache-origin" -l "127.0.0.1:$OPORT" >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$OPORT/" && break
	sleep 0.1
done
valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" --dump-instr=no \
	"$B/ringcache" -c "$WORK/c.yaml" >"$WORK/daemon.log" 2>&1 &
VPID=$!
PIDS+=($VPID)
for _ in $(seq 600); do
	curl -sf -o /dev/null "http://127.0.0.1:$PPORT$URL" && break
	sleep 0.1
done
# Count only what was meant: every counted request must be a 200.
curl -sf -o /dev/null "http://127.0.0.1:$PPORT$URL" ||
	{ echo "insns: $URL does not answer 200 through the proxy" >&2; tail -5 "$WORK/origin.log" "$WORK/daemon.log" >&2; exit 1; }
# Warm-up, then zero the counters and count exactly REQUESTS requests:
# keep-alive clients in python3 (wrk runs by time, not by count).
load() {
	python3 - "$PPORT" "$URL" "$1" "$CONNS" <<'PY'
import socket, sys, threading
port, url, n, c = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
req = f"GET {url} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
bad = []
def one(k):
    s = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for _ in range(k):
        s.sendall(req)
        while True:
            h = buf.find(b"\r\n\r\n")
            if h >= 0:
                head = buf[:h].decode("latin-1").lower()
                cl = int(head.split("content-length:")[1].split("\r\n")[0])
                if len(buf) >= h + 4 + cl:
                    buf = buf[h + 4 + cl:]
                    break
            d = s.recv(65536)
            if not d:
                bad.append("closed")
                return
            buf += d
        if not head.startswith("http/1.1 200"):
            bad.append(head.split("\r\n")[0])
            return
    s.close()
ts = [threading.Thread(target=one, args=(n // c,)) for _ in range(c)]
[t.start() for t in ts]
[t.join() for t in ts]
if bad:
    sys.exit("insns: " + bad[0])
PY
}
load 2000
callgrind_control -z "$VPID" >/dev/null 2>&1
load "$REQUESTS"
callgrind_control -d "$VPID" >/dev/null 2>&1
sleep 1
total=0
for f in "$WORK"/cg.out*; do
	n=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")
	[ -n "$n" ] || continue
	# The dump after zeroing holds the counted part; older parts are 0-based
	# dumps before it (the first file is written only at exit).
	total=$((total + n))
	[ -z "$KEEP" ] || cp "$f" "$KEEP"
done
req=$(( (REQUESTS / CONNS) * CONNS ))
echo "$total $req $(awk -v t="$total" -v r="$req" 'BEGIN {printf "%.0f", t / r}')"
