"""Pure parts of accounts and OAuth2: scopes, redirect URIs, `next` paths, login limits."""

from __future__ import annotations

import pytest

from streamhub.api.oauth2 import with_params
from streamhub.channels.loginlimit import LoginLimiter
from streamhub.channels.oauth import check_redirect_uri, redirect_matches
from streamhub.channels.scopes import KNOWN_SCOPES, ScopeError, describe, parse_scopes
from streamhub.web.accounts import safe_next
from tests.api.conftest import ALL_SCOPES


def test_every_scope_the_api_uses_is_known() -> None:
    assert set(ALL_SCOPES) <= KNOWN_SCOPES
    for scope in ("clips:edit", "channel:manage:polls", "channel:manage:videos",
                  "user:read:subscriptions", "channel:read:predictions"):
        assert scope in KNOWN_SCOPES


def test_parse_scopes_keeps_order_and_drops_duplicates() -> None:
    assert parse_scopes("chat:read  chat:edit chat:read\tbits:read") == (
        "chat:read", "chat:edit", "bits:read")
    assert parse_scopes("") == () and parse_scopes(None) == ()


@pytest.mark.parametrize("raw, message", [
    ("CHAT:READ", "syntax"), ("chat", "syntax"), ("chat:read:", "syntax"),
    ("a:b:c:d:e", "syntax"), ("chat:read,chat:edit", "syntax"), ("<x>:y", "syntax"),
    ("channel:fly:away", "unknown"), ("chat:write", "unknown"),
])
def test_parse_scopes_refuses(raw: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        parse_scopes(raw)


def test_too_many_scopes() -> None:
    with pytest.raises(ScopeError, match="too many"):
        parse_scopes(" ".join(sorted(KNOWN_SCOPES)), max_scopes=3)


def test_descriptions_are_readable() -> None:
    assert describe("chat:read") == "View live chat messages"
    assert describe("channel:manage:broadcast") == "Manage broadcast of your channel"
    assert describe("bits:read") == "View Bits information for your channel"
    assert all(describe(s) for s in KNOWN_SCOPES)


@pytest.mark.parametrize("uri", [
    "https://app.example/cb", "https://app.example:8443/cb?x=1", "http://localhost:3000/cb",
    "http://127.0.0.1/cb", "http://[::1]:9/cb",
])
def test_redirect_uris_accepted(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize("uri", [
    "", "/cb", "app.example/cb", "ftp://app.example/cb", "javascript:alert(1)",
    "http://app.example/cb", "https://app.example/cb#frag", "https://app.example/cb#",
    "https://user:pw@app.example/cb", "https://app.example/c b", "https://app.example:99999/",
    "https://" + "a" * 500 + ".example/",
])
def test_redirect_uris_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        check_redirect_uri(uri)


def test_redirect_match_is_exact() -> None:
    registered = ("https://app.example/cb", "http://localhost:3000/cb")
    assert redirect_matches(registered, "https://app.example/cb")
    for given in ("https://app.example/cb/", "https://app.example/cb?x=1",
                  "https://APP.example/cb", "https://app.example/c", "http://localhost:3000"):
        assert not redirect_matches(registered, given)


def test_with_params_appends_to_query_or_fragment() -> None:
    assert with_params("https://a.example/cb?keep=1", {"code": "x", "state": "a b&c"}) == (
        "https://a.example/cb?keep=1&code=x&state=a+b%26c")
    assert with_params("https://a.example/cb", {"access_token": "t"}, fragment=True) == (
        "https://a.example/cb#access_token=t")


@pytest.mark.parametrize("raw, expected", [
    ("/settings/password", "/settings/password"),
    ("/oauth2/authorize?a=1&b=2", "/oauth2/authorize?a=1&b=2"),
    ("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"), ("", "/"), (None, "/"), ("/a b", "/"), ("/x\r\nSet-Cookie:", "/"),
    ("relative", "/"), ("/" + "a" * 3000, "/"),
])
def test_safe_next(raw: object, expected: str) -> None:
    assert safe_next(raw) == expected


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_limit_per_account_and_reset() -> None:
    clock = Clock()
    limits = LoginLimiter(per_account=3, per_ip=100, window=60, clock=clock)
    for i in range(3):
        assert limits.check("Alice", f"10.0.0.{i}") is None
        limits.failed("Alice", f"10.0.0.{i}")
        clock.now += 1
    block = limits.check("alice", "10.9.9.9")
    assert block is not None and block.reason == "account" and block.retry_after == 57
    assert limits.check("bob", "10.9.9.9") is None
    clock.now += 57
    assert limits.check("alice", "10.9.9.9") is None
    limits.failed("alice", "1.1.1.1")  # two old failures still count: locked again
    assert limits.check("alice", "1.1.1.1") is not None
    limits.succeeded("alice")
    assert limits.check("alice", "1.1.1.1") is None


def test_login_limit_per_ip() -> None:
    clock = Clock()
    limits = LoginLimiter(per_account=100, per_ip=5, window=30, clock=clock)
    for i in range(5):
        limits.failed(f"user{i}", "192.0.2.1")
    block = limits.check("someone_else", "192.0.2.1")
    assert block is not None and block.reason == "ip" and block.retry_after == 30
    assert limits.check("someone_else", "192.0.2.2") is None
    limits.succeeded("someone_else")  # does not clear the address
    assert limits.check("user0", "192.0.2.1") is not None
    clock.now += 30
    assert limits.check("user0", "192.0.2.1") is None
