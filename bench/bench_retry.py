"""Benchmark: retry 1,000 failed runs — runops vs the raw `/flow_runs/bulk_set_state` for the same change.

One fresh Prefect of the chosen setup; every variant gets its own deployment with the same N
Failed runs (ended within the last day), seeded right before it runs through Prefect's own
tables. Each variant's time covers the whole job: finding the runs and changing them to
Scheduled in place. The two variants alternate over rounds; afterwards every variant's runs are
re-read to check they are stored Scheduled.

Run: `.venv/bin/python -m bench.bench_retry [--setup postgres] [--runs 1000] [--rounds 3]` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateName,
)

from bench.common import Check, Row, bench_arguments, bench_setup, job_store, report, settings_for
from bench.seed import insert_runs
from runops.engine.selection import PAGE_SIZE
from runops.features import retry
from runops.prefect_api.client import open_client
from runops.store import Store

FLOW = "bench-retry-flow"
RAW = "raw bulk_set_state (50/call)"
RUNOPS = "runops (its job recorded in its store)"
STORE: list[Store] = []


def own(deployment_id: UUID, states: list[str]) -> FlowRunFilter:
    return FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(name=FlowRunFilterStateName(any_=states)),
    )


async def raw_bulk(client: PrefectClient, deployment_id: UUID) -> None:
    """List every Failed run (all pages), then `Scheduled` without force, 50 runs a call."""
    ids: list[UUID] = []
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=own(deployment_id, ["Failed"]), limit=PAGE_SIZE, offset=len(ids)
        )
        ids.extend(r.id for r in page)
        if len(page) < PAGE_SIZE:
            break
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        await client.request(
            "POST",
            "/flow_runs/bulk_set_state",
            json={
                "flow_runs": FlowRunFilter(id=FlowRunFilterId(any_=chunk)).model_dump(mode="json"),
                "state": {
                    "type": "SCHEDULED",
                    "name": "Scheduled",
                    "state_details": {"scheduled_time": datetime.now(UTC).isoformat()},
                },
                "force": False,
                "limit": len(chunk),
            },
        )


async def runops_retry(client: PrefectClient, full_name: str) -> str:
    plan = await retry.plan_retry(client, retry.RetryRequest(states=("Failed",), deployments=(full_name,)))
    report = await retry.apply_retry(client, plan, actor="bench", store=STORE[0] if STORE else None)
    return (
        f"concurrency started at {report.start_concurrency}, settled {report.concurrency}; {report.summary()}"
    )


async def measure(
    client: PrefectClient,
    database_url: str,
    name: str,
    n: int,
    job: Callable[[UUID, str], Awaitable[str | None]],
) -> Row:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30]
    flow_id = await client.create_flow_from_name(FLOW)
    deployment_name = f"{slug}-{uuid4().hex[:6]}"
    deployment_id = await client.create_deployment(flow_id=flow_id, name=deployment_name)
    ids = await insert_runs(database_url, deployment_id, n=n, state_type="FAILED", name_prefix="retry")
    start = time.perf_counter()
    note = await job(deployment_id, f"{FLOW}/{deployment_name}")
    seconds = time.perf_counter() - start
    scheduled = await client.count_flow_runs(flow_run_filter=own(deployment_id, ["Scheduled"]))
    check = f"{scheduled:,}/{len(ids):,} stored Scheduled"
    print(f"  {name}: {seconds:.1f}s, {check}; {note or ''}", flush=True)
    # the rate counts the runs really stored Scheduled: a job that gave up on some is not faster
    return Row("retry", name, scheduled, seconds, "; ".join(filter(None, [check, note])))


async def main(args: argparse.Namespace) -> None:
    n = args.runs
    with bench_setup(args.setup) as server:
        database_url = str(server.database_url)
        STORE[:] = [job_store(server, Path(tempfile.mkdtemp(prefix="runops-bench-store-")))]
        async with open_client(settings_for(server)) as client:
            print(f"retry {n:,} failed runs per variant, {args.rounds} rounds…", flush=True)
            measured: dict[str, list[Row]] = {RAW: [], RUNOPS: []}
            for round_no in range(args.rounds):
                # alternating, so that neither a busy moment nor the growing database favours one
                for name in list(measured) if round_no % 2 == 0 else list(measured)[::-1]:
                    job = (
                        (lambda d, _: raw_bulk(client, d))
                        if name == RAW
                        else (lambda _, full: runops_retry(client, full))
                    )
                    measured[name].append(await measure(client, database_url, name, n, job))
    rows = [
        Row(
            "retry",
            name,
            sum(x.runs for x in r),
            sum(x.seconds for x in r),
            f"{len(r)} rounds; " + r[-1].note,
        )
        for name, r in measured.items()
    ]
    short = [f"{x.variant}: {x.runs:,}" for r in measured.values() for x in r if x.runs < n]
    speed = {r.variant: r.per_second for r in rows}
    ratio = speed[RUNOPS] / speed[RAW]
    checks = [
        Check(f"retry {n:,}: runops ÷ raw bulk_set_state, runs/s", f"{ratio:.3f}×", "≥ 0.9×", ratio >= 0.9),
        Check(
            f"retry {n:,}: every round stored all runs Scheduled", "; ".join(short) or "all", "all", not short
        ),
    ]
    report(args, rows, checks, baseline=RAW)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    bench_arguments(parser)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw bulk vs runops, alternating")
    asyncio.run(main(parser.parse_args()))
