"""Pytest fixtures for the end-to-end UI and GraphQL tests: one live Dagster UI per session.

Registered from conftest.py with ``pytest_plugins = ["fbads_assets_tests.conftest_ui"]``.
Starting ``dagster dev`` costs 20-30 s, so the browser and GraphQL tests share one server;
each test uses its own ad account so their partitions never overlap.
"""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fbads_assets_tests.infra.dagster_ui import REPO_ROOT, DagsterUi, run_dagster_ui

CHROMIUM = Path("/usr/bin/chromium")
# Keep Chromium off the closed network: without these it opens many connections to Google's
# hosts at start, all refused here. Playwright adds --headless itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 30_000
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"


@pytest.fixture(scope="session")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUi]:
    with run_dagster_ui(tmp_path_factory.mktemp("dagster_ui")) as server:
        # Dismiss the "Join the Dagster community" dialog for this instance the way its Skip
        # button does: it opens a second after every page load on 127.0.0.1 and blocks clicks.
        server.graphql("mutation { setNuxSeen }")
        yield server


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Debian's Chromium; Playwright must never download its own browser here."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}. CI must run the browser test; .ci/run installs it.")
    pytest.skip(reason)


@pytest.fixture
def ui_page(chromium_executable: Path, dagster_ui: DagsterUi):
    """A fresh headless Chromium page on the live UI, wide enough for the asset graph."""
    from playwright.sync_api import expect, sync_playwright

    # The UI's first load parses several MB of JavaScript, and the machine is shared with the
    # rest of the suite: 5 s (Playwright's default) is too tight on 2 busy cores.
    expect.set_options(timeout=UI_TIMEOUT_MS)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                base_url=dagster_ui.base_url, viewport={"width": 1600, "height": 1000}
            )
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


class Screenshots:
    """Numbered screenshots, one per step, in test-artifacts/ui/ (git-ignored)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.paths: list[Path] = []

    def take(self, page, step: str) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Iterator[Screenshots]:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shots = Screenshots(folder)
    yield shots
    # The page as it was when a step failed is the first thing to look at.
    if request.node.stash.get(_CALL_FAILED, False) and "ui_page" in request.fixturenames:
        page = request.getfixturevalue("ui_page")
        shots.take(page, "failure")
        (shots.folder / "failure.html").write_text(page.content())
