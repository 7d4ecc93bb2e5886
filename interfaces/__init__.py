"""Adapters that face the outside: the REST API, the CLI and the composition root (``app``)."""
