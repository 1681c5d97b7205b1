"""Chat: access tokens, channel roles, follows, bans, room settings, moderation log, messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _user_fk(name: str, *, pk: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=pk, nullable=False,
    )


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("chat_color", sa.String(7), nullable=True))
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _user_fk("user_id"),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False, server_default=""),
        sa.Column("client_id", sa.String(64), nullable=True),
        _now("created_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_access_tokens_token_hash", "access_tokens", ["token_hash"], unique=True)
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "channel_roles",
        _user_fk("channel_id", pk=True),
        _user_fk("user_id", pk=True),
        sa.Column("role", sa.String(16), primary_key=True),
        _now("created_at"),
    )
    op.create_table(
        "follows",
        _user_fk("user_id", pk=True),
        _user_fk("channel_id", pk=True),
        _now("followed_at"),
    )
    op.create_index("ix_follows_channel_id", "follows", ["channel_id"])
    op.create_table(
        "chat_bans",
        _user_fk("channel_id", pk=True),
        _user_fk("user_id", pk=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        _now("created_at"),
    )
    op.create_table(
        "chat_settings",
        _user_fk("channel_id", pk=True),
        sa.Column("slow", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("followers_only", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("subs_only", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("emote_only", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("r9k", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "moderation_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _user_fk("channel_id"),
        sa.Column("moderator_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("target_message_id", sa.String(36), nullable=True),
        sa.Column("details", sa.String(500), nullable=False, server_default=""),
        _now("created_at"),
    )
    op.create_index("ix_moderation_log_channel_id", "moderation_log", ["channel_id"])
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        _user_fk("channel_id"),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(25), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_chat_messages_channel_sent", "chat_messages", ["channel_id", "sent_at"])


def downgrade() -> None:
    for table in ("chat_messages", "moderation_log", "chat_settings", "chat_bans", "follows",
                  "channel_roles", "access_tokens"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("chat_color")
