"""``python -m socialcrm`` runs the command line."""

from socialcrm.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
