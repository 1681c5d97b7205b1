"""Channel editors: the broadcaster appoints and removes them (logged in the moderation log)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import ChannelRole, ModerationAction, User


class RoleError(ValueError):
    """An editor change that cannot be made (unknown user, the broadcaster, no change)."""


async def set_editor(sessions: async_sessionmaker[AsyncSession], channel_id: int, user_id: int,
                     present: bool) -> None:
    """Make `user_id` an editor of the channel (present) or remove them; RoleError when the
    user is unknown, is the broadcaster, is already an editor or is not one."""
    if user_id == channel_id:
        raise RoleError("The broadcaster cannot be an editor of their own channel")
    async with sessions() as session:
        if await session.get(User, user_id) is None:
            raise RoleError(f"No user with ID {user_id}")
        existing = await session.get(ChannelRole, (channel_id, user_id, "editor"))
        if present == (existing is not None):
            state = "already" if present else "not"
            raise RoleError(f"The user in user_id is {state} an editor of this channel")
        if present:
            session.add(ChannelRole(channel_id=channel_id, user_id=user_id, role="editor"))
        else:
            await session.delete(existing)
        session.add(ModerationAction(channel_id=channel_id, moderator_id=channel_id,
                                     action=("add_" if present else "remove_") + "editor",
                                     target_user_id=user_id))
        try:
            await session.commit()
        except IntegrityError:  # a concurrent request made the same change first
            raise RoleError("The user in user_id is already an editor of this channel") from None
