"""Account pages: sign up, log in/out, change password, delete account (HTML forms, CSRF)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from streamhub.api.context import ApiContext
from streamhub.channels.accounts import AccountService
from streamhub.channels.loginlimit import LoginLimiter, SignupLimiter
from streamhub.channels.profile import (
    ProfileError,
    check_description,
    check_display_name,
    update_user,
)
from streamhub.channels.service import AccountError
from streamhub.chat.service import NAMED_COLORS, ChatError, ChatUser
from streamhub.storage.models import User
from streamhub.web.session import (
    SESSION_COOKIE,
    CsrfError,
    WebSessionService,
    WebUser,
    anonymous_csrf,
    check_csrf,
    clear_session_cookie,
    set_csrf_cookie,
    set_session_cookie,
)
from streamhub.web.site import page_response, revoke_web_tokens

TEMPLATES = Path(__file__).with_name("templates")


def safe_next(raw: object) -> str:
    """`raw` if it is a local path on this site (e.g. /oauth2/authorize?...), else "/"."""
    if not isinstance(raw, str) or not raw or len(raw) > 2000:
        return "/"
    if not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if any(ord(c) <= 32 or ord(c) == 127 or c == "\\" for c in raw):
        return "/"
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    return raw


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to /login, coming back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(safe_next(here), safe='')}", 303)


def form_text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class Pages:
    """Renders the account pages (auth_*.html, in the site's layout) with the site's security
    headers; `form_targets` widens form-action (the consent page redirects to the app)."""

    def __init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(TEMPLATES))

    def render(self, request: Request, name: str, context: Mapping[str, Any], *,
               status: int = 200, form_targets: Iterable[str] = (),
               headers: Mapping[str, str] | None = None,
               viewer: WebUser | None = None) -> Response:
        return page_response(self.templates, request, name, context, viewer=viewer,
                             form_targets=form_targets, status=status,
                             headers={"Referrer-Policy": "no-referrer", **(headers or {})})

    def message(self, request: Request, heading: str, message: str, status: int) -> Response:
        return self.render(request, "auth_message.html",
                           {"heading": heading, "message": message}, status=status)


def router(ctx: ApiContext) -> APIRouter:
    """GET/POST /signup, /login, /settings/password, /settings/delete; POST /logout."""
    api = APIRouter(include_in_schema=False)
    pages = Pages()
    web = WebSessionService(ctx.sessions)
    accounts = AccountService(ctx.sessions, ctx.channels, on_revoked=None if ctx.eventsub is None
                              else ctx.eventsub.user_revoked)
    s = ctx.settings
    limiter = LoginLimiter(per_account=s.login_failures_account, per_ip=s.login_failures_ip,
                           window=s.login_failure_window)
    signups = SignupLimiter(per_ip=s.signup_limit_ip, window=s.signup_window)

    def anonymous_form(request: Request, template: str, context: Mapping[str, Any],
                       status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        token, fresh = anonymous_csrf(request)
        response = pages.render(request, template, {**context, "csrf_token": token},
                                status=status, headers=headers)
        if fresh:
            set_csrf_cookie(response, request, token)
        return response

    async def start_session(request: Request, user_id: int, nxt: str) -> Response:
        """A new session (new id: no fixation); the old cookie's session, if any, ends."""
        await web.end(request.cookies.get(SESSION_COOKIE))
        value = await web.create(user_id)
        response = RedirectResponse(nxt, 303)
        set_session_cookie(response, request, value)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def anonymous_page(request: Request, template: str) -> Response:
        """The sign-up or log-in page (or straight on to `next` when already logged in)."""
        nxt = safe_next(request.query_params.get("next"))
        if await web.current(request) is not None:
            return RedirectResponse(nxt, 303)
        return anonymous_form(request, template, {"next": nxt, "login": ""})

    async def anonymous_post(request: Request) -> tuple[FormData, str, str] | Response:
        """A sign-up/log-in form's fields, next path and login, or the 403 page when its
        CSRF token is wrong."""
        form = await request.form()
        nxt = safe_next(form.get("next"))
        login = form_text(form, "login", 100)
        try:
            check_csrf(request, form.get("csrf_token"), None)
        except CsrfError as exc:
            return pages.message(request, "Form expired", f"{exc}; reload the page.", 403)
        return form, nxt, login

    @api.get("/signup")
    async def signup_page(request: Request) -> Response:
        return await anonymous_page(request, "auth_signup.html")

    @api.post("/signup")
    async def signup(request: Request) -> Response:
        checked = await anonymous_post(request)
        if isinstance(checked, Response):
            return checked
        form, nxt, login = checked
        ip = client_ip(request)
        wait = signups.check(ip)
        if wait > 0:
            minutes = max(1, -(-wait // 60))
            return anonymous_form(request, "auth_signup.html", {
                "next": nxt, "login": login,
                "error": f"Too many accounts were created from your network address; try "
                         f"again in {minutes} minute{'s' if minutes != 1 else ''}."}, 429,
                {"Retry-After": str(wait)})
        password = form_text(form, "password", 4096)
        if password != form_text(form, "password_confirm", 4096):
            return anonymous_form(request, "auth_signup.html", {
                "next": nxt, "login": login, "error": "The passwords do not match."}, 400)
        try:
            info = await accounts.sign_up(login, password)
        except AccountError as exc:
            return anonymous_form(request, "auth_signup.html", {
                "next": nxt, "login": login, "error": f"Cannot sign up: {exc}."}, 400)
        signups.created(ip)
        return await start_session(request, info.id, nxt)

    @api.get("/login")
    async def login_page(request: Request) -> Response:
        return await anonymous_page(request, "auth_login.html")

    @api.post("/login")
    async def login(request: Request) -> Response:
        checked = await anonymous_post(request)
        if isinstance(checked, Response):
            return checked
        form, nxt, login = checked
        ip = client_ip(request)
        block = limiter.check(login, ip)
        if block is not None:
            minutes = max(1, -(-block.retry_after // 60))
            who = "this account" if block.reason == "account" else "your network address"
            return anonymous_form(request, "auth_login.html", {
                "next": nxt, "login": login,
                "error": f"Too many failed logins for {who}; try again in {minutes} "
                         f"minute{'s' if minutes != 1 else ''}."}, 429,
                {"Retry-After": str(block.retry_after)})
        account = await accounts.authenticate(login, form_text(form, "password", 4096))
        if account is None:
            limiter.failed(login, ip)
            return anonymous_form(request, "auth_login.html", {
                "next": nxt, "login": login, "error": "Wrong username or password."}, 401)
        limiter.succeeded(login)
        return await start_session(request, account.id, nxt)

    @api.post("/logout")
    async def logout(request: Request) -> Response:
        user = await web.current(request)
        if user is None:
            return RedirectResponse("/", 303)
        form = await request.form()
        try:
            check_csrf(request, form.get("csrf_token"), user)
        except CsrfError as exc:
            return pages.message(request, "Form expired", f"{exc}; reload the page.", 403)
        await web.end(request.cookies.get(SESSION_COOKIE))
        await revoke_web_tokens(ctx, user.user_id)
        response = RedirectResponse("/", 303)
        clear_session_cookie(response, request)
        return response

    async def logged_in(request: Request) -> WebUser | Response:
        """The logged-in user, or the redirect to /login that comes back here."""
        user = await web.current(request)
        return user if user is not None else login_redirect(request)

    def settings_page(request: Request, template: str, user: WebUser,
                      status: int = 200, **extra: Any) -> Response:
        return pages.render(request, template, {"user": user, "csrf_token": user.csrf_token,
                                                **extra}, status=status, viewer=user)

    async def settings_form(request: Request) -> tuple[WebUser, FormData] | Response:
        """A settings form's user and fields, or the answer when logged out (log-in page)
        or when the CSRF token is wrong (403 page)."""
        user = await logged_in(request)
        if isinstance(user, Response):
            return user
        form = await request.form()
        try:
            check_csrf(request, form.get("csrf_token"), user)
        except CsrfError as exc:
            return pages.message(request, "Form expired", f"{exc}; reload the page.", 403)
        return user, form

    async def profile_page(request: Request, user: WebUser, status: int = 200,
                           **extra: Any) -> Response:
        async with ctx.sessions() as session:
            row = await session.get(User, user.user_id)
        if row is None:
            return login_redirect(request)
        me = ChatUser(row.id, row.login, row.display_name, row.chat_color)
        values = {"display_name": row.display_name, "description": row.description or "",
                  "color": me.shown_color, **{k[5:]: v for k, v in extra.items()
                                             if k.startswith("form_")}}
        return settings_page(request, "settings_profile.html", user, status,
                             colors=sorted(NAMED_COLORS.items()), values=values,
                             **{k: v for k, v in extra.items() if not k.startswith("form_")})

    @api.get("/settings")
    async def settings_home(request: Request) -> Response:
        return RedirectResponse("/settings/profile", 303)

    @api.get("/settings/profile")
    async def profile_settings(request: Request) -> Response:
        user = await logged_in(request)
        if isinstance(user, Response):
            return user
        return await profile_page(request, user)

    @api.post("/settings/profile")
    async def save_profile(request: Request) -> Response:
        checked = await settings_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        name, bio = form_text(form, "display_name", 100), form_text(form, "description", 1000)
        color = form_text(form, "color", 32).strip()
        entered = {"form_display_name": name, "form_description": bio, "form_color": color}
        try:  # check everything before saving anything
            check_display_name(user.login, name)
            check_description(bio)
            await ctx.chat.set_color(ChatUser(user.user_id, user.login, user.display_name),
                                     color)
            await update_user(ctx.sessions, user.user_id, description=bio, display_name=name)
        except ProfileError as exc:
            return await profile_page(request, user, 400, error=f"Not saved: {exc}.", **entered)
        except ChatError as exc:
            return await profile_page(request, user, 400,
                                      error=f"Not saved: {exc.text}", **entered)
        ctx.tokens.forget()  # tokens carry the display name and color
        return await profile_page(request, user, notice="Profile saved.")

    @api.get("/settings/password")
    async def password_page(request: Request) -> Response:
        user = await logged_in(request)
        if isinstance(user, Response):
            return user
        return settings_page(request, "auth_password.html", user)

    @api.post("/settings/password")
    async def change_password(request: Request) -> Response:
        checked = await settings_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        new = form_text(form, "new_password", 4096)
        if new != form_text(form, "new_password_confirm", 4096):
            return settings_page(request, "auth_password.html", user, 400,
                                 error="The new passwords do not match.")
        try:
            await accounts.change_password(user.user_id, form_text(form, "current_password", 4096),
                                           new, keep_session_hash=user.session_hash)
        except AccountError as exc:
            return settings_page(request, "auth_password.html", user, 400,
                                 error=f"Password not changed: {exc}.")
        return settings_page(request, "auth_password.html", user,
                             notice="Password changed; other browsers were logged out.")

    @api.get("/settings/delete")
    async def delete_page(request: Request) -> Response:
        user = await logged_in(request)
        if isinstance(user, Response):
            return user
        return settings_page(request, "auth_delete.html", user)

    @api.post("/settings/delete")
    async def delete_account(request: Request) -> Response:
        checked = await settings_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        try:
            await accounts.delete_account(user.user_id, form_text(form, "password", 4096))
            ctx.tokens.forget()  # its tokens are gone with it
        except AccountError as exc:
            return settings_page(request, "auth_delete.html", user, 400,
                                 error=f"Account not deleted: {exc}.")
        response = pages.message(request, "Account deleted",
                                 f"The account {user.login} and its channel are gone.", 200)
        clear_session_cookie(response, request)
        return response

    return api
