#!/usr/bin/env bash
# bench/ab.sh - before/after benchmark of two ringcache builds on this
# machine, in one session: the same origin, the same config, the same wrk
# runs, the builds alternating run by run (ABBA order per round) so that a
# machine that gets slower or faster over time affects both alike.
#
# usage: bench/ab.sh [--rounds N] [--duration S] [--out FILE] [--tests "T..."]
#                    [--base-extra YAML] [--new-extra YAML] BASE_BUILD NEW_BUILD
#
# --base-extra / --new-extra append a file of top-level YAML keys to that
# side's config (e.g. bench/routes20.yaml: the same build with and without
# 20 routes: bench/ab.sh --new-extra bench/routes20.yaml build build).
# --tests picks some of the tests below (default: all).
#
# BASE_BUILD and NEW_BUILD are build directories holding ringcache and
# ringcache-origin (build both Release: cmake -DCMAKE_BUILD_TYPE=Release).
# The origin of NEW_BUILD serves both. Tests:
#   hit@100    1 KiB cache hits, 100 connections
#   hit@1000   1 KiB cache hits, 1,000 connections
#   pass@100   1 KiB responses passed to the origin (hit-for-miss), 100
#              connections: the exchange engine on every request
# Each run reports requests/s (wrk) and the daemon's CPU per request (utime
# + stime of all its threads over the run, from /proc, divided by the
# requests wrk counted). The table gives medians over the rounds and
# NEW/BASE. CPU per request is the steadier figure on a shared 2-core
# machine: wrk, the origin and the daemon compete for the same cores.
set -euo pipefail
ROUNDS=5
DURATION=6
OUT=
BASE_EXTRA=
NEW_EXTRA=
TESTS=(hit@100 hit@1000 pass@100)
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--base-extra) BASE_EXTRA=$(realpath "$2"); shift 2 ;;
	--new-extra) NEW_EXTRA=$(realpath "$2"); shift 2 ;;
	--tests) read -ra TESTS <<<"$2"; shift 2 ;;
	-h | --help) sed -n '2,27p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--rounds N] [--duration S] [--out FILE] [--tests \"T...\"] [--base-extra YAML] [--new-extra YAML] BASE_BUILD NEW_BUILD" >&2; exit 2; }
BASE=$(cd "$1" && pwd)
NEW=$(cd "$2" && pwd)
for b in "$BASE" "$NEW"; do
	for f in ringcache ringcache-origin; do
		[ -x "$b/$f" ] || { echo "ab: $b/$f is not built" >&2; exit 2; }
	done
done
command -v wrk >/dev/null || { echo "ab: wrk is not installed (apt-get install wrk)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ringcache-ab.XXXXXX)
OPORT=28300
PPORT=28301
TCK=$(getconf CLK_TCK)
ORIGIN_PID=
DAEMON_PID=
cleanup() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
	[ -n "$ORIGIN_PID" ] && kill "$ORIGIN_PID" 2>/dev/null && wait "$ORIGIN_PID" 2>/dev/null
	true
}
trap cleanup EXIT

cat >"$WORK/common.yaml" <<EOF
listen: ["127.0.0.1:$PPORT"]
threads: 2
backends:
  - name: app
    servers: ["127.0.0.1:$OPORT"]
cache:
  memory: 256MiB
limits:
  max_connections: 20000
compression:
  enabled: false    # stated, so a change of the default does not move the numbers
EOF
# One config per side: the common part and that side's extra keys.
for side in base new; do
	extra=$BASE_EXTRA
	[ $side = new ] && extra=$NEW_EXTRA
	cp "$WORK/common.yaml" "$WORK/$side.yaml"
	[ -z "$extra" ] || cat "$extra" >>"$WORK/$side.yaml"
	"$NEW/ringcache" -t -c "$WORK/$side.yaml" >/dev/null || exit 2
done

"$NEW/ringcache-origin" -l "127.0.0.1:$OPORT" >"$WORK/origin.log" 2>&1 &
ORIGIN_PID=$!

wait_port() {
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.05
	done
	echo "ab: nothing listens on port $1" >&2
	exit 1
}
wait_port "$OPORT"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run BUILD TEST SIDE -> "rps cpu_us_per_req"
run() {
	local build=$1 test=$2 side=$3 conns=${2#*@} url
	case ${test%@*} in
	hit) url="http://127.0.0.1:$PPORT/ab/hit?size=1024&cc=max-age%3D3600" ;;
	pass) url="http://127.0.0.1:$PPORT/ab/pass?size=1024&cc=no-store" ;;
	esac
	"$build/ringcache" -c "$WORK/$side.yaml" >"$WORK/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_port "$PPORT"
	curl -s -o /dev/null "$url"
	curl -s -o /dev/null "$url"
	wrk -t2 -c"$conns" -d2s "$url" >/dev/null # warm-up: pools, stacks, mappings
	local t0 t1 out req rps
	t0=$(ticks "$DAEMON_PID")
	out=$(wrk -t2 -c"$conns" -d"${DURATION}s" "$url")
	t1=$(ticks "$DAEMON_PID")
	kill "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	req=$(awk '/requests in/ {print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	if grep -q "Socket errors\|Non-2xx" <<<"$out"; then
		echo "ab: $build $test: wrk saw errors:" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$rps $(awk -v t="$((t1 - t0))" -v k="$TCK" -v r="$req" 'BEGIN {printf "%.3f", t * 1e6 / k / r}')"
}

: >"$WORK/runs.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
	for test in "${TESTS[@]}"; do
		if ((round % 2)); then order=("base:$BASE" "new:$NEW"); else order=("new:$NEW" "base:$BASE"); fi
		for e in "${order[@]}"; do
			r=$(run "${e#*:}" "$test" "${e%%:*}")
			printf '%d\t%s\t%s\t%s\n' "$round" "$test" "${e%%:*}" "$r" | tr ' ' '\t' >>"$WORK/runs.tsv"
			printf 'round %d %-9s %-4s rps %-10s cpu/req %s us\n' "$round" "$test" "${e%%:*}" ${r}
		done
	done
done

table=$(python3 - "$WORK/runs.tsv" "${TESTS[@]}" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
print("| test | base req/s | new req/s | new/base | base CPU µs/req | new CPU µs/req | new/base |")
print("|---|---:|---:|---:|---:|---:|---:|")
for t in sys.argv[2:]:
    m = {}
    for side in ("base", "new"):
        rs = [r for r in rows if r[1] == t and r[2] == side]
        m[side] = (statistics.median(float(r[3]) for r in rs),
                   statistics.median(float(r[4]) for r in rs))
    b, n = m["base"], m["new"]
    print(f"| {t} | {b[0]:,.0f} | {n[0]:,.0f} | {n[0] / b[0]:.3f} | {b[1]:.2f} | {n[1]:.2f} | {n[1] / b[1]:.3f} |")
EOF
)
echo
echo "medians of $ROUNDS rounds, ${DURATION} s runs, 2 loop threads, wrk -t2:"
echo "$table"
if [ -n "$OUT" ]; then
	{
		echo "base: $BASE ($("$BASE/ringcache" --version 2>/dev/null | head -1))"
		echo "new:  $NEW ($("$NEW/ringcache" --version 2>/dev/null | head -1))"
		echo "command: bench/ab.sh --rounds $ROUNDS --duration $DURATION${BASE_EXTRA:+ --base-extra $BASE_EXTRA}${NEW_EXTRA:+ --new-extra $NEW_EXTRA} --tests \"${TESTS[*]}\" BASE NEW"
		echo
		echo "$table"
		echo
		echo "runs (round, test, build, req/s, CPU µs/req):"
		echo
		echo '```'
		cat "$WORK/runs.tsv"
		echo '```'
	} >"$OUT"
	echo "written to $OUT"
fi
rm -rf "$WORK"
