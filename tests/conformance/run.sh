#!/usr/bin/env bash
# Run the HTTP cache test suite (http-cache-tests, https://cache-tests.fyi)
# against ringcache and print a summary next to the suite's published results.
#
#   tests/conformance/run.sh [--strict] [--id TEST_ID] [--suite DIR]
#
#   --strict       exit 1 when ringcache fails any "required" test
#                  (see tests/conformance/README.md for what counts)
#   --id TEST_ID   run one test only and print the requests/responses the
#                  suite saw (debugging); no summary, results file untouched
#   --suite DIR    run the suite in DIR (a checkout of
#                  github.com/http-tests/cache-tests, either layout: cli.mjs
#                  at the top as in 0.4.5, or test-engine/cli.mjs as now)
#                  instead of http-cache-tests@0.4.5 from npm; runs
#                  `npm install` in DIR first if DIR/node_modules is missing.
#                  Results go to CONFORMANCE_DIR/ringcache-suite.json
#
# Environment:
#   RINGCACHE_BIN    ringcache binary (default: build/ringcache in the repo)
#   CONFORMANCE_DIR  npm install + work directory (default: build/conformance)
#   NODE             node binary (default: node)
#   NPM              npm binary (default: npm)
#
# Needs the npm registry the first time (to install http-cache-tests, or the
# dependencies of a --suite checkout); not part of `make test`.
set -euo pipefail

SUITE_VERSION=0.4.5
START_TIMEOUT=20    # seconds to wait for each server's port
CLI_TIMEOUT=300     # seconds for the whole suite run
NPM_TIMEOUT=300     # seconds for npm install
STOP_TIMEOUT=15     # seconds for ringcache to drain and exit on SIGTERM

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# Resolve a path given relative to the caller's working directory.
abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/$1" ;;
    esac
}

if [[ -n ${RINGCACHE_BIN:-} ]]; then
    bin=$(abspath "$RINGCACHE_BIN")
else
    bin=$root/build/ringcache
fi
if [[ -n ${CONFORMANCE_DIR:-} ]]; then
    dir=$(abspath "$CONFORMANCE_DIR")
else
    dir=$root/build/conformance
fi
node=${NODE:-node}
npm=${NPM:-npm}

strict=0
test_id=
suite_dir=
while [[ $# -gt 0 ]]; do
    case $1 in
        --strict) strict=1 ;;
        --id) test_id=${2:?--id needs a test id}; shift ;;
        --id=*) test_id=${1#--id=} ;;
        --suite) suite_dir=${2:?--suite needs a directory}; shift ;;
        --suite=*) suite_dir=${1#--suite=} ;;
        -h | --help)
            sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[[ -x $bin ]] || die "ringcache binary not found: $bin (build it: cmake -S . -B build && cmake --build build --target ringcache, or set RINGCACHE_BIN)"
command -v "$node" >/dev/null || die "node not found"

# --- install the suite --------------------------------------------------------
mkdir -p "$dir"
if [[ -z $suite_dir ]]; then
    suite=$dir/node_modules/http-cache-tests
    installed=$("$node" -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
        "$suite/package.json" 2>/dev/null || true)
    if [[ $installed != "$SUITE_VERSION" ]]; then
        command -v "$npm" >/dev/null || die "npm not found"
        log "installing http-cache-tests@$SUITE_VERSION into $dir"
        timeout "$NPM_TIMEOUT" "$npm" install --prefix "$dir" --no-audit --no-fund \
            --loglevel=error "http-cache-tests@$SUITE_VERSION" >&2 ||
            die "npm install http-cache-tests@$SUITE_VERSION failed (needs the npm registry)"
    fi
    suite_label="http-cache-tests@$SUITE_VERSION"
    results=$dir/ringcache.json
    work=$dir/work
else
    [[ -d $suite_dir ]] || die "--suite: not a directory: $suite_dir"
    suite=$(cd "$suite_dir" && pwd)
    [[ -f $suite/tests/index.mjs ]] || die "--suite: $suite/tests/index.mjs missing (not a cache-tests checkout?)"
    if [[ ! -d $suite/node_modules ]]; then
        command -v "$npm" >/dev/null || die "npm not found"
        log "installing the dependencies of $suite (npm install)"
        (cd "$suite" && timeout "$NPM_TIMEOUT" "$npm" install --no-audit --no-fund --loglevel=error) >&2 ||
            die "npm install in $suite failed (needs the npm registry)"
    fi
    suite_label="the suite in $suite"
    commit=$(git -C "$suite" rev-parse --short HEAD 2>/dev/null || true)
    [[ -n $commit ]] && suite_label+=" (commit $commit)"
    results=$dir/ringcache-suite.json
    work=$dir/work-suite
fi
# The suite's engine: the top of the package in 0.4.5, test-engine/ since.
if [[ -f $suite/test-engine/cli.mjs ]]; then
    engine=$suite/test-engine
else
    engine=$suite
fi
[[ -f $engine/cli.mjs && -f $engine/server/server.mjs ]] ||
    die "suite not installed correctly: no cli.mjs and server/server.mjs in $engine"

# --- processes ------------------------------------------------------------------
mkdir -p "$work"
origin_pid=
proxy_pid=

stop() { # stop PID GRACE_SECONDS
    local pid=$1 grace=$2 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop "$proxy_pid" "$STOP_TIMEOUT"
    stop "$origin_pid" 5
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two distinct free ports (both are held open while being picked).
read -r origin_port proxy_port < <("$node" -e '
const net = require("net")
const a = net.createServer().listen(0, "127.0.0.1", () => {
  const b = net.createServer().listen(0, "127.0.0.1", () => {
    console.log(a.address().port, b.address().port)
    a.close(); b.close()
  })
})') || die "could not pick free ports"
[[ -n $origin_port && -n $proxy_port ]] || die "could not pick free ports"

wait_port() { # wait_port PORT PID NAME LOGFILE
    local port=$1 pid=$2 name=$3 logfile=$4 i
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening on 127.0.0.1:$port; its log ($logfile):"
            tail -n 20 "$logfile" >&2 || true
            exit 2
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    log "$name not listening on 127.0.0.1:$port after ${START_TIMEOUT}s; its log ($logfile):"
    tail -n 20 "$logfile" >&2 || true
    exit 2
}

# The suite's origin reads its settings from npm_config_* variables (it is
# normally started with `npm run server --port=N`); set them directly.
(
    cd "$suite"
    export npm_config_port=$origin_port npm_config_protocol=http \
        npm_config_pidfile=$work/origin.pid
    exec "$node" --no-warnings "$engine/server/server.mjs"
) >"$work/origin.log" 2>&1 &
origin_pid=$!

config=$work/ringcache.yaml
cat >"$config" <<EOF
listen: ["127.0.0.1:$proxy_port"]
threads: 2
backends:
  - name: app
    servers: ["127.0.0.1:$origin_port"]
cache:
  memory: 64MiB
log:
  level: warn
EOF
"$bin" -c "$config" >"$work/ringcache.log" 2>&1 &
proxy_pid=$!

wait_port "$origin_port" "$origin_pid" "test origin" "$work/origin.log"
wait_port "$proxy_port" "$proxy_pid" "ringcache" "$work/ringcache.log"
log "origin on 127.0.0.1:$origin_port, ringcache on 127.0.0.1:$proxy_port ($bin)"

# --- run the suite ----------------------------------------------------------------
# cli.mjs reads --base/--id from npm_config_* too, falling back to the
# package.json defaults (npm_package_config_*, id ''); outside npm an unset id
# means "one test with id undefined", so set the default explicitly.
# A --suite checkout also gets fetch-shim.mjs preloaded: the current client
# drives interim responses through its own undici, which an older node's
# built-in fetch cannot (see that file). The npm 0.4.5 run is left as it was.
cli_preload=()
[[ -n $suite_dir ]] && cli_preload=(--import "$here/fetch-shim.mjs")
run_cli() {
    (
        cd "$suite"
        export npm_config_base="http://127.0.0.1:$proxy_port" npm_config_id="$1" \
            npm_package_config_id='' CONFORMANCE_SUITE="$suite"
        exec timeout "$CLI_TIMEOUT" "$node" --no-warnings "${cli_preload[@]}" "$engine/cli.mjs"
    )
}

if [[ -n $test_id ]]; then
    run_cli "$test_id"
    exit 0
fi

started=$SECONDS
log "running $suite_label (takes about a minute)"
if ! run_cli "" >"$results.tmp" 2>"$work/cli.log"; then
    log "the suite did not finish within ${CLI_TIMEOUT}s or crashed; $work/cli.log:"
    tail -n 20 "$work/cli.log" >&2 || true
    exit 2
fi
if ! "$node" -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$results.tmp" 2>/dev/null; then
    log "the suite did not produce JSON results; $work/cli.log:"
    tail -n 20 "$work/cli.log" >&2 || true
    exit 2
fi
mv "$results.tmp" "$results"
log "suite finished in $((SECONDS - started))s; results in $results"

if ! kill -0 "$proxy_pid" 2>/dev/null; then
    log "warning: ringcache exited during the run; $work/ringcache.log:"
    tail -n 20 "$work/ringcache.log" >&2 || true
fi
cleanup
origin_pid=''
proxy_pid=''

summary_args=(--suite="$suite" --results="$results")
[[ $strict == 1 ]] && summary_args+=(--strict)
exec "$node" --no-warnings "$here/summary.mjs" "${summary_args[@]}"
