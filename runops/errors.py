"""Errors runops reports to people: each carries a message in words, never a traceback."""

from __future__ import annotations


class RunopsError(Exception):
    """Base class; `str(error)` is the message shown in the UI and the CLI."""

    exit_code = 2


class BadInput(RunopsError):
    """The request itself is wrong (unknown name, N <= 0, unparsable time...)."""


class NotAllowed(RunopsError):
    """The user may not do this (read-only mode, not an operator)."""


class ConfigError(RunopsError):
    """runops is not configured to reach a Prefect API."""

    exit_code = 3


class ApiError(RunopsError):
    """The Prefect API could not be used: unreachable, unauthorised, not Prefect."""

    exit_code = 3


class ApiUnreachable(ApiError):
    pass


class ApiUnauthorized(ApiError):
    pass


class NotPrefectApi(ApiError):
    pass
