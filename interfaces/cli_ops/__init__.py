"""The operator's sub-commands of ``order-service`` (``docs/operations.md``).

One module per command group (``projections``, ``events``, ``orders``, ``store``), each a
typer app registered in ``interfaces.cli``; ``output`` holds what they share (exit codes,
``--json``, progress bars). The work itself is in ``infrastructure.replay``.
"""
