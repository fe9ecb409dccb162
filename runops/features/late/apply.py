"""Apply a confirmed reschedule plan as a durable job, then keep the deployments' schedules going."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient

from runops.engine.apply import ApplyOptions
from runops.engine.execute import Finalize
from runops.engine.kind import JobKind
from runops.engine.plan import Plan, Report
from runops.features.late.batches import late_batches
from runops.features.late.plan import check_plan
from runops.features.late.request import ACTION, LateOptions
from runops.features.late.schedules import catch_up


def keep_schedules_going(plan: Plan) -> Finalize | None:
    """After an in-place reschedule: have the server schedule the moved runs' deployments' next
    regular runs, which it would otherwise count the moved ones in place of."""
    made = LateOptions.of(plan.options).schedule_made
    if not made:
        return None

    async def catch_up_schedules(client: PrefectClient, report: Report) -> list[str]:
        return await catch_up(client, report.results, made)

    return catch_up_schedules


RESCHEDULE = JobKind(
    ACTION,
    check_plan,
    late_batches,
    default_options=lambda runs: ApplyOptions(),
    finalize=keep_schedules_going,
)
apply_reschedule = RESCHEDULE.apply
