"""End to end in Chromium: filter with a live count, preview per-run actions, confirm, see the job's
report; re-read."""

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

    page.get_by_role("button", name="Cancel 3 runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("3 run(s) will change")
    expect(dialog.get_by_role("button", name="Go back")).to_be_enabled()
    shot(page, "bulk_cancel_dialog")
    # a click while the dialog's script run is still going can be lost: wait until the app is idle
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    dialog.get_by_role("button", name="Cancel 3 runs", exact=True).click()

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", name="Job")).to_be_visible()
    expect(
        page.get_by_test_id("stAlert").filter(
            has_text="Finished: 3 done, 0 skipped, 0 failed, 0 not attempted of 3 planned."
        )
    ).to_be_visible()
    expect(metrics.filter(has_text="Done")).to_contain_text("3")
    expect(page).to_have_url(re.compile(r"/bulk_cancel\?(.+&)?job=[0-9a-f-]{36}(&.*)?$"))
    expect(page.get_by_role("heading", name="0 runs match")).to_be_visible()  # counted again after
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()  # the per-run report
    page.set_viewport_size({"width": 1440, "height": 1800})
    shot(page, "bulk_cancel_result")

    states = {run.id: prefect.read(run.id).state_name for run in (running, late, scheduled, completed)}
    assert states == {
        running.id: "Cancelling",
        late.id: "Cancelled",
        scheduled.id: "Cancelled",
        completed.id: "Completed",
    }


def test_a_count_typed_without_enter_confirms_with_one_click(
    prefect: Prefect, page, dashboard_url: str
) -> None:
    """Above 25 runs the count is typed; a tired person types it and clicks at once (no Enter):
    that single click must start the job."""
    deployment = prefect.deployment(name=unique("e2e-typed"))
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=2)) for _ in range(27)])

    page.goto(f"{dashboard_url}/bulk_cancel")
    picker = (
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="Deployments").get_by_role("combobox")
    )
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="27 runs match")).to_be_visible()
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Cancel 27 runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    dialog.get_by_role("textbox", name="Type 27 to confirm").fill("27")  # no Enter, no blur
    # one click, as a person makes it: at once, not waiting for the button to look ready
    dialog.get_by_role("button", name="Cancel 27 runs", exact=True).click(force=True)

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(
        page.get_by_test_id("stAlert").filter(
            has_text="Finished: 27 done, 0 skipped, 0 failed, 0 not attempted of 27 planned."
        )
    ).to_be_visible()
    assert {prefect.read(r.id).state_name for r in runs} == {"Cancelled"}
