"""`runops late list|reschedule`."""

from __future__ import annotations

from typing import Annotated

import typer

from runops.cli.common import (
    ConcurrencyOpt,
    DeploymentOpt,
    DryRunOpt,
    JsonOpt,
    ReasonOpt,
    YesOpt,
    emit_json,
    settings,
    words,
)
from runops.errors import BadInput
from runops.timefmt import format_duration

late_app = typer.Typer(help="Late runs: list them, reschedule them.", no_args_is_help=True)


@late_app.command("list")
def late_list(
    deployment: DeploymentOpt = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="State name (default Late).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List late runs (all of them, newest scheduled first)."""
    from runops.features import overview
    from runops.prefect_api.client import call

    with words():
        rows = call(settings(), overview.list_late, tuple(deployment or ()), tuple(state or ("Late",)))
    if as_json:
        emit_json(
            [
                {
                    "id": str(r.run_id),
                    "name": r.name,
                    "deployment": r.deployment,
                    "state": r.state,
                    "scheduled_time": r.scheduled.isoformat() if r.scheduled else None,
                    "late_by_s": r.late_by_s,
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        when = f"{r.scheduled:%Y-%m-%d %H:%M UTC}" if r.scheduled else "-"
        typer.echo(
            f"{r.name:<28} {r.deployment:<36} {r.state:<10} {when}  late by {format_duration(r.late_by_s)}"
        )
    typer.echo(f"{len(rows):,} run(s)")


@late_app.command("reschedule")
def late_reschedule(
    deployment: DeploymentOpt = None,
    delay: Annotated[str | None, typer.Option(help="Shift each run by this much, e.g. 6h, 90m, 2d.")] = None,
    at: Annotated[str | None, typer.Option(help="Move every run to this time (ISO, or now+2h).")] = None,
    spread: Annotated[
        tuple[str, str] | None, typer.Option(help="Spread runs evenly over START END (ISO or now+…).")
    ] = None,
    most_recent: Annotated[
        int | None, typer.Option("--most-recent", help="Reschedule only the N most recent late runs.")
    ] = None,
    remaining: Annotated[
        str, typer.Option(help="What to do with the rest of the backlog: leave (default), cancel or delete.")
    ] = "leave",
    state: Annotated[list[str] | None, typer.Option("--state", help="Late (default) or Scheduled.")] = None,
    recreate: Annotated[
        bool, typer.Option(help="Recreate each run (new id) instead of rescheduling it in place.")
    ] = False,
    allow_past: Annotated[bool, typer.Option(help="Allow new times that are already in the past.")] = False,
    allow_long_delay: Annotated[
        bool, typer.Option("--allow-long-delay", help="Allow a --delay of more than 30 days.")
    ] = False,
    reason: ReasonOpt = "",
    concurrency: ConcurrencyOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Reschedule late runs of one or more deployments (in place: same run, id and history)."""
    from runops.cli.output import run_job
    from runops.features import late

    with words():
        chosen = [name for name, value in (("--delay", delay), ("--at", at), ("--spread", spread)) if value]
        if len(chosen) != 1:
            raise BadInput("Give exactly one of --delay, --at or --spread.")
        if not deployment:
            raise BadInput("Name at least one --deployment.")
        request = late.RescheduleRequest(
            deployments=tuple(deployment),
            policy={"--delay": "shift", "--at": "fixed", "--spread": "spread"}[chosen[0]],
            delay=delay,
            at=at,
            window_start=spread[0] if spread else None,
            window_end=spread[1] if spread else None,
            limit=most_recent,
            remainder=remaining,
            states=tuple(state or ("Late",)),
            mode="recreate" if recreate else "in_place",
            allow_past=allow_past,
            allow_long=allow_long_delay,
        )
    run_job(late.plan_reschedule, request, late.apply_reschedule, dry_run, yes, as_json, reason, concurrency)
