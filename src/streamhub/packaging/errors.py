"""Packager request errors carrying the HTTP status the origin should answer with."""

from __future__ import annotations


class PackagerError(Exception):
    """Base class: a request the packager cannot satisfy; ``status`` is the HTTP status."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class PlaylistError(PackagerError):
    """Bad blocking-reload directives (400) or a reload that timed out (503)."""

    status = 400


class NotFound(PackagerError, LookupError):
    """Unknown, evicted or not-hinted resource (404)."""

    status = 404


class Unavailable(PackagerError):
    """A hinted part did not complete within the blocking timeout (503)."""

    status = 503
