"""Benchmark: History's click-to-chart time vs the raw paged read; server-side bucket counts vs reading.

1. 10,000 completed runs: the service path (resolve + count + paged read + names + DataFrame +
   summaries + the four chart specs, built the way `st.altair_chart` builds them) against the raw
   paged read of the same runs alone (the "last N completed" recipe, paged past the 200 cap).
   Target: service ≤ 1.3× the raw read.
2. 20,000 completed runs over 30 days: counts per 12-hour bucket from `/flow_runs/history`
   (server-side aggregation) against reading all 20,000 runs and bucketing them client-side.
   Target: ≥ 10× faster.

Runs are seeded through Prefect's server-side ORM tables (bench/seed.py), because the API creates
only ~30 runs/s here.
Run: `.venv/bin/python -m bench.bench_history [--setup postgres] [--runs 10000] [--buckets 20000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from bench.common import Check, Row, bench_arguments, bench_setup, report, settings_for
from bench.seed import SeedTimes, insert_runs
from runops.features import history
from runops.features.history import charts
from runops.prefect_api.client import open_client
from runops.settings import Settings

ROUNDS = 3  # each path measured this many times, alternating; the median is reported


def chart_specs(result: history.History) -> list[dict[str, Any]]:
    """The four charts as Vega-Lite specs with Arrow datasets, exactly as st.altair_chart does."""
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    built = charts.history_charts(result)
    return [_convert_altair_to_vega_lite_spec(chart) for chart in built]


async def raw_read(client: PrefectClient, deployment_id: UUID, limit: int | None) -> list[FlowRun]:
    """The recipe: COMPLETED runs, newest end time first, `limit` of them, 200 per request."""
    flt = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
    )
    runs: list[FlowRun] = []
    while limit is None or len(runs) < limit:
        size = 200 if limit is None else min(200, limit - len(runs))
        page = await client.read_flow_runs(
            flow_run_filter=flt, sort=FlowRunSort.END_TIME_DESC, limit=size, offset=len(runs)
        )
        runs.extend(page)
        if len(page) < size:
            break
    return runs


async def make_deployment(client: PrefectClient, name: str) -> tuple[UUID, UUID, str]:
    flow_id = await client.create_flow_from_name("bench-history")
    deployment_id = await client.create_deployment(flow_id=flow_id, name=name)
    return flow_id, deployment_id, f"bench-history/{name}"


def spread(n: int, span: timedelta, now: datetime) -> Any:
    """Run i ends i steps before now; durations 30–330 s and lateness 0–59 s vary with i."""
    step = span / n

    def times(i: int) -> SeedTimes:
        end = now - step * (i + 1)
        start = end - timedelta(seconds=30 + (i * 37) % 300)
        return SeedTimes(start - timedelta(seconds=(i * 13) % 60), start, end)

    return times


async def measure(settings: Settings, database_url: str, n_read: int, n_buckets: int) -> list[Row]:
    rows: list[Row] = []
    now = datetime.now(UTC)
    async with open_client(settings) as client:
        flow_id, read_dep, read_name = await make_deployment(client, "last-n")
        _, bucket_dep, bucket_name = await make_deployment(client, "thirty-days")
    started = time.perf_counter()
    await insert_runs(
        database_url,
        read_dep,
        flow_id,
        n_read,
        "COMPLETED",
        "Completed",
        spread(n_read, timedelta(days=7), now),
    )
    await insert_runs(
        database_url,
        bucket_dep,
        flow_id,
        n_buckets,
        "COMPLETED",
        "Completed",
        spread(n_buckets, timedelta(days=29), now),
    )
    print(
        f"seeded {n_read + n_buckets:,} completed runs through Prefect's server-side ORM tables "
        f"(bench/seed.py) in {time.perf_counter() - started:.1f} s"
    )

    # 1. click-to-chart vs raw read, alternating so both see the same warm server
    service_times, raw_times = [], []
    request = history.HistoryRequest(limit=n_read, deployments=(read_name,))
    async with open_client(settings) as client:
        await raw_read(client, read_dep, 200)  # warm-up: connection, first query plan
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            raw = await raw_read(client, read_dep, n_read)
            raw_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = await history.load_history(client, request, settings.run_url)
            specs = chart_specs(result)
            service_times.append(time.perf_counter() - t0)
    assert len(raw) == n_read and len(result.runs) == n_read and len(specs) == 4
    raw_s, service_s = statistics.median(raw_times), statistics.median(service_times)
    rows.append(Row("last N completed → charts", "raw paged read only (recipe)", n_read, raw_s))
    rows.append(
        Row(
            "last N completed → charts",
            "runops service: read + DataFrame + summaries + chart specs",
            n_read,
            service_s,
            note=f"{service_s / raw_s:.2f}× the raw read (target ≤ 1.3×)",
        )
    )

    # 2. bucketed counts over 30 days: server-side aggregation vs reading every run
    window = history.HistoryRequest(limit=1, deployments=(bucket_name,), window=timedelta(days=30))
    size = history.bucket_size(timedelta(days=30))
    server_times, read_times = [], []
    async with open_client(settings) as client:
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            counted = await history.count_buckets(client, window, size, now)
            server_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            everything = await raw_read(client, bucket_dep, None)
            flow_names, deployment_names = await history.names_for(client, everything)
            frame = history.runs_frame(everything, flow_names, deployment_names)
            by_reading = history.bucket_counts(frame, now - timedelta(days=30), size)
            read_times.append(time.perf_counter() - t0)
    assert int(counted["runs"].sum()) == n_buckets == int(by_reading["runs"].sum()), (
        counted["runs"].sum(),
        by_reading["runs"].sum(),
    )
    server_s, read_s = statistics.median(server_times), statistics.median(read_times)
    rows.append(
        Row(f"runs per {charts.bucket_label(size)}, 30 days", "read every run + bucket", n_buckets, read_s)
    )
    rows.append(
        Row(
            f"runs per {charts.bucket_label(size)}, 30 days",
            "server-side /flow_runs/history",
            n_buckets,
            server_s,
            note=f"{read_s / server_s:.1f}× faster than reading (target ≥ 10×)",
        )
    )
    return rows


async def main(args: argparse.Namespace) -> None:
    with bench_setup(args.setup) as server:
        rows = await measure(settings_for(server), str(server.database_url), args.runs, args.buckets)
    read_row, service_row, bucket_read, bucket_server = rows
    service_ratio = service_row.seconds / read_row.seconds
    speedup = bucket_read.seconds / bucket_server.seconds
    checks = [
        Check(
            f"history: click-to-chart of {args.runs:,} runs ÷ the raw paged read (time)",
            f"{service_ratio:.2f}×",
            "≤ 1.3×",
            service_ratio <= 1.3,
        ),
        Check(
            f"history: bucketed counts of {args.buckets:,} runs, server-side vs reading (speed)",
            f"{speedup:.0f}×",
            "≥ 10×",
            speedup >= 10,
        ),
    ]
    report(args, rows, checks, baseline=None, lines=[f"median of {ROUNDS} alternating rounds per path"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    bench_arguments(parser)
    parser.add_argument("--runs", type=int, default=10_000, help="completed runs for click-to-chart")
    parser.add_argument("--buckets", type=int, default=20_000, help="completed runs for bucketed counts")
    asyncio.run(main(parser.parse_args()))
