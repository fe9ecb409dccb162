"""A freshly started dashboard whose first request is a bookmarked page URL: app.py's navigation
serves it (ui.serve), not Streamlit's listing of the pages/ folder."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group
from tests.e2e.conftest import shot
from ui.nav import available


def test_bookmarked_page_first_on_a_fresh_dashboard(
    prefect_server: LocalPrefectServer, browser, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.update(PREFECT_API_URL=prefect_server.api_url, PREFECT_UI_URL=prefect_server.ui_url)
    proc, url = start_dashboard(env, log_path=tmp_path / "streamlit.log")
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        # the very first request this server gets, before any session has run app.py
        page.goto(f"{url}/late_runs")
        expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        links = nav.get_by_role("link")
        # the app's own titles, in its order; the folder listing would add "app" and use file names
        expect(links).to_have_count(len(available()))
        for link, spec in zip(links.all(), available(), strict=True):
            expect(link).to_contain_text(spec.title)
        expect(nav).not_to_contain_text("late runs")
        shot(page, "fresh-bookmark-late-runs")

        # and a link from there goes where app.py's navigation says
        nav.get_by_role("link", name="History", exact=True).click()
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        assert page.url.rstrip("/").endswith("/history")
    finally:
        context.close()
        stop_process_group(proc)
