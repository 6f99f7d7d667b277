"""The classifier over every wire shape in the reference document, and variants of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from probe.classify import classify
from probe.outcome import Exchange, Outcome


def exchange(
    body: Any = None,
    *,
    status: int | None = 200,
    content_type: str = "application/json",
    rpc_id: int | None = 1,
    method: str = "tools/list",
    headers: dict[str, str] | None = None,
    error: str | None = None,
    truncated: bool = False,
    sse: bool = False,
    raw: str | None = None,
) -> Exchange:
    if raw is not None:
        text = raw
    elif body is None:
        text = ""
    elif sse:
        content_type = "text/event-stream"
        text = f"event: message\ndata: {json.dumps(body)}\n\n"
    else:
        text = json.dumps(body)
    hdrs = {"content-type": content_type, "x-amzn-requestid": "req-123", **(headers or {})}
    return Exchange(
        rpc_method=method, rpc_id=rpc_id, url="https://gw/mcp", http_method="POST", request_headers={},
        request_body="{}", status=status, headers=hdrs if status is not None else {}, body=text,
        body_bytes=len(text), body_truncated=truncated, duration_ms=5.0, error=error,
        error_message="boom" if error else None,
    )


def result(r: Any, rpc_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "result": r}


def rpc_error(code: int, message: str, rpc_id: int | None = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}


def text_result(text: str, is_error: bool = True, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": is_error}
    if meta:
        r["_meta"] = meta
    return r


INCIDENT = "InternalServerException - Policy evaluation failed for list tools"
DENIED_DOC = ("AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement "
              "[No policy applies to the request (denied by default).]")
DENIED_PREVIEW = ("Tool Execution Denied: Tool call not allowed due to policy enforcement "
                  "[Policy evaluation denied due to no determining policies]")


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
class TestShapes:
    def test_incident_list_tools_is_internal_policy_failure(self, sse: bool) -> None:
        j = classify("tools/list", exchange(result(text_result(INCIDENT)), sse=sse))
        assert j.outcome is Outcome.POLICY_INTERNAL_FAILURE
        assert j.detail.message == INCIDENT
        assert j.detail.request_id == "req-123"
        assert "AuthorizeAction" in (j.hint or "")

    def test_internal_failure_on_call(self, sse: bool) -> None:
        text = "InternalServerException - Policy evaluation failed for tool call"
        j = classify("tools/call", exchange(result(text_result(text)), sse=sse, method="tools/call"))
        assert j.outcome is Outcome.POLICY_INTERNAL_FAILURE

    def test_documented_denial(self, sse: bool) -> None:
        j = classify("tools/call", exchange(result(text_result(DENIED_DOC)), sse=sse, method="tools/call"))
        assert j.outcome is Outcome.POLICY_DENIED
        assert j.detail.reason == "No policy applies to the request (denied by default)."
        assert j.detail.policy_id is None

    def test_preview_denial_as_jsonrpc_error(self, sse: bool) -> None:
        j = classify("tools/call", exchange(rpc_error(-32002, DENIED_PREVIEW), sse=sse, method="tools/call"))
        assert j.outcome is Outcome.POLICY_DENIED
        assert j.detail.reason == "Policy evaluation denied due to no determining policies"
        assert j.detail.policy_id is None
        assert j.detail.rpc_error_code == -32002

    def test_forbid_names_its_policy(self, sse: bool) -> None:
        text = DENIED_PREVIEW.replace("no determining policies", "refund_limit_forbid-x1y2z3")
        j = classify("tools/call", exchange(rpc_error(-32002, text), sse=sse, method="tools/call"))
        assert j.outcome is Outcome.POLICY_DENIED
        assert j.detail.policy_id == "refund_limit_forbid-x1y2z3"
        assert "refund_limit_forbid-x1y2z3" in (j.hint or "")

    def test_forbid_in_documented_shape(self, sse: bool) -> None:
        text = ("AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy "
                "enforcement [Policy evaluation denied due to pol-123abc]")
        j = classify("tools/call", exchange(result(text_result(text)), sse=sse, method="tools/call"))
        assert (j.outcome, j.detail.policy_id) == (Outcome.POLICY_DENIED, "pol-123abc")

    def test_allowed_call(self, sse: bool) -> None:
        j = classify("tools/call", exchange(result(text_result("refund r-1", False)), sse=sse, method="tools/call"))
        assert j.outcome is Outcome.OK

    def test_list_ok_and_empty_list_is_ok_at_exchange_level(self, sse: bool) -> None:
        assert classify("tools/list", exchange(result({"tools": []}), sse=sse)).outcome is Outcome.OK
        j = classify("tools/list", exchange(result({"tools": [{"name": "T___a"}], "nextCursor": "c"}), sse=sse))
        assert j.outcome is Outcome.OK

    def test_generic_target_failure_hints_debug(self, sse: bool) -> None:
        ex = exchange(result(text_result("An internal error occurred. Please retry later.")), sse=sse,
                      method="tools/call")
        j = classify("tools/call", ex)
        assert j.outcome is Outcome.TOOL_ERROR
        assert "exceptionLevel" in (j.hint or "") and "DEBUG" in (j.hint or "")

    def test_debug_target_failure_surfaces_meta_debug(self, sse: bool) -> None:
        text = "Access denied while invoking Lambda function arn:aws:lambda:us-east-1:123456789012:function:f"
        ex = exchange(result(text_result(text, meta={"debug": text})), sse=sse, method="tools/call")
        j = classify("tools/call", ex)
        assert j.outcome is Outcome.TOOL_ERROR
        assert j.detail.debug == text
        assert "exceptionLevel" not in (j.hint or "")


@pytest.mark.parametrize(
    ("message", "status"),
    [("Invalid Bearer token", 401), ("Missing Authentication Token", 401), ("Invalid Bearer token", 200)],
)
def test_auth_failures(message: str, status: int) -> None:
    ex = exchange(rpc_error(-32001, message, rpc_id=0), status=status,
                  headers={"www-authenticate": 'Bearer resource_metadata="https://gw/.well-known/oauth-protected-resource"'})
    j = classify("initialize", ex)
    assert j.outcome is Outcome.AUTH_FAILED
    assert message in (j.detail.message or "")


def test_401_with_plain_text_and_403_html() -> None:
    assert classify("initialize", exchange(status=401, raw="Unauthorized", content_type="text/plain")).outcome \
        is Outcome.AUTH_FAILED
    ex = exchange(status=403, raw="<html>Forbidden</html>", content_type="text/html")
    assert classify("tools/list", ex).outcome is Outcome.AUTH_FAILED


def test_sigv4_expired_invalid_params_is_protocol_error_with_credentials_hint() -> None:
    j = classify("tools/list", exchange(rpc_error(-32602, "Invalid request parameters")))
    assert j.outcome is Outcome.PROTOCOL_ERROR
    assert "SigV4" in (j.hint or "")


@pytest.mark.parametrize(
    ("ex", "retry_after"),
    [
        (exchange({"message": "Rate exceeded"}, status=429, headers={"retry-after": "3"}), 3.0),
        (exchange(status=429, raw="", content_type="text/plain"), None),
        (exchange(rpc_error(-32000, "ThrottlingException: Rate exceeded")), None),
        (exchange(result(text_result("ThrottlingException - too many requests"))), None),
        (exchange({"message": "Too Many Requests"}, status=503, headers={"x-amzn-errortype": "ThrottlingException"}),
         None),
    ],
)
def test_throttling_shapes(ex: Exchange, retry_after: float | None) -> None:
    j = classify("tools/list", ex)
    assert j.outcome is Outcome.THROTTLED
    assert j.detail.retry_after_s == retry_after


@pytest.mark.parametrize(
    "ex",
    [
        exchange(status=500, raw="<html><body>Internal Server Error</body></html>", content_type="text/html"),
        exchange(status=502, raw="Bad Gateway", content_type="text/plain"),
        exchange(rpc_error(-32603, "Internal error")),
        exchange(result(text_result("Something broke while listing"))),  # error result where a list was due
    ],
)
def test_server_errors(ex: Exchange) -> None:
    assert classify("tools/list", ex).outcome is Outcome.SERVER_ERROR


@pytest.mark.parametrize(
    ("ex", "fragment"),
    [
        (exchange(raw="{not json", content_type="application/json"), "not valid JSON"),
        (exchange(raw="<html>hi</html>", content_type="text/html"), "neither JSON nor an event stream"),
        (exchange(raw="event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,", content_type="text/event-stream"),
         "ended in the middle"),
        (exchange(raw=": ping\n\n", content_type="text/event-stream"), "no response"),
        (exchange(raw="data: nope\n\n", content_type="text/event-stream"), "not JSON"),
        (exchange(result({"content": []})), "no tools array"),
        (exchange(result({"tools": [{"description": "nameless"}]})), "without a name"),
        (exchange(result({"tools": []}, rpc_id=99)), "answers id(s) [99], not the request's id 1"),
        (exchange({"jsonrpc": "2.0", "method": "notifications/message"}), "no JSON-RPC response"),
        (exchange(status=307, raw="", content_type="text/plain", headers={"location": "https://gw/mcp/"}),
         "redirect to https://gw/mcp/"),
        (exchange(rpc_error(-32000, "Bad Request: Unsupported protocol version"), status=400), "-32000"),
        (exchange(status=200, raw="", error="decoding"), "decoding"),
        (exchange(raw='\ufeffevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n',
                  content_type="text/event-stream"), "no tools array"),
        (exchange(raw="", content_type="application/json"), "empty body"),
        (exchange(result({"tools": []}), truncated=True), "reading stopped"),
        (exchange(status=404, raw="Not Found", content_type="text/plain"), "HTTP 404"),
        (exchange(rpc_error(-32601, "Method not found")), "-32601"),
    ],
)
def test_protocol_errors(ex: Exchange, fragment: str) -> None:
    j = classify("tools/list", ex)
    assert j.outcome is Outcome.PROTOCOL_ERROR
    assert fragment in (j.detail.message or "")


def test_initialize_without_version_is_protocol_error() -> None:
    j = classify("initialize", exchange(result({"capabilities": {}}), method="initialize"))
    assert j.outcome is Outcome.PROTOCOL_ERROR


@pytest.mark.parametrize("kind", ["refused", "dns", "tls", "read_timeout", "timeout", "connect_timeout"])
def test_transport_errors(kind: str) -> None:
    j = classify("tools/list", exchange(status=None, error=kind))
    assert j.outcome is Outcome.TRANSPORT_ERROR
    assert kind in (j.detail.message or "")


def test_transport_error_after_headers_still_transport() -> None:
    ex = exchange(status=200, raw="event: message\n", content_type="text/event-stream", error="timeout")
    assert classify("tools/list", ex).outcome is Outcome.TRANSPORT_ERROR


def test_sse_with_notifications_before_the_response_and_crlf() -> None:
    body = (
        'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{}}\r\n\r\n'
        ": keepalive\r\n\r\n"
        'event: message\r\ndata: {"jsonrpc":"2.0","id":1,\r\ndata: "result":{"tools":[{"name":"A___b"}]}}\r\n\r\n'
    )
    assert classify("tools/list", exchange(raw=body, content_type="text/event-stream")).outcome is Outcome.OK


def test_tolerant_to_rewording() -> None:
    variants = [
        "InternalServerException: policy evaluation failed while listing tools",
        "Policy Evaluation Failed for tools/list",
    ]
    for text in variants:
        assert classify("tools/list", exchange(result(text_result(text)))).outcome is Outcome.POLICY_INTERNAL_FAILURE
    denial = "Tool execution denied - not allowed due to policy enforcement [Policy evaluation denied due to p-1]"
    j = classify("tools/call", exchange(result(text_result(denial)), method="tools/call"))
    assert (j.outcome, j.detail.policy_id) == (Outcome.POLICY_DENIED, "p-1")


def test_unknown_tool_error_on_call() -> None:
    j = classify("tools/call", exchange(rpc_error(-32602, "Unknown tool: X___y"), method="tools/call"))
    assert j.outcome is Outcome.TOOL_MISSING


def test_notification_accepted() -> None:
    ex = exchange(status=202, raw="", rpc_id=None, method="notifications/initialized")
    assert classify("notifications/initialized", ex).outcome is Outcome.OK


def test_replay_from_saved_dict_gives_same_judgement() -> None:
    ex = exchange(result(text_result(INCIDENT)), sse=True)
    again = Exchange.from_dict(json.loads(json.dumps(ex.to_dict())))
    assert classify("tools/list", again) == classify("tools/list", ex)


def test_policy_words_beat_the_status_and_are_never_a_transient_failure() -> None:
    for status in (500, 503, 403):
        ex = exchange({"message": "InternalServerException - Policy evaluation failed for list tools"}, status=status)
        assert classify("tools/list", ex).outcome is Outcome.POLICY_INTERNAL_FAILURE
    ex = exchange(rpc_error(-32603, DENIED_PREVIEW), status=500, method="tools/call")
    assert classify("tools/call", ex).outcome is Outcome.POLICY_DENIED


def test_policy_words_without_is_error_or_with_a_string_flag() -> None:
    no_flag = {"content": [{"type": "text", "text": INCIDENT}]}
    assert classify("tools/list", exchange(result(no_flag))).outcome is Outcome.POLICY_INTERNAL_FAILURE
    string_flag = {**text_result("InternalServerException - Policy evaluation failed for tool call"),
                   "isError": "true"}
    j = classify("tools/call", exchange(result(string_flag), method="tools/call"))
    assert j.outcome is Outcome.POLICY_INTERNAL_FAILURE


def test_a_successful_tool_may_talk_about_policy() -> None:
    ok = text_result("Report: policy evaluation failed twice last week; tool execution denied 3 times", False)
    assert classify("tools/call", exchange(result(ok), method="tools/call")).outcome is Outcome.OK


def test_policy_id_found_when_text_follows_the_bracket() -> None:
    text = DENIED_DOC.replace("No policy applies to the request (denied by default).",
                              "Policy evaluation denied due to pol-1") + ". Request id abc"
    j = classify("tools/call", exchange(result(text_result(text)), method="tools/call"))
    assert (j.outcome, j.detail.policy_id) == (Outcome.POLICY_DENIED, "pol-1")


def test_minus_32001_is_auth_only_with_auth_words() -> None:
    j = classify("tools/call", exchange(rpc_error(-32001, "Request timed out"), method="tools/call"))
    assert j.outcome is Outcome.SERVER_ERROR
    assert classify("initialize", exchange(rpc_error(-32001, "Invalid Bearer token"))).outcome \
        is Outcome.AUTH_FAILED


@pytest.mark.parametrize("text", ["caller unauthorized for order 5", "token expired for target ServiceX"])
def test_target_auth_words_on_a_call_are_not_the_probes_credentials(text: str) -> None:
    j = classify("tools/call", exchange(rpc_error(-32603, text), method="tools/call"))
    assert j.outcome is Outcome.SERVER_ERROR


def test_target_not_found_is_not_tool_missing() -> None:
    ex = exchange(rpc_error(-32603, "Tool invocation error: S3 object not found"), method="tools/call")
    assert classify("tools/call", ex).outcome is Outcome.SERVER_ERROR


def test_client_error_status_is_never_server_error() -> None:
    j = classify("initialize", exchange(rpc_error(-32000, "Bad Request: Unsupported protocol version"), status=400))
    assert j.outcome is Outcome.PROTOCOL_ERROR
    assert "--protocol-version" in (j.hint or "")


@pytest.mark.parametrize(("value", "expected"), [("inf", None), ("nan", None), ("-3", 0.0), ("2.5", 2.5),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)])
def test_retry_after_forms(value: str, expected: float | None) -> None:
    j = classify("tools/list", exchange(status=429, raw="", content_type="text/plain",
                                        headers={"retry-after": value}))
    assert j.detail.retry_after_s == expected


def test_retry_after_date_in_the_future() -> None:
    from email.utils import formatdate

    ex = exchange(status=429, raw="", content_type="text/plain")
    ex = Exchange.from_dict({**ex.to_dict(), "started_at": 1_000_000.0, "duration_ms": 0.0,
                             "headers": {**ex.headers, "retry-after": formatdate(1_000_030.0, usegmt=True)}})
    assert classify("tools/list", ex).detail.retry_after_s == pytest.approx(30.0)


# -- issue 13: answers that crashed or misled the classifier ---------------------------------


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("envelope", "fragment"),
    [({"jsonrpc": "1.0"}, 'says "jsonrpc": "1.0"'), ({}, "no jsonrpc member"), ({"jsonrpc": 2.0}, '"jsonrpc": 2.0')],
    ids=["1.0", "missing", "number"],
)
def test_only_json_rpc_2_0_is_an_answer(sse: bool, envelope: dict[str, Any], fragment: str) -> None:
    body = {**envelope, "id": 1, "result": {"tools": [{"name": "A___b"}]}}
    j = classify("tools/list", exchange(body, sse=sse))
    assert j.outcome is Outcome.PROTOCOL_ERROR
    assert fragment in (j.detail.message or "")
    assert j.detail.rule == "jsonrpc_version"


def test_an_error_status_decides_whatever_the_envelope() -> None:
    j = classify("initialize", exchange({"id": 0, "error": {"code": -32001, "message": "Invalid Bearer token"}},
                                        status=401))
    assert j.outcome is Outcome.AUTH_FAILED


def test_a_response_in_an_event_never_dispatched_is_no_answer() -> None:
    raw = f"event: message\ndata: {json.dumps(result({'tools': [{'name': 'A___b'}]}))}\n"
    j = classify("tools/list", exchange(raw=raw, content_type="text/event-stream"))
    assert j.outcome is Outcome.PROTOCOL_ERROR
    assert "never dispatched" in (j.detail.message or "")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"A___\\ud800"}]}}', "lone surrogate"),
        ('{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"bad \\ud800 text"}}', "lone surrogate"),
        ('{"jsonrpc":"2.0","id":1,"result":{"tools":' + "[" * 5000 + "]" * 5000 + "}}", "nested deeper"),
        ('{"jsonrpc":"2.0","id":1,"result":{"tools":[],"n":' + "9" * 5000 + "}}", "4300 digits"),
        ('{"jsonrpc":"2.0","id":' + "[" * 150 + "]" * 150 + ',"result":{}}', "answers id(s) [[[[|carried no response"),
    ],
    ids=["surrogate-name", "surrogate-message", "deep", "5000-digits", "deep-id"],
)
def test_unreadable_answers_are_protocol_errors_with_printable_evidence(raw: str, fragment: str) -> None:
    for ex in (exchange(raw=raw), exchange(raw=f"event: message\ndata: {raw}\n\n", content_type="text/event-stream")):
        j = classify("tools/list", ex)
        assert j.outcome is Outcome.PROTOCOL_ERROR
        assert any(f in (j.detail.message or "") for f in fragment.split("|"))
        json.dumps(j.detail.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_lone_surrogate_in_a_status_decided_message_is_printable() -> None:
    body = '{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Invalid Bearer token \\ud800"}}'
    j = classify("initialize", exchange(raw=body, status=401))
    assert j.outcome is Outcome.AUTH_FAILED
    assert (j.detail.message or "").encode("utf-8")


def test_deep_debug_meta_and_huge_retry_after_do_not_raise() -> None:
    meta = {"debug": {"a": [[[[[["deep"]]]]]]}}
    j = classify("tools/call", exchange(result(text_result("boom", meta=meta)), method="tools/call"))
    assert j.outcome is Outcome.TOOL_ERROR and "deep" in (j.detail.debug or "")
    for value in ("Wed, 21 Oct 99999 07:28:00 GMT", "1e999", "Mon, 01 Jan 0001 00:00:00 GMT"):
        j = classify("tools/list", exchange(status=429, raw="", content_type="text/plain",
                                            headers={"retry-after": value}))
        assert j.outcome is Outcome.THROTTLED


def test_a_snippet_never_cuts_a_token_in_half() -> None:
    token = "tok-" + "x" * 300
    j = classify("tools/list", exchange(status=502, raw=f"upstream said {token} twice", content_type="text/plain"))
    assert j.outcome is Outcome.SERVER_ERROR
    assert "tok-x" not in (j.detail.message or "")  # all of it or none of it


HOSTILE = [
    '{"jsonrpc":"2.0"', '"id":1', '"id":0', '"id":null', '"id":"1"', '"id":[1]', '"result":', '"error":',
    '{"code":-32002,"message":"Tool Execution Denied [Policy evaluation denied due to p-1]"}',
    '{"tools":[{"name":"A___b"}]}', '{"content":[{"type":"text","text":"x"}],"isError":true}', '"isError":"true"',
    '"_meta":{"debug":' + "[" * 60 + "]" * 60 + "}", "\\ud800", "\\udfff", "\\u0000", "\\", '"', "[" * 300,
    "]" * 300, "9" * 5000, "1e999", "NaN", "-Infinity", "true", "null", "{", "}", ",", ":", "\u2028", "\x00", "\ufeff",
    "event: message\n", "data: ", "data:", "\n\n", "\r\n", "\r", ": ping\n", "id: 1\n", "retry: 5\n",
    "InternalServerException - Policy evaluation failed", "Invalid Bearer token", "ThrottlingException",
    '"nextCursor":', '"protocolVersion":"2025-11-25"', '"capabilities":[]', "\udcff",
]
CONTENT_TYPES = ["application/json", "text/event-stream", "text/html", "", "application/json; charset=utf-8",
                 "APPLICATION/JSON", "text/event-stream;x", "application/problem+json"]
HEADER_VALUES = ["3", "-1", "nan", "inf", "Wed, 21 Oct 99999 07:28:00 GMT", "", "\x00", "ThrottlingException", "1e309"]


def test_classify_always_returns_a_judgement_for_hostile_bytes() -> None:
    """A few thousand exchanges assembled from hostile fragments (seeded: every run the same cases)."""
    import random

    from probe.classify import CLASSIFIER_FAULT
    from probe.outcome import Judgement

    rnd = random.Random(13)
    methods = ["initialize", "tools/list", "tools/call", "notifications/initialized"]
    for case in range(3000):
        pieces = [rnd.choice(HOSTILE) for _ in range(rnd.randrange(1, 12))]
        text = "".join(pieces)
        if rnd.random() < 0.3:  # or arbitrary bytes, as the transport decodes them
            text = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64))).decode("utf-8", "replace") + text
        headers = {"content-type": rnd.choice(CONTENT_TYPES)}
        for name in ("retry-after", "x-amzn-errortype", "location", "www-authenticate"):
            if rnd.random() < 0.2:
                headers[name] = rnd.choice(HEADER_VALUES)
        method = rnd.choice(methods)
        ex = Exchange(
            rpc_method=method, rpc_id=None if method.startswith("notifications/") else rnd.choice([0, 1, "1"]),
            url="https://gw/mcp", http_method="POST",
            request_headers={"mcp-session-id": "s"} if rnd.random() < 0.2 else {}, request_body="{}",
            status=rnd.choice([None, 200, 202, 302, 400, 401, 403, 404, 429, 500, 503, 599]), headers=headers,
            body=text, body_bytes=len(text), body_truncated=rnd.random() < 0.05, duration_ms=1.0,
            error=rnd.choice([None] * 8 + ["timeout", "decoding"]), error_message=rnd.choice([None, "x\ud800"]),
            started_at=rnd.choice([0.0, 1e12, -1.0]),
        )
        j = classify(method, ex)
        assert isinstance(j, Judgement), case
        assert j.detail.rule != CLASSIFIER_FAULT, (case, text, j.detail.message)
        json.dumps(j.detail.to_dict(), ensure_ascii=False).encode("utf-8")
        (j.hint or "").encode("utf-8")
