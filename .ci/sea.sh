#!/usr/bin/env bash
# Builds the agent's single executable (scripts/build-sea.sh, postject
# injection included) from Node 24 LTS, the target, and runs it:
# test/e2e/sea-binary.test.ts (no SEA warning, a tunnel that answers). The
# Node 24 binary is the one .ci/node24.sh fetched (or NODE24_HOME). Needs the
# compiled tests (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
home="${NODE24_HOME:-.ci/cache/node24/package}"
[ -x "$home/bin/node" ] || { echo "sea.sh: no Node 24 at $home/bin/node (run .ci/node24.sh first or set NODE24_HOME)" >&2; exit 1; }
export SEA_NODE
SEA_NODE=$(cd "$home" && pwd)/bin/node
export ADIT_SEA_TEST=1
node --test dist/test/e2e/sea-binary.test.js
