"""Serve the dashboard as a child process (`streamlit run app.py`, via ui.serve) and stop it cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from runops.dev.server import free_port, spawn_group, stop_process_group

ROOT = Path(__file__).resolve().parents[2]


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
    command = [
        sys.executable,
        "-m",
        "ui.serve",  # `streamlit run`, routed by app.py's st.navigation from the first request
        "run",
        str(ROOT / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *(extra_args or []),
    ]
    proc = spawn_group(command, env, log_path, cwd=ROOT)
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
