"""End to end in Chromium: filter with a live count, preview per-run actions, confirm, see the result; re-read."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from prefect.states import Completed, Late, Running, Scheduled

from tests.e2e.conftest import shot
from tests.factories import Prefect, ago, later, unique


def test_bulk_cancel_in_the_browser(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name=unique("e2e-cancel"))
    running, late, scheduled, completed = prefect.runs(
        deployment,
        [Running(), Late(scheduled_time=ago(hours=3)), Scheduled(scheduled_time=later(hours=2)), Completed()],
    )

    page.goto(f"{dashboard_url}/bulk_cancel")
    expect(page.get_by_role("heading", name="Bulk cancel")).to_be_visible()
    picker = (
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="Deployments").get_by_role("combobox")
    )
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="3 runs match")).to_be_visible()  # the live count
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Mark cancelling")).to_contain_text("1")
    expect(metrics.filter(has_text="Cancel").first).to_contain_text("2")
    shot(page, "bulk_cancel_preview")

    page.get_by_role("button", name="Cancel 3 runs…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("3 run(s) will change")
    shot(page, "bulk_cancel_dialog")
    dialog.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    expect(metrics.filter(has_text="Done")).to_contain_text("3")
    expect(page.get_by_text(re.compile(r"^cancel runs: 3 done, 0 skipped, 0 failed"))).to_be_visible()
    expect(page.get_by_role("heading", name="0 runs match")).to_be_visible()  # counted again after
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()  # the per-run result table
    page.set_viewport_size({"width": 1440, "height": 1800})
    shot(page, "bulk_cancel_result")

    states = {run.id: prefect.read(run.id).state_name for run in (running, late, scheduled, completed)}
    assert states == {
        running.id: "Cancelling",
        late.id: "Cancelled",
        scheduled.id: "Cancelled",
        completed.id: "Completed",
    }
