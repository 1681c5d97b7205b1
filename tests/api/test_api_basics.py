"""The API surface as a whole: OpenAPI docs, error envelope, auth headers, rate-limit headers."""

from __future__ import annotations

import time

from tests.api.conftest import ApiNode, assert_error, node_fixture


def test_openapi_and_docs_are_served(api: ApiNode) -> None:
    spec = api.http.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "StreamHub API"
    docs = api.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_unknown_helix_path_is_a_json_404(api: ApiNode) -> None:
    assert_error(api.get("/helix/no/such/thing"), 404, "no such endpoint")


def test_origin_routes_still_answer_behind_the_api(api: ApiNode) -> None:
    assert api.http.get("/health").status_code == 200
    assert api.http.get("/hls/nobody/master.m3u8").status_code == 404


# a node whose Helix bucket holds 5 points a minute
limited = node_fixture(databases=("sqlite",), helix_rate_limit=5)


def test_token_bucket_rate_limit_and_headers(limited: ApiNode) -> None:
    api = limited
    me, other = api.user(), api.user()
    seen = [api.get("/helix/users", me) for _ in range(5)]
    assert [r.status_code for r in seen] == [200] * 5
    assert [int(r.headers["Ratelimit-Remaining"]) for r in seen] == [4, 3, 2, 1, 0]
    assert all(r.headers["Ratelimit-Limit"] == "5" for r in seen)
    now = time.time()
    refused = api.get("/helix/users", me)
    assert_error(refused, 429, "too many requests")
    assert refused.headers["Ratelimit-Remaining"] == "0"
    assert now <= int(refused.headers["Ratelimit-Reset"]) <= now + 61
    # the bucket is per client id + user: another user, or another client, is not limited
    assert api.get("/helix/users", other).status_code == 200
    assert api.get("/helix/users", me, headers={"Client-Id": "another-client"}).status_code == 200


def test_auth_header_errors(api: ApiNode) -> None:
    me = api.user()
    assert_error(api.http.get("/helix/users"), 401, "oauth token is missing")
    assert_error(api.http.get("/helix/users", headers={"Authorization": f"OAuth {me.token}",
                                                       "Client-Id": "x"}), 401, "bearer")
    assert_error(api.get("/helix/users", "x" * 30), 401, "invalid oauth token")
    assert_error(api.http.get("/helix/users", headers={"Authorization": f"Bearer {me.token}"}),
                 401, "client id")
    weak = api.user(scopes=("chat:read",))
    assert_error(api.patch("/helix/channels", weak, params={"broadcaster_id": weak.uid},
                           json={"title": "x"}), 401, "missing scope: channel:manage:broadcast")
