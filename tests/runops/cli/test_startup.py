"""The command line starts without prefect, pandas and the engine: they load inside the commands that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runops.dev.server import LocalPrefectServer

ROOT = Path(__file__).resolve().parents[3]
# (not pydantic: typer itself loads it to convert a command's arguments)
HEAVY = ("prefect", "pandas", "altair", "numpy", "sqlalchemy", "runops.engine", "runops.features")

# Runs `runops ARGS` in a fresh interpreter and prints, on the way out, which heavy modules it loaded.
PROBE = f"""
import atexit, sys
atexit.register(lambda: print("loaded:", sorted(m for m in {HEAVY!r} if m in sys.modules)))
from runops.cli import main
sys.argv = ["runops", *sys.argv[1:]]
main()
"""


def _runops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, whatever the venv's install points at
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, runops.cli.app; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_help_lists_every_command_without_loading_them() -> None:
    result = _runops("--help")
    assert result.returncode == 0, result.stderr
    for command in ("late", "cancel", "history", "jobs", "demo", "doctor", "dashboard"):
        assert command in result.stdout
    assert result.stdout.rstrip().endswith("loaded: []"), result.stdout


def test_doctor_checks_health_without_prefect(prefect_server: LocalPrefectServer) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url}
    result = _runops("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "health:      ok (Prefect 3." in result.stdout
    assert result.stdout.rstrip().endswith("loaded: []"), result.stdout


def test_doctor_without_an_api_says_so_without_prefect() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    result = _runops("doctor", env=env)
    assert result.returncode == 3
    assert "PREFECT_API_URL is not set" in result.stdout
    assert result.stdout.rstrip().endswith("loaded: []"), result.stdout
