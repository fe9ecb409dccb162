"""What an undo asks for (a job to take back) and which jobs can be undone at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from runops.errors import BadInput
from runops.features.cancel.request import PLAN_ACTION as CANCEL_ACTION
from runops.features.late.request import ACTION as LATE_ACTION
from runops.features.retry.plan import PLAN_ACTION as RETRY_ACTION
from runops.store import Store
from runops.store.jobs import RUNNING, Job, JobBusy

ACTION = "undo a job"
UNDOABLE = (LATE_ACTION, RETRY_ACTION, CANCEL_ACTION)

# what an undo does to one run (stored and printed by these values)
MOVE_BACK = "move back"  # a reschedule: back to the time it had
UNCANCEL = "un-cancel"  # a cancel of a not-started run: Scheduled at its old time again
UNRETRY = "un-retry"  # a retry not started yet: back to the final state it had

TIME_SLACK = timedelta(seconds=1)  # "the same scheduled time": the store keeps microseconds, the API may not
# the job's start (runops' clock) against state timestamps (the server's clock)
CLOCK_SLACK = timedelta(seconds=60)
NOT_UNDOABLE_STARTED = "its process was stopped by the cancel: it cannot be undone (retry it instead)"


def refusal(job: Job) -> str | None:
    """Why `job` cannot be undone (None: it can)."""
    if job.action == ACTION:
        return f"Job {job.id} is itself an undo; undoing an undo is not offered (run the original job again)."
    if job.action not in UNDOABLE:
        return f"Only reschedule, retry and cancel jobs can be undone; job {job.id} is {job.action!r}."
    if job.status == RUNNING:
        return f"Job {job.id} is running; stop it (or let it finish) before undoing it."
    return None


@dataclass(frozen=True)
class UndoRequest:
    """Undo the job `job_id` recorded in `store`."""

    job_id: str
    store: Store = field(compare=False)
    zone: str = "UTC"
    now: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)

    def job(self) -> Job:
        """The job to undo; refused (BadInput, or JobBusy while it runs) when it cannot be."""
        job = self.store.jobs.get(self.job_id.strip())
        why = refusal(job)
        if why is not None:
            raise JobBusy(why) if job.status == RUNNING and job.action in UNDOABLE else BadInput(why)
        return job
