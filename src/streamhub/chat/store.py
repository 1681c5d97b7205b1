"""Chat persistence: room snapshots, bans, modes, roles, moderation log, batched messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import (
    BlockedTerm,
    ChannelRole,
    ChatBan,
    ChatMessage,
    ChatSettings,
    Emote,
    Follow,
    ModerationAction,
    User,
)
from streamhub.utc import aware


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return aware(value).timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class ChatterIdentity:
    """A user as chat shows them."""

    id: int
    login: str
    display_name: str
    color: str | None


@dataclass(frozen=True, slots=True)
class EmoteInfo:
    id: str
    code: str
    channel_id: int | None
    tier: int  # 0: everyone; 1..3: subscribers of at least that tier
    format: str
    width: int
    height: int

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.code, "tier": self.tier, "format": self.format,
                "width": self.width, "height": self.height, "url": f"/emotes/{self.id}",
                "channel_id": self.channel_id}


def _emote(row: Emote) -> EmoteInfo:
    return EmoteInfo(row.id, row.code, row.channel_id, row.tier, row.format, row.width,
                     row.height)


@dataclass(slots=True)
class RoomSnapshot:
    """Everything a node needs to enforce a room's rules, loaded when the room opens."""

    channel: ChatterIdentity
    slow: int = 0
    followers_only: int = -1
    subs_only: bool = False
    emote_only: bool = False
    r9k: bool = False
    bans: dict[int, float | None] = field(default_factory=dict)  # user id -> expiry (None: ban)
    moderators: set[int] = field(default_factory=set)
    vips: set[int] = field(default_factory=set)
    blocked_terms: set[str] = field(default_factory=set)
    emotes: dict[str, EmoteInfo] = field(default_factory=dict)  # code -> emote


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    channel_id: int
    user_id: int
    login: str
    text: str
    sent_at: float


class ChatStore:
    """Database side of chat; message inserts are batched by a background writer."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        logger: logging.Logger | None = None,
        batch_size: int = 500,
        batch_interval: float = 0.05,
    ) -> None:
        self._sessions = sessions
        self._log = logger or logging.getLogger(__name__)
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._queue: asyncio.Queue[tuple[StoredMessage, asyncio.Future[None]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    # ---- lookups ----

    async def user_by_login(self, login: str) -> ChatterIdentity | None:
        async with self._sessions() as s:
            u = await s.scalar(select(User).where(User.login == login.lower()))
        return None if u is None else ChatterIdentity(u.id, u.login, u.display_name, u.chat_color)

    async def load_room(self, login: str, now: float) -> RoomSnapshot | None:
        channel = await self.user_by_login(login)
        if channel is None:
            return None
        snap = RoomSnapshot(channel)
        async with self._sessions() as s:
            st = await s.get(ChatSettings, channel.id)
            if st is not None:
                snap.slow, snap.followers_only = st.slow, st.followers_only
                snap.subs_only, snap.emote_only, snap.r9k = st.subs_only, st.emote_only, st.r9k
            for ban in await s.scalars(select(ChatBan).where(ChatBan.channel_id == channel.id)):
                expires = _ts(ban.expires_at)
                if expires is None or expires > now:
                    snap.bans[ban.user_id] = expires
            for role in await s.scalars(
                select(ChannelRole).where(ChannelRole.channel_id == channel.id)
            ):
                if role.role == "moderator":
                    snap.moderators.add(role.user_id)
                elif role.role == "vip":
                    snap.vips.add(role.user_id)
            snap.emotes = {e.code: _emote(e) for e in await s.scalars(
                select(Emote).where(Emote.channel_id == channel.id))}
            snap.blocked_terms = set(await s.scalars(
                select(BlockedTerm.term).where(BlockedTerm.channel_id == channel.id)
            ))
        return snap

    async def has_chatted(self, channel_id: int, user_id: int) -> bool:
        """Whether the user ever sent a message in this channel (for `first-msg`)."""
        async with self._sessions() as s:
            found = await s.scalar(
                select(ChatMessage.id).where(
                    ChatMessage.channel_id == channel_id, ChatMessage.user_id == user_id
                ).limit(1)
            )
        return found is not None

    async def add_emote(self, emote: EmoteInfo, *, moderator_id: int | None) -> None:
        async with self._sessions() as s, s.begin():
            taken = await s.scalar(select(Emote.id).where(
                Emote.channel_id == emote.channel_id, Emote.code == emote.code))
            if taken is not None:
                raise ValueError(f"emote {emote.code} already exists")
            s.add(Emote(id=emote.id, channel_id=emote.channel_id, code=emote.code,
                        tier=emote.tier, format=emote.format, width=emote.width,
                        height=emote.height))
            if emote.channel_id is not None:
                s.add(ModerationAction(channel_id=emote.channel_id, moderator_id=moderator_id,
                                       action="add_emote", details=emote.code))

    async def remove_emote(
        self, channel_id: int, code: str, *, moderator_id: int | None
    ) -> EmoteInfo | None:
        async with self._sessions() as s, s.begin():
            row = await s.scalar(select(Emote).where(
                Emote.channel_id == channel_id, Emote.code == code))
            if row is None:
                return None
            info = _emote(row)
            await s.delete(row)
            s.add(ModerationAction(channel_id=channel_id, moderator_id=moderator_id,
                                   action="remove_emote", details=code))
        return info

    async def emote(self, emote_id: str) -> EmoteInfo | None:
        async with self._sessions() as s:
            row = await s.get(Emote, emote_id)
        return None if row is None else _emote(row)

    async def emotes_of(self, channel_id: int | None) -> list[EmoteInfo]:
        async with self._sessions() as s:
            cond = Emote.channel_id.is_(None) if channel_id is None else (
                Emote.channel_id == channel_id)
            return [_emote(r) for r in await s.scalars(select(Emote).where(cond)
                                                          .order_by(Emote.code))]

    async def set_color(self, user_id: int, color: str) -> None:
        async with self._sessions() as s, s.begin():
            await s.execute(update(User).where(User.id == user_id).values(chat_color=color))

    async def set_blocked_term(
        self, channel_id: int, term: str, present: bool, *, moderator_id: int | None
    ) -> bool:
        async with self._sessions() as s, s.begin():
            existing = await s.scalar(select(BlockedTerm).where(
                BlockedTerm.channel_id == channel_id, BlockedTerm.term == term))
            if present == (existing is not None):
                return False
            if present:
                s.add(BlockedTerm(channel_id=channel_id, term=term, moderator_id=moderator_id))
            else:
                await s.delete(existing)
            s.add(ModerationAction(
                channel_id=channel_id, moderator_id=moderator_id,
                action="add_blocked_term" if present else "remove_blocked_term",
                details=term[:500],
            ))
        return True

    async def followed_at(self, channel_id: int, user_id: int) -> float | None:
        async with self._sessions() as s:
            found = await s.scalar(
                select(Follow.followed_at).where(
                    Follow.channel_id == channel_id, Follow.user_id == user_id
                )
            )
        return _ts(found)

    # ---- moderation state (each write also lands in the moderation log) ----

    async def set_ban(
        self, channel_id: int, user_id: int, expires: float | None, *,
        moderator_id: int | None, reason: str,
    ) -> None:
        action = "ban" if expires is None else "timeout"
        async with self._sessions() as s, s.begin():
            await s.execute(
                delete(ChatBan).where(ChatBan.channel_id == channel_id, ChatBan.user_id == user_id)
            )
            s.add(ChatBan(channel_id=channel_id, user_id=user_id, expires_at=_dt(expires),
                          reason=reason[:500], moderator_id=moderator_id))
            s.add(ModerationAction(
                channel_id=channel_id, moderator_id=moderator_id, action=action,
                target_user_id=user_id, details=reason[:500],
            ))

    async def lift_ban(self, channel_id: int, user_id: int, *, moderator_id: int | None) -> bool:
        async with self._sessions() as s, s.begin():
            result = await s.execute(
                delete(ChatBan).where(ChatBan.channel_id == channel_id, ChatBan.user_id == user_id)
            )
            removed = bool(result.rowcount)  # type: ignore[attr-defined]
            if removed:
                s.add(ModerationAction(channel_id=channel_id, moderator_id=moderator_id,
                                       action="unban", target_user_id=user_id))
        return removed

    async def save_modes(
        self, snap: RoomSnapshot, *, moderator_id: int | None, change: str
    ) -> None:
        async with self._sessions() as s, s.begin():
            st = await s.get(ChatSettings, snap.channel.id)
            if st is None:
                st = ChatSettings(channel_id=snap.channel.id)
                s.add(st)
            st.slow, st.followers_only = snap.slow, snap.followers_only
            st.subs_only, st.emote_only, st.r9k = snap.subs_only, snap.emote_only, snap.r9k
            s.add(ModerationAction(channel_id=snap.channel.id, moderator_id=moderator_id,
                                   action="modes", details=change[:500]))

    async def set_role(
        self, channel_id: int, user_id: int, role: str, present: bool, *, moderator_id: int | None
    ) -> bool:
        async with self._sessions() as s, s.begin():
            existing = await s.get(ChannelRole, (channel_id, user_id, role))
            if present == (existing is not None):
                return False
            if present:
                s.add(ChannelRole(channel_id=channel_id, user_id=user_id, role=role))
            else:
                await s.delete(existing)
            s.add(ModerationAction(
                channel_id=channel_id, moderator_id=moderator_id,
                action=("add_" if present else "remove_") + role, target_user_id=user_id,
            ))
        return True

    async def log_action(
        self, channel_id: int, action: str, *, moderator_id: int | None,
        target_user_id: int | None = None, target_message_id: str | None = None, details: str = "",
    ) -> None:
        async with self._sessions() as s, s.begin():
            s.add(ModerationAction(
                channel_id=channel_id, moderator_id=moderator_id, action=action,
                target_user_id=target_user_id, target_message_id=target_message_id,
                details=details[:500],
            ))

    async def mark_deleted(self, message_id: str, now: float) -> StoredMessage | None:
        await self.flush()
        async with self._sessions() as s, s.begin():
            msg = await s.get(ChatMessage, message_id)
            if msg is None:
                return None
            await s.execute(
                update(ChatMessage).where(ChatMessage.id == message_id).values(deleted_at=_dt(now))
            )
            return StoredMessage(msg.id, msg.channel_id, msg.user_id, msg.login, msg.text,
                                 _ts(msg.sent_at) or 0.0)

    async def moderation_log(self, channel_id: int, limit: int = 100) -> list[dict[str, object]]:
        async with self._sessions() as s:
            rows = await s.scalars(
                select(ModerationAction).where(ModerationAction.channel_id == channel_id)
                .order_by(ModerationAction.id.desc()).limit(limit)
            )
            return [
                {"action": r.action, "moderator_id": r.moderator_id,
                 "target_user_id": r.target_user_id, "target_message_id": r.target_message_id,
                 "details": r.details, "created_at": _ts(r.created_at)}
                for r in rows
            ]

    async def recent_messages(self, channel_id: int, limit: int = 50) -> list[StoredMessage]:
        await self.flush()
        async with self._sessions() as s:
            rows = await s.scalars(
                select(ChatMessage).where(ChatMessage.channel_id == channel_id,
                                          ChatMessage.deleted_at.is_(None))
                .order_by(ChatMessage.sent_at.desc()).limit(limit)
            )
            return [StoredMessage(r.id, r.channel_id, r.user_id, r.login, r.text,
                                  _ts(r.sent_at) or 0.0) for r in rows][::-1]

    # ---- batched message persistence ----

    def persist(self, message: StoredMessage) -> asyncio.Future[None]:
        """Queue a message; the future resolves once it is committed."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((message, fut))
        return fut

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._queue.empty() and (self._writer is None or self._writer.done()):
            return
        marker = self.persist(StoredMessage("", 0, 0, "", "", 0.0))
        await marker

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._batch_interval):
                    while len(batch) < self._batch_size:
                        batch.append(await self._queue.get())
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            rows = [
                {"id": m.id, "channel_id": m.channel_id, "user_id": m.user_id, "login": m.login,
                 "text": m.text, "sent_at": _dt(m.sent_at)}
                for m, _ in batch if m.id
            ]
            try:
                if rows:
                    async with self._sessions() as s, s.begin():
                        await s.execute(insert(ChatMessage), rows)
            except Exception as exc:
                self._log.exception("chat message batch of %d failed", len(rows))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
