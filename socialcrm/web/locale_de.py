"""German UI texts, keyed by the English text."""

CATALOGUE: dict[str, str] = {}
