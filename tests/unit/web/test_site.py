"""The site layer's pure parts: the chat URL given to pages and the CSP."""

from __future__ import annotations

from starlette.requests import Request

from streamhub.web.site import chat_ws_url, content_security_policy


def request(url: str) -> Request:
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    return Request({"type": "http", "method": "GET", "scheme": scheme, "path": "/" + path,
                    "query_string": b"", "headers": [(b"host", host.encode())],
                    "server": None})


def test_chat_url_follows_the_page_host_and_the_bound_port() -> None:
    assert chat_ws_url(request("http://example.org:8080/x"), None,
                       lambda: (18081, None)) == "ws://example.org:18081/"
    assert chat_ws_url(request("https://example.org/x"), None,
                       lambda: (8081, 8443)) == "wss://example.org:8443/"
    # https page without TLS chat: plain ws (the browser decides; the operator sets a URL)
    assert chat_ws_url(request("https://example.org/x"), None,
                       lambda: (8081, None)) == "ws://example.org:8081/"
    assert chat_ws_url(request("http://[::1]:8080/"), None,
                       lambda: (1, None)) == "ws://[::1]:1/"
    assert chat_ws_url(request("http://a/"), "wss://chat.example.org/", None) == (
        "wss://chat.example.org/")


def test_csp_has_no_inline_code_and_lists_extra_sources() -> None:
    csp = content_security_policy(connect=("ws://h:1/",), form_targets=("https://app",))
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe" not in csp
    assert "connect-src 'self' ws://h:1/;" in csp
    assert "form-action 'self' https://app;" in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
