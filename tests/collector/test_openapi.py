"""The OpenAPI document is the API's contract: valid, shipped, complete and true to the app's routes."""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import collector
from collector.errors import (
    AlreadyExists,
    BadRequest,
    Forbidden,
    HeadersTooLarge,
    Invalid,
    NotFound,
    NotImplementedByServer,
    PayloadTooLarge,
    RequestTimeout,
    RunConflict,
    SchemaMismatch,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from collector.model import RUN_STATUSES, TEST_STATUSES

DOCUMENT: dict[str, Any] = json.loads(files("collector").joinpath("openapi.json").read_text(encoding="utf-8"))
DOCUMENT_URI = "urn:testrun:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: answer only their own formats (Prometheus text, this document), never an Error body
NON_JSON_OPERATIONS = {("GET", "/metrics"), ("GET", "/openapi.json")}
#: take neither a token nor input, so no client error is possible
PUBLIC_OPERATIONS = {("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/healthz"), ("GET", "/readyz")}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


OPERATIONS = list(operations())


def operation_id(method: str, path: str) -> str:
    return f"{method} {path}"


def parametrize_operations(selected: list[tuple[str, str, dict[str, Any]]]) -> Any:
    return pytest.mark.parametrize(
        ("method", "path", "operation"), selected, ids=[operation_id(m, p) for m, p, _ in selected]
    )


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``) to what it names."""
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def responses_of(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {status: resolve(response) for status, response in operation["responses"].items()}


def takes_a_token(operation: dict[str, Any]) -> bool:
    return bool(operation.get("security", DOCUMENT.get("security", [])))


def is_error_schema(schema: dict[str, Any]) -> bool:
    if schema.get("$ref") == "#/components/schemas/Error":
        return True
    return any(is_error_schema(part) for part in schema.get("allOf", []))


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A 2020-12 validator for a schema of the document: its ``#/components/...`` references resolve there."""
    document = {**DOCUMENT, "components": {**DOCUMENT["components"]}}
    document["components"]["schemas"] = {**DOCUMENT["components"]["schemas"], "__checked__": schema}
    registry: Registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/components/schemas/__checked__"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def component(name: str) -> Draft202012Validator:
    return validator_for({"$ref": f"#/components/schemas/{name}"})


def is_valid(name: str, instance: Any) -> bool:
    return component(name).is_valid(instance)


# --- the document ---------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate(DOCUMENT)


def test_the_document_is_shipped_inside_the_collector_package() -> None:
    shipped = files("collector").joinpath("openapi.json")

    assert shipped.is_file()
    assert Path(str(shipped)).parent == Path(collector.__file__).parent


def test_the_document_version_is_the_collector_version() -> None:
    assert DOCUMENT["info"]["title"] == "testrun collector"
    assert DOCUMENT["info"]["version"] == collector.__version__
    assert DOCUMENT["servers"] == [{"url": "/"}]


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key not in ("examples", "example", "default", "const", "enum"):
                yield from _keywords(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


def test_the_schemas_are_json_schema_2020_12_with_type_lists_for_null() -> None:
    assert DOCUMENT["jsonSchemaDialect"] == "https://spec.openapis.org/oas/3.1/dialect/base"
    for name, schema in DOCUMENT["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert "nullable" not in set(_keywords(schema)), f"{name} uses OpenAPI 3.0's nullable"


# --- responses ---------------------------------------------------------------------------


def test_only_metrics_probes_and_this_document_are_public() -> None:
    public = {(method, path) for method, path, operation in OPERATIONS if not takes_a_token(operation)}

    assert public == PUBLIC_OPERATIONS
    for method, path, operation in OPERATIONS:
        if (method, path) in PUBLIC_OPERATIONS:
            assert operation["security"] == []
            assert "requestBody" not in operation and "parameters" not in operation


@parametrize_operations([op for op in OPERATIONS if op[:2] not in PUBLIC_OPERATIONS])
def test_every_operation_with_a_token_or_input_documents_a_client_error(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert any(status.startswith("4") for status in operation["responses"])


@parametrize_operations([op for op in OPERATIONS if takes_a_token(op[2])])
def test_every_operation_that_takes_a_token_documents_401_with_www_authenticate_403_and_429_with_retry_after(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = responses_of(operation)

    assert {"401", "403", "429"} <= set(responses)
    assert resolve(responses["401"]["headers"]["WWW-Authenticate"])["required"] is True
    assert resolve(responses["429"]["headers"]["Retry-After"])["required"] is True


@parametrize_operations([op for op in OPERATIONS if op[:2] not in NON_JSON_OPERATIONS])
def test_every_error_response_is_an_error_body(method: str, path: str, operation: dict[str, Any]) -> None:
    for status, response in responses_of(operation).items():
        if status.startswith(("2", "3")):  # a 304 Not Modified has no body at all
            continue
        assert list(response["content"]) == ["application/json"], status
        assert is_error_schema(response["content"]["application/json"]["schema"]), status


@parametrize_operations(OPERATIONS)
def test_every_response_carries_a_request_id_header(method: str, path: str, operation: dict[str, Any]) -> None:
    for status, response in responses_of(operation).items():
        header = resolve(response.get("headers", {}).get("X-Request-Id", {}))
        assert header.get("required") is True, status


@parametrize_operations([op for op in OPERATIONS if takes_a_token(op[2])])
def test_every_operation_names_the_scope_it_needs_in_its_security_and_description(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    scopes = [scope for requirement in operation["security"] for scope in requirement["bearerAuth"]]

    assert scopes and all(scope in ("ingest", "read", "triage", "admin") for scope in scopes)
    assert all(f"**{scope}**" in operation["description"].lower() or scope in operation["description"].lower()
               for scope in scopes)


def test_every_503_says_when_to_retry() -> None:
    for method, path, operation in OPERATIONS:
        response = responses_of(operation).get("503")
        if response is not None:
            assert "Retry-After" in response["headers"], operation_id(method, path)


def test_run_uploads_document_created_duplicate_and_conflict_answers() -> None:
    for path in ("/api/v1/runs", "/ingest"):
        responses = responses_of(DOCUMENT["paths"][path]["post"])
        created = responses["201"]["content"]["application/json"]["schema"]
        duplicate = responses["200"]["content"]["application/json"]["schema"]
        conflict = responses["409"]["content"]["application/json"]["schema"]

        assert {"400", "401", "403", "409", "413", "415", "429", "500", "503"} <= set(responses)
        assert validator_for(created).is_valid(_accepted(duplicate=False))
        assert not validator_for(created).is_valid(_accepted(duplicate=True))
        assert validator_for(duplicate).is_valid(_accepted(duplicate=True))
        assert validator_for(conflict).is_valid(_error(RunConflict("r1")))
        assert not validator_for(conflict).is_valid(_error(AlreadyExists("taken")))


def test_a_run_of_another_project_is_documented_as_404_never_403_confirming_it() -> None:
    operation = DOCUMENT["paths"]["/api/v1/runs/{run_id}"]["get"]

    assert "404" in operation["responses"]
    assert "another project" in operation["description"]


# --- examples ------------------------------------------------------------------------------


EXAMPLES = [
    (name, index, example)
    for name, schema in DOCUMENT["components"]["schemas"].items()
    for index, example in enumerate(schema.get("examples", []))
]


@pytest.mark.parametrize(
    ("name", "index", "example"), EXAMPLES, ids=[f"{name}[{index}]" for name, index, _ in EXAMPLES]
)
def test_every_example_validates_against_its_own_schema(name: str, index: int, example: Any) -> None:
    errors = [error.message for error in component(name).iter_errors(example)]

    assert errors == []


def test_the_run_and_minimal_ingest_bodies_have_examples() -> None:
    schemas = DOCUMENT["components"]["schemas"]

    assert any(example.get("tests") for example in schemas["RunIn"]["examples"])
    assert schemas["IngestIn"]["examples"]


# --- the schemas say what the contract says -------------------------------------------------


def _run(**fields: Any) -> dict[str, Any]:
    return {"run_id": "r1", **fields}


def _test(status: str = "passed", **fields: Any) -> dict[str, Any]:
    return {"id": f"t-{status}", "status": status, **fields}


RUN_CASES = [
    ("no tests, no status", _run(), False),
    ("no tests, a status", _run(status="error"), True),
    ("empty tests, no status", _run(tests=[]), False),
    ("tests, no status", _run(tests=[_test("failed")]), True),
    ("a failed test makes the run failed", _run(status="failed", tests=[_test(), _test("failed")]), True),
    ("an error test makes the run failed", _run(status="failed", tests=[_test("error")]), True),
    ("a status contradicting a failed test", _run(status="passed", tests=[_test("failed")]), False),
    ("a run with tests is never error", _run(status="error", tests=[_test("error")]), False),
    ("all skipped makes the run skipped", _run(status="skipped", tests=[_test("skipped")]), True),
    ("all skipped is not passed", _run(status="passed", tests=[_test("skipped")]), False),
    ("xfailed and xpassed pass", _run(status="passed", tests=[_test("xfailed"), _test("xpassed")]), True),
    ("some skipped is passed", _run(status="skipped", tests=[_test("skipped"), _test()]), False),
    ("unknown fields are ignored", _run(status="passed", shard=3, tests=[_test(extra=True)]), True),
    ("a run_id of 256 characters", {"run_id": "r" * 256, "status": "passed"}, True),
    ("a run_id of 257 characters", {"run_id": "r" * 257, "status": "passed"}, False),
    ("an empty run_id", {"run_id": "", "status": "passed"}, False),
    ("a run_id with a newline", {"run_id": "a\nb", "status": "passed"}, False),
    ("a blank run_id", {"run_id": "   ", "status": "passed"}, False),
    ("a run_id with / and :", {"run_id": "github:octo/app:1", "status": "passed"}, True),
    ("no run_id", {"status": "passed"}, False),
    ("a started_at without offset", _run(status="passed", started_at="2026-01-12T10:00:00"), False),
    ("a started_at with an offset", _run(status="passed", started_at="2026-01-12T10:00:00+02:00"), True),
    ("a null duration", _run(status="passed", duration_ms=None), True),
    ("a negative duration", _run(status="passed", duration_ms=-1), False),
    ("a duration over 1e12", _run(status="passed", duration_ms=1e12 + 1), False),
    ("an unknown run status", _run(status="xfailed"), False),
    ("flat ci values", _run(status="passed", ci={"job": "t", "attempt": 0, "x": True, "y": None}), True),
    ("a nested ci value", _run(status="passed", ci={"job": {"name": "t"}}), False),
    ("a float ci value", _run(status="passed", vcs={"ratio": 0.5}), False),
    ("a negative ci.attempt", _run(status="passed", ci={"attempt": -1}), False),
    ("a string ci.attempt", _run(status="passed", ci={"attempt": "2"}), False),
    ("an unknown ci.attempt", _run(status="passed", ci={"attempt": None}), True),
    ("a numeric vcs.commit", _run(status="passed", vcs={"commit": 1234}), False),
    ("a metadata integer beyond 64 bits", _run(status="passed", ci={"build": 2**63}), False),
    ("a blank metadata name", _run(status="passed", ci={" ": "x"}), False),
    ("33 ci properties", _run(status="passed", ci={f"k{i}": i for i in range(33)}), False),
    ("a metadata name of 65 characters", _run(status="passed", reporter={"n" * 65: 1}), False),
    ("a metadata value of 2049 characters", _run(status="passed", vcs={"branch": "b" * 2049}), False),
    ("a test without an id", _run(tests=[{"status": "passed"}]), False),
    ("a test without a status", _run(tests=[{"id": "t"}]), False),
    ("an unknown test status", _run(tests=[_test("broken")]), False),
    ("a test id of 1025 characters", _run(tests=[{"id": "t" * 1025, "status": "passed"}]), False),
    ("a test id with a tab", _run(tests=[{"id": "a\tb", "status": "passed"}]), False),
    ("a negative line", _run(tests=[_test(line=-1)]), False),
    ("a line beyond 32 bits", _run(tests=[_test(line=2**31)]), False),
    ("a test duration over 1e12", _run(tests=[_test(duration_ms=1e12 + 1)]), False),
    ("a test with every field", _run(tests=[DOCUMENT["components"]["schemas"]["TestIn"]["examples"][0]]), True),
    (
        "nullable test fields set to null",
        _run(tests=[_test(suite=None, file=None, line=None, message=None, details=None)]),
        True,
    ),
    ("a null test duration", _run(tests=[_test(duration_ms=None)]), False),
    ("zero attempts", _run(tests=[_test(attempts=0)]), False),
    ("1001 attempts", _run(tests=[_test(attempts=1001)]), False),
    ("a NUL in a message", _run(tests=[_test("failed", message="a\x00b")]), False),
    ("a details of 65537 characters", _run(tests=[_test("failed", details="d" * 65537)]), False),
    ("a message of 8192 characters", _run(tests=[_test("failed", message="m" * 8192)]), True),
]


#: cases the schema refuses but the collector accepts, reading null as "absent"
LENIENT_CASES = {"a null test duration"}


@pytest.mark.parametrize(("case", "body", "valid"), RUN_CASES, ids=[case for case, _, _ in RUN_CASES])
def test_the_run_schema_accepts_and_rejects_what_the_contract_says(case: str, body: Any, valid: bool) -> None:
    assert is_valid("RunIn", body) is valid


@pytest.mark.parametrize(("case", "body", "valid"), RUN_CASES, ids=[case for case, _, _ in RUN_CASES])
def test_the_collector_validates_runs_as_the_run_schema_says(case: str, body: Any, valid: bool) -> None:
    from collector.validation import validate_run

    try:
        validate_run(copy.deepcopy(body), max_tests=100_000)
    except Invalid:
        accepted = False
    else:
        accepted = True

    assert accepted is (valid or case in LENIENT_CASES)


def test_the_run_schema_caps_tests_at_max_tests_per_run() -> None:
    tests = DOCUMENT["components"]["schemas"]["RunIn"]["properties"]["tests"]

    assert tests["maxItems"] == 100_000
    assert "max_tests_per_run" in tests["description"]


def test_the_statuses_are_the_models_statuses() -> None:
    schemas = DOCUMENT["components"]["schemas"]

    assert schemas["RunStatus"]["enum"] == list(RUN_STATUSES)
    assert schemas["TestStatus"]["enum"] == list(TEST_STATUSES)


def test_the_minimal_ingest_body_needs_run_id_and_status() -> None:
    assert is_valid("IngestIn", {"run_id": "r1", "status": "passed"})
    assert is_valid("IngestIn", {"run_id": "r1", "status": "passed", "timestamp": "2026-01-12T10:00:00Z"})
    assert not is_valid("IngestIn", {"run_id": "r1"})
    assert not is_valid("IngestIn", {"status": "passed"})
    assert not is_valid("IngestIn", {"run_id": "r1", "status": "passed", "duration_ms": -5})


def _error(error: Any, request_id: str = "req-1") -> dict[str, Any]:
    return {**error.body(), "request_id": request_id}


def _accepted(*, duplicate: bool) -> dict[str, Any]:
    counts = dict.fromkeys(("total", "passed", "failed", "error", "skipped", "xfailed", "xpassed", "flaky"), 0)
    return {
        "run_id": "a/b",
        "status": "passed",
        "duplicate": duplicate,
        "counts": counts,
        "url": "/api/v1/runs/a%2Fb",
        "web_url": "https://testrun.example.com/ui/runs/a%2Fb",
        "received_at": "2026-01-12T10:00:05.123456Z",
        "verdict": {
            "failures": 0,
            "blocking": 0,
            "quarantined": 0,
            "classes": dict.fromkeys(("regression", "new_test", "failing_on_default", "flaky", "quarantined"), 0),
            "tests": [],
            "truncated": False,
            "default_branch": "main",
        },
    }


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("body is not JSON"),
        Invalid([{"field": "tests[3].status", "message": "bad"}], truncated=True),  # type: ignore[list-item]
        Unauthorized(),
        Forbidden("no ingest scope"),
        NotFound("no such run"),
        AlreadyExists("org exists"),
        RunConflict("r1"),
        PayloadTooLarge("too big"),
        UnsupportedMediaType("not JSON"),
        TooManyRequests("slow down", retry_after=3),
        Unavailable("busy"),
        SchemaMismatch("migrate"),
        RequestTimeout("late"),
        HeadersTooLarge("too many headers"),
        NotImplementedByServer("unknown Transfer-Encoding"),
    ],
    ids=lambda error: error.code,
)
def test_the_error_schema_describes_every_error_body_the_collector_renders(error: Any) -> None:
    assert is_valid("Error", _error(error))


def test_the_error_schema_keeps_field_errors_and_hints_to_their_codes() -> None:
    conflict = _error(RunConflict("r1"))
    invalid = _error(Invalid([{"field": "run_id", "message": "bad"}]))  # type: ignore[list-item]

    assert not is_valid("Error", {k: v for k, v in invalid.items() if k != "errors"})
    assert not is_valid("Error", {k: v for k, v in conflict.items() if k != "hint"})
    assert not is_valid("Error", {**_error(BadRequest("x")), "errors": invalid["errors"]})
    assert not is_valid("Error", {**_error(NotFound("x")), "hint": "no"})
    assert not is_valid("Error", {k: v for k, v in conflict.items() if k != "request_id"})


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"project": "octo/app"}, True),
        ({"project": "octo/app", "scopes": ["ingest", "read"], "expires_in_days": 0.5}, True),
        ({"project": "octo/app", "expires_in_days": None}, True),
        ({"project": "octo/app", "scopes": []}, False),
        ({"project": "octo/app", "scopes": ["read", "read"]}, False),
        ({"project": "octo/app", "scopes": ["admin"]}, False),
        ({"project": "octo/app", "expires_in_days": 0}, False),
        ({"project": "octo"}, False),
        ({"scopes": ["read"]}, False),
    ],
)
def test_the_token_request_allows_only_project_scopes(body: dict[str, Any], valid: bool) -> None:
    assert is_valid("TokenIn", body) is valid


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("octo", True),
        ("9lives", True),
        ("a.b-c_d", True),
        ("n" * 64, True),
        ("n" * 65, False),
        ("", False),
        ("-octo", False),
        ("_octo", False),
        ("oc to", False),
        ("oc/to", False),
    ],
)
def test_org_and_project_names_follow_the_name_rule(name: str, valid: bool) -> None:
    assert is_valid("OrgIn", {"name": name}) is valid
    assert is_valid("ProjectIn", {"org": "octo", "name": name}) is valid


def test_token_listings_never_carry_a_secret_or_its_hash() -> None:
    info = {
        "token_id": "abc",
        "name": None,
        "project": None,
        "scopes": ["admin"],
        "created_at": "2026-01-12T10:00:00.000000Z",
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
    }

    assert is_valid("TokenInfo", info)
    assert not is_valid("TokenInfo", {**info, "secret_hash": "$2b$12$..."})
    assert not is_valid("TokenInfo", {**info, "token": "secret"})


def test_a_run_detail_is_a_summary_with_a_page_of_its_tests() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    summary, detail = schemas["RunSummary"], schemas["RunDetail"]

    assert set(detail["required"]) == set(summary["required"]) | {"tests", "next_tests_cursor", "verdict", "web_url"}
    assert set(schemas["TestResult"]["required"]) == set(schemas["TestIn"]["properties"])


# --- the app serves what the document says --------------------------------------------------


def _documented_path(rule: str) -> str:
    """``/api/v1/runs/<run_id:path>`` -> ``/api/v1/runs/{run_id}``."""
    return re.sub(r"<([^:>]+)(?::[^>]*)?>", r"{\1}", rule)


def _is_web_page(rule: str) -> bool:
    """The web pages (``/`` and ``/ui/...``) serve HTML to people, not this API; the README documents them."""
    return rule == "/" or rule == "/ui" or rule.startswith("/ui/")


def _app(tmp_path: Path) -> Any:
    from collector.app import create_app
    from collector.settings import Settings

    return create_app(Settings(db=str(tmp_path / "t.sqlite3")))


def test_every_route_the_app_serves_is_documented_and_every_documented_route_is_served(tmp_path: Path) -> None:
    import bottle

    app = _app(tmp_path)
    assert isinstance(app, bottle.Bottle)

    served = {
        (route.method.upper(), _documented_path(route.rule))
        for route in app.routes
        if route.method != "HEAD" and not _is_web_page(route.rule)
    }
    documented = {(method, path) for method, path, _ in OPERATIONS}

    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def _get(app: Any, path: str) -> tuple[str, dict[str, str], bytes]:
    """GET ``path`` from what `testrun-collector serve` serves: the app inside its request-id middleware."""
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, {k.lower(): v for k, v in headers}

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    body = b"".join(app.wsgi_app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_the_app_serves_this_document_at_openapi_json(tmp_path: Path) -> None:
    status, headers, body = _get(_app(tmp_path), "/openapi.json")

    assert status.startswith("200")
    assert headers["content-type"].startswith("application/json")
    assert headers.get("x-request-id")
    assert json.loads(body) == DOCUMENT


def test_the_app_serves_metrics_in_the_documented_prometheus_format(tmp_path: Path) -> None:
    [documented] = DOCUMENT["paths"]["/metrics"]["get"]["responses"]["200"]["content"]

    status, headers, body = _get(_app(tmp_path), "/metrics")

    assert status.startswith("200")
    assert headers["content-type"] == documented == "text/plain; version=0.0.4; charset=utf-8"
    documented_metrics = re.findall(r"`(testrun_[a-z_]+)", DOCUMENT["paths"]["/metrics"]["get"]["description"])
    assert len(documented_metrics) == 6
    for name in documented_metrics:
        assert f"# TYPE {name} ".encode() in body, name
