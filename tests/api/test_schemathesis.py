"""Property-based run of the whole OpenAPI description: no input may cause a 5xx.

Schemathesis generates requests — fitting the schema and deliberately not fitting it — for
every operation in /api/v1/openapi.json and sends them in-process to the ASGI app as an IT
admin with a bearer token. The token is fresh for every request, because generated requests
may legitimately revoke it (logout, logout-everywhere, DELETE /tokens/{id}).

(Driven through schemathesis' Python API with one pytest case per operation; its lazy
pytest-fixture loader does not run under pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.auth.roles import Role
from monitor.settings import load_settings
from monitor.store.db import Database
from tests.api.conftest import Env

EXAMPLES = 30
SKIP = {("GET", "/api/v1/events/stream")}  # an endless SSE stream; its door is tested elsewhere


def _operations() -> list[tuple[str, str]]:
    """(method, path) for every operation, read from a throwaway app's OpenAPI (no I/O)."""
    spec = create_app(load_settings(None, env={}), Database("sqlite://")).openapi()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops
            if (method.upper(), path) not in SKIP]


@pytest.mark.parametrize("method, path", _operations())
def test_no_input_causes_a_server_error(env: Env, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", env.app)
    operation = schema[path][method]
    cases = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                      operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call(headers=env.auth(Role.IT_ADMIN))
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} → {response.status_code}: "
            f"{response.text[:300]}\n{case.as_curl_command()}")

    no_server_error()
