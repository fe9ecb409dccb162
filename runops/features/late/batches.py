"""Late runs in batches: one conditional bulk call per batch, the few that moved on handled one by one."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Hashable, Iterable, Sequence
from typing import ClassVar
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from runops.engine.apply import Batching, batch_size
from runops.engine.messages import UNSIGNED, Signed
from runops.engine.plan import DONE, FAILED, Plan, PlannedRun, RunResult, result_for
from runops.engine.selection import (
    read_by_id,
)
from runops.features.late.handler import (
    LateRunHandler,
    _rescheduled,
    bulk_delete,
    set_state_where,
)
from runops.features.late.recreate import create_replacements
from runops.features.late.request import (
    CANCEL_BATCH,
    CREATE_ATTEMPTS,
    LateAction,
)
from runops.prefect_api import flow_runs
from runops.prefect_api.client import explain, sent_once
from runops.prefect_api.flow_runs import BULK_LIMIT


class LateBatches:
    """One request per batch where the server takes many runs at once: runs getting the SAME new
    time (fixed policy, or equal times) share one conditional `/flow_runs/bulk_set_state`, a
    deployment's runs to recreate share one bulk create and one bulk delete, the rest of the
    backlog is cancelled 25 and deleted 50 a call; in-place shift and spread (every run its own
    time) go run by run through `LateRunHandler`."""

    SIZES: ClassVar[dict[Hashable, int]] = {LateAction.CANCEL: CANCEL_BATCH, LateAction.DELETE: BULK_LIMIT}

    def __init__(self, plan: Plan, sent: Iterable[UUID] = (), signed: Signed = UNSIGNED) -> None:
        self.each = LateRunHandler(plan, sent, signed)
        self.bulk_create = True  # False once the API turns out to lack create_flow_run/bulk

    @staticmethod
    def key(item: PlannedRun) -> Hashable:
        if item.action in (LateAction.RESCHEDULE, LateAction.RECREATE):
            return (item.action, item.new_time if item.action == LateAction.RESCHEDULE else item.deployment)
        return item.action if item.action in (LateAction.CANCEL, LateAction.DELETE) else item.run_id

    async def __call__(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        ids = [item.run_id for item in batch]
        if batch[0].action == LateAction.CANCEL:
            with sent_once(self.each.sent, ids):
                answers = await set_state_where(client, ids, self.each.cancelling(), self.each.allowed)
            await self.each.sign_cancelled(client, answers)
            return [await self.each.cancel(client, item, answers) for item in batch]
        if batch[0].action == LateAction.DELETE:
            with sent_once(self.each.sent, ids):
                deleted = await bulk_delete(client, ids, self.each.allowed)
            return [await self.each.delete(client, item, deleted) for item in batch]
        if len(batch) > 1 and batch[0].action == LateAction.RESCHEDULE and self.each.conditional:
            return await self.together(client, batch)
        if len(batch) > 1 and batch[0].action == LateAction.RECREATE and self.bulk_create:
            return await self.recreate_together(client, batch)
        return [await self.each(client, item) for item in batch]

    async def together(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        new_time = batch[0].new_time
        assert new_time is not None
        due = [i.scheduled_time for i in batch if i.scheduled_time is not None]
        # The batch is a run of consecutive plan rows (newest first), so the range of their
        # scheduled times holds no other planned run: a run moved meanwhile falls outside it.
        between = (min(due), max(due)) if len(due) == len(batch) else None
        ids = [i.run_id for i in batch]
        try:
            with sent_once(self.each.sent, ids):
                answers = await set_state_where(
                    client,
                    ids,
                    self.each.rescheduled(new_time),
                    self.each.allowed,
                    scheduled_between=between,
                )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in (404, 405):
                raise
            self.each.conditional = False
            return [await self.each(client, item) for item in batch]
        results: list[RunResult] = []
        for item in batch:
            if item.run_id in answers:
                results.append(_rescheduled(item, answers[item.run_id]))
            else:  # did not match: moved on, or done by an earlier attempt (the re-read says which)
                _, skipped = await self.each.reread(client, item)
                results.append(skipped or await self.each(client, item))
        return results

    async def recreate_together(self, client: PrefectClient, batch: Sequence[PlannedRun]) -> list[RunResult]:
        """Recreate mode for a batch of one deployment's runs, in four requests instead of four
        per run: re-read them, create the replacements (one bulk call; keys derived from the
        originals, so a retry finds them), delete the originals still in an allowed state (one
        `bulk_delete`), then deal one by one with the few that moved on meanwhile."""
        results: dict[UUID, RunResult] = {}
        by_deployment = await self.still_late(client, batch, results)
        made: list[tuple[PlannedRun, UUID]] = []
        for deployment_id, rows in by_deployment.items():
            made += await self.create_for(client, deployment_id, rows, results)
        await self.replace_originals(client, made, results)
        return [results[item.run_id] for item in batch]

    async def still_late(
        self, client: PrefectClient, batch: Sequence[PlannedRun], results: dict[UUID, RunResult]
    ) -> dict[UUID, list[tuple[PlannedRun, FlowRun]]]:
        """The batch's runs still as planned, by deployment; the others' results go in `results`."""
        now = await read_by_id(client, [item.run_id for item in batch])
        gone = [item for item in batch if item.run_id not in now]
        if gone:
            results.update((r.run_id, r) for r in await self.each.gone(client, gone))
        by_deployment: dict[UUID, list[tuple[PlannedRun, FlowRun]]] = {}
        moved_on: list[RunResult] = []
        for item in batch:
            run = now.get(item.run_id)
            if run is None:
                continue
            skipped = self.each.judge(item, run)
            if skipped is not None:
                moved_on.append(skipped)
            else:
                assert run.deployment_id is not None  # judge skips the others
                by_deployment.setdefault(run.deployment_id, []).append((item, run))
        if moved_on:
            results.update((r.run_id, r) for r in await self.each.drop_strays(client, moved_on))
        return by_deployment

    async def create_for(
        self,
        client: PrefectClient,
        deployment_id: UUID,
        rows: list[tuple[PlannedRun, FlowRun]],
        results: dict[UUID, RunResult],
    ) -> list[tuple[PlannedRun, UUID]]:
        """One deployment's replacements in one bulk call; rows it kept failing are recreated on
        their own (their results go in `results`). Returns the replacements the bulk call made."""
        try:
            created, errors = await self.create_with_retries(client, deployment_id, rows)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code not in (404, 405):
                raise
            self.bulk_create = False  # an older API: one run at a time, as before
            for item, run in rows:
                results[item.run_id] = await self.each.recreate(client, item, run)
            return []
        for item, run, error in errors:
            results[item.run_id] = await self.recreate_alone(client, item, run, error)
        return created

    async def replace_originals(
        self, client: PrefectClient, made: list[tuple[PlannedRun, UUID]], results: dict[UUID, RunResult]
    ) -> None:
        """Delete each original whose replacement is read back from the server (the bulk call
        answers per run inside one transaction), only while it is still in an allowed state."""
        stored = await read_by_id(client, [replacement_id for _, replacement_id in made])
        for item, replacement_id in made:
            if replacement_id not in stored:
                results[item.run_id] = result_for(
                    item, FAILED, item.state, "its replacement was not stored; the original is kept"
                )
        made = [(item, r) for item, r in made if r in stored]
        await self.each.retime(client, [(item, stored[r]) for item, r in made])
        deleted = await bulk_delete(client, [item.run_id for item, _ in made], self.each.allowed)
        for item, replacement_id in made:
            if item.run_id in deleted:
                results[item.run_id] = result_for(
                    item,
                    DONE,
                    "Scheduled",
                    f"replaced by run {replacement_id}",
                    replacement_id=replacement_id,
                )
            else:
                results[item.run_id] = await self.each.keep_original(client, item, replacement_id)

    async def recreate_alone(
        self, client: PrefectClient, item: PlannedRun, run: FlowRun, error: str
    ) -> RunResult:
        """A row the bulk create kept failing (a busy SQLite fails a bulk insert at once, where a
        single create waits or is retried by the client): that run on its own, as before."""
        try:
            return await self.each.recreate(client, item, run)
        except Exception as exc:  # nothing deleted without its copy: the original stays as it is
            reason = f"the server did not replace it: {error}; then on its own: {explain(exc)}"
            return await self.after_failed_recreate(client, item, reason)

    async def after_failed_recreate(self, client: PrefectClient, item: PlannedRun, reason: str) -> RunResult:
        """A recreate that raised may have stored the copy, or even deleted the original (an
        answer lost). Original gone: the copy is the run now. Original kept: a copy beside it
        would run the flow twice, so it goes again; if that cannot be checked, say so."""
        try:
            if await flow_runs.read_flow_run(client, item.run_id) is None:
                return (await self.each.gone(client, [item]))[0]
            return (await self.each.drop_strays(client, [result_for(item, FAILED, item.state, reason)]))[0]
        except Exception as exc:
            note = (
                f"a replacement may be stored beside it ({explain(exc)}): apply what failed again to finish"
            )
            return result_for(item, FAILED, item.state, f"{reason}; {note}")

    async def create_with_retries(
        self, client: PrefectClient, deployment_id: UUID, rows: list[tuple[PlannedRun, FlowRun]]
    ) -> tuple[list[tuple[PlannedRun, UUID]], list[tuple[PlannedRun, FlowRun, str]]]:
        """The bulk create, sent once more for the rows it failed: the server reports a busy
        database ("database is locked") per run in a 200 answer, not as a 503. Safe to repeat: a
        replacement that exists already is found by its key, not made again."""
        made: list[tuple[PlannedRun, UUID]] = []
        errors: list[tuple[PlannedRun, FlowRun, str]] = []
        for attempt in range(CREATE_ATTEMPTS):
            answers = await create_replacements(client, deployment_id, rows, self.each.signed)
            errors = []
            for (item, run), (replacement_id, error) in zip(rows, answers, strict=True):
                if replacement_id is not None:
                    made.append((item, replacement_id))
                else:
                    errors.append((item, run, error))
            if not errors or attempt + 1 == CREATE_ATTEMPTS:
                break
            rows = [(item, run) for item, run, _ in errors]
            await asyncio.sleep(0.2 * 2**attempt * (0.5 + random.random()))
        return made, errors


def late_batches(plan: Plan, signed: Signed = UNSIGNED, sent: Iterable[UUID] = ()) -> Batching:
    handler = LateBatches(plan, sent, signed)
    return Batching(handler, key=handler.key, size=batch_size(len(plan.to_change)), sizes=LateBatches.SIZES)
