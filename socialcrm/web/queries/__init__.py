"""Read-only queries the pages need beyond what the services offer; nothing here writes."""
