"""testrun-admin, through its real entry point."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.admin import main
from collector.store.sqlite import SQLiteStore

ALL_VERSIONS = ", ".join(str(version) for version in range(1, SQLiteStore.LATEST_VERSION + 1))

ENV = {"TESTRUN_BCRYPT_ROUNDS": "4"}


def run(db: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--db", str(db), *args], env=ENV, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(db: Path, *args: str) -> Any:
    code, out, err = run(db, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "admin.sqlite3"
    assert run(path, "migrate")[0] == 0
    return path


def test_migrate_creates_the_schema_once_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"

    first = run(db, "migrate")
    second = run_json(db, "migrate")

    assert first == (0, f"applied migration(s) {ALL_VERSIONS}; schema is at version {SQLiteStore.LATEST_VERSION}\n", "")
    assert second == {"applied": [], "version": SQLiteStore.LATEST_VERSION}


def test_migrate_accepts_a_sqlite_url_and_the_environment(tmp_path: Path) -> None:
    out = io.StringIO()
    code = main(["migrate"], env={"TESTRUN_DB": f"sqlite:///{tmp_path}/env.sqlite3"}, out=out, err=io.StringIO())

    assert code == 0
    assert (tmp_path / "env.sqlite3").exists()


def test_commands_on_an_unmigrated_database_say_to_migrate(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite3").touch()

    code, out, err = run(tmp_path / "empty.sqlite3", "org", "list")

    assert code == 1
    assert err == (
        f"testrun-admin: error: database schema is at version 0, this collector needs {SQLiteStore.LATEST_VERSION}: "
        "run 'testrun-admin migrate' with the same --db\n"
    )


@pytest.mark.parametrize("command", [["org", "list"], ["org", "create", "acme"], ["token", "create", "--admin"]])
def test_a_command_on_a_database_file_that_does_not_exist_says_how_to_create_it_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "tesrun.sqlite3"

    code, out, err = run(typo, *command)

    assert (code, out) == (1, "")
    assert err == f"testrun-admin: error: no database at {typo}: create it with 'testrun-admin migrate --db {typo}'\n"
    assert list(tmp_path.iterdir()) == []


def test_db_and_json_go_before_or_after_the_command(db: Path) -> None:
    def admin(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(list(args), env=ENV, out=out, err=io.StringIO()), out.getvalue()

    assert admin("org", "create", "acme", "--db", str(db)) == (0, "created org acme\n")
    assert admin("--json", "--db", str(db), "org", "create", "globex")[0] == 0
    code, listed = admin("org", "list", "--db", str(db), "--json")
    assert code == 0
    assert [org["name"] for org in json.loads(listed)] == ["acme", "globex"]


def test_orgs_and_projects_are_created_and_listed(db: Path) -> None:
    assert run(db, "org", "create", "acme") == (0, "created org acme\n", "")
    assert run(db, "project", "create", "acme", "web") == (0, "created project acme/web (default branch main)\n", "")

    orgs = run_json(db, "org", "list")
    projects = run_json(db, "project", "list", "acme")

    assert [org["name"] for org in orgs] == ["acme"]
    assert [(project["slug"], project["default_branch"]) for project in projects] == [("acme/web", "main")]


def test_a_projects_default_branch_is_set_at_create_time_or_later_and_listed(db: Path) -> None:
    run(db, "org", "create", "acme")

    created = run(db, "project", "create", "acme", "web", "--default-branch", "trunk")
    changed = run(db, "project", "set", "acme/web", "--default-branch", "release/2.x")
    code, listed, _ = run(db, "project", "list")

    assert created == (0, "created project acme/web (default branch trunk)\n", "")
    assert changed == (0, "project acme/web: default branch release/2.x\n", "")
    assert code == 0 and listed.splitlines()[1].split()[:2] == ["acme/web", "release/2.x"]
    assert run_json(db, "project", "list")[0]["default_branch"] == "release/2.x"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["project", "set", "acme/nope", "--default-branch", "x"], 1, "project 'acme/nope' not found"),
        (["project", "set", "acme/web", "--default-branch", " main"], 1, "default branch ' main' is not valid"),
        (["project", "set", "acme/web", "--default-branch", "a\tb"], 1, "it holds a control character"),
        (["project", "create", "acme", "api", "--default-branch", ""], 1, "default branch '' is not valid"),
    ],
)
def test_a_bad_default_branch_or_project_is_one_line_naming_it(
    db: Path, args: list[str], code: int, message: str
) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    got, out, err = run(db, *args)

    assert (got, out) == (code, "")
    assert message in err and len(err.strip().splitlines()) == 1


def test_creating_a_taken_name_is_one_line_and_exit_1(db: Path) -> None:
    run(db, "org", "create", "acme")

    code, out, err = run(db, "org", "create", "acme")

    assert (code, out) == (1, "")
    assert err.startswith("testrun-admin: error: ") and "acme" in err and err.count("\n") == 1


def test_a_project_in_an_unknown_org_is_refused(db: Path) -> None:
    code, _, err = run(db, "project", "create", "ghost", "web")

    assert code == 1
    assert "ghost" in err


def test_token_create_prints_the_token_once_on_stdout_with_advice_on_stderr(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    code, out, err = run(db, "token", "create", "acme/web", "--scope", "ingest", "--scope", "read")

    assert code == 0
    token = out.strip()
    assert token.startswith("testrun_") and out.count("\n") == 1
    assert "shown once" in err and token not in err


def test_token_create_json_has_the_token_and_its_details(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    created = run_json(db, "token", "create", "acme/web", "--scope", "read", "--expires-in", "30")

    assert created["token"].startswith("testrun_")
    assert created["project"] == "acme/web"
    assert created["scopes"] == ["read"]
    assert created["expires_at"] > created["created_at"]


def test_token_list_shows_ids_scopes_and_use_but_never_secrets(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")
    created = run_json(db, "token", "create", "acme/web")
    admin_token = run_json(db, "token", "create", "--admin")

    code, table, _ = run(db, "token", "list")
    listed = run_json(db, "token", "list", "acme/web")

    assert code == 0
    assert created["token_id"] in table and admin_token["token_id"] in table
    assert "(admin)" in table
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    for token in (created["token"], admin_token["token"]):
        assert token not in table and token.split("_", 2)[2][:43] not in json.dumps(listed)


def test_token_revoke_marks_it_revoked_and_an_unknown_id_fails(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")
    created = run_json(db, "token", "create", "acme/web")

    revoked = run_json(db, "token", "revoke", created["token_id"])
    code, _, err = run(db, "token", "revoke", "nosuchtoken1")

    assert revoked["revoked_at"]
    assert run_json(db, "token", "list")[0]["revoked_at"] == revoked["revoked_at"]
    assert code == 1 and "nosuchtoken1" in err


@pytest.mark.parametrize(
    "args",
    [
        ["token", "create"],
        ["token", "create", "acme/web", "--admin"],
        ["token", "create", "--admin", "--scope", "read"],
        ["token", "create", "acme/web", "--scope", "write"],
        ["token", "create", "acme/web", "--expires-in", "-3"],
        ["frobnicate"],
        ["project", "set", "acme/web"],
    ],
)
def test_usage_mistakes_exit_2_with_a_message(db: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", str(db), *args], env=ENV)

    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_bad_project_slug_is_one_line(db: Path) -> None:
    code, _, err = run(db, "token", "create", "not-a-slug")

    assert code == 1
    assert "ORG/PROJECT" in err


def test_the_console_script_is_installed_and_works(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "testrun-admin"
    assert script.exists(), "testrun-admin is not installed beside this Python: install the package"

    result = subprocess.run(
        [str(script), "--db", str(tmp_path / "cli.sqlite3"), "migrate", "--json"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"applied": list(range(1, SQLiteStore.LATEST_VERSION + 1)), "version": SQLiteStore.LATEST_VERSION}


def seed_runs(db: Path, started: list[str]) -> None:
    """Runs stored straight through the store, as the collector would, with the given start times."""
    from collector.store import open_store
    from collector.validation import validate_run

    store = open_store(str(db))
    try:
        project = store.get_project("acme", "web")
        for index, started_at in enumerate(started):
            body = {"run_id": f"run-{index}", "started_at": started_at, "tests": [{"id": "t", "status": "passed"}]}
            store.insert_run(project, validate_run(body, max_tests=10), started_at)
    finally:
        store.close()


def test_prune_deletes_runs_older_than_the_cutoff_and_says_how_many(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")
    seed_runs(db, ["2020-01-01T00:00:00Z", "2020-06-01T00:00:00Z", "2999-01-01T00:00:00Z"])

    dry = run_json(db, "prune", "--older-than", "30", "--dry-run")
    code, out, _ = run(db, "prune", "--older-than", "30", "--project", "acme/web")
    again = run_json(db, "prune", "--older-than", "30")

    assert (dry["runs"], dry["tests"], dry["dry_run"]) == (2, 2, True)
    assert code == 0
    assert out.startswith("deleted 2 run(s) of acme/web with 2 test result(s) started before ")
    assert "longest held the write lock" in out
    assert (again["runs"], again["batches"]) == (0, 0)


def test_prune_needs_a_positive_age(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", str(db), "prune", "--older-than", "0"], env=ENV)

    assert exit_info.value.code == 2
    assert "--older-than" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["prune", "--older-than", "1000000"], {}, "'1000000' is more than 36,525 days (100 years)"),
        (["prune", "--older-than", "1e10"], {}, "'1e10' is more than 36,525 days (100 years)"),
        (["prune", "--older-than", "inf"], {}, "'inf' is more than 36,525 days (100 years)"),
        (["token", "create", "--admin", "--expires-in", "1e9"], {}, "'1e9' is more than 36,525 days"),
        (["org", "list"], {"TESTRUN_BUSY_TIMEOUT_S": "inf"}, "TESTRUN_BUSY_TIMEOUT_S='inf' must be a number of"),
        (["org", "list"], {"TESTRUN_STATEMENT_TIMEOUT_S": "1e300"}, "TESTRUN_STATEMENT_TIMEOUT_S='1e300' must be"),
        (["org", "list"], {"TESTRUN_POOL_MAX_SIZE": "9" * 30}, "TESTRUN_POOL_MAX_SIZE='999"),
    ],
)
def test_absurd_numbers_get_one_line_naming_the_argument_not_a_traceback(
    db: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector.admin", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )

    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert result.stderr.strip().splitlines()[-1].startswith("testrun-admin")


def test_quarantine_add_list_and_remove_from_the_command_line(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    added = run(db, "quarantine", "add", "acme/web", "tests/test_x.py::test_a", "--reason", "flaky, #12",
                "--expires", "2099-01-31")
    listed = run_json(db, "quarantine", "list", "acme/web")
    removed = run(db, "quarantine", "remove", "acme/web", "tests/test_x.py::test_a")

    assert added == (0, "quarantined tests/test_x.py::test_a in acme/web until 2099-02-01T00:00:00.000000Z: "
                        "flaky, #12\n", "")
    assert [(e["test_id"], e["reason"], e["added_by"], e["source"]) for e in listed] == [
        ("tests/test_x.py::test_a", "flaky, #12", "admin", "manual")
    ]
    assert removed == (0, "released tests/test_x.py::test_a in acme/web\n", "")
    assert run_json(db, "quarantine", "list", "acme/web") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["quarantine", "add", "acme/web", "t"], "--reason is required"),
        (["quarantine", "add", "acme/web", "t", "--reason", "r", "--expires", "31/12/2099"],
         "--expires '31/12/2099' is not a date (YYYY-MM-DD) or an RFC 3339 time"),
        (["quarantine", "add", "acme/web", "t", "--reason", "r", "--expires", "2001-01-01"], "is not in the future"),
        (["quarantine", "add", "acme/nope", "t", "--reason", "r"], "project 'acme/nope' not found"),
        (["quarantine", "remove", "acme/web", "t"], "test 't' is not quarantined in acme/web"),
        (["project", "set", "acme/web", "--auto-quarantine", "maybe"], "--auto-quarantine 'maybe': say on or off"),
    ],
)
def test_quarantine_mistakes_are_one_line_and_exit_1(db: Path, args: list[str], message: str) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    code, out, err = run(db, *args)

    assert (code, out) == (1, "")
    assert message in err and len(err.splitlines()) == 1


def test_automatic_quarantine_is_turned_on_and_off_per_project(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    assert run(db, "project", "set", "acme/web", "--auto-quarantine", "on") == (
        0, "project acme/web: automatic quarantine on\n", "")
    assert run_json(db, "project", "list")[0]["auto_quarantine"] is True
    assert run(db, "project", "set", "acme/web", "--auto-quarantine", "off")[1].endswith("automatic quarantine off\n")


def test_a_triage_token_can_be_named(db: Path) -> None:
    run(db, "org", "create", "acme")
    run(db, "project", "create", "acme", "web")

    token = run_json(db, "token", "create", "acme/web", "--scope", "triage", "--name", "ci-triage")

    assert (token["scopes"], token["name"]) == (["triage"], "ci-triage")
    assert run_json(db, "token", "list")[0]["name"] == "ci-triage"
