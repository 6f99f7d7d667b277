"""MCP over the recorder: handshake or stateless envelope, list pages, one call.

Each public method returns a `Step`: the verdict plus every exchange behind it. The
session sends only what the protocol needs (initialize + initialized, the list pages,
the call, and a GET to resume an event stream the server closed early); it does not end
the session with DELETE, which AgentCore does not require and which would be one more
request on every scheduled probe.

Protocol state (the session id, the negotiated version, tool names) is read from the raw
answer; the step holds the redacted record, and names that reach a report pass the
redactor too (a server can echo a token as a tool name).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from typing import Any

import httpx2

from probe import __version__
from probe.classify import HINTS, classify, result_text, visible_tools
from probe.exchange import Posted, Recorder
from probe.outcome import Detail, Exchange, Judgement, Outcome, Step
from probe.retry import Attempt, RetryPolicy, run_with_retries
from probe.spec import DEFAULT_VERSION, HANDSHAKE_VERSIONS, STATELESS_VERSIONS, SUPPORTED_VERSIONS
from probe.wire import decode_body, media_type

CLIENT_INFO = {"name": "agentcore-probe", "version": __version__}

# 2026-07-28 carries the envelope in every request's params._meta.
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"

MAX_RESUMPTIONS = 5  # reconnections of one event stream before the answer is judged as it stands
DEFAULT_RETRY_MS = 1000  # what to wait before resuming when the server sent no `retry:`


class McpSession:
    """One MCP session on a recorder: what a client does, step by step, with every exchange kept."""

    def __init__(
        self,
        recorder: Recorder,
        url: str,
        *,
        protocol_version: str | None,
        retry: RetryPolicy,
        timeout: float,
        auth: httpx2.Auth | None = None,
    ) -> None:
        self.recorder = recorder
        self.url = url
        self.timeout = timeout
        self.auth = auth
        self.requested_version = protocol_version or DEFAULT_VERSION
        self.protocol_version = self.requested_version
        self.stateless = self.requested_version in STATELESS_VERSIONS
        self.retry = retry
        self.session_id: str | None = None
        self.server_info: dict[str, Any] = {}
        self.raw_tools: list[str] = []  # tool names as the server sent them (protocol state, never printed)
        self.current: list[Exchange] = []  # the exchanges of the step in progress (a cut run still shows them)
        self.listing: list[str] = []  # tool names listed so far by the page walk in progress
        self._ids = itertools.count(1)

    # -- plumbing -------------------------------------------------------------------------

    def _headers(self, method: str, params: dict[str, Any] | None) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if method != "initialize" and self.protocol_version != "2025-03-26":
            headers["mcp-protocol-version"] = self.protocol_version
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        if self.stateless:
            headers["mcp-method"] = method
            if method == "tools/call" and params and isinstance(params.get("name"), str):
                headers["mcp-name"] = params["name"]
        return headers

    def _message(self, method: str, params: dict[str, Any] | None, *, notify: bool = False) -> dict[str, Any]:
        if self.stateless:
            params = dict(params or {})
            params["_meta"] = {
                META_PROTOCOL_VERSION: self.protocol_version,
                META_CLIENT_INFO: CLIENT_INFO,
                META_CLIENT_CAPABILITIES: {},
            }
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if not notify:
            msg["id"] = next(self._ids)
        if params is not None:
            msg["params"] = params
        return msg

    async def _post(self, method: str, message: dict[str, Any], attempt: int, *, notify: bool = False) -> Posted:
        rpc_id = message.get("id")
        body = json.dumps(message, separators=(",", ":"), allow_nan=False)
        posted = await self.recorder.send(
            self.url, content=body, headers=self._headers(method, message.get("params")), timeout=self.timeout,
            auth=self.auth, rpc_method=method, rpc_id=rpc_id, attempt=attempt,
            done=None if notify else _answered_check(rpc_id), read_body=not notify,
        )
        self.current.append(posted.record)
        return posted

    async def _request(self, method: str, params: dict[str, Any] | None) -> tuple[list[Attempt], Posted]:
        """One JSON-RPC request with retries; returns every attempt and the last raw answer.

        Every attempt gets a fresh JSON-RPC id: ids must not be reused within a session.
        """
        last: list[Posted] = []

        async def attempt(n: int) -> Attempt:
            deadline = time.monotonic() + self.timeout
            posted = await self._post(method, self._message(method, params), n)
            posted, why = await self._resume(method, posted, n, deadline)
            last[:] = [posted]
            judgement = classify(method, posted.raw)
            if why and judgement.outcome is not Outcome.OK:
                # Say that the answer was owed on a resumed stream, not that the URL is wrong.
                judgement = Judgement(judgement.outcome, dataclasses.replace(
                    judgement.detail, message=f"{why} ({judgement.detail.message})", rule="sse_resumption"),
                    "The server ended its event stream before the answer and did not let the probe resume it "
                    "(Streamable HTTP resumability, GET with Last-Event-ID): a server-side fault.")
            return posted.record, self._redacted(judgement)

        return await run_with_retries(method, attempt, self.retry), last[0]

    async def _resume(self, method: str, posted: Posted, attempt: int, deadline: float) -> tuple[Posted, str | None]:
        """Reconnect to an event stream the server closed before the answer (Streamable HTTP resumability).

        The server may end the response stream after an event with an `id`; the client then
        GETs the endpoint with `Last-Event-ID`, after the stream's `retry` delay, to receive
        the rest. Bounded by the request's own deadline; each reconnection is recorded. The
        second value says why the answer is still missing when resuming did not bring it.
        """
        rpc_id = posted.raw.rpc_id
        resumed = 0
        for _ in range(MAX_RESUMPTIONS):
            raw = posted.raw
            if raw.status != 200 or media_type(raw.headers.get("content-type")) != "text/event-stream":
                return posted, (f"resuming the event stream failed: GET with Last-Event-ID answered HTTP "
                                f"{raw.status}" if resumed and raw.status is not None else None)
            decoded = decode_body(raw.headers.get("content-type"), raw.body)
            if decoded.response_for(rpc_id) is not None or decoded.problem or raw.body_truncated or raw.error:
                return posted, None
            last_id, retry_ms = stream_position(raw.body)
            if last_id is None:
                return posted, None
            wait = (retry_ms if retry_ms is not None else DEFAULT_RETRY_MS) / 1000
            left = deadline - time.monotonic()
            if left <= wait:
                return posted, (f"the server closed the event stream before the answer and asked to reconnect "
                                f"after {wait:g} s, beyond the request's deadline (--timeout)")
            await asyncio.sleep(wait)
            headers = {"accept": "text/event-stream", "last-event-id": last_id}
            if self.protocol_version != "2025-03-26":
                headers["mcp-protocol-version"] = self.protocol_version
            if self.session_id:
                headers["mcp-session-id"] = self.session_id
            posted = await self.recorder.send(
                self.url, method="GET", headers=headers, timeout=max(deadline - time.monotonic(), 0.001),
                auth=self.auth, rpc_method=method, rpc_id=rpc_id, attempt=attempt, done=_answered_check(rpc_id),
            )
            self.current.append(posted.record)
            resumed += 1
        return posted, f"the event stream was resumed {resumed} times without the answer arriving"

    def _redacted(self, j: Judgement) -> Judgement:
        """Decoded JSON can unescape a secret the raw-text redaction could not see (`\\u0041`)."""
        r = self.recorder.redactor.text
        d = j.detail
        detail = dataclasses.replace(
            d, **{k: r(v) for k in ("message", "reason", "policy_id", "debug", "www_authenticate")
                  if isinstance(v := getattr(d, k), str)})
        hint = r(j.hint) if j.hint else j.hint
        return Judgement(j.outcome, detail, hint)

    @staticmethod
    def _result(posted: Posted) -> Any:
        """The result of the raw answer (protocol state never comes from the redacted record)."""
        decoded = decode_body(posted.raw_headers.get("content-type"), posted.raw_body)
        response = decoded.response_for(posted.raw.rpc_id)
        return response.get("result") if response else None

    def _step(self, method: str, attempts: list[Attempt], started: float, **data: Any) -> Step:
        last = attempts[-1][1]
        step = Step(method=method, outcome=last.outcome, exchanges=list(self.current), detail=last.detail,
                    hint=last.hint, data=data, elapsed_ms=round((time.perf_counter() - started) * 1000, 1))
        self.current = []
        return step

    def begin(self) -> float:
        self.current = []
        return time.perf_counter()

    # -- the protocol steps -----------------------------------------------------------------

    async def initialize(self) -> Step:
        """Handshake (2025-*); negotiates the version the server answers with."""
        started = self.begin()
        params = {"protocolVersion": self.requested_version, "capabilities": {}, "clientInfo": CLIENT_INFO}
        attempts, posted = await self._request("initialize", params)
        ex, judgement = attempts[-1]
        if judgement.outcome is not Outcome.OK:
            return self._step("initialize", attempts, started)
        result = self._result(posted)
        version = result.get("protocolVersion")
        self.server_info = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {}
        self.session_id = posted.raw_headers.get("mcp-session-id")
        if version not in HANDSHAKE_VERSIONS:
            shown = self.recorder.redactor.text(repr(version))[:80]
            bad = Judgement(
                Outcome.PROTOCOL_ERROR,
                Detail(message=f"server chose protocol version {shown}, which the probe does not speak",
                       request_id=ex.headers.get("x-amzn-requestid"), rule="initialize_version"),
                f"Try --protocol-version with one of {', '.join(SUPPORTED_VERSIONS)}.",
            )
            return self._step("initialize", [*attempts[:-1], (ex, bad)], started)
        self.protocol_version = version
        # The initialized notification completes the handshake. Nothing is expected in its answer,
        # so only the status is read: a server may hold an event stream open there.
        note_attempts = await run_with_retries(
            "notifications/initialized", self._notify_attempt, self.retry)
        step = self._step("initialize", attempts, started, protocol_version=version,
                          session=bool(self.session_id))
        _, note_j = note_attempts[-1]
        if note_j.outcome is not Outcome.OK:
            step.outcome, step.detail, step.hint = note_j.outcome, note_j.detail, note_j.hint
        return step

    async def _notify_attempt(self, n: int) -> Attempt:
        note = self._message("notifications/initialized", None, notify=True)
        posted = await self._post("notifications/initialized", note, n, notify=True)
        return posted.record, self._redacted(classify("notifications/initialized", posted.raw))

    async def list_tools(self, max_pages: int, wanted: str | None = None) -> Step:
        """Follow nextCursor to the end, bounded; a repeated cursor is a server loop, not a list.

        When the bound is reached but the tool to call was already listed, the run goes on:
        the bound protects the probe, it is not a verdict on the gateway.
        """
        started = self.begin()
        attempts_all: list[Attempt] = []
        names: list[str] = []
        self.listing = names  # the names so far, for a run cut in the middle of the walk
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, max_pages + 1):
            params = {"cursor": cursor} if cursor else None
            attempts, posted = await self._request("tools/list", params)
            attempts_all.extend(attempts)
            _, judgement = attempts[-1]
            if judgement.outcome is not Outcome.OK:
                return self._list_step(attempts_all, started, names, page, partial=bool(names) or page > 1)
            result = self._result(posted)
            names.extend(t["name"] for t in result["tools"])
            cursor = result.get("nextCursor") or None
            if cursor is None:
                step = self._list_step(attempts_all, started, names, page)
                return self._empty(step) if not visible_tools(self.raw_tools) else step
            if cursor in seen:
                shown = self.recorder.redactor.text(repr(cursor))[:80]
                return self._list_failed(attempts_all, started, names, page, f"the server repeated cursor {shown}",
                                         "The server's paging does not terminate.")
            seen.add(cursor)
        if wanted is not None and wanted in names:
            step = self._list_step(attempts_all, started, names, max_pages, partial=True)
            step.data["bound_reached"] = True
            step.hint = (f"Stopped at --max-pages {max_pages} with more pages to come; the tool to call was "
                         "already listed, so the run goes on.")
            return step
        return self._list_failed(
            attempts_all, started, names, max_pages,
            f"reached --max-pages {max_pages} and the server still offered a next page: the tool list is incomplete",
            "Raise --max-pages if the gateway really lists that many pages; otherwise its paging does not end.")

    def _list_step(self, attempts: list[Attempt], started: float, names: list[str], pages: int,
                   *, partial: bool = False) -> Step:
        self.raw_tools = list(dict.fromkeys(names))  # a page walk that repeats a name lists it once
        redact = self.recorder.redactor.text
        shown = list(dict.fromkeys(redact(n) for n in self.raw_tools))
        data: dict[str, Any] = {"tools": shown, "pages": pages}
        if partial:
            data["partial"] = True
        if len(names) != len(self.raw_tools):
            data["duplicates"] = len(names) - len(self.raw_tools)
        return self._step("tools/list", attempts, started, **data)

    @staticmethod
    def _empty(step: Step) -> Step:
        step.outcome = Outcome.EMPTY_TOOLS
        step.detail = Detail(
            message="tools/list answered with no tools" + (" but the search tool" if step.data["tools"] else ""),
            request_id=step.detail.request_id, trace_id=step.detail.trace_id, rule="empty_tools",
        )
        step.hint = HINTS["empty_tools"]
        return step

    def _list_failed(self, attempts: list[Attempt], started: float, names: list[str], pages: int, why: str,
                     hint: str) -> Step:
        step = self._list_step(attempts, started, names, pages, partial=True)
        step.outcome = Outcome.PROTOCOL_ERROR
        step.detail = Detail(message=why, request_id=step.detail.request_id, rule="paging")
        step.hint = hint
        return step

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Step:
        started = self.begin()
        attempts, posted = await self._request("tools/call", {"name": name, "arguments": arguments})
        _, judgement = attempts[-1]
        data: dict[str, Any] = {"tool": name}
        if judgement.outcome is Outcome.OK:
            data["result_text"] = self.recorder.redactor.text(result_text(self._result(posted)))[:2000]
        step = self._step("tools/call", attempts, started, **data)
        if judgement.outcome in (Outcome.SERVER_ERROR, Outcome.TRANSPORT_ERROR) and not self.retry.idempotent \
                and len(attempts) == 1 and self.retry.retries > 0:
            step.hint = (f"{step.hint or ''} The call was not repeated: it may have reached the tool. "
                         "Pass --idempotent if repeating it is harmless.").strip()
        return step


def _answered_check(rpc_id: Any) -> Any:
    """A `done` test for the recorder: has an event stream already delivered the response to `rpc_id`?

    Events are independent, so each completed event is decoded once: the test keeps the
    offset of the first byte not yet part of a dispatched event (linear in the stream).
    """
    if rpc_id is None:
        return None
    checked = [0]

    def done(raw: bytes) -> bool:
        start = checked[0]
        end = max(raw.rfind(b"\n\n"), raw.rfind(b"\r\r"), raw.rfind(b"\r\n\r\n"))
        if end < start:
            return False  # no event has ended since the last look
        boundary = end + (4 if raw.startswith(b"\r\n\r\n", end) else 2)
        checked[0] = boundary
        decoded = decode_body("text/event-stream", raw[start:boundary].decode("utf-8", errors="replace"))
        return decoded.response_for(rpc_id) is not None

    return done


def stream_position(text: str) -> tuple[str | None, int | None]:
    """The last event id and the last `retry:` value of an event stream (WHATWG rules).

    An `id:` sets the last-event-id buffer even on an event with no data (the priming event
    a resumable server sends first); an id with a NUL is ignored; `retry:` must be digits.
    """
    last_id: str | None = None
    retry: int | None = None
    pending_id: str | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if pending_id is not None:
                last_id, pending_id = pending_id, None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id" and "\x00" not in value:
            pending_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    return (last_id or None), retry
