"""The one place that builds the Prefect client, translates its errors, and checks health."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.context import SettingsContext, get_settings_context
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.settings import Settings as PrefectSettings

from runops.errors import (
    ApiError,
    ApiUnauthorized,
    ApiUnreachable,
    ConfigError,
    NotPrefectApi,
    RunopsError,
)
from runops.settings import Settings

T = TypeVar("T")

MISSING_URL = (
    "PREFECT_API_URL is not set. Start the dashboard with `make dashboard` (it starts a local "
    "Prefect server) or set PREFECT_API_URL to your Prefect API (plus PREFECT_API_KEY for Cloud)."
)


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
    re-sent out of sight, the call no longer matches those runs, and runops reported runs it had
    cancelled as "skipped: already finished" (make bench on bfd335b: 144 of a 10,000-run cancel,
    8 in flight on SQLite). Seen by runops, the failure marks the batch as possibly changed by
    this plan, backs the concurrency off, and runops' own retry (with its back-off) sends it again.
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


def explain(exc: BaseException, api_url: str | None = None) -> RunopsError:
    """Turn a client/transport exception into an error with a message in words."""
    if isinstance(exc, RunopsError):
        return exc
    where = f" at {api_url}" if api_url else ""
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code in (401, 403):
            return ApiUnauthorized(
                f"The Prefect API{where} refused the credentials (HTTP {code}). Check "
                "PREFECT_API_KEY (Prefect Cloud) or PREFECT_API_AUTH_STRING (self-hosted)."
            )
        if code == 404:
            return NotPrefectApi(
                f"{api_url or 'The server'} answered 404 for {exc.request.url.path}: it does not "
                "look like a Prefect 3 API (the URL usually ends in /api)."
            )
        if code in (429, 502, 503, 504):
            return ApiError(f"The Prefect API{where} is overloaded or restarting (HTTP {code}); try again.")
        return ApiError(f"The Prefect API{where} answered HTTP {code}: {_detail(exc.response)}")
    if isinstance(exc, httpx.TimeoutException):
        return ApiUnreachable(f"The Prefect API{where} did not answer in time ({type(exc).__name__}).")
    if isinstance(exc, httpx.ConnectError):
        return ApiUnreachable(f"Cannot reach the Prefect API{where}: {exc or 'connection failed'}.")
    if isinstance(exc, httpx.TransportError):
        return ApiUnreachable(f"The connection to the Prefect API{where} broke: {exc or type(exc).__name__}.")
    if isinstance(exc, (ValueError, TypeError)) and "json" in str(exc).lower():
        return NotPrefectApi(f"The server{where} did not answer with Prefect's JSON.")
    return ApiError(f"Unexpected error talking to the Prefect API{where}: {type(exc).__name__}: {exc}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


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


def run_sync(main: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(main())`, or in a worker thread when this thread already runs a loop
    (Playwright's sync API does, in browser tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Health:
    api_url: str | None
    ok: bool
    message: str
    server_version: str | None = None
    auth: str = "none"


async def check_health(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Health:
    """Is the API reachable, a Prefect API, and do the credentials work? In words."""
    if not settings.api_url:
        return Health(None, False, MISSING_URL)
    try:
        async with open_client(settings, transport) as client:
            health = await client.request("GET", "/health")
            if health.json() is not True:
                raise NotPrefectApi(f"{settings.api_url}/health did not answer like a Prefect API.")
            version = (await client.request("GET", "/admin/version")).json()
            # /health stays open on a server with auth: an authenticated read proves the key.
            await client.request("POST", "/flow_runs/count", json={})
    except ApiError as exc:
        return Health(settings.api_url, False, str(exc), auth=settings.auth_kind)
    except RunopsError as exc:
        return Health(settings.api_url, False, str(exc), auth=settings.auth_kind)
    except Exception as exc:
        return Health(settings.api_url, False, str(explain(exc, settings.api_url)), auth=settings.auth_kind)
    return Health(settings.api_url, True, "ok", server_version=str(version), auth=settings.auth_kind)


def health(settings: Settings) -> Health:
    return run_sync(lambda: check_health(settings))
