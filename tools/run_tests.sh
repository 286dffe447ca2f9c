#!/usr/bin/env bash
# Run the whole test suite. When Debian's PostgreSQL is installed and no server is configured, start a
# private one so the database tests run on SQLite AND PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOCIALCRM_TEST_DATABASE_URL:-}" ] && ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  SOCIALCRM_TEST_DATABASE_URL=$(tools/pg_test_server.sh)
  export SOCIALCRM_TEST_DATABASE_URL
  echo "PostgreSQL tests against $SOCIALCRM_TEST_DATABASE_URL"
fi
exec .venv/bin/python -m pytest "$@"
