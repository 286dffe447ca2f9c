"""``python -m socialcrm`` runs the command line."""

from socialcrm.cli import main

raise SystemExit(main())
