"""socialcrm: a self-hosted Social-CRM listening and engagement daemon."""

__version__ = "0.1.0"
