"""The web pages over HTTP: what each shows, links, paging, hostile names, bad input, headers."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest
import requests

from collector.web.render import CONTENT_SECURITY_POLICY
from collector_harness import CollectorProcess, ProjectAccess, a_run, new_project
from web_demo import (
    Seeded,
    FAILING,
    FLAKY_MIXED,
    FLAKY_RETRY,
    HOSTILE,
    HOSTILE_RUN_ID,
    SLOWEST,
    failures_of,
    results_of,
)

SignIn = Callable[[str, str], requests.Session]


def get(session: requests.Session, project: ProjectAccess, path: str) -> requests.Response:
    return session.get(project.url + path, allow_redirects=False, timeout=30)


def hrefs(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', page)]


def row_order(page: str, *needles: str) -> list[int]:
    return [page.index(needle) for needle in needles]


def test_the_root_redirects_to_the_web_pages(collector: CollectorProcess) -> None:
    response = requests.get(collector.url + "/", allow_redirects=False, timeout=30)

    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/"


def test_the_overview_shows_totals_charts_and_the_worst_tests(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/").text

    runs = len(seeded.runs) + 1
    assert re.search(rf"<dt>Runs</dt><dd>{runs}</dd>", page)
    assert page.count("<svg ") == 3
    for caption in ("Runs per day", "Pass rate per day", "Median run duration per day"):
        assert f"<figcaption>{caption}</figcaption>" in page
    assert "test_reserve_stock_concurrently" in page.split("<h2>Most failing</h2>")[1].split("</section>")[0]
    assert "test_refund_webhook_is_delivered" in page.split("<h2>Most flaky</h2>")[1]


def test_the_window_form_narrows_the_overview_and_the_navigation_keeps_it(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/?days=3&branch=main").text

    assert 'name="days" type="number" min="1" max="3660" inputmode="numeric" value="3"' in page
    assert 'value="main"' in page
    assert "branch main" in page
    assert "/ui/flaky?days=3&branch=main" in hrefs(page)
    assert "/ui/runs" in hrefs(page)


def test_the_runs_page_lists_runs_newest_first_with_links_to_each(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/runs").text

    newest_demo, oldest = seeded.runs[-1].run_id, seeded.runs[0].run_id
    assert html.unescape(page).index(HOSTILE_RUN_ID) < page.index(newest_demo) < page.index(oldest)
    assert "/ui/runs/" + quote(newest_demo, safe="") in hrefs(page)
    assert "Older →" not in page


def test_the_runs_page_filters_by_status_and_branch(seeded: Seeded, ui: requests.Session) -> None:
    failed = get(ui, seeded.project, "/ui/runs?status=failed&branch=feature/vat-rounding").text

    listed = re.findall(r'<th scope="row" class="test"><a href="[^"]+">([^<]+)</a>', failed)
    expected = [run.run_id for run in reversed(seeded.runs) if run.payload["vcs"]["branch"] == "feature/vat-rounding"]
    assert listed == expected
    assert '<option value="failed" selected>failed</option>' in failed


def test_the_run_page_lists_failures_first_with_their_messages_expandable(seeded: Seeded, ui: requests.Session) -> None:
    run = seeded.runs[-1]

    page = get(ui, seeded.project, "/ui/runs/" + quote(run.run_id, safe="")).text

    assert f'<code class="id">{run.run_id}</code>' in page
    assert row_order(page, ">test_reserve_stock_concurrently<", ">test_create_order<") == sorted(
        row_order(page, ">test_reserve_stock_concurrently<", ">test_create_order<")
    )
    assert "<summary>AssertionError: reserved 11 units, stock was 10</summary>" in page
    assert "E   AssertionError: reserved 11 units, stock was 10</pre>" in page
    assert "/ui/tests?" + urlencode({"test_id": FAILING}) in hrefs(page)
    assert f'href="{run.payload["ci"]["url"]}" rel="noopener noreferrer"' in page


def test_a_run_page_of_an_unknown_run_is_an_html_404(seeded: Seeded, ui: requests.Session) -> None:
    response = get(ui, seeded.project, "/ui/runs/no-such-run")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Not found</h1>" in response.text
    assert "no-such-run" in response.text


def test_another_projects_run_is_not_found_either(collector: CollectorProcess, seeded: Seeded, sign_in: SignIn) -> None:
    other = new_project(collector, collector.admin_token)
    session = sign_in(other.url, other.read_token)

    response = get(session, other, "/ui/runs/" + quote(seeded.runs[0].run_id, safe=""))

    assert response.status_code == 404


def test_the_flaky_page_lists_tests_that_passed_on_retry_or_flipped_on_a_commit(
    seeded: Seeded, ui: requests.Session
) -> None:
    page = get(ui, seeded.project, "/ui/flaky").text

    retry, mixed = FLAKY_RETRY.split("::")[1], FLAKY_MIXED.split("::")[1]
    assert page.index(f">{retry}</a>") < page.index(f">{html.escape(mixed)}</a>")
    assert "/ui/tests?" + urlencode({"test_id": FLAKY_RETRY}) in hrefs(page)
    retried = sum(1 for test in results_of(seeded.runs, FLAKY_RETRY) if test.get("flaky"))
    assert retried >= 2
    assert f'<td class="num">{retried}</td>' in page.split(f">{retry}</a>")[1].split("</tr>")[0]


def test_the_slowest_page_starts_with_the_slowest_test(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/slowest").text

    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert ">" + SLOWEST.split("::")[1] + "</a>" in first_row
    assert re.search(r"<td class=\"num\">\d+\.\d s</td>", first_row)


def test_the_failing_page_shows_failure_counts_and_the_last_failure(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/failing").text

    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert ">test_reserve_stock_concurrently</a>" in first_row
    assert f'<td class="num">{failures_of(seeded.runs, FAILING)}</td>' in first_row
    assert "<summary>AssertionError: reserved 11 units, stock was 10</summary>" in first_row
    assert "/ui/runs/" + quote(seeded.runs[-1].run_id, safe="") in hrefs(first_row)


def test_the_test_page_shows_its_history_as_a_strip_a_chart_and_rows_linking_to_runs(
    seeded: Seeded, ui: requests.Session
) -> None:
    page = get(ui, seeded.project, "/ui/tests?" + urlencode({"test_id": FAILING})).text

    assert f'<code class="id">{FAILING}</code>' in page
    strip = page.split("<figcaption>Results, oldest first</figcaption>")[1].split("</svg>")[0]
    failures = failures_of(seeded.runs, FAILING)
    assert failures >= 2
    assert strip.count('<rect class="mark failed"') == failures
    assert strip.count('<rect class="mark passed"') == len(seeded.runs) - failures
    history = page.split("<h2>History</h2>")[1]
    assert history.count("<tr>") == len(seeded.runs) + 1
    assert "/ui/runs/" + quote(seeded.runs[0].run_id, safe="") in hrefs(history)


@pytest.fixture(scope="module")
def many_runs(collector: CollectorProcess) -> Iterator[ProjectAccess]:
    """A project with 55 runs of one test, one a minute: more than one page of runs and of history."""
    project = new_project(collector, collector.admin_token)
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    for n in range(55):
        payload = {
            "run_id": f"run-{n:02d}",
            "started_at": (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tests": [{"id": "tests/test_a.py::test_[x/y]", "status": "passed", "duration_ms": 10 + n}],
        }
        assert project.post_run(payload).status_code == 201
    yield project


def test_the_runs_page_pages_older_runs_with_a_cursor(many_runs: ProjectAccess, sign_in: SignIn) -> None:
    session = sign_in(many_runs.url, many_runs.read_token)

    first = get(session, many_runs, "/ui/runs").text
    older = [href for href in hrefs(first) if href.startswith("/ui/runs?cursor=")]
    second = get(session, many_runs, older[0]).text

    assert "run-54" in first and "run-05" in first and "run-04" not in first
    assert [f"run-0{n}" in second for n in range(5)] == [True] * 5
    assert "run-05" not in second
    assert "Older →" not in second
    assert "/ui/runs" in hrefs(second)  # back to the newest


def test_the_test_page_pages_older_history_with_a_cursor(many_runs: ProjectAccess, sign_in: SignIn) -> None:
    session = sign_in(many_runs.url, many_runs.read_token)
    test_id = "tests/test_a.py::test_[x/y]"

    first = get(session, many_runs, "/ui/tests?" + urlencode({"test_id": test_id})).text
    older = [href for href in hrefs(first) if href.startswith("/ui/tests?") and "cursor=" in href]
    second = get(session, many_runs, older[0]).text

    assert first.split("<h2>History</h2>")[1].count("<tr>") == 51
    assert second.split("<h2>History</h2>")[1].count("<tr>") == 6
    assert "/ui/runs/run-00" in hrefs(second)


# --- hostile names ---------------------------------------------------------------------


def hostile_pages(seeded: Seeded) -> list[str]:
    test_id = f"tests/test_evil.py::{HOSTILE}"
    return [
        "/ui/",
        "/ui/runs",
        "/ui/failing",
        "/ui/runs/" + quote(HOSTILE_RUN_ID, safe=""),
        "/ui/tests?" + urlencode({"test_id": test_id}),
        "/ui/runs?" + urlencode({"branch": HOSTILE}),
        "/ui/failing?" + urlencode({"branch": HOSTILE}),
    ]


def test_names_from_ci_show_as_text_never_as_markup(seeded: Seeded, ui: requests.Session) -> None:
    for path in hostile_pages(seeded):
        response = get(ui, seeded.project, path)
        assert response.status_code == 200, path
        assert "<img" not in response.text, path
        assert "<script" not in response.text, path
        assert "javascript:" not in response.text, path
    run_page = get(ui, seeded.project, "/ui/runs/" + quote(HOSTILE_RUN_ID, safe="")).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in run_page
    assert "&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in run_page


def test_svg_tooltips_escape_names_from_ci_too(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/tests?" + urlencode({"test_id": f"tests/test_evil.py::{HOSTILE}"})).text

    titles = re.findall(r"<title>([^<]*)</title>", page.split("<svg ")[1])
    assert any(HOSTILE_RUN_ID in html.unescape(title) for title in titles)
    assert any(HOSTILE in html.unescape(title) for title in titles)  # the branch


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ui/?days=abc", "days=&#x27;abc&#x27; is not a whole number"),
        ("/ui/flaky?days=0", "days must be between 1 and"),
        ("/ui/slowest?limit=100000", "limit must be between 1 and"),
        ("/ui/runs?status=exploded", "status=&#x27;exploded&#x27; is not one of"),
        ("/ui/runs?cursor=garbage", "cursor is not valid"),
        ("/ui/tests", "test_id is required"),
    ],
)
def test_bad_query_parameters_are_an_html_400_saying_what_is_wrong(
    seeded: Seeded, ui: requests.Session, path: str, message: str
) -> None:
    response = get(ui, seeded.project, path)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.unescape(message) in html.unescape(response.text)
    assert '<nav aria-label="Pages">' in response.text  # still signed in: the navigation stays


def test_an_unknown_test_and_an_unknown_page_are_html_404s(seeded: Seeded, ui: requests.Session) -> None:
    for path in ("/ui/tests?test_id=nope", "/ui/nowhere"):
        response = get(ui, seeded.project, path)
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in response.text


def test_the_api_still_answers_json_beside_the_web_pages(seeded: Seeded) -> None:
    response = seeded.project.get("/api/v1/runs/no-such-run")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- headers, static files, secrets ------------------------------------------------------


def test_every_answer_of_the_web_pages_carries_a_strict_content_security_policy(
    seeded: Seeded, ui: requests.Session
) -> None:
    anonymous = requests.Session()
    answers = [
        get(ui, seeded.project, "/ui/"),
        get(ui, seeded.project, "/ui/runs/no-such-run"),
        get(ui, seeded.project, "/ui/?days=abc"),
        get(anonymous, seeded.project, "/ui/runs"),
        get(anonymous, seeded.project, "/ui/signin"),
        get(anonymous, seeded.project, "/ui/static/style.css"),
    ]

    for response in answers:
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, response.url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "script-src" not in CONTENT_SECURITY_POLICY
    assert all(r.headers["Cache-Control"] == "no-store" for r in answers[:-1])


def test_the_stylesheet_is_served_by_the_collector_without_signing_in(seeded: Seeded) -> None:
    response = requests.get(seeded.project.url + "/ui/static/style.css", timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert ".table-wrap" in response.text
    assert requests.get(seeded.project.url + "/ui/static/../../app.py", timeout=30).status_code in (400, 403, 404)


def test_the_token_appears_in_no_page_and_no_log_line(
    collector: CollectorProcess, seeded: Seeded, ui: requests.Session
) -> None:
    project = seeded.project
    paths = ["/ui/", "/ui/runs", "/ui/flaky", "/ui/slowest", "/ui/failing", "/ui/signin", "/ui/?days=abc"]
    paths += ["/ui/runs/" + quote(seeded.runs[0].run_id, safe=""), "/ui/tests?" + urlencode({"test_id": FAILING})]

    bodies = [get(ui, project, path).text for path in paths]
    refused = requests.post(
        f"{project.url}/ui/signin", data={"token": project.ingest_token}, headers={"Origin": project.url}, timeout=30
    )

    for token in (project.read_token, project.ingest_token):
        secret = token.split("_", 2)[2]
        assert all(secret not in body for body in bodies + [refused.text])
        assert all(secret not in line for line in collector.lines)
    assert any(entry.get("route") == "/ui/signin" and entry["method"] == "POST" for entry in collector.access_log())


def test_a_page_asked_for_with_the_wrong_method_answers_an_html_405_and_the_api_keeps_json(
    seeded: Seeded, ui: requests.Session
) -> None:
    page = ui.post(f"{seeded.project.url}/ui/flaky", timeout=30, allow_redirects=False)
    api = requests.post(f"{seeded.project.url}/api/v1/analytics/flaky", timeout=30)

    assert page.status_code == 405
    assert page.headers["Content-Type"].startswith("text/html")
    assert "that kind of request" in page.text and "Allow" in page.headers
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert (api.status_code, api.json()["error"]) == (405, "method_not_allowed")


# --- a run's tests, a page at a time -----------------------------------------------------------
from collector.validation import DETAILS_MAX, MESSAGE_MAX, TEST_ID_MAX, TEST_TEXT_MAX  # noqa: E402
from collector.web.routes import RUN_PAGE_MAX_BYTES, RUN_TESTS_PER_PAGE  # noqa: E402

#: the characters HTML escaping makes longest (&quot; &#039; &amp; &lt;)
HEAVY = "\"'&<"


def heavy(prefix: str, size: int) -> str:
    return (prefix + HEAVY * size)[:size]


def worst_case_tests(count: int) -> list[dict[str, object]]:
    """Tests at every cap of validation, made of the costliest characters; every fifth one passed."""
    return [
        {
            "id": heavy(f"t{i:05d}", TEST_ID_MAX),
            "name": heavy(f"n{i:05d}", TEST_TEXT_MAX),
            "suite": heavy("s", TEST_TEXT_MAX),
            "status": "passed" if i % 5 == 0 else "failed",
            "message": heavy("m\n", MESSAGE_MAX),
            "details": heavy("d", DETAILS_MAX),
        }
        for i in range(count)
    ]


def test_a_run_page_of_worst_case_tests_is_paged_failures_first_and_each_page_is_bounded(
    collector: CollectorProcess, sign_in: SignIn
) -> None:
    project = new_project(collector, collector.admin_token)
    tests = worst_case_tests(RUN_TESTS_PER_PAGE + 40)
    assert project.post_run(a_run("worst", tests=tests)).status_code == 201
    session = sign_in(project.url, project.read_token)

    names: list[str] = []
    sizes: list[int] = []
    path: str | None = "/ui/runs/worst"
    while path is not None:
        response = get(session, project, path)
        assert response.status_code == 200
        sizes.append(len(response.content))
        page = response.text
        assert "<dt>Tests</dt><dd>240</dd>" in page and "<dt>Failed</dt><dd>192</dd>" in page
        names.extend(html.unescape(name) for name in re.findall(r'<th scope="row" class="test"><a href="[^"]*">([^<]*)</a>', page))
        following = [href for href in hrefs(page) if href.startswith("/ui/runs/worst?cursor=")]
        path = following[0] if following else None

    assert len(sizes) == 2
    failed = [t["name"] for t in tests if t["status"] == "failed"]
    passed = [t["name"] for t in tests if t["status"] == "passed"]
    assert names == failed + passed
    assert max(sizes) < RUN_PAGE_MAX_BYTES
    assert heavy("d", DETAILS_MAX)[:1000] + "…</pre>" in html.unescape(page)  # details are cut on the page


def test_the_old_show_all_link_leads_to_the_first_page(seeded: Seeded, ui: requests.Session) -> None:
    run = seeded.runs[-1]

    response = get(ui, seeded.project, "/ui/runs/" + quote(run.run_id, safe="") + "?all=1")

    assert response.status_code == 303
    assert response.headers["Location"] == "/ui/runs/" + quote(run.run_id, safe="")


def test_a_run_page_with_a_cursor_it_did_not_make_is_an_html_400(seeded: Seeded, ui: requests.Session) -> None:
    response = get(ui, seeded.project, "/ui/runs/" + quote(seeded.runs[-1].run_id, safe="") + "?cursor=bogus")

    assert response.status_code == 400
    assert "the tests cursor is not valid" in response.text


def test_the_run_page_marks_each_failure_with_its_class_and_links_since_to_that_run(
    seeded: Seeded, ui: requests.Session
) -> None:
    run = seeded.runs[-1]
    verdict = seeded.project.get("/api/v1/runs/" + quote(run.run_id, safe="")).json()["verdict"]
    judged = {item["test_id"]: item for item in verdict["tests"]}
    assert judged[FAILING]["class"] == "failing_on_default"  # it has failed on main for the last days

    page = get(ui, seeded.project, "/ui/runs/" + quote(run.run_id, safe="")).text

    row = page[page.index(f'<a href="/ui/tests?{urlencode({"test_id": FAILING})}"') - 700:][:1400]
    assert '<span class="badge verdict failing-on-default">failing on main</span>' in row
    since = judged[FAILING]["since"]["run_id"]
    assert f'since <a href="/ui/runs/{quote(since, safe="")}">' in row
    assert f"{verdict['failures']} failure" in page and "judged against <code>main</code>" in page


def test_the_overview_names_the_default_branch(seeded: Seeded, ui: requests.Session) -> None:
    page = get(ui, seeded.project, "/ui/").text

    assert "Default branch <code>main</code>" in page


# --- the quarantine list on the web pages ----------------------------------------------------------


def triage_session(collector: CollectorProcess, project: ProjectAccess, sign_in: SignIn) -> requests.Session:
    answer = requests.post(f"{collector.url}/tokens", json={"project": project.slug, "scopes": ["triage"],
                                                            "name": "web-triage"},
                           headers={"Authorization": f"Bearer {collector.admin_token}"}, timeout=30)
    assert answer.status_code == 201, answer.text
    return sign_in(project.url, answer.json()["token"])


def form_post(session: requests.Session, project: ProjectAccess, path: str, data: dict[str, str],
              origin: str | None = None) -> requests.Response:
    headers = {"Origin": origin or project.url}
    return session.post(project.url + path, data=data, headers=headers, allow_redirects=False, timeout=30)


@pytest.fixture
def small_project(collector: CollectorProcess) -> ProjectAccess:
    project = new_project(collector)
    assert project.post_run(a_run("r1", tests=[{"id": "tests/t.py::test_flaky", "status": "failed"}])).status_code == 201
    return project


def test_a_triage_session_quarantines_a_test_from_its_page_and_releases_it(
    collector: CollectorProcess, small_project: ProjectAccess, sign_in: SignIn
) -> None:
    session = triage_session(collector, small_project, sign_in)
    test_page = "/ui/tests?" + urlencode({"test_id": "tests/t.py::test_flaky"})
    before = get(session, small_project, test_page).text

    added = form_post(session, small_project, "/ui/quarantine/add",
                      {"test_id": "tests/t.py::test_flaky", "reason": "flaky <b>DNS</b>", "expires": "2099-12-31"})
    after = get(session, small_project, test_page).text
    listed = get(session, small_project, "/ui/quarantine").text
    released = form_post(session, small_project, "/ui/quarantine/release",
                         {"test_id": "tests/t.py::test_flaky", "next": test_page})

    assert 'action="/ui/quarantine/add"' in before
    assert added.status_code == 303 and added.headers["Location"] == test_page
    assert "by web-triage since" in after and "flaky &lt;b&gt;DNS&lt;/b&gt;" in after and "<b>DNS" not in after
    assert 'action="/ui/quarantine/release"' in after
    assert ">tests/t.py::test_flaky</a>" in listed and "web-triage" in listed
    assert released.status_code == 303 and released.headers["Location"] == test_page
    trail = get(session, small_project, test_page).text
    assert trail.count("by web-triage") == 2 and "released by web-triage" in trail


def test_a_read_session_sees_the_list_but_no_form_and_cannot_post_one(
    small_project: ProjectAccess, sign_in: SignIn
) -> None:
    session = sign_in(small_project.url, small_project.read_token)
    test_page = "/ui/tests?" + urlencode({"test_id": "tests/t.py::test_flaky"})

    page = get(session, small_project, test_page).text
    refused = form_post(session, small_project, "/ui/quarantine/add", {"test_id": "tests/t.py::test_flaky", "reason": "x"})

    assert "Not quarantined" in page and "<form" not in page.split("quarantine-heading")[1].split("</section>")[0]
    assert refused.status_code == 403 and "triage scope" in refused.text
    assert small_project.get("/api/v1/quarantine").json()["entries"] == []


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_quarantine_form_is_refused_and_changes_nothing(
    collector: CollectorProcess, small_project: ProjectAccess, sign_in: SignIn, headers: dict[str, str]
) -> None:
    session = triage_session(collector, small_project, sign_in)

    answer = session.post(small_project.url + "/ui/quarantine/add", headers=headers, allow_redirects=False, timeout=30,
                          data={"test_id": "tests/t.py::test_flaky", "reason": "forged"})

    assert answer.status_code == 400
    assert small_project.get("/api/v1/quarantine").json()["entries"] == []


def test_a_quarantine_form_without_a_reason_says_so_and_changes_nothing(
    collector: CollectorProcess, small_project: ProjectAccess, sign_in: SignIn
) -> None:
    session = triage_session(collector, small_project, sign_in)

    answer = form_post(session, small_project, "/ui/quarantine/add", {"test_id": "tests/t.py::test_flaky", "reason": " "})

    assert answer.status_code == 400 and "the reason is required" in html.unescape(answer.text)
    assert small_project.get("/api/v1/quarantine").json()["entries"] == []
