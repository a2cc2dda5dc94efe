#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests and print its SQLAlchemy URL on stdout.
# Usage: export TIMBRE_TEST_POSTGRES_URL=$(bash scripts/start-test-postgres.sh)
# Runs the server as the 'postgres' user (initdb refuses root) on 127.0.0.1 and a free port,
# with its data and socket in a temp folder; the server lives until the machine stops.
set -euo pipefail
bindir=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/initdb" ] && bindir=$dir
done
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
  bindir=$(dirname "$(readlink -f "$(command -v initdb)")")
fi
[ -n "$bindir" ] || { echo "start-test-postgres: PostgreSQL server binaries not found" >&2; exit 1; }

run_as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /nonexistent postgres
  run_as=(runuser -u postgres --)
fi
base=$(mktemp -d /tmp/timbre-pg.XXXXXX)
chmod 755 "$base"
[ "$(id -u)" = 0 ] && chown postgres "$base"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${run_as[@]}" "$bindir/initdb" -D "$base/data" -U timbre --auth=trust -E UTF8 >"$base/initdb.log" 2>&1 \
  || { cat "$base/initdb.log" >&2; exit 1; }
"${run_as[@]}" "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $base -c fsync=off -c full_page_writes=off" \
  start >/dev/null || { cat "$base/server.log" >&2; exit 1; }
"${run_as[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U timbre -d postgres -q \
  -c "CREATE DATABASE timbre_test" >/dev/null
echo "postgresql+psycopg://timbre@127.0.0.1:$port/timbre_test"
