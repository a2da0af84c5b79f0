#!/bin/sh
# screenshot-stat.sh [BUILD] [OUT.png]: docs/stat.png, `ringcache stat` as a
# person sees it. Starts the bundled origin and a daemon (compression on)
# on free ports in a scratch directory, drives a mix of hits and misses at
# them, runs `ringcache stat` in a detached tmux terminal (120x36), takes
# the screen with its colours (capture-pane -e), draws it as HTML
# (scripts/ansi2html.py) and has headless Chromium take the picture.
# Needs tmux, python3 and chromium (ImageMagick's convert, if there, makes
# the PNG smaller); everything it started is stopped.
set -eu
BUILD=${1:-build}
OUT=${2:-docs/stat.png}
COLS=120
ROWS=36
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
case $OUT in /*) ;; *) OUT=$here/$OUT ;; esac
dir=$(mktemp -d /tmp/rc-statshot.XXXXXX)
pids=""
cleanup() {
	tmux -S "$dir/tmux.sock" kill-server 2>/dev/null || true
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# Free ports: ask the kernel for each, the way the tests do.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); O=$(port); A=$(port)
cat >"$dir/rc.yaml" <<YAML
listen: ["127.0.0.1:$P"]
threads: 2
backends:
  - name: app
    servers: ["127.0.0.1:$O"]
cache:
  memory: 64MiB
compression:
  enabled: true
admin:
  listen: "127.0.0.1:$A"
YAML
"$BUILD/ringcache-origin" -l "127.0.0.1:$O" >"$dir/origin.log" 2>&1 &
pids="$pids $!"
"$BUILD/ringcache" -c "$dir/rc.yaml" >"$dir/rc.log" 2>&1 &
pids="$pids $!"
python3 - "$P" "$A" <<'PY'
import socket, sys, time
for port in sys.argv[1:]:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", int(port)), 0.1).close()
            break
        except OSError:
            time.sleep(0.05)
PY
# Load for the picture: two clients on keep-alive connections, one in
# eight a new URL, half of them asking for gzip of a text body.
python3 - "$P" 12 <<'PY' &
import http.client, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
def client(seed):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    n, end = seed, time.time() + secs
    while time.time() < end:
        n += 1
        k = n if n % 8 == 0 else n % 64
        hdrs = {"Accept-Encoding": "gzip"} if n % 2 else {}
        c.request("GET", "/obj?size=%d&type=text/html&cc=max-age%%3D3600&k=%d"
                  % (2048 + 512 * (k % 7), k), headers=hdrs)
        c.getresponse().read()
        time.sleep(0.0005)
threads = [threading.Thread(target=client, args=(s * 100000,)) for s in range(2)]
for t in threads: t.start()
for t in threads: t.join()
PY
pids="$pids $!"
sleep 2
tmux -S "$dir/tmux.sock" new-session -d -x $COLS -y $ROWS \
	"TERM=xterm-256color $BUILD/ringcache stat --admin http://127.0.0.1:$A; sleep 60"
sleep 4.5
tmux -S "$dir/tmux.sock" capture-pane -e -N -p -t 0 >"$dir/screen.ans"
python3 "$here/scripts/ansi2html.py" "$dir/screen.ans" "$dir/screen.html" "ringcache stat"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--user-data-dir="$dir/chromium" --window-size=$((COLS * 8 + 52)),$((ROWS * 16 + 48)) \
	--screenshot="$OUT" "file://$dir/screen.html" >"$dir/chromium.log" 2>&1 ||
	{ cat "$dir/chromium.log" >&2; exit 1; }
# A terminal has few colours: a palette PNG is a third of the size.
if command -v convert >/dev/null; then
	convert "$OUT" -colors 64 "PNG8:$dir/small.png" && cp "$dir/small.png" "$OUT"
fi
echo "$OUT: $(wc -c <"$OUT") bytes"
