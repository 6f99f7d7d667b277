"""Servers that misbehave on purpose, at the socket level, on 127.0.0.1.

Raw sockets rather than a framework: a framework would refuse to send most of these.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket, bytes], None]


def read_request(sock: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body)."""
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def respond(status: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + body


@contextlib.contextmanager
def serve(behaviour: Behaviour) -> Iterator[str]:
    """Serve `behaviour` on a free loopback port; yield the MCP URL; stop and join on exit."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            request = read_request(self.request)
            with contextlib.suppress(OSError):
                behaviour(self.request, request)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    server.stop = stop  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def fixed(status: str, content_type: str, body: bytes, extra: str = "") -> Behaviour:
    def behaviour(sock: socket.socket, _request: bytes) -> None:
        sock.sendall(respond(status, content_type, body, extra))

    return behaviour


def truncated_sse(sock: socket.socket, _request: bytes) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                 b'event: message\ndata: {"jsonrpc":"2.0","id":1,"res')
    sock.shutdown(socket.SHUT_RDWR)


def huge_body(size: int) -> Behaviour:
    def behaviour(sock: socket.socket, _request: bytes) -> None:
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
                     "Connection: close\r\n\r\n".encode())
        chunk = b"[" + b"0," * 32767 + b"0"
        sent = 0
        while sent < size:
            sock.sendall(chunk)
            sent += len(chunk)

    return behaviour


def silent(hold_s: float) -> Behaviour:
    """Accept, read the request, never answer (until the test is long over)."""

    def behaviour(sock: socket.socket, _request: bytes) -> None:
        time.sleep(hold_s)

    return behaviour


def slow_drip(interval_s: float, count: int) -> Behaviour:
    """Headers at once, then one byte at a time: each read is quick, the whole is endless."""

    def behaviour(sock: socket.socket, _request: bytes) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for _ in range(count):
            sock.sendall(b":")
            time.sleep(interval_s)

    return behaviour


def close_without_answer(sock: socket.socket, _request: bytes) -> None:
    sock.shutdown(socket.SHUT_RDWR)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Answer = tuple[str, str, bytes, str]  # status line, content type, body, extra header lines
Script = Callable[[str, dict, dict[str, str]], Answer]


def mcp(script: Script, log: list[tuple[str, dict[str, str]]]) -> Behaviour:
    """Answer each JSON-RPC request by `script(method, message, headers)`; log what arrived."""
    import json

    def behaviour(sock: socket.socket, request: bytes) -> None:
        head, _, body = request.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        message = json.loads(body or b"{}")
        log.append((message.get("method", ""), headers))
        status, ctype, payload, extra = script(message.get("method", ""), message, headers)
        sock.sendall(respond(status, ctype, payload, extra))

    return behaviour


def initialize_ok(message: dict, session_id: str = "") -> Answer:
    import json

    result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
              "serverInfo": {"name": "hostile", "version": "1"}}
    extra = f"Mcp-Session-Id: {session_id}\r\n" if session_id else ""
    return ("200 OK", "application/json",
            json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode(), extra)


def slow_headers(interval_s: float, count: int) -> Behaviour:
    """The status line itself arrives one byte at a time: only a whole-request deadline ends it."""

    def behaviour(sock: socket.socket, _request: bytes) -> None:
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * count:
            sock.sendall(bytes([b]))
            time.sleep(interval_s)

    return behaviour


def request_target(request: bytes) -> str:
    """The request line's target (path and query), as the server received it."""
    line = request.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else ""


def redirect_echoing_the_target(sock: socket.socket, request: bytes) -> None:
    """A login redirect that carries the whole request (query included) in `next`, as many proxies do."""
    from urllib.parse import quote

    location = "https://login.example/?next=" + quote(request_target(request), safe="")
    sock.sendall(respond("302 Found", "text/html", b"<a>moved</a>", f"Location: {location}\r\n"))


def not_found_echoing_the_target(sock: socket.socket, request: bytes) -> None:
    """A 404 page that quotes the request path and query back, as framework error pages do."""
    body = f"<html><h1>Not Found</h1><p>Cannot POST {request_target(request)}</p></html>".encode()
    sock.sendall(respond("404 Not Found", "text/html", body))


def sse_without_final_blank_line(sock: socket.socket, request: bytes) -> None:
    """A complete `data:` line and then the end of the stream: the event is never dispatched."""
    import json

    message = json.loads(request.partition(b"\r\n\r\n")[2] or b"{}")
    result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
              "serverInfo": {"name": "h", "version": "1"}}
    data = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": result})
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                 + f"event: message\ndata: {data}\n".encode())
    sock.shutdown(socket.SHUT_RDWR)
