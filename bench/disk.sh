#!/usr/bin/env bash
# bench/disk.sh - issue 18's disk benchmark: a working set of about 4x
# ringcache's cache.memory on a real (non-tmpfs) file system, served by
# ringcache with its disk tier, nginx proxy_cache (on disk) and Varnish with
# file storage, all three in front of one build/ringcache-origin, driven by
# wrk with random keys (bench/wrk/keys.lua), rounds alternated between the
# servers; beside them ringcache-mem, the ceiling: the same ringcache with no
# disk tier and a cache.memory that holds the whole working set. Writes
# bench/results/disk-latest.{md,tsv} (disk-MIN-MAXk-latest.* with --sizes).
# See bench/README.md ("Disk tier benchmark").
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/disk.sh [options]
  --quick            smoke test: memory 16 MiB, working set ~64 MiB, 1 round of 4 s
  --rounds N         measured rounds (default 3)
  --duration S       seconds per wrk run (default 10)
  --memory MIB       ringcache cache.memory, MiB (default 64); the working set is 4x
  --page-cache B     ringcache cache.disk.page_cache: true (default: record reads
                     through the page cache) or false (every disk hit an O_DIRECT read)
  --conns N          wrk connections (default 32, 2 threads)
  --sizes MIN-MAX    body sizes in KiB, whole KiB steps (default 16-64); the number
                     of keys follows so that the working set stays 4x --memory;
                     results then in disk-MIN-MAXk-latest.*
  --only LIST        servers, comma-separated: ringcache,nginx,varnish,ringcache-mem
                     (default all; ringcache-mem: no disk tier, cache.memory 4x the
                     working set, every request a memory hit: the ceiling)
  --dir DIR          where the stores go (default /var/tmp; must not be tmpfs)
  --build-dir DIR    ringcache and ringcache-origin (default build-rel/, else build/)
  --out DIR          results directory (default bench/results)
  --port-base P      P origin, P+1 varnish, P+2 nginx, P+3 ringcache, P+4 its admin,
                     P+5 ringcache-mem, P+6 its admin
                     (each moved up to the next port with no socket on it, up to P+19)
                     (default 29100)
  -h, --help         this text
EOF2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
ROUNDS=3
DURATION=10
MEMORY=64
CONNS=32
ONLY=ringcache,nginx,varnish,ringcache-mem
PAGE_CACHE=true
SIZES=16-64
STORE_BASE=/var/tmp
BUILD_DIR=
OUT=$BENCH/results
PORT_BASE=29100
QUICK=0
CMDLINE="bench/disk.sh${*:+ $*}"
rounds_set=0 duration_set=0 memory_set=0
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; rounds_set=1; shift ;;
	--duration) DURATION=$2; duration_set=1; shift ;;
	--memory) MEMORY=$2; memory_set=1; shift ;;
	--page-cache) PAGE_CACHE=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--dir) STORE_BASE=$2; shift ;;
	--build-dir) BUILD_DIR=$2; shift ;;
	--out) OUT=$2; shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "disk.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if ((QUICK)); then
	((rounds_set)) || ROUNDS=1
	((duration_set)) || DURATION=4
	((memory_set)) || MEMORY=16
fi
for v in ROUNDS DURATION MEMORY CONNS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "disk.sh: bad --${v,,}" >&2; exit 2; }
done
if [[ -z $BUILD_DIR ]]; then
	BUILD_DIR=$ROOT/build-rel
	[[ -x $BUILD_DIR/ringcache ]] || BUILD_DIR=$ROOT/build
fi
SERVERS=()
for s in ringcache nginx varnish ringcache-mem; do [[ ,$ONLY, == *,$s,* ]] && SERVERS+=("$s"); done
((${#SERVERS[@]})) || { echo "disk.sh: --only names no server" >&2; exit 2; }

# Keyed by server name (an associative array's key may hold the '-' of
# ringcache-mem; a function name is not asked to: START maps to it).
declare -A PORT=([origin]=$PORT_BASE [varnish]=$((PORT_BASE + 1)) [nginx]=$((PORT_BASE + 2))
	[ringcache]=$((PORT_BASE + 3)) [rcadmin]=$((PORT_BASE + 4))
	[ringcache-mem]=$((PORT_BASE + 5)) [rcmemadmin]=$((PORT_BASE + 6)))
declare -A START=([ringcache]=start_ringcache [nginx]=start_nginx [varnish]=start_varnish
	[ringcache-mem]=start_rcmem)
declare -A PID=()
# shellcheck source=bench/disklib.sh
. "$BENCH/disklib.sh"

# Working set: objects of --sizes KiB (default 16-64, 40 KiB on average),
# 4x cache.memory.
[[ $SIZES =~ ^([1-9][0-9]*)-([1-9][0-9]*)$ ]] && ((BASH_REMATCH[1] <= BASH_REMATCH[2])) ||
	{ echo "disk.sh: bad --sizes (MIN-MAX in KiB, MIN <= MAX)" >&2; exit 2; }
MINSZ=$((BASH_REMATCH[1] * 1024))
MAXSZ=$((BASH_REMATCH[2] * 1024))
# The mean size in bytes (sizes step by whole KiB, evenly): 4x the memory
# over it (a KiB-rounded mean gave 4.5x for 1-8 KiB).
NKEYS=$((MEMORY * 4 * 1048576 * 2 / (MINSZ + MAXSZ)))
AVGKIB=$(python3 -c "print(f'{($MINSZ + $MAXSZ) / 2048:g}')")
# Results: disk-latest.* for the default sizes, disk-MIN-MAXk-latest.* else.
STEM=disk-latest
[[ $SIZES == 16-64 ]] || STEM=disk-${SIZES}k-latest
WS_BYTES=$(keys_bytes "$NKEYS" "$MINSZ" "$MAXSZ")
STORE_MIB=$((MEMORY * 4 * 2 + 64)) # room for the whole set twice: nothing is overwritten
# ringcache-mem's cache.memory: 4x the working set's bytes, rounded up to MiB
# (room for the per-object overhead: no eviction, every request a memory hit).
CEIL_MIB=$(((WS_BYTES * 4 + 1048575) / 1048576))
PREFIX=ws$$

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

((EUID == 0)) || die "run as root (varnishd's and nginx's user switch)"
for c in wrk nginx varnishd varnishstat curl python3 ss; do
	command -v "$c" >/dev/null || die "$c is missing (bench/compare.sh installs the packages)"
done
[[ -x $BUILD_DIR/ringcache && -x $BUILD_DIR/ringcache-origin ]] || die "no ringcache build in $BUILD_DIR"
FSTYPE=$(df -T "$STORE_BASE" | awk 'NR == 2 { print $2 }')
[[ $FSTYPE != tmpfs && $FSTYPE != ramfs ]] || die "$STORE_BASE is on $FSTYPE; pick a real file system with --dir"
PORT_MAX=$((PORT_BASE + 19))
pick_ports origin varnish nginx ringcache rcadmin ringcache-mem rcmemadmin

TMP=$(mktemp -d /tmp/ringbench-disk.XXXXXX)
STORE=$(mktemp -d "$STORE_BASE/ringbench-disk.XXXXXX")
chmod 755 "$TMP" "$STORE"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$TMP/"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
REPO_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
CONF=$TMP/configs
mkdir -p "$CONF"

# ---------------------------------------------------------------- servers
start_origin() {
	launch origin "${PORT[origin]}" "$TMP/origin.log" "$TMP/ringcache-origin" -l "127.0.0.1:${PORT[origin]}" -t 1
}

start_ringcache() {
	cat >"$CONF/ringcache.yaml" <<EOF2
listen: ["127.0.0.1:${PORT[ringcache]}"]
threads: 2
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: ${MEMORY}MiB
  disk:
    path: $STORE/ringcache.store
    size: ${STORE_MIB}MiB
    segment_size: 8MiB
    min_ttl: 60s
    max_object_size: 4MiB
    admit_hits: 1
    page_cache: $PAGE_CACHE
admin:
  listen: "127.0.0.1:${PORT[rcadmin]}"
limits:
  max_connections: 100000
log:
  level: warn
compression:
  enabled: false
EOF2
	launch ringcache "${PORT[ringcache]}" "$TMP/ringcache.log" "$TMP/ringcache" -c "$CONF/ringcache.yaml"
}

# The ceiling: the same binary, no cache.disk, a memory tier that holds the
# whole working set.
start_rcmem() {
	cat >"$CONF/ringcache-mem.yaml" <<EOF2
listen: ["127.0.0.1:${PORT[ringcache-mem]}"]
threads: 2
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: ${CEIL_MIB}MiB
admin:
  listen: "127.0.0.1:${PORT[rcmemadmin]}"
limits:
  max_connections: 100000
log:
  level: warn
compression:
  enabled: false
EOF2
	launch ringcache-mem "${PORT[ringcache-mem]}" "$TMP/ringcache-mem.log" "$TMP/ringcache" -c "$CONF/ringcache-mem.yaml"
}

start_nginx() {
	local d=$TMP/nginx
	mkdir -p "$d/logs"
	cat >"$CONF/nginx.conf" <<EOF2
user www-data;
worker_processes auto;
worker_rlimit_nofile 65536;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    tcp_nopush off;     # see bench/compare.sh: on stalls 64 KiB responses on loopback
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;
    # On disk ($STORE, $FSTYPE): the keys in a shared-memory zone, the
    # bodies in files (read through the page cache; nginx has no object
    # memory tier of its own).
    proxy_cache_path $STORE/nginx levels=1:2 keys_zone=bench:16m
                     max_size=${STORE_MIB}m inactive=1d use_temp_path=off;
    upstream origin {
        server 127.0.0.1:${PORT[origin]};
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=4096 reuseport;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
        }
    }
}
EOF2
	launch nginx "${PORT[nginx]}" "$TMP/nginx.log" nginx -p "$d" -c "$CONF/nginx.conf" -e "$d/logs/error.log"
}

start_varnish() {
	cat >"$CONF/default.vcl" <<EOF2
vcl 4.1;
backend origin {
    .host = "127.0.0.1";
    .port = "${PORT[origin]}";
}
EOF2
	# File storage only (an mmap of the file: the kernel's page cache decides
	# what is resident). -s malloc beside it would not be a memory tier in
	# front of the file: Varnish has none, it would be a second store.
	VARNISH_ARGS=(-F -n "$TMP/varnish" -a "127.0.0.1:${PORT[varnish]}" -f "$CONF/default.vcl"
		-s "file,$STORE/varnish.bin,${STORE_MIB}m" -T none -p timeout_idle=300 -p listen_depth=4096)
	echo "varnishd ${VARNISH_ARGS[*]}" >"$CONF/varnishd.cmd"
	launch varnish "${PORT[varnish]}" "$TMP/varnish.log" varnishd "${VARNISH_ARGS[@]}"
}

# server_stats SERVER: "HITS DISK_HITS MISSES" from the server's own counters
# (ringcache: all hits, disk hits, misses; ringcache-mem: hits, 0, misses
# from its own admin port; varnish: MAIN.cache_hit, 0, MAIN.cache_miss;
# nginx: none, "0 0 0").
server_stats() {
	local ap=${PORT[rcmemadmin]}
	case $1 in
	ringcache)
		echo "$(rc_metric ringcache_cache_hit_total) $(rc_metric ringcache_disk_hits_total) $(rc_metric ringcache_cache_miss_total)"
		;;
	ringcache-mem)
		echo "$(rc_metric ringcache_cache_hit_total "$ap") 0 $(rc_metric ringcache_cache_miss_total "$ap")"
		;;
	varnish)
		varnishstat -n "$TMP/varnish" -1 -f MAIN.cache_hit -f MAIN.cache_miss 2>/dev/null |
			awk '$1 == "MAIN.cache_hit" { h = $2 } $1 == "MAIN.cache_miss" { m = $2 } END { print h + 0, 0, m + 0 }'
		;;
	*) echo "0 0 0" ;;
	esac
}

# ---------------------------------------------------------------- warm-up
# A pass asks for every key once, in order. ringcache writes to disk in the
# background and drops a write its queue cannot take, so after each pass it
# is given time to finish writing; passes repeat (3 at most) until a pass
# sends (almost) nothing to the origin, for every server alike.
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

warm() {
	local s=$1 pass o0 o1 cfg=$TMP/warm-$1.curl
	keys_urls "${PORT[$s]}" "$NKEYS" "$MINSZ" "$MAXSZ" "$PREFIX" >"$cfg"
	for ((pass = 1; pass <= 3; pass++)); do
		o0=$(origin_requests)
		# Each response's Cache-Status: after the first pass, a key that is
		# not a hit is listed in the results (ringcache's, by its header).
		timeout 600 curl -sf -K "$cfg" -w '%{url_effective}\t%header{cache-status}\n' >"$TMP/warm-$s-$pass.status" ||
			die "warm-up of $s failed"
		[[ $s == ringcache ]] && wait_writer
		o1=$(origin_requests)
		local extra=
		if [[ $s == ringcache ]] && ((pass > 1)); then
			grep -v '; hit' "$TMP/warm-$s-$pass.status" >>"$TMP/warm-notahit.txt" || true
			extra=" (disk hits $(rc_metric ringcache_disk_hits_total), disk misses $(rc_metric ringcache_disk_misses_total), cache misses $(rc_metric ringcache_cache_miss_total) so far)"
		elif [[ $s == ringcache-mem ]] && ((pass > 1)); then
			extra=" (cache misses $(rc_metric ringcache_cache_miss_total "${PORT[rcmemadmin]}") so far)"
		fi
		log "warm-up $s pass $pass: $((o1 - o0)) of $NKEYS keys from the origin$extra"
		echo -e "warm\t$s\t$pass\t$((o1 - o0))\t$extra" >>"$TMP/warm.tsv"
		((o1 - o0 <= NKEYS / 100)) && ((pass > 1)) && break
	done
	if [[ $s == ringcache ]]; then
		log "  ringcache disk: objects $(rc_metric ringcache_disk_objects), admit_dropped $(rc_metric ringcache_disk_admit_dropped_total), bytes_used $(rc_metric ringcache_disk_bytes_used)"
	elif [[ $s == ringcache-mem ]]; then
		local ap=${PORT[rcmemadmin]}
		log "  ringcache-mem memory: objects $(rc_metric ringcache_cache_objects "$ap"), bytes $(rc_metric ringcache_cache_bytes "$ap") of $(rc_metric ringcache_cache_budget_bytes "$ap"), evictions $(rc_metric ringcache_cache_evictions_total "$ap")"
	fi
}

# ---------------------------------------------------------------- one run
measure() {
	local round=$1 s=$2 port=${PORT[$2]} pids out rc=0
	wait_drained "$port"
	pids=$(tree_pids "${PID[$s]}")
	local st0 st1 or0 or1 c0 c1 w0 w1 b0 b1 t0 t1
	st0=$(server_stats "$s")
	or0=$(origin_requests)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	w0=$(children_ticks)
	b0=$(sys_busy)
	t0=$(date +%s%N)
	out=$(timeout --foreground -k 5 $((DURATION + 60)) wrk -t 2 -c "$CONNS" -d "${DURATION}s" --timeout 10s \
		--latency -s "$BENCH/wrk/keys.lua" "http://127.0.0.1:$port/" -- "$NKEYS" "$MINSZ" "$MAXSZ" "$PREFIX" 2>&1) || rc=$?
	t1=$(date +%s%N)
	b1=$(sys_busy)
	w1=$(children_ticks)
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	or1=$(origin_requests)
	st1=$(server_stats "$s")
	printf '=== round %s server %s rc %s\n%s\n' "$round" "$s" "$rc" "$out" >>"$TMP/wrk.log"
	local wj req dus p50 p99 errs non2xx rps
	wj=$(sed -n 's/^WRKJSON //p' <<<"$out" | tail -1)
	[[ -n $wj ]] || die "wrk gave no result against $s (rc $rc): $(tail -3 <<<"$out")"
	req=$(jnum requests "$wj")
	dus=$(jnum duration_us "$wj")
	p50=$(jnum lat_p50_us "$wj")
	p99=$(jnum lat_p99_us "$wj")
	errs=$(($(jnum err_connect "$wj") + $(jnum err_read "$wj") + $(jnum err_write "$wj") + $(jnum err_timeout "$wj")))
	non2xx=$(jnum err_status "$wj")
	rps=$((req * 1000000 / (dus > 0 ? dus : 1)))
	local -a a b
	read -ra a <<<"$st0"
	read -ra b <<<"$st1"
	# ringcache's cache_hit_total counts the disk hits too.
	local memhit=$((b[0] - a[0] - b[1] + a[1])) diskhit=$((b[1] - a[1])) miss=$((b[2] - a[2])) orq=$((or1 - or0))
	local srv=$((c1 - c0)) wrkt=$((w1 - w0)) wall_ms=$(((t1 - t0) / 1000000))
	local other=$((b1 - b0 - srv - wrkt))
	((other < 0)) && other=0
	local other_pct=$((other * 100 * 1000 / (CLK_TCK * $(nproc) * (wall_ms > 0 ? wall_ms : 1))))
	local cpu_us
	cpu_us=$(awk -v t="$srv" -v hz="$CLK_TCK" -v r="$req" 'BEGIN { printf "%.1f", (r > 0 ? t * 1e6 / hz / r : 0) }')
	local hitpct
	hitpct=$(awk -v r="$req" -v o="$orq" 'BEGIN { printf "%.2f", (r > 0 ? 100 * (1 - o / r) : 0) }')
	printf '%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t%d\t%s\n' "$round" "$s" "$req" "$rps" "$p50" "$p99" \
		"$errs" "$non2xx" "$orq" "$hitpct" "$memhit" "$diskhit" "$miss" "$cpu_us" "$other_pct" \
		"$(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/runs.tsv"
	log "round $round $s: $rps req/s, p99 $((p99 / 1000)).$(((p99 % 1000) / 100)) ms, origin $orq (hit $hitpct %), server ${cpu_us} µs/req, errors $errs, non-2xx $non2xx, other processes ${other_pct} %"
}

# ---------------------------------------------------------------- main
log "working set: $NKEYS keys of $SIZES KiB, $((WS_BYTES / 1048576)) MiB; ringcache memory ${MEMORY} MiB; stores in $STORE ($FSTYPE), ${STORE_MIB} MiB each"
start_origin
for s in "${SERVERS[@]}"; do
	"${START[$s]}"
	log "$s listening on ${PORT[$s]} (pid ${PID[$s]})"
done
: >"$TMP/warm.tsv"
: >"$TMP/warm-notahit.txt"
for s in "${SERVERS[@]}"; do warm "$s"; done
# A short unmeasured run each: first touches of pools and buffers.
for s in "${SERVERS[@]}"; do
	timeout --foreground -k 5 40 wrk -t 2 -c "$CONNS" -d 2s -s "$BENCH/wrk/keys.lua" "http://127.0.0.1:${PORT[$s]}/" \
		-- "$NKEYS" "$MINSZ" "$MAXSZ" "$PREFIX" >/dev/null 2>&1 || log "warning: warm-up wrk against $s failed"
done
: >"$TMP/runs.tsv"
n=${#SERVERS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < n; i++)); do measure "$r" "${SERVERS[$(((i + r - 1) % n))]}"; done
done

# Store sizes on disk and the servers' memory, after the runs.
declare -A DU=() RSS=()
for s in "${SERVERS[@]}"; do
	case $s in
	ringcache) DU[$s]=$(du -sk --apparent-size "$STORE/ringcache.store" | cut -f1) ;;
	nginx) DU[$s]=$(du -sk "$STORE/nginx" | cut -f1) ;;
	varnish) DU[$s]=$(du -sk "$STORE/varnish.bin" | cut -f1) ;;
	*) DU[$s]="- (no store)" ;;
	esac
	rss=0
	for p in $(tree_pids "${PID[$s]}"); do
		v=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		rss=$((rss + ${v:-0}))
	done
	RSS[$s]=$rss
done
RC_DISK=
if [[ -n ${PID[ringcache]:-} ]]; then
	RC_DISK=$(curl -s --max-time 5 "http://127.0.0.1:${PORT[rcadmin]}/metrics" | grep -E '^ringcache_disk_[a-z_]+ ' || true)
fi
T_END=$(date +%s)

# ---------------------------------------------------------------- results
mkdir -p "$OUT"
{
	printf '# disk.sh %s, %s\n' "$REPO_HEAD" "$(date -u +%FT%TZ)"
	printf 'round\tserver\trequests\treq_s\tp50_us\tp99_us\terrors\tnon_2xx\torigin_requests\thit_pct_origin\tmem_hits\tdisk_hits\tmisses\tserver_cpu_us_per_req\tother_cpu_pct\tload1\n'
	cat "$TMP/runs.tsv"
} >"$OUT/$STEM.tsv"
cp "$TMP/wrk.log" "$OUT/$STEM-wrk.log"
{
	echo "# Disk tier benchmark (bench/disk.sh)"
	echo
	echo "Command: \`$CMDLINE\` ($((T_END - T_START)) s), ringcache $REPO_HEAD (${BUILD_TYPE:-?} build), $(varnishd -V 2>&1 | grep -o 'varnish-[0-9.]*' | head -1), $(nginx -v 2>&1 | cut -d' ' -f3)."
	echo
	machine_desc "$STORE_BASE"
	echo "- server starts tried again after EADDRINUSE (see launch in bench/disklib.sh): $LAUNCH_RETRIES"
	echo "- working set: $NKEYS keys of $SIZES KiB bodies ($AVGKIB KiB on average), $((WS_BYTES / 1048576)) MiB in all;"
	echo "  uniform random keys (bench/wrk/keys.lua), wrk -t 2 -c $CONNS, $ROUNDS round(s) of ${DURATION} s, servers alternated"
	echo "- ringcache: cache.memory ${MEMORY} MiB, cache.disk ${STORE_MIB} MiB (writes O_DIRECT, page_cache: $PAGE_CACHE), 2 loops; nginx: proxy_cache_path on disk,"
	echo "  keys_zone 16 MiB, max_size ${STORE_MIB} MiB, worker_processes auto; Varnish: -s file,${STORE_MIB}m only"
	if [[ -n ${PID[ringcache-mem]:-} ]]; then
		echo "- ringcache-mem (the ceiling): the same ringcache binary, no cache.disk, cache.memory ${CEIL_MIB} MiB (4x the"
		echo "  working set), 2 loops: every request a memory hit, the most ringcache reaches here with this client and workload"
	fi
	echo
	python3 - "$TMP/runs.tsv" "$TMP/warm.tsv" "$SIZES" <<'PY'
import sys, statistics as st
runs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
warm = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
by = {}
for r in runs:
    by.setdefault(r[1], []).append(r)
order = [s for s in ("ringcache", "nginx", "varnish", "ringcache-mem") if s in by]
def med(s, i, f=float):
    return st.median(f(r[i]) for r in by[s])
print("Medians over the rounds:\n")
print("| | " + " | ".join(order) + (" | ringcache / nginx |" if "nginx" in by and "ringcache" in by else " |"))
print("| --- | " + " | ".join("---:" for _ in order) + (" | ---: |" if "nginx" in by and "ringcache" in by else " |"))
rows = [("requests/s", 3, lambda v: f"{v:,.0f}"), ("p50 ms", 4, lambda v: f"{v/1000:.2f}"),
        ("p99 ms", 5, lambda v: f"{v/1000:.2f}"), ("hit rate (1 - origin requests / requests)", 9, lambda v: f"{v:.2f} %"),
        ("server CPU µs/request", 13, lambda v: f"{v:.1f}"), ("errors + non-2xx (sum)", None, None),
        ("CPU time not ours, % of the machine (/proc/stat busy - server - wrk: other processes, kernel threads, softirq)", 14, lambda v: f"{v:.0f}")]
for name, i, fmt in rows:
    if i is None:
        cells = [str(sum(int(r[6]) + int(r[7]) for r in by[s])) for s in order]
        ratio = ""
    else:
        vals = {s: med(s, i) for s in order}
        cells = [fmt(vals[s]) for s in order]
        ratio = ""
        if "nginx" in by and "ringcache" in by and i in (3, 4, 5, 13) and vals["nginx"]:
            ratio = f"{vals['ringcache'] / vals['nginx']:.2f}x"
    print(f"| {name} | " + " | ".join(cells) + (f" | {ratio} |" if "nginx" in by and "ringcache" in by else " |"))
if "ringcache" in by:
    rc = by["ringcache"]
    tot = sum(int(r[2]) for r in rc)
    mh = sum(int(r[10]) for r in rc); dh = sum(int(r[11]) for r in rc); ms = sum(int(r[12]) for r in rc)
    print(f"\nringcache's own counters over the measured runs: {mh:,} memory hits, {dh:,} disk hits"
          f" ({100*dh/max(tot,1):.1f} % of {tot:,} requests), {ms:,} misses.")
if "ringcache-mem" in by:
    cm = by["ringcache-mem"]
    tot = sum(int(r[2]) for r in cm)
    mh = sum(int(r[10]) for r in cm); ms = sum(int(r[12]) for r in cm)
    print(f"ringcache-mem's own counters over the measured runs: {mh:,} memory hits"
          f" ({100*mh/max(tot,1):.1f} % of {tot:,} requests), {ms:,} misses.")
if "varnish" in by:
    vr = by["varnish"]
    print(f"Varnish's MAIN.cache_hit / cache_miss over the runs: {sum(int(r[10]) for r in vr):,} / {sum(int(r[12]) for r in vr):,}.")
if "ringcache" in by and "nginx" in by:
    rr = med("ringcache", 3) / med("nginx", 3)
    pr = med("ringcache", 5) <= med("nginx", 5)
    print(f"\nIssue 18's targets (bodies of {sys.argv[3]} KiB): ringcache at least 1.5x nginx's requests/s: {rr:.2f}x, "
          f"{'met' if rr >= 1.5 else 'NOT met'}; p99 at or below nginx's: {'met' if pr else 'NOT met'}.")
ceil = []
if "ringcache-mem" in by and "ringcache" in by and med("ringcache-mem", 3):
    ceil.append(f"Against ringcache-mem: ringcache (disk tier) reaches {med('ringcache', 3) / med('ringcache-mem', 3):.2f}"
                " of its requests/s")
if "ringcache-mem" in by and "nginx" in by and med("nginx", 3):
    ceil.append(f"the ceiling: with every object in memory ringcache reaches {med('ringcache-mem', 3) / med('nginx', 3):.2f}x"
                " nginx's requests/s here")
if ceil:
    line = "; ".join(ceil) + "."
    print(("" if "ringcache" in by and "nginx" in by else "\n") + line[0].upper() + line[1:])
print("\nWarm-up passes (keys fetched from the origin in each):",
      "; ".join(f"{w[1]} pass {w[2]}: {w[3]}{w[4] if len(w) > 4 else ''}" for w in warm) + ".")
print("\nPer run:\n")
print("| round | server | req/s | p99 ms | origin requests | hit % | CPU µs/req | errors | non-2xx | CPU not ours % | load1 |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in runs:
    print(f"| {r[0]} | {r[1]} | {int(r[3]):,} | {int(r[5])/1000:.2f} | {r[8]} | {r[9]} | {r[13]} | {r[6]} | {r[7]} | {r[14]} | {r[15]} |")
PY
	echo
	echo "Store sizes after the runs (KiB; ringcache's file is preallocated): $(for s in "${SERVERS[@]}"; do printf '%s %s; ' "$s" "${DU[$s]}"; done)"
	echo "Servers' RSS after the runs (KiB, all processes; Varnish's includes the mapped file pages it touched): $(for s in "${SERVERS[@]}"; do printf '%s %s; ' "$s" "${RSS[$s]}"; done)"
	if [[ -n $RC_DISK ]]; then
		echo
		echo "ringcache's disk metrics at the end:"
		echo
		echo '```'
		echo "$RC_DISK"
		echo '```'
	fi
	echo
	if [[ $PAGE_CACHE == false ]]; then
		echo "What \"same memory\" means here: ringcache keeps at most ${MEMORY} MiB of objects in its memory tier and reads the"
		echo "rest from its store with O_DIRECT (page_cache: false), so the page cache does not help it. nginx has no object memory tier: every hit"
	else
		echo "What \"same memory\" means here: ringcache keeps at most ${MEMORY} MiB of objects in its memory tier and reads the"
		echo "rest from its store through the page cache (page_cache: true, its default; its writes are O_DIRECT), as nginx and"
		echo "Varnish read their files. nginx has no object memory tier: every hit"
	fi
	echo "opens and sends a cache file, which, with $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) of RAM, the kernel's page cache holds entirely after the"
	echo "warm-up (no disk reads). Varnish's file storage is an mmap of its file: the page cache holds all of it too."
	if [[ $PAGE_CACHE == false ]]; then
		echo "So nginx and Varnish are measured with the whole working set in RAM, ringcache with 1/4 of it in RAM and the rest"
		echo "read from the device (or the host's cache under the VM's disk)."
	else
		echo "So ringcache, nginx and Varnish all read their disk copies from the page cache here; ringcache's disk hits still"
		echo "cost a read system call and a checksum of the record each (the record buffer read becomes the promoted object's"
		echo "body without a copy; nginx sends the file with sendfile)."
	fi
	echo "A working set larger than RAM would be needed to compare disk reads with disk reads."
	if [[ -n ${PID[ringcache-mem]:-} ]]; then
		echo "ringcache-mem is outside the same-memory comparison: its memory tier holds the whole working set, no hit of"
		echo "its touches a file, and its requests/s is the line ringcache's disk-tier hits are measured against."
	fi
	if [[ -s $TMP/warm-notahit.txt ]]; then
		echo
		echo "ringcache: keys that were not hits in a warm-up pass after the first (URL, Cache-Status; first 20):"
		echo
		echo '```'
		head -20 "$TMP/warm-notahit.txt"
		echo '```'
	fi
	for s in ringcache ringcache-mem; do
		[[ -s $TMP/$s.log ]] || continue
		echo
		echo "$s's log (warnings and errors; first 20 lines):"
		echo
		echo '```'
		head -20 "$TMP/$s.log"
		echo '```'
	done
} >"$OUT/$STEM.md"
log "done in $((T_END - T_START)) s: $OUT/$STEM.md"
