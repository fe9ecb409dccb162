"""`runops jobs list|show|resume|stop|undo`: every change runops made or is making."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from runops.access import cli_actor
from runops.cli.common import (
    DryRunOpt,
    JsonOpt,
    ReasonOpt,
    YesOpt,
    ctrl_c_stops,
    emit_json,
    left_at_once,
    local_zone,
    settings,
    store_of,
    words,
)
from runops.errors import BadInput

if TYPE_CHECKING:  # the engine and the store load with the commands that use them: `--help` stays fast
    from runops.store.jobs import Job

jobs_app = typer.Typer(
    help="Jobs: every change runops made or is making; resume or undo one.", no_args_is_help=True
)


def _job_line(job: Job) -> str:
    t = job.totals
    counts = f"{t['done']:,} done, {t['skipped']:,} skipped, {t['failed']:,} failed"
    if t["not_attempted"]:
        counts += f", {t['not_attempted']:,} not attempted"
    if job.status == "running":
        counts = f"{job.answered:,} of {job.planned:,} answered: " + counts
    return (
        f"{job.id}  {job.started:%Y-%m-%d %H:%M}  {job.status:<11} {job.action:<22} "
        f"{job.planned:>6,} planned · {counts} · {job.actor}"
    )


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option("--limit", help="How many of the newest jobs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs, newest first: what, who, when, status and totals."""
    with words():
        if limit <= 0:
            raise BadInput(f"--limit must be at least 1 (got {limit}).")
        found = store_of(settings()).jobs.list(limit=limit)
    if as_json:
        emit_json([job.as_json() for job in found])
        return
    for job in found:
        typer.echo(_job_line(job))
    typer.echo(f"{len(found):,} job(s)")


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="The job's id.")], as_json: JsonOpt = False) -> None:
    """One job with every run: before, intended change, outcome and why."""
    with words():
        store = store_of(settings())
        job = store.jobs.get(job_id)
        runs = store.jobs.runs(job_id)
    if as_json:
        emit_json({**job.as_json(), "policy": job.policy, "runs": [r.as_json() for r in runs]})
        return
    typer.echo(_job_line(job))
    typer.echo(f"  selection: {job.selection}")
    if job.policy:
        typer.echo(f"  policy:    {job.policy}")
    if job.reason:
        typer.echo(f"  reason:    {job.reason}")
    for run in runs:
        item = run.item
        new = f" → {item.new_time:%Y-%m-%d %H:%M:%S UTC}" if item.new_time else ""
        why = f" — {run.reason}" if run.reason else ""
        typer.echo(
            f"  {run.outcome or 'pending':<13} {item.action:<16} {item.name:<28} {item.state}{new}"
            f" → {run.after or '-'}{why}"
        )


@jobs_app.command("resume")
def jobs_resume(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    allow_past: Annotated[
        bool, typer.Option(help="Apply new times that have passed since the job was planned.")
    ] = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Finish a stopped, interrupted or failed job: every run not yet done is re-read and changed
    only if it is still as the plan found it (never twice)."""
    from runops.cli.output import confirm, finish, progress_bar
    from runops.engine import jobs
    from runops.engine.execute import StopSignal
    from runops.prefect_api.client import call
    from runops.store.jobs import RUNNING, JobBusy

    s = settings()
    with words():
        store = store_of(s)
        found = jobs.resume_plan(store, job_id)
        if found.job.status == RUNNING:
            raise JobBusy(
                f"Job {job_id} is running now; it can be resumed once it stops or its process is gone."
            )
        if not found.todo.items:
            if as_json:
                emit_json({**found.job.as_json(), "job": found.job.id, "nothing_to_do": True})
            else:
                typer.echo(f"Nothing to do: job {job_id} is {found.job.status}, every run answered.")
            return
        confirm(found.todo, yes)
        stop = StopSignal()
        with progress_bar(len(found.todo)) as advance, ctrl_c_stops(stop), left_at_once():
            report = call(
                s,
                jobs.resume,
                store,
                job_id,
                actor=cli_actor(),
                progress=advance,
                stop=stop,
                allow_past=allow_past,
            )
    assert report is not None
    finish(report, as_json)


@jobs_app.command("stop")
def jobs_stop(job_id: Annotated[str, typer.Argument(help="The job's id.")]) -> None:
    """Ask a running job (wherever it runs) to stop sending; it records the rest as not attempted."""
    with words():
        store = store_of(settings())
        if not store.jobs.request_stop(job_id):
            raise BadInput(f"Job {job_id} is not running ({store.jobs.get(job_id).status}).")
    typer.echo(f"Asked job {job_id} to stop; it finishes the requests in flight first.")


@jobs_app.command("undo")
def jobs_undo(
    job_id: Annotated[str, typer.Argument(help="The reschedule, retry or cancel job to undo.")],
    reason: ReasonOpt = "",
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Put back the runs a reschedule, retry or cancel job changed: each only if it is still exactly
    as the job left it (else listed with why). The undo is a job itself; it cannot be undone."""
    from runops.cli.output import run_job
    from runops.features import undo  # lazily: `runops --help` needs no Prefect

    with words():
        request = undo.UndoRequest(job_id, store_of(settings()), zone=local_zone())
    run_job(undo.plan_undo, request, undo.apply_undo, dry_run, yes, as_json, reason)
