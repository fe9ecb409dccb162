"""Login end to end in Chromium with a real local OpenID provider (oidc-provider-mock):
the guard on a freshly started server, an operator, and a non-operator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from prefect.states import Scheduled

from runops.dev.server import LocalPrefectServer
from runops.engine.execute import execute
from runops.engine.plan import Plan, Report
from runops.errors import NotAllowed
from runops.store import Store
from runops.store.jobs import DONE
from tests.e2e.conftest import shot
from tests.e2e.oidc import AuthDashboard, OidcProvider, as_shown, auth_dashboard, login, oidc_provider
from tests.factories import Prefect, later, unique
from tests.runops.engine.test_execute import _plan, move_to

OPERATOR = "ops@example.com"
DEVELOPER = "dev@example.com"


def _env(prefect_server: LocalPrefectServer, audit_db: Path) -> dict[str, str]:
    return {
        "PREFECT_API_URL": prefect_server.api_url,
        "PREFECT_UI_URL": prefect_server.ui_url,
        "RUNOPS_OPERATORS": OPERATOR,
        "RUNOPS_DATABASE_URL": str(audit_db),
    }


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with oidc_provider(tmp_path_factory.mktemp("oidc") / "oidc.log") as running:
        yield running


@pytest.fixture(scope="module")
def dashboard(
    prefect_server: LocalPrefectServer, provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthDashboard]:
    tmp = tmp_path_factory.mktemp("auth-dashboard")
    with auth_dashboard(tmp, _env(prefect_server, tmp / "audit.sqlite"), provider) as running:
        yield running


@pytest.fixture
def new_page(browser) -> Iterator[Page]:
    """A page in a fresh browser context: no identity cookie from another test."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Berlin")
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_page_url_on_a_fresh_server_is_guarded(
    prefect_server: LocalPrefectServer, new_page: Page, tmp_path: Path
) -> None:
    # a job and an operation in this dashboard's store: their selection must not reach an
    # anonymous browser
    audit = Store(tmp_path / "audit.sqlite")
    marker = unique("confidential-selection")
    audit.audit.record(
        Report("cancel", marker, 0, [], datetime.now(UTC), 0.1, 1, 1, actor=OPERATOR),
        api_url=prefect_server.api_url,
    )
    job_id, owner = audit.jobs.create(Plan("cancel runs", marker, ()), actor=OPERATOR, reason=marker)
    audit.jobs.finish(job_id, owner, DONE, duration_s=0.1, concurrency=None)
    # a login provider is not needed to show the login screen: nobody answers at its URL
    with auth_dashboard(tmp_path / "fresh", _env(prefect_server, Path(str(audit.target))), None) as fresh:
        # the very first request of this server is a page URL, before any session ran app.py
        new_page.goto(f"{fresh.url}/activity")
        expect(new_page.get_by_role("button", name="Log in")).to_be_visible()
        expect(new_page.get_by_role("heading", name="runops")).to_be_visible()
        expect(new_page.get_by_text("Log in to continue")).to_be_visible()
        expect(new_page.get_by_role("heading", name="Activity")).to_have_count(0)
        expect(new_page.get_by_test_id("stDataFrame")).to_have_count(0)
        html = new_page.content()
        assert marker not in html
        assert "Healthy" not in html and prefect_server.api_url not in html
        shot(new_page, "login-screen")

        for path in ("/history", "/late_runs", "/", f"/activity?job={job_id}"):
            new_page.goto(f"{fresh.url}{path}")
            expect(new_page.get_by_role("button", name="Log in")).to_be_visible()
            expect(new_page.get_by_test_id("stMetric")).to_have_count(0)
            expect(new_page.get_by_test_id("stDataFrame")).to_have_count(0)
            assert marker not in new_page.content()


def test_operator_logs_in_and_may_apply(
    prefect: Prefect, dashboard: AuthDashboard, new_page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(new_page, dashboard.url, OPERATOR)
    sidebar = new_page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("button", name="Log out")).to_be_visible()
    expect(new_page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(sidebar).not_to_contain_text("not an operator")
    shot(new_page, "login-operator")

    # the same rule the dashboard applies (its RUNOPS_OPERATORS), with the e-mail the sidebar shows
    monkeypatch.setenv("RUNOPS_OPERATORS", OPERATOR)
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1)) for _ in range(2)])
    target = later(hours=6).replace(microsecond=0)
    audit = Store(Path(dashboard.log).parent / "audit.sqlite")  # its RUNOPS_DATABASE_URL
    report = prefect.run(execute, _plan(runs, target), move_to, actor=OPERATOR, store=audit)
    assert report.totals["done"] == 2
    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.next_scheduled_start_time == target

    # the Activity page lists that job and names the operator on its page
    assert report.job_id is not None
    new_page.goto(f"{dashboard.url}/activity")
    expect(new_page.get_by_role("heading", name="Activity")).to_be_visible()
    expect(new_page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(new_page.get_by_test_id("stDataFrame")).to_be_visible()
    new_page.goto(f"{dashboard.url}/activity?job={report.job_id}")
    expect(new_page.get_by_test_id("stAlert").filter(has_text="Finished: 2 done")).to_be_visible()
    expect(new_page.get_by_test_id("stMain")).to_contain_text(f"{as_shown(OPERATOR)} · started")


def test_non_operator_sees_pages_but_may_not_apply(
    prefect: Prefect, dashboard: AuthDashboard, new_page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(new_page, dashboard.url, DEVELOPER)
    sidebar = new_page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text(f"{as_shown(DEVELOPER)} is not an operator here")
    expect(new_page.get_by_role("heading", name="Overview")).to_be_visible()
    for path, heading in (("/history", "History"), ("/activity", "Activity")):
        new_page.goto(f"{dashboard.url}{path}")
        expect(new_page.get_by_role("heading", name=heading)).to_be_visible()
        expect(sidebar).to_contain_text("not an operator")
    new_page.goto(dashboard.url)
    expect(new_page.get_by_test_id("stMetric").first).to_be_visible()
    shot(new_page, "login-non-operator")

    monkeypatch.setenv("RUNOPS_OPERATORS", OPERATOR)
    deployment = prefect.deployment()
    [run] = prefect.runs(deployment, [Scheduled(scheduled_time=later(hours=1))])
    audit = Store(Path(dashboard.log).parent / "audit.sqlite")  # its RUNOPS_DATABASE_URL
    before = len(audit.audit.operations())
    with pytest.raises(NotAllowed, match="not an operator"):
        prefect.run(execute, _plan([run], later(hours=9)), move_to, actor=DEVELOPER, store=audit)
    stored = prefect.read(run.id)
    assert stored is not None and stored.state_id == run.state_id
    assert stored.next_scheduled_start_time == run.next_scheduled_start_time
    assert len(audit.audit.operations()) == before
