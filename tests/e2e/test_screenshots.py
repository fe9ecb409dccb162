"""The README's screenshots: every page on seeded data, 1400 and 800 px wide, into docs/img/."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from prefect.client.schemas.objects import State
from prefect.states import Completed, Crashed, Failed, Late, Pending, Running, Scheduled

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group
from runops.settings import Settings
from tests.e2e.conftest import ROOT
from tests.factories import Deployment, Prefect, finished_runs

IMG = ROOT / "docs" / "img"
WIDE = {"width": 1400, "height": 1000}
NARROW = {"width": 800, "height": 1000}
SLOW = 120_000  # ms: reading, charting and drawing on a busy 2-core machine
JOB_URL = re.compile(r"[?&]job=([0-9a-f-]{36})")
REASON = "Worker pool back after the outage"

# Each shot is taken twice, wide then narrow; only the first waits on the page's own checks.
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Seeded:
    """The seeded deployments the pages are pointed at."""

    hourly: Deployment
    nightly: Deployment
    retrain: Deployment
    report: Deployment


@dataclass(frozen=True)
class Site:
    url: str
    prefect: Prefect
    seeded: Seeded


# -- seeding --------------------------------------------------------------------------------------
def history(
    prefect: Prefect,
    deployment: Deployment,
    rng: random.Random,
    expected: list[datetime],
    median_s: float,
    failed: dict[int, State],
) -> None:
    """Finished runs at the `expected` times, with lognormal start delays and durations."""
    rows: list[tuple[State, datetime, datetime | None, datetime | None]] = []
    for index, when in enumerate(expected):
        start = when + timedelta(seconds=max(0.5, rng.lognormvariate(1.5, 1.0)))
        end = start + timedelta(seconds=median_s * rng.lognormvariate(0, 0.3))
        rows.append((failed.get(index) or Completed(), when, start, end))
    finished_runs(prefect, deployment, rows)


def seed(prefect: Prefect) -> Seeded:
    """A small, plausible server: four deployments with late, upcoming, running and finished runs."""
    rng = random.Random(7)  # the same durations every time: the screenshots only change with the UI
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    night = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if night > now:
        night -= timedelta(days=1)
    morning = now.replace(hour=7, minute=30, second=0, microsecond=0)
    if morning > now:
        morning -= timedelta(days=1)

    hourly = prefect.deployment(flow="etl", name="hourly-sync", work_pool="prod-pool", tags=("etl", "prod"))
    nightly = prefect.deployment(flow="etl", name="nightly-load", work_pool="prod-pool", tags=("etl", "prod"))
    retrain = prefect.deployment(flow="ml-train", name="retrain", work_pool="gpu-pool", tags=("ml",))
    report = prefect.deployment(flow="reports", name="daily-report", work_pool="prod-pool", tags=("reports",))

    # the worker pool went away 9 hours ago: hourly and nightly runs piled up as Late
    prefect.runs(hourly, [Late(scheduled_time=hour - timedelta(hours=h)) for h in range(9)])
    prefect.runs(hourly, [Scheduled(scheduled_time=hour + timedelta(hours=h)) for h in (1, 2, 3)])
    prefect.runs(nightly, [Late(scheduled_time=night - timedelta(days=d)) for d in range(3)])
    prefect.runs(nightly, [Scheduled(scheduled_time=night + timedelta(days=1))])
    prefect.runs(retrain, [Running(), Scheduled(scheduled_time=hour + timedelta(hours=20))])
    prefect.runs(
        report,
        [
            Late(scheduled_time=morning),
            Late(scheduled_time=morning - timedelta(days=1)),
            Pending(),
            Running(),
            *(Scheduled(scheduled_time=morning + timedelta(days=d)) for d in (1, 2, 3)),
        ],
    )

    # a week of history before the outage (History's default window is the last 7 days)
    outage = hour - timedelta(hours=9)
    history(
        prefect,
        hourly,
        rng,
        [outage - timedelta(hours=h) for h in range(1, 41)],
        95,
        {5: Failed(), 17: Failed(), 30: Crashed()},
    )
    history(prefect, nightly, rng, [night - timedelta(days=d) for d in range(3, 7)], 1500, {1: Failed()})
    history(
        prefect, retrain, rng, [hour - timedelta(days=d, hours=5) for d in range(1, 7)], 3300, {2: Crashed()}
    )
    history(prefect, report, rng, [morning - timedelta(days=d) for d in range(2, 7)], 420, {})
    return Seeded(hourly, nightly, retrain, report)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A Prefect server and a dashboard of this module's own: the session server holds every other
    test's deployments, which would crowd the README's pictures."""
    home = tmp_path_factory.mktemp("screenshots")
    # no services: nothing schedules or marks runs Late behind the seeding's back
    with LocalPrefectServer(home / "server", ui=False, services=False) as server:
        runops_home = home / "runops-home"
        settings = Settings(api_url=server.api_url, ui_url=server.ui_url, home=runops_home)
        prefect = Prefect(settings, str(server.database_url))
        seeded = seed(prefect)
        env = dict(os.environ)
        env.pop("RUNOPS_DATABASE_URL", None)  # jobs go to this dashboard's own store
        env.update(PREFECT_API_URL=server.api_url, PREFECT_UI_URL=server.ui_url, RUNOPS_HOME=str(runops_home))
        proc, url = start_dashboard(env, log_path=home / "streamlit.log")
        try:
            yield Site(url, prefect, seeded)
        finally:
            stop_process_group(proc)


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport=WIDE, timezone_id="Europe/Berlin", locale="en-US")
    context.set_default_timeout(SLOW)
    try:
        yield context.new_page()
    finally:
        context.close()


# -- helpers --------------------------------------------------------------------------------------
def idle(page: Page) -> None:
    """Wait until Streamlit has finished: no "Running..." widget, fonts (icons) loaded, and the
    layout still for two checks in a row (grids and charts re-measure after a resize)."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SLOW)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_function(
        """() => new Promise(done => {
            const box = () => JSON.stringify([...document.querySelectorAll(
                '[data-testid="stDataFrame"], [data-testid="stVegaLiteChart"], [data-testid="stMain"]'
            )].map(e => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }));
            const first = box();
            setTimeout(() => done(first === box()), 400);
        })""",
        timeout=SLOW,
    )
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SLOW)


def grids_drawn(page: Page) -> None:
    """Every data grid has its canvas laid out to a real width (it draws after measuring)."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
            .every(g => g.getBoundingClientRect().width > 300)""",
        timeout=SLOW,
    )


def save(page: Page, name: str, show: str | None = None) -> None:
    """The viewport at 1400 px, then at 800 px wide, as docs/img/<name>.png and
    docs/img/narrow/<name>.png; `show` (a CSS selector) is scrolled into view first."""
    for size, folder in ((WIDE, IMG), (NARROW, IMG / "narrow")):
        page.set_viewport_size(size)
        # the sidebar makes room on a narrow window and comes back on a wide one
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_have_attribute(
            "data-collapsed", "true" if size is NARROW else "false", timeout=10_000
        )
        idle(page)
        if show:
            page.locator(show).scroll_into_view_if_needed()
        page.mouse.move(size["width"] - 5, size["height"] - 5)  # no hover highlight in the picture
        idle(page)
        folder.mkdir(parents=True, exist_ok=True)
        path: Path = folder / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size > 10_000, path  # a blank page compresses to almost nothing
    page.set_viewport_size(WIDE)


def choose(page: Page, label: str, option: str) -> None:
    picker = page.get_by_test_id("stMultiSelect").filter(has_text=label).get_by_role("combobox")
    picker.click()
    picker.fill(option.split("/")[-1])
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def late_preview(page: Page, site: Site, deployment: Deployment, setup: Callable[[], None]) -> None:
    """On Late runs: choose `deployment`, fill the form with `setup`, click Preview."""
    page.goto(f"{site.url}/late_runs")
    expect(page.get_by_role("heading", name="Late runs")).to_be_visible(timeout=SLOW)
    choose(page, "Deployments", deployment.full_name)
    idle(page)
    setup()
    idle(page)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("stAlert").filter(has_text="in the past")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()


def pick(page: Page, option: str) -> None:
    """Click a radio option by its label (Streamlit hides the input itself)."""
    page.get_by_test_id("stRadio").get_by_text(option, exact=True).click()
    idle(page)


# -- the screenshots ------------------------------------------------------------------------------
def test_overview(site: Site, page: Page) -> None:
    page.goto(site.url)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=SLOW)
    late = page.get_by_test_id("stMetric").filter(has_text=re.compile(r"^Late"))
    expect(late).to_contain_text("14")  # 9 hourly, 3 nightly, 2 reports
    expect(page.get_by_text("14 late runs across 3 deployment(s), most first.")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").locator("svg.marks")).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_text("Healthy · Prefect 3.")).to_be_visible()
    grids_drawn(page)
    save(page, "overview")


def test_late_runs(site: Site, page: Page) -> None:
    # the usual remedy for an hourly backlog: spread it so the returning worker is not flooded
    late_preview(page, site, site.seeded.hourly, lambda: pick(page, "Spread over a window"))
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Late runs found")).to_contain_text("9")
    expect(metrics.filter(has_text="To reschedule")).to_contain_text("9")
    expect(page.get_by_role("button", name="Apply to 9 runs…", exact=True)).to_be_visible()
    grids_drawn(page)
    save(page, "late_runs", show='[data-testid="stDataFrame"]')  # the table over the form's top


def test_history(site: Site, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # e.g. a chart spec that fails
    page.goto(f"{site.url}/history")
    expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=SLOW)
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Runs")).to_contain_text("55", timeout=SLOW)  # 40 + 4 + 6 + 5
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(5, timeout=SLOW)  # the four, then the timeline
    for index in range(2):  # the two charts a 1000 px window shows
        expect(charts.nth(index).locator("svg.marks")).to_be_visible(timeout=SLOW)
    expect(charts.nth(1).locator("svg.marks")).to_contain_text("etl/hourly-sync", timeout=SLOW)
    assert not errors, errors
    # the filters give way to the second chart: the charts are what the picture is for
    save(page, "history", show='[data-testid="stVegaLiteChart"] >> nth=1')


def test_bulk_cancel(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/bulk_cancel")
    expect(page.get_by_role("heading", name="Bulk cancel")).to_be_visible(timeout=SLOW)
    choose(page, "Deployments", site.seeded.report.full_name)
    expect(page.get_by_role("heading", name="7 runs match")).to_be_visible()  # the live count
    idle(page)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=SLOW)
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Mark cancelling")).to_contain_text("2")  # Pending, Running
    expect(metrics.filter(has_text=re.compile(r"^Cancel"))).to_contain_text("5")  # Late, Scheduled
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel 7 runs…", exact=True)).to_be_visible()
    grids_drawn(page)
    save(page, "bulk_cancel", show='[data-testid="stDataFrame"]')


def test_activity(site: Site, page: Page) -> None:
    # a finished job to show, made through the page as a person does: the newest nightly load
    # runs in an hour, the two stale ones are cancelled
    def newest_only() -> None:
        pick(page, "Move to a fixed time")
        newest = page.get_by_role("textbox", name="Reschedule the most recent N")
        newest.fill("1")
        newest.press("Enter")
        idle(page)
        pick(page, "Cancel them")

    late_preview(page, site, site.seeded.nightly, newest_only)
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Late runs found")).to_contain_text("3")
    expect(metrics.filter(has_text="To reschedule")).to_contain_text("1")
    expect(metrics.filter(has_text="To cancel / delete")).to_contain_text("2")
    page.get_by_role("button", name="Apply to 3 runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("3 run(s) will change")
    dialog.get_by_role("textbox", name="Reason (optional)").fill(REASON)
    confirm = dialog.get_by_role("button", name="Apply to 3 runs", exact=True)
    expect(confirm).to_be_enabled()
    # a click while the dialog's script run is still going can be lost: wait until the app is idle
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SLOW)
    confirm.click()
    expect(page).to_have_url(JOB_URL, timeout=SLOW)
    found = JOB_URL.search(page.url)
    assert found is not None

    page.goto(f"{site.url}/activity?job={found.group(1)}")
    finished = "Finished: 3 done, 0 skipped, 0 failed, 0 not attempted of 3 planned."
    expect(page.get_by_test_id("stAlert").filter(has_text=finished)).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("stMetric").filter(has_text="Done")).to_contain_text("3")
    expect(page.get_by_text(f"Reason: {REASON}")).to_be_visible()
    expect(page.get_by_role("link", name="All jobs")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()  # the per-run report
    grids_drawn(page)
    save(page, "activity")
    states = [run.state_name for run in site.prefect.runs_of(site.seeded.nightly)]
    assert (states.count("Late"), states.count("Cancelled"), states.count("Scheduled")) == (0, 2, 2), states
