"""EventSub bodies for chat: message fragments around emotes (code-point positions)."""

from __future__ import annotations

from streamhub.chat.notify import fragments


def test_fragments_split_text_around_emotes_by_code_points() -> None:
    text = "🎉 Kappa Kappa <3"
    found = fragments(text, [("25", [(2, 6), (8, 12)]), ("9", [(14, 15)])], owner_id=0)
    assert [(f["type"], f["text"]) for f in found] == [
        ("text", "🎉 "), ("emote", "Kappa"), ("text", " "), ("emote", "Kappa"), ("text", " "),
        ("emote", "<3")]
    assert found[1]["emote"] == {"id": "25", "emote_set_id": "0", "owner_id": "0",
                                 "format": ["static"]}


def test_fragments_of_plain_text_and_overlaps() -> None:
    assert fragments("", [], owner_id=1) == []
    assert [f["text"] for f in fragments("just words", [], owner_id=1)] == ["just words"]
    # an overlapping range (malformed input) is skipped rather than duplicating text
    found = fragments("abcdef", [("1", [(0, 3)]), ("2", [(2, 4)])], owner_id=1)
    assert "".join(f["text"] for f in found) == "abcdef"
