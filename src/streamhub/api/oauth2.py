"""OAuth2 endpoints like id.twitch.tv/oauth2: authorize (consent page), token, validate, revoke."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Header, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from streamhub.api.context import ApiContext
from streamhub.api.errors import ApiError
from streamhub.channels.oauth import AppInfo, OAuthError, OAuthService, redirect_matches
from streamhub.channels.scopes import ScopeError, describe, parse_scopes
from streamhub.web.accounts import Pages, login_redirect
from streamhub.web.session import CsrfError, WebSessionService, check_csrf

_FORM_DOC: dict[str, Any] = {"requestBody": {"content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
        "client_id": {"type": "string"}, "client_secret": {"type": "string"},
        "grant_type": {"type": "string",
                       "enum": ["client_credentials", "authorization_code", "refresh_token"]},
        "code": {"type": "string"}, "redirect_uri": {"type": "string"},
        "refresh_token": {"type": "string"}, "scope": {"type": "string"},
        "token": {"type": "string"}}}}}, "required": False}}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def with_params(uri: str, params: dict[str, str], *, fragment: bool = False) -> str:
    """`uri` with `params` added to its query (or, for the implicit flow, as its fragment)."""
    parts = urlsplit(uri)
    if fragment:
        return urlunsplit(parts._replace(fragment=urlencode(params)))
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _params(request: Request) -> dict[str, str]:
    """Query parameters, overridden by form fields (Twitch accepts both)."""
    found = {k: v[:4000] for k, v in request.query_params.items()}
    try:
        form: FormData = await request.form()
    except Exception:
        raise ApiError(400, "Invalid form body") from None
    for key, value in form.items():
        if isinstance(value, str):
            found[key] = value[:4000]
    return found


def _oauth_error(exc: OAuthError) -> JSONResponse:
    return JSONResponse({"status": exc.status, "message": exc.message}, exc.status,
                        headers=_NO_STORE)


def router(ctx: ApiContext) -> APIRouter:
    """POST /oauth2/token, GET /oauth2/validate, POST /oauth2/revoke, GET+POST /oauth2/authorize."""
    api = APIRouter(prefix="/oauth2", tags=["oauth2"])
    oauth = OAuthService(ctx.sessions, ctx.tokens, on_revoked=None if ctx.eventsub is None
                         else ctx.eventsub.user_revoked)
    web = WebSessionService(ctx.sessions)
    pages = Pages()

    @api.post("/token", openapi_extra=_FORM_DOC, summary="Get, refresh or exchange a token")
    async def token(request: Request) -> Response:
        p = await _params(request)
        grant = p.get("grant_type")
        try:
            if grant == "client_credentials":
                got = await oauth.client_credentials(p.get("client_id"), p.get("client_secret"),
                                                     p.get("scope"))
                body: dict[str, Any] = {"access_token": got.access_token,
                                        "expires_in": got.expires_in, "token_type": "bearer"}
                return JSONResponse(body, headers=_NO_STORE)
            if grant == "authorization_code":
                got = await oauth.exchange_code(p.get("client_id"), p.get("client_secret"),
                                                p.get("code"), p.get("redirect_uri"))
            elif grant == "refresh_token":
                got = await oauth.refresh(p.get("client_id"), p.get("client_secret"),
                                          p.get("refresh_token"))
            elif not grant:
                raise OAuthError(400, "missing grant_type")
            else:
                raise OAuthError(400, "unsupported grant_type: use client_credentials, "
                                      "authorization_code or refresh_token")
        except OAuthError as exc:
            return _oauth_error(exc)
        body = {"access_token": got.access_token, "expires_in": got.expires_in,
                "refresh_token": got.refresh_token, "scope": list(got.scopes),
                "token_type": "bearer"}
        return JSONResponse(body, headers=_NO_STORE)

    @api.get("/validate", summary="Validate an access token (user or app)")
    async def validate(
        authorization: Annotated[str | None, Header(
            description="`OAuth <token>` (Twitch's form) or `Bearer <token>`")] = None,
    ) -> Response:
        if not authorization:
            return _oauth_error(OAuthError(401, "missing authorization token"))
        kind, _, value = authorization.partition(" ")
        found = None
        if kind.lower() in ("oauth", "bearer") and value.strip():
            found = await oauth.validate(value.strip())
        if found is None:
            return _oauth_error(OAuthError(401, "invalid access token"))
        body: dict[str, Any] = {"client_id": found.client_id, "scopes": list(found.scopes),
                                "expires_in": found.expires_in}
        if found.user_id is not None:
            body.update(login=found.login, user_id=str(found.user_id))
        return JSONResponse(body, headers=_NO_STORE)

    @api.post("/revoke", openapi_extra=_FORM_DOC, summary="Revoke an access or refresh token")
    async def revoke(request: Request) -> Response:
        p = await _params(request)
        try:
            await oauth.revoke(p.get("client_id"), p.get("token"))
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(status_code=200, headers=_NO_STORE)

    def problem(request: Request, message: str, status: int = 400) -> Response:
        """An error the user sees here: never redirected to an unchecked URI."""
        return pages.message(request, "Authorization failed", message, status)

    async def checked_app(request: Request, p: dict[str, str]) -> AppInfo | Response:
        client_id = p.get("client_id", "")
        app = await oauth.get_app(client_id) if client_id else None
        if app is None:
            return problem(request, "Unknown or missing client_id: this application is not "
                                    "registered here.")
        uri = p.get("redirect_uri", "")
        if not uri or not redirect_matches(app.redirect_uris, uri):
            return problem(request, "The redirect_uri does not match any URI registered for "
                                    f"{app.name}.")
        return app

    def back(uri: str, response_type: str, params: dict[str, str]) -> RedirectResponse:
        return RedirectResponse(with_params(uri, params, fragment=response_type == "token"), 302,
                                headers=_NO_STORE)

    def request_error(uri: str, error: str, description: str, state: str | None,
                      ) -> RedirectResponse:
        params = {"error": error, "error_description": description}
        if state:
            params["state"] = state
        return RedirectResponse(with_params(uri, params), 302, headers=_NO_STORE)

    @api.get("/authorize", include_in_schema=False)
    async def authorize_page(request: Request) -> Response:
        p = {k: v[:4000] for k, v in request.query_params.items()}
        app = await checked_app(request, p)
        if not isinstance(app, AppInfo):
            return app
        uri, state = p["redirect_uri"], p.get("state")
        response_type = p.get("response_type", "")
        if response_type not in ("code", "token"):
            return request_error(uri, "unsupported_response_type",
                                 "response_type must be code or token", state)
        try:
            scopes = parse_scopes(p.get("scope"))
        except ScopeError as exc:
            return request_error(uri, "invalid_scope", str(exc), state)
        if p.get("force_verify", "false").lower() not in ("true", "false"):
            return request_error(uri, "invalid_request", "force_verify must be true or false",
                                 state)
        user = await web.current(request)
        if user is None:
            return login_redirect(request)
        target = urlsplit(uri)
        return pages.render(request, "auth_consent.html", {
            "user": user, "csrf_token": user.csrf_token, "app_name": app.name,
            "client_id": app.client_id, "redirect_uri": uri, "response_type": response_type,
            "scope_param": " ".join(scopes), "state": state or "",
            "scopes": [{"name": s, "text": describe(s)} for s in scopes],
        }, form_targets=[f"{target.scheme}://{target.netloc}"], viewer=user)

    @api.post("/authorize", include_in_schema=False)
    async def authorize(request: Request) -> Response:
        p = await _params(request)
        user = await web.current(request)
        if user is None:
            return problem(request, "You are not logged in; start again from the application.",
                           401)
        try:
            check_csrf(request, p.get("csrf_token"), user)
        except CsrfError as exc:
            return problem(request, f"{exc}; start again from the application.", 403)
        app = await checked_app(request, p)
        if not isinstance(app, AppInfo):
            return app
        uri, state = p["redirect_uri"], p.get("state") or None
        response_type = p.get("response_type", "")
        if response_type not in ("code", "token"):
            return request_error(uri, "unsupported_response_type",
                                 "response_type must be code or token", state)
        try:
            scopes = parse_scopes(p.get("scope"))
        except ScopeError as exc:
            return request_error(uri, "invalid_scope", str(exc), state)
        if p.get("decision") != "approve":
            return request_error(uri, "access_denied", "The user denied you access", state)
        params: dict[str, str]
        if response_type == "code":
            code = await oauth.create_code(app.client_id, user.user_id, scopes, uri)
            params = {"code": code, "scope": " ".join(scopes)}
        else:
            got = await oauth.implicit_token(app.client_id, user.login, scopes)
            params = {"access_token": got.access_token, "scope": " ".join(scopes),
                      "token_type": "bearer", "expires_in": str(got.expires_in)}
        if state:
            params["state"] = state
        return back(uri, response_type, params)

    return api
