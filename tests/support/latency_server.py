"""A minimal MCP server (Streamable HTTP, JSON answers) that waits a fixed time before every answer.

For the concurrency test and the benchmarks: many probes against one server whose latency,
not its CPU, dominates. Raw asyncio streams with keep-alive, so the server costs almost
nothing next to the clients it measures. Serves one tool, `Bench___echo`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

TOOLS = [{"name": "Bench___echo", "description": "echo", "inputSchema": {"type": "object"}}]


def answer(message: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    method, rpc_id = message.get("method"), message.get("id")
    if rpc_id is None:
        return 202, None
    if method == "initialize":
        result: dict[str, Any] = {"protocolVersion": message["params"]["protocolVersion"],
                                  "capabilities": {"tools": {}},
                                  "serverInfo": {"name": "latency", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": "echo"}], "isError": False}
    else:
        return 200, {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": -32601, "message": "Method not found"}}
    return 200, {"jsonrpc": "2.0", "id": rpc_id, "result": result}


class LatencyServer:
    """`with LatencyServer(latency_s=0.1) as url:` serves on 127.0.0.1 in a thread of its own."""

    def __init__(self, latency_s: float = 0.1) -> None:
        self.latency_s = latency_s
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                await asyncio.sleep(self.latency_s)
                status, payload = answer(json.loads(body or b"{}"))
                out = json.dumps(payload).encode() if payload is not None else b""
                reason = b"OK" if status == 200 else b"Accepted"
                writer.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nmcp-session-id: s-1\r\n"
                             b"content-length: %d\r\n\r\n%s" % (status, reason, len(out), out))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def __enter__(self) -> str:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024), self._loop).result()
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/mcp"
        return self.url

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
