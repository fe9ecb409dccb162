"""Shared pieces of the command line: options, exit codes, settings, the store, Ctrl-C handling."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from runops.errors import RunopsError
from runops.settings import Settings

if TYPE_CHECKING:  # the engine and the store load with the commands that use them: `--help` stays fast
    from runops.engine.execute import StopSignal
    from runops.store import Store

EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130  # stopped before every run was answered (Ctrl-C): resume finishes it

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ReasonOpt = Annotated[
    str,
    typer.Option(
        "--reason",
        help="Why (an incident id, a sentence): kept in the job and the audit log and written into each"
        " changed run's state message. Required when RUNOPS_REQUIRE_REASON=1.",
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        min=1,
        metavar="N",
        help="Keep exactly N requests in flight (a whole number ≥ 1); default: start at 4 and adapt.",
    ),
]
DeploymentOpt = Annotated[
    list[str] | None,
    typer.Option("--deployment", "-d", help='Deployment ("flow/deployment" or a unique name).'),
]


def err(message: str) -> None:
    typer.echo(message, err=True)


def settings() -> Settings:
    return Settings.from_env()


@contextmanager
def words() -> Iterator[None]:
    """Every runops error leaves as a sentence on stderr with its exit code; never a traceback."""
    try:
        yield
    except RunopsError as exc:
        err(f"runops: {exc}")
        raise typer.Exit(exc.exit_code) from None


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def local_zone() -> str:
    """This machine's time zone by name (TZ, /etc/timezone), UTC when it cannot be told."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _etc_timezone()):
        if name:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return "UTC"


def _etc_timezone() -> str:
    try:
        return Path("/etc/timezone").read_text().strip()
    except OSError:
        return ""


def store_of(s: Settings) -> Store:
    from runops.store import default_store

    return default_store(s.home)


@contextmanager
def ctrl_c_stops(stop: StopSignal) -> Iterator[None]:
    """The first Ctrl-C stops sending (answers in flight are awaited and recorded); a second one
    leaves at once (the job is then found interrupted, and a resume re-reads what was in flight)."""
    from runops.store.jobs import INTERRUPTED

    def on_sigint(_signum: int, _frame: object) -> None:
        if stop():
            raise KeyboardInterrupt
        stop.request(INTERRUPTED)
        err("runops: stopping — waiting for the answers in flight (Ctrl-C again to leave at once)…")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def left_at_once() -> Iterator[None]:
    """A second Ctrl-C: the job was recorded interrupted on the way out; say how to go on."""
    try:
        yield
    except KeyboardInterrupt:
        err(
            "runops: left at once; the job is interrupted — `runops jobs list` shows it, `runops jobs resume ID` finishes it"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
