"""Alembic migrations of the order service's database (the events table is append-only).

A package so the scripts ship with the distribution; ``infrastructure.migrations`` points
Alembic's ``script_location`` at this directory, so they run from any working directory.
"""
