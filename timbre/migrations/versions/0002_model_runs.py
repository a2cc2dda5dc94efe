"""Model run registry and saved recommendations.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(50), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("artifact_path", sa.String(1000), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "saved_recommendations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("model_runs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("user_key", sa.String(300), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("item_key", sa.String(500), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("components", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("saved_recommendations")
    op.drop_table("model_runs")
