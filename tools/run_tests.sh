#!/usr/bin/env bash
# Run the whole test suite (arguments go to pytest). Unless SOCIALCRM_TEST_DATABASE_URL names a server,
# start a private PostgreSQL server for this run alone (own folder, free port) when Debian's postgresql
# is installed, so the database tests run on SQLite AND PostgreSQL; stop it and remove its folder when
# the run ends, fails or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SOCIALCRM_TEST_DATABASE_URL:-}" ] && ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  PGTEST_DIR=$(mktemp -d /tmp/socialcrm-pgtest.XXXXXX)
  trap 'tools/pg_test_server.sh stop "$PGTEST_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  SOCIALCRM_TEST_DATABASE_URL=$(PGTEST_DIR=$PGTEST_DIR PGTEST_PORT='' tools/pg_test_server.sh)
  export SOCIALCRM_TEST_DATABASE_URL
  echo "PostgreSQL tests against $SOCIALCRM_TEST_DATABASE_URL (server in $PGTEST_DIR, stopped at the end)"
fi
# Not exec: the traps above must run after pytest.
.venv/bin/python -m pytest "$@"
