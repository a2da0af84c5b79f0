#!/bin/sh
# check-layers.sh SRC - the layer rule, checked on every build (CMake runs it).
#
# Each folder of src/ is a layer and may include only its own headers and
# those of the layers it may depend on (the table below). An include of a
# layer above, or of a sibling not listed, fails the build with FILE:LINE
# and the rule it breaks. The layers are also CMake libraries that link
# only downward; this check makes an upward include, not only an upward
# call, an error. A folder of src/ missing from the table is an error too.
set -eu
src=${1:?usage: check-layers.sh SRC}

# layer: the layers it may include (besides itself)
rules='
rt:
http: rt
compress: rt http
cache: rt http compress
config: rt http compress
ops: rt http compress config
route: rt http compress cache config ops
backend: rt http compress cache config ops
serve: rt http compress cache config ops backend route
daemon: rt http compress cache config ops backend serve route
main: rt http compress cache config ops backend serve daemon route cli
cli: rt http compress config ops
origin: rt http compress
'

status=0
for d in "$src"/*/; do
	n=$(basename "$d")
	if ! printf '%s\n' "$rules" | grep -q "^$n:"; then
		echo "src/$n/: not a layer (add it to scripts/check-layers.sh)" >&2
		status=1
	fi
done

layers=$(printf '%s\n' "$rules" | sed -n 's/^\([a-z_]*\):.*/\1/p' | tr '\n' ' ')

# Every include that names a folder, in either form and through any ./ or
# ../ (src/ is on every layer's include path, so <serve/req.h> and
# "../serve/req.h" reach the same file as "serve/req.h"); folders that are
# not layers (<sys/...>, <llhttp/...>) are the system's.
check() { # FILE LAYER
	allowed=$(printf '%s\n' "$rules" | sed -n "s/^$2:[ ]*//p")
	awk '/^[ \t]*#[ \t]*include[ \t]*[<"]/ {
		t = $0
		sub(/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", t)
		while (t ~ /^\.\.?\//)
			sub(/^\.\.?\//, "", t)
		if (match(t, /^[a-z_0-9]+\//))
			print FNR, substr(t, 1, RLENGTH - 1)
	}' "$1" |
		while read -r line to; do
			[ "$to" = "$2" ] && continue
			case " $layers " in
			*" $to "*) ;;
			*) continue ;;
			esac
			case " $allowed " in
			*" $to "*) ;;
			*)
				echo "${1#"$src"/}:$line: layer '$2' may not include '$to/' (it may use: ${allowed:-nothing})" >&2
				echo bad
				;;
			esac
		done
}

bad=$(
	for d in "$src"/*/; do
		n=$(basename "$d")
		for f in "$d"*.c "$d"*.h; do
			[ -f "$f" ] && check "$f" "$n"
		done
	done
	[ -f "$src/main.c" ] && check "$src/main.c" main
	true
)
if [ -n "$bad" ] || [ $status -ne 0 ]; then
	echo "the layer rule is broken (scripts/check-layers.sh)" >&2
	exit 1
fi
