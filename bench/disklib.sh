# shellcheck shell=bash disable=SC2004 # PID and PORT are associative arrays
# bench/disklib.sh - helpers shared by bench/disk.sh and bench/restart.sh
# (sourced, not run); log, die, stop_pid and wait_port are in common.sh,
# shared with compare.sh. The /proc probes are the ones of bench/compare.sh,
# copied rather than moved so that compare.sh stays as it is.
# The caller defines PORT (associative), PID (associative), TMP and ROOT.

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# launch NAME PORT LOG CMD...: start CMD in the background (its output
# appended to LOG) as PID[NAME] and wait until PORT accepts. The ports are
# inside this machine's ephemeral range (ip_local_port_range 10000-65000),
# so a client socket somebody opened may hold one of them for a moment: a
# start that fails with "Address already in use" is tried again (every
# 0.5 s, 70 s at most: a client's TIME_WAIT on the port lasts 60 s), counted
# in LAUNCH_RETRIES. pick_ports avoids such ports at the start.
LAUNCH_RETRIES=0
launch() {
	local name=$1 port=$2 logf=$3 i j
	shift 3
	for ((i = 0; i < 140; i++)); do
		local mark
		mark=0
		[[ -f $logf ]] && mark=$(wc -c <"$logf")
		"$@" </dev/null >>"$logf" 2>&1 &
		PID[$name]=$!
		for ((j = 0; j < 400; j++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
			kill -0 "${PID[$name]}" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "${PID[$name]}" 2>/dev/null && die "$name did not listen on port $port within 20 s"
		wait "${PID[$name]}" 2>/dev/null || true
		unset "PID[$name]"
		tail -c +$((mark + 1)) "$logf" | grep -q 'Address already in use' ||
			{ tail -20 "$logf" >&2; die "$name exited at start"; }
		LAUNCH_RETRIES=$((LAUNCH_RETRIES + 1))
		((i % 10)) || log "note: $name: a port was in use; starting it again"
		sleep 0.5
	done
	die "$name: its ports stayed in use"
}

# pick_ports ROLE...: for each ROLE in order, PORT[ROLE] becomes the first
# port from its current value up to PORT_MAX with no socket at all on it
# (listening, connected or in TIME_WAIT: another program's client sockets
# may sit on any port of the ephemeral range) and not taken by an earlier
# role.
pick_ports() {
	local role p taken=" "
	for role in "$@"; do
		p=${PORT[$role]}
		while [[ $taken == *" $p "* ]] || ss -Htan "( sport = :$p )" | grep -q .; do
			p=$((p + 1))
			((p <= PORT_MAX)) || die "no free port for $role up to $PORT_MAX"
		done
		PORT[$role]=$p
		taken+="$p "
	done
}

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

# sys_busy: user + nice + system + irq + softirq ticks of all CPUs.
sys_busy() {
	local u n s irq sirq
	read -r _ u n s _ _ irq sirq _ </proc/stat
	echo $((u + n + s + irq + sirq))
}

origin_requests() {
	curl -s --max-time 5 "http://127.0.0.1:${PORT[origin]}/__stats" | tr -dc '0-9'
}

# rc_metric NAME [ADMIN_PORT]: one value from ringcache's /metrics (0 if
# absent); the admin port defaults to PORT[rcadmin].
rc_metric() {
	curl -s --max-time 5 "http://127.0.0.1:${2:-${PORT[rcadmin]}}/metrics" |
		awk -v m="$1" '$1 == m { v = $2 } END { print (v == "" ? 0 : v) }'
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

# jnum KEY JSON: a number from a flat JSON object.
jnum() {
	if [[ $2 =~ \"$1\":([0-9.]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# keys_urls PORT N MIN MAX PREFIX: a curl -K config asking for every key of
# bench/wrk/keys.lua once (same sizes, same formula), in key order.
keys_urls() {
	awk -v port="$1" -v n="$2" -v min="$3" -v max="$4" -v p="$5" 'BEGIN {
		steps = int((max - min) / 1024) + 1
		for (i = 1; i <= n; i++) {
			size = min + ((i * 7919) % steps) * 1024
			printf "url = \"http://127.0.0.1:%s/d/%s-%d?size=%d&cc=max-age%%3D86400\"\noutput = /dev/null\n", port, p, i, size
		}
	}'
}

# keys_bytes N MIN MAX: the sum of the keys' body sizes.
keys_bytes() {
	awk -v n="$1" -v min="$2" -v max="$3" 'BEGIN {
		steps = int((max - min) / 1024) + 1
		for (i = 1; i <= n; i++) t += min + ((i * 7919) % steps) * 1024
		printf "%d\n", t
	}'
}

# machine_desc DIR: nproc, RAM, kernel, load, the file system DIR is on.
machine_desc() {
	local fs
	fs=$(df -T "$1" | awk 'NR == 2 { printf "%s (%s, device %s)", $7, $2, $1 }')
	printf -- '- machine: %s vCPUs, %s RAM, kernel %s\n' "$(nproc)" \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
	printf -- '- store directory %s on %s\n' "$1" "$fs"
	printf -- '- load average at the start: %s\n' "$LOAD_START"
	printf -- '- load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	if awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l >= 1.0) }'; then
		printf -- '- **measured on a busy machine**: the load average above 1 at the start says other work (other\n'
		printf -- '  people'"'"'s builds and tests) shared the 2 vCPUs with the run; timings are noisy\n'
	fi
}
