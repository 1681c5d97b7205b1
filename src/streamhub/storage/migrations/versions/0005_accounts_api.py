"""Profiles, categories, panels, schedule, stream sessions, OAuth2, web sessions, EventSub, raids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _now() -> sa.Column[Any]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                     nullable=False)


def _channel_fk(name: str = "channel_id") -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                     nullable=False)


SEED_CATEGORIES = (
    ("Just Chatting", ""), ("Music", ""), ("Art", ""), ("Software and Game Development", ""),
    ("Science & Technology", ""), ("Talk Shows & Podcasts", ""), ("Sports", ""),
    ("Travel & Outdoors", ""), ("Food & Drink", ""), ("Makers & Crafting", ""),
    ("Fitness & Health", ""), ("ASMR", ""), ("Special Events", ""), ("Politics", ""),
    ("Beauty & Body Art", ""), ("Animals, Aquariums, and Zoos", ""),
    ("Pools, Hot Tubs, and Beaches", ""),
    ("Retro", ""), ("Chess", ""), ("Games + Demos", ""), ("Minecraft", "121"),
    ("League of Legends", "115"), ("Grand Theft Auto V", "1020"), ("Fortnite", "1905"),
    ("Counter-Strike", ""), ("VALORANT", ""), ("Dota 2", ""), ("World of Warcraft", ""),
    ("Apex Legends", ""), ("Call of Duty: Warzone", ""), ("Overwatch 2", ""),
    ("Rocket League", ""), ("Dead by Daylight", ""), ("EA Sports FC 24", ""),
    ("Hearthstone", ""), ("Teamfight Tactics", ""), ("Stardew Valley", ""),
    ("The Legend of Zelda: Tears of the Kingdom", ""), ("Elden Ring", ""), ("Terraria", ""),
    ("Factorio", ""), ("Old School RuneScape", ""), ("Escape from Tarkov", ""),
    ("Super Mario 64", ""), ("Rust", ""),
)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("description", sa.String(300), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("profile_image_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("banner_image_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("broadcaster_type", sa.String(16), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("is_admin", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True),
                                   nullable=True))

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("igdb_id", sa.String(20), nullable=False, server_default=""),
        sa.Column("box_art_key", sa.String(200), nullable=True),
    )

    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("category_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tags", sa.String(400), nullable=False, server_default=""))
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="en"))
        batch.add_column(sa.Column("is_mature", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("accent_color", sa.String(7), nullable=True))
        batch.add_column(sa.Column("vacation_start", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("vacation_end", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_channels_category_id", "categories", ["category_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index("ix_channels_category_id", ["category_id"])

    with op.batch_alter_table("access_tokens") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)

    op.create_table(
        "channel_panels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _channel_fk(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("body", sa.String(2000), nullable=False),
        sa.Column("link_url", sa.String(500), nullable=True),
        sa.Column("image_key", sa.String(200), nullable=True),
    )
    op.create_index("ix_channel_panels_channel_id", "channel_panels", ["channel_id"])

    op.create_table(
        "social_links",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _channel_fk(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
    )
    op.create_index("ix_social_links_channel_id", "social_links", ["channel_id"])

    op.create_table(
        "schedule_segments",
        sa.Column("id", sa.String(36), primary_key=True),
        _channel_fk(),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("is_recurring", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(140), nullable=False),
        sa.Column("category_id", sa.Integer(),
                  sa.ForeignKey("categories.id", ondelete="SET NULL"), nullable=True),
        sa.Column("canceled", sa.Text(), nullable=False),
        _now(),
    )
    op.create_index("ix_schedule_segments_channel_id", "schedule_segments", ["channel_id"])

    op.create_table(
        "streams",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _channel_fk(),
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("title", sa.String(140), nullable=False),
        sa.Column("category_id", sa.Integer(),
                  sa.ForeignKey("categories.id", ondelete="SET NULL"), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
    )
    op.create_index("ix_streams_channel_ended", "streams", ["channel_id", "ended_at"])

    op.create_table(
        "oauth_apps",
        sa.Column("client_id", sa.String(30), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("client_secret_hash", sa.String(64), nullable=False),
        sa.Column("redirect_uris", sa.String(2000), nullable=False),
        _now(),
    )
    op.create_index("ix_oauth_apps_owner_id", "oauth_apps", ["owner_id"])

    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(30),
                  sa.ForeignKey("oauth_apps.client_id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_oauth_codes_client_id", "oauth_codes", ["client_id"])

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(30),
                  sa.ForeignKey("oauth_apps.client_id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("scopes", sa.String(2000), nullable=False),
        _now(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_refresh_tokens_client_id", "refresh_tokens", ["client_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])

    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _now(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])

    op.create_table(
        "eventsub_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("version", sa.String(8), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("callback", sa.String(500), nullable=True),
        sa.Column("secret", sa.String(100), nullable=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(48), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _now(),
    )
    op.create_index("ix_eventsub_subscriptions_session_id", "eventsub_subscriptions",
                    ["session_id"])
    op.create_index("ix_eventsub_subscriptions_client_id", "eventsub_subscriptions",
                    ["client_id"])
    op.create_index("ix_eventsub_subscriptions_type_status", "eventsub_subscriptions",
                    ["type", "status"])

    op.create_table(
        "eventsub_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subscription_id", sa.String(36),
                  sa.ForeignKey("eventsub_subscriptions.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _now(),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=False),
    )
    op.create_index("ix_eventsub_outbox_subscription_id", "eventsub_outbox",
                    ["subscription_id"])
    op.create_index("ix_eventsub_outbox_pending", "eventsub_outbox",
                    ["delivered_at", "failed_at", "next_attempt_at"])

    op.create_table(
        "raids",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("from_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("to_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("viewer_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _now(),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_raids_from_id", "raids", ["from_id"])

    # A useful default list of categories (names and IGDB ids where known).
    categories = sa.table("categories", sa.column("name", sa.String()),
                          sa.column("igdb_id", sa.String()))
    op.bulk_insert(categories, [{"name": name, "igdb_id": igdb}
                                for name, igdb in SEED_CATEGORIES])


def downgrade() -> None:
    for table in ("raids", "eventsub_outbox", "eventsub_subscriptions", "web_sessions",
                  "refresh_tokens", "oauth_codes", "oauth_apps", "streams", "schedule_segments",
                  "social_links", "channel_panels"):
        op.drop_table(table)
    with op.batch_alter_table("access_tokens") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("channels") as batch:
        batch.drop_index("ix_channels_category_id")
        batch.drop_constraint("fk_channels_category_id", type_="foreignkey")
        for col in ("vacation_end", "vacation_start", "accent_color", "is_mature", "language",
                    "tags", "category_id"):
            batch.drop_column(col)
    op.drop_table("categories")
    with op.batch_alter_table("users") as batch:
        for col in ("password_changed_at", "is_admin", "broadcaster_type", "banner_image_key",
                    "profile_image_key", "email", "description"):
            batch.drop_column(col)
