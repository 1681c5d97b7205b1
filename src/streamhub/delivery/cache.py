"""Cache-Control policy for a CDN in front of the origin.

- Parts, segments and init sections live under a per-session path and never change:
  immutable, cached for a year.
- A blocking playlist reload (`_HLS_msn`/`_HLS_part`) names an exact state of the
  playlist, so its response may be cached briefly per exact URL; edges collapse the
  many identical viewer requests into one origin fetch.
- Plain playlists (and the multivariant) change at every part: never cached.
- Errors are never stored.
"""

from __future__ import annotations

IMMUTABLE = "public, max-age=31536000, immutable"
BLOCKING_PLAYLIST = "public, max-age=2"
LIVE_PLAYLIST = "no-cache"
NO_STORE = "no-store"
