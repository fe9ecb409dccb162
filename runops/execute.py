"""Apply a confirmed plan the one way every job does: access check, apply, audit record, event."""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient

from runops.access import ensure_may_apply
from runops.audit import AuditLog
from runops.connection import explain
from runops.events import emit_operation
from runops.operations import ApplyOptions, Handler, Plan, Progress, Report, apply_plan
from runops.settings import public_url


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
    """Refuses (read-only, not an operator) before touching anything; records the outcome after."""
    ensure_may_apply(actor)
    report = await apply_plan(client, plan, handler, progress=progress, options=options)
    report.actor = actor
    if audit is not None:
        report.audit_id = audit.record(report, api_url=public_url(str(client.api_url)))
    try:
        await emit_operation(client, report)
    except Exception as exc:  # the local audit record exists; the event feed is a second copy
        report.notes.append(f"Could not emit the Prefect event: {explain(exc)}")
    return report
