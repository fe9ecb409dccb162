"""`runops dashboard`: connect to PREFECT_API_URL, or start the embedded Prefect server (seeded once), then serve.

Ctrl-C (or SIGTERM) stops the dashboard and the embedded server together; both run in their
own process groups, which are stopped as a whole, so nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import webbrowser
from pathlib import Path

from runops.dev.dashboard import start_dashboard
from runops.dev.server import LocalPrefectServer, stop_process_group
from runops.prefect_api.client import call
from runops.settings import Settings


def _say(message: str) -> None:
    print(f"[runops] {message}", flush=True)


def _seed(settings: Settings, database_url: str) -> None:
    from runops.dev import demo

    _say("Seeding demo data (first start only; about a minute)…")
    _say(call(settings, demo.seed, database_url))


def _embedded_server(home: Path, env: dict[str, str], prefect_port: int, demo: bool) -> LocalPrefectServer:
    """Start the embedded Prefect server (and seed demo data once); points `env` at it."""
    server = LocalPrefectServer(home / "server", port=prefect_port, ui=True)
    _say(f"Starting the embedded Prefect server (data in {server.home})…")
    server.start()
    _say(f"Prefect server: {server.api_url} · Prefect UI: {server.ui_url}")
    env["PREFECT_API_URL"] = server.api_url
    env.setdefault("PREFECT_UI_URL", server.ui_url)
    marker = home / "demo-seeded"
    if demo and not marker.exists():
        _seed(Settings(api_url=server.api_url), str(server.database_url))
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
    return server


def _write_pids(
    home: Path, dashboard: subprocess.Popen, server: LocalPrefectServer | None, url: str, api: str
) -> None:
    """What `make` and the tests read to find (and stop) what this launcher started."""
    pids = {
        "launcher": os.getpid(),
        "dashboard": dashboard.pid,
        "server": server.proc.pid if server and server.proc else None,
        "dashboard_url": url,
        "api_url": api,
    }
    (home / "launcher.json").write_text(json.dumps(pids))


def serve(port: int = 8501, prefect_port: int = 4200, demo: bool = True) -> int:
    """Serve until Ctrl-C, SIGTERM or the dashboard's exit; returns the exit code."""
    home = Path(os.environ.get("RUNOPS_HOME") or ".runops").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"  # never a silent throwaway server
    env["RUNOPS_HOME"] = str(home)
    server: LocalPrefectServer | None = None
    dashboard: subprocess.Popen | None = None
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    # both explicitly: a launcher started in the background of a script inherits an ignored SIGINT
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if env.get("PREFECT_API_URL"):
            _say(f"Using the Prefect API at {env['PREFECT_API_URL']} (PREFECT_API_URL).")
        else:
            server = _embedded_server(home, env, prefect_port, demo)
        dashboard, url = start_dashboard(env, port=port, log_path=home / "dashboard.log")
        _write_pids(home, dashboard, server, url, env["PREFECT_API_URL"])
        _say(f"Dashboard: {url}  (Ctrl-C stops everything)")
        if os.environ.get("DISPLAY") or sys.platform == "darwin":
            webbrowser.open(url)  # a desktop session: open it; on a server, the URL above is enough
        while dashboard.poll() is None:
            time.sleep(0.5)
        _say(f"The dashboard exited with code {dashboard.returncode}; see {home / 'dashboard.log'}.")
        return dashboard.returncode or 1
    except KeyboardInterrupt:
        _say("Stopping…")
        return 0
    except Exception as exc:
        _say(f"Could not start: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        if dashboard is not None:
            stop_process_group(dashboard)
        if server is not None:
            server.stop()
        _say("Stopped." if stopping or dashboard is not None else "Done.")
