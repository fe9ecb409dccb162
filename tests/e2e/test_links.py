"""End to end in Chromium: every filtering page opens from a link with its filters set, a bad
parameter is named, the URL follows a change, and the overview's links carry the filter."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import expect
from prefect.states import Failed

from tests.e2e.conftest import shot
from tests.factories import Prefect, unique


def chip(page, text: str):
    """A multiselect's chosen value (its chip has a "Remove <value>" button)."""
    return page.get_by_role("button", name=f"Remove {text}", exact=True)


def test_pages_open_from_links_with_their_filters(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name=unique("e2e-links"))
    runs = prefect.late_runs(deployment, 2)
    prefect.runs(deployment, [Failed()])
    name = quote(deployment.full_name, safe="")

    page.goto(f"{dashboard_url}/late_runs?deployment={name}&delay=2h&n=5&state=Late&state=Scheduled")
    expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
    expect(chip(page, deployment.full_name)).to_be_visible()
    expect(chip(page, "Scheduled")).to_be_visible()
    delay = page.get_by_role("textbox", name="Delay from each run's scheduled time")
    expect(delay).to_have_value("2h")
    expect(page.get_by_role("textbox", name="Reschedule the most recent N")).to_have_value("5")
    delay.fill("3h")
    delay.press("Enter")
    expect(page).to_have_url(re.compile(r"delay=3h"))  # the URL follows the filter
    expect(page).to_have_url(re.compile(rf"deployment={re.escape(name)}"))
    page.get_by_role("button", name="Link to this view").click()
    expect(page.get_by_test_id("stCode").filter(has_text="delay=3h")).to_be_visible()
    shot(page, "links_late_runs")

    page.goto(f"{dashboard_url}/late_runs?delay=6&deployment=no-such")
    expect(page.get_by_text("This link's delay parameter is ignored: 6 what?")).to_be_visible()
    expect(page.get_by_text("no deployment named “no-such”")).to_be_visible()
    expect(page.get_by_role("textbox", name="Delay from each run's scheduled time")).to_have_value("6h")

    page.goto(f"{dashboard_url}/history?deployment={name}&days=30&n=50")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(chip(page, deployment.full_name)).to_be_visible()
    expect(page.get_by_role("combobox", name="Ended")).to_have_value("Last 30 days")
    expect(page.get_by_role("spinbutton", name="Last N runs")).to_have_value("50")

    page.goto(
        f"{dashboard_url}/bulk_cancel?state=Late&state=Scheduled&deployment={name}&tag=nightly&from=now-1d"
    )
    expect(page.get_by_role("heading", name="Bulk cancel")).to_be_visible()
    expect(chip(page, deployment.full_name)).to_be_visible()
    expect(chip(page, "Late")).to_be_visible()
    expect(chip(page, "Running")).to_have_count(0)  # the link's states, not the defaults
    expect(page.get_by_role("textbox", name="Tags (all of them)")).to_have_value("nightly")
    expect(page.get_by_role("textbox", name="From")).to_have_value("now-1d")

    page.goto(f"{dashboard_url}/retry_failed?state=Crashed&deployment={name}&after=now-2d")
    expect(page.get_by_role("heading", name="Retry failed")).to_be_visible()
    expect(chip(page, deployment.full_name)).to_be_visible()
    expect(chip(page, "Crashed")).to_be_visible()
    expect(chip(page, "Failed")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Ended after")).to_have_value("now-2d")

    page.goto(f"{dashboard_url}/stuck_runs?deployment={name}&k=5&older=3h")
    expect(page.get_by_role("heading", name="Stuck runs")).to_be_visible()
    expect(chip(page, deployment.full_name)).to_be_visible()
    expect(page.get_by_role("spinbutton", name="k × the usual duration")).to_have_value(
        re.compile(r"^5(\.0+)?$")
    )
    expect(page.get_by_role("textbox", name="Too little history: older than")).to_have_value("3h")

    # the overview's Failed count leads to Retry failed with Failed chosen
    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    failed = page.locator('a[href*="retry_failed?state=Failed"]').first
    expect(failed).to_be_visible()
    shot(page, "links_overview")
    failed.click()
    expect(page.get_by_role("heading", name="Retry failed")).to_be_visible()
    expect(page).to_have_url(re.compile(r"retry_failed\?state=Failed"))
    expect(chip(page, "Failed")).to_be_visible()
    expect(chip(page, "Crashed")).to_have_count(0)

    assert all(prefect.read(r.id).state_name == "Late" for r in runs)  # links only show, never change
