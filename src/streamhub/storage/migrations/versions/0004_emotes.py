"""Channel emotes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emotes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("channel_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_emotes_channel_id", "emotes", ["channel_id"])


def downgrade() -> None:
    op.drop_table("emotes")
