"""Helix schedule: segments, paging over occurrences, cancel, vacation, iCalendar feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.api.conftest import ApiNode, assert_error
from tests.api.conftest import TestUser as Member


def next_monday() -> datetime:
    today = datetime.now(UTC).replace(hour=18, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


def add(api: ApiNode, who: Member, **body: Any) -> dict[str, Any]:
    r = api.post("/helix/schedule/segment", who, params={"broadcaster_id": who.uid}, json=body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def parse_ical(text: str) -> list[dict[str, str]]:
    """A small RFC 5545 reader: unfold lines, split name;params:value, collect VEVENTs."""
    assert "\r\n" in text
    lines = text.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            assert current is not None
            events.append(current)
            current = None
        elif current is not None:
            current[name] = value.replace("\\n", "\n").replace("\\,", ",").replace(
                "\\;", ";").replace("\\\\", "\\")
    return events


def test_schedule_flow(api: ApiNode) -> None:
    a, viewer = api.user(), api.user()
    assert_error(api.get("/helix/schedule", viewer, params={"broadcaster_id": a.uid}), 404,
                 "schedule")
    start = next_monday()
    music = api.get("/helix/games", a, params={"name": "Music"}).json()["data"][0]["id"]
    created = add(api, a, start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  timezone="America/New_York", duration="120", is_recurring=True,
                  category_id=music, title="Weekly synths")
    [seg] = created["segments"]
    assert created["broadcaster_id"] == a.uid and created["vacation"] is None
    assert seg["is_recurring"] is True and seg["category"] == {"id": music, "name": "Music"}
    assert seg["title"] == "Weekly synths" and seg["canceled_until"] is None
    once = add(api, a, start_time=(start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               timezone="UTC", duration=60, title="Special")["segments"][0]
    assert once["is_recurring"] is False
    # viewers read it, with paging over occurrences
    r = api.get("/helix/schedule", viewer, params={"broadcaster_id": a.uid, "first": 3})
    assert r.status_code == 200, r.text
    page1 = r.json()
    titles = [s["title"] for s in page1["data"]["segments"]]
    assert titles == ["Weekly synths", "Special", "Weekly synths"]
    cursor = page1["pagination"]["cursor"]
    page2 = api.get("/helix/schedule", viewer, params={
        "broadcaster_id": a.uid, "first": 3, "after": cursor}).json()
    starts = [s["start_time"] for s in page2["data"]["segments"]]
    assert len(starts) == 3 and starts[0] > page1["data"]["segments"][-1]["start_time"]
    # an occurrence by id, and its stable id across queries
    third = page1["data"]["segments"][2]
    again = api.get("/helix/schedule", viewer, params={"broadcaster_id": a.uid,
                                                       "id": third["id"]}).json()
    assert "data" in again, again
    assert again["data"]["segments"][0]["start_time"] == third["start_time"]
    # cancel that occurrence
    r = api.patch("/helix/schedule/segment", a, params={"broadcaster_id": a.uid,
                                                        "id": third["id"]},
                  json={"is_canceled": True, "title": "Weekly synths v2"})
    assert r.status_code == 200, r.text
    changed = r.json()["data"]["segments"][0]
    assert changed["canceled_until"] == changed["end_time"] == third["end_time"]
    assert changed["title"] == "Weekly synths v2"
    # delete the one-off
    r = api.delete("/helix/schedule/segment", a, params={"broadcaster_id": a.uid,
                                                         "id": once["id"]})
    assert r.status_code == 204, r.text
    titles = [s["title"] for s in api.get("/helix/schedule", viewer, params={
        "broadcaster_id": a.uid}).json()["data"]["segments"]]
    assert "Special" not in titles
    assert_error(api.delete("/helix/schedule/segment", a, params={"broadcaster_id": a.uid,
                                                                  "id": once["id"]}), 404)


def test_cancel_one_occurrence(api: ApiNode) -> None:
    a, other = api.user(), api.user()
    start = next_monday()
    add(api, a, start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"), timezone="Europe/Paris",
        duration="60", is_recurring=True, title="w")
    p = {"broadcaster_id": a.uid}

    def occurrences() -> list[dict[str, Any]]:
        r = api.get("/helix/schedule", other, params={**p, "first": 3})
        assert r.status_code == 200, r.text
        rows: list[dict[str, Any]] = r.json()["data"]["segments"]
        return rows

    def exdates() -> list[str]:
        r = api.http.get("/helix/schedule/icalendar", params=p)
        assert r.status_code == 200, r.text
        return [line for line in r.text.replace("\r\n ", "").split("\r\n")
                if line.startswith("EXDATE")]

    first, second, third = occurrences()
    assert [o["canceled_until"] for o in (first, second, third)] == [None, None, None]
    assert exdates() == []
    assert_error(api.patch("/helix/schedule/segment", other, params={**p, "id": second["id"]},
                           json={"is_canceled": True}), 403)
    r = api.patch("/helix/schedule/segment", a, params={**p, "id": second["id"]},
                  json={"is_canceled": True})
    assert r.status_code == 200, r.text
    [changed] = r.json()["data"]["segments"]
    assert changed["id"] == second["id"] and changed["canceled_until"] == second["end_time"]
    got = occurrences()
    assert [o["id"] for o in got] == [first["id"], second["id"], third["id"]]
    assert [o["canceled_until"] for o in got] == [None, second["end_time"], None]
    by_id = api.get("/helix/schedule", other, params={**p, "id": second["id"]}).json()
    assert by_id["data"]["segments"][0]["canceled_until"] == second["end_time"]
    local = datetime.strptime(second["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert exdates() == [f"EXDATE;TZID=Europe/Paris:{local.strftime('%Y%m%dT%H%M%S')}"]
    # the third canceled too, then the second restored: only the third stays canceled
    api.patch("/helix/schedule/segment", a, params={**p, "id": third["id"]},
              json={"is_canceled": True})
    r = api.patch("/helix/schedule/segment", a, params={**p, "id": second["id"]},
                  json={"is_canceled": False})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["segments"][0]["canceled_until"] is None
    assert [o["canceled_until"] for o in occurrences()] == [None, None, third["end_time"]]
    assert len(exdates()) == 1
    r = api.patch("/helix/schedule/segment", a, params={**p, "id": third["id"]},
                  json={"is_canceled": False})
    assert r.status_code == 200, r.text
    assert [o["canceled_until"] for o in occurrences()] == [None, None, None]
    assert exdates() == []
    assert_error(api.patch("/helix/schedule/segment", a, params={**p, "id": second["id"]},
                           json={"is_canceled": "maybe"}), 400)


def test_vacation(api: ApiNode) -> None:
    a = api.user()
    start = next_monday()
    add(api, a, start_time=start.strftime("%Y-%m-%dT%H:%M:%SZ"), timezone="UTC",
        duration="60", is_recurring=True, title="w")
    v0, v1 = start - timedelta(days=1), start + timedelta(days=8)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    r = api.patch("/helix/schedule/settings", a, params={
        "broadcaster_id": a.uid, "is_vacation_enabled": "true",
        "vacation_start_time": v0.strftime(fmt), "vacation_end_time": v1.strftime(fmt),
        "timezone": "UTC"})
    assert r.status_code == 204, r.text
    body = api.get("/helix/schedule", a, params={"broadcaster_id": a.uid}).json()["data"]
    assert body["vacation"] == {"start_time": v0.strftime(fmt), "end_time": v1.strftime(fmt)}
    first = body["segments"][0]["start_time"]
    assert first == (start + timedelta(days=14)).strftime(fmt)
    assert_error(api.patch("/helix/schedule/settings", a, params={
        "broadcaster_id": a.uid, "is_vacation_enabled": "true",
        "vacation_start_time": v1.strftime(fmt), "vacation_end_time": v0.strftime(fmt)}),
        400, "after")
    assert_error(api.patch("/helix/schedule/settings", a, params={
        "broadcaster_id": a.uid, "is_vacation_enabled": "true"}), 400, "required")
    api.patch("/helix/schedule/settings", a, params={"broadcaster_id": a.uid,
                                                     "is_vacation_enabled": "false"})
    body = api.get("/helix/schedule", a, params={"broadcaster_id": a.uid}).json()["data"]
    assert body["vacation"] is None


def test_schedule_validation_and_auth(api: ApiNode) -> None:
    a, other = api.user(), api.user()
    p = {"broadcaster_id": a.uid}
    good = {"start_time": "2030-01-07T18:00:00Z", "timezone": "UTC", "duration": "60"}
    for change, text in [({"timezone": "Mars/Base"}, "timezone"),
                         ({"duration": "10"}, "duration"), ({"duration": "abc"}, "duration"),
                         ({"start_time": "tomorrow"}, "start_time"),
                         ({"start_time": "2030-01-07T18:00:00"}, "zone"),
                         ({"title": "x" * 141}, "title"), ({"category_id": "999999"}, "category"),
                         ({"category_id": "99999999999"}, "category"),
                         ({"bogus": 1}, "bogus")]:
        assert_error(api.post("/helix/schedule/segment", a, params=p, json=good | change),
                     400, text)
    assert_error(api.post("/helix/schedule/segment", other, params=p, json=good), 403)
    weak = api.user(scopes=("chat:read",))
    assert_error(api.post("/helix/schedule/segment", weak, params={"broadcaster_id": weak.uid},
                          json=good), 401, "channel:manage:schedule")
    assert_error(api.post("/helix/schedule/segment", None, params=p, json=good), 401)
    assert_error(api.patch("/helix/schedule/segment", a, params={**p, "id": "garbage"},
                           json={"title": "x"}), 400, "segment id")
    assert_error(api.get("/helix/schedule", a, params={"broadcaster_id": "abc"}), 400)
    add(api, a, **good)
    assert_error(api.get("/helix/schedule", a, params={**p, "start_time": "nope"}), 400,
                 "start_time")


def test_icalendar_export(api: ApiNode) -> None:
    a = api.user()
    add(api, a, start_time="2030-01-07T18:00:00Z", timezone="Europe/Paris", duration="90",
        is_recurring=True, title="Cozy, chill; and long " + "é" * 60)
    add(api, a, start_time="2030-02-01T10:00:00Z", timezone="UTC", duration="60",
        title="One-off")
    r = api.http.get("/helix/schedule/icalendar", params={"broadcaster_id": a.uid})  # no token
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert all(len(line.encode()) <= 75 for line in r.text.split("\r\n"))
    events = parse_ical(r.text)
    weekly = next(e for e in events if "RRULE" in e)
    assert weekly["RRULE"] == "FREQ=WEEKLY"
    assert weekly["DTSTART;TZID=Europe/Paris"] == "20300107T190000"
    assert weekly["SUMMARY"] == "Cozy, chill; and long " + "é" * 60
    assert weekly["DURATION"] == "PT90M"
    single = next(e for e in events if "RRULE" not in e)
    assert single["DTSTART"] == "20300201T100000Z" and single["SUMMARY"] == "One-off"
    assert "BEGIN:VTIMEZONE" in r.text and "TZID:Europe/Paris" in r.text
    assert api.http.get("/helix/schedule/icalendar",
                        params={"broadcaster_id": "x"}).status_code == 400
