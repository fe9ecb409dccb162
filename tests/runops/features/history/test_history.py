"""History service against the real test server, with runs backdated through the server's database."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from prefect.states import Completed, Crashed, Failed, Pending, Running, Scheduled

from runops.dev.backdate import RunTimes
from runops.dev.server import free_port
from runops.errors import ApiUnreachable, BadInput
from runops.features import history
from runops.features.history import HistoryRequest
from runops.prefect_api.client import call
from runops.settings import Settings
from tests.factories import Prefect, finished_runs, unique

# A fixed, recent anchor on a whole hour so bucket edges are predictable.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def load(prefect: Prefect, request: HistoryRequest, **kwargs) -> history.History:
    return call(prefect.settings, history.load_history, request, prefect.settings.run_url, **kwargs)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def test_last_n_newest_end_first_and_limit(prefect: Prefect) -> None:
    dep = prefect.deployment()
    rows = []
    for i in range(6):
        end = NOW - timedelta(hours=i + 1)
        rows.append((Completed(), end - seconds(120), end - seconds(100), end))
    runs = finished_runs(prefect, dep, rows)

    result = load(prefect, HistoryRequest(limit=4, deployments=(dep.full_name,)))

    newest_first = [str(r.id) for r in sorted(runs, key=lambda r: r.end_time, reverse=True)]
    assert list(result.runs["run_id"]) == newest_first[:4]
    assert result.runs["end"].is_monotonic_decreasing
    assert result.matching == 6 and result.truncated
    # what was charted is what the server stores
    stored = prefect.read(runs[0].id)
    row = result.runs[result.runs["run_id"] == str(runs[0].id)].iloc[0]
    assert row["end"].to_pydatetime() == stored.end_time
    assert row["url"] == prefect.settings.run_url(runs[0].id)
    assert row["deployment"] == dep.full_name and row["flow"] == dep.flow

    everything = load(prefect, HistoryRequest(limit=100, deployments=(dep.full_name,)))
    assert len(everything.runs) == 6 and not everything.truncated


def test_durations_lateness_and_summaries_are_exact(prefect: Prefect) -> None:
    dep = prefect.deployment()
    rows = []
    # durations 60..300 s, lateness 0..40 s, all ending in the last day
    for i in range(5):
        expected = NOW - timedelta(hours=10 - i)
        start = expected + seconds(10 * i)
        rows.append((Completed(), expected, start, start + seconds(60 * (i + 1))))
    runs = finished_runs(prefect, dep, rows, tags=["exact"])

    result = load(prefect, HistoryRequest(deployments=(dep.full_name,), window=timedelta(days=1)))

    frame = result.runs.set_index("run_id")
    for i, run in enumerate(runs):
        stored = prefect.read(run.id)
        assert frame.loc[str(run.id), "duration_s"] == pytest.approx(60.0 * (i + 1), abs=1e-6)
        assert frame.loc[str(run.id), "lateness_s"] == pytest.approx(10.0 * i, abs=1e-6)
        assert frame.loc[str(run.id), "duration_s"] == (stored.end_time - stored.start_time).total_seconds()
        assert frame.loc[str(run.id), "state"] == "Completed"
        assert frame.loc[str(run.id), "tags"] == "exact"
    assert list(result.runs.columns) == list(history.COLUMNS)

    overall = result.overall
    assert overall.runs == 5 and overall.completed == 5 and overall.failed == 0
    assert overall.success_rate is None  # failures were not read: no made-up 100 %
    assert overall.median_duration_s == pytest.approx(180.0)
    assert overall.p95_duration_s == pytest.approx(288.0)  # 240 + 0.8 * 60, linear interpolation
    assert overall.median_lateness_s == pytest.approx(20.0)
    assert overall.p95_lateness_s == pytest.approx(38.0)
    per = result.per_deployment
    assert list(per["deployment"]) == [dep.full_name]
    assert per.iloc[0]["median_duration_s"] == pytest.approx(180.0)


def test_success_rate_with_failed_and_crashed(prefect: Prefect) -> None:
    dep_a, dep_b = prefect.deployment(), prefect.deployment()
    end = NOW - timedelta(hours=2)

    def row(state, minutes: int):
        finish = end - timedelta(minutes=minutes)
        return (state, finish - seconds(90), finish - seconds(60), finish)

    finished_runs(
        prefect, dep_a, [row(Completed(), 1), row(Completed(), 2), row(Completed(), 3), row(Failed(), 4)]
    )
    finished_runs(prefect, dep_b, [row(Completed(), 5), row(Crashed(), 6)])
    names = (dep_a.full_name, dep_b.full_name)

    only_completed = load(prefect, HistoryRequest(deployments=names))
    assert set(only_completed.runs["state"]) == {"Completed"}
    assert len(only_completed.runs) == 4 and only_completed.overall.success_rate is None

    result = load(prefect, HistoryRequest(deployments=names, include_failed=True))
    assert Counter(result.runs["state"]) == {"Completed": 4, "Failed": 1, "Crashed": 1}
    assert result.overall.success_rate == pytest.approx(4 / 6)
    assert result.overall.failed == 2
    # durations only of completed runs; lateness of all six
    assert result.overall.median_duration_s == pytest.approx(60.0)
    assert result.overall.median_lateness_s == pytest.approx(30.0)
    per = result.per_deployment.set_index("deployment")
    assert per.loc[dep_a.full_name, "success_rate"] == pytest.approx(0.75)
    assert per.loc[dep_b.full_name, "success_rate"] == pytest.approx(0.5)
    assert list(result.per_deployment["deployment"]) == [dep_a.full_name, dep_b.full_name]  # most runs first


def test_filters_by_flow_tag_work_pool_and_window(prefect: Prefect) -> None:
    pool = unique("pool")
    flow = unique("flow")
    in_pool = prefect.deployment(flow=flow, work_pool=pool)
    other = prefect.deployment(flow=flow)
    tag = unique("tag")

    def row(hours: float):
        finish = NOW - timedelta(hours=hours)
        return (Completed(), finish - seconds(30), finish - seconds(20), finish)

    pooled = finished_runs(prefect, in_pool, [row(1), row(30)], tags=[tag])
    plain = finished_runs(prefect, other, [row(2), row(50)])

    by_flow = load(prefect, HistoryRequest(flows=(flow,)))
    assert set(by_flow.runs["run_id"]) == {str(r.id) for r in pooled + plain}
    assert set(by_flow.runs["flow"]) == {flow}

    by_pool = load(prefect, HistoryRequest(work_pools=(pool,)))
    assert set(by_pool.runs["run_id"]) == {str(r.id) for r in pooled}

    by_tag = load(prefect, HistoryRequest(tags=(tag,)))
    assert set(by_tag.runs["run_id"]) == {str(r.id) for r in pooled}

    last_day = load(prefect, HistoryRequest(flows=(flow,), window=timedelta(days=1)))
    assert set(last_day.runs["run_id"]) == {str(pooled[0].id), str(plain[0].id)}
    assert last_day.window_end - last_day.window_start == timedelta(days=1)

    between = load(
        prefect,
        HistoryRequest(
            flows=(flow,),
            ended_after=NOW - timedelta(hours=40),
            ended_before=NOW - timedelta(hours=1, minutes=30),
        ),
    )
    assert set(between.runs["run_id"]) == {str(plain[0].id), str(pooled[1].id)}

    both = load(prefect, HistoryRequest(deployments=(in_pool.full_name, other.name), flows=(flow,)))
    assert len(both.runs) == 4


def test_empty_window(prefect: Prefect) -> None:
    dep = prefect.deployment()
    finish = NOW - timedelta(days=3)
    finished_runs(prefect, dep, [(Completed(), finish - seconds(5), finish - seconds(4), finish)])

    result = load(prefect, HistoryRequest(deployments=(dep.full_name,), window=timedelta(hours=6)))

    assert result.empty and result.matching == 0 and not result.truncated
    assert list(result.runs.columns) == list(history.COLUMNS)
    assert result.overall.runs == 0 and result.overall.median_duration_s is None
    assert result.buckets.empty and result.per_deployment.empty


def test_more_than_one_page(prefect: Prefect) -> None:
    dep = prefect.deployment()
    base = NOW - timedelta(days=1)
    rows = [
        (Completed(), base + seconds(60 * i), base + seconds(60 * i + 5), base + seconds(60 * i + 35))
        for i in range(230)
    ]
    # one at a time: concurrent creates on SQLite meet "database is locked" 503s on a busy machine
    created = prefect.runs(dep, [r[0] for r in rows], concurrency=1)
    prefect.backdate([RunTimes(run.id, e, s, f) for run, (_, e, s, f) in zip(created, rows, strict=True)])

    result = load(prefect, HistoryRequest(limit=210, deployments=(dep.full_name,)))
    assert len(result.runs) == 210 and result.runs["run_id"].is_unique
    assert result.runs["end"].is_monotonic_decreasing
    expected = [str(r.id) for r in reversed(created)][:210]  # created oldest first
    assert list(result.runs["run_id"]) == expected

    all_runs = load(prefect, HistoryRequest(limit=10_000, deployments=(dep.full_name,)))
    assert len(all_runs.runs) == 230 and all_runs.matching == 230
    assert (all_runs.runs["duration_s"] == 30.0).all() and (all_runs.runs["lateness_s"] == 5.0).all()


def test_names_are_fetched_in_batches(prefect: Prefect) -> None:
    deps = [prefect.deployment(), prefect.deployment()]
    tag = unique("batch")
    for dep in deps:
        finish = NOW - timedelta(hours=3)
        finished_runs(
            prefect, dep, [(Completed(), finish - seconds(9), finish - seconds(8), finish)] * 3, tags=[tag]
        )

    calls: Counter[str] = Counter()

    class Counting(httpx.AsyncBaseTransport):
        """Observes paths on the way to the real server (no fault, no fake answers)."""

        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            calls[request.url.path.split("/api", 1)[-1]] += 1
            return await self.inner.handle_async_request(request)

    result = call(
        prefect.settings, history.load_history, HistoryRequest(tags=(tag,)), None, transport=Counting()
    )
    assert len(result.runs) == 6 and set(result.runs["deployment"]) == {d.full_name for d in deps}
    assert calls["/deployments/filter"] == 1
    assert calls["/flows/filter"] == 1
    assert calls["/flow_runs/filter"] == 1


def test_server_side_buckets_when_more_runs_than_n(prefect: Prefect) -> None:
    dep = prefect.deployment()
    # 12 runs, each in the middle of a 30-minute bucket, so expected start and end share a bucket
    rows = []
    for i in range(12):
        expected = NOW - timedelta(hours=20) + timedelta(minutes=30 * (i // 3) + 10)
        state = Failed() if i % 3 == 2 else Completed()
        rows.append((state, expected, expected + seconds(30), expected + seconds(90)))
    finished_runs(prefect, dep, rows)
    request = HistoryRequest(
        limit=5, deployments=(dep.full_name,), window=timedelta(days=1), include_failed=True
    )

    result = load(prefect, request, now=NOW)

    assert result.buckets_from_server and result.truncated
    assert len(result.runs) == 5 and result.matching == 12
    assert result.bucket == timedelta(minutes=30)
    assert int(result.buckets["runs"].sum()) == 12
    by_state = result.buckets.groupby("state")["runs"].sum().to_dict()
    assert by_state == {"Completed": 8, "Failed": 4}
    assert (result.buckets["bucket_end"] - result.buckets["bucket_start"] == pd.Timedelta(minutes=30)).all()
    # the same counts as bucketing every run client-side
    everything = load(prefect, HistoryRequest(limit=100, deployments=(dep.full_name,), include_failed=True))
    client_side = history.bucket_counts(everything.runs, NOW - timedelta(days=1), timedelta(minutes=30))
    pd.testing.assert_frame_equal(
        result.buckets.sort_values(["bucket_start", "state"], ignore_index=True),
        client_side.sort_values(["bucket_start", "state"], ignore_index=True),
        check_dtype=False,
    )
    direct = call(prefect.settings, history.count_buckets, request, None, NOW)
    assert int(direct["runs"].sum()) == 12


def test_csv_round_trip(prefect: Prefect) -> None:
    dep = prefect.deployment()
    finish = NOW - timedelta(hours=5)
    runs = finished_runs(prefect, dep, [(Completed(), finish - seconds(70), finish - seconds(60), finish)])
    result = load(prefect, HistoryRequest(deployments=(dep.full_name,)))

    table = pd.read_csv(io.BytesIO(history.to_csv(result.runs)))
    assert list(table.columns) == list(history.COLUMNS)
    assert table.loc[0, "run_id"] == str(runs[0].id)
    assert table.loc[0, "duration_s"] == 60.0 and table.loc[0, "lateness_s"] == 10.0
    assert datetime.fromisoformat(table.loc[0, "end"]) == runs[0].end_time


@pytest.mark.parametrize("limit", [0, -5, "many", 2.5, history.MAX_LIMIT + 1])
def test_bad_n_is_refused_in_words(limit) -> None:
    with pytest.raises(BadInput, match="N "):
        HistoryRequest(limit=limit)


def test_bad_window_is_refused() -> None:
    with pytest.raises(BadInput, match="longer than zero"):
        HistoryRequest(window=timedelta(hours=-1))
    with pytest.raises(BadInput, match="before its end"):
        HistoryRequest(ended_after=NOW, ended_before=NOW - timedelta(hours=1))
    assert HistoryRequest(limit=10_000).limit == 10_000


def test_lateness_of_a_run_moved_in_place_is_from_its_new_time(prefect: Prefect) -> None:
    dep = prefect.deployment()
    first, moved_to = NOW - timedelta(hours=6), NOW - timedelta(minutes=30)
    # one run moved in place from `first` to `moved_to` (as runops does), then run; one run not moved
    moved, plain = prefect.runs(dep, [Scheduled(scheduled_time=first), Scheduled(scheduled_time=first)])
    prefect.set_state(moved.id, Scheduled(scheduled_time=moved_to), force=False)
    for run in (moved, plain):
        for state in (Pending(), Running(), Completed()):
            prefect.set_state(run.id, state)
    prefect.backdate(
        [
            RunTimes(moved.id, first, moved_to + seconds(3), moved_to + seconds(63)),
            RunTimes(plain.id, first, first + seconds(4), first + seconds(64)),
        ]
    )
    stored = prefect.read(moved.id)
    # Prefect keeps the first time, and forgets the new one once the run leaves Scheduled
    assert stored.expected_start_time == first and stored.next_scheduled_start_time is None

    frame = load(prefect, HistoryRequest(deployments=(dep.full_name,))).runs.set_index("run_id")
    assert frame.loc[str(moved.id), "lateness_s"] == pytest.approx(3.0)  # not 5h 30m
    assert frame.loc[str(moved.id), "scheduled_start"].to_pydatetime() == moved_to
    assert frame.loc[str(moved.id), "expected_start"].to_pydatetime() == first
    assert bool(frame.loc[str(moved.id), "rescheduled"]) is True
    assert frame.loc[str(plain.id), "lateness_s"] == pytest.approx(4.0)
    assert frame.loc[str(plain.id), "scheduled_start"].to_pydatetime() == first
    assert bool(frame.loc[str(plain.id), "rescheduled"]) is False


def test_unknown_deployment_suggests_close_names(prefect: Prefect) -> None:
    dep = prefect.deployment()
    with pytest.raises(BadInput, match="Unknown deployment") as info:
        load(prefect, HistoryRequest(deployments=(dep.full_name + "x",)))
    assert dep.full_name in str(info.value)
    assert prefect.runs_of(dep) == []  # reading changed nothing


def test_unreachable_api_is_an_error_in_words() -> None:
    down = Settings(api_url=f"http://127.0.0.1:{free_port()}/api", timeout=2)
    with pytest.raises(ApiUnreachable, match="Cannot reach the Prefect API"):
        call(down, history.load_history, HistoryRequest())


def test_bucket_size_follows_window() -> None:
    assert history.bucket_size(timedelta(hours=1)) == timedelta(minutes=1)
    assert history.bucket_size(timedelta(days=1)) == timedelta(minutes=30)
    assert history.bucket_size(timedelta(days=7)) == timedelta(hours=3)
    assert history.bucket_size(timedelta(days=30)) == timedelta(hours=12)
    assert history.bucket_size(timedelta(days=90)) == timedelta(days=1)
    assert history.bucket_size(timedelta(days=365 * 20)) * history.SERVER_MAX_BUCKETS >= timedelta(
        days=365 * 20
    )


def test_the_selection_names_its_window_in_the_viewers_zone() -> None:
    end = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    request = HistoryRequest(window=timedelta(hours=2), zone="Europe/Berlin")
    words = request.selection(now=end).describe()
    assert "2026-12-02 08:00 CET" in words and "2026-12-02 10:00 CET" in words and "UTC" not in words
