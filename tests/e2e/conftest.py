"""Browser fixtures: the dashboard served by `streamlit run` against the test server, in Debian Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("RUNOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def dashboard_url(
    prefect_server: LocalPrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = dict(os.environ)
    env.update(PREFECT_API_URL=prefect_server.api_url, PREFECT_UI_URL=prefect_server.ui_url)
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    proc, url = start_dashboard(env, log_path=log)
    try:
        yield url
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium (apt-get)")
    from playwright.sync_api import expect, sync_playwright

    # the first render imports prefect and pandas: give assertions time, they retry anyway
    expect.set_options(timeout=45_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, dashboard_url: str) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Berlin")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
