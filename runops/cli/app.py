"""The `runops` command line: the dashboard's jobs for scripts, cron and incident runbooks.

A second entrypoint over the same service functions as the pages; it adds only argument
parsing, confirmation, a progress bar and output (text or one JSON document).
Exit codes: 0 done or nothing to do · 1 some runs failed · 2 bad input or refused ·
3 API unreachable, unauthorised or not configured.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from runops.access import cli_actor
from runops.engine import jobs
from runops.engine.execute import StopSignal
from runops.engine.operations import DONE, FAILED, Plan, Progress, Report, RunResult
from runops.errors import BadInput, NotAllowed, RunopsError
from runops.features import cancel, history, late, overview
from runops.prefect_api.client import call, health
from runops.settings import Settings
from runops.store import Store, default_store
from runops.store.jobs import INTERRUPTED, RUNNING, STOPPED, Job, JobBusy
from runops.timefmt import format_duration

app = typer.Typer(
    help="Bulk operations on a Prefect 3 server: late runs, bulk cancel, history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
late_app = typer.Typer(help="Late runs: list them, reschedule them.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for the embedded server.", no_args_is_help=True)
jobs_app = typer.Typer(help="Jobs: every change runops made or is making; resume one.", no_args_is_help=True)
app.add_typer(late_app, name="late")
app.add_typer(demo_app, name="demo")
app.add_typer(jobs_app, name="jobs")

EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130  # stopped before every run was answered (Ctrl-C): resume finishes it

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ReasonOpt = Annotated[
    str, typer.Option("--reason", help="Why (an incident id, a sentence): kept in the job and the audit log.")
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


def describe_plan(plan: Plan) -> str:
    counts = ", ".join(f"{action} {n:,}" for action, n in sorted(plan.counts().items()))
    lines = [
        f"{plan.action}: {len(plan.to_change):,} run(s) will change ({counts})",
        f"  selection: {plan.selection}",
    ]
    if plan.policy:
        lines.append(f"  policy:    {plan.policy}")
    lines.extend(f"  warning:   {w}" for w in plan.warnings)
    return "\n".join(lines)


def plan_rows(plan: Plan, limit: int | None = None) -> list[str]:
    items = plan.items if limit is None else plan.items[:limit]
    rows = []
    for item in items:
        new = f" → {item.new_time:%Y-%m-%d %H:%M:%S UTC}" if item.new_time else ""
        note = f"  ({item.reason})" if item.reason else ""
        rows.append(
            f"  {item.action:<16} {item.name:<28} {item.deployment or '-':<32} {item.state}{new}{note}"
        )
    return rows


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "action": plan.action,
        "selection": plan.selection,
        "policy": plan.policy,
        "planned": len(plan.to_change),
        "dry_run": True,
        "counts": plan.counts(),
        "warnings": list(plan.warnings),
        "runs": [
            {
                "id": str(i.run_id),
                "name": i.name,
                "deployment": i.deployment,
                "state": i.state,
                "action": i.action,
                "scheduled_time": i.scheduled_time.isoformat() if i.scheduled_time else None,
                "new_time": i.new_time.isoformat() if i.new_time else None,
                "reason": i.reason,
                "warnings": list(i.warnings),
            }
            for i in plan.items
        ],
    }


def confirm(plan: Plan, yes: bool) -> None:
    """Without --yes: show the plan, ask for the count to be typed; with no terminal, refuse."""
    if yes:
        return
    n = len(plan.to_change)
    err(describe_plan(plan))
    for row in plan_rows(plan, 10):
        err(row)
    if len(plan) > 10:
        err(f"  … and {len(plan) - 10:,} more")
    if not sys.stdin.isatty():
        raise NotAllowed("Refusing to change runs without confirmation: no terminal to ask; pass --yes.")
    typed = typer.prompt(f"Type {n} to confirm", default="", show_default=False, err=True)
    if typed.strip().replace(",", "") != str(n):
        raise NotAllowed("Not confirmed; nothing changed.")


@contextmanager
def progress_bar(total: int) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr when stderr is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
    from rich.progress import Progress as RichProgress

    with RichProgress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task("applying", total=total)

        def advance(done: int, _total: int, _result: object) -> None:
            bar.update(task, completed=done)

        yield advance


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
    return default_store(s.home)


@contextmanager
def ctrl_c_stops(stop: StopSignal) -> Iterator[None]:
    """The first Ctrl-C stops sending (answers in flight are awaited and recorded); a second one
    leaves at once (the job is then found interrupted, and a resume re-reads what was in flight)."""

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


# A recreated run's replacement, as the reschedule names it in the result's reason.
REPLACED_BY = re.compile(r"\breplaced by run ([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\b")


def replacement_id(result: RunResult) -> str | None:
    """The id of the new run a recreate made in the original's place (None: changed in place)."""
    match = REPLACED_BY.search(result.reason) if result.outcome == DONE else None
    return match.group(1) if match else None


def _warnings_by_run(report: Report, plan: Plan | None) -> dict[Any, str]:
    """The plan's warnings of each run whose change was made, or may have been (done or failed):
    a force-cancelled run is Cancelled while its process may still be running."""
    by_id = {item.run_id: item for item in plan.items} if plan is not None else {}
    found: dict[Any, str] = {}
    for result in report.results:
        item = by_id.get(result.run_id)
        if item is not None and item.warnings and result.outcome in (DONE, FAILED):
            found[result.run_id] = " ".join(item.warnings)
    return found


def report_json(report: Report, plan: Plan | None) -> dict[str, Any]:
    data = report.as_json()
    warnings = _warnings_by_run(report, plan)
    for row, result in zip(data["results"], report.results, strict=True):
        row["warning"] = warnings.get(result.run_id)
        row["replacement_id"] = replacement_id(result)
    return data


def finish(report: Report, as_json: bool, plan: Plan | None = None) -> None:
    """`plan`: the plan the report answers, for the warnings its runs carry."""
    if as_json:
        emit_json(report_json(report, plan))
    else:
        warnings = _warnings_by_run(report, plan)
        # each distinct warning printed once, its runs marked with its number: a thousand
        # force-cancelled runs should not repeat the same sentence a thousand times
        footnotes: dict[str, int] = {}
        for r in report.results:
            reason = f" — {r.reason}" if r.reason else ""
            warning = warnings.get(r.run_id)
            mark = f" [!{footnotes.setdefault(warning, len(footnotes) + 1)}]" if warning else ""
            typer.echo(
                f"{r.outcome:<8} {r.action:<16} {r.name:<28} {r.before} → {r.after or '-'}{reason}{mark}"
            )
        for warning, number in footnotes.items():
            typer.echo(f"[!{number}] warning: {warning}")
        typer.echo(report.summary() + (f" · audit #{report.audit_id}" if report.audit_id else ""))
        if report.job_id:
            typer.echo(f"job {report.job_id}: {report.status}")
    for note in report.notes:
        err(f"note: {note}")
    if report.status in (INTERRUPTED, STOPPED):
        err(f"runops: job {report.status}; finish it with: runops jobs resume {report.job_id}")
        raise typer.Exit(EXIT_INTERRUPTED)
    if report.totals[FAILED]:
        if report.job_id:
            err(f"runops: some runs failed; try them again with: runops jobs resume {report.job_id}")
        raise typer.Exit(EXIT_FAILED_RUNS)


def run_job(
    plan_fn: Callable[..., Any],
    request: Any,
    apply_fn: Callable[..., Any],
    dry_run: bool,
    yes: bool,
    as_json: bool,
    reason: str = "",
) -> None:
    """select → plan → confirm → apply → report, as on the pages; the apply is a recorded job."""
    s = settings()
    with words():
        plan: Plan = call(s, plan_fn, request)
        if not plan.to_change:
            if as_json:
                emit_json({**plan_json(plan), "dry_run": dry_run})
            else:
                typer.echo(f"Nothing to do: {plan.selection}.")
            return
        if dry_run:
            if as_json:
                emit_json(plan_json(plan))
            else:
                typer.echo(describe_plan(plan))
                typer.echo("\n".join(plan_rows(plan)))
                typer.echo("Dry run: nothing changed.")
            return
        confirm(plan, yes)
        stop = StopSignal()
        with progress_bar(len(plan)) as advance, ctrl_c_stops(stop), left_at_once():
            report: Report = call(
                s,
                apply_fn,
                plan,
                actor=cli_actor(),
                store=store_of(s),
                progress=advance,
                reason=reason,
                stop=stop,
            )
    finish(report, as_json, plan)


@late_app.command("list")
def late_list(
    deployment: DeploymentOpt = None,
    state: Annotated[list[str] | None, typer.Option("--state", help="State name (default Late).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List late runs (all of them, newest scheduled first)."""
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
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Reschedule late runs of one or more deployments (in place: same run, id and history)."""
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
    run_job(late.plan_reschedule, request, late.apply_reschedule, dry_run, yes, as_json, reason)


@app.command("cancel")
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
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Cancel every matching run: not started → Cancelled, Pending/Running → Cancelling; finished runs untouched."""
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
    run_job(cancel.plan_cancel, request, cancel.apply_cancel, dry_run, yes, as_json, reason)


@app.command("history")
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


@app.command("doctor")
def doctor() -> None:
    """Which API, whether it is healthy, its version and the credentials in use — in words."""
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
    finish(report, as_json, found.plan)


@jobs_app.command("stop")
def jobs_stop(job_id: Annotated[str, typer.Argument(help="The job's id.")]) -> None:
    """Ask a running job (wherever it runs) to stop sending; it records the rest as not attempted."""
    with words():
        store = store_of(settings())
        if not store.jobs.request_stop(job_id):
            raise BadInput(f"Job {job_id} is not running ({store.jobs.get(job_id).status}).")
    typer.echo(f"Asked job {job_id} to stop; it finishes the requests in flight first.")


@demo_app.command("seed")
def demo_seed(
    api_url: Annotated[str | None, typer.Option(help="Seed this server instead of the embedded one.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="That server's database URL (required with --api-url).")
    ] = None,
) -> None:
    """Seed demo data into the embedded server (started for the purpose), or into a server named explicitly."""
    from runops.dev import demo

    with words():
        if api_url:
            if not database_url:
                raise BadInput(
                    "--api-url needs --database-url: demo history is written into the server's database."
                )
            typer.echo(call(Settings(api_url=api_url), demo.seed, database_url))
            return
        from runops.dev.server import LocalPrefectServer

        home = settings().home.resolve()
        server = LocalPrefectServer(home / "server", ui=False)
        err(f"starting the embedded Prefect server (data in {server.home})…")
        with server:
            typer.echo(call(Settings(api_url=server.api_url), demo.seed, str(server.database_url)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
