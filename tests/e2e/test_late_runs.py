"""End to end in Chromium: preview late runs, confirm in the dialog, watch the job, see its report;
runs moved on the server."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.factories import Prefect, unique

REASON = "e2e: worker pool back"


def test_reschedule_late_runs_in_the_browser(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name=unique("e2e-late"))
    runs = prefect.late_runs(deployment, 4)

    page.goto(f"{dashboard_url}/late_runs")
    expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
    picker = page.get_by_role("combobox").first
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    delay = page.get_by_role("textbox", name="Delay from each run's scheduled time")
    delay.fill("1d")
    delay.press("Enter")
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    found = page.locator('[data-testid="stMetric"]').filter(has_text="To reschedule")
    expect(found).to_contain_text("4")
    expect(page.get_by_text("shift each run by 1d 0h")).to_be_visible()
    shot(page, "late_runs_preview")

    page.get_by_role("button", name="Apply to 4 runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("4 run(s) will change")
    dialog.get_by_role("textbox", name="Reason (optional)").fill(REASON)
    confirm = dialog.get_by_role("button", name="Apply to 4 runs", exact=True)
    expect(confirm).to_be_enabled()
    expect(dialog.get_by_role("button", name="Go back")).to_be_enabled()
    shot(page, "late_runs_dialog")
    # a click while the dialog's script run is still going can be lost: wait until the app is idle
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    confirm.click()

    # the job panel: it runs in the background, then its report replaces the live panel
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("heading", name="Job")).to_be_visible()
    expect(
        page.get_by_test_id("stAlert").filter(
            has_text="Finished: 4 done, 0 skipped, 0 failed, 0 not attempted of 4 planned."
        )
    ).to_be_visible()
    done = page.locator('[data-testid="stMetric"]').filter(has_text="Done")
    expect(done).to_contain_text("4")
    expect(page.get_by_text(f"Reason: {REASON}")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()  # the per-run report
    expect(page).to_have_url(re.compile(r"/late_runs\?(.+&)?job=[0-9a-f-]{36}(&.*)?$"))
    expect(page.get_by_role("button", name=re.compile("^Resume"))).to_have_count(0)  # nothing left
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)  # stale elements gone
    # the applied preview is history: its Apply button goes, so the plan cannot be applied twice
    expect(page.get_by_role("button", name="Apply to 4 runs…")).to_have_count(0)
    shot(page, "late_runs_result")

    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.state_name == "Scheduled"
        assert run.next_scheduled_start_time is not None and stored.next_scheduled_start_time is not None
        assert (stored.next_scheduled_start_time - run.next_scheduled_start_time).days == 1
