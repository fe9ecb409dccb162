"""`runops retry`."""

from __future__ import annotations

from typing import Annotated

import typer

from runops.cli.common import DeploymentOpt, DryRunOpt, JsonOpt, ReasonOpt, YesOpt, local_zone, words


def retry_runs(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="Failed, Crashed (default both) or Cancelled."),
    ] = None,
    deployment: DeploymentOpt = None,
    flow: Annotated[list[str] | None, typer.Option("--flow")] = None,
    work_pool: Annotated[list[str] | None, typer.Option("--work-pool")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Runs having all these tags.")] = None,
    ended_after: Annotated[
        str, typer.Option(help="Only runs that ended after T (default: 24 h ago): ISO, now-6h, 10:00.")
    ] = "",
    ended_before: Annotated[str, typer.Option(help="Only runs that ended before T.")] = "",
    at: Annotated[str, typer.Option(help="Schedule every retry for T instead of now.")] = "",
    spread: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Spread the retries over START END, oldest failure first."),
    ] = None,
    latest_per_deployment: Annotated[
        bool, typer.Option("--latest-per-deployment", help="Only the newest failed run of each deployment.")
    ] = False,
    utc: Annotated[
        bool, typer.Option("--utc", help="Read times without a zone as UTC, not local time.")
    ] = False,
    reason: ReasonOpt = "",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Put failed and crashed runs back to Scheduled in place (same id and parameters), now, at T or spread."""
    from runops.cli.output import run_job
    from runops.features import retry  # lazily: `runops --help` needs no Prefect

    with words():
        request = retry.RetryRequest(
            states=tuple(state or retry.DEFAULT_STATES),
            deployments=tuple(deployment or ()),
            flows=tuple(flow or ()),
            work_pools=tuple(work_pool or ()),
            tags=tuple(tag or ()),
            ended_after=ended_after,
            ended_before=ended_before,
            at=at,
            spread=spread,
            latest_per_deployment=latest_per_deployment,
            zone="UTC" if utc else local_zone(),
        )
    run_job(retry.plan_retry, request, retry.apply_retry, dry_run, yes, as_json, reason)
