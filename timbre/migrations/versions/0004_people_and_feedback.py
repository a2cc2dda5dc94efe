"""People and feedback: accounts linked to a person, and like / block events.

A person (``me``) may own several accounts (``lastfm:rj``, ``spotify:user:...``): ``person_links``
maps each linked account's user key to its person's key. Interactions gain the feedback events
``like`` and ``block`` (``skip`` already existed).

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_EVENTS = "event IN ('play', 'top', 'love', 'skip')"
NEW_EVENTS = "event IN ('play', 'top', 'love', 'skip', 'like', 'block')"


def _events(condition: str) -> None:
    with op.batch_alter_table("interactions", recreate="auto") as batch:
        batch.drop_constraint("ck_interactions_event", type_="check")
        batch.create_check_constraint("ck_interactions_event", condition)


def upgrade() -> None:
    op.create_table(
        "person_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_key", sa.String(300), nullable=False),
        sa.Column("user_key", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_key", name="uq_person_links_user"),
    )
    op.create_index("ix_person_links_person", "person_links", ["person_key"])
    _events(NEW_EVENTS)


def downgrade() -> None:
    op.execute("DELETE FROM interactions WHERE event IN ('like', 'block')")
    _events(OLD_EVENTS)
    op.drop_index("ix_person_links_person", table_name="person_links")
    op.drop_table("person_links")
