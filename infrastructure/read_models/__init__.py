"""The read models: order detail, order list, kitchen tickets, order numbers, checkpoints.

``tables`` is the schema (created by Alembic revision ``0002_read_models``),
``views`` the shapes, ``handlers`` the projector's write side, ``queries`` the
read side the REST and Socket.IO layers call (``ReadModels``), ``engine`` the
SQLAlchemy engine they share.
"""

from infrastructure.read_models.engine import create_engine
from infrastructure.read_models.handlers import (
    KitchenProjection,
    OrderViewsProjection,
    Projection,
    default_projections,
)
from infrastructure.read_models.queries import (
    MAX_LIST_LIMIT,
    InvalidCursor,
    ReadModels,
    ReadSnapshot,
)
from infrastructure.read_models.views import OrderChange, TrackedOrder

__all__ = [
    "MAX_LIST_LIMIT",
    "InvalidCursor",
    "KitchenProjection",
    "OrderChange",
    "OrderViewsProjection",
    "Projection",
    "ReadModels",
    "ReadSnapshot",
    "TrackedOrder",
    "create_engine",
    "default_projections",
]
