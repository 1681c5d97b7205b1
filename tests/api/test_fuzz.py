"""Schema-driven fuzz of the whole API: schemathesis generates requests from /openapi.json
(valid and invalid parameters and bodies, with and without a token) and no answer may be a
server error."""

from __future__ import annotations

import random
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import ApiNode, TestUser, node_fixture

EXAMPLES = 50
ID_PARAMS = ("broadcaster_id", "moderator_id", "user_id", "from_broadcaster_id",
             "to_broadcaster_id", "sender_id", "id", "from_id", "to_id")


fuzz_node = node_fixture(helix_rate_limit=10_000_000)


@pytest.fixture(scope="module")
def fuzz_users(fuzz_node: ApiNode) -> tuple[TestUser, TestUser]:
    return fuzz_node.user(), fuzz_node.user()


def test_no_request_makes_a_server_error(
    fuzz_node: ApiNode, fuzz_users: tuple[TestUser, TestUser],
) -> None:
    me, other = fuzz_users
    schema = schemathesis.openapi.from_url(f"{fuzz_node.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60  # the whole Helix surface is in the spec
    failures: list[str] = []
    statuses: dict[int, int] = {}

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            rng = random.Random(repr(case.query) + repr(case.body))
            # most cases aim at real accounts so the handlers get past the id checks
            if case.query and rng.random() < 0.6:
                for name in ID_PARAMS:
                    if name in case.query:
                        case.query[name] = str(rng.choice((me.id, other.id)))
            headers = fuzz_node.headers(me if rng.random() < 0.85 else None)
            response = case.call(base_url=fuzz_node.base_url, headers=headers,
                                 allow_redirects=False)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {case.as_curl_command()}\n"
                                f"  {response.text[:300]}")

        fuzz()
    print(f"{len(operations)} operations, responses by status: {sorted(statuses.items())}")
    assert not failures, "\n".join(failures[:20])
    assert sum(n for code, n in statuses.items() if code < 300) > 100  # not all refusals
