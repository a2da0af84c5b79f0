#!/usr/bin/env bash
# Make a local debian:bookworm-slim base image for docker/Dockerfile on a
# machine with no Docker engine and no registry access, only Debian's
# mirror: installs podman, buildah and debootstrap if missing, bootstraps a
# minimal Debian 12 and imports it under the name the Dockerfile uses. Does
# nothing when the image is already there. Used by tests/docker/run.sh.
set -euo pipefail
image=docker.io/library/debian:bookworm-slim
need=()
for p in podman buildah debootstrap; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
if podman image exists "$image"; then
	echo "$image is there"
	exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" >/dev/null
tar -C "$root" -c . | podman import - "$image" >/dev/null
echo "$image built from Debian 12 (minbase)"
