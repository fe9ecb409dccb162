"""`runops demo seed`: demo data for the embedded server."""

from __future__ import annotations

from typing import Annotated

import typer

from runops.cli.common import (
    err,
    settings,
    words,
)
from runops.errors import BadInput
from runops.settings import Settings

demo_app = typer.Typer(help="Demo data for the embedded server.", no_args_is_help=True)


@demo_app.command("seed")
def demo_seed(
    api_url: Annotated[str | None, typer.Option(help="Seed this server instead of the embedded one.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="That server's database URL (required with --api-url).")
    ] = None,
) -> None:
    """Seed demo data into the embedded server (started for the purpose), or into a server named explicitly."""
    from runops.dev import demo
    from runops.prefect_api.client import call

    with words():
        if api_url:
            if not database_url:
                raise BadInput(
                    "--api-url needs --database-url: demo history is written into the server's database."
                )
            typer.echo(call(Settings(api_url=api_url), demo.seed, database_url))
            return
        from runops.dev.server import LocalPrefectServer

        home = settings().home.resolve()
        server = LocalPrefectServer(home / "server", ui=False)
        err(f"starting the embedded Prefect server (data in {server.home})…")
        with server:
            typer.echo(call(Settings(api_url=server.api_url), demo.seed, str(server.database_url)))
