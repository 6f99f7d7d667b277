"""Hostile servers: each misbehaviour is a defined outcome, with no traceback, within the time bounds."""

from __future__ import annotations

import json
import re
import time

import pytest

from probe.cli import main
from tests.hostile import servers as hostile


def run_json(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> tuple[int, dict]:
    code = main(["run", url, "--format", "json", "--retries", "0", "--timeout", "2", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out)


@pytest.mark.parametrize(
    ("behaviour", "outcome", "fragment"),
    [
        (hostile.fixed("200 OK", "application/json", b"{not json"), "protocol_error", "not valid JSON"),
        (hostile.fixed("200 OK", "text/html", b"<html><body>Welcome to nginx!</body></html>"),
         "protocol_error", "text/html"),
        (hostile.fixed("502 Bad Gateway", "text/html", b"<html><h1>502 Bad Gateway</h1></html>"),
         "server_error", "HTTP 502"),
        (hostile.truncated_sse, "protocol_error", "ended in the middle"),
        (hostile.close_without_answer, "transport_error", ""),
        (hostile.fixed("200 OK", "application/json", b'{"jsonrpc":"2.0","id":1,"result":[]}'),
         "protocol_error", "not an object"),
    ],
    ids=["invalid-json", "html-page", "html-502", "truncated-sse", "closed", "result-not-object"],
)
def test_malformed_answers(capsys, behaviour, outcome, fragment) -> None:
    with hostile.serve(behaviour) as url:
        code, report = run_json(capsys, url)
    assert report["outcome"] == outcome
    assert report["steps"][0]["method"] == "initialize"
    assert fragment in (report["steps"][0]["message"] or "")
    assert code == {"protocol_error": 61, "server_error": 60, "transport_error": 62}[outcome]


def test_fifty_megabyte_body_is_cut_at_the_cap(capsys) -> None:
    with hostile.serve(hostile.huge_body(50 * 1024 * 1024)) as url:
        code, report = run_json(capsys, url, "-v")
    assert (code, report["outcome"]) == (61, "protocol_error")
    assert "reading stopped" in report["steps"][0]["message"]
    ex = report["transcript"][0]
    assert ex["body_truncated"] is True
    assert ex["body_bytes"] < 6 * 1024 * 1024  # stopped near the 4 MiB cap, not at 50 MB


def test_server_that_never_answers_times_out(capsys) -> None:
    with hostile.serve(hostile.silent(30)) as url:
        t0 = time.monotonic()
        code, report = run_json(capsys, url, "--timeout", "1")
        elapsed = time.monotonic() - t0
    assert (code, report["outcome"]) == (62, "transport_error")
    assert report["steps"][0]["http_status"] is None
    assert "timeout" in report["steps"][0]["message"]
    assert elapsed < 10, "the run must end near its timeout, not hang"


def test_slow_drip_is_bounded_by_the_total_deadline(capsys) -> None:
    with hostile.serve(hostile.slow_drip(0.1, 300)) as url:
        t0 = time.monotonic()
        code, report = run_json(capsys, url, "--timeout", "1")
        elapsed = time.monotonic() - t0
    assert (code, report["outcome"]) == (62, "transport_error")
    assert "timeout" in report["steps"][0]["message"]
    assert elapsed < 10


def test_refused_port(capsys) -> None:
    url = f"http://127.0.0.1:{hostile.free_port()}/mcp"
    code, report = run_json(capsys, url)
    assert (code, report["outcome"]) == (62, "transport_error")
    assert "refused" in report["steps"][0]["message"]
    assert "listens" in report["steps"][0]["hint"]


def test_transient_failures_are_retried_and_every_attempt_recorded(capsys) -> None:
    with hostile.serve(hostile.fixed("503 Service Unavailable", "text/plain", b"busy")) as url:
        code = main(["run", url, "--format", "json", "--retries", "2", "--timeout", "2", "--max-retry-time", "5"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["outcome"]) == (60, "server_error")
    assert report["steps"][0]["attempts"] == 3


def test_retry_after_beyond_the_budget_stops_retrying(capsys) -> None:
    behaviour = hostile.fixed("429 Too Many Requests", "application/json", b'{"message":"Rate exceeded"}',
                              "Retry-After: 60\r\n")
    with hostile.serve(behaviour) as url:
        t0 = time.monotonic()
        code = main(["run", url, "--format", "json", "--retries", "5", "--max-retry-time", "3"])
        elapsed = time.monotonic() - t0
    report = json.loads(capsys.readouterr().out)
    assert (code, report["outcome"]) == (50, "throttled")
    assert report["steps"][0]["attempts"] == 1  # waiting 60 s would break the 3 s budget
    assert elapsed < 10


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "ftp://example.com/mcp"], "not an http(s) URL"),
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "{not json"], "not valid JSON"),
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "[1,2]"], "must be a JSON object"),
        (["run", "http://127.0.0.1:1/mcp", "--args", "{}"], "--args needs --call"),
        (["run", "http://127.0.0.1:1/mcp", "--protocol-version", "1999-01-01"], "--protocol-version"),
        (["run", "http://127.0.0.1:1/mcp", "--bearer-token-env", "PROBE_TEST_UNSET_VARIABLE"],
         "PROBE_TEST_UNSET_VARIABLE"),
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "@/nonexistent/args.json"],
         "not a regular file"),
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "@/dev/zero"], "not a regular file"),
        (["run", "http://127.0.0.1:1/mcp", "--timeout", "nan"], "--timeout must be a finite number"),
        (["run", "http://127.0.0.1:1/mcp", "--timeout", "inf"], "--timeout must be a finite number"),
        (["run", "http://127.0.0.1:1/mcp", "--max-retry-time", "nan"], "--max-retry-time"),
        (["run", "http://[::1/mcp"], "not a valid URL"),
        (["run", "http://256.1.1.1/mcp"], "not a valid URL"),
        (["run", "http://u:pw-secret-9@127.0.0.1:1/mcp"], "carries credentials"),
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "{\"a\": NaN}"], "not valid JSON"),
    ],
)
def test_bad_input_is_one_line_probe_error(capsys, monkeypatch, argv, fragment) -> None:
    monkeypatch.delenv("PROBE_TEST_UNSET_VARIABLE", raising=False)
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert "pw-secret-9" not in out + err
    assert json.loads(out)["outcome"] == "probe_error"


def test_unknown_option_is_one_line_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "http://x/mcp", "--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-such-flag" in err


# -- the probe's scruples against servers that try to trick it ------------------------------


def _rpc(message: dict, payload: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": message.get("id"), **payload}).encode()


def _tools(message: dict, *names: str) -> hostile.Answer:
    tools = [{"name": n, "inputSchema": {"type": "object"}} for n in names]
    return "200 OK", "application/json", _rpc(message, {"result": {"tools": tools}}), ""


def test_slow_header_phase_is_bounded_by_the_timeout(capsys) -> None:
    with hostile.serve(hostile.slow_headers(0.1, 300)) as url:
        t0 = time.monotonic()
        code, report = run_json(capsys, url, "--timeout", "1")
        elapsed = time.monotonic() - t0
    assert (code, report["outcome"]) == (62, "transport_error")
    assert "within 1s" in report["steps"][0]["message"]
    assert elapsed < 10


def test_a_call_that_reached_the_tool_is_not_repeated_even_if_its_text_says_throttled(capsys) -> None:
    log: list = []

    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        if method == "initialize":
            return hostile.initialize_ok(message)
        if method == "tools/list":
            return _tools(message, "Refunds___refund")
        if method == "tools/call":
            return "500 Internal Server Error", "application/json", _rpc(
                message, {"error": {"code": -32603, "message": "ThrottlingException: slow down"}}), ""
        return "202 Accepted", "application/json", b"", ""

    with hostile.serve(hostile.mcp(script, log)) as url:
        code, report = run_json(capsys, url, "--retries", "3", "--call", "Refunds___refund")
    assert (code, report["outcome"]) == (50, "throttled")
    assert [m for m, _ in log].count("tools/call") == 1  # a 5xx after sending: the refund may have happened
    assert report["steps"][-1]["attempts"] == 1


def test_a_429_call_is_retried_with_a_fresh_id(capsys) -> None:
    log: list = []
    seen_ids: list = []

    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        if method == "initialize":
            return hostile.initialize_ok(message)
        if method == "tools/list":
            return _tools(message, "A___b")
        if method == "tools/call":
            seen_ids.append(message["id"])
            if len(seen_ids) < 2:
                return "429 Too Many Requests", "application/json", b'{"message":"Rate exceeded"}', "Retry-After: 0\r\n"
            return "200 OK", "application/json", _rpc(message, {"result": {"content": [], "isError": False}}), ""
        return "202 Accepted", "application/json", b"", ""

    with hostile.serve(hostile.mcp(script, log)) as url:
        code, report = run_json(capsys, url, "--retries", "2", "--call", "A___b")
    assert (code, report["outcome"], report["steps"][-1]["attempts"]) == (0, "ok", 2)
    assert len(set(seen_ids)) == 2  # JSON-RPC ids are never reused within a session


def test_protocol_state_is_not_altered_by_redaction(capsys) -> None:
    """A JWT-shaped session id and a tool name holding a known secret still work."""
    session = "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjoiMSJ9.c2lnbmF0dXJlLXZhbHVl"
    log: list = []

    def script(method: str, message: dict, headers: dict) -> hostile.Answer:
        if method == "initialize":
            return hostile.initialize_ok(message, session_id=session)
        if headers.get("mcp-session-id") != session:
            return "404 Not Found", "text/plain", b"unknown session", ""
        if method == "tools/list":
            return _tools(message, "Vault___tok-secret-value-77")
        if method == "tools/call":
            return "200 OK", "application/json", _rpc(message, {"result": {"content": [], "isError": False}}), ""
        return "202 Accepted", "application/json", b"", ""

    with hostile.serve(hostile.mcp(script, log)) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOSTILE_TOKEN", "tok-secret-value-77")
        code = main(["run", url, "--format", "json", "--bearer-token-env", "HOSTILE_TOKEN", "--call",
                     "Vault___tok-secret-value-77", "-v"])
        out = capsys.readouterr().out
    assert code == 0, out
    assert session not in out


def test_secrets_never_leak_through_urls_escapes_or_errors(capsys) -> None:
    token = "AbCdEf/GhIjKl+MnOp=="
    escaped = json.dumps(token).strip('"').replace("/", "\\/").replace("A", "\\u0041")

    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        rpc_id = json.dumps(message.get("id"))
        body = f'{{"jsonrpc":"2.0","id":{rpc_id},"error":{{"code":-32600,"message":"bad token {escaped}"}}}}'.encode()
        return "400 Bad Request", "application/json", body, ""

    with hostile.serve(hostile.mcp(script, [])) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOSTILE_TOKEN", token)
        query_url = url + "?api_key=query-secret-123&X-Amz-Signature=sig-secret-456"
        for fmt in ("text", "json"):
            main(["run", query_url, "--format", fmt, "-v", "--bearer-token-env", "HOSTILE_TOKEN"])
            out, err = capsys.readouterr()
            for secret in (token, "query-secret-123", "sig-secret-456"):
                assert secret not in out + err, fmt


def test_terminal_escapes_from_the_server_are_neutralised(capsys) -> None:
    forged = "\x1b[2J\x1b]0;owned\x07\nRESULT ok (exit 0): all fine"

    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        return "200 OK", "application/json", _rpc(message, {"error": {"code": -32603, "message": forged}}), ""

    with hostile.serve(hostile.mcp(script, [])) as url:
        main(["run", url, "--retries", "0", "-v"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert not any(line.startswith("RESULT ok") for line in out.splitlines())


def test_retry_budget_counts_the_next_attempts_timeout(capsys) -> None:
    with hostile.serve(hostile.fixed("503 Service Unavailable", "text/plain", b"busy")) as url:
        code = main(["run", url, "--format", "json", "--retries", "5", "--timeout", "3", "--max-retry-time", "2"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["steps"][0]["attempts"]) == (60, 1)  # one more 3 s attempt could end past 2 s


def test_oauth_token_fetch_is_retried_like_any_request(capsys) -> None:
    log: list = []

    def script(method: str, message: dict, headers: dict) -> hostile.Answer:
        if method == "":  # the form-encoded token request
            if sum(1 for m, _ in log if m == "") < 2:
                return "503 Service Unavailable", "text/plain", b"busy", ""
            return "200 OK", "application/json", b'{"access_token":"tok-from-idp-42","token_type":"Bearer"}', ""
        if method == "initialize":
            return hostile.initialize_ok(message)
        if method == "tools/list":
            return _tools(message, "A___b")
        return "202 Accepted", "application/json", b"", ""

    def behaviour(sock, request: bytes) -> None:
        if b"grant_type=client_credentials" in request:
            log.append(("", {}))
            sock.sendall(hostile.respond(*script("", {}, {})))
        else:
            hostile.mcp(script, log)(sock, request)

    with hostile.serve(behaviour) as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOSTILE_SECRET", "client-secret-xyz-1")
        code, report = run_json(capsys, url, "--retries", "2", "--oauth-token-url", url.replace("/mcp", "/token"),
                                "--oauth-client-id", "c1", "--oauth-client-secret-env", "HOSTILE_SECRET")
    assert (code, report["outcome"]) == (0, "ok")
    assert report["steps"][0]["method"] == "oauth2/token" and report["steps"][0]["attempts"] == 2


# -- issue 13: secrets echoed back, terminal forgery, answers that crashed the classifier ----------

TOKEN = "AbCdEf/GhIjKl+MnOp=="  # has a `/` so that `\/` escaping changes it


_ESCAPED = re.compile(r"\\(u[0-9a-fA-F]{4}|/|\\)")


def _readings(out: str) -> list[str]:
    """The output, and the output with JSON escapes undone once and twice (a body inside a JSON report)."""
    def undo(s: str) -> str:
        return _ESCAPED.sub(lambda m: chr(int(m[1][1:], 16)) if m[1][0] == "u" else m[1], s)

    return [out, undo(out), undo(undo(out))]


def run_both(capsys: pytest.CaptureFixture[str], url: str, *extra: str,
             secrets: tuple[str, ...] = ()) -> tuple[int, str, int, dict]:
    """Run once for the text report (verbose) and once for the JSON one; check what both must hold.

    Neither prints a traceback or a secret, and both encode as UTF-8 (capsys writes UTF-8,
    as a terminal or a pipe would: a lone surrogate would raise here).
    """
    outputs = []
    for fmt in ("text", "json"):
        code = main(["run", url, "--format", fmt, "-v", "--retries", "0", "--timeout", "3", *extra])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err, fmt
        for secret in secrets:
            for reading in _readings(out + err):
                assert secret not in reading, (fmt, secret)
        out.encode("utf-8")
        outputs.append((code, out))
    (text_code, text), (json_code, raw_json) = outputs
    return text_code, text, json_code, json.loads(raw_json)


def _tools_raw(message: dict, *escaped_names: str) -> hostile.Answer:
    """A tools/list answer whose names are written into the JSON as given (escapes and all)."""
    tools = ",".join(f'{{"name":"{n}","inputSchema":{{"type":"object"}}}}' for n in escaped_names)
    body = f'{{"jsonrpc":"2.0","id":{json.dumps(message.get("id"))},"result":{{"tools":[{tools}]}}}}'
    return "200 OK", "application/json", body.encode(), ""


def _mcp_listing(*escaped_names: str, extra_tool_text: str = "") -> hostile.Behaviour:
    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        if method == "initialize":
            return hostile.initialize_ok(message)
        if method == "tools/list":
            return _tools_raw(message, *escaped_names)
        return "202 Accepted", "application/json", b"", ""

    return hostile.mcp(script, [])


@pytest.mark.parametrize(
    "written",
    [TOKEN, TOKEN.replace("/", "\\/"), "".join(f"\\u{ord(c):04x}" for c in TOKEN)],
    ids=["as-is", "slash-escaped", "all-u-escaped"],
)
def test_a_token_echoed_as_a_tool_name_is_never_printed(capsys, monkeypatch, written: str) -> None:
    """Item 2 (and 3): tool names come from the raw answer; everything printed passes the redactor."""
    monkeypatch.setenv("HOSTILE_TOKEN", TOKEN)
    with hostile.serve(_mcp_listing("Vault___get", f"Echo___{written}")) as url:
        text_code, text, json_code, report = run_both(capsys, url, "--bearer-token-env", "HOSTILE_TOKEN",
                                                      secrets=(TOKEN,))
    assert (text_code, json_code, report["outcome"]) == (0, 0, "ok")
    assert "Vault___get" in report["tools"] and "Echo___[REDACTED]" in report["tools"]
    assert "Echo___[REDACTED]" in text


def test_a_query_secret_echoed_in_a_redirect_is_never_printed(capsys) -> None:
    """Item 1: every value of the URL's query is a secret of the run, like a token."""
    with hostile.serve(hostile.redirect_echoing_the_target) as url:
        text_code, _, json_code, report = run_both(capsys, url + "?api_key=query-secret-123",
                                                      secrets=("query-secret-123",))
    assert (text_code, json_code, report["outcome"]) == (61, 61, "protocol_error")
    assert "redirect" in report["steps"][0]["message"]
    assert "login.example" in report["steps"][0]["message"]


def test_a_query_secret_echoed_in_a_404_page_is_never_printed(capsys) -> None:
    with hostile.serve(hostile.not_found_echoing_the_target) as url:
        text_code, _, json_code, report = run_both(capsys, url + "?api_key=query-secret-123",
                                                      secrets=("query-secret-123",))
    assert (text_code, json_code, report["outcome"]) == (61, 61, "protocol_error")
    assert "HTTP 404" in report["steps"][0]["message"]


def test_line_separators_and_overrides_in_tool_names_cannot_forge_report_lines(capsys) -> None:
    """Item 6: a tool name is server text like any other: escaped, and the tools line bounded."""
    forged = "A___b\\u2028RESULT ok (exit 0): all fine\\u202e\\u0085\\u001b[2J"
    with hostile.serve(_mcp_listing(forged, "Long___" + "x" * 20_000)) as url:
        text_code, text, json_code, report = run_both(capsys, url)
    assert (text_code, json_code, report["outcome"]) == (0, 0, "ok")
    for char in ("\u2028", "\u202e", "\x85", "\x1b"):
        assert char not in text
    assert len([line for line in text.splitlines() if line.startswith("RESULT")]) == 1  # the probe's own
    tools_line = next(line for line in text.splitlines() if line.startswith("  tools"))
    assert len(tools_line) < 1000
    assert report["tools"][0] == "A___b\u2028RESULT ok (exit 0): all fine\u202e\x85\x1b[2J"  # the data, intact


@pytest.mark.parametrize(
    ("tools_json", "fragment"),
    [
        ('[{"name":"A___\\ud800","inputSchema":{}}]', "lone surrogate"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('[{"name":"A___b","n":' + "9" * 5000 + "}]", "4300 digits"),
    ],
    ids=["lone-surrogate", "deep-nesting", "5000-digits"],
)
def test_answers_that_crashed_the_probe_are_protocol_errors(capsys, tools_json: str, fragment: str) -> None:
    """Item 7: a defined outcome, in text and in JSON, never a traceback."""
    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        if method == "initialize":
            return hostile.initialize_ok(message)
        if method == "tools/list":
            body = f'{{"jsonrpc":"2.0","id":{json.dumps(message.get("id"))},"result":{{"tools":{tools_json}}}}}'
            return "200 OK", "application/json", body.encode(), ""
        return "202 Accepted", "application/json", b"", ""

    with hostile.serve(hostile.mcp(script, [])) as url:
        text_code, text, json_code, report = run_both(capsys, url)
    assert (text_code, json_code, report["outcome"]) == (61, 61, "protocol_error")
    step = next(s for s in report["steps"] if s["method"] == "tools/list")
    assert fragment in step["message"]
    assert "RESULT protocol_error" in text


def test_a_lone_surrogate_in_an_error_message_is_printed_as_an_escape(capsys) -> None:
    body = b'{"jsonrpc":"2.0","id":0,"error":{"code":-32001,"message":"Invalid Bearer token \\ud800"}}'
    with hostile.serve(hostile.fixed("401 Unauthorized", "application/json", body)) as url:
        text_code, text, json_code, report = run_both(capsys, url)
    assert (text_code, json_code, report["outcome"]) == (30, 30, "auth_failed")
    assert "\\ud800" in text


def test_json_rpc_1_0_is_not_an_answer(capsys) -> None:
    """Item 8: the MCP SDK refuses anything but "jsonrpc": "2.0"; so does the probe."""
    def script(method: str, message: dict, _h: dict) -> hostile.Answer:
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "h", "version": "1"}}
        return "200 OK", "application/json", json.dumps({"jsonrpc": "1.0", "id": message.get("id"),
                                                         "result": result}).encode(), ""

    with hostile.serve(hostile.mcp(script, [])) as url:
        text_code, _, json_code, report = run_both(capsys, url)
    assert (text_code, json_code, report["outcome"]) == (61, 61, "protocol_error")
    assert '"jsonrpc": "1.0"' in report["steps"][0]["message"]


def test_an_event_stream_without_the_final_blank_line_is_not_an_answer(capsys) -> None:
    """Item 8: by the SSE rules an event is dispatched only by the blank line that ends it."""
    with hostile.serve(hostile.sse_without_final_blank_line) as url:
        text_code, _, json_code, report = run_both(capsys, url)
    assert (text_code, json_code, report["outcome"]) == (61, 61, "protocol_error")
    assert "never dispatched" in report["steps"][0]["message"]
