"""ORM tables: accounts, channels, chat, OAuth2, EventSub, subscriptions and Bits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every StreamHub table."""


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(25), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(64))
    chat_color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    # profile (Helix users fields)
    description: Mapped[str] = mapped_column(String(300), default="", server_default="")
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    profile_image_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    banner_image_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    broadcaster_type: Mapped[str] = mapped_column(String(16), default="", server_default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    password_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class Category(Base):
    """A stream category (Helix calls them games)."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    igdb_id: Mapped[str] = mapped_column(String(20), default="", server_default="")
    box_art_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Channel(Base):
    __tablename__ = "channels"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(String(140), default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), nullable=True, index=True
    )
    tags: Mapped[str] = mapped_column(String(400), default="", server_default="")  # space-separated
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    is_mature: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    accent_color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    vacation_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    vacation_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ChannelPanel(Base):
    """An "about" panel under the player: title, plain text body, optional link and image."""

    __tablename__ = "channel_panels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(String(2000), default="")
    link_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    image_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SocialLink(Base):
    __tablename__ = "social_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))


class ScheduleSegment(Base):
    """A planned stream: one-off, or weekly recurring from start_time in its time zone."""

    __tablename__ = "schedule_segments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(140), default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), nullable=True
    )
    # canceled occurrences: their UTC start times, RFC 3339, space-separated
    canceled: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class StreamSession(Base):
    """One broadcast of a channel: a row while live (ended_at NULL), kept afterwards."""

    __tablename__ = "streams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(40))
    node: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(140), default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), nullable=True
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_streams_channel_ended", StreamSession.channel_id, StreamSession.ended_at)


class StreamKey(Base):
    __tablename__ = "stream_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.user_id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(80), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AccessToken(Base):
    """A bearer token (stored hashed); logs into chat and, later, the REST API."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # NULL for app access tokens (client-credentials flow)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    scopes: Mapped[str] = mapped_column(String(2000), default="")
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ChannelRole(Base):
    """A user's role in a channel: moderator, vip or editor (appointed by the broadcaster)."""

    __tablename__ = "channel_roles"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Follow(Base):
    __tablename__ = "follows"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    followed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class ChatBan(Base):
    """A ban (expires_at NULL) or timeout in a channel's chat."""

    __tablename__ = "chat_bans"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    moderator_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class ChatSettings(Base):
    """Room modes of a channel's chat."""

    __tablename__ = "chat_settings"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    slow: Mapped[int] = mapped_column(Integer, default=0)
    followers_only: Mapped[int] = mapped_column(Integer, default=-1)
    subs_only: Mapped[bool] = mapped_column(Boolean, default=False)
    emote_only: Mapped[bool] = mapped_column(Boolean, default=False)
    r9k: Mapped[bool] = mapped_column(Boolean, default=False)


class ModerationAction(Base):
    """The moderation log: who did what to whom, when and why."""

    __tablename__ = "moderation_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    moderator_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    details: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class ChatMessage(Base):
    """A chat message as sent (persisted asynchronously in batches)."""

    __tablename__ = "chat_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer)
    login: Mapped[str] = mapped_column(String(25))
    text: Mapped[str] = mapped_column(String(2000))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_chat_messages_channel_sent", ChatMessage.channel_id, ChatMessage.sent_at)


class BlockedTerm(Base):
    """A term a channel does not allow in its chat."""

    __tablename__ = "chat_blocked_terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(500))
    moderator_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class Emote(Base):
    """A chat emote: global (channel_id NULL) or a channel's, optionally for subscribers."""

    __tablename__ = "emotes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer, default=0)
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class OAuthApp(Base):
    """A registered OAuth2 application (client id, hashed secret, redirect URIs)."""

    __tablename__ = "oauth_apps"

    client_id: Mapped[str] = mapped_column(String(30), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[str] = mapped_column(String(2000), default="")  # space-separated
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


class OAuthCode(Base):
    """A one-time authorization code (stored hashed), valid for a few minutes."""

    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_apps.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scopes: Mapped[str] = mapped_column(String(2000), default="")
    redirect_uri: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RefreshToken(Base):
    """A refresh token (stored hashed); single use, rotated on every refresh."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_apps.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSession(Base):
    """A logged-in browser (cookie holds the id; stored hashed) with its CSRF token."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EventSubSubscription(Base):
    """An EventSub subscription (webhook or websocket transport)."""

    __tablename__ = "eventsub_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(8))
    condition: Mapped[str] = mapped_column(Text)  # JSON object of strings
    method: Mapped[str] = mapped_column(String(16))  # webhook | websocket
    callback: Mapped[str | None] = mapped_column(String(500), nullable=True)
    secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(48))
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


Index("ix_eventsub_subscriptions_type_status", EventSubSubscription.type,
      EventSubSubscription.status)


class EventSubDelivery(Base):
    """The outbox: one message to one webhook subscription, kept until delivered or given up."""

    __tablename__ = "eventsub_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("eventsub_subscriptions.id", ondelete="CASCADE"), index=True
    )
    message_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")


Index("ix_eventsub_outbox_pending", EventSubDelivery.delivered_at, EventSubDelivery.failed_at,
      EventSubDelivery.next_attempt_at)


class Raid(Base):
    """A raid from one live channel to another: pending until it goes or is canceled."""

    __tablename__ = "raids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    viewer_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # pending | done | canceled
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Subscription(Base):
    """A user's subscription to a channel (one row per pair, kept after it lapses).

    `seq` numbers a channel's subscribers in the order of their first subscription (the
    first 10 are founders); the subscription is active while `ends_at` is in the future.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("broadcaster_id", "seq", name="uq_subscriptions_seq"),)

    broadcaster_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    seq: Mapped[int] = mapped_column(Integer)
    tier: Mapped[int] = mapped_column(Integer)  # 1, 2 or 3 (plans 1000, 2000, 3000)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cumulative_months: Mapped[int] = mapped_column(Integer, default=1)
    streak_months: Mapped[int] = mapped_column(Integer, default=1)
    is_gift: Mapped[bool] = mapped_column(Boolean, default=False)
    gifter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    founder: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BitsBalance(Base):
    """A user's Bits (granted by a site admin until the money feature sells them)."""

    __tablename__ = "bits_balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="ck_bits_balances_nonnegative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    balance: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BitsCheered(Base):
    """How many Bits a user has cheered in a channel in all (the Bits badge, the leaderboard)."""

    __tablename__ = "bits_cheered"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    total: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


Index("ix_bits_cheered_channel_total", BitsCheered.channel_id, BitsCheered.total)
