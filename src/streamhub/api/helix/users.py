"""Helix users: GET/PUT /helix/users, image uploads, follow/unfollow, and serving user images."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.paging import check_ids, int_ids
from streamhub.api.people import person
from streamhub.api.times import rfc3339
from streamhub.channels import follows, profile
from streamhub.channels.profile import ImageKind, ProfileError, ProfileInfo
from streamhub.storage.blobs import check_key

IMAGE_TYPES = {"png": "image/png", "gif": "image/gif", "webp": "image/webp",
               "jpg": "image/jpeg"}


def image_url(request: Request, key: str | None) -> str:
    """Absolute URL of a stored image ("" when there is none)."""
    if not key:
        return ""
    return f"{str(request.base_url).rstrip('/')}/images/{key}"


def user_json(request: Request, user: ProfileInfo, *, email: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(user.id), "login": user.login, "display_name": user.display_name,
        "type": "admin" if user.is_admin else "", "broadcaster_type": user.broadcaster_type,
        "description": user.description,
        "profile_image_url": image_url(request, user.profile_image_key),
        "offline_image_url": image_url(request, user.banner_image_key),
        "view_count": 0, "created_at": rfc3339(user.created_at),
    }
    if email:
        out["email"] = user.email or ""
    return out


class FollowBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    from_id: str = Field(min_length=1, max_length=18, pattern=r"^[1-9][0-9]*$")
    to_id: str = Field(min_length=1, max_length=18, pattern=r"^[1-9][0-9]*$")


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(400, f"Image is too large: the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(400, f"Image is too large: the limit is {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["users"])
    any_token = requires(ctx)
    edit = requires(ctx, "user:edit", user=True)
    edit_follows = requires(ctx, "user:edit:follows", user=True)

    def shows_email(who: Principal, user: ProfileInfo) -> bool:
        return who.user_id == user.id and "user:read:email" in who.scopes

    @api.get("/helix/users", summary="Get users by ID or login (default: the token's user)")
    async def get_users(
        request: Request, who: Annotated[Principal, Depends(any_token)],
        id: Annotated[list[str] | None, Query(description="User ID (repeatable)")] = None,
        login: Annotated[list[str] | None, Query(description="Login (repeatable)")] = None,
    ) -> dict[str, Any]:
        ids = int_ids(id or [], "id")
        logins = [x.lower() for x in check_ids(login or [], "login")]
        if len(ids) + len(logins) > 100:
            raise ApiError(400, "At most 100 'id' and 'login' values together")
        if not ids and not logins:
            ids = [who.require_user()]
        found = await profile.profiles(ctx.sessions, ids=ids, logins=logins)
        return {"data": [user_json(request, u, email=shows_email(who, u)) for u in found]}

    @api.put("/helix/users", summary="Update the token user's description (and, as a StreamHub "
             "extension, the capitalization of the display name)")
    async def update_user(
        request: Request, who: Annotated[Principal, Depends(edit)],
        description: Annotated[str | None, Query(max_length=300)] = None,
        display_name: Annotated[str | None, Query(max_length=25)] = None,
    ) -> dict[str, Any]:
        try:
            user = await profile.update_user(ctx.sessions, who.require_user(),
                                             description=description, display_name=display_name)
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        return {"data": [user_json(request, user, email=shows_email(who, user))]}

    async def upload(request: Request, who: Principal, kind: ImageKind) -> dict[str, Any]:
        limit = profile.PROFILE_IMAGE_BYTES if kind == "profile" else profile.BANNER_IMAGE_BYTES
        data = await read_limited(request, limit)
        if not data:
            raise ApiError(400, "Missing image: send the image file as the request body")
        user_id = who.require_user()
        try:
            await profile.set_image(ctx.sessions, ctx.blobs, user_id, kind, data,
                                    request.headers.get("content-type", ""))
        except ProfileError as exc:
            raise ApiError(400, str(exc)) from None
        user = (await profile.profiles(ctx.sessions, ids=[user_id]))[0]
        return {"data": [user_json(request, user, email=shows_email(who, user))]}

    @api.put("/helix/users/profile_image", summary="StreamHub extension: upload the profile "
             "image (raw PNG, GIF, WebP or JPEG body with its Content-Type; at most 2 MiB, "
             "1024 px)")
    async def put_profile_image(
        request: Request, who: Annotated[Principal, Depends(edit)],
    ) -> dict[str, Any]:
        return await upload(request, who, "profile")

    @api.put("/helix/users/banner_image", summary="StreamHub extension: upload the banner / "
             "offline image (raw PNG, GIF, WebP or JPEG body; at most 4 MiB, 4096 px)")
    async def put_banner_image(
        request: Request, who: Annotated[Principal, Depends(edit)],
    ) -> dict[str, Any]:
        return await upload(request, who, "banner")

    @api.post("/helix/users/follows", status_code=204,
              summary="StreamHub extension: follow a channel (from_id = the token user)")
    async def follow(
        body: FollowBody, who: Annotated[Principal, Depends(edit_follows)],
    ) -> Response:
        who.require_self(int(body.from_id), "from_id")
        fan = await person(ctx, body.from_id, "from_id")
        channel = await person(ctx, body.to_id, "to_id")
        try:
            followed_at, created = await follows.follow(ctx.sessions, fan.id, channel.id)
        except follows.FollowError as exc:
            raise ApiError(400, str(exc)) from None
        if created:
            await ctx.chat.follow_changed(channel.login, fan.id, followed_at.timestamp())
            ctx.events.emit("channel.follow", {
                **fan.fields("user"), **channel.fields("broadcaster_user"),
                "followed_at": rfc3339(followed_at)})
        return Response(status_code=204)

    @api.delete("/helix/users/follows", status_code=204,
                summary="StreamHub extension: unfollow a channel (from_id = the token user)")
    async def unfollow(
        from_id: str, to_id: str, who: Annotated[Principal, Depends(edit_follows)],
    ) -> Response:
        fan = await person(ctx, from_id, "from_id")
        who.require_self(fan.id, "from_id")
        channel = await person(ctx, to_id, "to_id")
        if await follows.unfollow(ctx.sessions, fan.id, channel.id):
            await ctx.chat.follow_changed(channel.login, fan.id, None)
        return Response(status_code=204)

    @api.get("/images/{kind}/{owner}/{name}", include_in_schema=False)
    async def image(kind: str, owner: str, name: str) -> Response:
        ext = name.rsplit(".", 1)[-1]
        if kind not in ("profile", "banner", "panel") or ext not in IMAGE_TYPES or (
                not owner.isdigit()):
            raise ApiError(404, "No such image")
        try:
            key = check_key(f"{kind}/{owner}/{name}")
        except ValueError:
            raise ApiError(404, "No such image") from None
        data = await ctx.blobs.get(key)
        if data is None:
            raise ApiError(404, "No such image")
        return Response(data, media_type=IMAGE_TYPES[ext], headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    return api
