"""`runops dashboard` (what `make dashboard` runs): embedded server + demo data + dashboard, and nothing left after Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from runops.dev.server import free_port
from runops.features.overview import state_counts
from runops.prefect_api.client import call
from runops.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def _process_groups() -> dict[int, int]:
    """pid → process group id of every live process."""
    groups = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":  # zombies are already dead
                groups[int(entry.name)] = int(fields[2])
    return groups


def _start(home: Path, port: int, prefect_port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env["RUNOPS_HOME"] = str(home)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runops",
            "dashboard",
            "--port",
            str(port),
            "--prefect-port",
            str(prefect_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen, home: Path, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    state_file = home / "launcher.json"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if state_file.exists():
            return json.loads(state_file.read_text())
        time.sleep(0.5)
    raise AssertionError("launcher not ready in time")


def _stop_and_check(proc: subprocess.Popen, info: dict) -> str:
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    groups = _process_groups()
    for key in ("dashboard", "server"):
        leader = info[key]
        left = [pid for pid, pgid in groups.items() if pgid == leader]
        assert not left, f"{key} processes left behind: {left}"
    return output


def test_embedded_default_seeds_once_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port, prefect_port = free_port(), free_port()

    proc = _start(home, port, prefect_port)
    info = _wait_ready(proc, home)
    try:
        assert httpx.get(f"{info['dashboard_url']}/_stcore/health", timeout=5).status_code == 200
        counts = call(Settings(api_url=info["api_url"]), state_counts)
        assert counts["Late"] >= 30
        assert counts["Completed"] >= 250
        assert all(
            counts[s] > 0 for s in ("Scheduled", "Pending", "Running", "Failed", "Crashed", "Cancelled")
        )
        assert (home / "server" / "prefect.db").exists()
    finally:
        output = _stop_and_check(proc, info)
    assert "Seeding demo data" in output

    # a second start reuses the data and does not seed again
    (home / "launcher.json").unlink()
    proc = _start(home, port, prefect_port)
    info = _wait_ready(proc, home)
    try:
        again = call(Settings(api_url=info["api_url"]), state_counts)
        assert again["Completed"] == counts["Completed"]
    finally:
        output = _stop_and_check(proc, info)
    assert "Seeding demo data" not in output
