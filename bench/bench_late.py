"""Benchmark: reschedule 500 late runs, runops in place vs the documented delete-and-recreate recipe.

All variants run sequentially on one fresh Prefect (`--setup`) in the same process, each on its
own deployment seeded with the same 500 Late runs: runops in place with the recipe's own policy
(shift by a delay: one conditional state change per run, since every run gets its own time), runops
in place with one fixed time (the runs share one new time, so they go ~50 a bulk call), runops'
recreate mode with the recipe's shift (the recipe's result — new runs — made safely: replacements
first, every field carried over, originals deleted after, ~50 a bulk call), and the recipe.
Prints the times, the ratios, and what each variant lost.
Run: `.venv/bin/python -m bench.bench_late [--setup postgres] [--runs 500]` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.server.schemas.states import StateType
from prefect.states import Scheduled

from bench.common import Check, Row, bench_arguments, bench_setup, job_store, report, settings_for, timed
from bench.seed import SeedTimes, insert_runs
from runops.engine.plan import FAILED, Report
from runops.features import late
from runops.prefect_api.client import open_client
from runops.settings import Settings
from runops.store import Store

NO_STORE = "runops in place, shift +12h, no job store (the engine alone)"
DELAY = timedelta(hours=12)  # every new time lands in the future for both variants
EXTRA_TAG = "backfill"  # a per-run tag the recipe does not carry over


async def make_deployment(client: PrefectClient, name: str) -> UUID:
    flow_id = await client.create_flow_from_name("bench-late-flow")
    return await client.create_deployment(
        flow_id=flow_id, name=name, parameters={"region": "eu"}, tags=["nightly"]
    )


async def seed(database_url: str, deployment_id: UUID, n: int) -> list[UUID]:
    now = datetime.now(UTC)
    # one run a minute over the last n minutes, like a schedule that ran while the worker was down
    return await insert_runs(
        database_url,
        deployment_id,
        n=n,
        state_type=StateType.SCHEDULED,
        state_name="Late",
        times=lambda i: SeedTimes(now - timedelta(minutes=i + 1)),
        tags=[EXTRA_TAG],
        name_prefix="late",
    )


def failures(report: Report) -> str:
    """Why runs failed, counted by reason (nothing when none did)."""
    reasons = Counter(r.reason for r in report.results if r.outcome == FAILED)
    return "".join(f"; failed {count}× because {reason}" for reason, count in reasons.most_common())


async def recipe(client: PrefectClient, deployment_name: str, delay: timedelta, most_recent_n: int) -> int:
    """The documented script, faithfully: read Late runs before now, sorted by start time, then for
    each, sequentially, delete it and (for the first N) create a new run from its deployment.

    With the rest deleted it reads with `limit=None`, which the server caps at 200 runs: the team
    runs it again until nothing is left, as this loop does.
    """
    flow_runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Late"])),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),
        ),
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=deployment_name)),
        sort=FlowRunSort.START_TIME_DESC,
        limit=None,
    )
    for i, run in enumerate(flow_runs):
        await client.delete_flow_run(flow_run_id=run.id)
        if i < most_recent_n:
            assert run.deployment_id is not None and run.expected_start_time is not None
            await client.create_flow_run_from_deployment(
                deployment_id=run.deployment_id,
                state=Scheduled(scheduled_time=run.expected_start_time + delay),
            )
    return len(flow_runs)


async def runs_of(client: PrefectClient, deployment_id: UUID) -> list[FlowRun]:
    found: list[FlowRun] = []
    flt = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
    while True:
        page = await client.read_flow_runs(flow_run_filter=flt, limit=200, offset=len(found))
        found.extend(page)
        if len(page) < 200:
            return found


def check(after: list[FlowRun], originals: list[UUID], n: int) -> dict[str, int]:
    now = datetime.now(UTC)
    waiting = [
        r
        for r in after
        if r.state_name == "Scheduled" and r.next_scheduled_start_time and r.next_scheduled_start_time > now
    ]
    kept = set(originals) & {r.id for r in after}
    # an original still Late was not done (runops says which and why), but it is not lost
    untouched = [r for r in after if r.id in kept and r.state_name == "Late"]
    return {
        "scheduled": len(waiting),
        "untouched": len(untouched),
        "lost": max(0, n - len(waiting) - len(untouched)),
        "ids_kept": len(kept),
        "tags_kept": sum(1 for r in waiting if EXTRA_TAG in r.tags),
    }


async def runops_job(
    settings: Settings, deployment: str, n: int, policy: dict[str, object], store: Store | None
) -> tuple[float, Report]:
    async with open_client(settings) as client:
        with timed() as t:
            request = late.RescheduleRequest(
                deployments=(f"bench-late-flow/{deployment}",), limit=n, **policy
            )
            plan = await late.plan_reschedule(client, request)
            result = await late.apply_reschedule(client, plan, actor="bench", store=store)
    return t[0], result


async def main(args: argparse.Namespace) -> None:
    n = args.runs
    rows: list[Row] = []
    at = datetime.now(UTC) + DELAY
    variants: dict[str, dict[str, object]] = {
        "runops in place, shift +12h (like the recipe)": {"policy": "shift", "delay": DELAY},
        "runops in place, one fixed time": {"policy": "fixed", "at": at},
        NO_STORE: {"policy": "shift", "delay": DELAY},
        "runops recreate, shift +12h (the recipe's result, done safely)": {
            "policy": "shift",
            "delay": DELAY,
            "mode": "recreate",
        },
    }
    with bench_setup(args.setup) as server:
        settings: Settings = settings_for(server)
        database_url = str(server.database_url)
        async with open_client(settings) as client:
            deployments = {
                name: await make_deployment(client, f"late-{k}") for k, name in enumerate(variants)
            }
            theirs = await make_deployment(client, "late-recipe")
        seeded = {name: await seed(database_url, dep, n) for name, dep in deployments.items()}
        theirs_ids = await seed(database_url, theirs, n)

        store = job_store(server, Path(tempfile.mkdtemp(prefix="runops-bench-store-")))
        for k, (name, policy) in enumerate(variants.items()):
            seconds, result = await runops_job(
                settings, f"late-{k}", n, policy, None if name == NO_STORE else store
            )
            async with open_client(settings) as client:
                outcome = check(await runs_of(client, deployments[name]), seeded[name], n)
            rows.append(
                Row(
                    f"reschedule {n} late",
                    name,
                    n,
                    seconds,
                    f"{result.totals['done']} done, {result.totals['failed']} failed (left Late: "
                    f"{outcome['untouched']}), concurrency {result.concurrency}; lost {outcome['lost']}, "
                    f"ids kept {outcome['ids_kept']}, tags kept {outcome['tags_kept']}{failures(result)}",
                    {k: str(v) for k, v in outcome.items()},
                )
            )
            print(f"  {name}: {seconds:.1f}s", flush=True)

        async with open_client(settings) as client:
            calls = 0
            with timed() as t:
                while await recipe(client, "late-recipe", DELAY, most_recent_n=n):
                    calls += 1
            outcome = check(await runs_of(client, theirs), theirs_ids, n)
        print(f"  recipe: {t[0]:.1f}s", flush=True)
        rows.append(
            Row(
                f"reschedule {n} late",
                "recipe: delete + recreate",
                n,
                t[0],
                f"{calls} script runs (200 a read); lost {outcome['lost']}, ids kept {outcome['ids_kept']}, "
                f"tags kept {outcome['tags_kept']}",
                {k: str(v) for k, v in outcome.items()},
            )
        )

    base = rows[-1]
    checks = []
    engine_alone = next(r for r in rows if r.variant == NO_STORE)
    with_store = rows[0]
    ratio = with_store.per_second / engine_alone.per_second
    checks.append(
        Check(
            f"reschedule {n}: in place with its job store ÷ the engine alone",
            f"{ratio:.2f}×",
            "≥ 0.95×",
            ratio >= 0.95,
        )
    )
    for row in rows[:-1]:
        if row.variant == NO_STORE:
            continue
        ratio = row.per_second / base.per_second
        checks.append(
            Check(
                f"reschedule {n}: {row.variant} ÷ recipe, and runs lost",
                f"{ratio:.2f}×, {row.extra['lost']} lost",
                "≥ 3×, 0 lost",
                ratio >= 3 and row.extra["lost"] == "0",
            )
        )
    lines = [
        f"recipe: {base.extra['lost']} runs lost, {n - int(base.extra['ids_kept'])} run ids and "
        f"{n - int(base.extra['tags_kept'])} per-run tags lost"
    ]
    report(args, rows, checks, baseline="recipe: delete + recreate", lines=lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    bench_arguments(parser)
    parser.add_argument("--runs", type=int, default=500)
    asyncio.run(main(parser.parse_args()))
