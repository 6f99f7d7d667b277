"""A whole-request deadline under httpx2, at the socket: every read and write gets what is left.

httpx's timeouts bound each socket operation, so a server that dribbles one byte a
second (headers included) never trips them. The probe promises an answer within
`--timeout` per request; the only place that can keep that promise for every phase
(connect, TLS, headers, body) is the network stream, so the deadline lives there.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore2

_local = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound every network operation inside the block to end within `seconds` from now."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = previous


def _left(timeout: float | None) -> float | None:
    d = getattr(_local, "deadline", None)
    if d is None:
        return timeout
    left = d - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            left = _left(timeout)
        except TimeoutError as exc:
            raise httpcore2.ReadTimeout(str(exc)) from exc
        return self._inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            left = _left(timeout)
        except TimeoutError as exc:
            raise httpcore2.WriteTimeout(str(exc)) from exc
        self._inner.write(buffer, left)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        try:
            left = _left(timeout)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(str(exc)) from exc
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore2.NetworkBackend):
    """Wraps the default sync backend; streams it opens honour the current deadline."""

    def __init__(self, inner: httpcore2.NetworkBackend | None = None) -> None:
        from httpcore2._backends.sync import SyncBackend

        self._inner = inner or SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        try:
            left = _left(timeout)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(str(exc)) from exc
        return _Stream(self._inner.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(transport: Any) -> None:
    """Put the deadline backend under an httpx2.HTTPTransport's connection pool."""
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = DeadlineBackend(pool._network_backend)
