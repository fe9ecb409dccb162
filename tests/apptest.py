"""AppTest helpers: open the dashboard (or one page) by absolute path, read metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def open_app(script: str = "app.py", timeout: float = 90, context: dict[str, Any] | None = None) -> AppTest:
    """An AppTest for `script` (relative to the repo root), already run once; `context` is what
    the simulated browser reports as `st.context` (its time zone, say)."""
    at = AppTest.from_file(str(ROOT / script), default_timeout=timeout)
    at.context.update(context or {})
    return at.run()


def metric_value(at: AppTest, label: str) -> int:
    for metric in at.metric:
        if metric.label == label:
            return int(str(metric.value).replace(",", ""))
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def finish_job(at: AppTest, key: str, timeout: float = 120) -> str:
    """Wait for the job the page `key` started (it runs in the dashboard's background), then
    rerun the page to show its report; returns the job's id."""
    from runops.engine.runner import RUNNER

    job_id = at.session_state[f"{key}.state"].job
    assert RUNNER.wait(job_id, timeout), f"job {job_id} still running after {timeout}s"
    at.run()
    assert not at.exception, at.exception
    return str(job_id)


def resume_job(at: AppTest, job_id: str, timeout: float = 120) -> None:
    """Click the job's Resume button and wait for the resumed job."""
    from runops.engine.runner import RUNNER

    at.button(key=f"job.{job_id}.resume").click().run()
    assert not at.exception, at.exception
    assert RUNNER.wait(job_id, timeout)
    at.run()
