"""Demo scenarios, posted through the ingest HTTP API like any reporter's."""
