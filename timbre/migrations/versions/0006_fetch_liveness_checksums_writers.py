"""Fetch logs that say who runs them, model artifact checksums, and a record of long writes.

``fetch_logs`` gains ``pid``, ``host`` and ``updated_at`` (a fetch writes its row as ``running``
when it starts; a row whose process is gone is shown as ``interrupted``) and a wider ``status``
(``interrupted`` has 11 characters); ``model_runs`` gains ``checksum`` (SHA-256 of the artifact);
``store_writers`` records the long write in progress (which process, doing what), so that a
process that finds the database busy can say so.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_logs") as batch:
        batch.alter_column(
            "status", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False
        )
        batch.add_column(sa.Column("pid", sa.Integer, nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("checksum", sa.String(64), nullable=True))
    op.create_table(
        "store_writers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("operation", sa.String(300), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_writers")
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("checksum")
    with op.batch_alter_table("fetch_logs") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("host")
        batch.drop_column("pid")
        batch.alter_column(
            "status", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False
        )
