"""Pages, templates and static assets (hls.js from npm)."""
