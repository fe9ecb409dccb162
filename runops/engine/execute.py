"""Apply a confirmed plan the one way every job does: access check, job record, apply, journal, audit, event."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from uuid import UUID

from prefect.client.orchestration import PrefectClient

from runops.access import ensure_may_apply, ensure_reason
from runops.engine.apply import ApplyOptions, Batching, Handler, Progress, apply_plan
from runops.engine.plan import FAILED, Plan, Report, RunResult
from runops.prefect_api.client import explain
from runops.prefect_api.events import emit_operation
from runops.settings import public_url
from runops.store import Store
from runops.store.jobs import DONE, INTERRUPTED, STOPPED, JobStore
from runops.store.jobs import FAILED as JOB_FAILED

# a last step of a job after its runs are answered (e.g. keep a schedule going); returns notes
Finalize = Callable[[PrefectClient, Report], Awaitable[list[str]]]
JOURNAL_EVERY = 50  # answers written in one statement at most …
JOURNAL_DELAY_S = 0.5  # … and none kept unwritten longer than this
STOP_POLL_S = 1.0  # how soon a Stop from another session or replica is seen


class StopSignal:
    """Asks a running apply to stop sending: `request("stopped")` (a Stop button) or
    `request("interrupted")` (Ctrl-C). Batches in flight are answered; the rest is not attempted."""

    def __init__(self) -> None:
        self.status: str | None = None

    def request(self, status: str = STOPPED) -> None:
        if self.status is None:
            self.status = status

    def __call__(self) -> bool:
        return self.status is not None


@dataclass
class JobRef:
    """A recorded job this process owns: where it lives and what was answered before (a resume)."""

    store: Store
    job_id: str
    owner: str
    earlier: dict[UUID, RunResult] = field(default_factory=dict)
    order: list[UUID] = field(default_factory=list)  # the whole plan's runs, in plan order


def record_job(
    store: Store, plan: Plan, *, actor: str, reason: str = "", api_url: str | None = None
) -> JobRef:
    """Write the job and its frozen plan before the first change; this process owns it."""
    job_id, owner = store.jobs.create(plan, actor=actor, reason=reason, api_url=api_url)
    return JobRef(store, job_id, owner, order=[item.run_id for item in plan.items])


class Journal:
    """Each run's outcome, written to the job as answers arrive, a few at a time: a crash loses at
    most the answers of the last half second (those runs are re-read on resume)."""

    def __init__(self, jobs: JobStore, job_id: str) -> None:
        self.jobs, self.job_id = jobs, job_id
        self.buffer: list[RunResult] = []
        self.last = time.monotonic()

    def add(self, result: RunResult) -> None:
        self.buffer.append(result)
        if len(self.buffer) >= JOURNAL_EVERY or time.monotonic() - self.last >= JOURNAL_DELAY_S:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.jobs.journal(self.job_id, batch)
        self.last = time.monotonic()


async def _keep_lease(job: JobRef, stop: StopSignal) -> None:
    """Renew the heartbeat; pass on a Stop asked for in the store; stop if the job was taken over."""
    beat = 0.0
    while True:
        await asyncio.sleep(STOP_POLL_S)
        beat += STOP_POLL_S
        try:
            ours, asked = await asyncio.to_thread(job.store.jobs.heartbeat, job.job_id, job.owner)
        except Exception:
            continue  # a busy store: the next beat tries again (the lease lasts well beyond one)
        if not ours:
            stop.request(INTERRUPTED)
        elif asked:
            stop.request(asked)


def _status(report: Report, stop: StopSignal) -> str:
    if stop.status is not None:
        return stop.status
    return JOB_FAILED if any(r.outcome == FAILED for r in report.results) else DONE


async def execute(
    client: PrefectClient,
    plan: Plan,
    handler: Handler | Batching,
    *,
    actor: str,
    store: Store | None = None,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
    reason: str = "",
    stop: StopSignal | None = None,
    job: JobRef | None = None,
    finalize: Finalize | None = None,
) -> Report:
    """Refuses (read-only, not an operator, a required reason missing) before touching anything.
    With a store, the job is recorded first (unless `job` names one already recorded: `submit`
    checked it, or a resume, which keeps the job's own reason), every answer is journaled, and
    the outcome is audited after; without one (benchmarks of the raw engine) nothing is kept."""
    ensure_may_apply(actor)
    if job is None:
        ensure_reason(reason)
    api_url = public_url(str(client.api_url))
    if store is not None and job is None:
        job = record_job(store, plan, actor=actor, reason=reason, api_url=api_url)
    stop = stop or StopSignal()
    options = replace(options or ApplyOptions(), stop=stop)
    journal = Journal(job.store.jobs, job.job_id) if job else None

    def answered(done: int, total: int, result: RunResult) -> None:
        if journal is not None:
            journal.add(result)
        if progress is not None:
            progress(done, total, result)

    lease = asyncio.create_task(_keep_lease(job, stop)) if job else None
    t0 = time.monotonic()
    try:
        report = await apply_plan(client, plan, handler, progress=answered, options=options)
    except BaseException:
        if job is not None and journal is not None:
            _interrupted(job, journal, time.monotonic() - t0)
        raise
    finally:
        if lease is not None:
            lease.cancel()
    report.actor, report.reason = actor, reason
    if job is not None and journal is not None:
        journal.flush()
        report = _whole(report, job)
    report.status = _status(report, stop)
    await _conclude(client, report, job, api_url, finalize)
    return report


def _interrupted(job: JobRef, journal: Journal, duration_s: float) -> None:
    """Cancelled or killed mid-way: keep what was answered; runs in flight are re-read on resume."""
    with contextlib.suppress(Exception):
        journal.flush()
        job.store.jobs.finish(job.job_id, job.owner, INTERRUPTED, duration_s=duration_s, concurrency=None)


async def _conclude(
    client: PrefectClient, report: Report, job: JobRef | None, api_url: str | None, finalize: Finalize | None
) -> None:
    """After the changes: the kind's last step, the audit record, the job's end, the Prefect event."""
    if finalize is not None:
        try:  # over the whole job's answers: a resume finishes what a dead process could not
            report.notes.extend(await finalize(client, report))
        except Exception as exc:  # the runs are changed and recorded; say what the last step missed
            report.notes.append(f"After the changes: {explain(exc)}")
    if job is not None:  # a store was given (the job was recorded in it above) or a job resumed
        report.audit_id = job.store.audit.record(report, api_url=api_url)
        job.store.jobs.finish(
            job.job_id,
            job.owner,
            report.status,
            duration_s=report.duration_s,
            concurrency=report.concurrency,
            notes=report.notes,
            audit_id=report.audit_id,
        )
    try:
        await emit_operation(client, report)
    except Exception as exc:  # the local audit record exists; the event feed is a second copy
        report.notes.append(f"Could not emit the Prefect event: {explain(exc)}")


def _whole(report: Report, job: JobRef) -> Report:
    """The report of the whole job: this apply's answers and those recorded before it (a resume)."""
    report.job_id = job.job_id
    if not job.earlier:
        return report
    now = {r.run_id: r for r in report.results}
    results = [
        now.get(run_id) or job.earlier[run_id]
        for run_id in job.order
        if run_id in now or run_id in job.earlier
    ]
    return replace(report, results=results, planned=len(job.order))
