#!/bin/bash
# tests/soak/run.sh BUILD_DIR - a bounded soak of the real daemon.
#
# Starts BUILD_DIR/ringcache-origin and BUILD_DIR/ringcache (compression on,
# a 32 MiB cache so that it evicts, an admin listener), drives them with wrk
# and tests/soak/mix.lua for SOAK_SECONDS, samples the daemon's RSS every
# SOAK_SAMPLE seconds, and fails when, after the warm-up (the first third),
# RSS grows by more than the bound below, when wrk sees any socket error or
# a 5xx, when the cache never evicted or never compressed, or when the daemon
# dies or does not drain cleanly on SIGTERM. See tests/soak/README.md.
#
# Environment:
#   SOAK_SECONDS      load duration (default 180)
#   SOAK_SAMPLE       RSS sampling interval in seconds (default 5)
#   SOAK_MAX_GROWTH   allowed RSS growth after warm-up, in percent of the
#                     RSS at the end of warm-up (default 10)
#   SOAK_MIN_SLACK    ... but never less than this many MiB (default 8)
#   SOAK_THREADS, SOAK_CONNS  wrk threads and connections (default 2, 32)
#   SOAK_KEEP=1       keep the work directory (logs, samples) even on success
set -u

usage() {
	echo "usage: $0 BUILD_DIR   (e.g. $0 build)" >&2
	exit 2
}
[ $# -eq 1 ] || usage
BUILD=$(cd "$1" 2>/dev/null && pwd) || usage
HERE=$(cd "$(dirname "$0")" && pwd)
DAEMON=$BUILD/ringcache
ORIGIN=$BUILD/ringcache-origin
SECONDS_TOTAL=${SOAK_SECONDS:-180}
SAMPLE=${SOAK_SAMPLE:-5}
MAX_GROWTH=${SOAK_MAX_GROWTH:-10}
MIN_SLACK=${SOAK_MIN_SLACK:-8}
THREADS=${SOAK_THREADS:-2}
CONNS=${SOAK_CONNS:-32}

for f in "$DAEMON" "$ORIGIN"; do
	[ -x "$f" ] || { echo "soak: $f is not built" >&2; exit 2; }
done
for c in wrk curl; do
	command -v $c >/dev/null 2>&1 || { echo "soak: $c is missing (scripts/deps.sh test)" >&2; exit 2; }
done
case $SECONDS_TOTAL in '' | *[!0-9]*) echo "soak: SOAK_SECONDS must be a number" >&2; exit 2 ;; esac
[ "$SECONDS_TOTAL" -ge 30 ] || { echo "soak: SOAK_SECONDS must be at least 30" >&2; exit 2; }

WORK=$(mktemp -d /tmp/ringcache-soak.XXXXXX)
ORIGIN_PID="" DAEMON_PID="" WRK_PID=""
VERDICT_OK=0

stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL; only our own children
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup() {
	stop_pid "$WRK_PID"
	stop_pid "$DAEMON_PID"
	stop_pid "$ORIGIN_PID"
	if [ "$VERDICT_OK" = 1 ] && [ "${SOAK_KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	else
		echo "soak: logs and samples kept in $WORK" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "soak: FAIL: $*"
	for f in daemon.log origin.log wrk.out; do
		[ -s "$WORK/$f" ] && { echo "---- last lines of $f ----"; tail -n 20 "$WORK/$f"; }
	done
	exit 1
}

# Wait (max 5 s) for LOG to have a line matching the sed expression EXPR
# and print what it captures: the port a listener got.
port_from_log() {
	local log=$1 expr=$2 p
	for _ in $(seq 50); do
		p=$(sed -n "$expr" "$log" 2>/dev/null | head -n 1)
		[ -n "$p" ] && { echo "$p"; return 0; }
		sleep 0.1
	done
	return 1
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

metric() { # NAME: an unlabelled metric from the admin API's /metrics
	awk -v n="$1" '$1 == n { print $2 }' "$WORK/metrics.txt"
}

# ---- start the origin and the daemon (ports chosen by the kernel) ----------

"$ORIGIN" -l 127.0.0.1:0 >"$WORK/origin.log" 2>&1 &
ORIGIN_PID=$!
OPORT=$(port_from_log "$WORK/origin.log" 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p') ||
	fail "the origin did not start"

cat >"$WORK/ringcache.yaml" <<EOF
listen: ["127.0.0.1:0"]
threads: 2
backends:
  - name: app
    servers: ["127.0.0.1:$OPORT"]
    connect_timeout: 2s
    first_byte_timeout: 10s
    between_bytes_timeout: 10s
cache:
  memory: 32MiB
  max_object_size: 1MiB
compression:
  enabled: true
  workers: 2
  min_size: 256B
admin:
  listen: "127.0.0.1:0"
timeouts:
  client_idle: 30s
EOF
"$DAEMON" -c "$WORK/ringcache.yaml" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
PORT=$(port_from_log "$WORK/daemon.log" 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p') ||
	fail "the daemon did not start"
APORT=$(port_from_log "$WORK/daemon.log" 's/.*admin API on 127\.0\.0\.1:\([0-9]*\).*/\1/p') ||
	fail "the daemon's admin API did not start"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/check?size=10" || fail "no answer through the daemon"

echo "soak: ${SECONDS_TOTAL}s of mixed load, wrk -t$THREADS -c$CONNS, daemon pid $DAEMON_PID" \
	"on 127.0.0.1:$PORT (admin $APORT), origin on $OPORT; RSS every ${SAMPLE}s"

# ---- load, sampling RSS meanwhile --------------------------------------------

wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_TOTAL}s" --timeout 5s -s "$HERE/mix.lua" \
	"http://127.0.0.1:$PORT" -- "soak$$" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
START=$(date +%s.%N)
: >"$WORK/rss.tsv"
k=0
while :; do
	now=$(date +%s.%N)
	t=$(awk -v a="$START" -v b="$now" 'BEGIN { printf "%d", b - a + 0.5 }')
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died ${t}s into the load"
	rss=$(rss_kib "$DAEMON_PID")
	[ -n "$rss" ] || fail "cannot read the daemon's RSS"
	printf '%s\t%s\n' "$t" "$rss" >>"$WORK/rss.tsv"
	kill -0 "$WRK_PID" 2>/dev/null || break
	k=$((k + 1))
	# Sleep until the next multiple of SAMPLE from the start.
	sleep "$(awk -v a="$START" -v k="$k" -v s="$SAMPLE" -v n="$(date +%s.%N)" \
		'BEGIN { d = a + k * s - n; if (d < 0) d = 0; printf "%.2f", d }')"
done
wait "$WRK_PID"
WRK_RC=$?
WRK_PID=""
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died during the load"

# ---- verdict -------------------------------------------------------------------

curl -fsS -o "$WORK/metrics.txt" "http://127.0.0.1:$APORT/metrics" || fail "no /metrics after the load"
json=$(sed -n 's/^SOAKJSON //p' "$WORK/wrk.out")
{ [ "$WRK_RC" = 0 ] && [ -n "$json" ]; } || fail "wrk failed (exit $WRK_RC)"
jnum() { echo "$json" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

echo "soak: RSS of the daemon (seconds, MiB):"
awk -F'\t' '{ printf "  %4ds %7.1f\n", $1, $2 / 1024 }' "$WORK/rss.tsv"

# Baseline: the first sample at or after the end of warm-up; end: the last
# sample taken while the load ran (the one after wrk ended may be smaller).
warm=$((SECONDS_TOTAL / 3))
read -r base_t base end_t end peak <<<"$(awk -F'\t' -v w="$warm" -v total="$SECONDS_TOTAL" '
	$1 >= w && !bt { bt = $1; b = $2 }
	$1 >= w && $2 > pk { pk = $2 }
	$1 <= total { et = $1; e = $2 }
	END { print bt, b, et, e, pk }' "$WORK/rss.tsv")"
{ [ -n "$base" ] && [ -n "$end" ]; } || fail "too few RSS samples"
allowed=$(awk -v b="$base" -v p="$MAX_GROWTH" -v m="$MIN_SLACK" \
	'BEGIN { a = b * p / 100; if (a < m * 1024) a = m * 1024; printf "%d", a }')
growth=$((end - base))
# The trend after warm-up (least squares), for the record.
slope=$(awk -F'\t' -v w="$warm" '$1 >= w { n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
	END { d = n * sxx - sx * sx; printf "%.1f", d ? (n * sxy - sx * sy) / d * 60 : 0 }' "$WORK/rss.tsv")

requests=$(jnum requests)
s5xx=$(jnum s5xx)
sockerr=$(($(jnum err_connect) + $(jnum err_read) + $(jnum err_write) + $(jnum err_timeout)))
evictions=$(metric ringcache_cache_evictions_total)
encoded=$(metric ringcache_encoded_total)
printf 'soak: %s requests (%s/s): 2xx %s, 3xx %s, 404 %s, other 4xx %s, 5xx %s; socket errors %s (connect %s read %s write %s timeout %s); p50 %s ms, p99 %s ms, max %s ms\n' \
	"$requests" "$(awk -v r="$requests" -v s="$SECONDS_TOTAL" 'BEGIN { printf "%d", r / s }')" \
	"$(jnum s2xx)" "$(jnum s3xx)" "$(jnum s404)" "$(jnum s4xx)" "$s5xx" "$sockerr" \
	"$(jnum err_connect)" "$(jnum err_read)" "$(jnum err_write)" "$(jnum err_timeout)" \
	"$(awk -v u="$(jnum lat_p50_us)" 'BEGIN { printf "%.1f", u / 1000 }')" \
	"$(awk -v u="$(jnum lat_p99_us)" 'BEGIN { printf "%.1f", u / 1000 }')" \
	"$(awk -v u="$(jnum lat_max_us)" 'BEGIN { printf "%.1f", u / 1000 }')"
printf 'soak: daemon: cache %s / %s bytes in %s objects, %s evictions, %s responses compressed, %s backend errors, %s connections open\n' \
	"$(metric ringcache_cache_bytes)" "$(metric ringcache_cache_budget_bytes)" \
	"$(metric ringcache_cache_objects)" "$evictions" "$encoded" \
	"$(metric ringcache_backend_errors_total)" "$(metric ringcache_connections)"

problems=""
[ "$growth" -le "$allowed" ] ||
	problems="$problems; RSS grew $((growth / 1024)) MiB after warm-up (allowed $((allowed / 1024)) MiB)"
[ "$s5xx" = 0 ] || problems="$problems; $s5xx responses were 5xx"
[ "$sockerr" = 0 ] || problems="$problems; wrk saw $sockerr socket errors"
[ "$(jnum s2xx)" -gt 0 ] || problems="$problems; no 2xx at all"
[ "${evictions:-0}" -gt 0 ] || problems="$problems; the cache never evicted (the load did not fill it)"
[ "${encoded:-0}" -gt 0 ] || problems="$problems; nothing was compressed"

# The daemon must still drain and exit 0.
kill -TERM "$DAEMON_PID"
for _ in $(seq 150); do
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$DAEMON_PID" 2>/dev/null; then
	problems="$problems; the daemon did not exit within 15 s of SIGTERM"
else
	wait "$DAEMON_PID"
	st=$?
	[ "$st" = 0 ] || problems="$problems; the daemon exited $st on SIGTERM"
	DAEMON_PID=""
fi

summary=$(printf 'RSS %.1f MiB at %ss (end of warm-up) -> %.1f MiB at %ss (%+.1f MiB, %+.1f%%; allowed +%.1f MiB; peak %.1f MiB; trend %+.0f KiB/min)' \
	"$(awk -v v="$base" 'BEGIN { print v / 1024 }')" "$base_t" \
	"$(awk -v v="$end" 'BEGIN { print v / 1024 }')" "$end_t" \
	"$(awk -v v="$growth" 'BEGIN { print v / 1024 }')" \
	"$(awk -v g="$growth" -v b="$base" 'BEGIN { print 100 * g / b }')" \
	"$(awk -v v="$allowed" 'BEGIN { print v / 1024 }')" \
	"$(awk -v v="$peak" 'BEGIN { print v / 1024 }')" "$slope")
if [ -n "$problems" ]; then
	fail "${problems#; }. $summary"
fi
VERDICT_OK=1
echo "soak: PASS: $summary; $requests requests, no 5xx, no socket errors"
