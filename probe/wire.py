"""Pure decoding of what came over the wire: JSON bodies and `text/event-stream` framing.

Kept apart from the HTTP client so that the classifier can re-decode a saved exchange
exactly as the live run did (support replay depends on that), and so the transport can
use the same SSE parser to stop reading as soon as the answer to its request arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None


def parse_sse(text: str) -> tuple[list[SseEvent], bool]:
    """Split an event stream into events; the flag says whether the last event was complete.

    Follows the WHATWG rules the MCP transport relies on: `data:` lines join with
    newlines, an event ends at a blank line, comment lines (`:`) are keep-alives.
    """
    events: list[SseEvent] = []
    data: list[str] = []
    event = "message"
    event_id: str | None = None
    seen_field = False
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # A stream that does not end with a newline ends mid-line: that line is incomplete.
    complete_tail = text.endswith(("\n", "\r"))
    if not complete_tail:
        lines = lines[:-1]
    for line in lines:
        if line == "":
            if seen_field and data:
                events.append(SseEvent(event=event, data="\n".join(data), id=event_id))
            data, event, event_id, seen_field = [], "message", None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        seen_field = True
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value
    pending = seen_field and bool(data)
    return events, not pending and complete_tail


@dataclass(frozen=True)
class Decoded:
    """JSON-RPC messages found in one HTTP answer, or why none could be found."""

    framing: str  # "json", "sse", "empty", "other"
    messages: list[Any] = field(default_factory=list)
    problem: str | None = None  # why the body is not usable MCP

    def response_for(self, rpc_id: int | str | None) -> dict[str, Any] | None:
        """The JSON-RPC response (result or error) answering `rpc_id`.

        Gateways have answered auth failures with `id: 0` or `id: null` whatever the
        request id was, so an error object with a null/0 id is accepted when it is the
        only response in the body.
        """
        responses = [
            m for m in self.messages if isinstance(m, dict) and ("result" in m or "error" in m)
        ]
        for m in responses:
            if m.get("id") == rpc_id:
                return m
        if len(responses) == 1 and "error" in responses[0] and responses[0].get("id") in (None, 0):
            return responses[0]
        return None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(content_type: str | None, body: str) -> Decoded:
    """Find the JSON-RPC messages in a body, whatever its framing claims to be."""
    mt = media_type(content_type)
    body = body.removeprefix("\ufeff")  # a BOM is not content (the SSE spec strips it too)
    if not body.strip():
        return Decoded(framing="empty")
    if mt == "text/event-stream":
        events, complete = parse_sse(body)
        messages: list[Any] = []
        for ev in events:
            if ev.event != "message" or not ev.data.strip():
                continue
            try:
                messages.append(json.loads(ev.data))
            except ValueError as exc:
                return Decoded("sse", messages, f"an SSE event is not JSON ({exc.msg} at {exc.pos})")
        problem = None if complete else "the event stream ended in the middle of an event"
        return Decoded("sse", messages, problem)
    if mt == "application/json" or mt.endswith("+json"):
        try:
            payload = json.loads(body)
        except ValueError as exc:
            return Decoded("json", [], f"the body is not valid JSON ({exc.msg} at line {exc.lineno})")
        msgs = payload if isinstance(payload, list) else [payload]
        return Decoded("json", msgs)
    return Decoded("other", [], f"content type {mt or 'none'!r} is neither JSON nor an event stream")
