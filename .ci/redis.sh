#!/usr/bin/env bash
# Makes sure a Redis answers at REDIS_URL (default redis://127.0.0.1:6379)
# before the Redis contract suite runs. When something already answers there,
# it starts nothing (but installs the redis-server binary if absent: some tests run
# a private one). Otherwise it installs Debian's redis-server if absent and
# starts it daemonized on 127.0.0.1, without persistence (a test store), then
# waits — bounded — until `redis-cli ping` answers. Never stops any Redis.
set -euo pipefail

url="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${url#*://}"          # drop scheme
hostport="${hostport##*@}"      # drop credentials
hostport="${hostport%%/*}"      # drop /db
host="${hostport%:*}"
port="${hostport##*:}"
[ "$port" = "$hostport" ] && port=6379
host="${host#[}"; host="${host%]}"   # [::1] → ::1
[ -n "$host" ] || host=127.0.0.1
wait_seconds="${REDIS_WAIT_SECONDS:-20}"

# Anything listening counts (even a Redis that wants a password): never start
# a second server on a port that is taken.
answers() {
  timeout 2 bash -c "exec 3<>'/dev/tcp/$host/$port'" 2>/dev/null
}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# The binary is needed even when a Redis answers: the soak, redis-empty and the cluster restart test
# each start a redis-server of their own on a port of their own, and restart it.
install_binary() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server (Debian package)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
  fi
}

if answers; then
  echo "redis.sh: something already answers at $host:$port; not starting one"
  install_binary
  exit 0
fi

case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "redis.sh: nothing answers at $host:$port and it is not local; refusing to start one" >&2; exit 1 ;;
esac

install_binary

echo "redis.sh: starting redis-server on 127.0.0.1:$port (no persistence)"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" \
  --save '' --appendonly no --dir /tmp \
  --logfile "/tmp/adit-redis-$port.log" --pidfile "/tmp/adit-redis-$port.pid"

for _ in $(seq 1 $((wait_seconds * 10))); do
  if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
    echo "redis.sh: redis answers at 127.0.0.1:$port"
    exit 0
  fi
  sleep 0.1
done
echo "redis.sh: redis did not answer within ${wait_seconds}s; see /tmp/adit-redis-$port.log" >&2
exit 1
