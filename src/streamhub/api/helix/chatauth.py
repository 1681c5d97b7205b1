"""Shared by the chat-facing Helix routers: acting moderators, chat identities, error mapping."""

from __future__ import annotations

from sqlalchemy import select

from streamhub.api.auth import Principal, authorize_channel
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.people import Person, parse_user_id, person
from streamhub.chat.service import ChatError, ChatUser
from streamhub.storage.models import User

ONE_LINE = r"^[^\x00\r\n]*$"  # chat text: no NUL, CR or LF (they cannot travel in IRC)
MESSAGE_ID = r"^[A-Za-z0-9-]{1,64}$"


def need_any(who: Principal, *scopes: str) -> None:
    """401 unless the token holds at least one of `scopes`."""
    if not any(scope in who.scopes for scope in scopes):
        raise ApiError(401, "Missing scope: " + " or ".join(scopes))


async def chat_user(ctx: ApiContext, user_id: int) -> ChatUser:
    """The user as chat shows them (login, display name, chosen color)."""
    async with ctx.sessions() as session:
        row = (await session.execute(
            select(User.id, User.login, User.display_name, User.chat_color, User.is_admin)
            .where(User.id == user_id))).first()
    if row is None:
        raise ApiError(400, f"No user with ID {user_id}")
    return ChatUser(row.id, row.login, row.display_name, row.chat_color,
                    staff=bool(row.is_admin))


async def acting_moderator(
    ctx: ApiContext, who: Principal, broadcaster_id: str, moderator_id: str,
) -> tuple[Person, ChatUser]:
    """The channel and the moderator acting in it: `moderator_id` must be the token's user
    (403) and the broadcaster or one of the channel's moderators (403)."""
    broadcaster = await person(ctx, broadcaster_id, "broadcaster_id")
    mod_id = parse_user_id(moderator_id, "moderator_id")
    who.require_self(mod_id, "moderator_id")
    await authorize_channel(ctx, who, broadcaster.id, ("broadcaster", "moderator"), admin=False)
    return broadcaster, await chat_user(ctx, mod_id)


async def the_broadcaster(ctx: ApiContext, who: Principal, broadcaster_id: str) -> Person:
    """The channel, whose broadcaster must be the token's user (403)."""
    broadcaster = await person(ctx, broadcaster_id, "broadcaster_id")
    who.require_self(broadcaster.id)
    return broadcaster


def chat_refusal(exc: ChatError, statuses: dict[str, int] | None = None) -> ApiError:
    """A refused chat action as a Helix error (400 unless mapped otherwise)."""
    status = (statuses or {}).get(exc.msg_id)
    if status is None:
        status = 403 if exc.msg_id == "no_permission" else 400
    return ApiError(status, exc.text)
