"""Plans and reports as the command line prints them (text or one JSON document), and the job flow."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import typer

from runops.access import cli_actor, ensure_reason
from runops.cli.common import (
    EXIT_FAILED_RUNS,
    EXIT_INTERRUPTED,
    ctrl_c_stops,
    emit_json,
    err,
    left_at_once,
    settings,
    store_of,
    words,
)
from runops.engine.apply import ApplyOptions, Progress
from runops.engine.execute import StopSignal
from runops.engine.plan import FAILED, Plan, Report
from runops.errors import NotAllowed
from runops.prefect_api.client import call
from runops.store.jobs import INTERRUPTED, STOPPED


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


def finish(report: Report, as_json: bool) -> None:
    """The report as text or one JSON document; the exit code says how the job ended."""
    if as_json:
        emit_json(report.as_json())
    else:
        # each distinct warning printed once, its runs marked with its number: a thousand
        # force-cancelled runs should not repeat the same sentence a thousand times
        footnotes: dict[str, int] = {}
        for r in report.results:
            reason = f" — {r.reason}" if r.reason else ""
            mark = f" [!{footnotes.setdefault(r.warning, len(footnotes) + 1)}]" if r.warning else ""
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
    concurrency: int | None = None,
    defaults: Callable[[Plan], ApplyOptions] = lambda _plan: ApplyOptions(),
) -> None:
    """select → plan → confirm → apply → report, as on the pages; the apply is a recorded job.
    `concurrency`: a fixed number of requests in flight, over the verb's `defaults` for the plan."""
    s = settings()
    with words():
        if not dry_run:  # before the plan is read: refused at once, nothing recorded or changed
            ensure_reason(reason, how="add --reason TEXT (an incident id, a sentence)")
        plan: Plan = call(s, plan_fn, request)
        if not plan.to_change:
            if as_json:
                emit_json({**plan_json(plan), "dry_run": dry_run})
            else:
                typer.echo(f"Nothing to do: {plan.selection}.")
                if plan.items:  # say why each run is left as it is
                    typer.echo("\n".join(plan_rows(plan, 20)))
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
        options = {} if concurrency is None else {"options": replace(defaults(plan), concurrency=concurrency)}
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
                **options,
            )
    finish(report, as_json)
