#!/bin/sh
# Run the libFuzzer harnesses built in BUILD (cmake -DRINGCACHE_FUZZ=ON),
# each for SECONDS: first over its saved reproducers
# (tests/fuzz/<harness>/regressions/), then fuzzing a scratch copy of its
# seed corpus (tests/fuzz/corpus/<harness>/, left untouched) with its
# dictionary. Fails if any harness crashes, leaks, hangs or runs out of
# memory; the input that did it is kept in BUILD/fuzz-artifacts/.
#
#   tests/fuzz/run.sh BUILD [SECONDS [HARNESS...]]
set -eu

[ $# -ge 1 ] || { echo "usage: $0 BUILD [SECONDS [HARNESS...]]" >&2; exit 2; }
build=$1
secs=${2:-60}
if [ $# -ge 2 ]; then shift 2; else shift; fi
dir=$(cd "$(dirname "$0")" && pwd)
harnesses=${*:-"request response cache_control date config accept proxyproto range drec sfv recwire"}

artifacts=$build/fuzz-artifacts
logs=$build/fuzz-logs
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ringcache-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts" "$logs"

# Any sanitizer report ends the run with an error (libFuzzer sets most of
# this already; leak checking is on with ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=""
for h in $harnesses; do
	bin=$build/fuzz_$h
	log=$logs/fuzz_$h.log
	[ -x "$bin" ] || { echo "fuzz_$h: $bin not built" >&2; exit 2; }

	regs=$dir/fuzz_$h/regressions
	if [ -d "$regs" ] && [ -n "$(ls -A "$regs")" ]; then
		if ! "$bin" "$regs"/* >"$logs/fuzz_$h.regressions.log" 2>&1; then
			echo "fuzz_$h: FAILED on a saved reproducer ($regs)" >&2
			tail -n 40 "$logs/fuzz_$h.regressions.log" >&2
			failed="$failed fuzz_$h"
			continue
		fi
	fi

	mkdir -p "$scratch/$h"
	cp -R "$dir/corpus/fuzz_$h/." "$scratch/$h/"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-dict="$dir/fuzz_$h.dict" -artifact_prefix="$artifacts/fuzz_$h-" \
		-print_final_stats=1 "$scratch/$h" >"$log" 2>&1; then
		# The last status line: "#N DONE cov: ... ft: ... corp: ... exec/s: ...".
		printf 'fuzz_%s: %s\n' "$h" "$(grep -E '^#[0-9]+' "$log" | tail -n 1)"
	else
		echo "fuzz_$h: FAILED (log: $log, input: $artifacts/fuzz_$h-*)" >&2
		grep -E -A 40 'ERROR: |runtime error|check failed|deadly signal' "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
		failed="$failed fuzz_$h"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzzing failed:$failed" >&2
	exit 1
fi
