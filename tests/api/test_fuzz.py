"""Schema-driven fuzz of the whole API: schemathesis generates requests from /openapi.json
(valid and invalid parameters and bodies, with and without a token) and no answer may be a
server error."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import ApiNode, TestUser, start_api_node

ID_PARAMS = ("broadcaster_id", "moderator_id", "user_id", "from_broadcaster_id",
             "to_broadcaster_id", "sender_id", "id", "from_id", "to_id")


@pytest.fixture(scope="module")
def fuzz_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[ApiNode]:
    node = start_api_node(request, tmp_path_factory.mktemp("fuzz"), helix_rate_limit=10_000_000)
    yield node
    node.close()


@pytest.fixture(scope="module")
def fuzz_users(fuzz_node: ApiNode) -> tuple[TestUser, TestUser]:
    return fuzz_node.user(), fuzz_node.user()


@pytest.fixture(scope="module")
def api_schema(fuzz_node: ApiNode) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_node.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(
    case: Any, fuzz_node: ApiNode, fuzz_users: tuple[TestUser, TestUser],
) -> None:
    me, other = fuzz_users
    rng = random.Random(case.id if isinstance(case.id, str) else None)
    # half the cases aim at real accounts so the handlers get past the id checks
    if case.query and rng.random() < 0.5:
        for name in ID_PARAMS:
            if name in case.query:
                case.query[name] = str(rng.choice((me.id, other.id)))
    headers = fuzz_node.headers(me if rng.random() < 0.8 else None)
    response = case.call(base_url=fuzz_node.base_url, headers=headers, allow_redirects=False)
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
