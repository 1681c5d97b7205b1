"""Callbacks through which account and OAuth services report ended authorizations (EventSub)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# on_revoked(user_id, client_id): the user's grant to `client_id` ended (its tokens were
# revoked), or, with client_id None, the user's account is gone. Given by the composition root,
# so channels/* need not know who listens.
AuthorizationEnded = Callable[[int, str | None], Awaitable[object]]
