"""Hardening in Chromium: credentials never reach the page, the log or the audit DB; hostile run
names, tags and deployment names render as inert text in tables, the confirm dialog and reports."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.states import Late

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group
from runops.engine.execute import execute
from runops.settings import Settings
from runops.store import Store
from tests.apptest import open_app
from tests.e2e.conftest import shot
from tests.e2e.oidc import as_shown
from tests.factories import Deployment, Prefect, ago, later, unique
from tests.runops.engine.test_execute import _plan, move_to

API_KEY = "pnu_secretKEY0123456789abcdefghijklmnopq"
AUTH_STRING = "admin:secretpw-7f3a9c"
SECRETS = (API_KEY, AUTH_STRING, "secretpw-7f3a9c", base64.b64encode(AUTH_STRING.encode()).decode())
HOSTILE = ("<img src=x onerror=alert(1)>", "**x**", "[link](javascript:alert(1))")


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a credential appears in {where}"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrefectServer]:
    """A server that enforces basic auth (401 without it; /api/health stays open)."""
    server = LocalPrefectServer(
        tmp_path_factory.mktemp("auth-server"),
        ui=False,
        extra_env={"PREFECT_SERVER_API_AUTH_STRING": AUTH_STRING},
    )
    with server:
        yield server


def test_credentials_never_rendered_logged_or_audited(
    auth_server: LocalPrefectServer, browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both set: Prefect's client sends the auth string (it wins over the key)
    settings = Settings(
        api_url=auth_server.api_url, api_key=API_KEY, auth_string=AUTH_STRING, home=tmp_path / "home"
    )
    prefect = Prefect(settings, str(auth_server.database_url))
    deployment = prefect.deployment()
    runs = prefect.runs(deployment, [Late(scheduled_time=ago(hours=h)) for h in (1, 2)])

    audit_db = tmp_path / "audit.sqlite"
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=auth_server.api_url,
        PREFECT_API_KEY=API_KEY,
        PREFECT_API_AUTH_STRING=AUTH_STRING,
        RUNOPS_DATABASE_URL=str(audit_db),
        RUNOPS_HOME=str(tmp_path / "home"),
    )
    env.pop("PREFECT_UI_URL", None)
    log = tmp_path / "streamlit.log"
    empty = tmp_path / "secrets.toml"
    empty.write_text("")
    # debug logging: even Streamlit's most talkative log must not carry a credential
    proc, url = start_dashboard(
        env, log_path=log, extra_args=["--secrets.files", str(empty), "--logger.level", "debug"]
    )
    try:
        # an apply with these credentials, recorded in the dashboard's audit DB
        target = later(hours=5).replace(microsecond=0)
        report = prefect.run(
            execute, _plan(runs, target), move_to, actor="ops@example.com", store=Store(audit_db)
        )
        assert report.totals["done"] == 2
        for run in runs:
            stored = prefect.read(run.id)
            assert stored is not None and stored.next_scheduled_start_time == target

        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        try:
            page.goto(url)
            expect(page.get_by_text("Healthy · Prefect 3.")).to_be_visible()
            expect(page.get_by_test_id("stSidebar")).to_contain_text("API credentials: basic auth")
            expect(page.get_by_test_id("stMetric").first).to_be_visible()
            assert_no_secret(page.content(), "the overview")
            shot(page, "hardening-credentials")
            for path, heading in (
                ("/late_runs", "Late runs"),
                ("/history", "History"),
                ("/activity", "Activity"),
            ):
                page.goto(f"{url}{path}")
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
                expect(page.get_by_text("Healthy · Prefect 3.")).to_be_visible()
                assert_no_secret(page.content(), path)
            # the apply's job, listed and on its own page
            assert report.job_id is not None
            expect(page.get_by_text("1 of 1 jobs not running")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            assert_no_secret(page.content(), "the activity page")
            page.goto(f"{url}/activity?job={report.job_id}")
            expect(page.get_by_test_id("stAlert").filter(has_text="Finished: 2 done")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            assert_no_secret(page.content(), "the job's page")
        finally:
            context.close()
    finally:
        stop_process_group(proc)
    assert log.stat().st_size > 0, "the debug log was written"
    assert_no_secret(log.read_text(errors="replace"), "Streamlit's log")
    raw = audit_db.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("audit.sqlite-*"))
    assert_no_secret(raw.decode("latin-1"), "the audit DB")
    assert Store(audit_db).audit.operations()[0]["api_url"].rstrip("/") == auth_server.api_url


def test_refused_credentials_are_named_not_shown(
    auth_server: LocalPrefectServer, tmp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key the server refuses (401): the page says so in words, and never shows the key."""
    monkeypatch.setenv("PREFECT_API_URL", auth_server.api_url)
    monkeypatch.setenv("PREFECT_API_KEY", API_KEY)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    at = open_app("app.py")
    assert not at.exception
    shown = [e.value for e in (*at.error, *at.markdown, *at.caption, *at.title, *at.code, *at.sidebar.code)]
    assert any("refused the credentials (HTTP 401)" in text for text in shown), shown
    for text in shown:
        assert_no_secret(str(text), "the page")


def _hostile_runs(prefect: Prefect, deployment: Deployment, tag: str) -> list[FlowRun]:
    async def create(client: PrefectClient) -> list[FlowRun]:
        return [
            await client.create_flow_run_from_deployment(
                deployment.id,
                name=name,
                tags=[tag, *HOSTILE],
                state=Late(scheduled_time=ago(hours=index + 1)),
            )
            for index, name in enumerate(HOSTILE)
        ]

    return prefect.harness(create)


def assert_inert(page: Page) -> None:
    expect(page.locator('img[src="x"]')).to_have_count(0)
    expect(page.locator('a[href^="javascript"]')).to_have_count(0)
    # a rendered `**x**` would be a <strong>x</strong>
    html = page.content()
    assert '<img src="x"' not in html and "<strong>x</strong>" not in html


def test_hostile_names_render_as_inert_text(prefect: Prefect, page: Page, dashboard_url: str) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    uid = unique("xss")
    deployment = prefect.deployment(flow=f"{uid}-**x**", name=f"{uid} [link](javascript:alert(1)) **x**")
    runs = _hostile_runs(prefect, deployment, uid)

    page.goto(dashboard_url)
    expect(page.get_by_text("Late backlog")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    assert_inert(page)

    page.goto(f"{dashboard_url}/late_runs")
    expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
    page.get_by_label("Deployments").fill(uid)
    page.get_by_role("option", name=deployment.full_name).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Preview").click()
    apply_button = page.get_by_role("button", name="Apply to 3 runs…")
    expect(apply_button).to_be_enabled()
    assert_inert(page)
    apply_button.click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # the selection names the deployment: shown literally, `**x**` and the link not rendered
    expect(dialog).to_contain_text(as_shown(deployment.full_name))
    expect(dialog.locator("a")).to_have_count(0)
    assert_inert(page)
    shot(page, "hardening-dialog")
    confirm = dialog.get_by_role("button", name="Apply to 3 runs", exact=True)
    expect(confirm).to_be_enabled()
    # a click while the dialog's script run is still going can be lost: wait until the app is idle
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    confirm.click()

    # the job's report names the deployment in its selection: literally
    expect(page.get_by_test_id("stAlert").filter(has_text="Finished: 3 done")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Done")).to_contain_text("3")
    expect(
        page.get_by_test_id("stCaptionContainer").filter(has_text=as_shown(deployment.full_name))
    ).to_be_visible()
    assert_inert(page)
    shot(page, "hardening-report")
    job_id = page.url.split("job=", 1)[1]
    for run in runs:
        stored = prefect.read(run.id)
        assert stored is not None and stored.state is not None and stored.state.name == "Scheduled"
        assert stored.next_scheduled_start_time > run.next_scheduled_start_time

    page.goto(f"{dashboard_url}/activity")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    assert_inert(page)
    shot(page, "hardening-activity")
    page.goto(f"{dashboard_url}/activity?job={job_id}")
    expect(
        page.get_by_test_id("stCaptionContainer").filter(has_text=as_shown(deployment.full_name))
    ).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    assert_inert(page)
    shot(page, "hardening-job")
    assert alerts == [], f"a dialog fired: {alerts}"
