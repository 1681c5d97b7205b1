"""The API surface as a whole: OpenAPI docs, error envelope, auth headers, rate-limit headers."""

from __future__ import annotations

from tests.api.conftest import ApiNode, assert_error


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
