"""The prefect_api reads and single-run changes, against the real test server: gone runs are None,
proposals are never forced, names are read in every page and checked by name."""

from __future__ import annotations

from uuid import uuid4

from prefect.client.schemas.objects import StateType
from prefect.states import Cancelling, Late, Scheduled

from runops.prefect_api import deployments, flow_runs, flows, workers
from tests.factories import Prefect, ago, later, unique


def test_a_deleted_run_reads_as_none_and_is_not_changed(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    (run,) = prefect.runs(deployment, [Late(scheduled_time=ago(hours=1))])

    async def scenario(client):
        assert (await flow_runs.read_flow_run(client, run.id)).id == run.id
        await flow_runs.delete_flow_run(client, run.id)
        gone = await flow_runs.read_flow_run(client, run.id)
        answer = await flow_runs.set_flow_run_state(client, run.id, Scheduled(scheduled_time=later(hours=1)))
        return gone, answer

    gone, answer = prefect.run(scenario)
    assert gone is None and answer is None
    assert prefect.read(run.id) is None  # nothing was made in its place


def test_a_proposal_is_never_forced(prefect: Prefect) -> None:
    """The server's rules decide: a Cancelling run may only become Cancelled (forced, it would be
    Scheduled now); a Late one is moved as proposed."""
    deployment = prefect.deployment()
    (cancelling,) = prefect.runs(deployment, [Cancelling(message="stopping")])
    (late,) = prefect.late_runs(deployment, 1)
    when = later(hours=2)

    async def propose(client):
        return [
            await flow_runs.set_flow_run_state(client, run.id, Scheduled(scheduled_time=when))
            for run in (cancelling, late)
        ]

    refused, moved = prefect.run(propose)
    assert refused is not None and refused.status == "REJECT"
    assert moved is not None and moved.status == "ACCEPT" and moved.state_type == "SCHEDULED"
    assert prefect.read(cancelling.id).state_type == StateType.CANCELLING
    stored = prefect.read(late.id)
    assert stored.state_type == StateType.SCHEDULED and stored.next_scheduled_start_time == when


def test_runs_are_read_counted_and_their_states_listed(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    made = prefect.late_runs(deployment, 3)
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    where = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))

    async def read(client):
        page = await flow_runs.read_flow_runs(client, flow_run_filter=where, limit=2)
        rest = await flow_runs.read_flow_runs(client, flow_run_filter=where, limit=2, offset=2)
        count = await flow_runs.count_flow_runs(client, flow_run_filter=where)
        states = await flow_runs.read_flow_run_states(client, made[0].id)
        return page, rest, count, states

    page, rest, count, states = prefect.run(read)
    assert len(page) == 2 and len(rest) == 1 and count == 3
    assert {r.id for r in page + rest} == {r.id for r in made}
    assert [s.name for s in states] == ["Late"]


def test_a_replacement_with_the_same_key_is_not_made_twice(prefect: Prefect) -> None:
    deployment = prefect.deployment()
    key = f"runops-test-{uuid4()}"

    async def make(client):
        fields = {"state": Scheduled(scheduled_time=later(hours=1)), "idempotency_key": key}
        first = await flow_runs.create_flow_run_from_deployment(client, deployment.id, **fields)
        again = await flow_runs.create_flow_run_from_deployment(client, deployment.id, **fields)
        return first, again

    first, again = prefect.run(make)
    assert first.id == again.id
    assert [r.id for r in prefect.runs_of(deployment)] == [first.id]


def test_deployments_read_in_full_and_by_id(prefect: Prefect) -> None:
    made = [prefect.deployment(flow=unique("reads")) for _ in range(3)]

    async def read(client):
        everything = await deployments.read_deployments(client)
        some = await deployments.read_deployments_by_id(client, [made[0].id, made[2].id, uuid4()])
        return everything, some

    everything, some = prefect.run(read)
    assert {d.id for d in made} <= {d.id for d in everything}
    assert {d.id for d in some} == {made[0].id, made[2].id}  # an unknown id is left out


def test_flow_and_pool_names_read_checked_and_limited(prefect: Prefect) -> None:
    made = [prefect.deployment(flow=unique("names"), work_pool=unique("pool")) for _ in range(3)]
    flow_names = [d.flow for d in made]
    pool_names = [d.work_pool for d in made]

    async def read(client):
        return (
            await flows.read_flow_names(client),
            await flows.read_flow_names(client, names=[flow_names[0], "no-such-flow"]),
            await flows.read_flow_names(client, limit=2),
            await flows.read_flow_names_by_id(client, await _flow_ids(client, made)),
            await workers.read_work_pool_names(client),
            await workers.read_work_pool_names(client, names=[pool_names[1], "no-such-pool"]),
            await workers.read_work_pool_names(client, limit=1),
        )

    all_flows, one_flow, two_flows, by_id, all_pools, one_pool, first_pool = prefect.run(read)
    assert set(flow_names) <= set(all_flows)
    assert one_flow == [flow_names[0]]
    assert len(two_flows) == 2
    assert sorted(by_id.values()) == sorted(flow_names)
    assert set(pool_names) <= set(all_pools)
    assert one_pool == [pool_names[1]]
    assert len(first_pool) == 1


async def _flow_ids(client, made):
    found = await deployments.read_deployments_by_id(client, [d.id for d in made])
    return [d.flow_id for d in found]
