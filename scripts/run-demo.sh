#!/bin/sh
# Start the demo origin on 127.0.0.1:9000 and ringcache on 127.0.0.1:8080
# (conf/ringcache.yaml) in the foreground; Ctrl-C stops both.
set -eu
BUILD=${1:-build}
"$BUILD/ringcache-origin" -l 127.0.0.1:9000 &
ORIGIN=$!
trap 'kill $ORIGIN 2>/dev/null; wait $ORIGIN 2>/dev/null || true' EXIT INT TERM
echo "demo origin on http://127.0.0.1:9000/ ; ringcache on http://127.0.0.1:8080/" >&2
echo "try: curl -i 'http://127.0.0.1:8080/?size=100&cc=max-age%3D60'" >&2
"$BUILD/ringcache" -c conf/ringcache.yaml
