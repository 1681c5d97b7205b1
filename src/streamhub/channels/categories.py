"""Stream categories (Helix "games"): lookups, name search, top by live channels, box art."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Category, Channel, StreamSession


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    id: int
    name: str
    igdb_id: str


def _info(c: Category) -> CategoryInfo:
    return CategoryInfo(c.id, c.name, c.igdb_id)


async def lookup(sessions: async_sessionmaker[AsyncSession], *, ids: Iterable[int] = (),
                 names: Iterable[str] = (), igdb_ids: Iterable[str] = ()) -> list[CategoryInfo]:
    """Categories matching any of the ids, names (exact, case-insensitive) or IGDB ids."""
    id_list = sorted(set(ids))
    name_list = sorted({n.strip().lower() for n in names})
    igdb_list = sorted({i for i in igdb_ids if i})
    if not (id_list or name_list or igdb_list):
        return []
    async with sessions() as session:
        rows = await session.scalars(select(Category).where(
            Category.id.in_(id_list) | func.lower(Category.name).in_(name_list)
            | Category.igdb_id.in_(igdb_list)).order_by(Category.id))
        return [_info(c) for c in rows]


async def search(sessions: async_sessionmaker[AsyncSession], query: str, offset: int,
                 limit: int) -> list[CategoryInfo]:
    """Names containing `query` (case-insensitive), names starting with it first."""
    q = query.strip().lower()
    name = func.lower(Category.name)
    async with sessions() as session:
        rows = await session.scalars(
            select(Category).where(name.contains(q, autoescape=True))
            .order_by(case((name.startswith(q, autoescape=True), 0), else_=1), name, Category.id)
            .offset(offset).limit(limit))
        return [_info(c) for c in rows]


async def top(sessions: async_sessionmaker[AsyncSession], offset: int, limit: int,
              ) -> list[CategoryInfo]:
    """Categories by how many channels are live in them, then by name."""
    live = (select(Channel.category_id.label("cid"), func.count().label("n"))
            .join(StreamSession, StreamSession.channel_id == Channel.user_id)
            .where(StreamSession.ended_at.is_(None), Channel.category_id.is_not(None))
            .group_by(Channel.category_id).subquery())
    async with sessions() as session:
        rows = await session.scalars(
            select(Category).outerjoin(live, live.c.cid == Category.id)
            .order_by(func.coalesce(live.c.n, 0).desc(), Category.name, Category.id)
            .offset(offset).limit(limit))
        return [_info(c) for c in rows]


def box_art_url(base_url: str, category_id: int) -> str:
    """A Twitch-style template: clients replace {width} and {height}."""
    return f"{base_url.rstrip('/')}/images/boxart/{category_id}-{{width}}x{{height}}.svg"


def box_art_svg(name: str, width: int, height: int) -> str:
    """A generated placeholder cover: the category name on a colour derived from it."""
    hue = sum(name.encode()) * 37 % 360
    size = max(8, min(width, height) // 8)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" '
        f'fill="hsl({hue},45%,30%)"/><text x="50%" y="50%" fill="#fff" font-family="sans-serif" '
        f'font-size="{size}" text-anchor="middle" dominant-baseline="middle">'
        f"{escape(name)}</text></svg>"
    )
