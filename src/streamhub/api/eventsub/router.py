"""EventSub HTTP surface: /helix/eventsub/subscriptions (create, list, delete) and /eventsub/ws."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, WebSocket
from pydantic import BaseModel, ConfigDict, Field

from streamhub.api.auth import Principal, requires
from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.api.eventsub.service import EventSubService
from streamhub.api.paging import Page, offset_envelope, page_params

STATUSES = (
    "enabled", "webhook_callback_verification_pending", "webhook_callback_verification_failed",
    "notification_failures_exceeded", "authorization_revoked", "moderator_removed",
    "user_removed", "version_removed", "websocket_disconnected", "websocket_failed_ping_pong",
    "websocket_received_inbound_traffic", "websocket_connection_unused",
    "websocket_internal_error", "websocket_network_timeout", "websocket_network_error",
    "websocket_failed_to_reconnect",
)
StatusFilter = Literal[STATUSES]  # type: ignore[valid-type]


class TransportIn(BaseModel):
    """How notifications reach the subscriber."""

    model_config = ConfigDict(extra="ignore")

    method: Literal["webhook", "websocket"]
    callback: str | None = Field(default=None, max_length=500,
                                 description="webhook: http(s) URL receiving the POSTs")
    secret: str | None = Field(default=None, min_length=10, max_length=100,
                               description="webhook: HMAC key for the signature")
    session_id: str | None = Field(default=None, min_length=1, max_length=64,
                                   description="websocket: id from session_welcome")


class SubscriptionIn(BaseModel):
    """Body of POST /helix/eventsub/subscriptions."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=8)
    condition: dict[str, Any] = Field(max_length=5)
    transport: TransportIn


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["EventSub"])
    # Without a running EventSubService (tools, tests) subscriptions are still stored and a
    # node that runs the service delivers them.
    service = (ctx.eventsub if ctx.eventsub is not None
               else EventSubService(ctx.sessions, ctx.settings))
    caller = requires(ctx)

    def client_of(who: Principal) -> str:
        if not who.client_id:
            raise ApiError(401, "Client ID is missing: send the Client-Id header")
        return who.client_id

    @api.post("/helix/eventsub/subscriptions", status_code=202,
              summary="Create EventSub Subscription")
    async def create(body: SubscriptionIn,
                     who: Annotated[Principal, Depends(caller)]) -> dict[str, Any]:
        made = await service.create(
            client_id=client_of(who), caller_user_id=who.user_id, caller_scopes=who.scopes,
            type=body.type, version=body.version, condition=body.condition,
            method=body.transport.method, callback=body.transport.callback,
            secret=body.transport.secret, session_id=body.transport.session_id)
        return {"data": [made.subscription.json()], "total": made.total,
                "total_cost": made.total_cost, "max_total_cost": made.max_total_cost}

    @api.get("/helix/eventsub/subscriptions", summary="Get EventSub Subscriptions")
    async def list_subscriptions(
        who: Annotated[Principal, Depends(caller)],
        page: Annotated[Page, Depends(page_params)],
        status: Annotated[StatusFilter | None, Query(description="Only this status")] = None,
        type: Annotated[str | None, Query(max_length=64, description="Only this type")] = None,
        user_id: Annotated[str | None, Query(
            pattern=r"^[0-9]{1,18}$", description="Only subscriptions whose condition names "
                                                  "this user")] = None,
        subscription_id: Annotated[str | None, Query(max_length=36)] = None,
    ) -> dict[str, Any]:
        rows, total, cost, max_cost = await service.list(
            client_id=client_of(who), caller_user_id=who.user_id, status=status, type=type,
            user_id=user_id, subscription_id=subscription_id, offset=page.offset(),
            limit=page.first + 1)
        return offset_envelope([s.json() for s in rows], page, total=total, total_cost=cost,
                               max_total_cost=max_cost)

    @api.delete("/helix/eventsub/subscriptions", status_code=204,
                summary="Delete EventSub Subscription")
    async def delete(who: Annotated[Principal, Depends(caller)],
                     id: Annotated[str, Query(min_length=1, max_length=36)]) -> Response:
        await service.delete(client_id=client_of(who), caller_user_id=who.user_id,
                             subscription_id=id)
        return Response(status_code=204)

    @api.websocket("/eventsub/ws")
    async def websocket(socket: WebSocket) -> None:
        await service.sockets.handle(socket)

    return api
