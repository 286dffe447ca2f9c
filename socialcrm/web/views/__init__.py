"""Page handlers, one module per area; each exposes ``routes`` (an aiohttp RouteTableDef)."""
