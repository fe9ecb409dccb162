"""The `runops` command line: the dashboard's jobs for scripts, cron and incident runbooks.

A second entrypoint over the same service functions as the pages; it adds only argument
parsing, confirmation, a progress bar and output (text or one JSON document).
Exit codes: 0 done or nothing to do · 1 some runs failed · 2 bad input or refused ·
3 API unreachable, unauthorised or not configured.

Commands import the engine, prefect and pandas inside their bodies: `runops --help` and
`runops doctor` must not pay for them (prefect alone takes most of a second to import).
"""

from __future__ import annotations

import typer

from runops.cli.cancel import cancel_runs
from runops.cli.dashboard import dashboard
from runops.cli.demo import demo_app
from runops.cli.history import doctor, history_cmd
from runops.cli.jobs import jobs_app
from runops.cli.late import late_app
from runops.cli.retry import retry_runs
from runops.cli.stuck import stuck_app

app = typer.Typer(
    help="Bulk operations on a Prefect 3 server: late runs, retry, stuck runs, bulk cancel, history.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(late_app, name="late")
app.add_typer(demo_app, name="demo")
app.add_typer(jobs_app, name="jobs")
app.add_typer(stuck_app, name="stuck")
app.command("cancel")(cancel_runs)
app.command("retry")(retry_runs)
app.command("history")(history_cmd)
app.command("doctor")(doctor)
app.command("dashboard")(dashboard)


def main() -> None:
    app()
