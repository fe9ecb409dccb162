"""The health check and error translation over plain httpx: no prefect import, so `runops doctor` starts fast."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from runops.errors import (
    ApiError,
    ApiUnauthorized,
    ApiUnreachable,
    NotPrefectApi,
    RunopsError,
)
from runops.settings import Settings

T = TypeVar("T")

MISSING_URL = (
    "PREFECT_API_URL is not set. Start the dashboard with `runops dashboard` (it starts a local "
    "Prefect server) or set PREFECT_API_URL to your Prefect API (plus PREFECT_API_KEY for Cloud)."
)
TRUE = {"1", "true", "yes", "on"}


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
    if isinstance(exc, json.JSONDecodeError) or (
        isinstance(exc, (ValueError, TypeError)) and "json" in str(exc).lower()
    ):
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


def _client_options(settings: Settings) -> dict[str, Any]:
    """What Prefect's client sends and verifies (PrefectClient.__init__): the same credentials
    (the auth string wins over the key) and the TLS settings, as the environment gives them."""
    headers: dict[str, str] = {}
    if settings.auth_string:
        headers["Authorization"] = "Basic " + base64.b64encode(settings.auth_string.encode()).decode()
    elif settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    verify: ssl.SSLContext | bool = True
    if (os.environ.get("PREFECT_API_TLS_INSECURE_SKIP_VERIFY") or "").strip().lower() in TRUE:
        verify = False
    elif os.environ.get("PREFECT_API_SSL_CERT_FILE"):
        verify = ssl.create_default_context(cafile=os.environ["PREFECT_API_SSL_CERT_FILE"])
    return {
        "base_url": f"{settings.api_url}/",
        "headers": headers,
        "verify": verify,
        "timeout": httpx.Timeout(settings.timeout),
    }


async def _authenticated_read(client: httpx.AsyncClient) -> None:
    """A count of flow runs: /health stays open on a server with auth, this read proves the key.
    A server with CSRF protection wants a token on a POST, as Prefect's client fetches one."""
    response = await client.post("flow_runs/count", json={})
    if response.status_code == 403 and "csrf" in response.text.lower():
        csrf_client = str(uuid.uuid4())
        token = await client.get("csrf-token", params={"client": csrf_client})
        token.raise_for_status()
        headers = {"Prefect-Csrf-Token": token.json()["token"], "Prefect-Csrf-Client": csrf_client}
        response = await client.post("flow_runs/count", json={}, headers=headers)
    response.raise_for_status()


async def check_health(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Health:
    """Is the API reachable, a Prefect API, and do the credentials work? In words."""
    if not settings.api_url:
        return Health(None, False, MISSING_URL)
    options = _client_options(settings)
    if transport is not None:
        options["transport"] = transport
    try:
        async with httpx.AsyncClient(**options) as client:
            health = await client.get("health")
            health.raise_for_status()
            if health.json() is not True:
                raise NotPrefectApi(f"{settings.api_url}/health did not answer like a Prefect API.")
            version = await client.get("admin/version")
            version.raise_for_status()
            await _authenticated_read(client)
    except Exception as exc:  # every failure becomes words
        return Health(settings.api_url, False, str(explain(exc, settings.api_url)), auth=settings.auth_kind)
    return Health(settings.api_url, True, "ok", server_version=str(version.json()), auth=settings.auth_kind)


def health(settings: Settings) -> Health:
    return run_sync(lambda: check_health(settings))
