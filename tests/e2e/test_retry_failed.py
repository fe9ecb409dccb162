"""End to end in Chromium: retry failed runs — live count, preview, confirm, the job's report; re-read."""

from __future__ import annotations

from playwright.sync_api import expect
from prefect.states import Completed, Crashed, Failed

from tests.e2e.conftest import shot
from tests.e2e.test_screenshots import save
from tests.factories import Prefect, unique


def test_retry_failed_in_the_browser(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name=unique("e2e-retry"))
    failed, crashed, completed = prefect.runs(
        deployment, [Failed(), Crashed(), Completed()], parameters={"n": 5}
    )

    page.goto(f"{dashboard_url}/retry_failed")
    expect(page.get_by_role("heading", name="Retry failed")).to_be_visible()
    picker = (
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="Deployments").get_by_role("combobox")
    )
    picker.click()
    picker.fill(deployment.name)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="2 runs match")).to_be_visible()
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Retry")).to_contain_text("2")
    save(page, "retry_failed")  # the README's picture of this page

    page.get_by_role("button", name="Retry 2 runs…", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("2 run(s) will change")
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    dialog.get_by_role("button", name="Retry 2 runs", exact=True).click()

    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(
        page.get_by_test_id("stAlert").filter(
            has_text="Finished: 2 done, 0 skipped, 0 failed, 0 not attempted of 2 planned."
        )
    ).to_be_visible()
    expect(page.get_by_role("heading", name="0 runs match")).to_be_visible()  # counted again after
    shot(page, "retry_failed_result")

    stored = {r.id: prefect.read(r.id) for r in (failed, crashed, completed)}
    assert {i: r.state_name for i, r in stored.items()} == {
        failed.id: "Scheduled",
        crashed.id: "Scheduled",
        completed.id: "Completed",
    }
    assert stored[failed.id].parameters == {"n": 5}
