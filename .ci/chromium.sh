#!/usr/bin/env bash
# The inspector's browser tests drive Debian's chromium (playwright-core never
# downloads a browser). Installed here when missing; the tests skip, saying
# so, only when no binary exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
