"""The JSON API under /api/v1 (bearer tokens; a logged-in browser session with its CSRF header works too)."""
