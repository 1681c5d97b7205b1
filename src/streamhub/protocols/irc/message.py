"""One IRC line with IRCv3 message tags: parse(), serialize() and tag-value escaping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_TAGS_BYTES",
    "IrcError",
    "Message",
    "escape_tag_value",
    "unescape_tag_value",
]

MAX_BODY_BYTES = 512
"""RFC 1459 limit for prefix + command + params, including the CRLF."""

MAX_TAGS_BYTES = 8191
"""IRCv3 limit for the tag section, including the leading '@' and the trailing space."""


class IrcError(ValueError):
    """Malformed or oversized IRC input; message says what was wrong."""


# [+][vendor/]key: the vendor is a host name, the key letters, digits and hyphens.
_KEY = r"\+?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/)?[A-Za-z0-9-]+"
_TAG_KEY = re.compile(_KEY)
# A whole tag section (without '@') whose keys are all valid, checked in one pass;
# empty items (";;", a trailing ';') are tolerated.
_TAG_SECTION = re.compile(rf"(?:{_KEY}(?:=[^;]*)?)?(?:;(?:{_KEY}(?:=[^;]*)?)?)*")
# Keys joined with ';' (for serialize).
_TAG_KEYS = re.compile(rf"{_KEY}(?:;{_KEY})*")

_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_FORBIDDEN = re.compile("[\0\r\n]")
_NEEDS_ESCAPE = re.compile("[\\\\; \0\r\n]")


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire (`;` -> `\\:`, space -> `\\s`, `\\`, CR, LF)."""
    return value.translate(_ESCAPES)


def unescape_tag_value(value: str) -> str:
    """Undo `escape_tag_value`, tolerantly.

    An unknown escape `\\x` becomes `x` and a trailing lone backslash is dropped, as the
    IRCv3 message-tags spec asks; this never raises.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        j = value.find("\\", i)
        if j < 0:
            out.append(value[i:])
            break
        out.append(value[i:j])
        if j + 1 >= n:  # trailing lone backslash
            break
        c = value[j + 1]
        out.append(_UNESCAPES.get(c, c))
        i = j + 2
    return "".join(out)


def _utf8_len(text: str) -> int:
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise IrcError(f"line contains a lone surrogate at index {exc.start}") from None


def _strip_eol(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


def _valid_command(command: str) -> bool:
    if not command.isascii():
        return False
    return command.isalpha() or (len(command) == 3 and command.isdigit())


def _parse_tags(section: str) -> dict[str, str]:
    if not section:
        raise IrcError("empty tag section after '@'")
    valid = _TAG_SECTION.fullmatch(section) is not None
    tags: dict[str, str] = {}
    for item in section.split(";"):
        if not item:  # tolerate "a=1;;b=2" and a trailing ';'
            continue
        key, _, value = item.partition("=")
        if not valid and not _TAG_KEY.fullmatch(key):
            raise IrcError(f"invalid tag key {key!r}")
        tags[key] = unescape_tag_value(value) if value else ""  # a repeated key: last wins
    return tags


def _check_wire_text(what: str, text: str) -> None:
    if _FORBIDDEN.search(text):
        raise ValueError(f"{what} {text!r} contains NUL, CR or LF")


@dataclass(frozen=True, slots=True)
class Message:
    """An IRC message: `[@tags] [:prefix] COMMAND [params...] [:trailing]`.

    `tags` hold unescaped values (a tag without a value is ""); their order is kept.
    """

    command: str
    params: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    prefix: str | None = None

    @classmethod
    def parse(
        cls,
        line: str | bytes,
        *,
        max_body: int = MAX_BODY_BYTES,
        max_tags: int = MAX_TAGS_BYTES,
    ) -> Message:
        """Parse one line (a trailing CRLF or LF is tolerated); raise IrcError if malformed.

        `max_body` bounds prefix + command + params in UTF-8 bytes plus 2 for the CRLF;
        `max_tags` bounds the tag section in bytes including '@' and the space after it.
        Letter commands are upper-cased; numerics ("001") are kept.
        """
        if isinstance(line, bytes | bytearray | memoryview):
            try:
                text = bytes(line).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise IrcError(f"line is not valid UTF-8 (at byte {exc.start})") from None
        elif isinstance(line, str):
            text = line
        else:
            raise TypeError(f"expected str or bytes, got {type(line).__name__}")
        text = _strip_eol(text)
        bad = _FORBIDDEN.search(text)
        if bad:
            raise IrcError(f"line contains {bad.group()!r} at index {bad.start()}")
        if not text.strip(" "):
            raise IrcError("empty line")

        tags: dict[str, str] = {}
        rest = text
        if text[0] == "@":
            space = text.find(" ")
            if space < 0:
                raise IrcError("missing command after the tag section")
            section = text[1:space]
            size = _utf8_len(section) + 2
            if size > max_tags:
                raise IrcError(f"tag section is {size} bytes, more than the {max_tags} allowed")
            tags = _parse_tags(section)
            rest = text[space + 1 :]
        rest = rest.lstrip(" ")
        size = _utf8_len(rest) + 2
        if size > max_body:
            raise IrcError(f"message body is {size} bytes, more than the {max_body} allowed")

        prefix: str | None = None
        if rest.startswith(":"):
            space = rest.find(" ")
            if space < 0:
                raise IrcError("missing command after the prefix")
            prefix = rest[1:space]
            if not prefix:
                raise IrcError("empty prefix")
            rest = rest[space + 1 :].lstrip(" ")

        space = rest.find(" ")
        if space < 0:
            command, rest = rest, ""
        else:
            command, rest = rest[:space], rest[space + 1 :]
        if not command:
            raise IrcError("missing command")
        if not _valid_command(command):
            raise IrcError(f"invalid command {command!r} (letters or a 3-digit numeric)")

        params: list[str] = []
        while rest:
            if rest[0] == " ":
                rest = rest.lstrip(" ")
            elif rest[0] == ":":
                params.append(rest[1:])
                break
            else:
                space = rest.find(" ")
                if space < 0:
                    params.append(rest)
                    break
                params.append(rest[:space])
                rest = rest[space + 1 :]
        return cls(command.upper(), tuple(params), tags, prefix)

    def serialize(self, *, tags: bool = True) -> str:
        """The wire line without CRLF; `tags=False` leaves out the @tags section.

        The last param is written as a ':' trailing param whenever it must be (empty,
        has a space, starts with ':') and also, as Twitch does and as naive clients that
        split on ' :' expect, whenever it is not a lone channel name: `PRIVMSG #c :hi`,
        `PING :tmi.twitch.tv`, `CLEARCHAT #c :user`, but `JOIN #c`, `ROOMSTATE #c`.

        Raises ValueError for what cannot be put on the wire: NUL/CR/LF anywhere, an
        invalid command, prefix or tag key, or a middle param that is empty, has a
        space or starts with ':'.
        """
        parts: list[str] = []
        if tags and self.tags:
            if not _TAG_KEYS.fullmatch(";".join(self.tags)):
                bad = next(key for key in self.tags if not _TAG_KEY.fullmatch(key))
                raise ValueError(f"invalid tag key {bad!r}")
            items: list[str] = []
            for key, value in self.tags.items():
                if _NEEDS_ESCAPE.search(value):
                    if "\0" in value:
                        raise ValueError(f"tag {key!r} value contains NUL")
                    value = value.translate(_ESCAPES)
                items.append(f"{key}={value}")
            parts.append("@" + ";".join(items))
        if self.prefix is not None:
            if not self.prefix or " " in self.prefix:
                raise ValueError(f"invalid prefix {self.prefix!r} (empty or contains a space)")
            _check_wire_text("prefix", self.prefix)
            parts.append(":" + self.prefix)
        if not _valid_command(self.command):
            raise ValueError(f"invalid command {self.command!r} (letters or a 3-digit numeric)")
        parts.append(self.command)
        last = len(self.params) - 1
        for index, param in enumerate(self.params):
            _check_wire_text("param", param)
            if index == last:
                if index > 0 or not param or param[0] != "#" or " " in param:
                    param = ":" + param
            elif not param or " " in param or param[0] == ":":
                raise ValueError(
                    f"middle param {index} {param!r} is empty, contains a space or starts "
                    "with ':' (only the last param may)"
                )
            parts.append(param)
        return " ".join(parts)

    def __str__(self) -> str:
        return self.serialize()

    def __bytes__(self) -> bytes:
        """The UTF-8 wire line with its CRLF."""
        return (self.serialize() + "\r\n").encode("utf-8")
