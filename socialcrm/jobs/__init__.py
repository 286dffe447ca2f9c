"""Work as Procrastinate jobs on PostgreSQL: polls, outbox sends, housekeeping, run by any number of workers."""
