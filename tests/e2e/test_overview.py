"""End to end in Chromium: the overview shows the server's counts and the late backlog."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from prefect.states import Late

from runops.features.overview import late_backlog, state_counts
from runops.prefect_api.client import call
from tests.e2e.conftest import shot
from tests.factories import Prefect, ago


def test_overview_shows_seeded_counts(prefect: Prefect, page, dashboard_url: str) -> None:
    deployment = prefect.deployment(name="e2e-overview")
    prefect.runs(deployment, [Late(scheduled_time=ago(hours=h)) for h in (1, 5, 30)])
    late = call(prefect.settings, state_counts, ("Late",))["Late"]
    backlog = call(prefect.settings, late_backlog)

    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    late_metric = page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"^Late"))
    expect(late_metric).to_contain_text(f"{late:,}")
    expect(page.get_by_text("Late backlog")).to_be_visible()
    # the table itself is a canvas grid; its caption carries the numbers
    assert any(row.deployment == deployment.full_name and row.count == 3 for row in backlog)
    expect(page.get_by_text(f"{late:,} late runs across {len(backlog):,} deployment(s)")).to_be_visible()
    expect(page.get_by_text("Healthy · Prefect 3.")).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    page.wait_for_function(
        "() => { const g = document.querySelector('[data-testid=\"stDataFrame\"]');"
        " return g && g.getBoundingClientRect().width > 300; }"
    )
    shot(page, "overview")
