"""The dashboard's pages in one list: app.py registers them, the overview links to them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    blurb: str = ""


PAGES = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:"),
    PageSpec("pages/late_runs.py", "Late runs", ":material/schedule:", "Reschedule late runs in bulk"),
    PageSpec("pages/history.py", "History", ":material/insights:", "Review completed-run history"),
    PageSpec("pages/retry_failed.py", "Retry failed", ":material/replay:", "Retry failed runs in place"),
    PageSpec(
        "pages/stuck_runs.py",
        "Stuck runs",
        ":material/hourglass_disabled:",
        "Clear runs stuck after a worker died",
    ),
    PageSpec("pages/bulk_cancel.py", "Bulk cancel", ":material/cancel:", "Cancel every matching run"),
    PageSpec("pages/activity.py", "Activity", ":material/history:", "Who did what, and to which runs"),
)


def available(root: Path = ROOT) -> list[PageSpec]:
    """Pages whose file exists in this build; `root` is app.py's folder (a checkout, or where a
    wheel installed it)."""
    return [page for page in PAGES if (root / page.path).exists()]
