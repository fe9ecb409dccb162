"""`runops cancel`."""

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
    local_zone,
    words,
)


def cancel_runs(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Default: Pending, Running, Scheduled, Late.")
    ] = None,
    deployment: DeploymentOpt = None,
    flow: Annotated[list[str] | None, typer.Option("--flow")] = None,
    work_pool: Annotated[list[str] | None, typer.Option("--work-pool")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Runs having all these tags.")] = None,
    include_subflows: Annotated[bool, typer.Option("--include-subflows")] = False,
    force_stuck: Annotated[
        bool, typer.Option("--force-stuck", help="Mark runs stuck in Cancelling as Cancelled (force).")
    ] = False,
    scheduled_after: Annotated[
        str,
        typer.Option(help="Only runs due after T (the time they are scheduled for now): ISO, now±6h, 10:00."),
    ] = "",
    scheduled_before: Annotated[str, typer.Option(help="Only runs due before T.")] = "",
    utc: Annotated[
        bool, typer.Option("--utc", help="Read times without a zone as UTC, not local time.")
    ] = False,
    reason: ReasonOpt = "",
    concurrency: ConcurrencyOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Cancel every matching run: not started → Cancelled, Pending/Running → Cancelling; finished runs untouched."""
    from runops.cli.output import run_job
    from runops.engine.apply import bounded_options
    from runops.features import cancel

    with words():
        selection = cancel.build_selection(
            states=tuple(state or ()),
            deployments=tuple(deployment or ()),
            flows=tuple(flow or ()),
            work_pools=tuple(work_pool or ()),
            tags=tuple(tag or ()),
            window_on="scheduled",
            window_from=scheduled_after,
            window_to=scheduled_before,
            zone="UTC" if utc else local_zone(),
        )
    request = cancel.CancelRequest(
        selection=selection, include_subflows=include_subflows, force_stuck=force_stuck
    )
    run_job(
        cancel.plan_cancel,
        request,
        cancel.apply_cancel,
        dry_run,
        yes,
        as_json,
        reason,
        concurrency,
        lambda plan: bounded_options(len(plan.to_change)),
    )
