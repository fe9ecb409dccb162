"""`runops dashboard`: serve the dashboard, with the embedded Prefect server unless PREFECT_API_URL is set."""

from __future__ import annotations

from typing import Annotated

import typer


def dashboard(
    port: Annotated[
        int, typer.Option("--port", envvar="RUNOPS_DASHBOARD_PORT", help="The dashboard's port.")
    ] = 8501,
    prefect_port: Annotated[
        int,
        typer.Option(
            "--prefect-port", envvar="RUNOPS_PREFECT_PORT", help="The embedded Prefect server's port."
        ),
    ] = 4200,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Seed demo data on the embedded server's first start.")
    ] = True,
) -> None:
    """Serve the dashboard: on PREFECT_API_URL, or on the embedded Prefect server (data in RUNOPS_HOME,
    demo data seeded on its first start). Ctrl-C stops both."""
    from runops.dev.launcher import serve

    raise typer.Exit(serve(port=port, prefect_port=prefect_port, demo=demo))
