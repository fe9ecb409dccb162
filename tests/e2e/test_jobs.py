"""Jobs end to end in Chromium: an apply outlives the page that started it, is listed on Activity
and has a page of its own; a job whose dashboard was killed is resumed from another dashboard on
the same PostgreSQL store, without changing any run twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from uuid import UUID

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group
from runops.store import Store
from runops.store.db import engine_for
from runops.store.jobs import DONE, INTERRUPTED, RUNNING, Job
from tests.e2e.conftest import shot
from tests.factories import Deployment, Prefect, unique

SHIFT = "20d"  # later than the oldest run is late (200 h): no new time is in the past
SHIFT_BY = timedelta(days=20)
JOB_URL = re.compile(r"[?&]job=([0-9a-f-]{36})")
T = TypeVar("T")


# -- fixtures and helpers -------------------------------------------------------------------------
@pytest.fixture
def new_page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (this module starts its own dashboards)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Berlin")
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@contextmanager
def dashboard(
    prefect_server: LocalPrefectServer, tmp: Path, name: str, **extra: str
) -> Iterator[tuple[subprocess.Popen, str]]:
    """A dashboard process of our own (own home, own log); `extra` goes into its environment."""
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_UI_URL=prefect_server.ui_url,
        RUNOPS_HOME=str(tmp / f"{name}-home"),
        **extra,
    )
    proc, url = start_dashboard(env, log_path=tmp / f"{name}.log")
    try:
        yield proc, url
    finally:
        stop_process_group(proc)  # returns at once when the group is gone already


def tall_shot(page: Page, name: str, height: int = 1800) -> None:
    """A screenshot of a taller window: the page scrolls inside Streamlit's main container, so a
    full-page shot shows only what a window of the viewport's height would."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1440, "height": height})
    try:
        shot(page, name)
    finally:
        if size:
            page.set_viewport_size(size)


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 180.0, every: float = 0.2) -> T:
    """Poll `check` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def ended(store: Store, job_id: str, attempt: int = 1) -> Callable[[], Job | None]:
    """The job once its `attempt`-th run (1: the first, 2: the first resume) has ended."""

    def check() -> Job | None:
        job = store.jobs.get(job_id)
        return job if job.attempts >= attempt and job.status != RUNNING else None

    return check


def start_reschedule(page: Page, url: str, deployment: Deployment, count: int, reason: str) -> str:
    """On the Late runs page: preview `deployment`'s late runs shifted by SHIFT, confirm them all in
    the dialog; returns the id of the job the page started (from its URL)."""
    page.goto(f"{url}/late_runs")
    expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
    picker = page.get_by_role("combobox").first
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    delay = page.get_by_role("textbox", name="Delay from each run's scheduled time")
    delay.fill(SHIFT)
    delay.press("Enter")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="To reschedule")).to_contain_text(
        f"{count:,}"
    )
    expect(page.get_by_test_id("stAlert").filter(has_text="in the past")).to_have_count(0)

    page.get_by_role("button", name=f"Apply to {count:,} runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"{count:,} run(s) will change")
    dialog.get_by_role("textbox", name="Reason (optional)").fill(reason)
    typed = dialog.get_by_role("textbox", name=f"Type {count} to confirm")
    typed.fill(str(count))
    typed.press("Enter")  # a text input sends its value on Enter (or when it loses focus)
    confirm = dialog.get_by_role("button", name=f"Apply to {count:,} runs", exact=True)
    expect(confirm).to_be_enabled()
    # a click while the dialog's script run is still going can be lost: wait until the app is idle
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    confirm.click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page).to_have_url(JOB_URL)
    found = JOB_URL.search(page.url)
    assert found is not None
    return found.group(1)


def some_answered(count: int) -> re.Pattern[str]:
    """The live progress text once at least one but not every run is answered."""
    assert count < 1000
    return re.compile(rf"^([1-9]|[1-9]\d|[1-9]\d\d) / {count:,} answered")


def finished_alert(page: Page, count: int) -> Locator:
    return page.get_by_test_id("stAlert").filter(
        has_text=f"Finished: {count:,} done, 0 skipped, 0 failed, 0 not attempted of {count:,} planned."
    )


def metric(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMetric").filter(has_text=label)


def job_rows(page: Page) -> Locator:
    """The data rows of the Activity page's Jobs table. The grid is drawn on a canvas; its
    accessible table (rows and columns in view only) is the canvas's fallback content, which
    role locators treat as hidden: CSS finds it."""
    return page.get_by_test_id("stDataFrame").locator('[role="row"]:has([role="gridcell"])')


def cell(page: Page, row: Locator, column: str) -> Locator:
    header = (
        page.get_by_test_id("stDataFrame")
        .locator('[role="columnheader"]')
        .filter(has_text=re.compile(rf"^{re.escape(column)}$"))
    )
    expect(header).to_have_count(1)
    return row.locator(f'[role="gridcell"][aria-colindex="{header.get_attribute("aria-colindex")}"]')


def scheduled_states(prefect: Prefect, run_ids: list[UUID]) -> dict[UUID, int]:
    """How many Scheduled states each run's history holds (one: it was moved exactly once)."""

    async def read(client: PrefectClient) -> dict[UUID, int]:
        gate = asyncio.Semaphore(8)

        async def one(run_id: UUID) -> tuple[UUID, int]:
            async with gate:
                states = await client.read_flow_run_states(run_id)
            return run_id, [s.name for s in states].count("Scheduled")

        return dict(await asyncio.gather(*(one(r) for r in run_ids)))

    return prefect.harness(read)


def assert_moved_exactly_once(prefect: Prefect, runs: list[FlowRun]) -> None:
    ids = [run.id for run in runs]
    stored = prefect.read_many(ids)
    for run in runs:
        now = stored[run.id]
        assert now is not None and run.next_scheduled_start_time is not None, run.name
        assert now.state_name == "Scheduled", (run.name, now.state_name)
        assert now.next_scheduled_start_time == run.next_scheduled_start_time + SHIFT_BY, run.name
    moves = scheduled_states(prefect, ids)
    assert set(moves.values()) == {1}, {run.name: moves[run.id] for run in runs if moves[run.id] != 1}


# -- tests ----------------------------------------------------------------------------------------
def test_a_job_goes_on_after_its_page_is_left_and_is_listed_with_its_result(
    prefect: Prefect, prefect_server: LocalPrefectServer, new_page: Page, tmp_path: Path
) -> None:
    page = new_page
    deployment = prefect.deployment(name=unique("e2e-jobs"))
    runs = prefect.late_runs(deployment, 200)
    db = tmp_path / "runops.sqlite"
    store = Store(db)
    # one request in flight: slow enough (some 20-30 runs a second) to leave the page mid-way
    with dashboard(prefect_server, tmp_path, "slow", RUNOPS_CONCURRENCY="1", RUNOPS_DATABASE_URL=str(db)) as (
        _,
        url,
    ):
        job_id = start_reschedule(page, url, deployment, 200, reason="e2e: leave the page")

        # the live panel: progress while the job runs
        progress = page.get_by_test_id("stProgress")
        expect(progress).to_contain_text(some_answered(200))
        expect(metric(page, "Took")).to_contain_text("…")
        expect(page.get_by_role("button", name="Stop")).to_be_visible()
        tall_shot(page, "jobs_live_panel")

        # leave it for another page while it runs
        mid_way = store.jobs.get(job_id)
        assert mid_way.status == RUNNING and 0 < mid_way.answered < 200, (mid_way.status, mid_way.answered)
        page.get_by_test_id("stSidebar").get_by_role("link", name="History").click()
        expect(page.get_by_role("heading", name="History")).to_be_visible()

        job = wait_for(ended(store, job_id), "the job to end", timeout=240)
        assert job.status == DONE, job
        assert job.totals == {"done": 200, "skipped": 0, "failed": 0, "not_attempted": 0}
        assert job.reason == "e2e: leave the page" and job.attempts == 1
        assert_moved_exactly_once(prefect, runs)

        # Activity lists it, done, with its counts
        page.goto(f"{url}/activity")
        expect(page.get_by_role("heading", name="Activity")).to_be_visible()
        expect(page.get_by_text("No job is running.")).to_be_visible()
        row = job_rows(page)  # this dashboard's store holds this one job
        expect(row).to_have_count(1)
        expect(cell(page, row, "Status")).to_have_text("done")
        expect(cell(page, row, "Done")).to_have_text("200")
        expect(cell(page, row, "Planned")).to_have_text("200")
        expect(cell(page, row, "Not attempted")).to_have_text("0")
        expect(cell(page, row, "Who")).to_have_text(job.actor)
        expect(cell(page, row, "Job")).to_have_text(f"/activity?job={job_id}")  # next to Status
        shot(page, "jobs_activity")
        # the long Selection pushes the last columns out of view: scroll the table to them
        page.get_by_test_id("stDataFrame").hover()
        page.mouse.wheel(3000, 0)
        expect(cell(page, row, "Reason")).to_have_text("e2e: leave the page")

        # the job's own page, and the Late runs page re-attached to it by its URL
        page.goto(f"{url}/activity?job={job_id}")
        expect(finished_alert(page, 200)).to_be_visible()
        expect(metric(page, "Done")).to_contain_text("200")
        expect(metric(page, "Not attempted")).to_contain_text("0")
        expect(page.get_by_role("link", name="All jobs")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)
        tall_shot(page, "jobs_job_page")

        page.goto(f"{url}/late_runs?job={job_id}")
        expect(page.get_by_role("heading", name="Job")).to_be_visible()
        expect(finished_alert(page, 200)).to_be_visible()
        expect(metric(page, "Done")).to_contain_text("200")
        expect(page.get_by_test_id("stDataFrame")).to_be_visible()  # the per-run report
        tall_shot(page, "jobs_late_runs_finished")


def test_a_job_of_a_killed_dashboard_is_resumed_from_another_on_one_postgres_store(
    prefect: Prefect, prefect_server: LocalPrefectServer, new_page: Page, tmp_path: Path
) -> None:
    from tests.infra.postgres import pg_bin, postgres_cluster

    try:
        pg_bin()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL server binaries for the shared store: {exc}")

    page = new_page
    deployment = prefect.deployment(name=unique("e2e-resume"))
    runs = prefect.late_runs(deployment, 150)
    with postgres_cluster() as db_url:
        store = Store(db_url)
        try:
            with (
                dashboard(prefect_server, tmp_path, "b", RUNOPS_DATABASE_URL=db_url) as (_, url_b),
                dashboard(
                    prefect_server, tmp_path, "a", RUNOPS_DATABASE_URL=db_url, RUNOPS_CONCURRENCY="1"
                ) as (proc_a, url_a),
            ):
                job_id = start_reschedule(page, url_a, deployment, 150, reason="e2e: replica killed")
                expect(page.get_by_test_id("stProgress")).to_contain_text(some_answered(150))

                # kill -9 dashboard A mid-way: its job thread dies with it, its request in flight too
                os.killpg(proc_a.pid, signal.SIGKILL)
                proc_a.wait()  # reaped: its pid is gone, so the job reads as interrupted at once
                killed = store.jobs.get(job_id)
                assert killed.status == INTERRUPTED, killed.status
                assert 0 < killed.totals["done"] < 150, killed.totals

                # B lists the job, not running
                page.goto(f"{url_b}/activity")
                expect(page.get_by_role("heading", name="Activity")).to_be_visible()
                expect(page.get_by_text("No job is running.")).to_be_visible()
                row = job_rows(page)  # the store holds this one job
                expect(row).to_have_count(1)
                expect(cell(page, row, "Status")).to_have_text(INTERRUPTED)
                expect(cell(page, row, "Planned")).to_have_text("150")
                shot(page, "jobs_b_activity_interrupted")

                # its page on B: resume it
                page.goto(f"{url_b}/activity?job={job_id}")
                expect(page.get_by_test_id("stAlert").filter(has_text="Interrupted:")).to_be_visible()
                resume = page.get_by_role("button", name=re.compile(r"^Resume: \d+ run\(s\) not done$"))
                expect(resume).to_be_visible()
                expect(page.get_by_test_id("stDataFrame")).to_be_visible()  # the per-run report
                expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
                tall_shot(page, "jobs_b_interrupted")
                resume.click()

                job = wait_for(ended(store, job_id, attempt=2), "the resumed job to end", timeout=240)
                assert job.status == DONE, job
                assert job.totals == {"done": 150, "skipped": 0, "failed": 0, "not_attempted": 0}
                assert job.attempts == 2
                assert_moved_exactly_once(prefect, runs)

                expect(finished_alert(page, 150)).to_be_visible()
                expect(metric(page, "Done")).to_contain_text("150")
                expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)
                tall_shot(page, "jobs_b_resumed")
        finally:
            engine_for(db_url).dispose()  # before the cluster stops
