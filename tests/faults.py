"""Fault injection at the HTTP transport, for failures a real Prefect server cannot produce on demand.

Every request still goes to the real server; these only cut connections, lose answers, or make
the server's bulk endpoint answer for chosen runs as it does when one run's change raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID, uuid4

import httpx

STATE_CHANGE = "set_state"  # /flow_runs/{id}/set_state and /flow_runs/bulk_set_state
# how a busy server answers (SQLite's "database is locked" is 503): the client tries again, so a
# fault that counts requests does not count these
BUSY = (429, 503)


def busy_answer(request: httpx.Request) -> httpx.Response:
    """Prefect's answer when SQLite's lock hit the request ("database is locked")."""
    return httpx.Response(503, json={"exception_message": "Service Unavailable"}, request=request)


def runs_in(request: httpx.Request) -> int:
    """How many runs a state-change request is about (a bulk call names them in its filter)."""
    if request.url.path.endswith("/bulk_set_state"):
        body = json.loads(request.content or b"{}")
        return len(((body.get("flow_runs") or {}).get("id") or {}).get("any_") or [])
    return 1


class Passthrough(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def forward_json(self, request: httpx.Request, body: object) -> tuple[int, Any]:
        """Send `request` to the real server with another JSON body; its status and JSON answer."""
        sent = httpx.Request(
            request.method,
            request.url,
            headers={k: v for k, v in request.headers.items() if k != "content-length"},
            json=body,
        )
        response = await self.inner.handle_async_request(sent)
        await response.aread()
        return response.status_code, json.loads(response.content)

    async def aclose(self) -> None:
        await self.inner.aclose()


class DownAfter(Passthrough):
    """The API goes away after `ok` runs' state changes: every later request cannot connect."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok, self.changes, self.down = ok, 0, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counted = 0
        if not self.down and request.url.path.endswith(STATE_CHANGE):
            counted = runs_in(request)  # before the answer: requests in flight together count at once
            self.changes += counted
            self.down = self.changes > self.ok
        if self.down:
            raise httpx.ConnectError("connection refused (injected fault)", request=request)
        response = await self.inner.handle_async_request(request)
        if response.status_code in BUSY:
            self.changes -= counted  # tried again; the fault is meant for changes the server answered
        return response


class LosesAnswers(Passthrough):
    """The first `n` state-change requests reach the server and change its runs, but their answers
    are lost on the way back: the connection resets, or (`busy`) the answer is 503 "Service
    Unavailable" — what Prefect answers when SQLite's lock hits a bulk call after some of its runs
    were changed (each is its own transaction). Prefect's client re-sends either on its own.
    `paths`: the endpoints whose answers are lost (by how the path ends)."""

    def __init__(self, n: int, busy: bool = False, paths: tuple[str, ...] = (STATE_CHANGE,)) -> None:
        super().__init__()
        self.n, self.busy, self.paths = n, busy, paths

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        # a busy answer the server gave on its own is passed on: the lost answers are of changes made
        if request.url.path.endswith(self.paths) and self.n > 0 and response.status_code not in BUSY:
            self.n -= 1
            await response.aread()
            if self.busy:
                return busy_answer(request)
            raise httpx.ReadError(
                "connection reset while reading the answer (injected fault)", request=request
            )
        return response


class BusyOnce(Passthrough):
    """The first POST to `path_suffix` is answered 503 without reaching the server — as Prefect
    answers a one-transaction call SQLite's lock rolled back; everything else goes through."""

    def __init__(self, path_suffix: str) -> None:
        super().__init__()
        self.path_suffix, self.answered = path_suffix, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.answered and request.method == "POST" and request.url.path.endswith(self.path_suffix):
            self.answered = True
            return busy_answer(request)
        return await self.inner.handle_async_request(request)


class RunFaults(Passthrough):
    """State changes of the chosen runs fail, the way the server reports it.

    A single `/flow_runs/{id}/set_state` gets HTTP 500. In a `/flow_runs/bulk_set_state` call
    the chosen runs are taken out of the filter before it reaches the server, and the answer
    gets an ABORT without a state for each — what the server returns when changing one run
    of a bulk call raises.
    """

    def __init__(self, run_ids: Iterable[UUID]) -> None:
        super().__init__()
        self.failing = {str(i) for i in run_ids}  # clear() it to end the fault

    def fresh(self) -> RunFaults:
        """A new transport (a client closes its own) failing the same, shared, set of runs."""
        copy = RunFaults(())
        copy.failing = self.failing
        return copy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/set_state") and any(f"/flow_runs/{i}/" in path for i in self.failing):
            return httpx.Response(500, json={"detail": "injected fault"}, request=request)
        if not path.endswith("/bulk_set_state"):
            return await self.inner.handle_async_request(request)
        body = json.loads(request.content)
        ids = body["flow_runs"]["id"]["any_"]
        hit = [i for i in ids if i in self.failing]
        aborted = [
            {"flow_run_id": i, "status": "ABORT", "state": None, "details": {"reason": "injected fault"}}
            for i in hit
        ]
        rest = [i for i in ids if i not in self.failing]
        if not rest:
            return httpx.Response(200, json={"results": aborted}, request=request)
        body["flow_runs"]["id"]["any_"] = rest
        status, answer = await self.forward_json(request, body)
        answer["results"] = [*answer.get("results", []), *aborted]
        return httpx.Response(status, json=answer, request=request)


class BeforeChange(Passthrough):
    """Runs `act` once, right before the first state-change request goes out (after runops' re-read),
    or the first request to a path ending in `suffix`.

    `act` gets the inner transport and the request, to change a run on the real server first.
    """

    def __init__(
        self, act: Callable[[httpx.AsyncBaseTransport, httpx.Request], object], suffix: str = STATE_CHANGE
    ) -> None:
        super().__init__()
        self.act: Callable[[httpx.AsyncBaseTransport, httpx.Request], object] | None = act
        self.suffix = suffix

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.act is not None and request.url.path.endswith(self.suffix):
            act, self.act = self.act, None
            await act(self.inner, request)
        return await self.inner.handle_async_request(request)


async def set_state_directly(
    transport: httpx.AsyncBaseTransport, request: httpx.Request, run_id: UUID, state_type: str, name: str
) -> None:
    """Propose a state to one run on the same server as `request` goes to (as a worker would)."""
    url = request.url.copy_with(
        path=request.url.path.split("/flow_runs/")[0] + f"/flow_runs/{run_id}/set_state"
    )
    change = httpx.Request("POST", url, json={"state": {"type": state_type, "name": name}, "force": False})
    response = await transport.handle_async_request(change)
    await response.aread()
    assert response.status_code < 300, response.content


class BulkCreateFaults(Passthrough):
    """`/deployments/{id}/create_flow_run/bulk` answers for chosen runs as the server does when
    one run's insert raises — FAILED in a 200 answer — `busy[run]` times each, or claims a run
    CREATED that it never stored (`phantom`). Rows are known by the replacement's key, which
    names the original run; the other rows go to the real server."""

    def __init__(self, busy: dict[UUID, int] | None = None, phantom: Iterable[UUID] = ()) -> None:
        super().__init__()
        self.busy = {f"runops-reschedule:{k}": n for k, n in (busy or {}).items()}
        self.phantom = {f"runops-reschedule:{k}" for k in phantom}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/create_flow_run/bulk"):
            return await self.inner.handle_async_request(request)
        rows = json.loads(request.content)
        answers: list[dict[str, object] | None] = [None] * len(rows)
        forward: list[int] = []
        for i, row in enumerate(rows):
            key = row.get("idempotency_key")
            if self.busy.get(key, 0) > 0:
                self.busy[key] -= 1
                answers[i] = {"status": "FAILED", "error": "(sqlite3.OperationalError) database is locked"}
            elif key in self.phantom:
                answers[i] = {"status": "CREATED", "flow_run_id": str(uuid4())}
            else:
                forward.append(i)
        if forward:
            _, answer = await self.forward_json(request, [rows[i] for i in forward])
            for i, row_answer in zip(forward, answer["results"], strict=True):
                answers[i] = row_answer
        return httpx.Response(200, json={"results": answers}, request=request)


class FailsDelete(Passthrough):
    """`/flow_runs/bulk_delete` of exactly one chosen run answers 500 once: before the server
    sees it, or (`lost=True`) after the server deleted it — the answer lost. Other requests go
    on to `inner` (another fault transport, or the real server)."""

    def __init__(self, run: UUID, lost: bool = False, inner: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__()
        if inner is not None:
            self.inner = inner  # type: ignore[assignment]
        self.run, self.lost, self.pending = str(run), lost, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.pending and request.url.path.endswith("/flow_runs/bulk_delete"):
            body = json.loads(request.content or b"{}")
            if ((body.get("flow_runs") or {}).get("id") or {}).get("any_") == [self.run]:
                self.pending = False
                if self.lost:
                    response = await self.inner.handle_async_request(request)
                    await response.aread()
                return httpx.Response(500, json={"detail": "injected fault"}, request=request)
        return await self.inner.handle_async_request(request)
