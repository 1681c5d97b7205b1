"""Helix endpoints, one module per area; each exposes `router(ctx) -> APIRouter`."""
