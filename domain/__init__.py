"""The pure order model: commands, events, decisions and the ports it needs.

Standard library only; no I/O. Adapters live in ``infrastructure``.
"""
