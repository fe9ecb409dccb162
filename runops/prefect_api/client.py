"""The one place that builds the Prefect client; its errors and the health check live in `health`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.context import SettingsContext, get_settings_context
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.settings import Settings as PrefectSettings

from runops.errors import ConfigError, RunopsError
from runops.prefect_api.health import MISSING_URL, explain, run_sync
from runops.settings import Settings

T = TypeVar("T")


def client_retries() -> int:
    """Retries inside Prefect's client per request.

    Its default (5, backing off 2, 4, ... 32 s) makes one request to a dead API hang for about a
    minute; runops retries whole run actions itself, so it keeps the client's own retries short.
    An explicit PREFECT_CLIENT_MAX_RETRIES wins.
    """
    value = os.environ.get("PREFECT_CLIENT_MAX_RETRIES")
    return int(value) if value and value.isdigit() else 2


_single_try: list[tuple[PrefectSettings, PrefectSettings]] = []  # (settings in use, its copy)


@contextmanager
def without_client_retries() -> Iterator[None]:
    """Requests made inside go out once: Prefect's client does not re-send them itself after a
    503/429/502/408 or a lost answer, so the caller sees every try that may have reached the server.

    For a state change runops must: the server answers a bulk call 503 when SQLite's lock hits
    one run's commit after earlier runs of the call were changed (each is its own transaction);
    re-sent out of sight, the call no longer matches those runs, and runops would report runs it
    had cancelled as "skipped: already finished". Seen by runops, the failure marks the batch as
    possibly changed by this plan, backs the concurrency off, and runops' own retry (with its
    back-off) sends it again.
    """
    context = get_settings_context()
    # copying Prefect's settings takes ~80 ms: once for the settings in use, not per request
    kept = next((k for k in _single_try if k[0] is context.settings), None)
    if kept is None:
        kept = (context.settings, context.settings.copy_with_update(updates={PREFECT_CLIENT_MAX_RETRIES: 0}))
        _single_try[:] = [kept]
    with SettingsContext(profile=context.profile, settings=kept[1]):
        yield


@contextmanager
def sent_once(
    sent: set[UUID], ids: Iterable[UUID], unchanged: tuple[int, ...] = (404, 405)
) -> Iterator[None]:
    """A change of these runs made inside goes out once (`without_client_retries`); if it fails
    in a way that may have reached the server, `ids` join `sent`, so that a re-read can tell this
    job's own change from someone else's. `unchanged`: statuses that say the server did nothing
    (404; 405 from an API without the endpoint)."""
    ids = list(ids)
    try:
        with without_client_retries():
            yield
    except ObjectNotFound:
        raise
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code not in unchanged:
            sent.update(ids)
        raise
    except Exception:
        sent.update(ids)
        raise


def build_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> PrefectClient:
    """A PrefectClient for `settings`; `transport` exists only for fault-injection tests."""
    if not settings.api_url:
        raise ConfigError(MISSING_URL)
    httpx_settings: dict[str, Any] = {"timeout": httpx.Timeout(settings.timeout)}
    if transport is not None:
        httpx_settings["transport"] = transport
    return PrefectClient(
        settings.api_url,
        api_key=settings.api_key,
        auth_string=settings.auth_string,
        httpx_settings=httpx_settings,
    )


@asynccontextmanager
async def open_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[PrefectClient]:
    """An entered client whose failures come out as RunopsError."""
    client = build_client(settings, transport)
    try:
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: client_retries()}):
            async with client:
                yield client
    except RunopsError:
        raise
    except Exception as exc:  # every client/transport failure becomes words
        raise explain(exc, settings.api_url) from exc


def call(
    settings: Settings,
    action: Callable[..., Awaitable[T]],
    *args: Any,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> T:
    """The sync facade: one `asyncio.run` per action, with a client handed to `action`."""

    async def main() -> T:
        async with open_client(settings, transport) as client:
            return await action(client, *args, **kwargs)

    return run_sync(main)
