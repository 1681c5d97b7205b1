"""The EventSub subscription types this node supports: versions, conditions, scopes, matching."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamhub.api.times import rfc3339
from streamhub.storage.models import EventSubSubscription


@dataclass(frozen=True, slots=True)
class SubscriptionType:
    """One `type` + `version` as Twitch defines it.

    `required` condition fields must all be present; of `one_of` exactly one must be present
    (channel.raid). `filters` are the condition fields compared with the event's fields of the
    same name; the others (moderator_user_id, user_id) only say who authorized the
    subscription. `authorizer` names the condition field whose user must have granted this
    client one of `scopes` (None: no authorization needed, as for stream.online).
    """

    name: str
    version: str
    required: tuple[str, ...] = ("broadcaster_user_id",)
    one_of: tuple[str, ...] = ()
    filters: tuple[str, ...] = ("broadcaster_user_id",)
    scopes: tuple[str, ...] = ()
    authorizer: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.one_of

    def check_condition(self, condition: Mapping[str, Any]) -> dict[str, str]:
        """The condition as strings; ValueError with a readable reason when it does not fit."""
        unknown = sorted(set(condition) - set(self.fields))
        if unknown:
            raise ValueError(f"condition field {unknown[0]!r} is not valid for "
                             f"{self.name} version {self.version}")
        out: dict[str, str] = {}
        for key, value in condition.items():
            if value is None or value == "":
                continue
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ValueError(f"condition field {key!r} must be a user ID string")
            text = str(value)
            if not text.isdigit() or len(text) > 18 or int(text) == 0:
                raise ValueError(f"condition field {key!r} must be a user ID")
            out[key] = text
        for key in self.required:
            if key not in out:
                raise ValueError(f"missing condition field {key!r}")
        if self.one_of and sum(key in out for key in self.one_of) != 1:
            raise ValueError("condition needs exactly one of " + " or ".join(
                repr(k) for k in self.one_of))
        return out

    def matches(self, condition: Mapping[str, str], event: Mapping[str, Any]) -> bool:
        """Whether an event of this type concerns a subscription with this condition."""
        for key in self.filters:
            if key in condition and str(event.get(key, "")) != condition[key]:
                return False
        return True


def _types() -> dict[tuple[str, str], SubscriptionType]:
    moderate = ("channel:moderate",)
    subs = ("channel:read:subscriptions",)
    listed = [
        SubscriptionType("stream.online", "1"),
        SubscriptionType("stream.offline", "1"),
        SubscriptionType("channel.update", "2"),
        SubscriptionType("channel.follow", "2",
                         required=("broadcaster_user_id", "moderator_user_id"),
                         scopes=("moderator:read:followers",), authorizer="moderator_user_id"),
        SubscriptionType("channel.ban", "1", scopes=moderate, authorizer="broadcaster_user_id"),
        SubscriptionType("channel.unban", "1", scopes=moderate, authorizer="broadcaster_user_id"),
        SubscriptionType("channel.moderator.add", "1", scopes=("moderation:read",),
                         authorizer="broadcaster_user_id"),
        SubscriptionType("channel.moderator.remove", "1", scopes=("moderation:read",),
                         authorizer="broadcaster_user_id"),
        SubscriptionType("channel.raid", "1", required=(),
                         one_of=("from_broadcaster_user_id", "to_broadcaster_user_id"),
                         filters=("from_broadcaster_user_id", "to_broadcaster_user_id")),
        SubscriptionType("channel.chat.message", "1",
                         required=("broadcaster_user_id", "user_id"),
                         scopes=("user:read:chat",), authorizer="user_id"),
        SubscriptionType("channel.subscribe", "1", scopes=subs, authorizer="broadcaster_user_id"),
        SubscriptionType("channel.subscription.gift", "1", scopes=subs,
                         authorizer="broadcaster_user_id"),
        SubscriptionType("channel.subscription.message", "1", scopes=subs,
                         authorizer="broadcaster_user_id"),
        SubscriptionType("channel.cheer", "1", scopes=("bits:read",),
                         authorizer="broadcaster_user_id"),
    ]
    return {(t.name, t.version): t for t in listed}


TYPES: dict[tuple[str, str], SubscriptionType] = _types()


def lookup(name: str, version: str) -> SubscriptionType:
    """The registered type; ValueError (-> 400) for an unknown type or version."""
    found = TYPES.get((name, version))
    if found is None:
        if any(t.name == name for t in TYPES.values()):
            versions = sorted(v for (n, v) in TYPES if n == name)
            raise ValueError(f"unsupported version {version!r} of {name} "
                             f"(supported: {', '.join(versions)})")
        raise ValueError(f"unsupported subscription type {name!r}")
    return found


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as the matcher and the API see it (the secret never leaves the DB)."""

    id: str
    type: str
    version: str
    condition: dict[str, str]
    method: str
    callback: str | None
    session_id: str | None
    status: str
    cost: int
    created_at: datetime
    client_id: str | None
    user_id: int | None

    @classmethod
    def of(cls, row: EventSubSubscription) -> Subscription:
        return cls(row.id, row.type, row.version, json.loads(row.condition), row.method,
                   row.callback, row.session_id, row.status, row.cost, row.created_at,
                   row.client_id, row.user_id)

    def json(self, status: str | None = None) -> dict[str, Any]:
        """Twitch's subscription object."""
        transport: dict[str, Any] = {"method": self.method}
        if self.method == "webhook":
            transport["callback"] = self.callback
        else:
            transport["session_id"] = self.session_id
        return {"id": self.id, "status": status or self.status, "type": self.type,
                "version": self.version, "condition": self.condition, "transport": transport,
                "created_at": rfc3339(self.created_at), "cost": self.cost}

    @property
    def kind(self) -> SubscriptionType:
        return TYPES[(self.type, self.version)]
