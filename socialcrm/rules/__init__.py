"""The rules engine: rules are data (TOML), compiled once, evaluated purely, applied idempotently."""
