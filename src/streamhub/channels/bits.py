"""Bits: per-user balances (granted by a site admin for now) and per-channel cheered totals.

Cheering debits the balance with one conditional UPDATE (`balance >= amount`), so concurrent
cheers can never overspend; the cheered total grows in the same transaction. Buying Bits is
the money feature's (a later issue): it will call `grant` after a payment clears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import BitsBalance, BitsCheered, User, utcnow

MAX_GRANT = 100_000_000


class BitsError(ValueError):
    """A Bits operation that cannot be done (unknown user, bad amount)."""


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    user_id: int
    login: str
    display_name: str
    rank: int
    score: int


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL both have it)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


class BitsService:
    """Balances and cheers on the database; the chat calls `cheer` before publishing."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def grant(self, login: str, amount: int) -> tuple[int, int]:
        """Add `amount` Bits to a user's balance; returns (user id, new balance)."""
        if not 0 < amount <= MAX_GRANT:
            raise BitsError(f"amount must be 1 to {MAX_GRANT}")
        async with self._sessions() as session, session.begin():
            user_id = await session.scalar(select(User.id).where(User.login == login.lower()))
            if user_id is None:
                raise BitsError(f"no user {login!r}")
            stmt = _insert(session)(BitsBalance).values(
                user_id=user_id, balance=amount, updated_at=utcnow())
            stmt = stmt.on_conflict_do_update(
                index_elements=[BitsBalance.user_id],
                set_={"balance": BitsBalance.balance + amount, "updated_at": utcnow()},
            ).returning(BitsBalance.balance)
            balance = (await session.execute(stmt)).scalar_one()
        return user_id, int(balance)

    async def balance(self, user_id: int) -> int:
        async with self._sessions() as session:
            found = await session.scalar(
                select(BitsBalance.balance).where(BitsBalance.user_id == user_id))
            return int(found or 0)

    async def cheer(self, channel_id: int, user_id: int, amount: int) -> int | None:
        """Debit `amount` and add it to the user's cheered total in the channel, atomically;
        the new total, or None (nothing changed) when the balance is too small."""
        if amount <= 0:
            raise BitsError("a cheer is at least 1 Bit")
        async with self._sessions() as session, session.begin():
            debited = await session.execute(
                update(BitsBalance)
                .where(BitsBalance.user_id == user_id, BitsBalance.balance >= amount)
                .values(balance=BitsBalance.balance - amount, updated_at=utcnow()))
            if getattr(debited, "rowcount", 0) != 1:
                return None
            return await self._add_cheered(session, channel_id, user_id, amount)

    async def refund(self, channel_id: int, user_id: int, amount: int) -> int:
        """Undo a cheer whose message was not delivered; returns the cheered total."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(BitsBalance).where(BitsBalance.user_id == user_id)
                .values(balance=BitsBalance.balance + amount, updated_at=utcnow()))
            return await self._add_cheered(session, channel_id, user_id, -amount)

    @staticmethod
    async def _add_cheered(session: AsyncSession, channel_id: int, user_id: int,
                           amount: int) -> int:
        stmt = _insert(session)(BitsCheered).values(
            channel_id=channel_id, user_id=user_id, total=max(amount, 0), updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(
            index_elements=[BitsCheered.channel_id, BitsCheered.user_id],
            set_={"total": BitsCheered.total + amount, "updated_at": utcnow()},
        ).returning(BitsCheered.total)
        return int((await session.execute(stmt)).scalar_one())

    async def cheered(self, channel_id: int, user_id: int) -> int:
        """Bits the user has cheered in the channel in all."""
        async with self._sessions() as session:
            found = await session.scalar(select(BitsCheered.total).where(
                BitsCheered.channel_id == channel_id, BitsCheered.user_id == user_id))
            return int(found or 0)

    async def leaderboard(self, channel_id: int, count: int, user_id: int | None = None,
                          ) -> tuple[list[LeaderboardRow], int]:
        """The channel's top cheerers of all time (ties by earliest to reach the total), and
        how many users have cheered. With `user_id`: that user's rank and those around it,
        as Twitch does."""
        ranked = (
            select(BitsCheered.user_id, User.login, User.display_name, BitsCheered.total,
                   func.row_number().over(order_by=(BitsCheered.total.desc(),
                                                     BitsCheered.updated_at,
                                                     BitsCheered.user_id)).label("rank"))
            .join(User, User.id == BitsCheered.user_id)
            .where(BitsCheered.channel_id == channel_id, BitsCheered.total > 0)
        ).subquery()
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(ranked)) or 0
            start = 1
            if user_id is not None:
                mine = await session.scalar(
                    select(ranked.c.rank).where(ranked.c.user_id == user_id))
                if mine is None:
                    return [], int(total)
                start = max(1, int(mine) - (count - 1) // 2)
            rows = await session.execute(
                select(ranked).where(ranked.c.rank >= start).order_by(ranked.c.rank)
                .limit(count))
            return [LeaderboardRow(r.user_id, r.login, r.display_name, int(r.rank),
                                   int(r.total)) for r in rows], int(total)
