"""End to end in Chromium: drag a brush on History's timeline, Retry these, land on a preview of exactly those runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from prefect.states import Completed, Failed

from runops.features.history.charts import TIMELINE_ROW
from tests.e2e.conftest import shot
from tests.factories import Prefect, finished_runs, unique

SLOW = 60_000


def settled(page: Page) -> None:
    """Streamlit has finished the rerun: nothing running, no stale element left on the page."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=SLOW)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=SLOW)


def test_brush_on_the_timeline_carries_runs_to_retry(prefect: Prefect, page, dashboard_url: str) -> None:
    tag = unique("e2e-timeline")
    deployment = prefect.deployment(name=unique("e2e-timeline"))
    now = datetime.now(UTC)
    rows = []
    for hours, state in ((20, Failed()), (18, Failed()), (16, Failed()), (12, Completed()), (8, Completed())):
        start = now - timedelta(hours=hours)
        rows.append((state, start, start, start + timedelta(minutes=20)))
    finished_runs(prefect, deployment, rows, tags=[tag])
    prefect.runs(prefect.deployment(), [Failed()])  # elsewhere: never carried, so never previewed
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{dashboard_url}/history")
    expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=SLOW)
    tags = page.get_by_label("Tags (all of)")
    tags.fill(tag)
    tags.press("Enter")
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Runs")).to_contain_text(
        "5", timeout=SLOW
    )

    # The metric is drawn early in the rerun the tag started: below it the charts of the run
    # before (every deployment, the timeline two rows high) are still up, greyed as stale, and a
    # drag measured on those lands beside the new, one-row timeline (why this test used to fail).
    settled(page)
    timeline = page.locator('[data-testid="stVegaLiteChart"]').nth(4)
    expect(timeline.locator("svg.marks")).to_contain_text("Timeline", timeout=SLOW)
    timeline.scroll_into_view_if_needed()
    settled(page)
    # the root group's background is the plot area: drag over all of it (every run of the tag)
    area = timeline.locator("svg.marks path.background").first.bounding_box()
    assert area is not None
    assert round(area["height"]) == TIMELINE_ROW, area  # the tag's one row, not the stale chart
    page.mouse.move(area["x"] + 3, area["y"] + 3)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] - 3, area["y"] + area["height"] - 3, steps=12)
    page.mouse.up()

    retry = page.get_by_role("button", name="Retry these (3)")
    expect(retry).to_be_enabled(timeout=SLOW)
    expect(page.get_by_role("button", name="Cancel these (0)")).to_be_disabled()
    expect(page.get_by_text("5 runs chosen")).to_be_visible()  # the brush chose every run of the tag
    shot(page, "history_timeline")
    retry.click()

    expect(page.get_by_role("heading", name="Retry failed")).to_be_visible(timeout=SLOW)
    expect(
        page.get_by_test_id("stAlert").filter(has_text="3 runs chosen on History's timeline")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="3 runs match")).to_be_visible(timeout=SLOW)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview")).to_be_visible(timeout=SLOW)
    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Retry")).to_contain_text("3")
    expect(metrics.filter(has_text="Matched")).to_contain_text("3")
    assert not errors, errors
