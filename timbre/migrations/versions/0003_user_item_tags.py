"""Users' tags on items, with their time (so experiments can leave out held-out pairs' tags).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_item_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tag", sa.String(300), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("user_id", "item_id", "tag", name="uq_user_item_tags"),
    )
    op.create_index("ix_user_item_tags_item", "user_item_tags", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_user_item_tags_item", table_name="user_item_tags")
    op.drop_table("user_item_tags")
