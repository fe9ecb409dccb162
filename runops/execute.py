"""Apply a confirmed plan the one way every job does: access check, apply, audit record."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient

from runops.access import ensure_may_apply
from runops.audit import AuditLog
from runops.operations import ApplyOptions, Handler, Plan, Progress, Report, apply_plan


async def execute(
    client: PrefectClient,
    plan: Plan,
    handler: Handler,
    *,
    actor: str,
    audit: AuditLog | None,
    progress: Progress | None = None,
    options: ApplyOptions | None = None,
) -> Report:
    """Refuses in read-only mode before touching anything; records the outcome afterwards."""
    ensure_may_apply(actor)
    report = await apply_plan(client, plan, handler, progress=progress, options=options)
    report.actor = actor
    if audit is not None:
        report.audit_id = audit.record(report, api_url=str(client.api_url))
    return report
