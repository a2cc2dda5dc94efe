"""Data-set revisions: a counter every write to a data set's rows bumps.

``datasets.revision`` keys the matrix cache (``timbre.matrix_cache``): a command or page loads a
data set from its cached CSR and metadata while the revision it was cached at is still current.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("revision")
