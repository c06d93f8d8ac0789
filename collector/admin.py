"""``testrun-admin``: orgs, projects, tokens, quarantine lists and schema migrations, on the server's database.

Admins script this interface: commands and flags only ever get added to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from . import __version__, accounts, quarantine
from .errors import BadRequest, CollectorError, Invalid, NotFound
from .settings import DEFAULT_DB, Settings
from .store import Store, open_store
from .timeutil import days_from_now, utc_now
from .tokens import PROJECT_SCOPES, create_token


DB_HELP = f"SQLite path, sqlite:/// or postgresql:// URL (default: TESTRUN_DB, else {DEFAULT_DB})"
JSON_HELP = "print machine-readable JSON"
#: who testrun-admin's changes to a quarantine list are by
ADMIN_ACTOR = "admin"
DEFAULT_BRANCH_HELP = "the branch whose runs tell what is already failing and what regressed (default main)"


def build_parser() -> argparse.ArgumentParser:
    """--db and --json go before or after the command: each command repeats them, with a default that leaves
    the value given before it (or the main parser's default) in place."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    common.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)
    parser = argparse.ArgumentParser(
        prog="testrun-admin",
        description="Manage a testrun collector's orgs, projects, tokens and schema.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", parents=[common], help="create or upgrade the database schema")

    org = commands.add_parser("org", help="orgs").add_subparsers(dest="action", required=True, metavar="ACTION")
    org.add_parser("create", parents=[common], help="create an org").add_argument("name")
    org.add_parser("list", parents=[common], help="list orgs")

    project = commands.add_parser("project", help="projects").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create_project = project.add_parser("create", parents=[common], help="create a project in an org")
    create_project.add_argument("org")
    create_project.add_argument("name")
    create_project.add_argument("--default-branch", default="main", metavar="NAME", help=DEFAULT_BRANCH_HELP)
    project.add_parser("list", parents=[common], help="list projects").add_argument("org", nargs="?")
    set_project = project.add_parser(
        "set",
        parents=[common],
        help="change a project's settings",
        description="Change a project's settings; give at least one.",
    )
    set_project.add_argument("project", metavar="ORG/PROJECT")
    set_project.add_argument("--default-branch", metavar="NAME", help=DEFAULT_BRANCH_HELP)
    set_project.add_argument(
        "--auto-quarantine",
        metavar="on|off",
        help="quarantine tests flaky on 2 or more commits in 14 days at ingest, and release them after 20 passes "
        "in a row on the default branch (default off)",
    )

    quarantine = commands.add_parser("quarantine", help="the quarantine list of a project").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = quarantine.add_parser(
        "add",
        parents=[common],
        help="quarantine a test: its failures stop blocking",
        description="Quarantine a test of ORG/PROJECT: it still runs and its result is still stored, but its "
        "failure no longer fails the job (with --testrun-quarantine or junit-upload --quarantine).",
    )
    add.add_argument("project", metavar="ORG/PROJECT")
    add.add_argument("test_id", metavar="TEST_ID")
    add.add_argument("--reason", help="why, e.g. an issue link (required)")
    add.add_argument("--expires", metavar="DATE", help="stop counting after this day (YYYY-MM-DD, UTC) or time")
    remove = quarantine.add_parser("remove", parents=[common], help="release a quarantined test")
    remove.add_argument("project", metavar="ORG/PROJECT")
    remove.add_argument("test_id", metavar="TEST_ID")
    quarantine.add_parser("list", parents=[common], help="list the quarantined tests").add_argument(
        "project", metavar="ORG/PROJECT"
    )

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = token.add_parser(
        "create",
        parents=[common],
        help="mint a token (printed once)",
        description="Mint a token for ORG/PROJECT, or an admin token with --admin. "
        "The token is printed once and never stored in clear.",
    )
    create.add_argument("project", nargs="?", metavar="ORG/PROJECT")
    create.add_argument(
        "--scope",
        action="append",
        choices=("ingest", "read", "triage"),
        help="ingest (default), read, and/or triage (changes the quarantine list, and reads); repeatable",
    )
    create.add_argument("--name", help="what people see of the token, e.g. who quarantined a test (default: its id)")
    create.add_argument("--expires-in", type=_days, metavar="DAYS", help="expire after this many days")
    create.add_argument("--admin", action="store_true", help="an admin token for the /orgs, /projects, /tokens routes")
    token.add_parser("list", parents=[common], help="list tokens (never their secrets)").add_argument(
        "project", nargs="?", metavar="ORG/PROJECT"
    )
    token.add_parser("revoke", parents=[common], help="revoke a token by id").add_argument("token_id")

    prune = commands.add_parser(
        "prune",
        parents=[common],
        help="delete runs older than a number of days",
        description="Delete runs that started more than DAYS ago, with their test results, in short batches "
        "so that ingest keeps flowing.",
    )
    prune.add_argument("--older-than", type=_days, required=True, metavar="DAYS", help="age in days")
    prune.add_argument("--project", metavar="ORG/PROJECT", help="only this project's runs")
    prune.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    return parser


#: the longest age or lifetime in days an argument may give: a century, well inside what a date can hold
MAX_DAYS = 36_525


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not days > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 days")
    if not days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_DAYS:,} days (100 years)")
    return days


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "token" and args.action == "create":
        if args.admin == bool(args.project):
            parser.error("token create: give ORG/PROJECT, or --admin for an admin token")
        if args.admin and args.scope:
            parser.error("token create: an admin token has the admin scope only; drop --scope")
    if args.command == "project" and args.action == "set" and args.default_branch is args.auto_quarantine is None:
        parser.error("project set: give a setting to change: --default-branch NAME, --auto-quarantine on|off")
    env = os.environ if env is None else env
    try:
        settings = Settings.resolve(flags={"db": args.db}, env=env)
        store = open_store(settings.db, **settings.store_options(), create=args.command == "migrate")
        try:
            if args.command != "migrate":
                store.check_schema()
            handler = COMMANDS[(args.command, getattr(args, "action", None))]
            result, text = handler(store, settings, args, err)
        finally:
            store.close()
    except CollectorError as error:
        print(f"testrun-admin: error: {error.message}", file=err)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False), file=out)
    elif text:
        print(text, file=out)
    return 0


Result = tuple[Any, str]


def _migrate(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    applied = store.migrate()
    version = store.schema_version()
    if applied:
        text = f"applied migration(s) {', '.join(map(str, applied))}; schema is at version {version}"
    else:
        text = f"schema is up to date (version {version})"
    return {"applied": applied, "version": version}, text


def _org_create(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    org = accounts.create_org(store, args.name)
    return accounts.org_info(org), f"created org {org.name}"


def _org_list(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    orgs = [accounts.org_info(org) for org in store.list_orgs()]
    return orgs, _table(orgs, ["name", "created_at"])


def _project_create(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.create_project(store, args.org, args.name, args.default_branch)
    return accounts.project_info(project), f"created project {project.slug} (default branch {project.default_branch})"


def _project_set(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project)
    changed = []
    if args.default_branch is not None:
        project = accounts.set_default_branch(store, args.project, args.default_branch)
        changed.append(f"default branch {project.default_branch}")
    if args.auto_quarantine is not None:
        project = store.set_auto_quarantine(project, quarantine.on_or_off(args.auto_quarantine))
        changed.append(f"automatic quarantine {'on' if project.auto_quarantine else 'off'}")
    return accounts.project_info(project), f"project {project.slug}: " + ", ".join(changed)


#: how the quarantine fields are given on the command line, for the one-line errors
QUARANTINE_ARGUMENTS = {"test_id": "TEST_ID", "reason": "--reason", "expires_at": "--expires"}


def _quarantine_add(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project)
    body = {"test_id": args.test_id, "reason": args.reason, "expires_at": args.expires}
    try:
        entry = quarantine.add(store, project, body, actor=ADMIN_ACTOR, now=utc_now())
    except Invalid as invalid:
        raise BadRequest(_arguments_said(invalid)) from None
    until = f" until {entry.expires_at}" if entry.expires_at else ""
    return entry.as_dict(), f"quarantined {entry.test_id} in {project.slug}{until}: {entry.reason}"


def _quarantine_remove(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project)
    entry = quarantine.release(store, project, args.test_id, actor=ADMIN_ACTOR, now=utc_now())
    return entry.as_dict(), f"released {entry.test_id} in {project.slug}"


def _quarantine_list(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project)
    entries = [entry.as_dict() for entry in store.quarantine_list(project, utc_now())]
    return entries, _table(entries, ["test_id", "reason", "added_by", "added_at", "expires_at", "source"])


def _arguments_said(invalid: Invalid) -> str:
    return "; ".join(f"{QUARANTINE_ARGUMENTS.get(e['field'], e['field'])} {e['message']}" for e in invalid.errors)


def _project_list(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    if args.org:
        accounts.checked_name("org", args.org)
        if args.org not in {org.name for org in store.list_orgs()}:
            raise NotFound(f"org {args.org!r} not found")
    projects = [accounts.project_info(p) for p in store.list_projects(args.org)]
    return projects, _table(projects, ["slug", "default_branch", "auto_quarantine", "created_at"])


def _token_create(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project) if args.project else None
    scopes = ["admin"] if args.admin else sorted(set(args.scope or ["ingest"]), key=PROJECT_SCOPES.index)
    minted, record = create_token(
        store,
        project=project,
        scopes=scopes,
        expires_in_days=args.expires_in,
        bcrypt_rounds=settings.bcrypt_rounds,
        name=args.name,
    )
    if not args.json:
        print(
            "This token is shown once; store it now (e.g. as the CI secret TESTRUN_TOKEN). "
            f"Its id is {record.token_id}.",
            file=err,
        )
    return {"token": minted.token, **accounts.token_info(record)}, minted.token


def _token_list(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project) if args.project else None
    tokens = [accounts.token_info(t) for t in store.list_tokens(project)]
    rows = [{**t, "project": t["project"] or "(admin)", "scopes": ",".join(t["scopes"])} for t in tokens]
    columns = ["token_id", "name", "project", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    return tokens, _table(rows, columns)


def _token_revoke(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    if not store.revoke_token(args.token_id, utc_now()):
        raise NotFound(f"token {args.token_id!r} not found")
    token = store.get_token(args.token_id)
    revoked_at = token.revoked_at if token else None
    return {"token_id": args.token_id, "revoked_at": revoked_at}, f"revoked token {args.token_id}"


def _prune(store: Store, settings: Settings, args: argparse.Namespace, err: TextIO) -> Result:
    project = accounts.find_project(store, args.project) if args.project else None
    cutoff = days_from_now(-args.older_than)
    report = store.prune_runs(cutoff, project=project, dry_run=args.dry_run)
    scope = f" of {project.slug}" if project else ""
    verb = "would delete" if args.dry_run else "deleted"
    text = f"{verb} {report.runs:,} run(s){scope} with {report.tests:,} test result(s) started before {cutoff}"
    if not args.dry_run and report.batches:
        text += f", in {report.batches} batch(es); the longest held the write lock {report.longest_batch_s:.3f} s"
    result = {
        "dry_run": args.dry_run,
        "cutoff": cutoff,
        "project": project.slug if project else None,
        "runs": report.runs,
        "tests": report.tests,
        "batches": report.batches,
        "longest_batch_s": round(report.longest_batch_s, 6),
    }
    return result, text


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(row.get(c) if row.get(c) is not None else "-") for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


COMMANDS: dict[tuple[str, str | None], Callable[[Store, Settings, argparse.Namespace, TextIO], Result]] = {
    ("migrate", None): _migrate,
    ("org", "create"): _org_create,
    ("org", "list"): _org_list,
    ("project", "create"): _project_create,
    ("project", "list"): _project_list,
    ("project", "set"): _project_set,
    ("quarantine", "add"): _quarantine_add,
    ("quarantine", "remove"): _quarantine_remove,
    ("quarantine", "list"): _quarantine_list,
    ("token", "create"): _token_create,
    ("token", "list"): _token_list,
    ("token", "revoke"): _token_revoke,
    ("prune", None): _prune,
}


if __name__ == "__main__":
    sys.exit(main())
