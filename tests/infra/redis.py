"""A throwaway Redis (Debian's redis-server) on a free port in a temp dir, no persistence."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runops.dev.server import free_port, stop_process_group


@dataclass
class RedisServer:
    host: str
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _wait_ready(server: RedisServer, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with {server.proc.returncode}:\n{log.read_text()[-2000:]}"
            )
        if server.ping():
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis-server on port {server.port} not ready after {timeout:.0f}s")


@contextmanager
def redis_server(timeout: float = 30.0) -> Iterator[RedisServer]:
    """A running redis-server in its own process group; stopped and its dir removed after."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: run `make services` (apt-get install redis-server)")
    root = Path(tempfile.mkdtemp(prefix="runops-redis-"))
    port = free_port()
    log = root / "redis.log"
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(root),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--logfile",
        str(log),
    ]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = RedisServer(host="127.0.0.1", port=port, proc=proc)
    try:
        _wait_ready(server, log, timeout)
        yield server
    finally:
        stop_process_group(proc, timeout=10.0)
        shutil.rmtree(root, ignore_errors=True)
