"""The HTTP edge: send one JSON-RPC message over httpx2 and record exactly what came back.

The probe speaks Streamable HTTP itself instead of going through the SDK's client
because a probe must see what a client hides: the SDK turns a 401 into a generic
JSON-RPC error and rejects a `tools/list` answered with a tool-call error result, losing
the gateway's own words. Here every answer, however malformed, becomes an `Exchange`
(status, the headers that matter, the capped body, timings) for the pure classifier.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from probe import __version__
from probe.deadline import deadline, install
from probe.outcome import Exchange
from probe.redact import Redactor
from probe.wire import decode_body, media_type

# Headers that explain an answer; everything else is noise in a report.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "www-authenticate",
    "retry-after",
    "x-amzn-requestid",
    "x-amzn-trace-id",
    "x-amzn-errortype",
    "mcp-session-id",
    "mcp-protocol-version",
    "location",
)

MAX_BODY_BYTES = 4 * 1024 * 1024  # a tools/list page is kilobytes; anything near this is not MCP

# Transport failures before the request could reach the server: safe to repeat any call.
NOT_SENT_ERRORS = frozenset({"refused", "dns", "tls", "connect_timeout", "connect_error", "pool_timeout"})


@dataclass(frozen=True)
class Posted:
    """One exchange twice: the redacted record (for reports and the classifier) and the raw
    answer (for protocol state only: a session id or a tool name must not be altered by
    redaction, and it is never printed)."""

    record: Exchange
    raw_headers: dict[str, str] = field(default_factory=dict)
    raw_body: str = ""


def _error_kind(exc: BaseException) -> str:
    """Name a transport failure the way an operator reads it (like curl's error classes)."""
    if isinstance(exc, httpx2.DecodingError):
        return "decoding"
    if isinstance(exc, httpx2.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, httpx2.PoolTimeout):
        return "pool_timeout"
    if isinstance(exc, httpx2.ReadTimeout):
        return "read_timeout"
    if isinstance(exc, httpx2.WriteTimeout):
        return "write_timeout"
    if isinstance(exc, httpx2.ConnectError):
        text = str(exc).lower()
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "refused"
            if isinstance(cause, socket.gaierror):
                return "dns"
            if isinstance(cause, ssl.SSLError):
                return "tls"
            cause = cause.__cause__ or cause.__context__
        if "refused" in text:
            return "refused"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text or "resolve" in text:
            return "dns"
        if "ssl" in text or "certificate" in text or "tls" in text:
            return "tls"
        return "connect_error"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return "remote_protocol"
    if isinstance(exc, httpx2.ReadError | httpx2.WriteError | httpx2.CloseError):
        return "connection_lost"
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return "bad_url"
    return "transport"


class Transport:
    """One HTTP client per run: connection reuse keeps a list+call run at one TCP/TLS handshake."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        redactor: Redactor,
        auth: httpx2.Auth | None = None,
        verify: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        client: httpx2.Client | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.redactor = redactor
        self.max_body_bytes = max_body_bytes
        self._verify = verify
        self._auth = auth
        self._client = client or self._new_client()

    def _new_client(self) -> httpx2.Client:
        transport = httpx2.HTTPTransport(verify=self._verify)
        install(transport)  # --timeout bounds the whole request, headers included
        return httpx2.Client(
            transport=transport,
            timeout=httpx2.Timeout(self.timeout),
            auth=self._auth,
            follow_redirects=False,
            headers={"user-agent": f"agentcore-probe/{__version__}"},
        )

    @property
    def client(self) -> httpx2.Client:
        return self._client

    def close(self) -> None:
        self._client.close()

    def post(
        self,
        message: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        attempt: int = 1,
    ) -> Posted:
        """POST one JSON-RPC message; never raises for anything the network or server does."""
        body = json.dumps(message, separators=(",", ":"), allow_nan=False)
        req_headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **(headers or {}),
        }
        rpc_method = message.get("method")
        rpc_id = message.get("id")
        started = time.time()
        t0 = time.perf_counter()
        status: int | None = None
        raw_headers: dict[str, str] = {}
        raw = bytearray()
        received = 0
        truncated = False
        error: str | None = None
        error_message: str | None = None
        sent_headers: Mapping[str, str] = req_headers
        try:
            with deadline(self.timeout), self._client.stream(
                "POST", self.url, content=body, headers=req_headers
            ) as response:
                sent_headers = response.request.headers
                status = response.status_code
                raw_headers = {k: v for k in KEPT_HEADERS if (v := response.headers.get(k)) is not None}
                is_sse = media_type(response.headers.get("content-type")) == "text/event-stream"
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    room = self.max_body_bytes - len(raw)
                    raw.extend(chunk[: max(room, 0)])
                    if received > self.max_body_bytes:
                        truncated = True
                        break
                    if is_sse and _answered(bytes(raw), rpc_id):
                        break  # the server may hold the stream open; our answer is in
        except httpx2.HTTPError as exc:
            # The deadline's context has ended by now: judge by the clock whether it was what fired.
            spent = time.perf_counter() - t0
            error = "timeout" if spent >= self.timeout and isinstance(exc, httpx2.TimeoutException) \
                else _error_kind(exc)
            error_message = (f"no complete answer within {self.timeout:g}s" if error == "timeout"
                             else _one_line(exc) or type(exc).__name__)
        except UnicodeError as exc:  # e.g. a non-ASCII Mcp-Session-Id echoed back as a header
            error, error_message = "bad_header_value", _one_line(exc)
        except (OSError, ValueError, httpx2.InvalidURL) as exc:  # socket-level surprises, malformed URLs
            error = "transport"
            error_message = _one_line(exc) or type(exc).__name__
        duration_ms = (time.perf_counter() - t0) * 1000
        text = raw.decode("utf-8", errors="replace")
        record = Exchange(
            rpc_method=rpc_method if isinstance(rpc_method, str) else None,
            rpc_id=rpc_id if isinstance(rpc_id, int | str) else None,
            url=self.redactor.url(self.url),
            http_method="POST",
            request_headers=self.redactor.headers(dict(sent_headers)),
            request_body=self.redactor.text(body),
            status=status,
            headers=self.redactor.headers(raw_headers),
            body=self.redactor.text(text),
            body_bytes=received,
            body_truncated=truncated,
            duration_ms=duration_ms,
            attempt=attempt,
            error=error,
            error_message=self.redactor.text(error_message) if error_message else None,
            started_at=started,
        )
        return Posted(record, raw_headers, text)


def _answered(raw: bytes, rpc_id: Any) -> bool:
    """Has an event stream already delivered the response to `rpc_id`? (cheap check first)"""
    if rpc_id is None or (b"\n\n" not in raw and b"\r\r" not in raw and b"\r\n\r\n" not in raw):
        return False
    decoded = decode_body("text/event-stream", raw.decode("utf-8", errors="replace"))
    return decoded.response_for(rpc_id) is not None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
