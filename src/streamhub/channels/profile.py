"""Profiles and channel settings: validation rules, reads/updates, images, panels, social links."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.chat.images import ImageError, probe_image
from streamhub.storage.blobs import BlobStore
from streamhub.storage.models import (
    Category,
    Channel,
    ChannelPanel,
    Raid,
    SocialLink,
    StreamSession,
    User,
)
from streamhub.utc import aware

MAX_ID = 2**31 - 1  # ids are 32-bit integer columns
MAX_TITLE = 140
MAX_DESCRIPTION = 300
MAX_TAGS = 10
MAX_PANELS = 20
MAX_SOCIAL_LINKS = 5
PROFILE_IMAGE_BYTES = 2 << 20
BANNER_IMAGE_BYTES = 4 << 20
PROFILE_IMAGE_SIDE = 1024
BANNER_IMAGE_SIDE = 4096
PANEL_IMAGE_BYTES = 1 << 20
PANEL_IMAGE_SIDE = 1024
ImageKind = Literal["profile", "banner"]

_TAG = re.compile(r"^[^\W_]{1,25}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_URL = re.compile(r"^https?://[^\s<>\"']{1,490}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# ISO 639-1 codes (and "other", as Twitch allows).
_LANGUAGE_LIST = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv "
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr "
    "ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw "
    "ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv "
    "ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr "
    "ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi "
    "yo za zh zu other"
)
LANGUAGES = frozenset(_LANGUAGE_LIST.split())
RAID_FOLLOW_WINDOW = timedelta(seconds=120)  # how long a watch page still follows a raid


class ProfileError(ValueError):
    """Invalid profile or channel input; the message says which field and why."""


# ---- validation rules (pure) ----

def clean_text(value: str, name: str, limit: int, *, single_line: bool = True) -> str:
    """Strip, refuse control characters (and newlines when `single_line`) and overlong text."""
    text = value.strip()
    if len(text) > limit:
        raise ProfileError(f"{name} is {len(text)} characters; the limit is {limit}")
    bad = _CONTROL.search(text) or (single_line and re.search(r"[\r\n]", text))
    if bad:
        raise ProfileError(f"{name} contains control characters")
    return text


def check_title(value: str) -> str:
    return clean_text(value, "title", MAX_TITLE)


def check_description(value: str) -> str:
    return clean_text(value, "description", MAX_DESCRIPTION, single_line=False)


def check_tags(tags: Sequence[str]) -> list[str]:
    """At most 10 tags of 1-25 letters or digits (no spaces, no symbols); case-insensitively
    unique, keeping the first spelling."""
    if len(tags) > MAX_TAGS:
        raise ProfileError(f"at most {MAX_TAGS} tags are allowed (got {len(tags)})")
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise ProfileError(f"invalid tag {tag!r}: 1-25 letters or digits, no spaces")
        if tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return out


def check_color(value: str) -> str:
    if not _COLOR.fullmatch(value):
        raise ProfileError(f"invalid color {value!r}: expected #RRGGBB")
    return value.upper()


def check_language(value: str) -> str:
    code = value.strip().lower()
    if code not in LANGUAGES:
        raise ProfileError(f"invalid language {value!r}: expected an ISO 639-1 code or 'other'")
    return code


def check_display_name(login: str, value: str) -> str:
    """A display name may only change the letter case of the login."""
    name = value.strip()
    if name.lower() != login.lower():
        raise ProfileError("display name may only change the capitalization of the login")
    return name


def check_url(value: str, name: str = "url") -> str:
    url = value.strip()
    if not _URL.fullmatch(url):
        raise ProfileError(f"invalid {name} {value!r}: expected an http(s) URL")
    return url


# ---- reads ----

@dataclass(frozen=True, slots=True)
class ProfileInfo:
    id: int
    login: str
    display_name: str
    description: str
    email: str | None
    profile_image_key: str | None
    banner_image_key: str | None
    broadcaster_type: str
    is_admin: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    user_id: int
    login: str
    display_name: str
    title: str
    category_id: int | None
    category_name: str
    tags: list[str]
    language: str
    is_mature: bool
    accent_color: str | None


@dataclass(frozen=True, slots=True)
class Panel:
    id: int
    position: int
    title: str
    body: str
    link_url: str | None
    image_key: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    id: int
    position: int
    title: str
    url: str


def _profile(u: User) -> ProfileInfo:
    return ProfileInfo(u.id, u.login, u.display_name, u.description, u.email,
                       u.profile_image_key, u.banner_image_key, u.broadcaster_type, u.is_admin,
                       u.created_at)


async def profiles(sessions: async_sessionmaker[AsyncSession], *, ids: Iterable[int] = (),
                   logins: Iterable[str] = ()) -> list[ProfileInfo]:
    """Users by id and/or login (unknown ones are left out), ordered by id."""
    id_list, login_list = sorted(set(ids)), sorted({x.lower() for x in logins})
    if not id_list and not login_list:
        return []
    async with sessions() as session:
        rows = await session.scalars(select(User).where(
            User.id.in_(id_list) | User.login.in_(login_list)).order_by(User.id))
        return [_profile(u) for u in rows]


async def channels(sessions: async_sessionmaker[AsyncSession], ids: Iterable[int],
                   ) -> list[ChannelInfo]:
    """Channel settings of these users (unknown ids are left out), ordered by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(Channel, User.login, User.display_name, Category.name)
            .join(User, User.id == Channel.user_id)
            .outerjoin(Category, Category.id == Channel.category_id)
            .where(Channel.user_id.in_(wanted)).order_by(Channel.user_id))
        return [_channel(ch, login, name, cat) for ch, login, name, cat in rows]


def _channel(ch: Channel, login: str, name: str, category: str | None) -> ChannelInfo:
    return ChannelInfo(ch.user_id, login, name, ch.title, ch.category_id, category or "",
                       ch.tags.split() if ch.tags else [], ch.language, ch.is_mature,
                       ch.accent_color)


# ---- updates ----

@dataclass(slots=True)
class ChannelUpdate:
    """Fields to change (None = keep). `category_id` 0 clears the category."""

    title: str | None = None
    category_id: int | None = None
    language: str | None = None
    tags: list[str] | None = None
    is_mature: bool | None = None
    accent_color: str | None = None
    changed: set[str] = field(default_factory=set)


async def update_channel(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                         change: ChannelUpdate) -> ChannelInfo:
    """Validate and apply `change`; also updates the open stream row's title/category."""
    values: dict[str, object] = {}
    if change.title is not None:
        values["title"] = check_title(change.title)
    if change.language is not None:
        values["language"] = check_language(change.language)
    if change.tags is not None:
        values["tags"] = " ".join(check_tags(change.tags))
    if change.is_mature is not None:
        values["is_mature"] = change.is_mature
    if change.accent_color is not None:
        values["accent_color"] = check_color(change.accent_color)
    async with sessions() as session:
        if change.category_id is not None:
            if change.category_id == 0:
                values["category_id"] = None
            elif (change.category_id > MAX_ID
                  or await session.get(Category, change.category_id) is None):
                raise ProfileError(f"no category with ID {change.category_id}")
            else:
                values["category_id"] = change.category_id
        if values:
            await session.execute(update(Channel).where(Channel.user_id == channel_id)
                                  .values(**values))
            live = {k: v for k, v in values.items() if k in ("title", "category_id")}
            if live:
                await session.execute(update(StreamSession).where(
                    StreamSession.channel_id == channel_id, StreamSession.ended_at.is_(None))
                    .values(**live))
            await session.commit()
        change.changed = set(values)
    found = await channels(sessions, [channel_id])
    if not found:
        raise ProfileError(f"no channel with ID {channel_id}")
    return found[0]


async def update_user(sessions: async_sessionmaker[AsyncSession], user_id: int, *,
                      description: str | None = None, display_name: str | None = None,
                      ) -> ProfileInfo:
    async with sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise ProfileError(f"no user with ID {user_id}")
        if description is not None:
            user.description = check_description(description)
        if display_name is not None:
            user.display_name = check_display_name(user.login, display_name)
        await session.commit()
        return _profile(user)


def image_key(kind: str, owner_id: int, data: bytes, ext: str) -> str:
    """Content-addressed key, so the served object never changes (immutable caching)."""
    digest = hashlib.sha256(data).hexdigest()[:32]
    return f"{kind}/{owner_id}/{digest}.{ext}"


def checked_image(kind: str, owner_id: int, data: bytes, content_type: str, max_bytes: int,
                  max_side: int) -> str:
    """The blob key of an uploaded image whose bytes are a PNG, GIF, WebP or JPEG within the
    limits and match the declared Content-Type; ProfileError otherwise."""
    ext, actual = probe_upload(data, max_bytes, max_side)
    declared = content_type.split(";")[0].strip().lower()
    if declared != actual and not (actual == "image/jpeg" and declared == "image/jpg"):
        raise ProfileError(f"Content-Type {declared or '(none)'} does not match the image "
                           f"({actual})")
    return image_key(kind, owner_id, data, ext)


# JPEG start-of-frame markers (SOF0-SOF15 except DHT C4, JPG C8 and DAC CC) carry the size.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, walking the marker segments."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ProfileError("JPEG is corrupt (no marker where one was expected)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            raise ProfileError("JPEG is corrupt (bad segment length)")
        if marker in _SOF:
            if i + 9 > len(data):
                break
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        i += 2 + length
    raise ProfileError("JPEG without a frame header")


def probe_upload(data: bytes, max_bytes: int, max_side: int) -> tuple[str, str]:
    """(file extension, content type) of an accepted PNG, GIF, WebP or JPEG upload."""
    if data[:3] == b"\xff\xd8\xff":
        if len(data) > max_bytes:
            raise ProfileError(f"image is {len(data)} bytes; the limit is {max_bytes}")
        width, height = jpeg_size(data)
        if not (1 <= width <= max_side and 1 <= height <= max_side):
            raise ProfileError(f"image is {width}x{height}; each side must be 1..{max_side}")
        return "jpg", "image/jpeg"
    try:
        info = probe_image(data, max_bytes=max_bytes, max_side=max_side)
    except ImageError as exc:
        raise ProfileError(str(exc).replace("not a PNG, GIF or WebP image",
                                            "not a PNG, GIF, WebP or JPEG image")) from None
    return info.format, info.content_type


async def set_image(sessions: async_sessionmaker[AsyncSession], blobs: BlobStore,
                    user_id: int, kind: ImageKind, data: bytes, content_type: str) -> str:
    """Check and store a profile image or banner; returns its blob key. The previous image is
    deleted once the new one is in place."""
    limit, side = ((PROFILE_IMAGE_BYTES, PROFILE_IMAGE_SIDE) if kind == "profile"
                   else (BANNER_IMAGE_BYTES, BANNER_IMAGE_SIDE))
    key = checked_image(kind, user_id, data, content_type, limit, side)
    await blobs.put(key, data)
    column = User.profile_image_key if kind == "profile" else User.banner_image_key
    async with sessions() as session:
        old = await session.scalar(select(column).where(User.id == user_id))
        await session.execute(update(User).where(User.id == user_id).values({column: key}))
        await session.commit()
    if old and old != key:
        await blobs.delete(old)
    return key


# ---- panels and social links ----

@dataclass(frozen=True, slots=True)
class PanelInput:
    title: str
    body: str
    link_url: str | None = None
    image_key: str | None = None  # from store_panel_image of the same channel


@dataclass(frozen=True, slots=True)
class LinkInput:
    title: str
    url: str


async def panels(sessions: async_sessionmaker[AsyncSession], channel_id: int) -> list[Panel]:
    async with sessions() as session:
        rows = await session.scalars(select(ChannelPanel).where(
            ChannelPanel.channel_id == channel_id).order_by(ChannelPanel.position))
        return [Panel(p.id, p.position, p.title, p.body, p.link_url, p.image_key)
                for p in rows]


def check_panel_image(channel_id: int, key: str) -> str:
    """A panel's image key: one stored by `store_panel_image` for this channel."""
    if not re.fullmatch(rf"panel/{channel_id}/[0-9a-f]{{32}}\.(png|gif|webp|jpg)", key):
        raise ProfileError("panel image must be an image uploaded for this channel's panels")
    return key


async def store_panel_image(blobs: BlobStore, channel_id: int, data: bytes,
                            content_type: str) -> str:
    """Check and store a panel image (PNG, GIF, WebP or JPEG; content-addressed); its key.
    It belongs to a panel once `replace_panels` names it; unused ones are deleted then."""
    key = checked_image("panel", channel_id, data, content_type, PANEL_IMAGE_BYTES,
                        PANEL_IMAGE_SIDE)
    await blobs.put(key, data)
    return key


async def replace_panels(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                         items: Sequence[PanelInput], blobs: BlobStore | None = None,
                         ) -> list[Panel]:
    """Replace every panel of the channel (in order), validated first: all or nothing. With
    `blobs`, images no panel uses any more are deleted."""
    if len(items) > MAX_PANELS:
        raise ProfileError(f"at most {MAX_PANELS} panels are allowed")
    rows = [ChannelPanel(
        channel_id=channel_id, position=i, title=clean_text(p.title, "panel title", 100),
        body=clean_text(p.body, "panel body", 2000, single_line=False),
        link_url=check_url(p.link_url, "link_url") if p.link_url else None,
        image_key=check_panel_image(channel_id, p.image_key) if p.image_key else None)
        for i, p in enumerate(items)]
    async with sessions() as session:
        old = set(await session.scalars(select(ChannelPanel.image_key).where(
            ChannelPanel.channel_id == channel_id, ChannelPanel.image_key.is_not(None))))
        await session.execute(delete(ChannelPanel).where(ChannelPanel.channel_id == channel_id))
        session.add_all(rows)
        await session.commit()
    if blobs is not None:
        for key in old - {r.image_key for r in rows}:
            if key:
                await blobs.delete(key)
    return await panels(sessions, channel_id)


async def social_links(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                       ) -> list[Link]:
    async with sessions() as session:
        rows = await session.scalars(select(SocialLink).where(
            SocialLink.channel_id == channel_id).order_by(SocialLink.position))
        return [Link(s.id, s.position, s.title, s.url) for s in rows]


async def replace_social_links(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                               items: Sequence[LinkInput]) -> list[Link]:
    if len(items) > MAX_SOCIAL_LINKS:
        raise ProfileError(f"at most {MAX_SOCIAL_LINKS} social links are allowed")
    rows = []
    for i, link in enumerate(items):
        title = clean_text(link.title, "link title", 64)
        if not title:
            raise ProfileError("link title must not be empty")
        rows.append(SocialLink(channel_id=channel_id, position=i, title=title,
                               url=check_url(link.url)))
    async with sessions() as session:
        await session.execute(delete(SocialLink).where(SocialLink.channel_id == channel_id))
        session.add_all(rows)
        await session.commit()
    return await social_links(sessions, channel_id)


async def viewer_settings(sessions: async_sessionmaker[AsyncSession], login: str,
                          now: datetime | None = None) -> dict[str, object] | None:
    """What the watch page shows of a channel's live settings (title, category, tags) and
    the raid it sent its viewers on within the last RAID_FOLLOW_WINDOW (or None)."""
    async with sessions() as session:
        row = (await session.execute(
            select(Channel.user_id, Channel.title, Channel.category_id, Category.name,
                   Channel.tags)
            .join(User, User.id == Channel.user_id)
            .outerjoin(Category, Category.id == Channel.category_id)
            .where(User.login == login.lower()))).first()
        if row is None:
            return None
        raid = await recent_raid(session, row[0], now or datetime.now(UTC))
    return {"title": row[1], "game_id": str(row[2] or ""), "game_name": row[3] or "",
            "tags": row[4].split() if row[4] else [], "raid": raid}


class ViewerSettingsCache:
    """`viewer_settings` per channel, read at most once per `ttl` seconds: every watch page
    polls it (every 5 s per viewer). It is also an EventSink: this node's `channel.update`
    and `channel.raid` refresh that channel at once; other nodes' changes show within `ttl`.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: dict[str, tuple[float, dict[str, object] | None]] = {}

    async def get(self, login: str) -> dict[str, object] | None:
        key = login.lower()
        found = self._entries.get(key)
        if found is not None and found[0] > self._clock():
            return found[1]
        value = await viewer_settings(self._sessions, key)
        if self._ttl > 0:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (self._clock() + self._ttl, value)
        return value

    def wants(self, type: str) -> bool:
        return type in ("channel.update", "channel.raid")

    def emit(self, type: str, event: Mapping[str, Any]) -> None:
        for field_name in ("broadcaster_user_login", "from_broadcaster_user_login"):
            login = event.get(field_name)
            if isinstance(login, str):
                self._entries.pop(login.lower(), None)


async def recent_raid(session: AsyncSession, from_id: int, now: datetime,
                      ) -> dict[str, str] | None:
    """The channel's latest executed raid if it went out within RAID_FOLLOW_WINDOW:
    `{"to_login", "to_name", "at"}` (`at` in RFC 3339 with milliseconds, UTC)."""
    found = (await session.execute(
        select(User.login, User.display_name, Raid.executed_at)
        .join(User, User.id == Raid.to_id)
        .where(Raid.from_id == from_id, Raid.status == "done", Raid.executed_at.is_not(None))
        .order_by(Raid.executed_at.desc(), Raid.id.desc()).limit(1))).first()
    if found is None or found[2] is None:
        return None
    at = aware(found[2])
    if at <= now - RAID_FOLLOW_WINDOW:
        return None
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"to_login": found[0], "to_name": found[1], "at": stamp}
