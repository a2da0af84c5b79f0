#!/usr/bin/env bash
# bench/compress.sh - does the compression pool keep cache hits fast while it
# works? ringcache runs in front of ringcache-origin with compression on, in
# two modes: the codecs on the worker pool (the design) and, for comparison
# only, on the loop threads (compression.bench_on_loop: true, which is what an
# event-loop server that compresses in-line does). In each mode wrk measures
# the p99 latency of 1 KiB cache hits three times: alone; next to a second
# wrk fetching misses (new 1 MiB text URLs) without Accept-Encoding, so the
# misses cost the loops their fetching and sending but compression is idle;
# and next to the same misses with "Accept-Encoding: br, gzip", so every
# miss is also compressed (compression busy). busy/idle isolates what the
# compression costs the hits. Rounds alternate the modes; medians.
#
# usage: bench/compress.sh [--rounds N] [--duration S] [--build-dir DIR]
#                          [--hit-conns N] [--miss-conns N] [--miss-delay MS]
#                          [--workers N] [--modes "pool loop"] [--out FILE]
# Each miss connection waits --miss-delay ms (500) after each response, so
# the miss rate is the same with and without compression.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=3
DURATION=10
BUILD_DIR=$ROOT/build
HIT_CONNS=50
MISS_CONNS=4
MISS_DELAY=500
WORKERS=2
MODES="pool loop"
OUT=$ROOT/bench/results/compress.md
PORT_BASE=28400
CMDLINE="bench/compress.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--build-dir) BUILD_DIR=$(cd "$2" && pwd); shift ;;
	--hit-conns) HIT_CONNS=$2; shift ;;
	--miss-conns) MISS_CONNS=$2; shift ;;
	--miss-delay) MISS_DELAY=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--modes) MODES=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

command -v wrk >/dev/null || { echo "wrk is missing (scripts/deps.sh test)" >&2; exit 1; }
[ -x "$BUILD_DIR/ringcache" ] || { echo "no $BUILD_DIR/ringcache: build first" >&2; exit 1; }
if ! grep -q 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
	echo "warning: $BUILD_DIR is not a Release build" >&2
fi

TMP=$(mktemp -d /tmp/rc-compress.XXXXXX)
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$TMP/"
ORIGIN_PORT=$PORT_BASE
RC_PORT=$((PORT_BASE + 1))
ADMIN_PORT=$((PORT_BASE + 2))
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

wait_port() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}

"$TMP/ringcache-origin" -l "127.0.0.1:$ORIGIN_PORT" -t 1 2>"$TMP/origin.log" &
PIDS+=($!)
wait_port "$ORIGIN_PORT"

RC_PID=
start_rc() { # MODE: pool | loop
	local on_loop=false
	[ "$1" = loop ] && on_loop=true
	cat >"$TMP/rc.yaml" <<EOF
listen: ["127.0.0.1:$RC_PORT"]
threads: 2
backends:
  - name: origin
    servers: ["127.0.0.1:$ORIGIN_PORT"]
cache:
  memory: 512MiB
compression:
  enabled: true
  workers: $WORKERS
  bench_on_loop: $on_loop
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
log:
  level: error
EOF
	"$TMP/ringcache" -c "$TMP/rc.yaml" 2>>"$TMP/rc-$1.log" &
	RC_PID=$!
	wait_port "$RC_PORT"
	# Warm the hit object (1 KiB text: stored, sent identity to wrk, which
	# sends no Accept-Encoding).
	curl -s -o /dev/null "http://127.0.0.1:$RC_PORT/hit?size=1024&cc=max-age%3D3600"
}
stop_rc() {
	kill "$RC_PID"
	wait "$RC_PID" 2>/dev/null || true
}

metric() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# Prints "p99_ms rps" of the hit run.
hit_run() {
	wrk -t1 -c"$HIT_CONNS" -d"${DURATION}s" --latency \
		"http://127.0.0.1:$RC_PORT/hit?size=1024&cc=max-age%3D3600" >"$TMP/hit.out" 2>&1
	awk '/ 99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p=v}
	     /Requests\/sec/ {r=$2} END {printf "%.3f %d\n", p, r}' "$TMP/hit.out"
}

declare -A RES
for ((round = 1; round <= ROUNDS; round++)); do
	read -r -a modes <<<"$MODES"
	if ((round % 2 == 0)); then
		modes=()
		for m in $MODES; do modes=("$m" "${modes[@]}"); done
	fi
	for mode in "${modes[@]}"; do
		start_rc "$mode"
		read -r p rps < <(hit_run)
		RES[$mode,alone,$round]=$p
		log "round $round $mode hits alone: p99 $p ms, $rps req/s"
		for kind in idle busy; do
			ae=none
			[ "$kind" = busy ] && ae="br, gzip"
			j0=$(metric ringcache_compression_job_seconds_total)
			m0=$(metric ringcache_cache_miss_total)
			wrk -t1 -c"$MISS_CONNS" -d"$((DURATION + 2))s" -s "$ROOT/bench/wrk/miss-ae.lua" \
				"http://127.0.0.1:$RC_PORT/" -- 1048576 "r$round$mode$kind" "$ae" "$MISS_DELAY" \
				>"$TMP/miss.out" 2>&1 &
			MISS_PID=$!
			sleep 1
			read -r p rps < <(hit_run)
			wait "$MISS_PID" || true
			j1=$(metric ringcache_compression_job_seconds_total)
			m1=$(metric ringcache_cache_miss_total)
			fb=$(metric ringcache_compression_fallbacks_total)
			# Seconds spent in codec steps per second: how many steps were
			# in progress on average (wall time, preemption included).
			codec=$(awk -v a="$j0" -v b="$j1" -v d="$((DURATION + 2))" 'BEGIN {printf "%.2f", (b - a) / d}')
			RES[$mode,$kind,$round]=$p
			RES[$mode,${kind}_misses,$round]=$((m1 - m0))
			RES[$mode,${kind}_codec,$round]=$codec
			log "round $round $mode misses, compression $kind: hits p99 $p ms, $rps req/s; misses $((m1 - m0)), steps in progress $codec, fallbacks so far $fb"
		done
		stop_rc
	done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { local m=$1 k=$2 v=(); for ((r = 1; r <= ROUNDS; r++)); do v+=("${RES[$m,$k,$r]}"); done; median "${v[@]}"; }

{
	echo "# Compression pool benchmark"
	echo
	echo "\`$CMDLINE\` on $(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
	echo "kernel $(uname -r); ringcache $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
	echo "Hits: \`wrk -t1 -c$HIT_CONNS -d${DURATION}s\` on a stored 1 KiB object; misses: at the same time"
	echo "\`wrk -t1 -c$MISS_CONNS -s bench/wrk/miss-ae.lua -- 1048576 ID AE $MISS_DELAY\` (new 1 MiB text URLs, each"
	echo "connection pausing $MISS_DELAY ms between them; AE \"none\" for compression idle, \"br, gzip\" for compression busy)."
	echo "compression.workers: $WORKERS. Medians of $ROUNDS rounds."
	echo
	echo "| codecs run on | hits alone | + misses, compression idle | + misses, compression busy | busy / idle | misses (idle / busy) | codec steps in progress, busy |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	for m in $MODES; do
		a=$(col "$m" alone)
		i=$(col "$m" idle)
		b=$(col "$m" busy)
		name="worker pool (the design)"
		[ "$m" = loop ] && name="loop threads (bench_on_loop)"
		printf '| %s | %s ms | %s ms | %s ms | %.2fx | %s / %s | %s |\n' "$name" "$a" "$i" "$b" \
			"$(awk -v x="$b" -v y="$i" 'BEGIN {print x / y}')" "$(col "$m" idle_misses)" \
			"$(col "$m" busy_misses)" "$(col "$m" busy_codec)"
	done
	echo
	echo "p99 latency of the hits (wrk's); misses are those the proxy counted during the hit run."
	echo
	echo "Every round:"
	echo
	for ((r = 1; r <= ROUNDS; r++)); do
		for m in $MODES; do
			echo "- round $r, $m: alone ${RES[$m,alone,$r]} ms; idle ${RES[$m,idle,$r]} ms (${RES[$m,idle_misses,$r]} misses); busy ${RES[$m,busy,$r]} ms (${RES[$m,busy_misses,$r]} misses, ${RES[$m,busy_codec,$r]} steps in progress)"
		done
	done
} >"$OUT"
cat "$OUT"
