"""Benchmark plumbing: a throwaway Prefect server per benchmark and a plain-text results table."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Benchmarks never use an ephemeral server or the user's profile.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="runops-bench-home-"))
os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"

from runops.server import LocalPrefectServer
from runops.settings import Settings


@contextmanager
def bench_server(database_url: str | None = None, services: bool = False) -> Iterator[LocalPrefectServer]:
    """A fresh local server (SQLite in a temp dir unless `database_url`); background services off
    by default so the late-marking loop does not compete with what is measured."""
    home = tempfile.mkdtemp(prefix="runops-bench-")
    server = LocalPrefectServer(home, ui=False, services=services, database_url=database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settings_for(server: LocalPrefectServer) -> Settings:
    return Settings(api_url=server.api_url, ui_url=server.ui_url)


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then `t[0]` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


@dataclass
class Row:
    benchmark: str
    variant: str
    runs: int
    seconds: float
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else float("inf")


def table(rows: Sequence[Row], baseline: str | None = None) -> str:
    """Markdown table; `ratio` is each variant's speed relative to `baseline` (same benchmark)."""
    base = {r.benchmark: r for r in rows if r.variant == baseline}
    lines = [
        "| benchmark | variant | runs | seconds | runs/s | ratio | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ref = base.get(r.benchmark)
        ratio = f"{ref.seconds / r.seconds:.2f}×" if ref and r.seconds > 0 else ""
        lines.append(
            f"| {r.benchmark} | {r.variant} | {r.runs:,} | {r.seconds:.2f} | {r.per_second:.1f} | {ratio} | {r.note} |"
        )
    return "\n".join(lines)


def machine() -> str:
    import prefect

    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} · {platform.machine()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · prefect {prefect.__version__}"
    )
