"""The rules engine: rules are data (TOML), compiled once, evaluated purely and explained; it never writes.

Acting on a verdict (tickets, drafts, tags, webhooks) is ``socialcrm.services.actions``.
"""
