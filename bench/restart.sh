#!/usr/bin/env bash
# bench/restart.sh - issue 18's restart benchmark: under a steady load over
# a key set that fits in memory, restart ringcache (SIGTERM, start again)
# and count the requests that reach the origin in the first WINDOW seconds
# after the restart, with the disk tier (same store again) and memory only.
# Writes bench/results/restart-latest.md. See bench/README.md
# ("Restart benchmark").
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/restart.sh [options]
  --window S         seconds counted after the restart (default 60)
  --quick            smoke test: --window 10, 5,000 keys
  --keys N           keys (default 20000), each --size bytes
  --size B           body size (default 4096)
  --conns N          wrk connections of the steady load (default 8, 1 thread)
  --only LIST        configurations: disk,memory (default both)
  --dir DIR          where the store goes (default /var/tmp; not tmpfs)
  --build-dir DIR    ringcache and ringcache-origin (default build-rel/, else build/)
  --out DIR          results directory (default bench/results)
  --port-base P      P origin, P+3 ringcache, P+4 its admin (default 29120; each
                     moved up to the next port with no socket on it, up to P+79)
  -h, --help         this text
EOF2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
WINDOW=60
NKEYS=20000
SIZE=4096
CONNS=8
ONLY=disk,memory
STORE_BASE=/var/tmp
BUILD_DIR=
OUT=$BENCH/results
PORT_BASE=29120
PRE=5
CMDLINE="bench/restart.sh${*:+ $*}"
window_set=0 keys_set=0
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--window) WINDOW=$2; window_set=1; shift ;;
	--keys) NKEYS=$2; keys_set=1; shift ;;
	--size) SIZE=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--dir) STORE_BASE=$2; shift ;;
	--build-dir) BUILD_DIR=$2; shift ;;
	--out) OUT=$2; shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "restart.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if ((${QUICK:-0})); then
	((window_set)) || WINDOW=10
	((keys_set)) || NKEYS=5000
fi
for v in WINDOW NKEYS SIZE CONNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "restart.sh: bad value for $v" >&2; exit 2; }
done
if [[ -z $BUILD_DIR ]]; then
	BUILD_DIR=$ROOT/build-rel
	[[ -x $BUILD_DIR/ringcache ]] || BUILD_DIR=$ROOT/build
fi
MODES=()
for m in disk memory; do [[ ,$ONLY, == *,$m,* ]] && MODES+=("$m"); done
((${#MODES[@]})) || { echo "restart.sh: --only names no configuration" >&2; exit 2; }

declare -A PORT=([origin]=$PORT_BASE [ringcache]=$((PORT_BASE + 3)) [rcadmin]=$((PORT_BASE + 4)))
declare -A PID=()
# shellcheck source=bench/disklib.sh
. "$BENCH/disklib.sh"

MEM_MIB=$(((NKEYS * (SIZE + 1024) / 1048576) * 2 + 64)) # the whole set, twice over
STORE_MIB=$MEM_MIB
PREFIX=rs$$

TMP=
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do stop_pid "$name"; done
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	[[ -n ${STORE:-} && -d $STORE ]] && rm -rf "$STORE"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

for c in wrk curl ss; do command -v "$c" >/dev/null || die "$c is missing"; done
[[ -x $BUILD_DIR/ringcache && -x $BUILD_DIR/ringcache-origin ]] || die "no ringcache build in $BUILD_DIR"
FSTYPE=$(df -T "$STORE_BASE" | awk 'NR == 2 { print $2 }')
[[ $FSTYPE != tmpfs && $FSTYPE != ramfs ]] || die "$STORE_BASE is on $FSTYPE; pick a real file system with --dir"
PORT_MAX=$((PORT_BASE + 79))
pick_ports origin ringcache rcadmin
TMP=$(mktemp -d /tmp/ringbench-restart.XXXXXX)
STORE=$(mktemp -d "$STORE_BASE/ringbench-restart.XXXXXX")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$TMP/"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
REPO_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

start_origin() {
	launch origin "${PORT[origin]}" "$TMP/origin.log" "$TMP/ringcache-origin" -l "127.0.0.1:${PORT[origin]}" -t 1
}

write_conf() { # MODE
	{
		cat <<EOF2
listen: ["127.0.0.1:${PORT[ringcache]}"]
threads: 2
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: ${MEM_MIB}MiB
EOF2
		if [[ $1 == disk ]]; then
			cat <<EOF2
  disk:
    path: $STORE/ringcache.store
    size: ${STORE_MIB}MiB
    segment_size: 8MiB
    min_ttl: 60s
    max_object_size: 4MiB
    admit_hits: 1
EOF2
		fi
		cat <<EOF2
admin:
  listen: "127.0.0.1:${PORT[rcadmin]}"
log:
  level: warn
compression:
  enabled: false
EOF2
	} >"$TMP/ringcache-$1.yaml"
}

start_ringcache() { # MODE
	launch ringcache "${PORT[ringcache]}" "$TMP/ringcache.log" "$TMP/ringcache" -c "$TMP/ringcache-$1.yaml"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

wait_writer() {
	local i a b
	for ((i = 0; i < 60; i++)); do
		a=$(rc_metric ringcache_disk_writes_total)
		sleep 0.5
		b=$(rc_metric ringcache_disk_writes_total)
		[[ $a == "$b" ]] && return 0
	done
	log "note: ringcache was still writing after 30 s"
}

# run_mode MODE: warm up, steady load, restart, count; one line into $TMP/res.tsv.
run_mode() {
	local mode=$1 pass o0 o1 cfg=$TMP/warm.curl
	rm -f "$STORE/ringcache.store"
	write_conf "$mode"
	echo "--- $mode" >>"$TMP/ringcache.log"
	start_ringcache "$mode"
	keys_urls "${PORT[ringcache]}" "$NKEYS" "$SIZE" "$SIZE" "$PREFIX-$mode" >"$cfg"
	# Warm-up: every key, then again until a pass sends nothing to the
	# origin (the disk writer drops writes its queue cannot take; a key
	# dropped so is fetched and offered again), 4 passes at most.
	for ((pass = 1; pass <= 4; pass++)); do
		o0=$(origin_requests)
		timeout 600 curl -sf -K "$cfg" || die "warm-up failed"
		[[ $mode == disk ]] && wait_writer
		o1=$(origin_requests)
		log "$mode: warm-up pass $pass: $((o1 - o0)) of $NKEYS keys from the origin"
		((pass > 1 && o1 - o0 == 0)) && break
	done
	local objs=-
	[[ $mode == disk ]] && objs=$(rc_metric ringcache_disk_objects)
	# The steady load: wrk for longer than it will take; stopped (SIGINT:
	# it prints its summary) when the window is over.
	timeout --foreground -k 5 $((PRE + WINDOW + 120)) wrk -t 1 -c "$CONNS" -d $((PRE + WINDOW + 60))s --timeout 5s \
		-s "$BENCH/wrk/keys.lua" "http://127.0.0.1:${PORT[ringcache]}/" -- "$NKEYS" "$SIZE" "$SIZE" "$PREFIX-$mode" \
		>"$TMP/wrk-$mode.log" 2>&1 &
	local wrk_pid=$!
	PID[wrk]=$wrk_pid
	sleep "$PRE"
	local o_term t_term t_down t_up o_up
	o_term=$(origin_requests)
	t_term=$(now_ms)
	stop_pid ringcache
	t_down=$(now_ms)
	start_ringcache "$mode"
	t_up=$(now_ms)
	o_up=$(origin_requests)
	# Sample the origin's counter every second of the window, and when the
	# index rebuild is done (disk).
	local -a tl=()
	local prev=$o_up cur i t_rebuilt=- rb
	for ((i = 1; i <= WINDOW; i++)); do
		while (($(now_ms) < t_up + i * 1000)); do
			if [[ $mode == disk && $t_rebuilt == - ]]; then
				rb=$(rc_metric ringcache_disk_rebuild_done)
				[[ $rb == 1 ]] && t_rebuilt=$(($(now_ms) - t_up))
			fi
			sleep 0.05
		done
		cur=$(origin_requests)
		tl+=($((cur - prev)))
		prev=$cur
	done
	local o_end=$cur
	local hits dhits misses
	hits=$(rc_metric ringcache_cache_hit_total)
	dhits=$(rc_metric ringcache_disk_hits_total)
	misses=$(rc_metric ringcache_cache_miss_total)
	local rebuild_s=- rebuild_objs=-
	if [[ $mode == disk ]]; then
		rebuild_s=$(rc_metric ringcache_disk_rebuild_seconds)
		rebuild_objs=$(rc_metric ringcache_disk_rebuild_objects)
	fi
	kill -INT "$wrk_pid" 2>/dev/null || true
	wait "$wrk_pid" 2>/dev/null || true
	unset "PID[wrk]"
	local wj reqs errs non2xx
	wj=$(sed -n 's/^WRKJSON //p' "$TMP/wrk-$mode.log" | tail -1)
	reqs=$(jnum requests "$wj")
	errs=$(($(jnum err_connect "$wj") + $(jnum err_read "$wj") + $(jnum err_write "$wj") + $(jnum err_timeout "$wj")))
	non2xx=$(jnum err_status "$wj")
	stop_pid ringcache
	log "$mode: stop took $((t_down - t_term)) ms, start $((t_up - t_down)) ms; origin requests: $((o_end - o_term)) from SIGTERM to ${WINDOW} s after the new daemon listened ($((o_up - o_term)) before it was counted listening); new daemon: $hits hits ($dhits from disk), $misses misses; rebuild done after ${t_rebuilt} ms"
	printf '%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" $((o_end - o_term)) $((o_up - o_term)) \
		$((t_down - t_term)) $((t_up - t_down)) "$hits" "$dhits" "$misses" "$t_rebuilt" "$rebuild_s" "$rebuild_objs" \
		"$objs" "$reqs" "$errs" "$non2xx" "${tl[*]}" >>"$TMP/res.tsv"
}

log "keys: $NKEYS of $SIZE B; ringcache memory ${MEM_MIB} MiB, store ${STORE_MIB} MiB in $STORE ($FSTYPE); window ${WINDOW} s"
start_origin
: >"$TMP/res.tsv"
for m in "${MODES[@]}"; do run_mode "$m"; done
T_END=$(date +%s)

mkdir -p "$OUT"
{
	echo "# Restart benchmark (bench/restart.sh)"
	echo
	echo "Command: \`$CMDLINE\` ($((T_END - T_START)) s), ringcache $REPO_HEAD (${BUILD_TYPE:-?} build)."
	echo
	machine_desc "$STORE_BASE"
	echo "- $NKEYS keys of $SIZE B bodies, cache.memory ${MEM_MIB} MiB (the set fits), disk tier: ${STORE_MIB} MiB store, a fresh one per run"
	echo "- steady load: wrk -t 1 -c $CONNS over the keys, uniformly at random (bench/wrk/keys.lua), from ${PRE} s before the"
	echo "  restart to the end of the window; restart = SIGTERM, wait for the exit, start again (same config, same store)"
	echo "- ringcache starts tried again after EADDRINUSE (a client socket on one of its ports): $LAUNCH_RETRIES (bench/disklib.sh, launch)"
	echo "- counted: the origin's request counter (build/ringcache-origin /__stats) from the SIGTERM to ${WINDOW} s after the"
	echo "  new daemon listens (the old daemon answers every request from memory until it exits)"
	echo
	python3 - "$TMP/res.tsv" "$WINDOW" <<'PY'
import sys
rows = {r[0]: r for r in (l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip())}
w = sys.argv[2]
print(f"| | " + " | ".join(rows) + " |")
print("| --- | " + " | ".join("---:" for _ in rows) + " |")
def line(name, i, fmt=str):
    print(f"| {name} | " + " | ".join(fmt(rows[m][i]) for m in rows) + " |")
line(f"**origin requests, SIGTERM to {w} s after the new daemon listens**", 1, lambda v: f"**{int(v):,}**")
line("of which before the new daemon's first counted second (SIGTERM to listening, plus the ms until the count)", 2)
line("stop (SIGTERM to exit), ms", 3)
line("start (exec to listening), ms", 4)
for m in rows:
    rows[m][5] = f"{int(rows[m][5]):,} ({int(rows[m][6]):,})"
print("| new daemon's hits in the window (of which from disk) | " + " | ".join(rows[m][5] for m in rows) + " |")
line("new daemon's misses in the window", 7)
line("rebuild done after (polled), ms", 8)
line("ringcache_disk_rebuild_seconds / _objects", 9, lambda v: v)
line("objects on disk before the restart", 11)
line("wrk requests over the whole load", 12, lambda v: f"{int(v):,}")
line("wrk socket errors (the restart's closed connections and refused connects) / non-2xx", 13)
print("\nOrigin requests per second of the window (first 15 s):\n")
for m, r in rows.items():
    print(f"- {m}: " + " ".join(r[15].split()[:15]))
if "disk" in rows and "memory" in rows:
    d, mm = int(rows["disk"][1]), int(rows["memory"][1])
    red = 100 * (1 - d / mm) if mm else 0
    print(f"\nIssue 18's target, at least 90 % fewer origin requests with the disk tier: {red:.1f} % fewer, "
          f"{'met' if red >= 90 else 'NOT met'}.")
PY
} >"$OUT/restart-latest.md"
if [[ -s $TMP/ringcache.log ]]; then
	{
		echo
		echo "ringcache's log, both configurations (first 20 lines):"
		echo
		echo '```'
		head -20 "$TMP/ringcache.log"
		echo '```'
	} >>"$OUT/restart-latest.md"
fi
log "done in $((T_END - T_START)) s: $OUT/restart-latest.md"
