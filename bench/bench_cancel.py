"""Benchmark: cancel 1,000 runs — runops vs the seed-style loop vs the fastest raw client methods.

One fresh Prefect of the chosen setup (`--setup`, services off for one-process setups); every variant gets its own deployment with the
same N not-started runs, seeded right before it runs (through Prefect's own tables: the API
creates only ~6–30 runs/s here). Each variant's time covers the whole job: finding the runs and
changing them. Afterwards every variant's runs are re-read to check they really are cancelled.
Then the peak memory growth of planning + applying 10,000 runs (tracemalloc, and RSS).

Run: `.venv/bin/python -m bench.bench_cancel [--setup postgres] [--runs 1000] [--memory-runs 10000]`
(not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID, uuid4

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling

from bench.common import Check, Row, bench_arguments, bench_setup, job_store, report, settings_for
from bench.seed import insert_runs
from runops.engine.apply import ApplyOptions
from runops.engine.selection import PAGE_SIZE, RunSelection
from runops.features import cancel
from runops.prefect_api.client import open_client
from runops.store import Store

FLOW = "bench-cancel-flow"
RUNOPS = "runops (job recorded in its store)"
STORE: list[Store] = []  # the job store of this setup (set in main)
ACTIVE = ["Pending", "Running", "Scheduled", "Late"]


async def make_deployment(client: PrefectClient, name: str) -> tuple[UUID, str]:
    flow_id = await client.create_flow_from_name(FLOW)
    return await client.create_deployment(flow_id=flow_id, name=name), f"{FLOW}/{name}"


def own(deployment_id: UUID, states: list[str] | None = None) -> FlowRunFilter:
    state = FlowRunFilterState(name=FlowRunFilterStateName(any_=states)) if states else None
    return FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]), state=state)


async def list_ids(client: PrefectClient, deployment_id: UUID) -> list[UUID]:
    """Every active run of the deployment, all pages (what a raw script needs first)."""
    ids: list[UUID] = []
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=own(deployment_id, ACTIVE), limit=PAGE_SIZE, offset=len(ids)
        )
        ids.extend(r.id for r in page)
        if len(page) < PAGE_SIZE:
            return ids


# -- the variants ------------------------------------------------------------------------------


async def seed_style_loop(client: PrefectClient, deployment_id: UUID) -> None:
    """DESIGN.md's baseline, faithfully: read active runs (one page, server default limit), force
    a copy of each state renamed Cancelled, read again, until none is left. (Scoped to this
    deployment's runs so variants do not see each other's.) Bounded here only as a safety net."""
    deployment_filter = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    flow_run_filter = FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=ACTIVE)))
    for _ in range(10_000):
        runs = await client.read_flow_runs(
            flow_run_filter=flow_run_filter, deployment_filter=deployment_filter
        )
        if not runs:
            return
        for run in runs:
            assert run.state is not None
            state = run.state.model_copy(update={"name": "Cancelled", "type": StateType.CANCELLED})
            await client.set_flow_run_state(run.id, state, force=True)


async def raw_single(client: PrefectClient, deployment_id: UUID, concurrency: int) -> None:
    """List all, then propose Cancelling (no force, as Prefect's CLI) with N requests in flight."""
    ids = await list_ids(client, deployment_id)
    gate = asyncio.Semaphore(concurrency)

    async def one(run_id: UUID) -> None:
        async with gate:
            await client.set_flow_run_state(run_id, Cancelling())

    await asyncio.gather(*(one(i) for i in ids))


async def raw_bulk(client: PrefectClient, deployment_id: UUID) -> None:
    """The server's `/flow_runs/bulk_set_state` (at most 50 runs a call), Cancelling without force."""
    ids = await list_ids(client, deployment_id)
    for start in range(0, len(ids), 50):
        chunk = ids[start : start + 50]
        await client.request(
            "POST",
            "/flow_runs/bulk_set_state",
            json={
                "flow_runs": FlowRunFilter(id=FlowRunFilterId(any_=chunk)).model_dump(mode="json"),
                "state": {"type": "CANCELLING", "name": "Cancelling"},
                "force": False,
                "limit": len(chunk),
            },
        )


async def runops_cancel(client: PrefectClient, full_name: str, options: ApplyOptions | None = None) -> str:
    request = cancel.CancelRequest(RunSelection(states=tuple(ACTIVE), deployments=(full_name,)))
    plan = await cancel.plan_cancel(client, request)
    store = STORE[0] if STORE else None
    report = await cancel.apply_cancel(client, plan, actor="bench", store=store, options=options)
    return (
        f"concurrency started at {report.start_concurrency}, settled {report.concurrency} "
        f"(peak {report.peak_concurrency}); {report.summary()}"
    )


# -- harness -----------------------------------------------------------------------------------


async def measure(
    client: PrefectClient,
    database_url: str,
    name: str,
    n: int,
    job: Callable[[UUID, str], Awaitable[str | None]],
) -> Row:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    deployment_id, full_name = await make_deployment(client, f"{slug}-{uuid4().hex[:6]}")
    ids = await insert_runs(database_url, deployment_id, n=n, state_type="SCHEDULED", name_prefix="cancel")
    start = time.perf_counter()
    note = await job(deployment_id, full_name)
    seconds = time.perf_counter() - start
    left = await client.count_flow_runs(flow_run_filter=own(deployment_id, ACTIVE))
    cancelled = await client.count_flow_runs(flow_run_filter=own(deployment_id, ["Cancelled"]))
    check = f"{cancelled:,}/{len(ids):,} stored Cancelled" + (f", {left:,} still active!" if left else "")
    print(f"  {name}: {seconds:.1f}s, {check}", flush=True)
    return Row("cancel", name, n, seconds, "; ".join(filter(None, [check, note])))


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def memory(client: PrefectClient, database_url: str, n: int) -> tuple[Row, str, float]:
    """Peak memory growth while planning and applying n runs (Python heap via tracemalloc, and RSS)."""
    deployment_id, full_name = await make_deployment(client, "memory")
    await insert_runs(database_url, deployment_id, n=n, state_type="SCHEDULED", name_prefix="mem")
    gc.collect()
    rss_before, hwm_before = rss_mb(), rss_mb("VmHWM")
    tracemalloc.start()
    start = time.perf_counter()
    note = await runops_cancel(client, full_name)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = max(0.0, rss_mb("VmHWM") - max(rss_before, hwm_before))
    text = (
        f"peak memory growth, plan + apply {n:,} runs: {peak / 2**20:.1f} MB Python heap (tracemalloc); "
        f"peak RSS {rss_mb('VmHWM'):.0f} MB, {rss_growth:.1f} MB above the RSS before ({rss_before:.0f} MB)"
    )
    return Row("memory", "runops plan + apply", n, seconds, note), text, peak / 2**20


async def main(args: argparse.Namespace) -> None:
    n, memory_runs = args.runs, args.memory_runs
    rows: list[Row] = []
    lines: list[str] = []
    with bench_setup(args.setup) as server:
        database_url = str(server.database_url)
        STORE[:] = [job_store(server, Path(tempfile.mkdtemp(prefix="runops-bench-store-")))]
        lines.append(f"runops records each job in {STORE[0].where.split('@')[-1]}")
        async with open_client(settings_for(server)) as client:
            memory_text, growth = "", 0.0
            if memory_runs:
                # first, so the process's RSS high-water mark is not set by the other variants
                print(f"memory: planning + applying {memory_runs:,} runs…", flush=True)
                row, memory_text, growth = await memory(client, database_url, memory_runs)
                rows.append(row)
                print(f"  {memory_text}", flush=True)
            print(f"cancel {n:,} runs per variant…", flush=True)
            if not args.no_loop:
                rows.append(
                    await measure(
                        client,
                        database_url,
                        "seed-style loop (force Cancelled, sequential)",
                        n,
                        lambda d, _: seed_style_loop(client, d),
                    )
                )
            for c in args.concurrency:
                rows.append(
                    await measure(
                        client,
                        database_url,
                        f"raw single calls, {c} in flight",
                        n,
                        lambda d, _, c=c: raw_single(client, d, c),
                    )
                )
            # the two closest variants alternate over rounds (raw, runops, runops, raw, …) and add
            # up, so that neither a busy moment nor the growing database favours one of them
            close: dict[str, list[Row]] = {"raw bulk_set_state (50/call)": [], RUNOPS: []}
            for round_no in range(args.rounds):
                pair = list(close) if round_no % 2 == 0 else list(close)[::-1]
                for name in pair:
                    job = (
                        (lambda d, _: raw_bulk(client, d))
                        if name.startswith("raw")
                        else (lambda _, full: runops_cancel(client, full))
                    )
                    close[name].append(await measure(client, database_url, name, n, job))
            for name, measured in close.items():
                rows.append(
                    Row(
                        "cancel",
                        name,
                        n * len(measured),
                        sum(r.seconds for r in measured),
                        f"{len(measured)} rounds; " + measured[-1].note,
                    )
                )
    raw = [r for r in rows if r.benchmark == "cancel" and r.variant.startswith("raw")]
    ours = next(r for r in rows if r.variant == RUNOPS)
    speed = {r.variant: r.per_second for r in rows if r.benchmark == "cancel"}
    fastest = max(raw, key=lambda r: r.per_second)
    ratio = speed[RUNOPS] / fastest.per_second
    checks = [
        Check(
            f"cancel {n:,}: runops ÷ fastest raw method ({fastest.variant}), runs/s",
            f"{ratio:.3f}×",
            "≥ 0.95×",
            ratio >= 0.95,
        )
    ]
    loop = next((r for r in rows if r.variant.startswith("seed-style")), None)
    if loop is not None:
        checks.append(
            Check(
                f"cancel {n:,}: runops ÷ seed-style loop, runs/s",
                f"{ours.per_second / loop.per_second:.2f}×",
                "≥ 1×",
                ours.per_second >= loop.per_second,
            )
        )
    if memory_text:
        mem_row = next(r for r in rows if r.benchmark == "memory")
        lines.append(memory_text)
        checks.append(
            Check(
                f"cancel {memory_runs:,}: peak memory growth (plan + apply), at {mem_row.per_second:.1f} runs/s",
                f"{growth:.1f} MB",
                "≤ 100 MB",
                growth <= 100,
            )
        )
    report(args, rows, checks, baseline=fastest.variant, lines=lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    bench_arguments(parser)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--memory-runs", type=int, default=10_000, help="0 skips the memory measurement")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw bulk vs runops, alternating")
    parser.add_argument("--no-loop", action="store_true", help="skip the (slow) seed-style loop")
    asyncio.run(main(parser.parse_args()))
