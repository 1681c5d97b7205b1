"""Schedule expansion (weekly across DST, vacation), occurrence ids and the iCalendar export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamhub.channels.schedule import (
    ScheduleError,
    Segment,
    expand,
    find_occurrence,
    fold,
    format_canceled,
    ical_text,
    icalendar,
    occurrence_id,
    occurrences_of,
    parse_canceled,
    parse_occurrence_id,
    vtimezone,
)

SEG_ID = "0b7c6c1e-2f4e-4b55-9a43-3c2b8e1d9f10"


def seg(start: datetime, *, recurring: bool = True, tz: str = "Europe/Berlin",
        minutes: int = 120, title: str = "Weekly", canceled: tuple[datetime, ...] = (),
        ) -> Segment:
    return Segment(SEG_ID, 1, start, minutes, tz, recurring, title, 7, "Music",
                   frozenset(canceled))


def unfold(text: str) -> list[str]:
    assert text.endswith("\r\n")
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def test_weekly_keeps_local_wall_time_across_dst() -> None:
    # 20:00 in Berlin on Monday 2026-03-16 (CET, UTC+1) = 19:00Z
    s = seg(datetime(2026, 3, 16, 19, 0, tzinfo=UTC))
    found = occurrences_of(s, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    starts = [o.start for o in found]
    assert starts[0] == datetime(2026, 3, 16, 19, 0, tzinfo=UTC)
    assert starts[1] == datetime(2026, 3, 23, 19, 0, tzinfo=UTC)
    # after the switch to CEST (2026-03-29) 20:00 local is 18:00Z
    assert starts[2] == datetime(2026, 3, 30, 18, 0, tzinfo=UTC)
    assert all(o.end - o.start == timedelta(hours=2) for o in found)


def test_expand_range_ongoing_and_one_off() -> None:
    weekly = seg(datetime(2026, 1, 5, 19, 0, tzinfo=UTC), tz="UTC")
    once = Segment("1b7c6c1e-2f4e-4b55-9a43-3c2b8e1d9f10", 1,
                   datetime(2026, 1, 7, 12, 0, tzinfo=UTC), 60, "UTC", False, "Once", None, "")
    # starting in the middle of Monday's stream: that one is still listed (ongoing)
    got = expand([weekly, once], datetime(2026, 1, 12, 20, 0, tzinfo=UTC),
                 datetime(2026, 1, 27, tzinfo=UTC))
    assert [o.start.day for o in got] == [12, 19, 26]
    got = expand([weekly, once], datetime(2026, 1, 6, tzinfo=UTC),
                 datetime(2026, 1, 13, tzinfo=UTC))
    assert [o.segment.title for o in got] == ["Once", "Weekly"]
    assert expand([weekly], datetime(2025, 1, 1, tzinfo=UTC),
                  datetime(2026, 1, 5, 19, tzinfo=UTC)) == []


def test_vacation_hides_occurrences() -> None:
    weekly = seg(datetime(2026, 1, 5, 19, 0, tzinfo=UTC), tz="UTC")
    vacation = (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 24, tzinfo=UTC))
    got = expand([weekly], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
                 vacation)
    assert [o.start.day for o in got] == [5, 26]


def test_occurrence_ids_are_stable_and_parse_back() -> None:
    s = seg(datetime(2026, 3, 16, 19, 0, tzinfo=UTC))
    a = occurrences_of(s, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    b = occurrences_of(s, datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert a[1].id == b[0].id and len({o.id for o in a}) == len(a)
    seg_id, year, week = parse_occurrence_id(a[2].id)
    assert (seg_id, year, week) == (SEG_ID, 2026, 14)
    assert find_occurrence(s, year, week).start == a[2].start
    assert parse_occurrence_id(SEG_ID) == (SEG_ID, None, None)
    assert occurrence_id(s, a[0].start) == a[0].id
    for bad in ("nope", "e30", "x" * 400):
        with pytest.raises(ScheduleError):
            parse_occurrence_id(bad)


def test_cancel_marks_only_the_canceled_occurrences() -> None:
    # weekly in Berlin across the DST switch: 2nd and 4th canceled, the 3rd kept between them
    first = datetime(2026, 3, 16, 19, 0, tzinfo=UTC)
    all_five = occurrences_of(seg(first), first, first + timedelta(days=30))
    assert len(all_five) == 5
    s = seg(first, canceled=(all_five[1].start, all_five[3].start))
    got = expand([s], first, first + timedelta(days=30))
    assert [o.canceled_until is not None for o in got] == [False, True, False, True, False]
    assert got[1].canceled_until == got[1].end and got[3].canceled_until == got[3].end
    assert got[3].start == datetime(2026, 4, 6, 18, 0, tzinfo=UTC)  # CEST
    assert [o.id for o in got] == [o.id for o in all_five]


def test_canceled_storage_round_trip() -> None:
    a = datetime(2026, 1, 12, 19, 0, tzinfo=UTC)
    b = datetime(2026, 1, 5, 19, 0, 30, 500, tzinfo=UTC)
    text = format_canceled([a, b, a])
    assert text == "2026-01-05T19:00:30.000500Z 2026-01-12T19:00:00Z"
    assert parse_canceled(text) == {a, b}
    assert parse_canceled("") == frozenset() and parse_canceled(None) == frozenset()
    assert parse_canceled("junk " + text) == {a, b}
    many = [a + timedelta(days=7 * i) for i in range(250)]
    kept = parse_canceled(format_canceled(many))
    assert len(kept) == 200 and min(kept) == many[50]


def test_ical_escaping_and_folding() -> None:
    assert ical_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    line = "SUMMARY:" + "é" * 80
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join([parts[0]] + [p[1:] for p in parts[1:]]) == line
    assert fold("short") == "short"


def test_icalendar_document() -> None:
    weekly = seg(datetime(2026, 3, 16, 19, 0, tzinfo=UTC), title="Synths, loops; more")
    once = Segment("1b7c6c1e-2f4e-4b55-9a43-3c2b8e1d9f10", 1,
                   datetime(2026, 1, 7, 12, 0, tzinfo=UTC), 60, "UTC", False, "", None, "",
                   frozenset({datetime(2026, 1, 7, 12, 0, tzinfo=UTC)}))
    text = icalendar("Chan", [weekly, once], datetime(2026, 1, 1, tzinfo=UTC))
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines
    assert "DTSTART;TZID=Europe/Berlin:20260316T200000" in lines
    assert "RRULE:FREQ=WEEKLY" in lines and "DURATION:PT120M" in lines
    assert "SUMMARY:Synths\\, loops\\; more" in lines and "CATEGORIES:Music" in lines
    assert "DTSTART:20260107T120000Z" in lines and "STATUS:CANCELLED" in lines
    assert lines.count("BEGIN:VEVENT") == 2 and lines.count("BEGIN:VTIMEZONE") == 1
    assert not any(line.startswith("EXDATE") for line in lines)
    # canceled occurrences of a weekly series become EXDATEs (local time in its zone)
    canceled = (datetime(2026, 3, 23, 19, 0, tzinfo=UTC), datetime(2026, 4, 6, 18, 0, tzinfo=UTC))
    lines = unfold(icalendar("Chan", [seg(weekly.start_time, canceled=canceled)],
                             datetime(2026, 1, 1, tzinfo=UTC)))
    assert [line for line in lines if line.startswith("EXDATE")] == [
        "EXDATE;TZID=Europe/Berlin:20260323T200000", "EXDATE;TZID=Europe/Berlin:20260406T200000"]
    assert "STATUS:CANCELLED" not in lines
    utc_weekly = seg(datetime(2026, 1, 5, 19, 0, tzinfo=UTC), tz="UTC",
                     canceled=(datetime(2026, 1, 12, 19, 0, tzinfo=UTC),))
    assert "EXDATE:20260112T190000Z" in unfold(icalendar("Chan", [utc_weekly],
                                                         datetime(2026, 1, 1, tzinfo=UTC)))
    assert all(len(raw.encode()) <= 75 for raw in text.split("\r\n"))


def test_vtimezone_has_both_observances() -> None:
    lines = vtimezone("Europe/Berlin", datetime(2026, 1, 1, tzinfo=UTC), years=1)
    assert "BEGIN:DAYLIGHT" in lines and "BEGIN:STANDARD" in lines
    i = lines.index("BEGIN:DAYLIGHT")
    assert lines[i + 1] == "DTSTART:20260329T020000"
    assert lines[i + 2:i + 4] == ["TZOFFSETFROM:+0100", "TZOFFSETTO:+0200"]


def test_bad_timezone() -> None:
    from streamhub.channels.schedule import zone
    for bad in ("Mars/Olympus", "../etc/passwd", "", "/etc/localtime"):
        with pytest.raises(ScheduleError):
            zone(bad)
