"""The repository layer: every SQL statement over calls, export requests and accounts."""
