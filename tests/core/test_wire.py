"""Decoding what came over the wire: every body gets a defined answer, never an exception."""

from __future__ import annotations

import json

import pytest

from probe.wire import MAX_DEPTH, MID_LINE, UNDISPATCHED, decode_body, load_json, parse_sse, parse_sse_stream

RESPONSE = '{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'


@pytest.mark.parametrize(
    ("stream", "count", "cut"),
    [
        (f"event: message\ndata: {RESPONSE}\n\n", 1, None),
        (f"data: {RESPONSE}\r\n\r\n", 1, None),
        (f"data: {RESPONSE}\r\r", 1, None),
        (f"data: {RESPONSE}\n\n: keep-alive", 1, None),  # a cut comment is no event
        (f"data: {RESPONSE}\n", 0, UNDISPATCHED),  # the blank line that dispatches it never came
        (f"data: {RESPONSE}\r\n", 0, UNDISPATCHED),
        (f"event: message\ndata: {RESPONSE}", 0, MID_LINE),
        (f"data: {RESPONSE}\n\ndata: {RESPONSE}\n", 1, UNDISPATCHED),
        ("id: 7\nretry: 10\n\n", 0, None),  # fields but no data: nothing to dispatch, nothing lost
    ],
)
def test_sse_events_are_dispatched_only_by_a_blank_line(stream: str, count: int, cut: str | None) -> None:
    events, why = parse_sse_stream(stream)
    assert (len(events), why) == (count, cut)
    assert parse_sse(stream) == (events, cut is None)


def test_an_undispatched_response_is_not_an_answer() -> None:
    decoded = decode_body("text/event-stream", f"event: message\ndata: {RESPONSE}\n")
    assert decoded.messages == []
    assert decoded.response_for(1) is None
    assert decoded.problem is not None and "never dispatched" in decoded.problem


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"jsonrpc":"2.0","id":1,"result":{"n":' + "7" * 5000 + "}}", "more than 4300 digits"),
        ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH} levels"),
        ('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\\ud800"}]}}', "lone surrogate"),
        ('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x\\udc00y"}}', "lone surrogate"),
        ('{"jsonrpc":"2.0","id":1,', "Expecting"),
    ],
    ids=["5000-digits", "deep-100k", "deep-201", "surrogate-name", "surrogate-message", "truncated"],
)
@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_bodies_python_cannot_read_or_the_sdk_refuses_are_problems_not_exceptions(
        body: str, fragment: str, sse: bool) -> None:
    if sse:
        decoded = decode_body("text/event-stream", f"event: message\ndata: {body}\n\n")
    else:
        decoded = decode_body("application/json", body)
    assert decoded.messages == []
    assert decoded.problem is not None and fragment in decoded.problem


@pytest.mark.parametrize(
    "body",
    [
        '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH,  # exactly the limit
        '{"s":"\\ud83d\\ude00"}',  # a surrogate pair is one character
        '{"s":"\\\\ud800"}',  # an escaped backslash followed by text
        "[" + ",".join(["[]"] * 50_000) + "]",  # many containers, all shallow
        '{"n":' + "7" * 4000 + "}",
    ],
)
def test_what_the_sdk_accepts_is_read(body: str) -> None:
    value, problem = load_json(body)
    assert problem is None
    assert value == json.loads(body)
