"""Helix schedule: segments (one-off and weekly), vacation settings and the iCalendar feed."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from streamhub.api.auth import Principal, authorize_channel, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.paging import Page, decode_cursor, encode_cursor, page_params
from streamhub.api.people import Person, person
from streamhub.api.times import parse_rfc3339, rfc3339
from streamhub.channels import schedule
from streamhub.channels.schedule import (
    Occurrence,
    ScheduleError,
    SegmentChange,
    SegmentNotFound,
)

HORIZON = timedelta(days=366)
Duration = Annotated[int | str, Field(description="Minutes (30-1380)")]


def minutes(value: int | str | None) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 5:
        raise ApiError(400, "Invalid 'duration': expected a number of minutes")
    return int(text)


def category(value: str | None) -> int | None:
    if value is None:
        return None
    if value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise ApiError(400, "Invalid 'category_id'")
    return int(value)


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_time: str = Field(max_length=40)
    timezone: str = Field(max_length=64)
    duration: Duration
    is_recurring: bool = False
    category_id: str | None = Field(default=None, max_length=18)
    title: str = Field(default="", max_length=140)


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_time: str | None = Field(default=None, max_length=40)
    duration: Duration | None = None
    category_id: str | None = Field(default=None, max_length=18)
    title: str | None = Field(default=None, max_length=140)
    is_canceled: bool | None = None
    timezone: str | None = Field(default=None, max_length=64)


def segment_json(o: Occurrence) -> dict[str, Any]:
    seg = o.segment
    until = o.canceled_until
    return {
        "id": o.id, "start_time": rfc3339(o.start), "end_time": rfc3339(o.end),
        "title": seg.title, "canceled_until": rfc3339(until) if until else None,
        "category": None if seg.category_id is None else {
            "id": str(seg.category_id), "name": seg.category_name},
        "is_recurring": seg.is_recurring,
    }


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix="/helix/schedule", tags=["schedule"])
    any_token = requires(ctx)
    manage = requires(ctx, "channel:manage:schedule", user=True)

    async def body(channel: Person, occurrences: list[Occurrence]) -> dict[str, Any]:
        vac = await schedule.vacation(ctx.sessions, channel.id)
        return {"segments": [segment_json(o) for o in occurrences],
                **channel.fields("broadcaster"),
                "vacation": None if vac is None else {
                    "start_time": rfc3339(vac[0]), "end_time": rfc3339(vac[1])}}

    async def owner(who: Principal, broadcaster_id: str) -> Person:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        await authorize_channel(ctx, who, channel.id, ("broadcaster",))
        return channel

    @api.get("", summary="The broadcaster's streaming schedule (occurrences from start_time)")
    async def get_schedule(
        broadcaster_id: str, who: Annotated[Principal, Depends(any_token)],
        page: Annotated[Page, Depends(page_params)],
        id: Annotated[list[str] | None, Query(description="Segment ID (repeatable)")] = None,
        start_time: Annotated[str | None, Query(max_length=40)] = None,
        utc_offset: Annotated[str | None, Query(max_length=8, description="Ignored")] = None,
    ) -> dict[str, Any]:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        segments = await schedule.segments(ctx.sessions, channel.id)
        if not segments:
            raise ApiError(404, "The broadcaster has not created a streaming schedule")
        if id:
            found: list[Occurrence] = []
            by_id = {s.id: s for s in segments}
            if len(id) > 100:
                raise ApiError(400, "Too many 'id' values (at most 100)")
            for value in id:
                try:
                    seg_id, year, week = schedule.parse_occurrence_id(value)
                    if seg_id in by_id:
                        found.append(schedule.find_occurrence(by_id[seg_id], year, week))
                except SegmentNotFound:
                    continue
                except ScheduleError as exc:
                    raise ApiError(400, str(exc)) from None
            return {"data": await body(channel, found), "pagination": {}}
        if page.before:
            raise ApiError(400, "Only 'after' paging is supported here")
        if page.after:
            cursor = decode_cursor(page.after)
            stamp = cursor.get("s")
            if not isinstance(stamp, int) or not 0 <= stamp < 2**33:
                raise ApiError(400, "Invalid cursor")
            start = datetime.fromtimestamp(stamp, UTC)
        elif start_time:
            start = parse_rfc3339(start_time, "start_time")
        else:
            start = datetime.now(UTC).replace(microsecond=0)
        offset = page.offset()
        vac = await schedule.vacation(ctx.sessions, channel.id)
        all_found = schedule.expand(segments, start, start + HORIZON, vac,
                                    limit=offset + page.first + 1)
        rows = all_found[offset:offset + page.first + 1]
        more = len(rows) > page.first
        rows = rows[:page.first]
        cursor_text = encode_cursor({"o": offset + len(rows), "s": int(start.timestamp())})
        return {"data": await body(channel, rows),
                "pagination": {"cursor": cursor_text} if more else {}}

    @api.post("/segment", summary="Add a one-off or weekly segment")
    async def create_segment(
        broadcaster_id: str, data: SegmentCreate, who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        channel = await owner(who, broadcaster_id)
        try:
            seg = await schedule.create_segment(
                ctx.sessions, channel.id, start_time=parse_rfc3339(data.start_time, "start_time"),
                timezone=data.timezone, duration_minutes=minutes(data.duration) or 0,
                is_recurring=data.is_recurring, title=data.title,
                category_id=category(data.category_id) or None)
        except ScheduleError as exc:
            raise ApiError(400, str(exc)) from None
        first = schedule.find_occurrence(seg, None, None)
        return {"data": await body(channel, [first])}

    @api.patch("/segment", summary="Change or cancel a segment")
    async def update_segment(
        broadcaster_id: str, id: Annotated[str, Query(max_length=300)], data: SegmentPatch,
        who: Annotated[Principal, Depends(manage)],
    ) -> dict[str, Any]:
        channel = await owner(who, broadcaster_id)
        change = SegmentChange(
            start_time=None if data.start_time is None else parse_rfc3339(
                data.start_time, "start_time"),
            duration_minutes=minutes(data.duration), timezone=data.timezone, title=data.title,
            category_id=category(data.category_id), is_canceled=data.is_canceled)
        try:
            occ = await schedule.update_segment(ctx.sessions, channel.id, id, change)
        except ScheduleError as exc:
            raise ApiError(400, str(exc)) from None
        except SegmentNotFound:
            raise ApiError(404, "No such segment in the broadcaster's schedule") from None
        return {"data": await body(channel, [occ])}

    @api.delete("/segment", status_code=204, summary="Delete a segment (all its occurrences)")
    async def delete_segment(
        broadcaster_id: str, id: Annotated[str, Query(max_length=300)],
        who: Annotated[Principal, Depends(manage)],
    ) -> Response:
        channel = await owner(who, broadcaster_id)
        try:
            await schedule.delete_segment(ctx.sessions, channel.id, id)
        except ScheduleError as exc:
            raise ApiError(400, str(exc)) from None
        except SegmentNotFound:
            raise ApiError(404, "No such segment in the broadcaster's schedule") from None
        return Response(status_code=204)

    @api.patch("/settings", status_code=204, summary="Turn vacation on (with a window) or off")
    async def update_settings(
        broadcaster_id: str, who: Annotated[Principal, Depends(manage)],
        is_vacation_enabled: bool | None = None,
        vacation_start_time: Annotated[str | None, Query(max_length=40)] = None,
        vacation_end_time: Annotated[str | None, Query(max_length=40)] = None,
        timezone: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        channel = await owner(who, broadcaster_id)
        if is_vacation_enabled is None:
            return Response(status_code=204)
        window = None
        if is_vacation_enabled:
            if not vacation_start_time or not vacation_end_time:
                raise ApiError(400, "vacation_start_time and vacation_end_time are required "
                                    "when is_vacation_enabled is true")
            try:
                if timezone is not None:
                    schedule.zone(timezone)
            except ScheduleError as exc:
                raise ApiError(400, str(exc)) from None
            window = (parse_rfc3339(vacation_start_time, "vacation_start_time"),
                      parse_rfc3339(vacation_end_time, "vacation_end_time"))
        try:
            await schedule.set_vacation(ctx.sessions, channel.id, window)
        except ScheduleError as exc:
            raise ApiError(400, str(exc)) from None
        return Response(status_code=204)

    @api.get("/icalendar", summary="The schedule as iCalendar (public, no token needed)",
             response_class=Response,
             responses={200: {"content": {"text/calendar": {}}}})
    async def icalendar(broadcaster_id: str) -> Response:
        channel = await person(ctx, broadcaster_id, "broadcaster_id")
        segments = await schedule.segments(ctx.sessions, channel.id)
        text = schedule.icalendar(channel.display_name, segments, datetime.now(UTC))
        return Response(text, media_type="text/calendar; charset=utf-8", headers={
            "Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{channel.login}.ics"'})

    return api
