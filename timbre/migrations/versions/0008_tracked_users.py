"""Which users are tracked: ``users.tracked`` marks the accounts fetched from a live source (or
added to be fetched), so that a name taken from a file (a Last.fm CSV export's user name, which
may be invented) is not queried on Last.fm by a bulk fetch.

Existing users are tracked when a fetch ran for them, and Last.fm users (``lastfm:``) also when
they have no interactions yet (added, not fetched) or some outside a Last.fm CSV export's data
set (``lastfm-export``).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN, not a batch copy: on SQLite a batch rebuilds ``users``, and dropping
    # the old table would cascade to every interaction
    op.add_column(
        "users", sa.Column("tracked", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.execute(
        """
        UPDATE users SET tracked = TRUE
        WHERE EXISTS (SELECT 1 FROM fetch_logs f WHERE f.user_key = users.key)
           OR (users.key LIKE 'lastfm:%' AND (
                NOT EXISTS (SELECT 1 FROM interactions i WHERE i.user_id = users.id)
                OR EXISTS (
                    SELECT 1 FROM interactions i JOIN datasets d ON d.id = i.dataset_id
                    WHERE i.user_id = users.id AND d.source <> 'lastfm-export')))
        """
    )


def downgrade() -> None:
    op.drop_column("users", "tracked")
