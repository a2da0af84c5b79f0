#!/usr/bin/env bash
# bench/membudget.sh - issue 20's memory budget: ringcache with
# cache.memory BUDGET and a stream of distinct keys of mixed sizes (1 KiB
# to 4 MiB, log-uniform: bench/wrk/sizes.lua) many times the budget
# flowing through it; the process's RSS is sampled every 0.2 s and its
# peak (VmHWM) compared with the target 1.3 x BUDGET + 64 MiB. Writes
# bench/results/membudget-latest.md. See bench/README.md ("Memory budget").
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/membudget.sh [options]
  --budget MIB       cache.memory in MiB (default 256)
  --duration S       seconds of load (default 60)
  --conns N          wrk connections (default 32, 2 threads)
  --min B, --max B   object sizes (default 1024 and 4194304)
  --build-dir DIR    ringcache and ringcache-origin (default build-rel/, else build/)
  --out DIR          results directory (default bench/results)
  --port-base P      P origin, P+3 ringcache, P+4 its admin (default 29220)
  -h, --help         this text
EOF2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUDGET=256
DURATION=60
CONNS=32
MIN=1024
MAX=4194304
BUILD_DIR=
OUT=$BENCH/results
PORT_BASE=29220
CMDLINE="bench/membudget.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--budget) BUDGET=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--min) MIN=$2; shift ;;
	--max) MAX=$2; shift ;;
	--build-dir) BUILD_DIR=$2; shift ;;
	--out) OUT=$2; shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "membudget.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
for v in BUDGET DURATION CONNS MIN MAX; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "membudget.sh: bad value for $v" >&2; exit 2; }
done
if [[ -z $BUILD_DIR ]]; then
	BUILD_DIR=$ROOT/build-rel
	[[ -x $BUILD_DIR/ringcache ]] || BUILD_DIR=$ROOT/build
fi

declare -A PORT=([origin]=$PORT_BASE [ringcache]=$((PORT_BASE + 3)) [rcadmin]=$((PORT_BASE + 4)))
declare -A PID=()
# shellcheck source=bench/disklib.sh
. "$BENCH/disklib.sh"

TMP=
cleanup() {
	local rc=$? name
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do stop_pid "$name"; done
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

for c in wrk curl; do command -v "$c" >/dev/null || die "$c is missing"; done
[[ -x $BUILD_DIR/ringcache && -x $BUILD_DIR/ringcache-origin ]] || die "no ringcache build in $BUILD_DIR"
PORT_MAX=$((PORT_BASE + 79))
pick_ports origin ringcache rcadmin
TMP=$(mktemp -d /tmp/ringbench-membudget.XXXXXX)
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$TMP/"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
REPO_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

cat >"$TMP/ringcache.yaml" <<EOF2
listen: ["127.0.0.1:${PORT[ringcache]}"]
threads: 2
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: ${BUDGET}MiB
  max_object_size: 8MiB
admin:
  listen: "127.0.0.1:${PORT[rcadmin]}"
log:
  level: warn
compression:
  enabled: false
EOF2
launch origin "${PORT[origin]}" "$TMP/origin.log" "$TMP/ringcache-origin" -l "127.0.0.1:${PORT[origin]}" -t 1
launch ringcache "${PORT[ringcache]}" "$TMP/ringcache.log" "$TMP/ringcache" -c "$TMP/ringcache.yaml"
RC=${PID[ringcache]}

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$RC/status"; }

log "load: ${DURATION} s, ${CONNS} connections, ${MIN}..${MAX} bytes, budget ${BUDGET} MiB"
timeout --foreground -k 5 $((DURATION + 30)) wrk -t 2 -c "$CONNS" -d "${DURATION}s" --timeout 10s \
	-s "$BENCH/wrk/sizes.lua" "http://127.0.0.1:${PORT[ringcache]}/" -- "$MIN" "$MAX" "mb$$" \
	>"$TMP/wrk.log" 2>&1 &
PID[wrk]=$!
peak_rss=0 peak_cache=0 peak_held=0 peak_charged=0 samples=0
end=$(($(date +%s) + DURATION + 2))
while kill -0 "${PID[wrk]}" 2>/dev/null && (($(date +%s) < end)); do
	r=$(status_kib VmRSS)
	((r > peak_rss)) && peak_rss=$r
	samples=$((samples + 1))
	if ((samples % 5 == 0)); then
		cb=$(rc_metric ringcache_cache_bytes)
		cb=${cb%.*}
		((cb > peak_cache)) && peak_cache=$cb
		# Objects out of the cache still being sent or filled: charged
		# to the budget beside the cache's own (issue 20).
		hb=$(rc_metric ringcache_cache_held_bytes)
		hb=${hb%.*}
		((hb > peak_held)) && peak_held=$hb
		((cb + hb > peak_charged)) && peak_charged=$((cb + hb))
	fi
	sleep 0.2
done
wait "${PID[wrk]}" || true
unset "PID[wrk]"
hwm=$(status_kib VmHWM)
rss_end=$(status_kib VmRSS)
cache_end=$(rc_metric ringcache_cache_bytes)
reqs=$(awk '/requests in/ { print $1 }' "$TMP/wrk.log")
bytes=$(awk '/requests in/ { print $5 }' "$TMP/wrk.log")
errs=$(grep -c -E 'Socket errors|Non-2xx' "$TMP/wrk.log" || true)
target_kib=$((BUDGET * 1024 * 13 / 10 + 64 * 1024))
verdict=met
((hwm <= target_kib)) || verdict="NOT met"

mkdir -p "$OUT"
{
	echo "# Memory budget (issue 20)"
	echo
	echo "Generated by \`$CMDLINE\` on $(date -u '+%Y-%m-%d %H:%M UTC'), ringcache at $REPO_HEAD ($BUILD_TYPE)."
	echo
	echo "- Machine: $(nproc) vCPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r); glibc malloc."
	echo "- Load: \`wrk -t2 -c$CONNS -d${DURATION}s -s bench/wrk/sizes.lua -- $MIN $MAX\`: every request a new key, sizes log-uniform; $reqs requests, $bytes read; error lines in wrk's report: $errs."
	echo
	echo "| | KiB | MiB |"
	echo "| --- | ---: | ---: |"
	echo "| cache.memory | $((BUDGET * 1024)) | $BUDGET |"
	echo "| target: 1.3 x cache.memory + 64 MiB | $target_kib | $((target_kib / 1024)) |"
	echo "| peak RSS (VmHWM) | $hwm | $((hwm / 1024)) |"
	echo "| peak RSS sampled every 0.2 s | $peak_rss | $((peak_rss / 1024)) |"
	echo "| RSS at the end | $rss_end | $((rss_end / 1024)) |"
	echo "| peak ringcache_cache_bytes (sampled each second) | $((peak_cache / 1024)) | $((peak_cache / 1048576)) |"
	echo "| ringcache_cache_bytes at the end | $(( ${cache_end%.*} / 1024 )) | $(( ${cache_end%.*} / 1048576 )) |"
	echo "| peak ringcache_cache_held_bytes (objects out of the cache, still sent or filled) | $((peak_held / 1024)) | $((peak_held / 1048576)) |"
	echo "| peak of the two together (charged to cache.memory) | $((peak_charged / 1024)) | $((peak_charged / 1048576)) |"
	echo
	echo "Peak RSS against the target: **$verdict** ($(awk -v a="$hwm" -v b="$((BUDGET * 1024))" 'BEGIN { printf "%.2f", a / b }') x cache.memory)."
} >"$OUT/membudget-latest.md"
cat "$OUT/membudget-latest.md"
