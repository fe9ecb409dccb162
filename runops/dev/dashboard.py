"""Serve the dashboard as a child process (`streamlit run app.py`, via ui.serve) and stop it cleanly."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx

from runops.dev.server import free_port, spawn_group, stop_process_group

CHECKOUT = Path(__file__).resolve().parents[2]
SHARE = Path(
    "share", "runops"
)  # where the wheel installs app.py, pages/ and .streamlit/ (pyproject data-files)


def app_dir() -> Path:
    """The folder holding app.py, pages/ and .streamlit/config.toml.

    The source checkout this code runs from comes first (a clone or an editable install, whose
    share/ copy would be stale); else where an installed wheel put them: its prefix's
    share/runops (a venv or the system), or the user base's after `pip install --user`.
    """
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "app.py").is_file():
        return CHECKOUT
    prefixes = dict.fromkeys([sys.prefix, sysconfig.get_path("data"), site.getuserbase()])
    for prefix in prefixes:
        if (Path(prefix) / SHARE / "app.py").is_file():
            return Path(prefix) / SHARE
    raise FileNotFoundError(
        f"the dashboard's app.py is neither in a source checkout ({CHECKOUT}) nor under "
        f"{', '.join(str(Path(p) / SHARE) for p in prefixes)}: reinstall runops"
    )


def secrets_files() -> list[str]:
    """Streamlit's secrets.toml places as seen from where runops was started (the user's
    ~/.streamlit, then this folder's .streamlit): Streamlit itself runs in app_dir()."""
    return [str(Path.home() / ".streamlit" / "secrets.toml"), str(Path.cwd() / ".streamlit" / "secrets.toml")]


def start_dashboard(
    env: dict[str, str],
    port: int | None = None,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start Streamlit on `port` (or a free one); returns the process and its URL once healthy.

    `extra_args` go to `streamlit run` (e.g. `["--secrets.files", path]` for another secrets.toml).
    """
    port = free_port(port)
    root = app_dir()
    extra_args = list(extra_args or [])
    if "--secrets.files" not in extra_args:
        extra_args += [arg for path in secrets_files() for arg in ("--secrets.files", path)]
    command = [
        sys.executable,
        "-m",
        "ui.serve",  # `streamlit run`, routed by app.py's st.navigation from the first request
        "run",
        str(root / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *extra_args,
    ]
    # in app_dir(): Streamlit reads .streamlit/config.toml from its working directory
    proc = spawn_group(command, env, log_path, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_process_group(proc)
    raise TimeoutError("streamlit did not become healthy within 60s")
