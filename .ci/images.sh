#!/usr/bin/env bash
# Builds the two images with buildah (scripts/build-images.sh: a local Debian
# base with Node 24, no Docker engine) and runs test/e2e/images.test.ts
# against them: a tunnel between the server and agent containers, the
# HEALTHCHECK, the user, a clean SIGTERM. Needs the compiled tests (dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
export ADIT_IMAGE_TEST=1
node --test dist/test/e2e/images.test.js
