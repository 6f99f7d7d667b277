"""The HTTP edge: send one request over httpx2 and record exactly what came back.

The probe speaks Streamable HTTP itself instead of going through the SDK's client
because a probe must see what a client hides: the SDK turns a 401 into a generic
JSON-RPC error and rejects a `tools/list` answered with a tool-call error result, losing
the gateway's own words. Here every answer, however malformed, becomes an `Exchange`
(status, the headers that matter, the capped body, timings) for the pure classifier.

One recorder serves every request of a run, MCP messages and the OAuth token fetch
alike, so both are bounded, recorded and redacted by the same code. The whole request
(connect, TLS, headers, body) is bounded by the event loop's own timeout: httpx's
per-read timeouts never fire on a server that trickles one byte at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from probe import __version__
from probe.outcome import Exchange
from probe.redact import Redactor
from probe.spec import origin
from probe.wire import media_type

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

USER_AGENT = f"agentcore-probe/{__version__}"


@dataclass(frozen=True)
class Posted:
    """One exchange twice: the redacted record (for reports) and the raw one (for the classifier
    and protocol state only: a session id or a tool name must not be altered by redaction,
    and the raw form is never printed or saved)."""

    record: Exchange
    raw: Exchange

    @property
    def raw_headers(self) -> dict[str, str]:
        return self.raw.headers

    @property
    def raw_body(self) -> str:
        return self.raw.body


def error_kind(exc: BaseException) -> str:
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


def new_client(*, max_connections: int = 20, verify: bool = True) -> httpx2.AsyncClient:
    """The one client of a target: connection reuse keeps a run at one TCP/TLS handshake.

    Timeouts are the recorder's (a whole-request deadline), so httpx2's own are off; the
    pool is as large as the concurrency that may use it.
    """
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(None),
        follow_redirects=False,
        verify=verify,
        headers={"user-agent": USER_AGENT},
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def _route(url: str, connect_to: str | None, target_url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Where to connect for `url`. Like curl's --connect-to, only requests to the target's own origin
    are rerouted (a token endpoint elsewhere is not), and the Host header and TLS name stay the URL's."""
    if not connect_to or origin(url) != origin(target_url):
        return url, {}, {}
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    routed = urlunsplit((parts.scheme, connect_to, parts.path, parts.query, parts.fragment))
    return routed, {"host": netloc}, {"sni_hostname": parts.hostname or ""}


class Recorder:
    """Sends requests on one client and turns whatever happens into a (redacted, raw) Exchange pair."""

    def __init__(self, client: httpx2.AsyncClient | Callable[[str], httpx2.AsyncClient], redactor: Redactor, *,
                 connect_to: str | None = None, target_url: str = "") -> None:
        # One client, or a function giving the client for a URL's origin (the engine's Context).
        self.client_for = client if callable(client) and not isinstance(client, httpx2.AsyncClient) \
            else (lambda _url: client)
        self.redactor = redactor
        self.connect_to = connect_to
        self.target_url = target_url  # the origin --connect-to reroutes

    async def send(
        self,
        url: str,
        *,
        method: str = "POST",
        content: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: float,
        auth: httpx2.Auth | None = None,
        rpc_method: str | None = None,
        rpc_id: int | str | None = None,
        attempt: int = 1,
        cap: int = MAX_BODY_BYTES,
        done: Callable[[bytes], bool] | None = None,
        read_body: bool = True,
    ) -> Posted:
        """One HTTP request; never raises for anything the network or the server does.

        `done(body_so_far)` lets a caller stop reading a stream that a server holds open once
        the answer it waits for has arrived; `read_body=False` does not read an event stream
        at all (a notification's answer carries nothing the probe needs, and a server may hold
        it open), while a plain body is still read so that the connection can be reused.
        """
        target, extra_headers, extensions = _route(url, self.connect_to, self.target_url)
        req_headers = {**(headers or {}), **extra_headers}
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
            async with asyncio.timeout(timeout):
                client = self.client_for(url)
                request = client.build_request(method, target, content=content.encode() if content else None,
                                                    headers=req_headers, extensions=extensions or None)
                response = await client.send(request, auth=auth, stream=True)
                try:
                    sent_headers = response.request.headers
                    status = response.status_code
                    raw_headers = {k: v for k in KEPT_HEADERS if (v := response.headers.get(k)) is not None}
                    held_open = media_type(response.headers.get("content-type")) == "text/event-stream"
                    if read_body or not held_open:
                        async for chunk in response.aiter_bytes():
                            received += len(chunk)
                            room = cap - len(raw)
                            raw.extend(chunk[: max(room, 0)])
                            if received > cap:
                                truncated = True
                                break
                            if done is not None and done(bytes(raw)):
                                break  # the server may hold the stream open; our answer is in
                finally:
                    await response.aclose()
        except TimeoutError:
            error, error_message = "timeout", f"no complete answer within {timeout:g}s"
        except httpx2.HTTPError as exc:
            error = error_kind(exc)
            error_message = _one_line(exc) or type(exc).__name__
        except UnicodeError as exc:  # e.g. a non-ASCII Mcp-Session-Id echoed back as a header
            error, error_message = "bad_header_value", _one_line(exc)
        except httpx2.InvalidURL as exc:
            error, error_message = "bad_url", _one_line(exc)
        except (OSError, ValueError) as exc:  # socket-level surprises, malformed URLs
            error = "transport"
            error_message = _one_line(exc) or type(exc).__name__
        duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        raw_exchange = Exchange(
            rpc_method=rpc_method,
            rpc_id=rpc_id,
            url=url,
            http_method=method,
            request_headers=dict(sent_headers),
            request_body=content,
            status=status,
            headers=raw_headers,
            body=raw.decode("utf-8", errors="replace"),
            body_bytes=received,
            body_truncated=truncated,
            duration_ms=duration_ms,
            attempt=attempt,
            error=error,
            error_message=error_message,
            started_at=started,
        )
        return Posted(self.redact(raw_exchange), raw_exchange)

    def redact(self, ex: Exchange) -> Exchange:
        """The record as it may be printed and saved."""
        r = self.redactor
        return dataclasses.replace(
            ex,
            url=r.url(ex.url),
            request_headers=r.headers(ex.request_headers),
            request_body=r.text(ex.request_body),
            headers=r.headers(ex.headers),
            body=r.text(ex.body),
            error_message=r.text(ex.error_message) if ex.error_message else None,
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
