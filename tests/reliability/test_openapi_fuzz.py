"""Schemathesis against the OpenAPI document the collector serves, in-process on the real WSGI app.

Every documented operation gets schema-valid (positive) and schema-violating
(negative) requests, authenticated with a token of the scope it needs, and
every answer must be no 5xx and match the document: a documented status, its
content type, its headers and its body schema. Generation is derandomized, so
a run is reproducible; about 2,500 requests in all.

Schemathesis also offers "positive data accepted" / "negative data rejected"
checks; they are not run here because the contract has rules a JSON Schema
cannot state, each documented as a 400 or a 404: test ids unique within a run,
``status`` agreeing with the tests, opaque cursors, and integers written
without a fraction (JSON Schema counts ``1.0`` as an integer; the collector,
as documented, refuses it).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from collector import accounts
from collector.api.ops import OPENAPI
from collector.app import create_app
from collector.settings import Settings
from collector.store.sqlite import SQLiteStore
from collector.tokens import create_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: examples per operation and mode; the run body is by far the costliest to generate
EXAMPLES = {"POST /api/v1/runs": {"positive": 100, "negative": 40}}
DEFAULT_EXAMPLES = 75
ADMIN_PATHS = ("/orgs", "/projects", "/tokens", "/tokens/{token_id}")
OPERATIONS = [
    "POST /api/v1/runs", "GET /api/v1/runs", "GET /api/v1/runs/{run_id}", "POST /ingest",
    "POST /api/v1/uploads", "PUT /api/v1/uploads/{upload_id}/batches/{seq}", "POST /api/v1/uploads/{upload_id}/complete",
    "GET /api/v1/analytics/summary", "GET /api/v1/analytics/flaky", "GET /api/v1/analytics/slowest",
    "GET /api/v1/analytics/failing", "GET /api/v1/tests/history",
    "GET /api/v1/quarantine", "POST /api/v1/quarantine", "DELETE /api/v1/quarantine",
    "POST /orgs", "POST /projects", "POST /tokens", "GET /tokens", "DELETE /tokens/{token_id}",
    "GET /metrics", "GET /healthz", "GET /readyz", "GET /openapi.json",
]
REQUESTS: collections.Counter[str] = collections.Counter()


class Fuzzed:
    def __init__(self, schema: Any, tokens: dict[str, str]) -> None:
        self.schema = schema
        self.tokens = tokens


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    db = str(tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3")
    store = SQLiteStore(db)
    store.migrate()
    accounts.create_org(store, "acme")
    project = accounts.create_project(store, "acme", "web")
    project_token, _ = create_token(store, project=project, scopes=["ingest", "read", "triage"],
                                    expires_in_days=None, bcrypt_rounds=4, name="fuzz")
    admin_token, _ = create_token(store, project=None, scopes=["admin"], expires_in_days=None, bcrypt_rounds=4)
    store.close()
    app = create_app(Settings(db=db, bcrypt_rounds=4, token_rate_per_s=0))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app.wsgi_app)
    yield Fuzzed(schema, {"project": project_token.token, "admin": admin_token.token})
    app.state.store.close()
    total = sum(REQUESTS.values())
    print(f"\nfuzz: {total} generated requests over {len(REQUESTS)} operation/mode pairs, no 5xx, all as documented")


def test_the_fuzzed_operations_are_every_documented_operation(fuzzed: Fuzzed) -> None:
    documented = [
        f"{method.upper()} {path}"
        for path, item in json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"].items()
        for method in item
        if method != "parameters"
    ]
    assert sorted(documented) == sorted(OPERATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_get_no_5xx_and_answers_as_documented(fuzzed: Fuzzed, label: str, mode: Any) -> None:
    method, path = label.split(" ", 1)
    operation = fuzzed.schema[path][method]
    token = fuzzed.tokens["admin" if path in ADMIN_PATHS else "project"]
    headers = {"Authorization": f"Bearer {token}"}
    examples = EXAMPLES.get(label, {}).get(mode.value, DEFAULT_EXAMPLES)
    key = f"{label} {mode.value}"

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        if case.headers:
            # The document says what Content-Encoding means for the body; a generated value
            # cannot make the body gzip, so it would only ever test the 400 for a corrupt stream.
            case.headers.pop("Content-Encoding", None)
        response = case.call(headers=headers)
        REQUESTS[key] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()
    assert REQUESTS[key] >= min(examples, 20)
