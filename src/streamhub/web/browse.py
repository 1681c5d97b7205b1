"""What the directory pages show: live stream cards, categories with viewers, channel search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Select, case, func, select

from streamhub.api.context import ApiContext
from streamhub.api.helix.streams import viewer_count
from streamhub.channels import categories, follows, profile
from streamhub.channels.streams import LiveStream
from streamhub.storage.models import Category, Channel, User
from streamhub.utc import aware, rfc3339

BOX_ART = "/images/boxart/{id}-{w}x{h}.svg"


@dataclass(frozen=True, slots=True)
class Card:
    """One live stream as a directory card."""

    user_id: int
    login: str
    display_name: str
    title: str
    category_id: int | None
    category_name: str
    tags: list[str]
    viewers: int
    started_at: str  # RFC 3339 (UTC)
    uptime: str
    avatar_url: str | None
    thumbnail_url: str | None


@dataclass(frozen=True, slots=True)
class CategoryTile:
    id: int
    name: str
    box_art_url: str
    viewers: int
    channels: int


@dataclass(frozen=True, slots=True)
class ChannelHit:
    """A channel found by search, or followed: live or not."""

    user_id: int
    login: str
    display_name: str
    avatar_url: str | None
    title: str
    category_id: int | None
    category_name: str
    live: bool


def box_art(category_id: int, width: int = 144, height: int = 192) -> str:
    return BOX_ART.format(id=category_id, w=width, h=height)


def avatar(key: str | None) -> str | None:
    return f"/images/{key}" if key else None


def uptime(started: datetime, now: datetime) -> str:
    """Twitch's uptime form: H:MM:SS."""
    seconds = max(0, int((now - aware(started)).total_seconds()))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def thumbnail_url(folder: Path, login: str) -> str | None:
    """The stream's thumbnail with its write time as a version (so caches refresh), or None."""
    try:
        version = int((folder / f"{login}.jpg").stat().st_mtime)
    except OSError:
        return None
    return f"/thumbnails/{login}.jpg?v={version}"


async def _avatars(ctx: ApiContext, ids: Iterable[int]) -> dict[int, str | None]:
    found = await profile.profiles(ctx.sessions, ids=ids)
    return {p.id: avatar(p.profile_image_key) for p in found}


async def live_cards(ctx: ApiContext, folder: Path) -> list[Card]:
    """Every live stream, most viewers first (the node's LiveDirectory)."""
    listing = await ctx.live.listing(lambda login: viewer_count(ctx, login))
    return await _cards(ctx, folder, listing)


async def _cards(ctx: ApiContext, folder: Path, listing: Sequence[tuple[int, LiveStream]],
                 ) -> list[Card]:
    avatars = await _avatars(ctx, [s.user_id for _, s in listing])
    now = datetime.now(UTC)
    return [Card(s.user_id, s.login, s.display_name, s.title, s.category_id, s.category_name,
                 s.tags, v, rfc3339(s.started_at), uptime(s.started_at, now),
                 avatars.get(s.user_id), thumbnail_url(folder, s.login))
            for v, s in listing]


def split_followed(cards: Sequence[Card], followed: set[int]) -> tuple[list[Card], list[Card]]:
    """(live channels the viewer follows, the others), each keeping its order."""
    return ([c for c in cards if c.user_id in followed],
            [c for c in cards if c.user_id not in followed])


async def followed_ids(ctx: ApiContext, user_id: int) -> set[int]:
    return await follows.followed_ids(ctx.sessions, user_id)


async def category_tiles(ctx: ApiContext, cards: Sequence[Card], limit: int = 60,
                         ) -> list[CategoryTile]:
    """Categories with live viewers and channels, most viewers first (then by live
    channels and name, as Helix games/top)."""
    found = await categories.top(ctx.sessions, 0, limit)
    viewers: dict[int, int] = {}
    channels: dict[int, int] = {}
    for c in cards:
        if c.category_id is not None:
            viewers[c.category_id] = viewers.get(c.category_id, 0) + c.viewers
            channels[c.category_id] = channels.get(c.category_id, 0) + 1
    tiles = [CategoryTile(c.id, c.name, box_art(c.id), viewers.get(c.id, 0),
                          channels.get(c.id, 0)) for c in found]
    order = {t.id: i for i, t in enumerate(tiles)}
    return sorted(tiles, key=lambda t: (-t.viewers, -t.channels, order[t.id]))


async def category(ctx: ApiContext, category_id: int) -> CategoryTile | None:
    found = await categories.lookup(ctx.sessions, ids=[category_id])
    if not found:
        return None
    return CategoryTile(found[0].id, found[0].name, box_art(found[0].id), 0, 0)


async def search_categories(ctx: ApiContext, query: str, limit: int = 24) -> list[CategoryTile]:
    return [CategoryTile(c.id, c.name, box_art(c.id), 0, 0)
            for c in await categories.search(ctx.sessions, query, 0, limit)]


Row = tuple[int, str, str, str | None, str, int | None, str]


def _hits(rows: Iterable[Row], live: set[int]) -> list[ChannelHit]:
    return [ChannelHit(uid, login, name, avatar(image), title, cid, cat or "", uid in live)
            for uid, login, name, image, title, cid, cat in rows]


def _channel_query() -> Select[int, str, str, str | None, str, int | None, str]:
    return (select(User.id, User.login, User.display_name, User.profile_image_key,
                   Channel.title, Channel.category_id, Category.name)
            .join(Channel, Channel.user_id == User.id)
            .outerjoin(Category, Category.id == Channel.category_id))


async def search_channels(ctx: ApiContext, query: str, live: set[int], limit: int = 24,
                          ) -> list[ChannelHit]:
    """Channels whose login or display name contains `query`: live ones first, then exact
    and prefix matches, then by login."""
    q = query.strip().lower()
    login = func.lower(User.login)
    stmt = (_channel_query()
            .where(login.contains(q, autoescape=True)
                   | func.lower(User.display_name).contains(q, autoescape=True))
            .order_by(case((User.id.in_(sorted(live)), 0), else_=1),
                      case((login == q, 0), (login.startswith(q, autoescape=True), 1), else_=2),
                      login)
            .limit(limit))
    async with ctx.sessions() as session:
        rows = (await session.execute(stmt)).tuples().all()
    return _hits(rows, live)


async def followed_channels(ctx: ApiContext, user_id: int, live: set[int], limit: int = 100,
                            ) -> list[ChannelHit]:
    """The channels the user follows: live ones first, then by most recently followed."""
    rows, _ = await follows.followed(ctx.sessions, user_id, limit=limit)
    order = {r.user_id: i for i, r in enumerate(rows)}
    if not order:
        return []
    async with ctx.sessions() as session:
        found = (await session.execute(
            _channel_query().where(User.id.in_(sorted(order))))).tuples().all()
    hits = _hits(found, live)
    return sorted(hits, key=lambda h: (not h.live, order[h.user_id]))
