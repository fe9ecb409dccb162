"""An installed wheel is the whole product: built from this tree, installed in a fresh venv, its
`runops dashboard` serves every page against a real Prefect server, with no source checkout around."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from runops.dev.server import LocalPrefectServer, free_port
from ui.nav import PAGES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "app.py", "pages", "runops", "ui", ".streamlit/config.toml")


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH: the installed wheel must stand on its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PREFECT_API_URL")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from this tree.

    The wheel is built from a copy, so build/ and *.egg-info never land in the checkout. It is
    installed without its dependencies; one .pth line lends it this venv's installed packages
    (whose .pth files, such as the editable install of this checkout, are not run from there).
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, target)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, source],
        check=True,
        env=_clean_env(),
        timeout=300,
    )
    (wheel,) = dist.glob("runops-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        env=_clean_env(),
        timeout=300,
    )
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "runops-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def test_the_wheel_holds_the_dashboard_and_the_cli(venv: Path) -> None:
    share = venv / "share" / "runops"
    assert (share / "app.py").is_file()
    assert (share / ".streamlit" / "config.toml").is_file()
    assert sorted(p.name for p in (share / "pages").glob("*.py")) == sorted(
        Path(spec.path).name for spec in PAGES
    )
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import runops, ui; print(runops.__file__, ui.__file__)"],
        env=_clean_env(),
        cwd=venv.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(path.startswith(str(venv)) for path in where), where
    result = subprocess.run(
        [venv / "bin" / "runops", "--help"], env=_clean_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "dashboard" in result.stdout


@pytest.fixture
def served(venv: Path, prefect_server: LocalPrefectServer, tmp_path: Path) -> Iterator[dict]:
    """`runops dashboard` of the installed wheel, started outside any checkout; stopped with Ctrl-C."""
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [venv / "bin" / "runops", "dashboard", "--port", str(free_port()), "--no-demo"],
        env=_clean_env(PREFECT_API_URL=prefect_server.api_url, RUNOPS_HOME=str(home)),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    state = home / "launcher.json"
    deadline = time.monotonic() + 180
    while not state.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "runops dashboard not ready in time"
        time.sleep(0.5)
    info = json.loads(state.read_text())
    try:
        yield info
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output


def test_runops_dashboard_serves_every_page(served: dict, venv: Path, browser) -> None:
    # the installed app.py is what Streamlit runs
    command = Path(f"/proc/{served['dashboard']}/cmdline").read_bytes().split(b"\0")
    assert str(venv / "share" / "runops" / "app.py").encode() in command

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        page.goto(served["dashboard_url"])
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        expect(page.get_by_text("Healthy · Prefect 3.")).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_role("link")).to_have_count(len(PAGES))
        nav.get_by_role("link", name="Late runs", exact=True).click()
        expect(page.get_by_role("heading", name="Late runs")).to_be_visible()
    finally:
        context.close()
