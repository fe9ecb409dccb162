"""A kind of job (reschedule, cancel, retry, stuck, undo) and the one way each applies its plan."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from runops.engine.apply import ApplyOptions, Batching, Handler, Progress, bounded_options
from runops.engine.execute import Finalize, JobRef, StopSignal, execute
from runops.engine.messages import Signed
from runops.engine.plan import Plan, Report
from runops.prefect_api.flow_runs import count_flow_runs
from runops.store import Store

# the kind's request handler for a plan: signed with the job's actor and reason; `sent` are runs
# an earlier process of this job may have changed (a resume): found as it leaves them, done
MakeHandler = Callable[[Plan, Signed, Iterable[UUID]], Handler | Batching]


@dataclass(frozen=True)
class JobKind:
    """What one kind of job brings: its plan action, its check (refuse before anything is
    recorded), its handler, its default limits, and an optional last step after the runs."""

    action: str
    check: Callable[[Plan], None]
    handler: MakeHandler
    default_options: Callable[[int], ApplyOptions] = bounded_options
    finalize: Callable[[Plan], Finalize | None] = lambda plan: None
    # one authenticated read before the job: an unreachable API or refused credentials stop it
    # in words, instead of failing each of thousands of runs on its own
    preflight: bool = False

    async def apply(
        self,
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
        """Apply a confirmed plan as a job: only its runs (frozen), each changed only if still as
        the preview saw it; recorded first, journaled and audited when a store is given."""
        self.check(plan)
        if self.preflight:
            first = plan.to_change[0].run_id
            await count_flow_runs(client, flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first])))
        return await execute(
            client,
            plan,
            self.handler(plan, Signed(actor, reason), sent),
            actor=actor,
            store=store,
            progress=progress,
            options=options or self.default_options(len(plan.to_change)),
            reason=reason,
            stop=stop,
            job=job,
            finalize=self.finalize(plan),
        )
