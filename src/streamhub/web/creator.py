"""The creator dashboard's Moderation and Customize tabs (pages; their scripts call Helix)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from streamhub.api.auth import channel_roles
from streamhub.api.context import ApiContext
from streamhub.api.people import Person, people_by_login
from streamhub.storage.models import ChannelRole, User
from streamhub.web.session import WebUser
from streamhub.web.site import Site

# Duration choices of the timeout picker (seconds, label), 1 s to 14 days as Twitch allows.
TIMEOUT_CHOICES = (
    (1, "1 second"), (60, "1 minute"), (600, "10 minutes"), (3600, "1 hour"),
    (86400, "1 day"), (604800, "1 week"), (1209600, "14 days"),
)
_LOGIN = re.compile(r"[a-z0-9_]{1,25}")


async def moderated_channels(ctx: ApiContext, user_id: int) -> list[Person]:
    """The channels the user moderates, by login."""
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(User.id, User.login, User.display_name)
            .join(ChannelRole, ChannelRole.channel_id == User.id)
            .where(ChannelRole.user_id == user_id, ChannelRole.role == "moderator")
            .order_by(User.login))
        return [Person(r.id, r.login, r.display_name) for r in rows]


def router(ctx: ApiContext) -> APIRouter:
    """GET /dashboard/moderation[?channel=<login>] and /dashboard/customize (log in first)."""
    api = APIRouter(include_in_schema=False)
    site = Site(ctx)

    async def channel_to_moderate(viewer: WebUser, login: str | None,
                                  ) -> Person | tuple[int, str]:
        """The channel the page acts on: the viewer's own, or one the viewer moderates (or
        any, for a site admin); otherwise the status and reason it is refused."""
        own = Person(viewer.user_id, viewer.login, viewer.display_name)
        wanted = (login or "").strip().lower()
        if not wanted or wanted == viewer.login:
            return own
        found = (await people_by_login(ctx, [wanted])).get(wanted) if _LOGIN.fullmatch(
            wanted) else None
        if found is None:
            return 404, "There is no channel with that name."
        if viewer.is_admin or "moderator" in await channel_roles(ctx, found.id, viewer.user_id):
            return found
        return 403, "You are not a moderator of this channel."

    @api.get("/dashboard/moderation")
    async def moderation_page(request: Request, channel: str | None = None) -> Response:
        viewer = await site.require_viewer(request)
        if isinstance(viewer, Response):
            return viewer
        target = await channel_to_moderate(viewer, channel)
        if isinstance(target, tuple):
            status, message = target
            return site.render(request, "site_message.html", {
                "heading": "Not found" if status == 404 else "Not allowed", "message": message,
            }, viewer=viewer, status=status)
        return site.render(request, "dashboard_moderation.html", {
            "dashboard_tab": "moderation", "timeout_choices": TIMEOUT_CHOICES,
            "channel": target, "is_broadcaster": target.id == viewer.user_id,
            "moderated": await moderated_channels(ctx, viewer.user_id),
        }, viewer=viewer)

    @api.get("/dashboard/customize")
    async def customize_page(request: Request) -> Response:
        viewer = await site.require_viewer(request)
        if isinstance(viewer, Response):
            return viewer
        return site.render(request, "dashboard_customize.html", {
            "dashboard_tab": "customize",
        }, viewer=viewer)

    return api
