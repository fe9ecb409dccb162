"""Apply a confirmed reschedule plan as a durable job, then keep the deployments' schedules going."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from prefect.client.orchestration import PrefectClient

from runops.engine.apply import ApplyOptions, Progress
from runops.engine.execute import JobRef, StopSignal, execute
from runops.engine.messages import Signed
from runops.engine.plan import Plan, Report
from runops.features.late.batches import late_batches
from runops.features.late.plan import (
    check_plan,
)
from runops.features.late.request import LateOptions
from runops.features.late.schedules import catch_up
from runops.store import Store


async def apply_reschedule(
    client: PrefectClient,
    plan: Plan,
    *,
    actor: str,
    store: Store | None,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
    reason: str = "",
    stop: StopSignal | None = None,
    job: JobRef | None = None,
    sent: Iterable[UUID] = (),
) -> Report:
    """Apply a previewed plan as a job; refuses (nothing changes) if new times are in the past
    without consent. `sent`: runs an earlier process of this job may have changed (a resume)."""
    check_plan(plan)
    made = LateOptions.of(plan.options).schedule_made

    async def keep_schedules_going(client: PrefectClient, report: Report) -> list[str]:
        return await catch_up(client, report.results, made) if made else []

    return await execute(
        client,
        plan,
        late_batches(plan, sent, Signed(actor, reason)),
        finalize=keep_schedules_going,
        actor=actor,
        store=store,
        progress=progress,
        options=options,
        reason=reason,
        stop=stop,
        job=job,
    )
