"""A cookie-keeping HTTP client that fills the account and consent forms like a browser."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

_INPUT = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the (first) form on a page, unescaped."""
    return {name: html.unescape(value) for name, value in _INPUT.findall(page)}


def location_params(response: httpx.Response) -> dict[str, str]:
    """The query parameters (or, if it has one, the fragment) of a redirect's Location."""
    parts = urlsplit(response.headers["location"])
    raw = parts.fragment or parts.query
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class Browser:
    """One browser profile: its own cookie jar, never follows redirects by itself."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kw)

    def form(self, path: str) -> dict[str, str]:
        """GET a page with a form; its hidden fields (csrf_token, next, ...)."""
        page = self.get(path)
        assert page.status_code == 200, (page.status_code, page.text[:500])
        return hidden_fields(page.text)

    def signup(self, login: str, password: str, next_path: str = "/") -> httpx.Response:
        fields = self.form(f"/signup?next={next_path}")
        return self.post("/signup", {**fields, "login": login, "password": password,
                                     "password_confirm": password})

    def login(self, login: str, password: str, next_path: str = "/") -> httpx.Response:
        fields = self.form(f"/login?next={next_path}")
        return self.post("/login", {**fields, "login": login, "password": password})

    def csrf(self) -> str:
        """The logged-in session's CSRF token (from the password settings page)."""
        return self.form("/settings/password")["csrf_token"]

    def logged_in(self) -> bool:
        return self.get("/settings/password").status_code == 200
