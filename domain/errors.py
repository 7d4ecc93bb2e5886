"""Domain errors: why a command was refused.

Every error carries a stable ``code`` (snake_case, names the rule; clients and
tests match on it, so never rename one) and a human ``message`` that names the
rule and, where there is one, what to do instead. The four kinds tell the HTTP
layer how to answer; the mapping lives there, not here:

- ``OrderNotFound`` / ``ItemNotFound``: 404
- ``RuleViolation``: 409 (the command is well formed but the order's state forbids it)
- ``InvalidCommand``: 422 (the command is malformed whatever the state)
"""

from __future__ import annotations


class DomainError(Exception):
    """A refused command: nothing was decided, nothing is appended."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class OrderNotFound(DomainError):
    def __init__(self, order_id: str, message: str | None = None) -> None:
        super().__init__("order_not_found", message or f"order {order_id!r} does not exist")
        self.order_id = order_id


class ItemNotFound(DomainError):
    def __init__(self, order_id: str, item_id: str) -> None:
        super().__init__("item_not_found", f"order {order_id!r} has no item {item_id!r}")
        self.order_id = order_id
        self.item_id = item_id


class RuleViolation(DomainError):
    """The order's current state forbids the command."""


class InvalidCommand(DomainError):
    """The command itself is malformed; ``field`` names the offending field when there is one."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field
