"""Jobs as the pages and the CLI use them: submit a confirmed plan, apply it, resume it, stop it.

Every kind of job names its check (refuse before recording), and its apply; a resume rebuilds
the frozen plan from the store and applies it to the runs not yet done: each is re-read and
changed only if still as the plan found it, so no run is changed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient

from runops.access import ensure_may_apply, ensure_reason
from runops.engine.apply import ApplyOptions, Progress
from runops.engine.execute import JobRef, StopSignal, record_job
from runops.engine.kind import JobKind
from runops.engine.plan import DONE, NOT_ATTEMPTED, SKIPPED, Plan, Report, RunResult, only, result_for
from runops.errors import BadInput
from runops.features import cancel, late, retry, stuck, undo
from runops.store import Store
from runops.store.jobs import FAILED as JOB_FAILED
from runops.store.jobs import INTERRUPTED, Job

KINDS: dict[str, JobKind] = {
    kind.action: kind for kind in (late.RESCHEDULE, cancel.CANCEL, retry.RETRY_KIND, stuck.STUCK, undo.UNDO)
}


def kind_of(plan: Plan) -> JobKind:
    try:
        return KINDS[plan.action]
    except KeyError:
        raise BadInput(f"runops cannot apply a job of kind {plan.action!r}.") from None


def submit(store: Store, plan: Plan, *, actor: str, reason: str = "", api_url: str | None = None) -> JobRef:
    """Refuse what may not or cannot be applied (or lacks a required reason); else record the
    job (owned by this process)."""
    ensure_may_apply(actor)
    ensure_reason(reason)
    kind_of(plan).check(plan)
    return record_job(store, plan, actor=actor, reason=reason.strip(), api_url=api_url)


async def apply_recorded(
    client: PrefectClient,
    job: JobRef,
    plan: Plan,
    *,
    actor: str,
    reason: str = "",
    progress: Progress | None = None,
    stop: StopSignal | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    """Apply a job recorded by `submit` (the dashboard's executor does this outside the page)."""
    return await kind_of(plan).apply(
        client,
        plan,
        actor=actor,
        store=None,
        job=job,
        progress=progress,
        stop=stop,
        reason=reason,
        options=options,
    )


@dataclass(frozen=True)
class ResumePlan:
    """What a resume of a job would do: its plan narrowed to the runs not yet done."""

    job: Job
    plan: Plan  # the whole frozen plan
    todo: Plan  # the runs a resume takes up
    earlier: dict[Any, RunResult]  # the final answers recorded before (done, skipped)
    maybe_sent: frozenset[Any]  # runs a dead process may have changed without writing it


def resume_plan(store: Store, job_id: str) -> ResumePlan:
    job = store.jobs.get(job_id)
    plan = store.jobs.plan(job_id)
    earlier: dict[Any, RunResult] = {}
    maybe_sent = set()
    todo_ids = []
    for run in store.jobs.runs(job_id):
        item = run.item
        if run.outcome in (DONE, SKIPPED):
            replacement = UUID(run.replacement_id) if run.replacement_id else None
            earlier[item.run_id] = result_for(item, run.outcome, run.after, run.reason or "", replacement)
            continue
        todo_ids.append(item.run_id)
        if run.outcome != NOT_ATTEMPTED:  # unanswered or failed: its request may have gone out
            maybe_sent.add(item.run_id)
    todo = only(plan, todo_ids)  # keeps the plan's uid and time: transition ids stay this job's
    return ResumePlan(job, plan, todo, earlier, frozenset(maybe_sent))


@dataclass(frozen=True)
class Resumption:
    """A claimed job, ready to apply to the runs it has not done."""

    ref: JobRef
    todo: Plan
    kind: JobKind
    reason: str
    maybe_sent: frozenset[Any]


def claim_for_resume(store: Store, job_id: str, *, actor: str, allow_past: bool = False) -> Resumption | None:
    """Check and take over a job to resume it (None: nothing left to do). Refused while the job
    runs elsewhere, and to all but one of several resumes at once."""
    ensure_may_apply(actor)
    found = resume_plan(store, job_id)
    if not found.todo.items:
        return None
    todo = late.with_consent(found.todo) if allow_past and found.todo.action == late.ACTION else found.todo
    kind = kind_of(todo)
    kind.check(todo)
    job, owner = store.jobs.claim(job_id)
    ref = JobRef(store, job_id, owner, earlier=found.earlier, order=[i.run_id for i in found.plan.items])
    return Resumption(ref, todo, kind, job.reason, found.maybe_sent)


async def apply_resumption(
    client: PrefectClient,
    resumption: Resumption,
    *,
    actor: str,
    progress: Progress | None = None,
    stop: StopSignal | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    ref = resumption.ref
    try:
        return await resumption.kind.apply(
            client,
            resumption.todo,
            actor=actor,
            store=None,
            job=ref,
            progress=progress,
            stop=stop,
            reason=resumption.reason,
            options=options,
            sent=resumption.maybe_sent,
        )
    except BaseException:
        # refused before its first change (e.g. the API is unreachable): the job is as it was
        ref.store.jobs.finish(ref.job_id, ref.owner, INTERRUPTED, duration_s=0.0, concurrency=None)
        raise


async def resume(
    client: PrefectClient,
    store: Store,
    job_id: str,
    *,
    actor: str,
    progress: Progress | None = None,
    stop: StopSignal | None = None,
    allow_past: bool = False,
    options: ApplyOptions | None = None,
) -> Report | None:
    """Finish a job from its record; None when it has nothing left to do."""
    resumption = claim_for_resume(store, job_id, actor=actor, allow_past=allow_past)
    if resumption is None:
        return None
    return await apply_resumption(
        client, resumption, actor=actor, progress=progress, stop=stop, options=options
    )


def give_up(store: Store, job: JobRef, error: BaseException) -> None:
    """A recorded job that could not start applying (the API refused, say): failed, with why."""
    store.jobs.finish(job.job_id, job.owner, JOB_FAILED, duration_s=0.0, concurrency=None, notes=[str(error)])


__all__ = [
    "KINDS",
    "JobKind",
    "ResumePlan",
    "Resumption",
    "apply_recorded",
    "apply_resumption",
    "claim_for_resume",
    "give_up",
    "resume",
    "resume_plan",
    "submit",
]
