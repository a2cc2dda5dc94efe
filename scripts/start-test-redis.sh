#!/usr/bin/env bash
# Start a throwaway Redis server for the tests and print its URL on stdout.
# Usage: export TIMBRE_TEST_REDIS_URL=$(bash scripts/start-test-redis.sh)
# Listens on 127.0.0.1 and a free port only, keeps nothing on disk, and lives until the
# machine stops (or `redis-cli -p PORT shutdown nosave`).
set -euo pipefail
command -v redis-server >/dev/null 2>&1 \
  || { echo "start-test-redis: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
base=$(mktemp -d /tmp/timbre-redis.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --save "" --appendonly no \
  --dir "$base" --logfile "$base/redis.log" --pidfile "$base/redis.pid" >/dev/null
for _ in $(seq 1 50); do
  if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
    echo "redis://127.0.0.1:$port/0"
    exit 0
  fi
  sleep 0.1
done
cat "$base/redis.log" >&2
echo "start-test-redis: redis-server did not answer on port $port" >&2
exit 1
