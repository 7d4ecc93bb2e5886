"""The operator's tools on the event log: rebuild, inspect, audit, export and verify.

Everything here works on an SQLite store file, beside (or without) a running server, and
never pushes anything to live screens. The CLI (``interfaces/cli_ops``) is a thin layer
over these modules; ``docs/operations.md`` is the operator's guide.
"""
