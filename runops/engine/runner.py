"""The dashboard's job executor: jobs apply in threads of the dashboard process, not in a page's
script run, so closing the tab, Back, a reload or another page does not stop them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runops.engine import jobs
from runops.engine.execute import StopSignal
from runops.engine.plan import Plan
from runops.prefect_api.client import open_client, run_sync
from runops.settings import Settings, public_url
from runops.store import Store
from runops.store.jobs import STOPPED


class JobRunner:
    """Starts, resumes and stops jobs in background threads; what they do is in the store."""

    def __init__(self) -> None:
        self._stops: dict[str, StopSignal] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, settings: Settings, store: Store, plan: Plan, *, actor: str, reason: str = "") -> str:
        """Record the job (refused here, in the caller's thread, if it may not run), then apply it
        in the background; returns the job's id at once."""
        job = jobs.submit(store, plan, actor=actor, reason=reason, api_url=public_url(settings.api_url))
        stop = StopSignal()

        async def apply() -> Any:
            async with open_client(settings) as client:
                return await jobs.apply_recorded(client, job, plan, actor=actor, reason=reason, stop=stop)

        self._spawn(job.job_id, stop, apply, on_error=lambda exc: jobs.give_up(store, job, exc))
        return job.job_id

    def resume(
        self, settings: Settings, store: Store, job_id: str, *, actor: str, allow_past: bool = False
    ) -> bool:
        """Claim the job here (refused at once if it runs elsewhere), then finish it in the
        background; false when it had nothing left to do."""
        resumption = jobs.claim_for_resume(store, job_id, actor=actor, allow_past=allow_past)
        if resumption is None:
            return False
        stop = StopSignal()

        async def apply() -> Any:
            async with open_client(settings) as client:
                return await jobs.apply_resumption(client, resumption, actor=actor, stop=stop)

        self._spawn(job_id, stop, apply, on_error=lambda exc: None)
        return True

    def stop(self, store: Store, job_id: str) -> bool:
        """Stop a running job, wherever it runs (the store carries the request to other replicas)."""
        with self._lock:
            local = self._stops.get(job_id)
        if local is not None:
            local.request(STOPPED)
        return store.jobs.request_stop(job_id) or local is not None

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Wait for a job this process applies (tests, shutdown); true when it ended."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _spawn(
        self,
        job_id: str,
        stop: StopSignal,
        apply: Callable[[], Any],
        on_error: Callable[[BaseException], None],
    ) -> None:
        def main() -> None:
            try:
                run_sync(apply)
            except Exception as exc:  # the job's record says what happened; nothing to raise into
                on_error(exc)
            finally:
                with self._lock:
                    self._stops.pop(job_id, None)

        # a daemon: stopping the dashboard must not wait for a job; the job is then interrupted
        # (its heartbeat stops) and can be resumed
        thread = threading.Thread(target=main, name=f"runops-job-{job_id[:8]}", daemon=True)
        with self._lock:
            self._stops[job_id] = stop
            self._threads[job_id] = thread
        thread.start()


RUNNER = JobRunner()  # one per dashboard process, shared by every session
