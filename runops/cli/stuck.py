"""`runops stuck list|clear`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from runops.cli.common import DeploymentOpt, DryRunOpt, JsonOpt, ReasonOpt, YesOpt, emit_json, settings, words

if TYPE_CHECKING:
    from runops.features.stuck import Findings, StuckRequest

stuck_app = typer.Typer(
    help="Runs stuck in Running, Pending or Cancelling: list them, clear them.", no_args_is_help=True
)

FlowOpt = Annotated[list[str] | None, typer.Option("--flow")]
PoolOpt = Annotated[list[str] | None, typer.Option("--work-pool")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="Runs having all these tags.")]
KOpt = Annotated[float, typer.Option("-k", help="Stuck when longer than k × the deployment's p95 duration.")]
OlderOpt = Annotated[
    str, typer.Option("--older-than", help="The age that counts when a deployment has too little history.")
]
CancellingOpt = Annotated[str, typer.Option("--cancelling-for", help="Stuck in Cancelling after this long.")]


def _request(
    deployment: list[str] | None,
    flow: list[str] | None,
    work_pool: list[str] | None,
    tag: list[str] | None,
    k: float,
    older_than: str,
    cancelling_for: str,
    retry: bool = False,
) -> StuckRequest:
    from runops.features.stuck import StuckRequest  # lazily: `runops --help` needs no Prefect

    return StuckRequest(
        deployments=tuple(deployment or ()),
        flows=tuple(flow or ()),
        work_pools=tuple(work_pool or ()),
        tags=tuple(tag or ()),
        k=k,
        older_than=older_than,
        cancelling_for=cancelling_for,
        retry=retry,
    )


def findings_json(findings: Findings) -> dict[str, Any]:
    return {
        "checked": findings.checked,
        "selection": findings.selection,
        "rule": findings.request.rule_words(),
        "runs": [
            {
                "id": str(r.run_id),
                "name": r.name,
                "deployment": r.deployment,
                "state": r.state,
                "since": r.since.isoformat(),
                "in_state_s": round(r.in_state.total_seconds(), 1),
                "usual_p95_s": r.usual.p95.total_seconds() if r.usual.p95 is not None else None,
                "history_runs": r.usual.runs,
                "limit_s": r.limit.total_seconds(),
                "basis": r.basis,
                "work_pool": r.work_pool,
                "live_workers": r.pool.online_workers if r.pool is not None else None,
                "action": r.action,
            }
            for r in findings.stuck
        ],
    }


@stuck_app.command("list")
def stuck_list(
    deployment: DeploymentOpt = None,
    flow: FlowOpt = None,
    work_pool: PoolOpt = None,
    tag: TagOpt = None,
    k: KOpt = 3.0,
    older_than: OlderOpt = "2h",
    cancelling_for: CancellingOpt = "10m",
    as_json: JsonOpt = False,
) -> None:
    """List runs stuck far longer than their deployment usually takes (changes nothing)."""
    from runops.features.stuck import find_stuck
    from runops.prefect_api.client import call
    from runops.timefmt import format_duration

    with words():
        request = _request(deployment, flow, work_pool, tag, k, older_than, cancelling_for)
        findings = call(settings(), find_stuck, request)
    if as_json:
        emit_json(findings_json(findings))
        return
    for r in findings.stuck:
        typer.echo(
            f"{r.action:<15} {r.name:<28} {r.deployment or '-':<32} {r.state:<10} for {format_duration(r.in_state):<9} "
            f"limit {format_duration(r.limit)} ({r.basis}); pool {r.work_pool or '-'}: {r.worker_words}"
        )
    typer.echo(f"{len(findings.stuck):,} stuck of {findings.checked:,} active run(s)")


@stuck_app.command("clear")
def stuck_clear(
    deployment: DeploymentOpt = None,
    flow: FlowOpt = None,
    work_pool: PoolOpt = None,
    tag: TagOpt = None,
    k: KOpt = 3.0,
    older_than: OlderOpt = "2h",
    cancelling_for: CancellingOpt = "10m",
    retry: Annotated[
        bool, typer.Option("--retry", help="Then retry them in place (back to Scheduled).")
    ] = False,
    reason: ReasonOpt = "",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Mark stuck Running/Pending runs Crashed and stuck Cancelling runs Cancelled (their process, if alive, keeps running)."""
    from runops.cli.output import run_job
    from runops.features import stuck

    with words():
        request = _request(deployment, flow, work_pool, tag, k, older_than, cancelling_for, retry)
    run_job(stuck.plan_stuck, request, stuck.apply_stuck, dry_run, yes, as_json, reason)
