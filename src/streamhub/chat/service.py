"""Chat rooms on one node: join/leave, sending with rules and limits, moderation, cross-node sync.

Every change to a room (a message, a ban, a mode) is published on the bus as one payload;
every node — the sender's included — applies it to its local copy of the room and fans the
lines out to its local connections. So the nodes agree by construction, and a message crosses
the bus exactly once per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamhub.chat.badges import SubscriberStatus, bits_badge, subscriber_badge
from streamhub.chat.bus import Bus
from streamhub.chat.cheers import CheerParser
from streamhub.chat.emoteart import badge_png
from streamhub.chat.emotes import find_emotes, format_emotes_tag, is_emote_only
from streamhub.chat.events import Category, RoomEvent, Subscriber
from streamhub.chat.fanout import FanoutRoom
from streamhub.chat.images import ImageError, probe_image
from streamhub.chat.notify import ban_event, chat_message_event, role_event, unban_event
from streamhub.chat.presence import Presence
from streamhub.chat.rules import (
    History,
    Refusal,
    RoomModes,
    Sender,
    check_message,
    normalize_for_r9k,
)
from streamhub.chat.sharedlimits import LocalMessageLimiter, MessageLimiter
from streamhub.chat.store import (
    ChatStore,
    ChatterIdentity,
    EmoteInfo,
    RoomSnapshot,
    StoredMessage,
)
from streamhub.events import DiscardEvents, EventSink
from streamhub.protocols.irc.message import Message
from streamhub.storage.blobs import BlobStore

SERVER = "tmi.twitch.tv"
GLOBAL_EMOTES: dict[str, str] = {  # seeded into the emotes table (with drawn images)
    "Kappa": "25", "PogChamp": "305954156", "LUL": "425618", "<3": "9", "BibleThump": "86",
    "Kreygasm": "41", "ResidentSleeper": "245", "SeemsGood": "64138", "HeyGuys": "30259",
}
EMOTE_CODE = re.compile(r"^[A-Za-z0-9_]{2,32}$")
NAMED_COLORS = {
    "blue": "#0000FF", "blueviolet": "#8A2BE2", "cadetblue": "#5F9EA0", "chocolate": "#D2691E",
    "coral": "#FF7F50", "dodgerblue": "#1E90FF", "firebrick": "#B22222", "goldenrod": "#DAA520",
    "green": "#008000", "hotpink": "#FF69B4", "orangered": "#FF4500", "red": "#FF0000",
    "seagreen": "#2E8B57", "springgreen": "#00FF7F", "yellowgreen": "#9ACD32",
}
DEFAULT_COLORS = tuple(NAMED_COLORS.values())  # a stable default per user id
MEMBERSHIP_LIMIT = 1000  # like Twitch: no JOIN/PART relays and a capped NAMES list above this
RECENT_MESSAGES = 1000  # per room, for replies and deletions

class SubscriptionLookup(Protocol):
    """Subscriber status, provided by the subscriptions feature (channels/subscriptions.py)."""

    async def subscription(self, channel_id: int, user_id: int) -> SubscriberStatus | None:
        """The user's active subscription to the channel, or None."""
        ...


class BitsLedger(Protocol):
    """Bits balances and cheered totals, provided by channels/bits.py."""

    async def cheer(self, channel_id: int, user_id: int, amount: int) -> int | None:
        """Debit `amount` atomically; the user's new cheered total in the channel, or None
        when the balance is too small (nothing changed)."""
        ...

    async def refund(self, channel_id: int, user_id: int, amount: int) -> int:
        """Undo a cheer whose message was not published; the cheered total after it."""
        ...

    async def cheered(self, channel_id: int, user_id: int) -> int: ...


@dataclass(frozen=True, slots=True)
class ChatUser:
    """Who is behind a connection: a logged-in user or an anonymous reader."""

    id: int | None
    login: str
    display_name: str
    color: str | None = None
    scopes: frozenset[str] = frozenset()
    staff: bool = False  # a site admin: the staff badge everywhere

    @property
    def anonymous(self) -> bool:
        return self.id is None

    @property
    def shown_color(self) -> str:
        """The chosen name color, or a stable default per user."""
        if self.color:
            return self.color
        return DEFAULT_COLORS[(self.id or 0) % len(DEFAULT_COLORS)]


def user_type(user: ChatUser, is_mod: bool) -> str:
    """Twitch's `user-type` tag: "staff" for site admins, "mod" for the room's moderators."""
    return "staff" if user.staff else "mod" if is_mod else ""


@dataclass(slots=True)
class Member:
    user: ChatUser
    followed_at: float | None = None
    subscription: SubscriberStatus | None = None
    first_msg: bool = False
    bits: int = 0  # Bits cheered in this channel in all (the bits badge)

    def subscribed(self, now: float) -> SubscriberStatus | None:
        """The member's subscription if still active at `now` (a lapsed one shows nothing)."""
        sub = self.subscription
        return sub if sub is not None and sub.active(now) else None


@dataclass(slots=True)
class Room:
    """This node's copy of one channel's chat room."""

    name: str
    snap: RoomSnapshot
    fanout: FanoutRoom
    members: dict[Subscriber, Member] = field(default_factory=dict)
    last_sent: dict[int, tuple[float, str]] = field(default_factory=dict)
    recent_texts: OrderedDict[str, float] = field(default_factory=OrderedDict)
    recent: OrderedDict[str, tuple[int, str, str, str]] = field(default_factory=OrderedDict)
    messages: int = 0  # chat messages seen in this room (all nodes') since it opened here
    used_at: float = 0.0  # last opened for someone (a join, a moderation action, a notice)

    @property
    def channel_id(self) -> int:
        return self.snap.channel.id

    def modes(self) -> RoomModes:
        s = self.snap
        return RoomModes(slow=s.slow, followers_only=s.followers_only, subs_only=s.subs_only,
                         emote_only=s.emote_only, r9k=s.r9k)

    def ban_remaining(self, user_id: int, now: float) -> float | None:
        """None: not banned; inf: banned; else seconds of timeout left."""
        if user_id not in self.snap.bans:
            return None
        expires = self.snap.bans[user_id]
        if expires is None:
            return float("inf")
        if expires <= now:
            del self.snap.bans[user_id]
            return None
        return expires - now

    def roomstate(self, only: dict[str, str] | None = None) -> Message:
        s = self.snap
        tags = only if only is not None else {
            "emote-only": str(int(s.emote_only)), "followers-only": str(s.followers_only),
            "r9k": str(int(s.r9k)), "room-id": str(self.channel_id), "slow": str(s.slow),
            "subs-only": str(int(s.subs_only)),
        }
        if only is not None:
            tags = {**tags, "room-id": str(self.channel_id)}
        return Message("ROOMSTATE", (f"#{self.name}",), tags, SERVER)


class ChatError(Exception):
    """A refused chat action: `msg_id` and `text` become the NOTICE."""

    def __init__(self, msg_id: str, text: str) -> None:
        super().__init__(text)
        self.msg_id = msg_id
        self.text = text


def _prefix(login: str) -> str:
    return f"{login}!{login}@{login}.{SERVER}"


def notice(channel: str, msg_id: str, text: str) -> Message:
    return Message("NOTICE", (channel, text), {"msg-id": msg_id} if msg_id else {}, SERVER)


class ChatService:
    """All rooms of this node; the API that gateways' sessions and the REST layer call."""

    def __init__(
        self,
        *,
        store: ChatStore,
        bus: Bus,
        logger: logging.Logger | None = None,
        subscriptions: SubscriptionLookup | None = None,
        clock: Callable[[], float] = time.time,
        fanout_factory: Callable[[str], FanoutRoom] = FanoutRoom,
        blobs: BlobStore | None = None,
        limiter: MessageLimiter | None = None,
        events: EventSink | None = None,
        presence: Presence | None = None,
        bits: BitsLedger | None = None,
        cheers: CheerParser | None = None,
    ) -> None:
        self.store = store
        self._bits = bits
        self._cheers = cheers or CheerParser()
        self.events: EventSink = events or DiscardEvents()  # EventSub: chat, ban, role events
        self.bus = bus
        self.log = logger or logging.getLogger(__name__)
        self._subs = subscriptions
        self._presence = presence  # other nodes' chatters, for NAMES
        self._clock = clock
        self._fanout_factory = fanout_factory
        self.rooms: dict[str, Room] = {}
        self._opening: dict[str, asyncio.Future[Room | None]] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        self.limits: MessageLimiter = limiter or LocalMessageLimiter()
        self._outbox: asyncio.Queue[tuple[str, bytes, asyncio.Future[None]]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self._blobs = blobs
        self.global_emotes: dict[str, EmoteInfo] = {}

    async def start(self) -> None:
        """Load the global emotes, seeding the built-in set (with images) on first start."""
        found = {e.code: e for e in await self.store.emotes_of(None)}
        for code, emote_id in GLOBAL_EMOTES.items():
            if code in found:
                continue
            png = badge_png(code)
            info = EmoteInfo(emote_id, code, None, 0, "png", 56, 56)
            if self._blobs is not None:
                await self._blobs.put(f"emotes/{emote_id}", png)
            with contextlib.suppress(ValueError):  # another node seeded it meanwhile
                await self.store.add_emote(info, moderator_id=None)
            found[code] = info
        self.global_emotes = found

    def usable_emotes(self, room: Room, member: Member) -> dict[str, str]:
        """code -> id of every emote this member may use in this room."""
        sub = member.subscribed(self._clock())
        tier = sub.tier if sub is not None else 0
        codes = {code: e.id for code, e in self.global_emotes.items()}
        codes.update({code: e.id for code, e in room.snap.emotes.items() if e.tier <= tier})
        return codes

    # ---- rooms ----

    async def open_room(self, name: str) -> Room | None:
        """This node's copy of a room, loaded and subscribed on first use; None if no channel."""
        room = self.rooms.get(name)
        if room is not None:
            room.used_at = self._clock()
            return room
        closing = self._closing.get(name)
        if closing is not None:  # the last member just left: let the unsubscribe finish
            await asyncio.shield(closing)
            return await self.open_room(name)
        pending = self._opening.get(name)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Room | None] = asyncio.get_running_loop().create_future()
        self._opening[name] = fut
        try:
            snap = await self.store.load_room(name, self._clock())
            room = None
            if snap is not None:
                room = Room(name, snap, self._fanout_factory(name), used_at=self._clock())
                self.rooms[name] = room
                await self.bus.subscribe(name, functools.partial(self._on_bus, name))
            fut.set_result(room)
            return room
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters get it through shield
            raise
        finally:
            del self._opening[name]

    async def join(self, sub: Subscriber, user: ChatUser, name: str) -> Room:
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended",
                            "This channel does not exist or has been suspended.")
        member = Member(user)
        if user.id is not None:
            member.followed_at = await self.store.followed_at(room.channel_id, user.id)
            member.first_msg = not await self.store.has_chatted(room.channel_id, user.id)
            await self._load_status(room, member)
        room.members[sub] = member
        room.fanout.add(sub)
        if not user.anonymous and len(room.members) <= MEMBERSHIP_LIMIT:
            join = Message("JOIN", (f"#{name}",), {}, _prefix(user.login))
            await self._publish(name, events=[(join, Category.MEMBERSHIP, user.id)])
        return room

    def part(self, sub: Subscriber, name: str, *, announce: bool = True) -> None:
        room = self.rooms.get(name)
        if room is None:
            return
        member = room.members.pop(sub, None)
        room.fanout.remove(sub)
        if member is not None and announce and not member.user.anonymous and (
            len(room.members) < MEMBERSHIP_LIMIT
        ):
            u = member.user
            part = Message("PART", (f"#{name}",), {}, _prefix(u.login))
            self._spawn(self._publish(name, events=[(part, Category.MEMBERSHIP, u.id)]))
        if not room.members:
            self._release(name, room)

    def close_idle_rooms(self, idle: float = 60.0) -> int:
        """Close rooms nobody on this node is in that were last used more than `idle`
        seconds ago (opened for an API action, a notice or a raid); returns how many."""
        cutoff = self._clock() - idle
        idle_rooms = [(name, room) for name, room in self.rooms.items()
                      if not room.members and room.used_at < cutoff]
        for name, room in idle_rooms:
            self._release(name, room)
        return len(idle_rooms)

    def _release(self, name: str, room: Room) -> None:
        """Unsubscribe and close an empty room (a later open_room waits for this)."""
        if name in self._closing or self.rooms.get(name) is not room:
            return
        del self.rooms[name]
        task = asyncio.get_running_loop().create_task(self._close_room(name, room))
        task.add_done_callback(_log_task_error(self.log))
        self._closing[name] = task

    async def _close_room(self, name: str, room: Room) -> None:
        try:
            await self.bus.unsubscribe(name)
            await room.fanout.close()
        finally:
            del self._closing[name]

    def local_counts(self, room: Room) -> tuple[int, int]:
        """(connections, distinct logged-in chatters) of this node in the room."""
        chatters = {m.user.id for m in room.members.values() if m.user.id is not None}
        return len(room.members), len(chatters)

    def local_chatters(self, room: Room) -> frozenset[str]:
        """This node's logged-in chatters of the room as `<id> <login> <display name>`."""
        return frozenset(f"{m.user.id} {m.user.login} {m.user.display_name}"
                         for m in room.members.values() if m.user.id is not None)

    async def names(self, room: Room) -> list[str]:
        """The room's logged-in chatters for NAMES (353): this node's and, with a shared
        presence, the other nodes' (as last reported); at most MEMBERSHIP_LIMIT."""
        local = self.local_chatters(room)
        everyone = local
        if self._presence is not None and len(local) < MEMBERSHIP_LIMIT:
            try:
                everyone = await self._presence.chatters(room.name, local)
            except Exception as exc:  # Redis away: this node's chatters only
                self.log.warning("#%s: chatters of other nodes unavailable: %s", room.name, exc)
        logins = sorted({entry.split(" ", 2)[1] for entry in everyone})
        return logins[:MEMBERSHIP_LIMIT]

    # ---- badges and user state ----

    async def _load_status(self, room: Room, member: Member) -> None:
        """The member's subscription and cheered Bits in the room's channel."""
        uid = member.user.id
        if uid is None:
            return
        if self._subs is not None:
            member.subscription = await self._subs.subscription(room.channel_id, uid)
        if self._bits is not None:
            member.bits = await self._bits.cheered(room.channel_id, uid)

    def user_tags(self, room: Room, member: Member) -> dict[str, str]:
        u = member.user
        uid = u.id or 0
        badges, info = [], ""
        is_broadcaster = uid == room.channel_id
        is_mod = uid in room.snap.moderators
        is_vip = uid in room.snap.vips
        if u.staff:
            badges.append("staff/1")
        if is_broadcaster:
            badges.append("broadcaster/1")
        elif is_mod:
            badges.append("moderator/1")
        if is_vip:
            badges.append("vip/1")
        subscribed = member.subscribed(self._clock())
        if subscribed is not None:
            badge, info = subscriber_badge(subscribed)
            badges.append(badge)
        bits = bits_badge(member.bits)
        if bits is not None:
            badges.append(bits)
        return {
            "badge-info": info, "badges": ",".join(badges), "color": u.shown_color,
            "display-name": u.display_name, "emote-sets": "0",
            "mod": "1" if is_mod else "0", "subscriber": "1" if subscribed else "0",
            "user-type": user_type(u, is_mod),
        }

    def userstate(self, room: Room, sub: Subscriber, message_id: str | None = None) -> Message:
        tags = self.user_tags(room, room.members[sub])
        if message_id is not None:
            tags["id"] = message_id
        return Message("USERSTATE", (f"#{room.name}",), tags, SERVER)

    # ---- sending ----

    async def send_message(
        self, sub: Subscriber, name: str, text: str, *, reply_to: str | None = None
    ) -> str:
        """Check and publish a PRIVMSG; returns its id once every node has it and it is stored."""
        msg_id, done = await self.submit_message(sub, name, text, reply_to=reply_to)
        await done
        return msg_id

    async def submit_message(
        self, sub: Subscriber, name: str, text: str, *, reply_to: str | None = None
    ) -> tuple[str, asyncio.Future[Any]]:
        """Check a PRIVMSG and queue its publication and storage, in call order.

        Returns the message id and a future that completes when every node has it and it is
        committed (the acknowledgement); raises ChatError when the message is refused.
        """
        room = self.rooms.get(name)
        member = room.members.get(sub) if room is not None else None
        if room is None or member is None:
            raise ChatError("msg_not_joined", f"You are not in #{name}.")
        user = member.user
        if user.id is None or "chat:edit" not in user.scopes:
            raise ChatError("no_permission", "Log in with a chat:edit token to send messages.")
        return await self._submit(room, member, text, reply_to=reply_to, echo=False)

    async def submit_as(
        self, user: ChatUser, name: str, text: str, *, reply_to: str | None = None
    ) -> tuple[str, asyncio.Future[Any]]:
        """Like submit_message for a sender without a chat connection (the REST API, which
        checked the token's scope): the same rules, limits and bans apply. The sender's own
        chat connections see the message too."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        if user.id is None:
            raise ChatError("no_permission", "Log in to send messages.")
        member = Member(user)
        member.followed_at = await self.store.followed_at(room.channel_id, user.id)
        member.first_msg = not await self.store.has_chatted(room.channel_id, user.id)
        await self._load_status(room, member)
        return await self._submit(room, member, text, reply_to=reply_to, echo=True)

    async def _submit(
        self, room: Room, member: Member, text: str, *, reply_to: str | None, echo: bool
    ) -> tuple[str, asyncio.Future[Any]]:
        name, user = room.name, member.user
        assert user.id is not None
        now = self._clock()
        uid = user.id
        remaining = room.ban_remaining(uid, now)
        privileged = uid == room.channel_id or uid in room.snap.moderators
        usable = self.usable_emotes(room, member)
        emote_ids = find_emotes(text, usable)
        sender = Sender(
            user_id=str(uid), is_broadcaster=uid == room.channel_id,
            is_mod=uid in room.snap.moderators, is_vip=uid in room.snap.vips,
            is_subscriber=member.subscribed(now) is not None,
            followed_seconds=None if member.followed_at is None else now - member.followed_at,
            banned=remaining == float("inf"),
            timeout_remaining=0.0 if remaining in (None, float("inf")) else float(remaining or 0),
        )
        last = room.last_sent.get(uid)
        history = History(
            last_sent_at=last[0] if last else None, last_text=last[1] if last else None,
            room_recent_texts=room.recent_texts.keys(),
        )
        refusal: Refusal | None = check_message(
            text, modes=room.modes(), sender=sender, history=history, now=now,
            emote_only_ok=is_emote_only(text, usable), channel=f"#{name}",
            blocked_terms=room.snap.blocked_terms,
        )
        if refusal is not None:
            raise ChatError(refusal.msg_id, refusal.text)
        if not await self.limits.allow(str(uid), now, elevated=privileged or sender.is_vip):
            raise ChatError("msg_ratelimit",
                            "Your message was not sent because you are sending messages too "
                            "quickly.")
        bits = await self._debit_cheer(room, member, text)
        room.last_sent[uid] = (now, text)
        first_msg, member.first_msg = member.first_msg, False
        msg_id = str(uuid.uuid4())
        tags = self.user_tags(room, member)
        del tags["emote-sets"]
        tags.update({
            "emotes": format_emotes_tag(emote_ids), "first-msg": "1" if first_msg else "0",
            "flags": "", "id": msg_id, "returning-chatter": "0", "room-id": str(room.channel_id),
            "tmi-sent-ts": str(int(now * 1000)), "turbo": "0", "user-id": str(uid),
            "vip": "1" if sender.is_vip else "0",
        })
        if bits:
            tags["bits"] = str(bits)
        parent = room.recent.get(reply_to) if reply_to else None
        if parent is not None:
            p_uid, p_login, p_display, p_text = parent
            tags.update({
                "reply-parent-display-name": p_display, "reply-parent-msg-body": p_text,
                "reply-parent-msg-id": reply_to or "", "reply-parent-user-id": str(p_uid),
                "reply-parent-user-login": p_login,
            })
        line = Message("PRIVMSG", (f"#{name}", text), tags, _prefix(user.login))
        stored = self.store.persist(
            StoredMessage(msg_id, room.channel_id, uid, user.login, text, now)
        )
        state: dict[str, Any] = {"k": "msg", "id": msg_id, "u": uid, "l": user.login,
                                 "d": user.display_name, "t": text, "at": now}
        if bits:
            state["b"] = member.bits
        published = self._enqueue(name, events=[(line, Category.CHAT, None if echo else uid)],
                                   state=state)
        if bits:
            published.add_done_callback(functools.partial(
                self._cheer_published, room, user, bits, text))
        if self.events.wants("channel.chat.message"):  # per message: build only if used
            self.events.emit("channel.chat.message", chat_message_event(
                room.snap.channel, uid, user.login, user.display_name, msg_id, text, tags,
                emote_ids))
        return msg_id, asyncio.gather(published, stored)

    async def _debit_cheer(self, room: Room, member: Member, text: str) -> int:
        """The Bits a message cheers, debited from the sender (0: no cheer, or no Bits
        feature); ChatError when the balance is too small (then nothing is debited)."""
        if self._bits is None:
            return 0
        try:
            bits = self._cheers.total(text)
        except ValueError as exc:
            raise ChatError("msg_bits_too_many", f"Your message was not sent: {exc}.") from None
        if not bits:
            return 0
        uid = member.user.id
        assert uid is not None
        debit = asyncio.ensure_future(self._bits.cheer(room.channel_id, uid, bits))
        try:
            total = await asyncio.shield(debit)
        except asyncio.CancelledError:  # the sender went away: give back what commits
            debit.add_done_callback(functools.partial(self._undo_debit, room, uid, bits))
            raise
        if total is None:
            raise ChatError("msg_bits_insufficient",
                            f"Your message was not sent because you do not have {bits} Bits "
                            "to cheer.")
        self._set_bits(room, uid, total)
        member.bits = total  # also a REST sender's own (roomless) member
        return bits

    def _set_bits(self, room: Room, user_id: int, total: int) -> None:
        for m in room.members.values():
            if m.user.id == user_id:
                m.bits = total

    def _cheer_published(self, room: Room, user: ChatUser, bits: int, text: str,
                         published: asyncio.Future[None]) -> None:
        """After a cheer's publication: EventSub channel.cheer, or the Bits back if the
        message never went out (nothing lost, nothing invented)."""
        assert user.id is not None
        if published.cancelled() or published.exception() is not None:
            self.log.warning("#%s: cheer of %d Bits by %s not published: refunding",
                             room.name, bits, user.login)
            self._spawn(self._refund(room, user.id, bits))
            return
        self.events.emit("channel.cheer", {
            "is_anonymous": False, "user_id": str(user.id), "user_login": user.login,
            "user_name": user.display_name, "broadcaster_user_id": str(room.channel_id),
            "broadcaster_user_login": room.snap.channel.login,
            "broadcaster_user_name": room.snap.channel.display_name,
            "message": text, "bits": bits})

    def _undo_debit(self, room: Room, user_id: int, bits: int,
                    debit: asyncio.Future[int | None]) -> None:
        if not debit.cancelled() and debit.exception() is None and debit.result() is not None:
            self._spawn(self._refund(room, user_id, bits))

    async def _refund(self, room: Room, user_id: int, bits: int) -> None:
        assert self._bits is not None
        self._set_bits(room, user_id, await self._bits.refund(room.channel_id, user_id, bits))

    async def recent_lines(self, name: str, limit: int = 50) -> list[str]:
        """The room's last messages as IRC lines tagged `historical=1` (deleted messages and
        those of users banned or timed out now are left out)."""
        channel = await self.store.user_by_login(name)
        if channel is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        room = self.rooms.get(name)
        snap = room.snap if room is not None else await self.store.load_room(name, self._clock())
        now = self._clock()
        banned = {u for u, exp in (snap.bans.items() if snap else ()) if exp is None or exp > now}
        lines = []
        for m in await self.store.recent_messages(channel.id, limit):
            if m.user_id in banned:
                continue
            tags = {"display-name": m.login, "historical": "1", "id": m.id,
                    "rm-received-ts": str(int(m.sent_at * 1000)), "room-id": str(channel.id),
                    "tmi-sent-ts": str(int(m.sent_at * 1000)), "user-id": str(m.user_id)}
            lines.append(Message("PRIVMSG", (f"#{name}", m.text), tags,
                                 _prefix(m.login)).serialize())
        return lines

    # ---- moderation (the internal service API; the REST layer calls these too) ----

    def can_moderate(self, room: Room, user_id: int | None) -> bool:
        return user_id is not None and (
            user_id == room.channel_id or user_id in room.snap.moderators
        )

    async def _moderated_room(self, name: str, moderator: ChatUser) -> Room:
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        if not self.can_moderate(room, moderator.id):
            raise ChatError("no_permission", "You don't have permission to perform that action.")
        return room

    async def _target(self, room: Room, moderator: ChatUser, login: str) -> ChatterIdentity:
        target = await self.store.user_by_login(login.lstrip("@"))
        if target is None:
            raise ChatError("invalid_user", f"Invalid username: {login}")
        if target.id == moderator.id:
            raise ChatError("bad_ban_self", "You cannot ban or time out yourself.")
        if target.id == room.channel_id:
            raise ChatError("bad_ban_broadcaster", "You cannot ban or time out the broadcaster.")
        if target.id in room.snap.moderators and moderator.id != room.channel_id:
            raise ChatError("bad_ban_mod", f"You cannot ban or time out moderator {target.login}.")
        return target

    async def ban(
        self, name: str, moderator: ChatUser, login: str, *, duration: int | None = None,
        reason: str = "",
    ) -> str:
        """Ban (duration None) or time out (seconds) a user; returns the success text."""
        room = await self._moderated_room(name, moderator)
        target = await self._target(room, moderator, login)
        now = self._clock()
        expires = None if duration is None else now + duration
        await self.store.set_ban(room.channel_id, target.id, expires,
                                 moderator_id=moderator.id, reason=reason)
        tags = {"room-id": str(room.channel_id), "target-user-id": str(target.id),
                "tmi-sent-ts": str(int(now * 1000))}
        if duration is not None:
            tags = {"ban-duration": str(duration), **tags}
        clear = Message("CLEARCHAT", (f"#{name}", target.login), tags, SERVER)
        await self._publish(name, events=[(clear, Category.COMMANDS, None)],
                            state={"k": "ban", "u": target.id, "e": expires})
        self.events.emit("channel.ban", ban_event(
            room.snap.channel, target, moderator, reason, now, expires))
        if duration is None:
            return f"{target.login} is now banned from this channel."
        return f"{target.login} has been timed out for {duration} seconds."

    async def unban(self, name: str, moderator: ChatUser, login: str) -> str:
        room = await self._moderated_room(name, moderator)
        target = await self.store.user_by_login(login.lstrip("@"))
        if target is None:
            raise ChatError("invalid_user", f"Invalid username: {login}")
        if not await self.store.lift_ban(room.channel_id, target.id, moderator_id=moderator.id):
            raise ChatError("bad_unban_no_ban", f"{target.login} is not banned from this channel.")
        await self._publish(name, state={"k": "unban", "u": target.id})
        self.events.emit("channel.unban", unban_event(room.snap.channel, target, moderator))
        return f"{target.login} is no longer banned from this channel."

    async def delete_message(self, name: str, moderator: ChatUser, message_id: str) -> str:
        room = await self._moderated_room(name, moderator)
        now = self._clock()
        stored = await self.store.mark_deleted(message_id, now)
        if stored is None or stored.channel_id != room.channel_id:
            raise ChatError("bad_delete_message_error", "The message could not be found.")
        if stored.user_id == room.channel_id or (
            stored.user_id in room.snap.moderators and moderator.id != room.channel_id
        ):
            raise ChatError("bad_delete_message_mod",
                            "You cannot delete the broadcaster's or a moderator's messages.")
        await self.store.log_action(room.channel_id, "delete_message", moderator_id=moderator.id,
                                    target_user_id=stored.user_id, target_message_id=message_id)
        clear = Message("CLEARMSG", (f"#{name}", stored.text), {
            "login": stored.login, "room-id": str(room.channel_id),
            "target-msg-id": message_id, "tmi-sent-ts": str(int(now * 1000)),
        }, SERVER)
        await self._publish(name, events=[(clear, Category.COMMANDS, None)])
        return f"The message from {stored.login} is now deleted."

    async def clear(self, name: str, moderator: ChatUser) -> str:
        room = await self._moderated_room(name, moderator)
        now = self._clock()
        await self.store.log_action(room.channel_id, "clear", moderator_id=moderator.id)
        clear = Message("CLEARCHAT", (f"#{name}",), {
            "room-id": str(room.channel_id), "tmi-sent-ts": str(int(now * 1000))}, SERVER)
        await self._publish(name, events=[(clear, Category.COMMANDS, None)])
        return "Chat was cleared by a moderator."

    async def set_modes(self, name: str, moderator: ChatUser, **changes: Any) -> list[str]:
        """Change room modes (slow, followers_only, subs_only, emote_only, r9k)."""
        room = await self._moderated_room(name, moderator)
        snap = room.snap
        tag_names = {"slow": "slow", "followers_only": "followers-only", "subs_only": "subs-only",
                     "emote_only": "emote-only", "r9k": "r9k"}
        changed: dict[str, str] = {}
        texts: list[tuple[str, str]] = []
        for key, value in changes.items():
            if key not in tag_names:
                raise ValueError(f"unknown room mode {key}")
            if getattr(snap, key) == value:
                continue
            setattr(snap, key, value)
            changed[tag_names[key]] = str(int(value)) if isinstance(value, bool) else str(value)
            texts.append(_mode_notice(key, value))
        if not changed:
            return []
        await self.store.save_modes(snap, moderator_id=moderator.id,
                                    change=json.dumps(changed, sort_keys=True))
        events: list[tuple[Message, Category, int | None]] = [
            (room.roomstate(changed), Category.COMMANDS, None)
        ]
        events += [(notice(f"#{name}", mid, text), Category.COMMANDS, None) for mid, text in texts]
        await self._publish(name, events=events, state={
            "k": "modes", "m": {k: getattr(snap, k) for k in tag_names}})
        return [text for _, text in texts]

    async def set_role(
        self, name: str, actor: ChatUser, login: str, role: str, present: bool
    ) -> str:
        """Appoint or remove a moderator or VIP (broadcaster only)."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        if actor.id != room.channel_id:
            raise ChatError("no_permission", "Only the broadcaster can do that.")
        target = await self.store.user_by_login(login.lstrip("@"))
        if target is None:
            raise ChatError("invalid_user", f"Invalid username: {login}")
        word = "moderator" if role == "moderator" else "VIP"
        if not await self.store.set_role(room.channel_id, target.id, role, present,
                                         moderator_id=actor.id):
            msg_id = _ROLE_UNCHANGED[(role, present)]
            state = "already" if present else "not"
            raise ChatError(msg_id, f"{target.login} is {state} a {word} of this channel.")
        await self._publish(name, state={"k": "role", "u": target.id, "r": role, "p": present})
        if role == "moderator":
            self.events.emit("channel.moderator." + ("add" if present else "remove"),
                             role_event(room.snap.channel, target))
        if present:
            return f"You have added {target.login} as a {word} of this channel."
        return f"You have removed {target.login} as a {word} of this channel."

    async def set_blocked_term(
        self, name: str, moderator: ChatUser, term: str, present: bool
    ) -> str:
        """Add or remove a blocked term (moderators and the broadcaster)."""
        room = await self._moderated_room(name, moderator)
        term = " ".join(term.split())
        if not term or len(term) > 500:
            raise ChatError("bad_blocked_term", "A blocked term has 1 to 500 characters.")
        if not await self.store.set_blocked_term(room.channel_id, term, present,
                                                 moderator_id=moderator.id):
            state = "already" if present else "not"
            raise ChatError("bad_blocked_term", f"{term!r} is {state} a blocked term.")
        await self._publish(name, state={"k": "term", "t": term, "p": present})
        return f"{term!r} is {'now' if present else 'no longer'} a blocked term."

    async def add_emote(
        self, name: str, actor: ChatUser, code: str, image: bytes, *, tier: int = 0
    ) -> EmoteInfo:
        """Upload a channel emote (broadcaster only); tier > 0 limits it to subscribers."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        if actor.id != room.channel_id:
            raise ChatError("no_permission", "Only the broadcaster can upload emotes.")
        if not EMOTE_CODE.fullmatch(code):
            raise ChatError("bad_emote_code", "An emote code has 2-32 letters, digits or _.")
        if code in self.global_emotes or code in room.snap.emotes:
            raise ChatError("bad_emote_code", f"The emote code {code} is already in use.")
        if tier not in (0, 1, 2, 3):
            raise ChatError("bad_emote_tier", "tier must be 0 (everyone) or 1-3 (subscribers).")
        try:
            img = probe_image(image)
        except ImageError as exc:
            raise ChatError("bad_emote_image", str(exc)) from None
        if self._blobs is None:
            raise ChatError("emotes_unavailable", "This node has no storage for emotes.")
        info = EmoteInfo(f"emotesv2_{uuid.uuid4().hex[:24]}", code, room.channel_id, tier,
                         img.format, img.width, img.height)
        await self._blobs.put(f"emotes/{info.id}", image)
        try:
            await self.store.add_emote(info, moderator_id=actor.id)
        except ValueError:
            await self._blobs.delete(f"emotes/{info.id}")
            raise ChatError("bad_emote_code", f"The emote code {code} is already in use.") from None
        await self._publish(name, state={"k": "emote", "e": dataclasses.asdict(info), "p": True})
        return info

    async def remove_emote(self, name: str, actor: ChatUser, code: str) -> None:
        room = await self.open_room(name)
        if room is None or actor.id != room.channel_id:
            raise ChatError("no_permission", "Only the broadcaster can remove emotes.")
        info = await self.store.remove_emote(room.channel_id, code, moderator_id=actor.id)
        if info is None:
            raise ChatError("bad_emote_code", f"There is no emote {code}.")
        if self._blobs is not None:
            await self._blobs.delete(f"emotes/{info.id}")
        await self._publish(name, state={"k": "emote", "e": dataclasses.asdict(info), "p": False})

    async def set_color(self, user: ChatUser, color: str) -> ChatUser:
        """Set a user's name color (#RRGGBB or a Twitch color name)."""
        if user.id is None:
            raise ChatError("no_permission", "Log in to choose a color.")
        value = NAMED_COLORS.get(color.lower().replace("_", ""), color)
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
            raise ChatError("usage_color",
                            "Usage: /color <color> (#RRGGBB or e.g. Blue, Coral, HotPink)")
        value = value.upper()
        await self.store.set_color(user.id, value)
        updated = dataclasses.replace(user, color=value)
        for room in self.rooms.values():
            for member in room.members.values():
                if member.user.id == user.id:  # keep each connection's own token scopes
                    member.user = dataclasses.replace(member.user, color=value)
        return updated

    async def usernotice(
        self, name: str, msg_id: str, system_msg: str, tags: dict[str, str], text: str = ""
    ) -> None:
        """USERNOTICE hook (sub, resub, subgift, raid, announcement ...) for other features."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        all_tags = {**tags, "id": str(uuid.uuid4()), "msg-id": msg_id,
                    "room-id": str(room.channel_id), "system-msg": system_msg,
                    "tmi-sent-ts": str(int(self._clock() * 1000))}
        params = (f"#{name}", text) if text else (f"#{name}",)
        await self._publish(name, events=[
            (Message("USERNOTICE", params, all_tags, SERVER), Category.COMMANDS, None)])

    async def user_notice(
        self, name: str, user: ChatUser, msg_id: str, system_msg: str, params: dict[str, str],
        text: str = "", *, subscription: SubscriberStatus | None = None,
    ) -> None:
        """A USERNOTICE about `user` (sub, resub, subgift ...): the user's badges and name
        tags as in their PRIVMSGs, plus the feature's `msg-param-*` tags."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        member = Member(user, subscription=subscription)
        if self._bits is not None and user.id is not None:
            member.bits = await self._bits.cheered(room.channel_id, user.id)
        tags = self.user_tags(room, member)
        del tags["emote-sets"]
        tags.update({"emotes": "", "flags": "", "login": user.login,
                     "user-id": str(user.id or ""), **params})
        await self.usernotice(name, msg_id, system_msg, tags, text)

    async def subscription_changed(
        self, name: str, user_id: int, status: SubscriberStatus | None
    ) -> None:
        """The user's subscription to the channel started, changed or ended: tell the room's
        members on every node (badges, subscribers-only mode, sub emotes) without a rejoin."""
        value = None if status is None else [status.tier, status.months, status.founder,
                                             status.ends_at]
        try:
            await self._publish(name, state={"k": "sub", "u": user_id, "s": value})
        except Exception as exc:  # bus away: members see it when they next join
            self.log.warning("#%s: subscription change not published: %s", name, exc)

    async def host_target(self, name: str, target: str, viewers: int) -> None:
        """`HOSTTARGET #name :target viewers`: tells clients in the room to follow a raid."""
        room = await self.open_room(name)
        if room is None:
            raise ChatError("msg_channel_suspended", "This channel does not exist.")
        line = Message("HOSTTARGET", (f"#{name}", f"{target} {viewers}"), {}, SERVER)
        await self._publish(name, events=[(line, Category.COMMANDS, None)])

    async def follow_changed(self, name: str, user_id: int, followed_at: float | None) -> None:
        """The user followed (at `followed_at`, unix time) or unfollowed (None) the channel:
        tell the room's members on every node, so followers-only mode sees it at once."""
        try:
            await self._publish(name, state={"k": "follow", "u": user_id, "t": followed_at})
        except Exception as exc:  # bus away: members see it when they next join
            self.log.warning("#%s: follow change not published: %s", name, exc)

    # ---- bus ----

    async def _publish(
        self, name: str, *, events: Sequence[tuple[Message, Category, int | None]] = (),
        state: dict[str, Any] | None = None,
    ) -> None:
        await self._enqueue(name, events=events, state=state)

    def _enqueue(
        self, name: str, *, events: Sequence[tuple[Message, Category, int | None]] = (),
        state: dict[str, Any] | None = None,
    ) -> asyncio.Future[None]:
        """Queue one payload for the node's publisher; the future completes once published."""
        payload = json.dumps({
            "s": state,
            "e": [[m.serialize(), c.value, x] for m, c, x in events],
        }, separators=(",", ":")).encode()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((name, payload, fut))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())
        return fut

    async def _publish_loop(self) -> None:
        """One publisher per node keeps each room's events in the order they were made."""
        while True:
            name, payload, fut = await self._outbox.get()
            try:
                await self.bus.publish(name, payload)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if not fut.done():
                fut.set_result(None)

    def _on_bus(self, name: str, payload: bytes) -> None:
        room = self.rooms.get(name)
        if room is None:
            return
        try:
            data = json.loads(payload)
            self._apply(room, data.get("s"))
            for line, cat, excl in data.get("e", ()):
                room.fanout.deliver(RoomEvent(
                    Message.parse(line, max_body=16384), Category(cat),
                    None if excl is None else str(excl),
                ))
        except Exception:
            self.log.exception("bad bus payload for room %s", name)

    def _apply(self, room: Room, state: dict[str, Any] | None) -> None:
        if not state:
            return
        kind = state["k"]
        snap = room.snap
        if kind == "msg":
            room.messages += 1
            if "b" in state:  # a cheer: the sender's new cheered total (bits badge)
                self._set_bits(room, state["u"], state["b"])
            room.recent[state["id"]] = (state["u"], state["l"], state["d"], state["t"])
            if len(room.recent) > RECENT_MESSAGES:
                room.recent.popitem(last=False)
            if snap.r9k:
                room.recent_texts[normalize_for_r9k(state["t"])] = state["at"]
                while len(room.recent_texts) > RECENT_MESSAGES:
                    room.recent_texts.popitem(last=False)
        elif kind == "ban":
            snap.bans[state["u"]] = state["e"]
        elif kind == "unban":
            snap.bans.pop(state["u"], None)
        elif kind == "modes":
            for key, value in state["m"].items():
                setattr(snap, key, value)
        elif kind == "emote":
            emote = EmoteInfo(**state["e"])
            if state["p"]:
                snap.emotes[emote.code] = emote
            else:
                snap.emotes.pop(emote.code, None)
        elif kind == "term":
            (snap.blocked_terms.add if state["p"] else snap.blocked_terms.discard)(state["t"])
        elif kind == "role":
            target = snap.moderators if state["r"] == "moderator" else snap.vips
            (target.add if state["p"] else target.discard)(state["u"])
        elif kind == "follow":
            for member in room.members.values():
                if member.user.id == state["u"]:
                    member.followed_at = state["t"]
        elif kind == "sub":
            status = None if state["s"] is None else SubscriberStatus(*state["s"])
            for member in room.members.values():
                if member.user.id == state["u"]:
                    member.subscription = status

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(_log_task_error(self.log))

    async def close(self) -> None:
        for name in list(self.rooms):
            room = self.rooms.pop(name)
            await room.fanout.close()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        await self.store.close()


_ROLE_UNCHANGED = {
    ("moderator", True): "bad_mod_mod", ("moderator", False): "bad_unmod_mod",
    ("vip", True): "bad_vip_grantee_already_vip", ("vip", False): "bad_unvip_grantee_not_vip",
}


def _log_task_error(log: logging.Logger) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("chat task failed", exc_info=task.exception())

    return done


def _mode_notice(key: str, value: Any) -> tuple[str, str]:
    if key == "slow":
        if value:
            return "slow_on", (f"This room is now in slow mode. You may send messages every "
                               f"{value} seconds.")
        return "slow_off", "This room is no longer in slow mode."
    if key == "followers_only":
        if value < 0:
            return "followers_off", "This room is no longer in followers-only mode."
        if value == 0:
            return "followers_on_zero", "This room is now in followers-only mode."
        return "followers_on", f"This room is now in {value} minutes followers-only mode."
    if key == "subs_only":
        return ("subs_on", "This room is now in subscribers-only mode.") if value else (
            "subs_off", "This room is no longer in subscribers-only mode.")
    if key == "emote_only":
        return ("emote_only_on", "This room is now in emote-only mode.") if value else (
            "emote_only_off", "This room is no longer in emote-only mode.")
    return ("r9k_on", "This room is now in unique-chat mode.") if value else (
        "r9k_off", "This room is no longer in unique-chat mode.")
