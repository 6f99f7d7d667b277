"""`serve`: a Prometheus target, like blackbox_exporter, on a tiny asyncio HTTP server.

- `/metrics`: the watch loop's last results and the probe's own counters;
- `/probe?probe=NAME`: runs that one probe now and answers its metrics only, so Prometheus'
  own schedule can drive the probing (an unknown or missing name: 400 with a one-line reason);
- `/-/healthy`: 200 while the process serves.

The server speaks just enough HTTP/1.1 for a scraper (GET, one request per connection,
bounded request size and read time): the product's dependencies have no web server, and a
scrape endpoint needs none. The exposition format is prometheus_client's own encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from probe.monitor.labels import labels_for
from probe.monitor.metrics import MetricsStore, exposition, registry_for, results_exposition
from probe.spec import Probe

MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}


class MetricsServer:
    """The HTTP front end over a store and the scenario's probes (`probes()` is read per request)."""

    def __init__(self, store: MetricsStore, probes: Callable[[], Sequence[Probe]], context: object) -> None:
        self.store = store
        self.registry = registry_for(store)
        self.probes = probes
        self.context = context
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_REQUEST_BYTES)
        addr = self._server.sockets[0].getsockname()
        return addr[0], addr[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            except (asyncio.LimitOverrunError, ValueError):
                status, ctype, body = 431, "text/plain; charset=utf-8", b"request head too large\n"
            except (TimeoutError, asyncio.IncompleteReadError):
                return
            else:
                status, ctype, body = await self.answer(head.split(b"\r\n", 1)[0].decode("latin-1"))
            writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1") + body)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def answer(self, request_line: str) -> tuple[int, str, bytes]:
        """Route one request line to (status, content type, body)."""
        text = "text/plain; charset=utf-8"
        parts = request_line.split(" ")
        if len(parts) != 3:
            return 400, text, b"malformed request line\n"
        method, target, _ = parts
        if method != "GET":
            return 405, text, b"only GET is served\n"
        url = urlsplit(target)
        if url.path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, exposition(self.registry)
        if url.path == "/-/healthy":
            return 200, text, b"OK\n"
        if url.path == "/probe":
            return await self._probe(parse_qs(url.query).get("probe", []))
        return 404, text, b"not found: try /metrics, /probe?probe=NAME or /-/healthy\n"

    async def _probe(self, names: list[str]) -> tuple[int, str, bytes]:
        from probe.engine import run_probe

        text = "text/plain; charset=utf-8"
        if len(names) != 1 or not names[0]:
            return 400, text, b"give one probe name: /probe?probe=NAME\n"
        known = {labels_for(p).probe: p for p in self.probes()}
        probe = known.get(names[0])
        if probe is None:
            shown = ", ".join(sorted(known)[:20]) or "none"
            # The unknown name is not echoed: it is the caller's free text, and this line may be logged.
            return 400, text, f"unknown probe name; known probes: {shown}\n".encode()
        result = await run_probe(probe, context=self.context)  # type: ignore[arg-type]
        return 200, CONTENT_TYPE_LATEST, results_exposition([(labels_for(probe), result)])
