"""Read models: order views, kitchen tickets, order numbers and counters, checkpoints.

Everything here is rebuildable from the events (truncate + replay); the tables mirror
``infrastructure.read_models.tables`` (kept literal so this revision never changes
when the models do).

Revision ID: 0002_read_models
Revises: 0001_event_store
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_read_models"
down_revision: str | Sequence[str] | None = "0001_event_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_views",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("business_day", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("order_type", sa.String, nullable=False),
        sa.Column("table_number", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_position", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("view", sa.Text, nullable=False),
    )
    op.create_index("ix_order_views_status_created", "order_views", ["status", "created_position"])
    op.create_index(
        "ix_order_views_type_created", "order_views", ["order_type", "created_position"]
    )
    op.create_index(
        "ix_order_views_table_created", "order_views", ["table_number", "created_position"]
    )
    op.create_index("ix_order_views_created_at", "order_views", ["created_at"])
    op.create_index("ix_order_views_day_number", "order_views", ["business_day", "number"])
    op.create_index(
        "ux_order_views_created_position", "order_views", ["created_position"], unique=True
    )

    op.create_table(
        "kitchen_tickets",
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("order_type", sa.String, nullable=False),
        sa.Column("table_number", sa.Integer, nullable=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("notes", sa.String, nullable=True),
        sa.Column("sent_at", _TS, nullable=False),
        sa.Column("sent_position", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_kitchen_tickets_sent_position", "kitchen_tickets", ["sent_position"])

    op.create_table(
        "kitchen_ticket_items",
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("item_id", sa.String, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("modifiers", sa.Text, nullable=False),
        sa.Column("notes", sa.String, nullable=True),
        sa.Column("station", sa.String, nullable=True),
        sa.Column("status", sa.String, nullable=False),
    )
    op.create_index(
        "ix_kitchen_ticket_items_station", "kitchen_ticket_items", ["station", "status"]
    )
    op.create_index(
        "ix_kitchen_ticket_items_order_seq", "kitchen_ticket_items", ["order_id", "seq"]
    )

    op.create_table(
        "order_number_counters",
        sa.Column("business_day", sa.String, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False),
    )

    op.create_table(
        "order_numbers",
        sa.Column("order_id", sa.String, primary_key=True),
        sa.Column("business_day", sa.String, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
    )
    op.create_index(
        "ux_order_numbers_day_number", "order_numbers", ["business_day", "number"], unique=True
    )

    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("projection_checkpoints")
    op.drop_table("order_numbers")
    op.drop_table("order_number_counters")
    op.drop_table("kitchen_ticket_items")
    op.drop_table("kitchen_tickets")
    op.drop_table("order_views")
