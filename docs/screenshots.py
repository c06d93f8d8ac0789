"""Take the README's screenshots of the web pages: ``python docs/screenshots.py``.

Starts a collector on a temporary SQLite database, sends it two weeks of demo
runs (tests/collector/web/web_demo.py), signs in through the form in headless
Chromium (Debian's ``chromium`` and ``chromium-driver``) and saves
``docs/overview.png`` and ``docs/run.png`` at desktop width.

It needs this checkout installed with its dev extra (``pip install -e
'.[dev]'``: selenium, and the collector's own dependencies) and Debian's
``chromium`` and ``chromium-driver``; when one is missing it says so in one
line and exits 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector_harness import CollectorProcess, ProjectAccess
    from selenium import webdriver
    from web_demo import DemoRun

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "collector" / "web")]

WIDTH = 1200
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: the Python modules it needs: the browser driver's, the collector's, the harness's (all in the dev extra)
MODULES = ("selenium", "bottle", "requests")
#: Debian's packages it needs, and the program each installs
PACKAGES = {"chromium": CHROMIUM, "chromium-driver": CHROMEDRIVER}


def missing_requirements() -> str | None:
    """What this machine lacks and the commands that install it, in a few words; None when all is there."""
    needed = []
    modules = [name for name in MODULES if importlib.util.find_spec(name) is None]
    if modules:
        needed.append(f"{' and '.join(modules)} (pip install -e '.[dev]')")
    packages = [name for name, program in PACKAGES.items() if not program.exists()]
    if packages:
        needed.append(f"Debian's {' and '.join(packages)} (apt-get install {' '.join(packages)})")
    return ", and ".join(needed) or None


def create_project(process: CollectorProcess, org: str, name: str) -> ProjectAccess:
    import requests
    from collector_harness import ProjectAccess

    headers = {"Authorization": f"Bearer {process.admin_token}"}
    for path, body in (("/orgs", {"name": org}), ("/projects", {"org": org, "name": name})):
        requests.post(process.url + path, json=body, headers=headers, timeout=30).raise_for_status()
    tokens = {}
    for scope in ("ingest", "read"):
        answer = requests.post(
            process.url + "/tokens", json={"project": f"{org}/{name}", "scopes": [scope]}, headers=headers, timeout=30
        )
        answer.raise_for_status()
        tokens[scope] = answer.json()["token"]
    return ProjectAccess(process.url, f"{org}/{name}", tokens["ingest"], tokens["read"])


def showcase_run(runs: list[DemoRun]) -> DemoRun:
    """The newest run on main where the failing test failed and the flaky one passed on retry."""
    from web_demo import FAILING, FLAKY_RETRY

    for run in reversed(runs):
        tests = {test["id"]: test for test in run.payload["tests"]}
        if (
            run.payload["vcs"]["branch"] == "main"
            and tests[FAILING]["status"] == "failed"
            and tests[FLAKY_RETRY].get("flaky")
        ):
            return run
    return next(run for run in reversed(runs) if any(test["status"] == "failed" for test in run.payload["tests"]))


def browser() -> webdriver.Chrome:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},900",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def full_page(driver: webdriver.Chrome, path: Path) -> None:
    """Save the whole page: a window cannot grow past the screen, so the viewport is emulated instead."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics = {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def take_screenshots(out: Path) -> None:
    from collector_harness import CollectorProcess, admin, admin_json
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from web_demo import demo_runs

    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "demo.sqlite3"
        assert admin(db, "migrate").returncode == 0
        process = CollectorProcess(db=db, env={"TESTRUN_TOKEN_RATE_PER_S": "0"}).start()
        try:
            process.admin_token = admin_json(db, "token", "create", "--admin")["token"]
            project = create_project(process, "acme", "shop")
            runs = demo_runs(days=14, runs_per_day=3)
            for run in runs:
                project.post_run(run.payload).raise_for_status()
            driver = browser()
            try:
                driver.get(process.url + "/ui/signin")
                driver.find_element(By.ID, "token").send_keys(project.read_token)
                driver.find_element(By.CSS_SELECTOR, "form[action='/ui/signin'] button").click()
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "form.signout"))
                full_page(driver, out / "overview.png")
                driver.get(process.url + "/ui/runs/" + showcase_run(runs).run_id.replace("/", "%2F"))
                summary = driver.find_element(By.CSS_SELECTOR, "table.tests details summary")
                summary.click()
                full_page(driver, out / "run.png")
            finally:
                driver.quit()
        finally:
            process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to save the PNGs (default: docs/)")
    args = parser.parse_args(argv)
    missing = missing_requirements()
    if missing:
        print(f"docs/screenshots.py needs {missing}", file=sys.stderr)
        return 1
    take_screenshots(args.out)
    print(f"saved {args.out / 'overview.png'} and {args.out / 'run.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
