"""Stream schedules: one-off and weekly segments in a time zone, vacation, occurrence expansion,
stable occurrence ids and the iCalendar (RFC 5545) export."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streamhub.storage.models import Category, Channel, ScheduleSegment
from streamhub.utc import aware as utc

MIN_DURATION = 30
MAX_DURATION = 1380
MAX_SEGMENTS = 200
MAX_OCCURRENCES = 1000
MAX_CANCELED = 200  # canceled occurrences remembered per segment (the latest ones)
WEEK = timedelta(days=7)


class ScheduleError(ValueError):
    """Invalid schedule input; the message says which field and why."""


class SegmentNotFound(LookupError):
    """No such segment in this channel's schedule."""


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; ScheduleError for unknown or malformed names."""
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise ScheduleError(f"invalid timezone {name!r}: expected an IANA name like Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"invalid timezone {name!r}: expected an IANA name like Europe/Paris") from None


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    channel_id: int
    start_time: datetime  # UTC; for recurring segments the first occurrence
    duration_minutes: int
    timezone: str
    is_recurring: bool
    title: str
    category_id: int | None
    category_name: str
    canceled: frozenset[datetime] = frozenset()  # UTC starts of canceled occurrences


@dataclass(frozen=True, slots=True)
class Occurrence:
    id: str
    segment: Segment
    start: datetime
    end: datetime

    @property
    def canceled_until(self) -> datetime | None:
        """Set (to the occurrence's end, as Twitch does) when this occurrence is canceled."""
        return self.end if self.start in self.segment.canceled else None


# ---- canceled occurrences (stored as space-separated RFC 3339 UTC start times) ----

def _instant(value: datetime) -> str:
    return utc(value).isoformat().replace("+00:00", "Z")


def parse_canceled(text: str | None) -> frozenset[datetime]:
    """The canceled starts stored in a segment row (unreadable entries are skipped)."""
    found: set[datetime] = set()
    for item in (text or "").split():
        try:
            found.add(utc(datetime.fromisoformat(item)))
        except ValueError:
            continue
    return frozenset(found)


def format_canceled(starts: Iterable[datetime]) -> str:
    """Sorted, space-separated; only the latest MAX_CANCELED are kept."""
    kept = sorted({utc(s) for s in starts})[-MAX_CANCELED:]
    return " ".join(_instant(s) for s in kept)


# ---- occurrence ids ----

def occurrence_id(segment: Segment, start: datetime) -> str:
    """Stable per occurrence: the segment id and the ISO week of its local start time."""
    year, week, _ = start.astimezone(zone(segment.timezone)).isocalendar()
    raw = json.dumps({"segmentID": segment.id, "isoYear": year, "isoWeek": week},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_occurrence_id(value: str) -> tuple[str, int | None, int | None]:
    """(segment id, ISO year, ISO week) of an occurrence id; a bare segment id is accepted."""
    try:
        uuid.UUID(value)
        return value, None, None
    except ValueError:
        pass
    try:
        if len(value) > 300:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        seg, year, week = data["segmentID"], data["isoYear"], data["isoWeek"]
        uuid.UUID(seg)
        if not (isinstance(year, int) and isinstance(week, int)):
            raise ValueError
        return str(seg), year, week
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ScheduleError(f"invalid segment id {value!r}") from None


# ---- expansion (pure) ----

def occurrences_of(segment: Segment, start: datetime, end: datetime,
                   limit: int = MAX_OCCURRENCES) -> list[Occurrence]:
    """The segment's occurrences that end after `start` and begin before `end`. Weekly
    segments repeat at the same local wall time in their zone (across DST changes)."""
    length = timedelta(minutes=segment.duration_minutes)
    first = utc(segment.start_time)
    if not segment.is_recurring:
        if first < end and first + length > start:
            return [Occurrence(occurrence_id(segment, first), segment, first, first + length)]
        return []
    tz = zone(segment.timezone)
    local0 = first.astimezone(tz).replace(tzinfo=None)
    k = max(0, (start - first - length) // WEEK - 1)
    out: list[Occurrence] = []
    while len(out) < limit:
        at = (local0 + k * WEEK).replace(tzinfo=tz).astimezone(UTC)
        k += 1
        if at >= end:
            break
        if at + length > start:
            out.append(Occurrence(occurrence_id(segment, at), segment, at, at + length))
    return out


def expand(segments: Iterable[Segment], start: datetime, end: datetime,
           vacation: tuple[datetime, datetime] | None = None,
           limit: int = MAX_OCCURRENCES) -> list[Occurrence]:
    """All occurrences in [start, end), by start time; those overlapping the vacation are
    left out."""
    found: list[Occurrence] = []
    for seg in segments:
        found.extend(occurrences_of(seg, start, end, limit))
    if vacation is not None:
        v0, v1 = utc(vacation[0]), utc(vacation[1])
        found = [o for o in found if o.end <= v0 or o.start >= v1]
    found.sort(key=lambda o: (o.start, o.segment.id))
    return found[:limit]


# ---- iCalendar (RFC 5545) ----

def ical_text(value: str) -> str:
    """Escape a TEXT value (backslash, semicolon, comma, newline)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (CRLF + space), never inside a
    UTF-8 sequence."""
    out: list[str] = []
    current, size = "", 0
    for ch in line:
        n = len(ch.encode())
        if size + n > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += n
    out.append(current)
    return "\r\n".join(out)


def _stamp(value: datetime) -> str:
    return utc(value).strftime("%Y%m%dT%H%M%SZ")


def _transitions(tz: ZoneInfo, begin: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [begin, end) where the zone's offset changes (to the second)."""
    found: list[datetime] = []
    day = timedelta(days=1)
    t = begin
    while t < end:
        if t.astimezone(tz).utcoffset() != (t + day).astimezone(tz).utcoffset():
            lo, hi = t, t + day
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        t += day
    return found


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    text = f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"
    return text + (f"{seconds % 60:02d}" if seconds % 60 else "")


def vtimezone(name: str, begin: datetime, years: int = 3) -> list[str]:
    """A VTIMEZONE for `name` with each offset change from `begin` for `years` years."""
    tz = zone(name)
    start = utc(begin).replace(hour=0, minute=0, second=0, microsecond=0)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{name}"]
    before = start - timedelta(seconds=1)
    observances = [(start, before.astimezone(tz).utcoffset(), start.astimezone(tz))]
    for at in _transitions(tz, start, start + timedelta(days=366 * years)):
        observances.append((at, (at - timedelta(seconds=1)).astimezone(tz).utcoffset(),
                            at.astimezone(tz)))
    for at, previous, local in observances:
        kind = "DAYLIGHT" if local.dst() else "STANDARD"
        local_start = (at + (previous or timedelta())).replace(tzinfo=None)
        lines += [f"BEGIN:{kind}", f"DTSTART:{local_start.strftime('%Y%m%dT%H%M%S')}",
                  f"TZOFFSETFROM:{_offset(previous)}", f"TZOFFSETTO:{_offset(local.utcoffset())}",
                  f"TZNAME:{ical_text(local.tzname() or name)}", f"END:{kind}"]
    lines.append("END:VTIMEZONE")
    return lines


def icalendar(channel_name: str, segments: Sequence[Segment], now: datetime) -> str:
    """The channel's schedule as an iCalendar document (CRLF lines, folded)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//StreamHub//Schedule//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{ical_text(channel_name)}"]
    zones = sorted({s.timezone for s in segments if s.is_recurring and s.timezone != "UTC"})
    for name in zones:
        first = min(utc(s.start_time) for s in segments if s.timezone == name)
        lines += vtimezone(name, first)
    for seg in segments:
        start = utc(seg.start_time)
        lines += ["BEGIN:VEVENT", f"UID:{seg.id}@streamhub", f"DTSTAMP:{_stamp(now)}"]
        if seg.is_recurring and seg.timezone != "UTC":
            local = start.astimezone(zone(seg.timezone)).strftime("%Y%m%dT%H%M%S")
            lines.append(f"DTSTART;TZID={seg.timezone}:{local}")
        else:
            lines.append(f"DTSTART:{_stamp(start)}")
        lines.append(f"DURATION:PT{seg.duration_minutes}M")
        if seg.is_recurring:
            lines.append("RRULE:FREQ=WEEKLY")
            for when in sorted(s for s in seg.canceled if s >= start):
                if seg.timezone != "UTC":
                    local = when.astimezone(zone(seg.timezone)).strftime("%Y%m%dT%H%M%S")
                    lines.append(f"EXDATE;TZID={seg.timezone}:{local}")
                else:
                    lines.append(f"EXDATE:{_stamp(when)}")
        elif start in seg.canceled:
            lines.append("STATUS:CANCELLED")
        lines.append(f"SUMMARY:{ical_text(seg.title or channel_name + ' stream')}")
        if seg.category_name:
            lines.append(f"CATEGORIES:{ical_text(seg.category_name)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


# ---- database ----

def _segment(s: ScheduleSegment, category: str | None) -> Segment:
    return Segment(s.id, s.channel_id, utc(s.start_time), s.duration_minutes, s.timezone,
                   s.is_recurring, s.title, s.category_id, category or "",
                   parse_canceled(s.canceled))


async def segments(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                   ) -> list[Segment]:
    async with sessions() as session:
        rows = await session.execute(
            select(ScheduleSegment, Category.name)
            .outerjoin(Category, Category.id == ScheduleSegment.category_id)
            .where(ScheduleSegment.channel_id == channel_id)
            .order_by(ScheduleSegment.start_time, ScheduleSegment.id))
        return [_segment(s, c) for s, c in rows]


async def vacation(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                   ) -> tuple[datetime, datetime] | None:
    async with sessions() as session:
        row = (await session.execute(select(Channel.vacation_start, Channel.vacation_end)
                                     .where(Channel.user_id == channel_id))).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return utc(row[0]), utc(row[1])


def check_duration(minutes: int) -> int:
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        raise ScheduleError(
            f"invalid duration {minutes}: must be {MIN_DURATION}-{MAX_DURATION} minutes")
    return minutes


def check_title(title: str) -> str:
    text = title.strip()
    if len(text) > 140 or any(ord(c) < 32 for c in text):
        raise ScheduleError("title must be at most 140 characters on one line")
    return text


async def _check_category(session: AsyncSession, category_id: int | None) -> None:
    if category_id is not None and (category_id > 2**31 - 1
                                    or await session.get(Category, category_id) is None):
        raise ScheduleError(f"no category with ID {category_id}")


async def create_segment(sessions: async_sessionmaker[AsyncSession], channel_id: int, *,
                         start_time: datetime, timezone: str, duration_minutes: int,
                         is_recurring: bool, title: str = "", category_id: int | None = None,
                         ) -> Segment:
    zone(timezone)
    values = dict(start_time=utc(start_time), timezone=timezone, is_recurring=is_recurring,
                  duration_minutes=check_duration(duration_minutes), title=check_title(title),
                  category_id=category_id)
    seg_id = str(uuid.uuid4())
    async with sessions() as session:
        await _check_category(session, category_id)
        count = await session.scalar(select(func.count()).select_from(ScheduleSegment).where(
            ScheduleSegment.channel_id == channel_id)) or 0
        if count >= MAX_SEGMENTS:
            raise ScheduleError(f"a schedule has at most {MAX_SEGMENTS} segments")
        session.add(ScheduleSegment(id=seg_id, channel_id=channel_id, **values))
        await session.commit()
    return await _one(sessions, channel_id, seg_id)


async def _one(sessions: async_sessionmaker[AsyncSession], channel_id: int, seg_id: str,
               ) -> Segment:
    for seg in await segments(sessions, channel_id):
        if seg.id == seg_id:
            return seg
    raise SegmentNotFound(seg_id)


@dataclass(frozen=True, slots=True)
class SegmentChange:
    start_time: datetime | None = None
    duration_minutes: int | None = None
    timezone: str | None = None
    title: str | None = None
    category_id: int | None = None  # 0 clears
    is_canceled: bool | None = None


async def update_segment(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                         occurrence: str, change: SegmentChange) -> Occurrence:
    """Change a segment (given one of its occurrence ids); `is_canceled` cancels or restores
    only that occurrence (a new start time, or a weekly segment's new time zone, moves every
    occurrence, so it clears the cancellations first). Returns the updated occurrence."""
    seg_id, year, week = parse_occurrence_id(occurrence)
    async with sessions() as session:
        row = await session.get(ScheduleSegment, seg_id)
        if row is None or row.channel_id != channel_id:
            raise SegmentNotFound(occurrence)
        find_occurrence(_segment(row, None), year, week)  # the occurrence must exist
        if change.timezone is not None:
            zone(change.timezone)
            if change.timezone != row.timezone and row.is_recurring:
                row.canceled = ""  # weekly occurrences keep their wall time: they move
            row.timezone = change.timezone
        if change.start_time is not None:
            if utc(change.start_time) != utc(row.start_time):
                row.canceled = ""
            row.start_time = utc(change.start_time)
        if change.duration_minutes is not None:
            row.duration_minutes = check_duration(change.duration_minutes)
        if change.title is not None:
            row.title = check_title(change.title)
        if change.category_id is not None:
            await _check_category(session, change.category_id or None)
            row.category_id = change.category_id or None
        if change.is_canceled is not None:
            moved = _segment(row, None)
            if change.start_time is not None:  # the moved segment's first occurrence
                year = week = None
            target = find_occurrence(moved, year, week)
            starts = set(moved.canceled)
            if change.is_canceled:
                starts.add(target.start)
            else:
                starts.discard(target.start)
            row.canceled = format_canceled(starts)
        await session.commit()
    updated = await _one(sessions, channel_id, seg_id)
    if change.start_time is not None or not updated.is_recurring:
        return find_occurrence(updated, None, None)
    return find_occurrence(updated, year, week)


def find_occurrence(seg: Segment, year: int | None, week: int | None) -> Occurrence:
    """The occurrence in the given ISO week (local), or the first one."""
    first = utc(seg.start_time)
    if year is None or week is None or not seg.is_recurring:
        return occurrences_of(seg, first, first + timedelta(seconds=1), 1)[0]
    try:
        monday = datetime.fromisocalendar(year, week, 1).replace(tzinfo=zone(seg.timezone))
    except ValueError:
        raise ScheduleError("invalid segment id (bad ISO week)") from None
    found = occurrences_of(seg, utc(monday) - timedelta(days=1), utc(monday) + WEEK * 2, 4)
    for occ in found:
        if occ.start.astimezone(zone(seg.timezone)).isocalendar()[:2] == (year, week):
            return occ
    raise SegmentNotFound("no occurrence of the segment in that week")


async def delete_segment(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                         occurrence: str) -> None:
    seg_id, _, _ = parse_occurrence_id(occurrence)
    async with sessions() as session:
        result = await session.execute(delete(ScheduleSegment).where(
            ScheduleSegment.id == seg_id, ScheduleSegment.channel_id == channel_id))
        await session.commit()
    if not getattr(result, "rowcount", 0):
        raise SegmentNotFound(occurrence)


async def set_vacation(sessions: async_sessionmaker[AsyncSession], channel_id: int,
                       window: tuple[datetime, datetime] | None) -> None:
    if window is not None and utc(window[1]) <= utc(window[0]):
        raise ScheduleError("vacation_end_time must be after vacation_start_time")
    async with sessions() as session:
        channel = await session.get(Channel, channel_id)
        if channel is None:
            raise ScheduleError(f"no channel with ID {channel_id}")
        channel.vacation_start = utc(window[0]) if window else None
        channel.vacation_end = utc(window[1]) if window else None
        await session.commit()
