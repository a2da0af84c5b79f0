#!/usr/bin/env bash
# bench/compare.sh - side-by-side HTTP benchmark: ringcache, Varnish and nginx
# (proxy_cache) in front of the same origin (build/ringcache-origin), driven
# by wrk with identical parameters, alternating between the servers over
# several rounds. Writes bench/results/latest.{json,tsv,md} and two SVG plots.
# See bench/README.md ("Side-by-side HTTP benchmark") for what is measured.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/compare.sh [options]
  --quick            smoke test: 1 round of 3 s runs, 2,000 idle connections
  --rounds N         rounds of the whole test list (default 3)
  --duration S       seconds per wrk run (default 8)
  --only LIST        servers to run, comma-separated: ringcache,varnish,nginx,
                     noop (the do-nothing responder, bench-noop: 1k tests only),
                     rcepoll (ringcache on its epoll backend, io.backend: epoll)
                     (default: ringcache,varnish,nginx,noop)
  --idle-conns LIST  idle keep-alive connections for the memory test, one count or
                     several comma-separated, each on freshly started servers
                     (default 10000; 0 skips that test)
  --tests LIST       only these tests, comma-separated, of: 1k@10 1k@100 1k@1000
                     1k@5000 1k@10000 64k@100 64k@1000 1m@50 mix@100 miss@100
                     (default: all)
  --build-dir DIR    where ringcache, ringcache-origin and bench-noop are (default
                     build/); built (Release) if one is missing
  --out DIR          results directory (default bench/results)
  --port-base P      ports P (origin), P+1 (varnish), P+2 (nginx), P+3 (ringcache),
                     P+4 (rcepoll), P+5 (noop)
                     (default 28100)
  --no-install       do not apt-get install missing packages
  -h, --help         this text
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
ROUNDS=3
DURATION=8
QUICK=0
ONLY=ringcache,varnish,nginx,noop
IDLE_CONNS=10000
BUILD_DIR=$ROOT/build
OUT=$BENCH/results
PORT_BASE=28100
INSTALL=1
WARMUP=3
SWEEP=(10 100 1000 5000 10000)
ONLY_TESTS=
CMDLINE="bench/compare.sh${*:+ $*}"
rounds_set=0
duration_set=0
idle_set=0

while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; rounds_set=1; shift ;;
	--duration) DURATION=$2; duration_set=1; shift ;;
	--only) ONLY=$2; shift ;;
	--idle-conns) IDLE_CONNS=$2; idle_set=1; shift ;;
	--tests) ONLY_TESTS=$2; shift ;;
	--build-dir) BUILD_DIR=$(cd "$2" 2>/dev/null && pwd || echo "$2"); shift ;;
	--out) OUT=$2; shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	--no-install) INSTALL=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if ((QUICK)); then
	((rounds_set)) || ROUNDS=1
	((duration_set)) || DURATION=3
	((idle_set)) || IDLE_CONNS=2000
	WARMUP=1
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: bad --rounds" >&2; exit 2; }
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: bad --duration" >&2; exit 2; }
[[ $IDLE_CONNS =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "compare.sh: bad --idle-conns" >&2; exit 2; }
IDLE_LIST=()
for c in ${IDLE_CONNS//,/ }; do ((c > 0)) && IDLE_LIST+=("$c"); done
SERVERS=()
for s in varnish nginx ringcache rcepoll noop; do
	[[ ,$ONLY, == *,$s,* ]] && SERVERS+=("$s")
done
for s in ${ONLY//,/ }; do
	case $s in ringcache | varnish | nginx | rcepoll | noop) ;; *) echo "compare.sh: unknown server '$s'" >&2; exit 2 ;; esac
done
((${#SERVERS[@]})) || { echo "compare.sh: --only names no server" >&2; exit 2; }

declare -A PORT=([origin]=$PORT_BASE [varnish]=$((PORT_BASE + 1)) [nginx]=$((PORT_BASE + 2)) [ringcache]=$((PORT_BASE + 3)) [rcepoll]=$((PORT_BASE + 4)) [noop]=$((PORT_BASE + 5)))
declare -A PID=()

# shellcheck source=bench/common.sh
. "$BENCH/common.sh"

TESTS=()
for c in "${SWEEP[@]}"; do TESTS+=("1k@$c"); done
TESTS+=("64k@100" "64k@1000" "1m@50" "mix@100" "miss@100")
if [[ -n $ONLY_TESTS ]]; then
	sel=()
	for t in ${ONLY_TESTS//,/ }; do
		[[ " ${TESTS[*]} " == *" $t "* ]] || die "unknown test '$t' (known: ${TESTS[*]})"
		sel+=("$t")
	done
	TESTS=("${sel[@]}")
fi

# ---------------------------------------------------------------- packages
install_missing() {
	local want=() p
	dpkg-query -W -f='${Status}' varnish 2>/dev/null | grep -q 'ok installed' || want+=(varnish)
	command -v nginx >/dev/null || want+=(nginx-light)
	command -v wrk >/dev/null || want+=(wrk)
	command -v gnuplot >/dev/null || want+=(gnuplot-nox)
	command -v python3 >/dev/null || want+=(python3)
	command -v curl >/dev/null || want+=(curl)
	command -v ss >/dev/null || want+=(iproute2)
	((${#want[@]})) || return 0
	((INSTALL)) || die "missing packages: ${want[*]} (and --no-install given)"
	log "installing ${want[*]}"
	# Keep the packages' own services (nginx on :80, varnish on :6081) from
	# starting: everything here is started by this script, on its own ports.
	local made_policy=0
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >"$TMP/apt.log" 2>&1 ||
		{ apt-get update -q >>"$TMP/apt.log" 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >>"$TMP/apt.log" 2>&1; } || rc=$?
	((made_policy)) && rm -f /usr/sbin/policy-rc.d
	((rc == 0)) || { tail -20 "$TMP/apt.log" >&2; die "apt-get install failed"; }
	for p in nginx varnishd; do
		# In case a service was started anyway (no policy-rc.d honoured).
		pgrep -x "$p" >/dev/null && log "note: a system $p is running (not started by this script)"
	done
	return 0
}

# ---------------------------------------------------------------- cleanup
TMP=
WRK_LOG=
cleanup() {
	local rc=$? name pid i
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do
		pid=${PID[$name]}
		kill -TERM "$pid" 2>/dev/null || true
	done
	for name in "${!PID[@]}"; do
		pid=${PID[$name]}
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "$name ($pid) did not stop in 10 s; killing it and its children"
			pkill -KILL -P "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if ((rc != 0)) && [[ -s ${RESULTS:-} ]]; then
		# What was measured is kept: bench/summarize.py --results FILE --out DIR
		cp "$RESULTS" "$OUT/failed-results.jsonl" 2>/dev/null &&
			log "exit $rc: the runs so far are in $OUT/failed-results.jsonl"
	fi
	if [[ -n $TMP && -d $TMP ]]; then
		rm -rf "$TMP"
	fi
	rm -rf "/dev/shm/ringbench-nginx-$$"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

TMP=$(mktemp -d /tmp/ringbench.XXXXXX)
REPO_HEAD=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
REPO_DIRTY=0
if [[ -n $(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null) ]]; then REPO_DIRTY=1; fi
chmod 755 "$TMP" # varnishd's child runs as vcache and needs to reach its -n dir
T_START=$(date +%s)

# ---------------------------------------------------------------- setup
((EUID == 0)) || die "run as root (apt-get, varnishd's and nginx's user switch)"
install_missing

if [[ ! -x $BUILD_DIR/ringcache || ! -x $BUILD_DIR/ringcache-origin || ! -x $BUILD_DIR/bench-noop ]]; then
	log "building ringcache (Release) in $BUILD_DIR"
	if ! { cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/build.log" 2>&1 &&
		cmake --build "$BUILD_DIR" -j "$(nproc)" --target ringcache ringcache-origin bench-noop >>"$TMP/build.log" 2>&1; }; then
		tail -30 "$TMP/build.log" >&2
		die "build failed"
	fi
fi
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
[[ $BUILD_TYPE == Release ]] || log "warning: $BUILD_DIR is a '${BUILD_TYPE:-unknown}' build, not Release"
# Private copies: a rebuild of the tree during the run changes nothing here.
cp "$BUILD_DIR/ringcache" "$BUILD_DIR/ringcache-origin" "$BUILD_DIR/bench-noop" "$TMP/"

# File descriptors: 10,000 connections need ~10,000 in each server and in wrk.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
for c in "${IDLE_LIST[@]}"; do
	((NOFILE >= c + 1000)) || die "ulimit -n is $NOFILE (the hard limit): $c idle connections do not fit in one server process and the client (at most $((NOFILE - 1000)))"
done
CLK_TCK=$(getconf CLK_TCK)

for name in origin "${SERVERS[@]}"; do
	if ss -Hltn "sport = :${PORT[$name]}" | grep -q .; then
		die "port ${PORT[$name]} ($name) is in use; pick others with --port-base"
	fi
done

mkdir -p "$OUT"
WRK_LOG=$TMP/wrk.log
: >"$WRK_LOG"
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
CONF_OUT=$TMP/configs
mkdir -p "$CONF_OUT"

# ---------------------------------------------------------------- servers
start_origin() {
	"$TMP/ringcache-origin" -l "127.0.0.1:${PORT[origin]}" -t 1 </dev/null >"$TMP/origin.log" 2>&1 &
	PID[origin]=$!
	wait_port origin "${PORT[origin]}"
}

start_varnish() {
	cat >"$CONF_OUT/default.vcl" <<EOF
vcl 4.1;
# The built-in VCL does the rest: lookups for GET/HEAD, TTL from Cache-Control.
backend origin {
    .host = "127.0.0.1";
    .port = "${PORT[origin]}";
}
EOF
	# timeout_idle=300: the default (5 s) would close the idle connections of
	# the memory test; listen_depth=4096 matches the others' listen backlog.
	VARNISH_ARGS=(-F -n "$TMP/varnish" -a "127.0.0.1:${PORT[varnish]}" -f "$CONF_OUT/default.vcl"
		-s "malloc,256m" -T none -p timeout_idle=300 -p listen_depth=4096)
	echo "varnishd ${VARNISH_ARGS[*]}" >"$CONF_OUT/varnishd.cmd"
	varnishd "${VARNISH_ARGS[@]}" </dev/null >"$TMP/varnish.log" 2>&1 &
	PID[varnish]=$!
	wait_port varnish "${PORT[varnish]}"
}

start_nginx() {
	local d=$TMP/nginx
	mkdir -p "$d/logs"
	cat >"$CONF_OUT/nginx.conf" <<EOF
user www-data;
worker_processes auto;
worker_rlimit_nofile $NOFILE;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events {
    worker_connections $((NOFILE - 100));
}
http {
    access_log off;
    sendfile on;
    # tcp_nopush stays off (nginx's default). Debian's stock nginx.conf turns
    # it on; with sendfile that stalls every 64 KiB response by ~40 ms here
    # (a delayed-ACK wait on loopback): 2,500 instead of ~25,000 req/s.
    tcp_nopush off;
    # Idle keep-alive connections stay open (the memory test), and a
    # connection is not closed after 1,000 requests (the default), as the
    # other two never do.
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;
    proxy_cache_path /dev/shm/ringbench-nginx-$$ levels=1:2 keys_zone=bench:64m
                     max_size=256m inactive=1d use_temp_path=off;
    upstream origin {
        server 127.0.0.1:${PORT[origin]};
        keepalive 64;
    }
    server {
        # reuseport: one listener per worker, as ringcache has one per thread.
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
EOF
	nginx -p "$d" -c "$CONF_OUT/nginx.conf" -e "$d/logs/error.log" </dev/null >"$TMP/nginx.log" 2>&1 &
	PID[nginx]=$!
	wait_port nginx "${PORT[nginx]}"
}

# start_ringcache [NAME BACKEND]: ringcache, or the same build on another
# I/O backend under another name (rcepoll: io.backend: epoll).
start_ringcache() {
	local name=${1:-ringcache} backend=${2:-auto}
	cat >"$CONF_OUT/$name.yaml" <<EOF
listen: ["127.0.0.1:${PORT[$name]}"]
threads: 2
io:
  backend: $backend
backends:
  - name: origin
    servers: ["127.0.0.1:${PORT[origin]}"]
cache:
  memory: 256MiB
timeouts:
  client_idle: 300s     # as the others: the idle connections of the memory test stay
limits:
  max_connections: 100000   # no cap of its own; ulimit -n is the bound, as for the others
log:
  level: warn
compression:
  enabled: false        # stated: Varnish and nginx do not compress here either
EOF
	"$TMP/ringcache" -c "$CONF_OUT/$name.yaml" </dev/null >"$TMP/$name.log" 2>&1 &
	PID[$name]=$!
	wait_port "$name" "${PORT[$name]}"
}

start_rcepoll() { start_ringcache rcepoll epoll; }

# The do-nothing responder (bench/noop_server.c): ringcache's runtime with
# no HTTP work, two loops like ringcache's. Only the 1k tests run on it.
start_noop() {
	"$TMP/bench-noop" -l "127.0.0.1:${PORT[noop]}" -t 2 </dev/null >"$TMP/noop.log" 2>&1 &
	PID[noop]=$!
	wait_port noop "${PORT[noop]}"
}

# runs_on SERVER TEST: whether TEST is one SERVER can answer.
runs_on() { [[ $1 != noop || ${2%@*} == 1k ]]; }

# ---------------------------------------------------------------- probes
# tree_pids ROOT: ROOT and its descendants (nginx workers, varnishd's child).
tree_pids() {
	local root=$1 f line rest pid
	local -a fl
	local -A kids=()
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		pid=${line%% *}
		rest=${line##*) }
		read -ra fl <<<"$rest"
		kids[${fl[1]}]+=" $pid"
	done
	local -a todo=("$root") out=()
	while ((${#todo[@]})); do
		pid=${todo[0]}
		todo=("${todo[@]:1}")
		out+=("$pid")
		# shellcheck disable=SC2206 # a list of pids
		[[ -n ${kids[$pid]:-} ]] && todo+=(${kids[$pid]})
	done
	echo "${out[*]}"
}

# cpu_ticks PID...: utime + stime (all threads) summed over the processes.
cpu_ticks() {
	local pid line rest sum=0
	local -a fl
	for pid in "$@"; do
		{ read -r line <"/proc/$pid/stat"; } 2>/dev/null || continue
		rest=${line##*) }
		read -ra fl <<<"$rest"
		sum=$((sum + fl[11] + fl[12]))
	done
	echo "$sum"
}

# children_ticks: cutime + cstime of this shell (waited-for children, i.e. wrk).
children_ticks() {
	local line rest
	local -a fl
	read -r line </proc/$$/stat
	rest=${line##*) }
	read -ra fl <<<"$rest"
	echo $((fl[13] + fl[14]))
}

# sys_ticks: "busy irq steal" from /proc/stat (all CPUs).
sys_ticks() {
	local u n s irq sirq steal
	read -r _ u n s _ _ irq sirq steal _ </proc/stat
	echo "$((u + n + s)) $((irq + sirq)) $steal"
}

origin_requests() {
	curl -s --max-time 5 "http://127.0.0.1:${PORT[origin]}/__stats" | tr -dc '0-9'
}

# wait_drained PORT: until the server holds (almost) no client connection
# from the previous run, 15 s at most.
wait_drained() {
	local i n
	for ((i = 0; i < 150; i++)); do
		n=$(ss -Htn state established "( sport = :$1 )" | wc -l)
		((n < 5)) && return 0
		sleep 0.1
	done
	log "note: $n connections to port $1 still open after 15 s"
}

mem_json() { python3 "$BENCH/probe.py" mem "${PID[$1]}"; }

OBJ1K='/obj1k?size=1024&cc=max-age%3D3600'
OBJ64K='/obj64k?size=65536&cc=max-age%3D3600'
OBJ1M='/obj1m?size=1048576&cc=max-age%3D3600'
HOT=100

warm() { # SERVER: one request for every URL the runs ask for (the misses aside)
	local port=${PORT[$1]} i cfg=$TMP/warm-$1.curl
	{
		for u in "$OBJ1K" "$OBJ64K" "$OBJ1M"; do
			printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' "$port" "$u"
		done
		for ((i = 1; i <= HOT; i++)); do
			printf 'url = "http://127.0.0.1:%s/hot%d?size=1024&cc=max-age%%3D3600"\noutput = /dev/null\n' "$port" "$i"
		done
	} >"$cfg"
	curl -sf --max-time 30 -K "$cfg" || die "warming $1 failed"
	curl -sf --max-time 30 -K "$cfg" || die "warming $1 failed"
}

# ---------------------------------------------------------------- one run
# The machine may be shared: before each run wait (up to QUIET_MAX s) until
# everything else uses under QUIET_PCT % of the CPUs; a run during which
# other processes took more than NOISY_PCT % is done again, up to 3 attempts
# (at most MAX_RETRIES repeats in all); the quietest attempt is counted, the
# others are kept in the results marked superseded.
QUIET_PCT=10
QUIET_MAX=10
NOISY_PCT=15
RETRIES=0
NCPU=$(nproc)

quiet_wait() { # 0.5 s samples of /proc/stat while our servers are idle
	local i a b busy
	for ((i = 0; i < QUIET_MAX * 2; i++)); do
		read -ra a <<<"$(sys_ticks)"
		sleep 0.5
		read -ra b <<<"$(sys_ticks)"
		busy=$((b[0] + b[1] - a[0] - a[1]))
		((busy * 200 < QUIET_PCT * CLK_TCK * NCPU)) && return 0
	done
	log "note: the machine was not quiet ($((busy * 2)) ticks/s busy) after ${QUIET_MAX} s; running anyway"
}

# foreign_snap ARRAY: CPU ticks, reaped children's included, of every
# user-space process that is not this script or one of its descendants (the
# servers, origin, wrk), into ARRAY[pid]="ticks comm ppid". Counting the
# cutime/cstime of live parents (pid 1 and our own ancestors too: they reap
# the others' finished jobs) catches the short-lived processes (compilers,
# test binaries) that start and end during a run.
# shellcheck disable=SC2034,SC2004 # snap is the caller's array (nameref)
foreign_snap() {
	local -n snap=$1
	snap=()
	local f line pid comm p
	local -a fl
	local -A up=() tk=() cm=()
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		pid=${line%% *}
		comm=${line#*\(}
		comm=${comm%\)*}
		read -ra fl <<<"${line##*) }"
		((fl[6] & 0x200000)) && continue # PF_KTHREAD
		up[$pid]=${fl[1]}
		tk[$pid]=$((fl[11] + fl[12] + fl[13] + fl[14]))
		cm[$pid]=${comm// /_}
	done
	for pid in "${!tk[@]}"; do
		p=$pid
		while [[ $p != "$$" && -n ${up[$p]:-} ]]; do p=${up[$p]}; done
		if [[ $p != "$$" ]]; then snap[$pid]="${tk[$pid]} ${cm[$pid]} ${up[$pid]}"; fi
	done
}

# foreign_diff BEFORE AFTER MAXTICKS: "TICKS TOP" (TOP: up to 3 comm:ticks),
# each capped at MAXTICKS (all CPUs for the whole window: a stray counter
# jump must not read as more than the machine can do). A process
# gone by AFTER had its time added to its parent's cutime: its share in
# BEFORE is taken off the parent's name, so that the parent does not show the
# child's whole lifetime.
# shellcheck disable=SC2178 # namerefs to the caller's arrays
foreign_diff() {
	local -n a=$1 b=$2
	local max=$3 pid t c pp pc
	local -A per=()
	for pid in "${!b[@]}"; do
		read -r t c _ <<<"${b[$pid]}"
		per[$c]=$((${per[$c]:-0} + t))
	done
	for pid in "${!a[@]}"; do
		read -r t c pp <<<"${a[$pid]}"
		if [[ -z ${b[$pid]:-} && -n ${b[$pp]:-} ]]; then
			read -r _ pc _ <<<"${b[$pp]}"
			c=$pc
		fi
		per[$c]=$((${per[$c]:-0} - t))
	done
	local total=0 top
	for c in "${!per[@]}"; do
		if ((per[$c] > max)); then per[$c]=$max; fi
		total=$((total + per[$c]))
	done
	if ((total < 0)); then total=0; fi
	if ((total > max)); then total=$max; fi
	top=$(for c in "${!per[@]}"; do
		if ((per[$c] > 0)); then echo "${per[$c]} $c"; fi
	done | sort -rn | head -3 | awk '{printf "%s%s:%s", (NR > 1 ? "," : ""), $2, $1}')
	echo "$total ${top:-none}"
}

# jnum KEY JSON: a number from a flat JSON object.
jnum() {
	if [[ $2 =~ \"$1\":([0-9.]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# measure ROUND TEST SERVER ATTEMPT: one wrk run; sets RUN_JSON, RUN_OTHER_PCT.
measure() {
	local round=$1 test=$2 server=$3 attempt=$4 port=${PORT[$3]}
	local kind=${test%@*} conns=${test#*@} threads=2 url script args=()
	((conns < threads)) && threads=$conns
	script=$BENCH/wrk/report.lua
	case $kind in
	1k) url=http://127.0.0.1:$port$OBJ1K ;;
	64k) url=http://127.0.0.1:$port$OBJ64K ;;
	1m) url=http://127.0.0.1:$port$OBJ1M ;;
	mix | miss)
		# mix: every 10th request a miss; miss: every request one.
		url=http://127.0.0.1:$port/
		script=$BENCH/wrk/mix.lua
		args=(-- "$server-r$round-a$attempt-$$-$(date +%s%N)" "$HOT" "$([[ $kind == mix ]] && echo 10 || echo 1)")
		;;
	esac
	wait_drained "$port"
	quiet_wait
	local pids s0 s1 o0 o1 w0 w1 b0 b1 or0 or1 t0 t1 load rc=0 out
	pids=$(tree_pids "${PID[$server]}")
	read -r load _ </proc/loadavg
	or0=$(origin_requests)
	# shellcheck disable=SC2086 # a list of pids
	s0=$(cpu_ticks $pids)
	o0=$(cpu_ticks "${PID[origin]}")
	read -ra b0 <<<"$(sys_ticks)"
	# shellcheck disable=SC2034 # filled through namerefs
	local -A fa=() fb=()
	foreign_snap fa
	w0=$(children_ticks)
	t0=$(date +%s%N)
	out=$(timeout --foreground -k 5 $((DURATION + 60)) wrk -t "$threads" -c "$conns" -d "${DURATION}s" --timeout 10s \
		--latency -s "$script" "$url" "${args[@]}" 2>&1) || rc=$?
	t1=$(date +%s%N)
	w1=$(children_ticks)
	read -ra b1 <<<"$(sys_ticks)"
	# shellcheck disable=SC2086
	s1=$(cpu_ticks $pids)
	o1=$(cpu_ticks "${PID[origin]}")
	foreign_snap fb
	local other top
	read -r other top <<<"$(foreign_diff fa fb $(((t1 - t0) * CLK_TCK * NCPU / 1000000000)))"
	or1=$(origin_requests)
	printf '=== round %s test %s server %s attempt %s rc %s: wrk -t %s -c %s -d %ss --timeout 10s --latency -s %s %s %s\n%s\n' \
		"$round" "$test" "$server" "$attempt" "$rc" "$threads" "$conns" "$DURATION" "${script#"$ROOT"/}" "$url" \
		"${args[*]}" "$out" >>"$WRK_LOG"
	local wj
	wj=$(sed -n 's/^WRKJSON //p' <<<"$out" | tail -1)
	[[ -n $wj ]] || wj=null
	local srv=$((s1 - s0)) org=$((o1 - o0)) wrk_t=$((w1 - w0)) wall_ms=$(((t1 - t0) / 1000000))
	local busy=$((b1[0] - b0[0])) irq=$((b1[1] - b0[1])) steal=$((b1[2] - b0[2]))
	# Other processes' CPU time, from their own counters: /proc/stat minus
	# ours would also count softirq work done while a CPU is idle, which is
	# charged to no process.
	RUN_OTHER_PCT=$((other * 100 * 1000 / (CLK_TCK * NCPU * (wall_ms > 0 ? wall_ms : 1))))
	RUN_JSON=$(printf '{"type":"run","round":%d,"test":"%s","kind":"%s","conns":%d,"threads":%d,"server":"%s","attempt":%d,"duration_s":%d,"wall_ms":%d,"wrk_rc":%d,"wrk":%s,"server_ticks":%d,"origin_ticks":%d,"wrk_ticks":%d,"sys_busy_ticks":%d,"sys_irq_ticks":%d,"sys_steal_ticks":%d,"other_ticks":%d,"other_pct":%d,"other_top":"%s","clk_tck":%d,"ncpu":%d,"origin_requests":%d,"load1_before":%s,"server_pids":"%s"}' \
		"$round" "$test" "$kind" "$conns" "$threads" "$server" "$attempt" "$DURATION" "$wall_ms" "$rc" "$wj" \
		"$srv" "$org" "$wrk_t" "$busy" "$irq" "$steal" "$other" "$RUN_OTHER_PCT" "$top" "$CLK_TCK" "$NCPU" \
		$((or1 - or0)) "$load" "$pids")
	local summary="no result"
	if [[ $wj != null ]]; then
		local req dus errs
		req=$(jnum requests "$wj")
		dus=$(jnum duration_us "$wj")
		errs=$(($(jnum err_connect "$wj") + $(jnum err_read "$wj") + $(jnum err_write "$wj") + $(jnum err_timeout "$wj")))
		summary="$((req * 1000000 / (dus > 0 ? dus : 1))) req/s, p99 $(($(jnum lat_p99_us "$wj") / 1000)) ms, errors $errs, non-2xx $(jnum err_status "$wj")"
	fi
	log "round $round  $test  $server: $summary  (server cpu ${srv} ticks, other processes ${RUN_OTHER_PCT}% ($top), wrk rc $rc)"
}

# run_one ROUND TEST SERVER: one measured run (two if the first was noisy),
# JSON lines into $RESULTS.
run_one() {
	local attempt best=1 bestpct=
	local -a runs=()
	for ((attempt = 1; ; attempt++)); do
		measure "$@" "$attempt"
		runs+=("$RUN_JSON")
		if [[ -z $bestpct ]] || ((RUN_OTHER_PCT <= bestpct)); then
			best=$attempt
			bestpct=$RUN_OTHER_PCT
		fi
		((RUN_OTHER_PCT > NOISY_PCT && attempt < 3 && RETRIES < MAX_RETRIES)) || break
		RETRIES=$((RETRIES + 1))
		log "  other processes took ${RUN_OTHER_PCT}% of the CPUs: again (retry $RETRIES of at most $MAX_RETRIES)"
	done
	# The attempt counted is the quietest one; the others stay in the
	# results, marked superseded.
	for ((attempt = 1; attempt <= ${#runs[@]}; attempt++)); do
		local sup=true
		((attempt == best)) && sup=false
		echo "${runs[attempt - 1]%\}},\"superseded\":$sup}" >>"$RESULTS"
	done
	((${#runs[@]} == 1)) || log "  counted: attempt $best (others ${bestpct}%)"
}

# ---------------------------------------------------------------- main
log "results: $OUT; scratch: $TMP; ulimit -n $NOFILE"
log "ringcache: $BUILD_DIR (${BUILD_TYPE:-?}); servers: ${SERVERS[*]}; rounds $ROUNDS x ${DURATION}s"
start_origin
for s in "${SERVERS[@]}"; do
	"start_$s"
	log "$s listening on ${PORT[$s]} (pid ${PID[$s]})"
done

for s in "${SERVERS[@]}"; do [[ $s == noop ]] || warm "$s"; done

# 7. Idle keep-alive connections, on the fresh servers: before any load has
# grown their pools (stacks, threads, buffers), so the delta is what the
# connections themselves cost. Each further count starts the server again.
for s in "${SERVERS[@]}"; do
	[[ $s != noop ]] || continue # it holds a task per connection: not a server's cost
	first=1
	for c in "${IDLE_LIST[@]}"; do
		if ((!first)); then
			stop_pid "$s"
			"start_$s"
			warm "$s"
		fi
		first=0
		wait_drained "${PORT[$s]}"
		log "idle connections: $c to $s"
		out=$(timeout --foreground -k 5 300 python3 "$BENCH/probe.py" idle --port "${PORT[$s]}" --conns "$c" \
			--path "$OBJ1K" --pid "${PID[$s]}" --settle 3) || die "probe.py idle failed for $s"
		sleep 3
		after_close=$(mem_json "$s")
		printf '{"type":"idle","server":"%s","conns":%d,"result":%s,"after_close":%s}\n' "$s" "$c" "$out" "$after_close" >>"$RESULTS"
		log "  $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("ok %d, open %d, errors %s, RSS +%.1f MiB = %.0f B/conn" % (d["conns_ok"], d["conns_open_at_measure"], d["errors"], d["rss_delta_kb"]/1024, d["rss_bytes_per_conn"] or 0))' "$out")"
	done
done

# Warm-up load (not measured): first touches of pools, threads, buffers.
for s in "${SERVERS[@]}"; do
	wait_drained "${PORT[$s]}"
	timeout --foreground -k 5 $((WARMUP + 30)) wrk -t 2 -c 100 -d "${WARMUP}s" "http://127.0.0.1:${PORT[$s]}$OBJ1K" >/dev/null 2>&1 ||
		log "warning: warm-up wrk against $s failed"
done

n=${#SERVERS[@]}
MAX_RETRIES=$((ROUNDS * ${#TESTS[@]} * n / 6))
for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${TESTS[@]}"; do
		# Alternate: each test runs on every server back to back, and the
		# server that goes first changes from round to round.
		for ((i = 0; i < n; i++)); do
			s=${SERVERS[$(((i + r - 1) % n))]}
			runs_on "$s" "$t" && run_one "$r" "$t" "$s"
		done
	done
done

# 6. Memory after the runs.
for s in "${SERVERS[@]}"; do
	extra=
	if [[ $s == nginx ]]; then
		# du fails (pipefail) on files nginx's cache manager removes under
		# it (the miss test makes many): its total is still right.
		extra=$({ du -sk "/dev/shm/ringbench-nginx-$$" 2>/dev/null || true; } | cut -f1)
	fi
	printf '{"type":"mem","server":"%s","mem":%s,"tmpfs_cache_kb":%s}\n' "$s" "$(mem_json "$s")" "${extra:-null}" >>"$RESULTS"
done
if [[ -n ${PID[varnish]:-} ]]; then
	varnishstat -n "$TMP/varnish" -1 >"$TMP/varnishstat.txt" 2>&1 || true
fi

T_END=$(date +%s)
for s in origin "${SERVERS[@]}"; do
	if [[ -s $TMP/$s.log ]]; then cp "$TMP/$s.log" "$OUT/latest-$s.log"; else rm -f "$OUT/latest-$s.log"; fi
done
if [[ -s $TMP/nginx/logs/error.log ]]; then cp "$TMP/nginx/logs/error.log" "$OUT/latest-nginx-error.log"; else rm -f "$OUT/latest-nginx-error.log"; fi
cp "$WRK_LOG" "$OUT/latest-wrk.log"
rm -rf "$OUT/configs"
cp -r "$CONF_OUT" "$OUT/configs"
rm -f "$OUT/latest-varnishstat.txt"
if [[ -s $TMP/varnishstat.txt ]]; then cp "$TMP/varnishstat.txt" "$OUT/latest-varnishstat.txt"; fi

python3 "$BENCH/summarize.py" --results "$RESULTS" --out "$OUT" --command "$CMDLINE" \
	--rounds "$ROUNDS" --duration "$DURATION" --quick "$QUICK" --servers "${SERVERS[*]}" \
	--ringcache-bin "$TMP/ringcache" --build-dir "$BUILD_DIR" --build-type "${BUILD_TYPE:-unknown}" \
	--nofile "$NOFILE" --elapsed $((T_END - T_START)) --repo-head "$REPO_HEAD" --repo-dirty "$REPO_DIRTY"
log "done in $((T_END - T_START)) s: $OUT/latest.md"
