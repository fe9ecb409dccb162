"""Keep a deployment's regular schedule going when runs its schedule made are moved in place.

A run moved in place stays `auto_scheduled`: Prefect's scheduler counts it among the schedule's
future runs and creates no regular run while it has enough of them or one far enough ahead
(`server/services/scheduler.py`: fewer than MIN_RUNS, or the latest before now +
MIN_SCHEDULED_TIME). Moving runs hours ahead would so skip the regular runs in between. After the
move runops asks the server to schedule the deployment's runs from now to the latest moved time
(`/deployments/{id}/schedule`, the scheduler's own generator: one run per schedule date, keyed by
the date, so dates that have a run are not made twice); the scheduler then goes on from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient

from runops.engine.plan import DONE, RunResult
from runops.prefect_api.deployments import schedule_deployment_runs

SCHEDULE_WARNING = (
    "made by its deployment's schedule: moved in place it stays schedule-made, so pausing the "
    "deployment, editing its schedule or re-deploying it deletes it; the regular runs keep coming "
    "beside it (a moved run next to a regular one means both run)"
)


def latest_moved(results: Iterable[RunResult], deployments: Mapping[str, str]) -> dict[str, datetime]:
    """Per deployment (of those whose schedule made the moved runs), the latest time a run was moved to."""
    latest: dict[str, datetime] = {}
    for result in results:
        name = result.deployment
        if result.outcome != DONE or result.new_time is None or name not in deployments:
            continue
        if name not in latest or result.new_time > latest[name]:
            latest[name] = result.new_time
    return latest


async def catch_up(
    client: PrefectClient, results: Iterable[RunResult], deployments: Mapping[str, str]
) -> list[str]:
    """Schedule the regular runs up to the latest moved time of each deployment; notes in words."""
    now = datetime.now(UTC)
    notes = []
    for name, until in sorted(latest_moved(results, deployments).items()):
        if until <= now:
            continue
        await schedule_deployment_runs(client, UUID(deployments[name]), now, until)
        notes.append(
            f"{name}: its regular schedule goes on — runs scheduled up to {until:%Y-%m-%d %H:%M:%S} UTC "
            "(the moved runs would otherwise hold the scheduler back)"
        )
    return notes
