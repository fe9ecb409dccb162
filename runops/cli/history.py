"""`runops history` and `runops doctor`: the read-only verbs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from runops.access import cli_actor
from runops.cli.common import (
    DeploymentOpt,
    JsonOpt,
    emit_json,
    err,
    settings,
    words,
)
from runops.timefmt import format_duration


def history_cmd(
    last: Annotated[int, typer.Option("--last", help="How many of the newest finished runs.")] = 100,
    deployment: DeploymentOpt = None,
    include_failed: Annotated[
        bool, typer.Option("--include-failed", help="Also Failed and Crashed runs.")
    ] = False,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the runs to this CSV file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The last N completed runs with durations and start lateness."""
    from runops.features import history
    from runops.prefect_api.client import call

    s = settings()
    with words():
        request = history.HistoryRequest(
            limit=last, deployments=tuple(deployment or ()), include_failed=include_failed
        )
        result = call(s, history.load_history, request, s.run_url)
    frame = result.runs
    if csv is not None:
        csv.write_bytes(history.to_csv(frame))
        err(f"wrote {len(frame):,} run(s) to {csv}")
    if as_json:
        emit_json(json.loads(frame.to_json(orient="records", date_format="iso")))
        return
    for row in frame.itertuples():
        typer.echo(
            f"{row.end:%Y-%m-%d %H:%M} {row.state:<10} {row.name:<28} {row.deployment:<36} "
            f"took {format_duration(row.duration_s)}, started {format_duration(row.lateness_s)} late"
        )
    o = result.overall
    rate = f", success {o.success_rate:.0%}" if o.success_rate is not None else ""
    typer.echo(
        f"{len(frame):,} run(s) of {result.matching:,} matching{rate}; median duration "
        f"{format_duration(o.median_duration_s)}, median lateness {format_duration(o.median_lateness_s)}"
    )


def doctor() -> None:
    """Which API, whether it is healthy, its version and the credentials in use — in words."""
    from runops.prefect_api.health import health

    s = settings()
    result = health(s)
    typer.echo(f"API:         {s.api_url or 'not set'}")
    typer.echo(f"UI:          {s.ui_url or 'unknown'}")
    typer.echo(f"credentials: {s.auth_kind}")
    typer.echo(f"acting as:   {cli_actor()}")
    if result.ok:
        typer.echo(f"health:      ok (Prefect {result.server_version})")
        return
    typer.echo(f"health:      {result.message}")
    raise typer.Exit(3)
