#!/usr/bin/env bash
# Developer tool, only until the first release: rebuild the single initial migration from the models.
# After a release has shipped, never rewrite it: add a revision with tools/new_migration.py instead.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f socialcrm/migrations/versions/*_initial_schema.py
.venv/bin/python tools/new_migration.py "initial schema"
