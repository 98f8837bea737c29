#!/usr/bin/env bash
# The TLS tests (test/e2e/tls.test.ts, the https:// gRPC service in grpc.test.ts) make throwaway
# self-signed certificates with openssl (node:crypto has no certificate generator); under CI they
# fail rather than skip without it. Debian's openssl, installed here when missing.
set -euo pipefail
if [ -x /usr/bin/openssl ] || [ -x /usr/local/bin/openssl ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
