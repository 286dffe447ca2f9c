"""The web app: server-rendered pages for people, a JSON API under /api/v1 for machines."""
