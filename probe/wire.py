"""Pure decoding of what came over the wire: JSON bodies and `text/event-stream` framing.

Kept apart from the HTTP client so that the classifier can re-decode a saved exchange
exactly as the live run did (support replay depends on that), and so the transport can
use the same SSE parser to stop reading as soon as the answer to its request arrived.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None


# How an event stream can end short of its last event (None: it did not).
MID_LINE = "the event stream ended in the middle of an event"
UNDISPATCHED = ("the event stream ended before the blank line that completes its last event "
                "(by the SSE rules that event was never dispatched)")


def parse_sse(text: str) -> tuple[list[SseEvent], bool]:
    """Split an event stream into events; the flag says whether the stream ended between events."""
    events, cut = parse_sse_stream(text)
    return events, cut is None


def parse_sse_stream(text: str) -> tuple[list[SseEvent], str | None]:
    """Split an event stream into its dispatched events, and say how it was cut short if it was.

    Follows the WHATWG rules the MCP transport relies on: a line ends at CR, LF or CRLF;
    `data:` lines join with newlines; an event is dispatched only by the blank line that
    ends it, so `data: {...}` followed by the end of the stream is no event at all;
    comment lines (`:`) are keep-alives.
    """
    events: list[SseEvent] = []
    data: list[str] = []
    event = "message"
    event_id: str | None = None
    seen_field = False
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # The last piece is what follows the last line break: never a line, and if not empty,
    # a line the stream cut off.
    tail = lines.pop()
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
    if tail and not tail.startswith(":"):
        return events, MID_LINE
    if seen_field and data:
        return events, UNDISPATCHED
    return events, None


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


MAX_DEPTH = 200  # nesting levels: the MCP SDK's JSON reader refuses deeper documents
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def load_json(text: str) -> tuple[Any, str | None]:
    """Parse JSON as the MCP SDK would accept it, or say in a few words why not; never raises.

    Python's reader alone accepts more than the SDK does (a lone surrogate, nesting past the
    SDK's limit) and fails with other exceptions than ValueError's subclass (an integer of
    thousands of digits, nesting past the interpreter's recursion limit): every one is an
    answer the probe cannot take as MCP, said as such.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, f"nested deeper than {MAX_DEPTH} levels"
    except ValueError as exc:  # an integer longer than Python's int max str digits
        if "digits" in str(exc):
            return None, f"a number has more than {sys.get_int_max_str_digits()} digits"
        return None, " ".join(str(exc).split())[:120]
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        return None, "a string holds a lone surrogate such as \\ud800: not Unicode text"
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        return None, f"nested deeper than {MAX_DEPTH} levels"
    return value, None


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def _deeper_than(value: Any, limit: int) -> bool:
    """Iteratively, and only through containers: a flat list of a million numbers is cheap."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def decode_body(content_type: str | None, body: str) -> Decoded:
    """Find the JSON-RPC messages in a body, whatever its framing claims to be; never raises."""
    mt = media_type(content_type)
    body = body.removeprefix("\ufeff")  # a BOM is not content (the SSE spec strips it too)
    if not body.strip():
        return Decoded(framing="empty")
    if mt == "text/event-stream":
        events, cut = parse_sse_stream(body)
        messages: list[Any] = []
        for ev in events:
            if ev.event != "message" or not ev.data.strip():
                continue
            message, problem = load_json(ev.data)
            if problem is not None:
                return Decoded("sse", messages, f"an SSE event is not JSON ({problem})")
            messages.append(message)
        return Decoded("sse", messages, cut)
    if mt == "application/json" or mt.endswith("+json"):
        payload, problem = load_json(body)
        if problem is not None:
            return Decoded("json", [], f"the body is not valid JSON ({problem})")
        msgs = payload if isinstance(payload, list) else [payload]
        return Decoded("json", msgs)
    return Decoded("other", [], f"content type {mt or 'none'!r} is neither JSON nor an event stream")
