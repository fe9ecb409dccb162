"""The `runops` command line: the dashboard's jobs for scripts, cron and incident runbooks."""

from __future__ import annotations

from runops.cli.app import app, main

__all__ = ["app", "main"]
