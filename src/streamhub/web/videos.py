"""The VOD page `/videos/<id>` and the channel page's list of recorded broadcasts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from streamhub.api.context import ApiContext
from streamhub.vod import library
from streamhub.vod.recordings import Recordings
from streamhub.web.site import Site

CHANNEL_VIDEOS = 5


@dataclass(frozen=True, slots=True)
class VideoCard:
    """One ended broadcast as the site lists it."""

    id: int
    title: str
    category: str
    category_id: int | None
    start: str  # ISO 8601 UTC
    duration: str  # "1h 02m", "7m"
    recorded: bool
    thumbnail: str  # URL, "" when not recorded

    @property
    def url(self) -> str:
        return f"/videos/{self.id}" if self.recorded else ""


def recordings(ctx: ApiContext) -> Recordings:
    return Recordings(ctx.settings.data_dir / "media")


def duration_text(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def iso(video: library.Video) -> str:
    return video.started_at.isoformat().replace("+00:00", "Z")


async def channel_cards(ctx: ApiContext, channel_id: int,
                        limit: int = CHANNEL_VIDEOS) -> list[VideoCard]:
    """The channel's latest ended broadcasts, newest first; the recorded ones link to their
    VOD page and have a thumbnail."""
    videos = await library.channel_videos(ctx.sessions, channel_id, limit)
    store = recordings(ctx)
    recorded = await asyncio.to_thread(
        lambda: [store.has(v.login, v.session_id) for v in videos])
    return [VideoCard(v.id, v.title, v.category_name, v.category_id, iso(v),
                      duration_text(v.seconds), rec,
                      f"/vod/{v.login}/{v.session_id}/thumb.jpg" if rec else "")
            for v, rec in zip(videos, recorded, strict=True)]


def router(ctx: ApiContext) -> APIRouter:
    """`/videos/<id>`: one recorded broadcast with its player."""
    api = APIRouter(include_in_schema=False)
    site = Site(ctx)
    store = recordings(ctx)

    @api.get("/videos/{stream_id}")
    async def video_page(request: Request, stream_id: str) -> Response:
        viewer = await site.viewer(request)
        video = (await library.video(ctx.sessions, int(stream_id))
                 if stream_id.isdigit() and len(stream_id) <= 12 else None)
        if video is None:
            return site.not_found(request, viewer, "There is no such video.")
        recording = store.get(video.login, video.session_id)
        seconds = await asyncio.to_thread(recording.duration) if recording else 0.0
        base = f"/vod/{video.login}/{video.session_id}"
        more = [c for c in await channel_cards(ctx, video.channel_id, CHANNEL_VIDEOS + 1)
                if c.id != video.id][:CHANNEL_VIDEOS]
        return site.render(request, "video.html", {
            "video": video, "start": iso(video), "recorded": seconds > 0,
            "duration": duration_text(seconds or video.seconds),
            "master": f"{base}/master.m3u8", "poster": f"{base}/thumb.jpg",
            "more": more}, viewer=viewer)

    return api
