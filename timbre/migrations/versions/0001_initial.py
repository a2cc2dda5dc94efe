"""Initial schema: data sets, users, items, interactions, tags, features, friends, logs, profiles.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FEATURES = (
    "danceability",
    "energy",
    "musical_key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "duration_ms",
    "popularity",
)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(500), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artist", sa.String(500), nullable=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("link_key", sa.String(1000), nullable=False, server_default=""),
        sa.Column("in_catalog", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("catalog_artist_key", sa.String(500), nullable=True),
        sa.Column("catalog_match", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("kind IN ('track', 'artist', 'album')", name="ck_items_kind"),
    )
    op.create_index("ix_items_link_key", "items", ["link_key"])
    op.create_index("ix_items_catalog_artist_key", "items", ["catalog_artist_key"])
    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event", sa.String(10), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.UniqueConstraint(
            "dataset_id", "user_id", "item_id", "event", "ts", name="uq_interactions_natural"
        ),
        sa.CheckConstraint(
            "event IN ('play', 'top', 'love', 'skip')", name="ck_interactions_event"
        ),
    )
    op.create_index("ix_interactions_item", "interactions", ["item_id"])
    op.create_index("ix_interactions_user", "interactions", ["user_id"])
    op.create_table(
        "item_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("tag", sa.String(300), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.UniqueConstraint("item_id", "kind", "tag", name="uq_item_tags"),
    )
    op.create_table(
        "item_features",
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
        ),
        *[sa.Column(name, sa.Float, nullable=True) for name in FEATURES],
    )
    op.create_table(
        "user_friends",
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "friend_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "fetch_logs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_key", sa.String(300), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("kinds", sa.String(300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_table(
        "personality_profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_key", sa.String(300), nullable=False, index=True),
        sa.Column("instrument", sa.String(50), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("percentiles", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "personality_profiles",
        "fetch_logs",
        "user_friends",
        "item_features",
        "item_tags",
        "interactions",
        "items",
        "users",
        "datasets",
    ):
        op.drop_table(table)
