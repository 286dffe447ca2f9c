"""Application services: the only code that changes CRM state; the CLI, daemon and web app call them."""
