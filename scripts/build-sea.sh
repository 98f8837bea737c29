#!/usr/bin/env bash
# Builds the agent as a Node single executable application (SEA): one binary,
# dist/sea/adit-agent, that needs no Node installed on the target.
#
#   npm run build && scripts/build-sea.sh
#
# Steps:
#   1. esbuild bundles the compiled agent into one CommonJS file
#      (Node 20's SEA runs a single CommonJS script; ESM mains came later);
#   2. `node --experimental-sea-config` turns it into a preparation blob;
#   3. the blob is injected into a copy of the running node binary with
#      postject.
#
# postject is not a dependency of this project. The script uses
# node_modules/.bin/postject when present, otherwise `npx --yes postject`
# (which needs the npm registry). SEA_SKIP_INJECT=1 stops after step 2, so
# steps 1-2 can be checked offline.
#
# The binary is for the OS and CPU of the node that runs this script. On macOS
# the copied binary's signature is removed first and it is re-signed ad hoc
# afterwards (codesign); Windows is not handled here.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out_dir=${SEA_OUT_DIR:-dist/sea}
name=${SEA_NAME:-adit-agent}
entry=${SEA_ENTRY:-}
# The binary is a copy of this node: SEA_NODE=/path/to/node (Node 24 LTS is the target).
node_bin=${SEA_NODE:-$(command -v node)}

die() {
  printf 'build-sea: %s\n' "$*" >&2
  exit 1
}

if [[ -z "$entry" ]]; then
  for candidate in dist/src/agent-main.js dist/src/agent/main.js dist/src/bin.js; do
    if [[ -f "$candidate" ]]; then entry=$candidate; break; fi
  done
fi
[[ -n "$entry" && -f "$entry" ]] || die "no compiled agent entry in dist/: run \`npm run build\` first"

node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "node $node_major has no single executable applications; use Node >= 20"

mkdir -p "$out_dir"
main_cjs="$out_dir/$name.cjs"
blob="$out_dir/$name.blob"
config="$out_dir/sea-config.json"
exe="$out_dir/$name"

# 1. One CommonJS file. import.meta.url does not exist in CommonJS: it is
#    replaced by the file URL of the script (inside a SEA, the executable).
#    Inside a SEA require() loads only built-ins and prints a warning for any
#    other name, so ws's optional native accelerators are replaced by a stub
#    that throws (scripts/sea-no-native.cjs): ws uses its JavaScript fallback
#    and a normal run prints no warning. Node 24 is the target.
node_modules/.bin/esbuild "$entry" \
  --bundle --platform=node --format=cjs --target=node24 \
  --alias:bufferutil=./scripts/sea-no-native.cjs --alias:utf-8-validate=./scripts/sea-no-native.cjs \
  --define:import.meta.url=__adit_import_meta_url \
  "--banner:js=var __adit_import_meta_url = require('node:url').pathToFileURL(__filename).href;" \
  --legal-comments=eof --log-level=warning \
  --outfile="$main_cjs"

# 2. Preparation blob.
cat >"$config" <<EOF
{
  "main": "$main_cjs",
  "output": "$blob",
  "disableExperimentalSEAWarning": true
}
EOF
"$node_bin" --experimental-sea-config "$config"

if [[ "${SEA_SKIP_INJECT:-0}" == 1 ]]; then
  printf 'build-sea: %s and %s written; injection skipped (SEA_SKIP_INJECT=1)\n' "$main_cjs" "$blob"
  exit 0
fi

# 3. Inject into a copy of node.
if [[ -x node_modules/.bin/postject ]]; then
  postject=(node_modules/.bin/postject)
else
  postject=(npx --yes postject)
fi
cp "$node_bin" "$exe"
chmod u+w "$exe"
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
case "$(uname -s)" in
  Darwin)
    codesign --remove-signature "$exe"
    "${postject[@]}" "$exe" NODE_SEA_BLOB "$blob" --sentinel-fuse "$fuse" --macho-segment-name NODE_SEA
    codesign --sign - "$exe"
    ;;
  *)
    "${postject[@]}" "$exe" NODE_SEA_BLOB "$blob" --sentinel-fuse "$fuse"
    ;;
esac
printf 'build-sea: %s (run: %s agent --help)\n' "$exe" "$exe"
