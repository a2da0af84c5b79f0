# shellcheck shell=bash
# bench/common.sh - helpers of bench/compare.sh and bench/disklib.sh (sourced, not
# run): log lines, dying, stopping a server and waiting for its port.
# The caller defines PID (associative) and TMP (where NAME.log is).

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# stop_pid NAME: SIGTERM, 10 s, then SIGKILL (and its children).
stop_pid() {
	local name=$1 pid=${PID[$1]:-} i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
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
	unset "PID[$name]"
}

wait_port() { # NAME PORT: until it accepts, 20 s at most
	local i
	for ((i = 0; i < 200; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
		kill -0 "${PID[$1]}" 2>/dev/null || { tail -20 "$TMP/$1.log" >&2; die "$1 exited at start"; }
		sleep 0.1
	done
	die "$1 did not listen on port $2 within 20 s"
}
