"""junit_uploader.pytest_ids and junit.py's rule 1: pytest's own JUnit XML gets pytest's node ids."""

from __future__ import annotations

import io
import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from junit_uploader import pytest_ids
from junit_uploader.cli import main
from junit_uploader.junit import parse_reports

#: a suite with a module in a package, a directory with a dot in its name, a class, a nested class,
#: parameters holding dots, ``::`` and brackets, a failure, skips and a module-level skip
SUITE = {
    "tests/__init__.py": "",
    "tests/pkg/__init__.py": "",
    "tests/pkg/test_demo.py": """
        import pytest


        class TestOuter:
            def test_plain(self):
                pass

            class TestInner:
                @pytest.mark.parametrize("value", ["a.b", "c::d", "x[1].y"])
                def test_value(self, value):
                    assert value

                def test_fails(self):
                    assert 1 == 2


        @pytest.mark.parametrize("version", ["1.2.3"])
        def test_version(version):
            pass
    """,
    "tests/v1.2/test_api.py": """
        import pytest


        def test_get():
            pass


        @pytest.mark.skip(reason="needs network")
        def test_post():
            pass
    """,
    "tests/test_later.py": """
        import pytest

        pytest.skip("not yet", allow_module_level=True)
    """,
    "test_root.py": """
        def test_top():
            pass
    """,
}

NODE_IDS = {
    "test_root.py::test_top": "passed",
    "tests/pkg/test_demo.py::TestOuter::test_plain": "passed",
    "tests/pkg/test_demo.py::TestOuter::TestInner::test_value[a.b]": "passed",
    "tests/pkg/test_demo.py::TestOuter::TestInner::test_value[c::d]": "passed",
    "tests/pkg/test_demo.py::TestOuter::TestInner::test_value[x[1].y]": "passed",
    "tests/pkg/test_demo.py::TestOuter::TestInner::test_fails": "failed",
    "tests/pkg/test_demo.py::test_version[1.2.3]": "passed",
    "tests/v1.2/test_api.py::test_get": "passed",
    "tests/v1.2/test_api.py::test_post": "skipped",
    "tests/test_later.py": "skipped",
}


@pytest.fixture(autouse=True)
def no_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner sessions' plugin writes its payload to a file and must never send it anywhere."""
    for name in list(os.environ):
        if name.startswith("TESTRUN_"):
            monkeypatch.delenv(name)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    for name, text in SUITE.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return pytester.path


def run_both_producers(pytester: pytest.Pytester, family: str) -> tuple[Path, dict[str, Any]]:
    """One real pytest session writing its JUnit XML and the plugin's payload; (the XML, the payload)."""
    result = pytester.runpytest(
        "--testrun-report", "--testrun-output=payload.json",
        "--junitxml=junit.xml", "-o", f"junit_family={family}", "-p", "no:cacheprovider",
    )
    result.assert_outcomes(passed=7, failed=1, skipped=2)
    payload = json.loads((pytester.path / "payload.json").read_text(encoding="utf-8"))
    return pytester.path / "junit.xml", payload


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_pytest_xml_gets_the_very_ids_and_statuses_the_plugin_sends_for_the_same_session(
    pytester: pytest.Pytester, suite: Path, family: str
) -> None:
    report, payload = run_both_producers(pytester, family)

    uploaded = {test["id"]: test["status"] for test in parse_reports([report], base=suite).tests}
    plugin = {test["id"]: test["status"] for test in payload["tests"]}
    assert uploaded == plugin == NODE_IDS


def test_pytest_xunit2_tests_carry_their_module_as_file_and_keep_their_names_verbatim(
    pytester: pytest.Pytester, suite: Path
) -> None:
    report, _ = run_both_producers(pytester, "xunit2")

    tests = {test["id"]: test for test in parse_reports([report], base=suite).tests}
    inner = tests["tests/pkg/test_demo.py::TestOuter::TestInner::test_value[c::d]"]
    assert (inner["name"], inner["file"], inner["suite"]) == ("test_value[c::d]", "tests/pkg/test_demo.py", "pytest")
    assert tests["tests/v1.2/test_api.py::test_post"]["message"] == "needs network"
    assert tests["tests/test_later.py"]["file"] == "tests/test_later.py"


def test_junit_upload_dry_run_in_the_checkout_prints_pytest_node_ids(
    pytester: pytest.Pytester, suite: Path
) -> None:
    report, _ = run_both_producers(pytester, "xunit2")
    out, err = io.StringIO(), io.StringIO()

    code = main(["--dry-run", report.name], env={}, stdout=out, stderr=err, cwd=suite)

    assert code == 0
    payload = json.loads(out.getvalue())
    assert {test["id"]: test["status"] for test in payload["tests"]} == NODE_IDS
    assert err.getvalue().startswith("testrun: 10 results (1 failed, 2 skipped) in run ")


def test_outside_the_checkout_the_dotted_classnames_are_kept_as_written(
    pytester: pytest.Pytester, suite: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    report, _ = run_both_producers(pytester, "xunit2")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    out = io.StringIO()

    assert main(["--dry-run", str(report)], env={}, stdout=out, stderr=io.StringIO(), cwd=elsewhere) == 0

    ids = [test["id"] for test in json.loads(out.getvalue())["tests"]]
    assert ids == [test["id"] for test in parse_reports([report], base=elsewhere).tests]
    assert "tests.pkg.test_demo.TestOuter.TestInner::test_value[c::d]" in ids
    assert "tests.v1.2.test_api::test_get" in ids
    assert "pytest::tests.test_later" in ids


# --- the lookup, on reports written here ---------------------------------------------


def pytest_report(tmp_path: Path, *testcases: str, suite: str = "pytest", root: str = "pytest tests") -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><testsuites name="{root}"><testsuite name="{suite}">'
        + "".join(testcases) + "</testsuite></testsuites>",
        encoding="utf-8",
    )
    return path


def tree(base: Path, *files: str) -> Path:
    for name in files:
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("")
    return base


def ids(report: Path, base: Path | None) -> list[str]:
    return [test["id"] for test in parse_reports([report], base=base).tests]


def test_the_longest_dotted_prefix_that_names_a_file_is_the_module(tmp_path: Path) -> None:
    base = tree(
        tmp_path / "repo", "tests/test_x.py", "tests/test_x/TestA.py", "tests/a.b/c.py", "tests/a/b.py", "docs/index.txt"
    )
    report = pytest_report(
        tmp_path,
        '<testcase classname="tests.test_x.TestA" name="test_1"/>',
        '<testcase classname="tests.test_x.TestB" name="test_2"/>',
        '<testcase classname="tests.a.b.c.TestC" name="test_3"/>',
        '<testcase classname="tests.a.b.TestD" name="test_4"/>',
        '<testcase classname="docs.index.txt" name="index.txt"/>',
    )

    assert ids(report, base) == [
        "tests/test_x/TestA.py::test_1",
        "tests/test_x.py::TestB::test_2",
        "tests/a.b/c.py::TestC::test_3",
        "tests/a/b.py::TestD::test_4",
        "docs/index.txt::index.txt",
    ]


def test_a_junit_prefix_a_missing_module_and_no_base_keep_the_classname_as_written(tmp_path: Path) -> None:
    base = tree(tmp_path / "repo", "tests/test_x.py")
    report = pytest_report(
        tmp_path,
        '<testcase classname="py312.tests.test_x.TestA" name="test_1"/>',
        '<testcase classname="tests.test_gone" name="test_2"/>',
        '<testcase classname="tests.test_x" name="test_3"/>',
        '<testcase classname="" name="tests.test_gone"/>',
    )

    assert ids(report, base) == [
        "py312.tests.test_x.TestA::test_1", "tests.test_gone::test_2", "tests/test_x.py::test_3",
        "pytest::tests.test_gone",
    ]
    assert ids(report, None) == [
        "py312.tests.test_x.TestA::test_1", "tests.test_gone::test_2", "tests.test_x::test_3",
        "pytest::tests.test_gone",
    ]


def test_only_pytest_reports_are_looked_up_in_the_tree(tmp_path: Path) -> None:
    base = tree(tmp_path / "repo", "com/acme/CartTest.py", "tests/test_x.py")
    testcase = '<testcase classname="com.acme.CartTest" name="addsItem"/>'

    resolved = ["com/acme/CartTest.py::addsItem"]
    assert ids(pytest_report(tmp_path, testcase, suite="surefire", root="all"), base) == ["com.acme.CartTest::addsItem"]
    assert ids(pytest_report(tmp_path, testcase, suite="pytest", root="all"), base) == resolved
    assert ids(pytest_report(tmp_path, testcase, suite="mine", root="pytest tests"), base) == resolved


def test_xunit1_file_attributes_in_windows_form_and_inherited_tests_give_node_ids(tmp_path: Path) -> None:
    base = tree(tmp_path / "repo", "tests/test_child.py", "tests/base.py")
    report = pytest_report(
        tmp_path,
        '<testcase classname="tests.test_child.TestChild" name="test_a" file="tests\\test_child.py" line="4"/>',
        '<testcase classname="tests.test_child.TestChild" name="test_inherited" file="tests\\base.py" line="9"/>',
        '<testcase classname="" name="tests.test_child" file="tests\\test_child.py"/>',
    )

    tests = parse_reports([report], base=base).tests
    assert [(test["id"], test["file"], test.get("line")) for test in tests] == [
        ("tests/test_child.py::TestChild::test_a", "tests\\test_child.py", 5),
        ("tests/test_child.py::TestChild::test_inherited", "tests\\base.py", 10),
        ("tests/test_child.py", "tests\\test_child.py", None),
    ]


def test_classnames_never_reach_outside_the_base(tmp_path: Path) -> None:
    base = tree(tmp_path / "repo", "tests/test_x.py")
    tree(tmp_path, "secret.py")
    report = pytest_report(
        tmp_path,
        '<testcase classname="..secret" name="t"/>',
        '<testcase classname="...secret" name="t"/>',
        '<testcase classname="tests...secret" name="t"/>',
    )

    assert ids(report, base) == ["..secret::t", "...secret::t", "tests...secret::t"]


@pytest.fixture
def counted_listings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    listed: list[str] = []
    real = os.scandir

    def scandir(path: Any) -> Any:
        listed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(pytest_ids.os, "scandir", scandir)
    yield listed


def test_each_directory_is_listed_once_however_many_testcases_point_into_it(
    tmp_path: Path, counted_listings: list[str]
) -> None:
    base = tree(tmp_path / "repo", "tests/pkg/test_a.py", "tests/pkg/test_b.py")
    testcases = [
        f'<testcase classname="tests.pkg.test_{module}.TestClass{klass}" name="test_{case}[p.{case}]"/>'
        for module in "ab" for klass in range(10) for case in range(100)
    ]

    found = ids(pytest_report(tmp_path, *testcases), base)

    assert len(found) == 2000
    assert found[0] == "tests/pkg/test_a.py::TestClass0::test_0[p.0]"
    assert found[-1] == "tests/pkg/test_b.py::TestClass9::test_99[p.99]"
    assert sorted(counted_listings) == ["pkg", "repo", "tests"]
