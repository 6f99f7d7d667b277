"""MCP over the recorded transport: handshake or stateless envelope, list pages, one call.

Each public method returns a `Step`: the verdict plus every exchange behind it. The
session sends only what the protocol needs (initialize + initialized, the list pages,
the call); it does not end the session with DELETE, which AgentCore does not require
and which would be one more request on every scheduled probe.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from probe import __version__
from probe.classify import HINTS, classify, result_text, visible_tools
from probe.exchange import Posted, Transport
from probe.outcome import Detail, Judgement, Outcome, Step
from probe.retry import Attempt, RetryPolicy, run_with_retries
from probe.wire import decode_body

HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS = ("2026-07-28",)
SUPPORTED_VERSIONS = HANDSHAKE_VERSIONS + STATELESS_VERSIONS
DEFAULT_VERSION = "2025-11-25"
CLIENT_INFO = {"name": "agentcore-probe", "version": __version__}

# 2026-07-28 carries the envelope in every request's params._meta.
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"


class McpSession:
    def __init__(self, transport: Transport, *, protocol_version: str | None, retry: RetryPolicy) -> None:
        self.transport = transport
        self.requested_version = protocol_version or DEFAULT_VERSION
        self.protocol_version = self.requested_version
        self.stateless = self.requested_version in STATELESS_VERSIONS
        self.retry = retry
        self.session_id: str | None = None
        self.server_info: dict[str, Any] = {}
        self._ids = itertools.count(1)

    # -- plumbing -------------------------------------------------------------------------

    def _headers(self, method: str, params: dict[str, Any] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
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

    def _request(self, method: str, params: dict[str, Any] | None) -> tuple[list[Attempt], Posted]:
        """One JSON-RPC request with retries; returns every attempt and the last raw answer.

        Every attempt gets a fresh JSON-RPC id: ids must not be reused within a session.
        """
        headers = self._headers(method, params)
        last: list[Posted] = []

        def attempt(n: int) -> Attempt:
            posted = self.transport.post(self._message(method, params), headers=headers, attempt=n)
            last[:] = [posted]
            return posted.record, self._redacted(classify(method, posted.record))

        return run_with_retries(method, attempt, self.retry), last[0]

    def _redacted(self, j: Judgement) -> Judgement:
        """Decoded JSON can unescape a secret the raw-text redaction could not see (`\\u0041`)."""
        r = self.transport.redactor.text
        d = j.detail
        detail = dataclasses.replace(
            d, **{k: r(v) for k in ("message", "reason", "policy_id", "debug", "www_authenticate")
                  if isinstance(v := getattr(d, k), str)})
        return Judgement(j.outcome, detail, j.hint)

    @staticmethod
    def _result(method: str, posted: Posted) -> Any:
        """The result of the raw answer (protocol state never comes from the redacted record)."""
        decoded = decode_body(posted.raw_headers.get("content-type"), posted.raw_body)
        response = decoded.response_for(posted.record.rpc_id)
        return response.get("result") if response else None

    @staticmethod
    def _step(method: str, attempts: list[Attempt], **data: Any) -> Step:
        exchanges = [ex for ex, _ in attempts]
        last = attempts[-1][1]
        return Step(method=method, outcome=last.outcome, exchanges=exchanges, detail=last.detail,
                    hint=last.hint, data=data)

    # -- the protocol steps -----------------------------------------------------------------

    def initialize(self) -> Step:
        """Handshake (2025-*); negotiates the version the server answers with."""
        params = {"protocolVersion": self.requested_version, "capabilities": {}, "clientInfo": CLIENT_INFO}
        attempts, posted = self._request("initialize", params)
        ex, judgement = attempts[-1]
        if judgement.outcome is not Outcome.OK:
            return self._step("initialize", attempts)
        result = self._result("initialize", posted)
        version = result.get("protocolVersion")
        self.server_info = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {}
        self.session_id = posted.raw_headers.get("mcp-session-id")
        if version not in HANDSHAKE_VERSIONS:
            bad = Judgement(
                Outcome.PROTOCOL_ERROR,
                Detail(message=f"server chose protocol version {version!r}, which the probe does not speak",
                       request_id=ex.headers.get("x-amzn-requestid")),
                f"Try --protocol-version with one of {', '.join(SUPPORTED_VERSIONS)}.",
            )
            return self._step("initialize", [*attempts[:-1], (ex, bad)])
        self.protocol_version = version
        # The initialized notification completes the handshake; its answer is recorded too.
        note = self._message("notifications/initialized", None, notify=True)
        note_ex = self.transport.post(note, headers=self._headers("notifications/initialized", None)).record
        note_j = self._redacted(classify("notifications/initialized", note_ex))
        step = self._step("initialize", attempts, server_info=self.server_info, protocol_version=version,
                          session=bool(self.session_id))
        step.exchanges.append(note_ex)
        if note_j.outcome is not Outcome.OK:
            step.outcome, step.detail, step.hint = note_j.outcome, note_j.detail, note_j.hint
        return step

    def list_tools(self, max_pages: int) -> Step:
        """Follow nextCursor to the end, bounded; a repeated cursor is a server loop, not a list."""
        attempts_all: list[Attempt] = []
        names: list[str] = []
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, max_pages + 1):
            params = {"cursor": cursor} if cursor else None
            attempts, posted = self._request("tools/list", params)
            attempts_all.extend(attempts)
            _, judgement = attempts[-1]
            if judgement.outcome is not Outcome.OK:
                return self._step("tools/list", attempts_all, tools=names, pages=page)
            result = self._result("tools/list", posted)
            names.extend(t["name"] for t in result["tools"])
            cursor = result.get("nextCursor") or None
            if cursor is None:
                return self._list_done(attempts_all, names, page)
            if cursor in seen:
                return self._list_failed(attempts_all, names, page, f"the server repeated cursor {cursor!r}")
            seen.add(cursor)
        return self._list_failed(attempts_all, names, max_pages,
                                 f"more than {max_pages} pages; raise --max-pages if that is expected")

    def _list_done(self, attempts: list[Attempt], names: list[str], pages: int) -> Step:
        step = self._step("tools/list", attempts, tools=names, pages=pages)
        if not visible_tools(names):
            step.outcome = Outcome.EMPTY_TOOLS
            step.detail = Detail(
                message="tools/list answered with no tools" + (" but the search tool" if names else ""),
                request_id=step.detail.request_id,
                trace_id=step.detail.trace_id,
            )
            step.hint = HINTS["empty_tools"]
        return step

    def _list_failed(self, attempts: list[Attempt], names: list[str], pages: int, why: str) -> Step:
        step = self._step("tools/list", attempts, tools=names, pages=pages)
        step.outcome = Outcome.PROTOCOL_ERROR
        step.detail = Detail(message=why, request_id=step.detail.request_id)
        step.hint = "The server's paging does not terminate."
        return step

    def call_tool(self, name: str, arguments: dict[str, Any]) -> Step:
        attempts, posted = self._request("tools/call", {"name": name, "arguments": arguments})
        _, judgement = attempts[-1]
        data: dict[str, Any] = {"tool": name}
        if judgement.outcome is Outcome.OK:
            data["result_text"] = self.transport.redactor.text(result_text(self._result("tools/call", posted))[:2000])
        return self._step("tools/call", attempts, **data)

