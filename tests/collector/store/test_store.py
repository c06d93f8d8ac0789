"""Behaviour every Store backend promises, through the Store interface only."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import pytest

from collector.errors import AlreadyExists, BadRequest, Invalid, NotFound, SchemaMismatch
from collector.model import Project, RunPayload, TokenRecord
from collector.store.base import Store

RECEIVED_AT = "2026-01-12T10:05:00.000000Z"
LATER = "2026-01-12T11:00:00.000000Z"


def at(minute: int) -> str:
    return f"2026-01-12T10:{minute:02d}:00.000000Z"


# --- schema -----------------------------------------------------------------------
def test_a_new_database_is_at_version_zero_and_fails_the_schema_check(new_store: Callable[..., Store]) -> None:
    store = new_store()

    assert store.schema_version() == 0
    with pytest.raises(SchemaMismatch, match=f"version 0, this collector needs {store.LATEST_VERSION}: run 'testrun-admin migrate'"):
        store.check_schema()


def test_migrate_brings_an_empty_database_to_the_latest_version(new_store: Callable[..., Store]) -> None:
    store = new_store()

    assert store.migrate() == [1, 2, 3, 4, 5, 6]
    assert store.schema_version() == store.LATEST_VERSION == 6
    store.check_schema()


def test_migrating_again_applies_nothing(store: Store, new_store: Callable[..., Store]) -> None:
    assert store.migrate() == []
    assert new_store().migrate() == []
    assert store.schema_version() == 6


def test_two_stores_migrating_at_once_apply_each_migration_once(new_store: Callable[..., Store]) -> None:
    stores = [new_store(), new_store()]
    barrier = threading.Barrier(2)
    applied: list[list[int]] = []

    def migrate(store: Store) -> None:
        barrier.wait()
        applied.append(store.migrate())

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(version for versions in applied for version in versions) == [1, 2, 3, 4, 5, 6]  # each once, by either store
    assert stores[0].schema_version() == 6


# --- orgs and projects --------------------------------------------------------------
def test_orgs_are_created_and_listed_by_name(store: Store) -> None:
    zeta = store.create_org("zeta")
    acme = store.create_org("acme")

    assert (acme.name, zeta.name) == ("acme", "zeta")
    assert acme.id != zeta.id
    assert store.list_orgs() == [acme, zeta]


def test_names_are_ordered_by_code_point_whatever_the_locale(store: Store) -> None:
    names = ["b", "B", "ab", "a-c", "a.b", "a_b", "0", "Zeta", "é"]
    for name in names:
        store.create_org(name)
    for name in names:
        store.create_project("0", name)

    assert [org.name for org in store.list_orgs()] == sorted(names)
    assert [project.name for project in store.list_projects("0")] == sorted(names)


def test_an_org_name_can_be_taken_only_once(store: Store) -> None:
    store.create_org("acme")

    with pytest.raises(AlreadyExists, match="org 'acme' already exists"):
        store.create_org("acme")
    assert [org.name for org in store.list_orgs()] == ["acme"]


def test_projects_are_created_found_and_listed_per_org(store: Store) -> None:
    store.create_org("acme")
    store.create_org("umbrella")
    web = store.create_project("acme", "web")
    app = store.create_project("acme", "app")
    other_app = store.create_project("umbrella", "app")

    assert (app.org, app.name, app.slug) == ("acme", "app", "acme/app")
    assert store.get_project("acme", "app") == app
    assert store.get_project("umbrella", "app") == other_app
    assert store.list_projects("acme") == [app, web]
    assert store.list_projects() == [app, web, other_app]
    assert store.list_projects("nobody") == []


def test_a_project_name_can_be_taken_only_once_per_org(store: Store) -> None:
    store.create_org("acme")
    store.create_project("acme", "app")

    with pytest.raises(AlreadyExists, match="project 'acme/app' already exists"):
        store.create_project("acme", "app")


def test_a_project_needs_an_existing_org(store: Store) -> None:
    with pytest.raises(NotFound, match="org 'ghost' not found"):
        store.create_project("ghost", "app")
    assert store.list_projects() == []


def test_an_unknown_project_is_not_found(store: Store, project: Project) -> None:
    with pytest.raises(NotFound, match="project 'acme/nope' not found"):
        store.get_project("acme", "nope")


# --- tokens ---------------------------------------------------------------------------
def token(token_id: str, project: Project | None, **fields: Any) -> TokenRecord:
    values: dict[str, Any] = {
        "secret_hash": b"$2b$12$" + token_id.encode() * 3,
        "scopes": ("read", "ingest"),
        "created_at": "2026-01-01T00:00:00.000000Z",
    }
    values.update(fields)
    return TokenRecord(token_id=token_id, project=project, **values)


def fetch_token(store: Store, token_id: str) -> TokenRecord:
    found = store.get_token(token_id)
    assert found is not None
    return found


def test_a_project_token_round_trips_with_its_project(store: Store, project: Project) -> None:
    stored = token("tok1", project, expires_at="2027-01-01T00:00:00.000000Z")
    store.insert_token(stored)

    assert store.get_token("tok1") == stored


def test_an_admin_token_belongs_to_no_project(store: Store) -> None:
    admin = token("adm1", None, scopes=("admin",))
    store.insert_token(admin)

    assert store.get_token("adm1") == admin


def test_an_unknown_token_is_none(store: Store, project: Project) -> None:
    store.insert_token(token("tok1", project))

    assert store.get_token("tok2") is None


def test_a_token_id_can_be_stored_only_once(store: Store, project: Project) -> None:
    store.insert_token(token("tok1", project))

    with pytest.raises(AlreadyExists, match="token 'tok1' already exists"):
        store.insert_token(token("tok1", None))


def test_tokens_are_listed_oldest_first_all_or_per_project(store: Store, project: Project) -> None:
    other = store.create_project("acme", "web")
    late = token("aaa", project, created_at="2026-03-01T00:00:00.000000Z")
    early_b = token("bbb", other, created_at="2026-02-01T00:00:00.000000Z")
    early_a = token("abc", project, created_at="2026-02-01T00:00:00.000000Z")
    admin = token("zzz", None, created_at="2026-01-01T00:00:00.000000Z", scopes=("admin",))
    for record in (late, early_b, early_a, admin):
        store.insert_token(record)

    assert store.list_tokens() == [admin, early_a, early_b, late]
    assert store.list_tokens(project) == [early_a, late]
    assert store.list_tokens(other) == [early_b]


def test_revoking_keeps_the_first_revocation_time(store: Store, project: Project) -> None:
    store.insert_token(token("tok1", project))

    assert store.revoke_token("tok1", "2026-02-01T00:00:00.000000Z") is True
    assert store.revoke_token("tok1", "2026-03-01T00:00:00.000000Z") is True
    assert fetch_token(store, "tok1").revoked_at == "2026-02-01T00:00:00.000000Z"


def test_revoking_an_unknown_token_says_so(store: Store) -> None:
    assert store.revoke_token("ghost", "2026-02-01T00:00:00.000000Z") is False


def test_touching_a_token_records_its_last_use(store: Store, project: Project) -> None:
    store.insert_token(token("tok1", project))
    assert fetch_token(store, "tok1").last_used_at is None

    store.touch_token("tok1", "2026-02-01T00:00:00.000000Z")
    store.touch_token("tok1", "2026-02-02T00:00:00.000000Z")

    assert fetch_token(store, "tok1").last_used_at == "2026-02-02T00:00:00.000000Z"


# --- storing runs ---------------------------------------------------------------------
def test_a_new_run_is_created_and_reads_back_with_its_tests_in_order(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., Any]
) -> None:
    tests = [
        make_test(2, "failed", message="AssertionError: 1 != 2", details="Traceback…\n  ✗"),
        make_test(0, "skipped", suite=None, file=None, line=None),
        make_test(1, "passed", attempts=2, flaky=True),
    ]
    run = make_run(tests=tests)

    outcome = store.insert_run(project, run, RECEIVED_AT)

    assert outcome.outcome == "created"
    assert outcome.run.tests is None
    assert (outcome.run.run_id, outcome.run.started_at, outcome.run.received_at) == (
        run.run_id,
        run.started_at,
        RECEIVED_AT,
    )
    stored = store.get_run(project, run.run_id)
    assert stored.tests == tests
    assert stored.counts == run.counts
    assert (stored.status, stored.digest, stored.duration_ms) == ("failed", run.digest, 1234.5)
    assert (stored.ci, stored.vcs, stored.reporter) == (run.ci, run.vcs, run.reporter)
    assert store.get_run(project, run.run_id, with_tests=False) == outcome.run


def test_a_run_without_a_start_time_starts_when_received(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    outcome = store.insert_run(project, make_run(started_at=None, tests=0, status="passed"), RECEIVED_AT)

    assert outcome.run.started_at == RECEIVED_AT
    assert store.get_run(project, outcome.run.run_id).started_at == RECEIVED_AT


def test_the_same_run_again_is_a_duplicate_and_stores_nothing_new(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    first = store.insert_run(project, make_run(), RECEIVED_AT)

    again = store.insert_run(project, make_run(), LATER)

    assert again.outcome == "duplicate"
    assert again.run == first.run
    assert again.run.received_at == RECEIVED_AT
    assert len(store.list_runs(project, limit=10).runs) == 1


def test_other_content_under_a_stored_run_id_is_a_conflict_and_overwrites_nothing(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., Any]
) -> None:
    original = make_run(tests=3, digest="a" * 64)
    store.insert_run(project, original, RECEIVED_AT)
    before = store.get_run(project, original.run_id)

    other = make_run(tests=[make_test(7, "failed")], digest="b" * 64, started_at=LATER)
    outcome = store.insert_run(project, other, LATER)

    assert outcome.outcome == "conflict"
    assert outcome.run.digest == "a" * 64
    assert outcome.run.counts.total == 3
    after = store.get_run(project, original.run_id)
    assert after == before
    assert after.tests == original.tests


def test_two_threads_storing_the_same_run_at_once_create_it_once(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    barrier = threading.Barrier(2)
    for round_number in range(10):
        run = make_run(f"run-{round_number}", tests=50)
        outcomes: list[str] = []

        def insert(run: RunPayload = run, outcomes: list[str] = outcomes) -> None:
            barrier.wait()
            outcomes.append(store.insert_run(project, run, RECEIVED_AT).outcome)

        threads = [threading.Thread(target=insert) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["created", "duplicate"], f"round {round_number}"
        assert len(store.get_run(project, run.run_id).tests or []) == 50
    assert len(store.list_runs(project, limit=100).runs) == 10


def test_a_run_whose_tests_cannot_all_be_stored_leaves_nothing_behind(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., Any]
) -> None:
    tests = [make_test(i) for i in range(1000)] + [make_test(500)]
    broken = make_run(tests=tests)

    with pytest.raises(Invalid) as raised:
        store.insert_run(project, broken, RECEIVED_AT)

    assert raised.value.errors == [{"field": "tests[1000].id", "message": "duplicates tests[500].id"}]
    with pytest.raises(NotFound):
        store.get_run(project, broken.run_id)
    assert store.list_runs(project, limit=10).runs == []
    assert store.insert_run(project, make_run(tests=1000), RECEIVED_AT).outcome == "created"


def test_a_run_with_50000_tests_reads_back_exactly(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., Any]
) -> None:
    statuses = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    tests = [
        make_test(
            i,
            statuses[i % 6],
            flaky=i % 7 == 0,
            attempts=1 + i % 3,
            line=None if i % 11 == 0 else i,
            message=f"message {i} ✓" if i % 5 == 0 else None,
        )
        for i in reversed(range(50_000))
    ]
    run = make_run(tests=tests)

    assert store.insert_run(project, run, RECEIVED_AT).outcome == "created"
    stored = store.get_run(project, run.run_id)

    assert stored.counts == run.counts
    assert stored.counts.total == 50_000
    assert stored.tests == tests


# --- reading runs ---------------------------------------------------------------------
def test_a_run_id_is_only_found_in_its_own_project(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    other = store.create_project("acme", "web")
    third = store.create_project("acme", "docs")
    store.insert_run(project, make_run("shared-id", tests=1, digest="a" * 64), RECEIVED_AT)
    store.insert_run(other, make_run("shared-id", tests=2, digest="b" * 64), RECEIVED_AT)

    assert store.get_run(project, "shared-id").digest == "a" * 64
    assert len(store.get_run(other, "shared-id").tests or []) == 2
    with pytest.raises(NotFound, match="^run 'shared-id' not found$"):
        store.get_run(third, "shared-id")


def test_runs_are_listed_newest_first_then_latest_stored_first(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    for run_id, started in (("b", at(2)), ("a", at(1)), ("c", at(3)), ("tie-1", at(2)), ("tie-2", at(2))):
        store.insert_run(project, make_run(run_id, started_at=started), RECEIVED_AT)

    page = store.list_runs(project, limit=10)

    assert [run.run_id for run in page.runs] == ["c", "tie-2", "tie-1", "b", "a"]
    assert page.next_cursor is None
    assert all(run.tests is None for run in page.runs)


def test_paging_through_runs_visits_each_once_in_order(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    other = store.create_project("acme", "web")
    for i in range(8):
        store.insert_run(project, make_run(f"run-{i}", started_at=at(i % 5)), RECEIVED_AT)
        store.insert_run(other, make_run(f"other-{i}", started_at=at(i % 5)), RECEIVED_AT)
    everything = [run.run_id for run in store.list_runs(project, limit=100).runs]

    pages = []
    cursor = None
    while True:
        page = store.list_runs(project, limit=3, cursor=cursor)
        pages.append([run.run_id for run in page.runs])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [len(p) for p in pages] == [3, 3, 2]
    assert [run_id for p in pages for run_id in p] == everything
    assert sorted(everything) == [f"run-{i}" for i in range(8)]


def test_a_run_stored_while_paging_does_not_shift_the_next_page(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    for i in range(4):
        store.insert_run(project, make_run(f"run-{i}", started_at=at(i)), RECEIVED_AT)
    first = store.list_runs(project, limit=2)

    store.insert_run(project, make_run("newest", started_at=at(9)), RECEIVED_AT)
    second = store.list_runs(project, limit=2, cursor=first.next_cursor)

    assert [r.run_id for r in first.runs + second.runs] == ["run-3", "run-2", "run-1", "run-0"]


def test_a_last_page_that_is_exactly_full_has_no_next_cursor(
    store: Store, project: Project, make_run: Callable[..., RunPayload]
) -> None:
    for i in range(6):
        store.insert_run(project, make_run(f"run-{i}", started_at=at(i)), RECEIVED_AT)

    first = store.list_runs(project, limit=3)
    second = store.list_runs(project, limit=3, cursor=first.next_cursor)

    assert [r.run_id for r in second.runs] == ["run-2", "run-1", "run-0"]
    assert second.next_cursor is None


def test_runs_can_be_filtered_by_branch_and_status(
    store: Store, project: Project, make_run: Callable[..., RunPayload], make_test: Callable[..., Any]
) -> None:
    failing = [make_test(0, "failed")]
    store.insert_run(project, make_run("main-ok", branch="main", started_at=at(1)), RECEIVED_AT)
    store.insert_run(project, make_run("main-bad", branch="main", tests=failing, started_at=at(2)), RECEIVED_AT)
    store.insert_run(project, make_run("feat-bad", branch="feature/x", tests=failing, started_at=at(3)), RECEIVED_AT)
    store.insert_run(project, make_run("mainline", branch="mainline", started_at=at(4)), RECEIVED_AT)

    def ids(**filters: Any) -> list[str]:
        return [run.run_id for run in store.list_runs(project, limit=10, **filters).runs]

    assert ids(branch="main") == ["main-bad", "main-ok"]
    assert ids(status="failed") == ["feat-bad", "main-bad"]
    assert ids(branch="main", status="failed") == ["main-bad"]
    assert ids(branch="feature/x", status="passed") == []
    assert ids(branch="Main") == []


def test_filters_hold_across_pages(store: Store, project: Project, make_run: Callable[..., RunPayload]) -> None:
    for i in range(6):
        store.insert_run(
            project, make_run(f"run-{i}", branch="main" if i % 2 else "dev", started_at=at(i)), RECEIVED_AT
        )

    first = store.list_runs(project, limit=2, branch="main")
    second = store.list_runs(project, limit=2, branch="main", cursor=first.next_cursor)

    assert [r.run_id for r in first.runs + second.runs] == ["run-5", "run-3", "run-1"]
    assert second.next_cursor is None


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "é",
        b64("not json"),
        b64("[1, 2]"),
        b64('["2026-01-12T10:00:00.000000Z", 1, 2]'),
        b64('["2026-01-12T10:00:00.000000Z", "7"]'),
        b64('["2026-01-12T10:00:00.000000Z", true]'),
        b64('{"started_at": "2026-01-12T10:00:00.000000Z", "id": 7}'),
        b64('["yesterday", 7]'),
        b64('["2026-01-12T10:00:00Z", 7]'),  # a time, but not as the store writes it
        b64('["2026-01-12T10:00:00.000000Z", 9223372036854775808]'),
    ],
)
def test_a_cursor_the_store_did_not_make_is_a_bad_request(store: Store, project: Project, cursor: str) -> None:
    with pytest.raises(BadRequest, match="^cursor is not valid: "):
        store.list_runs(project, limit=3, cursor=cursor)


def test_listing_an_empty_project_gives_an_empty_last_page(store: Store, project: Project) -> None:
    page = store.list_runs(project, limit=5)

    assert (page.runs, page.next_cursor) == ([], None)
