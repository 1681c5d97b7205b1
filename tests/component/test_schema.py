"""The Alembic migrations produce exactly the ORM's schema, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Base


async def test_migrations_match_models(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        conn = await session.connection()
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []
