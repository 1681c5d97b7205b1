"""The channel page `/<login>`: player, chat panel, channel info, about panels, schedule and
the latest videos (recorded past broadcasts)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from streamhub.api.context import ApiContext
from streamhub.channels import follows, profile, schedule
from streamhub.channels.service import LOGIN_RE
from streamhub.utc import aware
from streamhub.web import videos
from streamhub.web.site import Site

ACCENT = re.compile(r"^#[0-9A-Fa-f]{6}$")
SAFE_URL = re.compile(r"^https?://[^\s<>\"']{1,490}$")
SCHEDULE_DAYS = 14
SCHEDULE_ITEMS = 8

Endpoint = Callable[[Request], Awaitable[Response]]


def safe_accent(value: str | None) -> str:
    """The channel's accent color if it is a valid #RRGGBB, else ""."""
    return value.upper() if value and ACCENT.fullmatch(value) else ""


def safe_url(value: str | None) -> str:
    """An http(s) URL fit for an href, else "" (stored links are validated; this re-checks)."""
    return value if value and SAFE_URL.fullmatch(value) else ""


def duration_text(minutes: int) -> str:
    hours, mins = divmod(max(0, minutes), 60)
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def iso(value: datetime) -> str:
    return aware(value).isoformat().replace("+00:00", "Z")


def channel_page(ctx: ApiContext, site: Site | None = None) -> Endpoint:
    """The `/<login>` endpoint (served by the origin app, after every fixed route)."""
    pages = site or Site(ctx)

    async def page(request: Request) -> Response:
        viewer = await pages.viewer(request)
        login = request.path_params["login"].lower()
        found = (await profile.profiles(ctx.sessions, logins=[login])
                 if LOGIN_RE.fullmatch(login) else [])
        if not found:
            return pages.not_found(request, viewer, f"There is no channel named {login[:40]}.")
        user = found[0]
        chans = await profile.channels(ctx.sessions, [user.id])
        channel = chans[0] if chans else None
        now = datetime.now(UTC)
        segments = await schedule.segments(ctx.sessions, user.id)
        vacation = await schedule.vacation(ctx.sessions, user.id)
        upcoming = schedule.expand(segments, now, now + timedelta(days=SCHEDULE_DAYS),
                                   vacation, SCHEDULE_ITEMS)
        _rows, follower_total = await follows.followers(ctx.sessions, user.id, limit=1)
        following = False
        if viewer is not None and viewer.user_id != user.id:
            _mine, n = await follows.followed(ctx.sessions, viewer.user_id,
                                              channel_id=user.id, limit=1)
            following = n > 0
        stream = ctx.hub.get(user.login)
        live = stream is not None and stream.live
        panels = [{"title": p.title, "body": p.body, "link": safe_url(p.link_url),
                   "image": f"/images/{p.image_key}" if p.image_key else ""}
                  for p in await profile.panels(ctx.sessions, user.id)]
        links = [{"title": s.title, "url": safe_url(s.url)}
                 for s in await profile.social_links(ctx.sessions, user.id)]
        data: dict[str, Any] = {
            "login": user.login, "user_id": str(user.id), "display_name": user.display_name,
            "followers": follower_total, "following": following,
            "accent": safe_accent(channel.accent_color if channel else None),
            "started_at": iso(stream.started_at) if live and stream is not None else None,
        }
        context = {
            "user": user, "channel": channel, "data": data, "live": live,
            "avatar": f"/images/{user.profile_image_key}" if user.profile_image_key else "",
            "banner": f"/images/{user.banner_image_key}" if user.banner_image_key else "",
            "panels": panels, "links": [x for x in links if x["url"]],
            "schedule": [{"title": o.segment.title, "category": o.segment.category_name,
                          "start": iso(o.start), "end": iso(o.end),
                          "canceled": o.canceled_until is not None} for o in upcoming],
            "vacation": [iso(v) for v in vacation] if vacation else None,
            "videos": await videos.channel_cards(ctx, user.id),
            "is_owner": viewer is not None and viewer.user_id == user.id,
        }
        return pages.render(request, "channel.html", context, viewer=viewer)

    return page
