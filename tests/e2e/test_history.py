"""End to end in Chromium: the History page renders its four charts for backdated runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from prefect.states import Completed, Crashed, Failed

from tests.e2e.conftest import shot
from tests.factories import Prefect, finished_runs, unique

SLOW = 60_000  # reading, charting and drawing on a busy 2-core machine


def test_history_renders_charts(prefect: Prefect, page, dashboard_url: str) -> None:
    tag = unique("e2e-history")
    now = datetime.now(UTC)
    for name, minutes in (("nightly", 4), ("hourly", 1)):
        deployment = prefect.deployment(name=unique(f"e2e-history-{name}"))
        rows = []
        for i in range(12):
            expected = now - timedelta(hours=20 - i * 1.5)
            start = expected + timedelta(seconds=5 + 20 * (i % 4))
            state = Failed() if i == 7 else Crashed() if i == 10 else Completed()
            rows.append((state, expected, start, start + timedelta(minutes=minutes * (2 + i % 5))))
        finished_runs(prefect, deployment, rows, tags=[tag])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))  # e.g. a Vega spec that fails to parse

    page.goto(dashboard_url)
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("heading", name="History")).to_be_visible(timeout=SLOW)
    tags = page.get_by_label("Tags (all of)")
    tags.fill(tag)
    tags.press("Enter")

    metrics = page.locator('[data-testid="stMetric"]')
    expect(metrics.filter(has_text="Runs")).to_contain_text("24", timeout=SLOW)
    expect(metrics.filter(has_text="Success rate")).to_contain_text("83%")
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(5, timeout=SLOW)  # the four, then the timeline
    # vega-embed draws an svg per chart; its text holds the title, axes and legend
    titles = [r"Runs per \d+ \w+", "Duration over time", "Duration distribution", "Start lateness p50 / p95"]
    for index, title in enumerate(titles):
        drawing = charts.nth(index).locator("svg.marks")
        expect(drawing).to_be_visible(timeout=SLOW)
        expect(drawing).to_contain_text(re.compile(title), timeout=SLOW)
    expect(charts.nth(1).locator("svg.marks")).to_contain_text("e2e-history-nightly")
    expect(charts.nth(0).locator("svg.marks")).to_contain_text("Crashed")
    expect(page.get_by_role("button", name="Download CSV")).to_be_visible()
    assert not errors, errors

    # Streamlit scrolls inside its main area: a tall viewport puts the whole page in the shot
    page.set_viewport_size({"width": 1440, "height": 3200})
    expect(page.get_by_role("heading", name="Per deployment")).to_be_visible()
    shot(page, "history")
