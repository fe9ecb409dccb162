"""Start, probe and stop a real local Prefect server (the embedded default, tests and benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port(preferred: int | None = None) -> int:
    """Return `preferred` if it is free on 127.0.0.1, otherwise any free port."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


def wait_healthy(api_url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `/health` until the server answers; fail early if its process died."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"Prefect server exited with code {proc.returncode} before it was healthy")
        try:
            response = httpx.get(f"{api_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.25)
    raise TimeoutError(f"Prefect server at {api_url} not healthy after {timeout:.0f}s ({last_error})")


@dataclass
class LocalPrefectServer:
    """A `prefect server start` process with its own home and database.

    The process gets its own session (process group) so that stopping it also stops
    the uvicorn children it spawns: no orphan is left behind.
    """

    home: Path
    port: int | None = None
    database_url: str | None = None
    ui: bool = True
    services: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    proc: subprocess.Popen | None = None
    # `--workers N`: more than one API worker needs PostgreSQL and Redis (tests/infra/scaled.py).
    workers: int = 1

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.home.mkdir(parents=True, exist_ok=True)
        if self.database_url is None:
            self.database_url = sqlite_url(self.home / "prefect.db")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PREFECT_") or k == "PREFECT_SERVER_API_AUTH_STRING"
        }
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_DATABASE_CONNECTION_URL=str(self.database_url),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_ENABLED="true" if self.ui else "false",
            PREFECT_SERVER_EPHEMERAL_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        if self.port:
            # `--port` does not reach the UI: without this its /ui-settings name Prefect's
            # default port 4200 and the UI cannot find its API on any other port.
            env["PREFECT_SERVER_UI_API_URL"] = self.api_url
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120.0) -> LocalPrefectServer:
        self.port = free_port(self.port)
        command = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if not self.services:
            command.append("--no-services")
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        log_path = self.log_path or self.home / "server.log"
        self.proc = spawn_group(command, self.environment(), log_path)
        try:
            wait_healthy(self.api_url, timeout=timeout, proc=self.proc)
        except Exception as exc:
            self.stop()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Prefect server failed to start ({exc}); log tail:\n{tail}") from None
        return self

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        stop_process_group(proc, timeout)

    def kill(self) -> None:
        """Kill without a chance to clean up: the fault-injection path of tests."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> LocalPrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_group(
    command: list[str], env: dict[str, str], log_path: Path | None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start `command` in its own session (process group), output appended to `log_path`.

    Its own group lets `stop_process_group` stop it with every child it spawns; the parent's
    handle on the log is closed at once, the child keeps its own.
    """
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if log is not None:
            log.close()


def stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after `timeout`."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
