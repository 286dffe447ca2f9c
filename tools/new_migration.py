"""Developer tool: autogenerate an Alembic revision by diffing the models against a scratch database.

Usage: python tools/new_migration.py "what changed"
The scratch SQLite database is brought to head first, so the new revision holds only the change.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from socialcrm.db import Database, alembic_config


def main() -> int:
    message = sys.argv[1] if len(sys.argv) > 1 else "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        db = Database(url)
        db.upgrade()
        with db.engine.begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.revision(cfg, message=message, autogenerate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
