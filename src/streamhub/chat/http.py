"""Chat's HTTP routes: emote images and lists, emote upload, badge definitions, room info."""

from __future__ import annotations

import re
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamhub.channels.tokens import TokenInfo
from streamhub.chat.badges import BITS_TIERS
from streamhub.chat.images import CONTENT_TYPES, MAX_BYTES
from streamhub.chat.presence import Presence
from streamhub.chat.service import ChatError, ChatService, ChatUser
from streamhub.storage.blobs import BlobStore

_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_LOGIN = re.compile(r"^[a-z0-9_]{3,25}$")
IMMUTABLE = "public, max-age=31536000, immutable"

BADGES = {
    "broadcaster": {"1": "Broadcaster"},
    "moderator": {"1": "Moderator"},
    "vip": {"1": "VIP"},
    "subscriber": {"0": "Subscriber (tier 1)", "2000": "Subscriber (tier 2)",
                   "3000": "Subscriber (tier 3)"},
    "founder": {"0": "Founder"},
    "staff": {"1": "Staff"},
    "bits": {str(n): f"cheer {n}" for n in BITS_TIERS},
}


class TokenValidator(Protocol):
    async def validate(self, token: str) -> TokenInfo | None: ...


def error(status: int, message: str) -> JSONResponse:
    """Helix-style error body."""
    names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
             409: "Conflict", 413: "Payload Too Large"}
    return JSONResponse({"error": names.get(status, "Error"), "status": status,
                         "message": message}, status, headers={"Cache-Control": "no-store"})


def _status(exc: ChatError, *, default: int) -> int:
    if exc.msg_id == "no_permission":
        return 403
    if exc.msg_id == "msg_channel_suspended":
        return 404
    return default


def chat_routes(
    chat: ChatService, tokens: TokenValidator, blobs: BlobStore, presence: Presence
) -> list[Route]:
    async def caller(request: Request) -> ChatUser | None:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        info = await tokens.validate(token.strip())
        if info is None:
            return None
        return ChatUser(info.user_id, info.login, info.display_name, info.color, info.scopes,
                        info.is_admin)

    async def emote_image(request: Request) -> Response:
        emote_id = request.path_params["emote_id"]
        if not _ID.fullmatch(emote_id):
            return error(404, "no such emote")
        info = await chat.store.emote(emote_id)
        data = None if info is None else await blobs.get(f"emotes/{emote_id}")
        if info is None or data is None:
            return error(404, "no such emote")
        return Response(data, media_type=CONTENT_TYPES[info.format], headers={
            "Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff",
            "Access-Control-Allow-Origin": "*"})

    async def global_emotes(_request: Request) -> Response:
        return JSONResponse({"data": [e.as_json() for e in chat.global_emotes.values()]})

    async def channel_emotes(request: Request) -> Response:
        login = request.path_params["login"].lower()
        channel = await chat.store.user_by_login(login) if _LOGIN.fullmatch(login) else None
        if channel is None:
            return error(404, "no such channel")
        return JSONResponse({"data": [e.as_json() for e in await chat.store.emotes_of(channel.id)]})

    async def emote_target(request: Request) -> tuple[ChatUser, str, str] | Response:
        """The caller and the (channel, code) of an emote write, or the error answer."""
        user = await caller(request)
        if user is None:
            return error(401, "a valid Bearer token is required")
        login, code = request.path_params["login"].lower(), request.path_params["code"]
        if not _LOGIN.fullmatch(login):
            return error(404, "no such channel")
        return user, login, code

    async def put_emote(request: Request) -> Response:
        target = await emote_target(request)
        if isinstance(target, Response):
            return target
        user, login, code = target
        tier_raw = request.query_params.get("tier", "0")
        if not tier_raw.isdigit():
            return error(400, "tier must be 0, 1, 2 or 3")
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BYTES):
            return error(413, f"an emote image is at most {MAX_BYTES} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BYTES:
                return error(413, f"an emote image is at most {MAX_BYTES} bytes")
        try:
            info = await chat.add_emote(login, user, code, bytes(body), tier=int(tier_raw))
        except ChatError as exc:
            return error(_status(exc, default=400), exc.text)
        return JSONResponse({"data": [info.as_json()]}, 201)

    async def delete_emote(request: Request) -> Response:
        target = await emote_target(request)
        if isinstance(target, Response):
            return target
        user, login, code = target
        try:
            await chat.remove_emote(login, user, code)
        except ChatError as exc:
            return error(_status(exc, default=404), exc.text)
        return Response(status_code=204)

    async def badges(_request: Request) -> Response:
        return JSONResponse({"data": [
            {"set_id": set_id, "versions": [{"id": v, "title": t} for v, t in versions.items()]}
            for set_id, versions in BADGES.items()
        ]})

    async def room_info(request: Request) -> Response:
        login = request.path_params["login"].lower()
        if not _LOGIN.fullmatch(login):
            return error(404, "no such channel")
        room = chat.rooms.get(login)
        local = chat.local_counts(room) if room is not None else (0, 0)
        conns, chatters = await presence.totals(login, local)
        out: dict[str, object] = {"login": login, "connections": conns, "chatters": chatters,
                                  "this_node": {"connections": local[0], "chatters": local[1]}}
        if room is not None:
            s = room.snap
            out["modes"] = {"slow": s.slow, "followers_only": s.followers_only,
                            "subs_only": s.subs_only, "emote_only": s.emote_only, "r9k": s.r9k}
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    async def recent_messages(request: Request) -> Response:
        login = request.path_params["login"].lower()
        if not _LOGIN.fullmatch(login):
            return error(404, "no such channel")
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 200:
            return error(400, "limit must be 1..200")
        try:
            lines = await chat.recent_lines(login, int(raw))
        except ChatError as exc:
            return error(404, exc.text)
        return JSONResponse({"messages": lines, "error": None},
                            headers={"Cache-Control": "no-store"})

    return [
        Route("/emotes/{emote_id}", emote_image, methods=["GET", "HEAD"]),
        Route("/api/chat/rooms/{login}/recent-messages", recent_messages),
        Route("/api/chat/emotes", global_emotes),
        Route("/api/chat/emotes/{login}", channel_emotes),
        Route("/api/chat/emotes/{login}/{code}", put_emote, methods=["PUT"]),
        Route("/api/chat/emotes/{login}/{code}", delete_emote, methods=["DELETE"]),
        Route("/api/chat/badges", badges),
        Route("/api/chat/rooms/{login}", room_info),
    ]
