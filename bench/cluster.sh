#!/usr/bin/env bash
# bench/cluster.sh - issue 19's cluster benchmark: three ringcache nodes on
# this machine in front of one build/ringcache-origin, a working set larger
# than one node's cache.memory and smaller than the three together, driven
# by three wrk processes at once (one per node) with Zipf-distributed keys
# (bench/wrk/zipf.lua), in these modes, rounds alternated:
#   cluster      the three nodes as one cluster (cluster: with near_cache)
#   independent  the same three nodes without cluster: (each its own cache)
#   varnish      three Varnish instances in the shard director's self-routing
#                pattern (each has the three as shard backends and passes a
#                request to the key's owner unless it came from a peer)
#   nonear       (not by default) the cluster with near_cache.ttl 0
# Writes bench/results/cluster-latest.{md,tsv}. See bench/README.md
# ("Cluster benchmark").
set -euo pipefail

usage() {
	cat <<'EOF2'
usage: bench/cluster.sh [options]
  --quick            smoke test: memory 8 MiB a node, 1 round of 4 s, short warm-up
  --rounds N         measured rounds with Zipf keys (default 3)
  --duration S       seconds per run (default 12)
  --memory MIB       cache.memory of each node, MiB (default 32); the working set is
                     about 2x that (larger than one node, smaller than the three)
  --zipf S           Zipf exponent (default 0.95)
  --near-ttl S       near_cache.ttl of the cluster, seconds (default 10)
  --conns N          connections of each wrk (default 16; one wrk -t 1 per node)
  --only LIST        modes, comma-separated: cluster,independent,varnish,nonear
                     (default cluster,independent,varnish)
  --no-uniform       skip the extra round with uniform keys
  --build-dir DIR    ringcache and ringcache-origin (default build-rel/, else build/)
  --out DIR          results directory (default bench/results)
  --port-base P      first port tried (default 29300; each role moved up to the next
                     port with no socket on it, up to P+59)
  -h, --help         this text
EOF2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
ROUNDS=3
DURATION=12
MEMORY=32
ZIPF_S=0.95
NEAR_TTL=10
CONNS=16
ONLY=cluster,independent,varnish
UNIFORM=1
BUILD_DIR=
OUT=$BENCH/results
PORT_BASE=29300
QUICK=0
CMDLINE="bench/cluster.sh${*:+ $*}"
rounds_set=0 duration_set=0 memory_set=0
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; rounds_set=1; shift ;;
	--duration) DURATION=$2; duration_set=1; shift ;;
	--memory) MEMORY=$2; memory_set=1; shift ;;
	--zipf) ZIPF_S=$2; shift ;;
	--near-ttl) NEAR_TTL=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--no-uniform) UNIFORM=0 ;;
	--build-dir) BUILD_DIR=$2; shift ;;
	--out) OUT=$2; shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "cluster.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if ((QUICK)); then
	((rounds_set)) || ROUNDS=1
	((duration_set)) || DURATION=4
	((memory_set)) || MEMORY=8
fi
for v in ROUNDS DURATION MEMORY CONNS PORT_BASE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "cluster.sh: bad value for ${v,,}" >&2; exit 2; }
done
[[ $NEAR_TTL =~ ^[0-9]+$ ]] || { echo "cluster.sh: bad --near-ttl" >&2; exit 2; }
[[ $ZIPF_S =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "cluster.sh: bad --zipf" >&2; exit 2; }
if [[ -z $BUILD_DIR ]]; then
	BUILD_DIR=$ROOT/build-rel
	[[ -x $BUILD_DIR/ringcache ]] || BUILD_DIR=$ROOT/build
fi
MODES=()
for m in cluster independent varnish nonear; do [[ ,$ONLY, == *,$m,* ]] && MODES+=("$m"); done
((${#MODES[@]})) || { echo "cluster.sh: --only names no mode" >&2; exit 2; }

# Ports: the origin, then for each mode its three nodes (and for ringcache
# their admin ports). Roles are "MODE-K" and "MODE-K-admin", K = 1..3.
declare -A PORT=([origin]=$PORT_BASE)
declare -A PID=()
ROLES=(origin)
p=$((PORT_BASE + 1))
for m in cluster independent varnish nonear; do
	for k in 1 2 3; do
		PORT[$m-$k]=$p; ROLES+=("$m-$k"); p=$((p + 1))
		if [[ $m != varnish ]]; then PORT[$m-$k-admin]=$p; ROLES+=("$m-$k-admin"); p=$((p + 1)); fi
	done
done
# shellcheck source=bench/disklib.sh
. "$BENCH/disklib.sh"

# Working set: bodies of 4-32 KiB (18 KiB on average), about 2x a node's
# cache.memory.
MINSZ=4096
MAXSZ=32768
NKEYS=$((MEMORY * 2 * 1024 / 18))
WS_BYTES=$(keys_bytes "$NKEYS" "$MINSZ" "$MAXSZ")
NPROBE=200
TOKEN=cbench-token-0123456789abcdef
# Every request carries this Host, whichever node it goes to, as behind a
# load balancer: the cache key has the Host in it, and a key asked with a
# node's own address as Host would be three keys.
VHOST=cbench.example
RUNID=$$

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

for c in wrk curl python3 ss; do
	command -v "$c" >/dev/null || die "$c is missing"
done
if [[ ,$ONLY, == *,varnish,* ]]; then
	{ command -v varnishd && command -v varnishstat; } >/dev/null || die "varnishd is missing (apt-get install varnish) or leave it out with --only"
	((EUID == 0)) || die "run as root for varnish (varnishd's user switch), or leave it out with --only"
fi
[[ -x $BUILD_DIR/ringcache && -x $BUILD_DIR/ringcache-origin ]] || die "no ringcache build in $BUILD_DIR"
PORT_MAX=$((PORT_BASE + 59))
pick_ports "${ROLES[@]}"

TMP=$(mktemp -d /tmp/ringbench-cluster.XXXXXX)
chmod 755 "$TMP"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$TMP/"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
CLK_TCK=$(getconf CLK_TCK)
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
[[ $BUILD_TYPE == Release ]] || log "warning: $BUILD_DIR is a ${BUILD_TYPE:-unknown} build, not Release"
REPO_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
CONF=$TMP/configs
mkdir -p "$CONF"

# ---------------------------------------------------------------- servers
start_origin() {
	launch origin "${PORT[origin]}" "$TMP/origin.log" "$TMP/ringcache-origin" -l "127.0.0.1:${PORT[origin]}" -t 1
}

# start_rc MODE K: ringcache node K of MODE. One loop thread each: three
# nodes, three wrk clients and the origin share 2 vCPUs, so a second loop
# per node would only add contention and cross-loop handoffs; with one loop
# a node's cache, coalescing and forwards stay on one thread.
start_rc() {
	local m=$1 k=$2 f=$CONF/$1-$2.yaml
	cat >"$f" <<EOF2
listen: ["127.0.0.1:${PORT[$m-$k]}"]
threads: 1
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: ${MEMORY}MiB
admin:
  listen: "127.0.0.1:${PORT[$m-$k-admin]}"
limits:
  max_connections: 100000
log:
  level: warn
compression:
  enabled: false
EOF2
	if [[ $m != independent ]]; then
		local ttl=$NEAR_TTL
		[[ $m == nonear ]] && ttl=0
		cat >>"$f" <<EOF2
cluster:
  self: "127.0.0.1:${PORT[$m-$k]}"
  peers: ["127.0.0.1:${PORT[$m-1]}", "127.0.0.1:${PORT[$m-2]}", "127.0.0.1:${PORT[$m-3]}"]
  token: "$TOKEN"
  near_cache:
    ttl: ${ttl}s
EOF2
	fi
	launch "$m-$k" "${PORT[$m-$k]}" "$TMP/$m-$k.log" "$TMP/ringcache" -c "$f"
}

# start_varnish K: Varnish K of the self-routing cluster. Each has the three
# Varnishes as shard backends (directors.shard, by URL, the same ring on
# each); a client request whose owner is another one is passed to it
# (return (pass): the forwarder keeps no copy, as in Varnish's own
# self-routing example), marked with X-Shard-Hop; a request with the mark,
# or one this instance owns, is looked up here and fetched from the origin.
start_varnish() {
	local k=$1 j vcl=$CONF/varnish-$1.vcl
	{
		echo 'vcl 4.1;'
		echo 'import directors;'
		echo "backend origin { .host = \"127.0.0.1\"; .port = \"${PORT[origin]}\"; }"
		for j in 1 2 3; do echo "backend v$j { .host = \"127.0.0.1\"; .port = \"${PORT[varnish-$j]}\"; }"; done
		cat <<EOF2
sub vcl_init {
    new ring = directors.shard();
    ring.add_backend(v1);
    ring.add_backend(v2);
    ring.add_backend(v3);
    ring.reconfigure();
}
sub vcl_recv {
    if (req.http.X-Shard-Hop == "$TOKEN") {
        set req.backend_hint = origin;
        return (hash);
    }
    unset req.http.X-Shard-Hop;
    set req.backend_hint = ring.backend(by=URL);
    if (req.backend_hint == v$k) {
        set req.backend_hint = origin;
        return (hash);
    }
    return (pass);
}
sub vcl_backend_fetch {
    if (bereq.backend != origin) {
        set bereq.http.X-Shard-Hop = "$TOKEN";
    }
}
EOF2
	} >"$vcl"
	local -a args=(-F -n "$TMP/varnish-$k" -a "127.0.0.1:${PORT[varnish-$k]}" -f "$vcl"
		-s "malloc,${MEMORY}m" -T none -p timeout_idle=300 -p listen_depth=4096)
	echo "varnishd ${args[*]}" >"$CONF/varnishd-$k.cmd"
	launch "varnish-$k" "${PORT[varnish-$k]}" "$TMP/varnish-$k.log" varnishd "${args[@]}"
}

start_mode() {
	local m=$1 k
	for k in 1 2 3; do
		if [[ $m == varnish ]]; then start_varnish "$k"; else start_rc "$m" "$k"; fi
	done
	if [[ $m == cluster || $m == nonear ]]; then
		local i up
		for ((i = 0; i < 100; i++)); do
			up=0
			for k in 1 2 3; do
				(($(rc_metric ringcache_cluster_members_up "${PORT[$m-$k-admin]}") == 3)) && up=$((up + 1))
			done
			((up == 3)) && break
			sleep 0.1
		done
		((up == 3)) || log "warning: $m: not every node sees the three members up after 10 s"
	fi
	log "$m: nodes on ${PORT[$m-1]} ${PORT[$m-2]} ${PORT[$m-3]} (pids ${PID[$m-1]} ${PID[$m-2]} ${PID[$m-3]})"
}

# node_stats MODE K: "REQUESTS HITS MISSES FORWARDED NEAR_HITS HOPS_SERVED" of
# one node from its own counters. Varnish: MAIN.client_req, cache_hit,
# cache_miss, s_pass (the passes to the owner), 0, and the requests with
# the hop mark are not counted apart (0).
node_stats() {
	local m=$1 k=$2
	if [[ $m == varnish ]]; then
		varnishstat -n "$TMP/varnish-$k" -1 -f MAIN.client_req -f MAIN.cache_hit -f MAIN.cache_miss -f MAIN.s_pass 2>/dev/null |
			awk '{ v[$1] = $2 } END { print v["MAIN.client_req"] + 0, v["MAIN.cache_hit"] + 0, v["MAIN.cache_miss"] + 0, v["MAIN.s_pass"] + 0, 0, 0 }'
	else
		curl -s --max-time 5 "http://127.0.0.1:${PORT[$m-$k-admin]}/metrics" | awk '
			{ v[$1] = $2 }
			END { print v["ringcache_requests_total"] + 0, v["ringcache_cache_hit_total"] + 0, v["ringcache_cache_miss_total"] + 0,
				v["ringcache_cluster_forwarded_total"] + 0, v["ringcache_cluster_near_hits_total"] + 0,
				v["ringcache_cluster_hops_served_total"] + 0 }'
	fi
}

# mode_stats MODE: the six counters summed over the three nodes.
mode_stats() {
	local k
	for k in 1 2 3; do node_stats "$1" "$k"; done |
		awk '{ for (i = 1; i <= 6; i++) s[i] += $i } END { print s[1] + 0, s[2] + 0, s[3] + 0, s[4] + 0, s[5] + 0, s[6] + 0 }'
}

mode_pids() {
	local k
	for k in 1 2 3; do tree_pids "${PID[$1-$k]}"; done | tr '\n' ' '
}

# ---------------------------------------------------------------- warm-up
# warm MODE: every key asked once on each of the three nodes (key 1 on nodes
# 1, 2, 3, then key 2, ...): the cluster fetches each key once, the
# independent nodes three times. Then NPROBE fresh keys the same way, and
# the origin's count of each (/__stats?key=): origin requests per key.
declare -A WARM_ORQ=() PROBE=()
warm() {
	local m=$1 cfg=$TMP/warm-$1.curl o0 o1 k
	for k in 1 2 3; do keys_urls "${PORT[$m-$k]}" "$NKEYS" "$MINSZ" "$MAXSZ" "$m$RUNID" >"$cfg.$k"; done
	# Interleave: the two lines (url, output) of key i for node 1, 2, 3.
	awk '{ a[FILENAME, FNR] = $0; n = FNR } END {
		for (i = 1; i <= n; i += 2) for (f = 1; f <= 3; f++) { print a[ARGV[f], i]; print a[ARGV[f], i + 1] } }' \
		"$cfg.1" "$cfg.2" "$cfg.3" >"$cfg"
	o0=$(origin_requests)
	timeout 900 curl -sf -H "Host: $VHOST" -K "$cfg" -w '%{http_code}\n' >"$TMP/warm-$m.codes" || die "warm-up of $m failed"
	o1=$(origin_requests)
	WARM_ORQ[$m]=$((o1 - o0))
	local bad
	bad=$(grep -vc '^200$' "$TMP/warm-$m.codes" || true)
	log "warm-up $m: $((3 * NKEYS)) requests ($NKEYS keys x 3 nodes), $((o1 - o0)) from the origin ($(awk -v o=$((o1 - o0)) -v n="$NKEYS" 'BEGIN { printf "%.3f", o / n }') per key), non-200: $bad"
	# The probe: fresh keys, each asked on node 1, 2 and 3 in turn.
	local pcfg=$TMP/probe-$m.curl i
	: >"$pcfg"
	for ((i = 1; i <= NPROBE; i++)); do
		for k in 1 2 3; do
			printf 'url = "http://127.0.0.1:%s/d/p%s%s-%d?size=8192&cc=max-age%%3D86400"\noutput = /dev/null\n' "${PORT[$m-$k]}" "$m" "$RUNID" "$i" >>"$pcfg"
		done
	done
	curl -sf -H "Host: $VHOST" -K "$pcfg" || die "probe of $m failed"
	: >"$pcfg.stats"
	for ((i = 1; i <= NPROBE; i++)); do
		printf 'url = "http://127.0.0.1:%s/__stats?key=/d/p%s%s-%d?size=8192&cc=max-age%%3D86400"\n' "${PORT[origin]}" "$m" "$RUNID" "$i" >>"$pcfg.stats"
	done
	curl -sf -K "$pcfg.stats" -w '\n' | tr -dc '0-9\n' >"$TMP/probe-$m.counts" || die "probe stats of $m failed"
	PROBE[$m]=$(awk '$1 != "" { s += $1; n++; c[$1]++ } END {
		printf "%.3f (%d keys: ", s / (n ? n : 1), n; sep = ""
		for (v in c) { printf "%s%d x %s", sep, c[v], v; sep = ", " } printf ")" }' "$TMP/probe-$m.counts")
	log "probe $m: origin requests per key ${PROBE[$m]}"
	# A short unmeasured run: near copies, pools and buffers as in the runs.
	run "$m" warm "$ZIPF_S" $((DURATION < 5 ? DURATION : 5)) 0 >/dev/null
}

# ---------------------------------------------------------------- one run
# run MODE ROUND S DURATION SEED: three wrk at once, one per node; prints
# the TSV row (also appended to runs.tsv unless ROUND is "warm").
run() {
	local m=$1 round=$2 s=$3 dur=$4 seed=$5 k pids
	# (Not wait_drained: the members' pooled connections to each other
	# stay open on the same ports; wrk has exited and closed its own.)
	sleep 1
	pids=$(mode_pids "$m")
	local st0 st1 or0 or1 c0 c1 t0 t1
	st0=$(mode_stats "$m")
	or0=$(origin_requests)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	t0=$(date +%s%N)
	local -a wp=()
	for k in 1 2 3; do
		timeout --foreground -k 5 $((dur + 60)) wrk -t 1 -c "$CONNS" -d "${dur}s" --timeout 10s --latency \
			-H "Host: $VHOST" -s "$BENCH/wrk/zipf.lua" "http://127.0.0.1:${PORT[$m-$k]}/" \
			-- "$NKEYS" "$MINSZ" "$MAXSZ" "$m$RUNID" "$s" $((seed * 10 + k)) >"$TMP/wrk-$k.out" 2>&1 &
		wp+=($!)
	done
	local rc=0 r
	for k in 0 1 2; do
		r=0
		wait "${wp[$k]}" || r=$?
		((r)) && rc=$r
	done
	t1=$(date +%s%N)
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	or1=$(origin_requests)
	st1=$(mode_stats "$m")
	local req=0 rps=0 p99=0 errs=0 non2xx=0 wj dus q
	for k in 1 2 3; do
		printf '=== mode %s round %s s %s node %s rc %s\n' "$m" "$round" "$s" "$k" "$rc" >>"$TMP/wrk.log"
		cat "$TMP/wrk-$k.out" >>"$TMP/wrk.log"
		wj=$(sed -n 's/^WRKJSON //p' "$TMP/wrk-$k.out" | tail -1)
		[[ -n $wj ]] || die "wrk gave no result against $m node $k (rc $rc): $(tail -3 "$TMP/wrk-$k.out")"
		q=$(jnum requests "$wj")
		dus=$(jnum duration_us "$wj")
		req=$((req + q))
		rps=$((rps + q * 1000000 / (dus > 0 ? dus : 1)))
		(($(jnum lat_p99_us "$wj") > p99)) && p99=$(jnum lat_p99_us "$wj")
		errs=$((errs + $(jnum err_connect "$wj") + $(jnum err_read "$wj") + $(jnum err_write "$wj") + $(jnum err_timeout "$wj")))
		non2xx=$((non2xx + $(jnum err_status "$wj")))
	done
	local -a a b
	read -ra a <<<"$st0"
	read -ra b <<<"$st1"
	local orq=$((or1 - or0)) fwd=$((b[3] - a[3])) near=$((b[4] - a[4])) hops=$((b[5] - a[5]))
	local srv=$((c1 - c0)) wall_ms=$(((t1 - t0) / 1000000))
	local row
	row=$(awk -v m="$m" -v round="$round" -v s="$s" -v req="$req" -v rps="$rps" -v p99="$p99" -v errs="$errs" \
		-v non2xx="$non2xx" -v orq="$orq" -v nkeys="$NKEYS" -v fwd="$fwd" -v near="$near" -v hops="$hops" \
		-v srv="$srv" -v hz="$CLK_TCK" -v wall="$wall_ms" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
		r = (req > 0 ? req : 1)
		printf "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.4f\t%.2f\t%d\t%.2f\t%d\t%.2f\t%d\t%.1f\t%.0f\t%s\n",
			round, m, s, req, rps, p99, errs, non2xx, orq, orq / nkeys, 100 * (1 - orq / r),
			fwd, 100 * fwd / r, near, 100 * near / r, hops, srv * 1e6 / hz / r, 100000 * srv / hz / (wall > 0 ? wall : 1), load }')
	[[ $round == warm ]] || echo "$row" >>"$TMP/runs.tsv"
	local -a f
	IFS=$'\t' read -ra f <<<"$row"
	log "$m round $round (s=$s): ${f[4]} req/s, p99 $(awk -v p="$p99" 'BEGIN { printf "%.1f", p / 1000 }') ms, origin $orq (${f[9]} per key, hit ${f[10]} %), forwarded ${f[12]} %, near hits ${f[14]} %, server ${f[16]} µs/req, errors $errs, non-2xx $non2xx"
	echo "$row"
}

# ---------------------------------------------------------------- main
log "working set: $NKEYS keys of 4-32 KiB, $((WS_BYTES / 1048576)) MiB; cache.memory ${MEMORY} MiB per node (x3: $((MEMORY * 3)) MiB); modes ${MODES[*]}"
start_origin
for m in "${MODES[@]}"; do start_mode "$m"; done
: >"$TMP/runs.tsv"
: >"$TMP/wrk.log"
for m in "${MODES[@]}"; do warm "$m"; done
n=${#MODES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < n; i++)); do run "${MODES[$(((i + r - 1) % n))]}" "$r" "$ZIPF_S" "$DURATION" "$r" >/dev/null; done
done
if ((UNIFORM)); then
	for m in "${MODES[@]}"; do run "$m" uniform 0 "$DURATION" 99 >/dev/null; done
fi
declare -A RSS=() EVICT=()
for m in "${MODES[@]}"; do
	rss=0
	for p in $(mode_pids "$m"); do
		v=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		rss=$((rss + ${v:-0}))
	done
	RSS[$m]=$rss
	EVICT[$m]=-
	if [[ $m != varnish ]]; then
		EVICT[$m]=$(for k in 1 2 3; do curl -s --max-time 5 "http://127.0.0.1:${PORT[$m-$k-admin]}/metrics"; done |
			awk '$1 == "ringcache_cache_evictions_total" { e += $2 } $1 == "ringcache_cache_objects" { o += $2 }
				END { printf "%d evictions, %d objects at the end", e, o }')
	fi
done
T_END=$(date +%s)
{
	for m in "${MODES[@]}"; do
		printf '%s\t%s\t%s\t%s\t%s\n' "$m" "${WARM_ORQ[$m]}" "${PROBE[$m]}" "${RSS[$m]}" "${EVICT[$m]}"
	done
} >"$TMP/modes.tsv"
LOGS=
for m in "${MODES[@]}"; do
	[[ $m == varnish ]] && continue
	for k in 1 2 3; do
		if [[ -s $TMP/$m-$k.log ]]; then LOGS+="$m-$k: $(head -5 "$TMP/$m-$k.log")"$'\n'; fi
	done
done

# ---------------------------------------------------------------- results
mkdir -p "$OUT"
{
	printf '# cluster.sh %s, %s, nkeys %s, memory_mib %s, zipf %s, near_ttl %s\n' "$REPO_HEAD" "$(date -u +%FT%TZ)" "$NKEYS" "$MEMORY" "$ZIPF_S" "$NEAR_TTL"
	printf 'round\tmode\tzipf_s\trequests\treq_s\tp99_us\terrors\tnon_2xx\torigin_requests\torigin_per_key\thit_pct_origin\tforwarded\tforwarded_pct\tnear_hits\tnear_hits_pct\thops_served\tserver_cpu_us_per_req\tserver_cpu_pct_of_one\tload1\n'
	cat "$TMP/runs.tsv"
} >"$OUT/cluster-latest.tsv"
{
	echo "# Cluster benchmark (bench/cluster.sh)"
	echo
	echo "Command: \`$CMDLINE\` ($((T_END - T_START)) s), ringcache $REPO_HEAD (${BUILD_TYPE:-?} build)$([[ ,$ONLY, == *,varnish,* ]] && echo ", $(varnishd -V 2>&1 | grep -o 'varnish-[0-9.]*' | head -1)")."
	echo
	LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
	printf -- '- machine: %s vCPUs (%s), %s RAM, kernel %s; everything on it, over loopback\n' "$(nproc)" \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
	printf -- '- load average at the start: %s; at the end: %s\n' "$LOAD_START" "$LOAD_END"
	if awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l >= 1.0) }'; then
		echo "- **measured on a busy machine**: the load average above 1 at the start says other work shared the 2 vCPUs"
	fi
	echo "- server starts tried again after EADDRINUSE (launch in bench/disklib.sh): $LAUNCH_RETRIES"
	echo "- working set: $NKEYS keys, bodies of 4-32 KiB (18 KiB on average), $((WS_BYTES / 1048576)) MiB in all; each node"
	echo "  cache.memory ${MEMORY} MiB (three: $((MEMORY * 3)) MiB): larger than one node, smaller than the three"
	echo "- load: three wrk at once, one per node, each \`-t 1 -c $CONNS\`, keys from bench/wrk/zipf.lua (Zipf s = $ZIPF_S,"
	echo "  fixed seed per node and round); $ROUNDS round(s) of ${DURATION} s, modes alternated$( ((UNIFORM)) && echo ", then one run each with uniform keys (s = 0)")"
	echo "- one ringcache-origin (\`-t 1\`); ringcache nodes: \`threads: 1\` each (3 nodes + 3 wrk + the origin on 2 vCPUs:"
	echo "  a second loop per node would only add contention), compression off; cluster: \`peers\` the three, near_cache.ttl ${NEAR_TTL}s;"
	echo "  independent: the same without \`cluster:\`; varnish: \`-s malloc,${MEMORY}m\`, the shard director's self-routing"
	echo "  pattern (each Varnish has the three as shard backends, by URL; a client request owned by another one is"
	echo "  \`return (pass)\`ed to it with a hop header, a request with the header or owned here is looked up and fetched"
	echo "  from the origin; the VCL is written by start_varnish in bench/cluster.sh)"
	echo "- warm-up per mode: every key asked once on node 1, 2 and 3 in turn (curl), then $NPROBE fresh keys the same way"
	echo "  (the probe: the origin's count of each key, /__stats?key=), then an unmeasured run of 5 s (or --duration if shorter)"
	echo
	python3 - "$TMP/runs.tsv" "$TMP/modes.tsv" "$NKEYS" <<'PY'
import sys, statistics as st
runs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
modes = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
nkeys = int(sys.argv[3])
order = [m[0] for m in modes]
minfo = {m[0]: m for m in modes}
def group(dist):
    by = {}
    for r in runs:
        if (r[0] == "uniform") == (dist == "uniform"):
            by.setdefault(r[1], []).append(r)
    return by
def med(rs, i):
    return st.median(float(r[i]) for r in rs)
names = {"cluster": "cluster", "independent": "independent", "varnish": "varnish shard", "nonear": "cluster, no near cache"}
for dist, title in (("zipf", "Zipf keys, medians over the rounds"), ("uniform", "Uniform keys (one run each)")):
    by = group(dist)
    cols = [m for m in order if m in by]
    if not cols:
        continue
    print(f"{title}:\n")
    print("| | " + " | ".join(names[m] for m in cols) + " |")
    print("| --- | " + " | ".join("---:" for _ in cols) + " |")
    rows = [("requests/s (sum of the 3 wrk)", 4, lambda v: f"{v:,.0f}"),
            ("p99 ms (max of the 3)", 5, lambda v: f"{v/1000:.2f}"),
            ("origin requests in the run", 8, lambda v: f"{v:,.0f}"),
            ("origin requests in the run per key of the set", 9, lambda v: f"{v:.3f}"),
            ("hit rate (1 - origin requests / requests)", 10, lambda v: f"{v:.2f} %"),
            ("forwarded to the owner (% of requests)", 12, lambda v: f"{v:.1f} %"),
            ("near-cache hits (% of requests)", 14, lambda v: f"{v:.1f} %"),
            ("server CPU µs/request (3 nodes)", 16, lambda v: f"{v:.1f}")]
    for name, i, fmt in rows:
        print(f"| {name} | " + " | ".join(fmt(med(by[m], i)) for m in cols) + " |")
    print("| errors + non-2xx (sum) | " + " | ".join(str(sum(int(r[6]) + int(r[7]) for r in by[m])) for m in cols) + " |")
    print()
print("Origin requests per key when every key is asked on all three nodes:\n")
print("| | " + " | ".join(names[m] for m in order) + " |")
print("| --- | " + " | ".join("---:" for _ in order) + " |")
print("| warm-up pass (all keys, each on node 1, 2, 3) | " + " | ".join(f"{int(minfo[m][1]) / nkeys:.3f}" for m in order) + " |")
print("| probe (200 fresh keys, each on node 1, 2, 3) | " + " | ".join(minfo[m][2] for m in order) + " |")
tot = {}
for m in order:
    w = int(minfo[m][1]) + sum(int(r[8]) for r in runs if r[1] == m)
    tot[m] = w / nkeys
print("| warm-up pass + all measured runs, per key of the set | " + " | ".join(f"{tot[m]:.3f}" for m in order) + " |")
print()
zb = group("zipf")
if "cluster" in order:
    pk = float(minfo["cluster"][2].split()[0])
    wk = int(minfo["cluster"][1]) / nkeys
    ok1 = pk <= 1.0 and wk <= 1.005
    print("Issue 19's targets:\n")
    print(f"* origin requests per key 1.0 with the cluster, each key asked on all three nodes (probe {pk:.3f},"
          f" warm-up pass {wk:.3f}): **{'met' if ok1 else 'NOT met'}**", end="")
    if "independent" in order:
        print(f" (independent nodes: probe {float(minfo['independent'][2].split()[0]):.3f}, warm-up {int(minfo['independent'][1]) / nkeys:.3f})", end="")
    print(";")
    print(f"* the same under load, over the warm-up pass and all measured runs (per key of the set): {tot['cluster']:.3f}:"
          f" **{'met' if tot['cluster'] <= 1.05 else 'NOT met'}**"
          + "".join(f"; {names[m]} {tot[m]:.3f}" for m in order if m != "cluster") + ";")
    if "cluster" in zb:
        f = med(zb["cluster"], 12)
        print(f"* fewer than 35 % of requests forwarded with the near cache (Zipf, median {f:.1f} %): **{'met' if f < 35 else 'NOT met'}**", end="")
        if "varnish" in zb:
            print(f" (Varnish self-routing: {med(zb['varnish'], 12):.1f} % passed to the owner", end="")
            if "nonear" in zb:
                print(f"; the cluster without near cache: {med(zb['nonear'], 12):.1f} %", end="")
            print(")", end="")
        print(".")
    if tot["cluster"] > 1.05:
        print(f"\nUnder load the cluster with the near cache went back to the origin ({tot['cluster']:.2f} requests per key"
              " over the runs" + (f"; without the near cache {tot['nonear']:.2f}" if "nonear" in tot else "") + ")."
              " Near copies are counted in cache.memory like any object (README, \"Cluster\"): a node holds its own third"
              " of the set (about 2/3 of its memory here) and near copies of the other members' keys asked more than once,"
              " which with this working set is most of them, so it evicts, owned objects included, and an owner that"
              " evicted a key fetches it again. The nodes' eviction counters at the end: "
              + "; ".join(f"{names[m]} {minfo[m][4]}" for m in order if m != "varnish") + ".")
print("\nServers' RSS after the runs (KiB, the three nodes): " + "; ".join(f"{names[m]} {int(minfo[m][3]):,}" for m in order) + ".")
print("\nPer run:\n")
print("| round | mode | s | req/s | p99 ms | origin req | per key | hit % | forwarded % | near hits % | hops served | CPU µs/req | errors | non-2xx | load1 |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in runs:
    print(f"| {r[0]} | {names[r[1]]} | {r[2]} | {int(r[4]):,} | {int(r[5])/1000:.2f} | {int(r[8]):,} | {r[9]} | {r[10]} | {r[12]} | {r[14]} | {int(r[15]):,} | {r[16]} | {r[6]} | {r[7]} | {r[18]} |")
PY
	echo
	echo "Columns: forwarded = ringcache_cluster_forwarded_total (misses sent to the key's owner) or Varnish's MAIN.s_pass"
	echo "(client requests passed to their owner), summed over the three nodes, over the three wrk's requests; near hits ="
	echo "ringcache_cluster_near_hits_total; hops served = requests answered as owner for a member; server CPU = utime + stime"
	echo "of the three nodes (all their processes) per request; origin requests from the origin's /__stats counter."
	echo "Caveats: everything on one 2-vCPU machine over loopback: the nodes, wrk and the origin share the CPUs, a hop costs"
	echo "a loopback round trip (no network), and req/s says what three nodes do on two CPUs, not what three machines do."
	if [[ -n $LOGS ]]; then
		echo
		echo "ringcache nodes' logs (warnings and errors; first lines of each):"
		echo
		echo '```'
		printf '%s' "$LOGS"
		echo '```'
	fi
} >"$OUT/cluster-latest.md"
log "done in $((T_END - T_START)) s: $OUT/cluster-latest.md"
