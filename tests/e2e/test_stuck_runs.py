"""End to end in Chromium: find stuck runs, clear them (mark Crashed / Cancelled), the job's report; re-read."""

from __future__ import annotations

from playwright.sync_api import expect
from prefect.states import Cancelling, Running

from runops.dev.backdate import RunTimes
from tests.e2e.conftest import shot
from tests.e2e.test_screenshots import save
from tests.factories import Prefect, ago, unique


def test_stuck_runs_in_the_browser(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name=unique("e2e-stuck"), work_pool=unique("e2e-pool"))
    running, cancelling, fresh = prefect.runs(deployment, [Running(), Running(), Running()])
    prefect.set_state(cancelling.id, Cancelling(), force=False)
    prefect.backdate(
        [
            RunTimes(running.id, ago(hours=5), ago(hours=5)),
            RunTimes(cancelling.id, ago(hours=1), ago(hours=1)),
        ]
    )

    page.goto(f"{dashboard_url}/stuck_runs")
    expect(page.get_by_role("heading", name="Stuck runs")).to_be_visible()
    picker = (
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="Deployments").get_by_role("combobox")
    )
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Find stuck runs").click()

    expect(page.get_by_role("heading", name="2 stuck of 3 active run(s)")).to_be_visible()
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Mark crashed")).to_contain_text("1")
    expect(metrics.filter(has_text="Mark cancelled")).to_contain_text("1")
    expect(page.get_by_test_id("stAlert").filter(has_text="keeps running")).to_be_visible()
    save(page, "stuck_runs")  # the README's picture of this page

    page.get_by_role("button", name="Clear 2 stuck runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("keeps running")  # said plainly before the click
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    dialog.get_by_role("button", name="Clear 2 runs", exact=True).click()

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(
        page.get_by_test_id("stAlert").filter(
            has_text="Finished: 2 done, 0 skipped, 0 failed, 0 not attempted of 2 planned."
        )
    ).to_be_visible()
    shot(page, "stuck_runs_result")

    states = {r.id: prefect.read(r.id).state_name for r in (running, cancelling, fresh)}
    assert states == {running.id: "Crashed", cancelling.id: "Cancelled", fresh.id: "Running"}
