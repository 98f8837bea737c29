#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at 127.0.0.1:5432 for user postgres with
# trust auth (the TCP tunnel test, test/e2e/tcp-postgres.test.ts, reaches it
# through `adit tcp` + `adit connect`). When one already answers, it does
# nothing. Otherwise it installs Debian's postgresql if absent and starts a
# throwaway cluster (trust auth, 127.0.0.1 only, data under /tmp), then
# waits — bounded — until pg_isready says yes. Idempotent; never stops any
# PostgreSQL.
set -euo pipefail

host=127.0.0.1
port="${PGPORT_TEST:-5432}"
wait_seconds="${PG_WAIT_SECONDS:-30}"
data="/tmp/adit-pg-$port"
log="/tmp/adit-pg-$port.log"

ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port" -t 2; }
trusted() { psql -h "$host" -p "$port" -U postgres -w -Atqc 'select 1' >/dev/null 2>&1; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if ready; then
  if trusted; then
    echo "postgres.sh: PostgreSQL answers at $host:$port for user postgres; nothing to do"
    exit 0
  fi
  echo "postgres.sh: a PostgreSQL answers at $host:$port but refuses user postgres without a password; the test needs trust auth for it" >&2
  exit 1
fi

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(bindir)" ] || ! command -v psql >/dev/null 2>&1; then
  echo "postgres.sh: installing postgresql (Debian package)"
  # No cluster of the package's own: this script makes its own, with trust auth.
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/adit-ci.conf >/dev/null
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
fi
bin="$(bindir)"
[ -n "$bin" ] || { echo "postgres.sh: no /usr/lib/postgresql/*/bin after install" >&2; exit 1; }

# initdb and postgres refuse to run as root: run them as the postgres user the package created.
as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"
  fi
}

if [ ! -f "$data/PG_VERSION" ]; then
  echo "postgres.sh: creating a cluster in $data (trust auth)"
  $sudo mkdir -p "$data"
  $sudo chown postgres:postgres "$data"
  as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
$sudo touch "$log"
$sudo chown postgres:postgres "$log"
echo "postgres.sh: starting PostgreSQL on $host:$port"
as_pg "$bin/pg_ctl" -D "$data" -l "$log" -o "-c listen_addresses=$host -p $port -c unix_socket_directories=/tmp -c fsync=off" start >/dev/null || true

for _ in $(seq 1 $((wait_seconds * 10))); do
  if ready && trusted; then
    echo "postgres.sh: PostgreSQL answers at $host:$port"
    exit 0
  fi
  sleep 0.1
done
echo "postgres.sh: PostgreSQL did not answer within ${wait_seconds}s; see $log" >&2
exit 1
