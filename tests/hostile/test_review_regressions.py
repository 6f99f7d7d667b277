"""What an adversarial review found, each pinned by a test: a secret rerouted or leaked, a bound
not kept, an exit code misstated, a traceback instead of one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probe.cli import main
from probe.spec import AuthConfig, Call, Expect, Probe, SpecError, Target
from tests.hostile import servers as hostile

REPO = Path(__file__).resolve().parents[2]


def _answering(script):
    log: list[tuple[str, dict[str, str]]] = []
    return hostile.mcp(script, log), log


def _mcp_ok(method: str, message: dict, headers: dict[str, str]) -> hostile.Answer:
    if method == "initialize":
        return hostile.initialize_ok(message)
    if method == "notifications/initialized":
        return "202 Accepted", "application/json", b"", ""
    body = {"jsonrpc": "2.0", "id": message.get("id"), "result": {"tools": [{"name": "T___a", "inputSchema": {}}]}}
    return "200 OK", "application/json", json.dumps(body).encode(), ""


def test_connect_to_reroutes_the_gateway_only_never_the_token_request(capsys, monkeypatch) -> None:
    gw_seen: list[bytes] = []
    idp_seen: list[bytes] = []

    def gateway(sock, request) -> None:
        gw_seen.append(request)
        behaviour, _ = _answering(_mcp_ok)
        behaviour(sock, request)

    def idp(sock, request) -> None:
        idp_seen.append(request)
        sock.sendall(hostile.respond("200 OK", "application/json",
                                     b'{"access_token": "tok-AAAA1111bbbb", "token_type": "Bearer"}'))

    monkeypatch.setenv("CS", "client-secret-XYZ123456")
    with hostile.serve(gateway) as gw_url, hostile.serve(idp) as idp_url:
        port = gw_url.split(":")[2].split("/")[0]
        code = main(["run", f"http://localhost:{port}/mcp", "--connect-to", f"127.0.0.1:{port}", "--no-iam",
                     "--retries", "0", "--oauth-token-url", idp_url.replace("/mcp", "/token"),
                     "--oauth-client-id", "c1", "--oauth-client-secret-env", "CS", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert idp_seen and b"POST /token" in idp_seen[0]
    assert not any(b"/token" in r or b"Basic " in r for r in gw_seen)  # the secret never went to the gateway


def test_plain_http_is_judged_on_the_address_really_connected(capsys, monkeypatch) -> None:
    monkeypatch.setenv("T", "abcdefgh1234")
    # localhost in the URL, but the connection goes elsewhere: refused before anything is sent.
    assert main(["run", "http://localhost:1/mcp", "--connect-to", "192.0.2.1:80", "--bearer-token-env", "T"]) == 2
    err = capsys.readouterr().err
    assert "plain http to 192.0.2.1 (through --connect-to 192.0.2.1:80): credentials need https" in err
    # A real-looking gateway host routed to this machine is a private channel.
    with hostile.serve(_answering(_mcp_ok)[0]) as url:
        port = url.split(":")[2].split("/")[0]
        code = main(["run", "http://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp", "--connect-to",
                     f"127.0.0.1:{port}", "--bearer-token-env", "T", "--no-iam"])
    assert code == 0


def test_dot_localhost_is_not_a_private_channel(capsys, monkeypatch) -> None:
    monkeypatch.setenv("T", "abcdefgh1234")
    assert main(["run", "http://foo.localhost:1/mcp", "--bearer-token-env", "T"]) == 2
    assert "credentials need https" in capsys.readouterr().err


def test_token_url_query_values_are_secrets_everywhere(capsys, monkeypatch, tmp_path) -> None:
    def idp(sock, request) -> None:
        sock.sendall(hostile.respond("400 Bad Request", "application/json",
                                     b'{"error": "invalid_client", "error_description": "bad key TOKENURLSECRET99"}'))

    monkeypatch.setenv("CS", "abcdefgh12345")
    with hostile.serve(idp) as url:
        main(["run", url, "--oauth-token-url", url.replace("/mcp", "/token?api_key=TOKENURLSECRET99"),
              "--oauth-client-id", "c", "--oauth-client-secret-env", "CS", "--no-iam", "-v", "--retries", "0",
              "--bundle", str(tmp_path / "b")])
    out, err = capsys.readouterr()
    assert "TOKENURLSECRET99" not in out + err
    files = [p for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert files and not any("TOKENURLSECRET99" in p.read_text(errors="replace") for p in files)


def test_the_diagnose_stage_is_bounded_by_max_run_time(capsys, monkeypatch) -> None:
    failed = {"isError": True, "content": [{"type": "text",
                                            "text": "InternalServerException - Policy evaluation failed"}]}

    def script(method, message, headers):
        if method in ("initialize", "notifications/initialized"):
            return _mcp_ok(method, message, headers)
        body = {"jsonrpc": "2.0", "id": message["id"], "result": failed}
        return "200 OK", "application/json", json.dumps(body).encode(), ""

    with hostile.serve(hostile.silent(30)) as aws, hostile.serve(_answering(script)[0]) as url:
        for service in ("BEDROCK_AGENTCORE_CONTROL", "IAM", "STS"):
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", aws.removesuffix("/mcp"))
        t0 = time.monotonic()
        code = main(["run", url, "--gateway-id", "gw-abc1234567", "--region", "us-east-1", "--max-run-time", "3",
                     "--timeout", "1", "--format", "json"])
        took = time.monotonic() - t0
    report = json.loads(capsys.readouterr().out)
    assert took < 6
    assert (code, report["outcome"]) == (21, "policy_internal_failure")
    assert any("cut at --max-run-time 3s" in line for line in report["notes"])


def test_an_interrupted_report_states_the_process_exit_code() -> None:
    with hostile.serve(hostile.silent(20)) as url:
        proc = subprocess.Popen([sys.executable, "-m", "probe", "run", url, "--format", "json", "--no-iam",
                                 "--expect", "ok", "--timeout", "15"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    report = json.loads(out)
    assert proc.returncode == 130 and report["exit_code"] == 130 and report["interrupted"] is True


@pytest.mark.parametrize(("argv", "message"), [
    (["--connect-to", "127.0.0.1:99999"], "a port from 1 to 65535"),
    (["--call", "T___a", "--args", '{"a": 1e999}'], "cannot be sent as JSON"),
    (["--oauth-discover"], "OAuth client credentials also need --oauth-client-id"),
    (["--zip"], "--zip needs --bundle DIR"),
    (["--junit", "/tmp/j.xml"], "--junit applies to scenario files"),
    (["--concurrency", "0"], "--concurrency applies to scenario files"),
    (["--telemetry-wait", "-5", "--bundle", "/tmp/b"], "--telemetry-wait must be between 0 and 3600"),
    (["--expect", ""], "is not an outcome"),
    (["--call", ""], "the tool to call needs a name"),
    (["--oauth-resource", "not a uri"], "--oauth-resource"),
])
def test_meaningless_or_impossible_options_are_one_line(capsys, argv, message) -> None:
    assert main(["run", "http://127.0.0.1:1/mcp", "--no-iam", *argv]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and err.count("\n") == 1 and message in err


U = "http://127.0.0.1:1/mcp"


@pytest.mark.parametrize(("build", "field"), [
    (lambda: Probe(U), "target"),
    (lambda: Target(U, auth={"bearer_token_env": "X"}), "auth"),
    (lambda: Target(U, gateway_id=5), "gateway_id"),
    (lambda: Target(U, region=5), "region"),
    (lambda: Target(U, connect_to="127.0.0.1:99999"), "connect_to"),
    (lambda: Probe(Target(U), call="T___a"), "call"),
    (lambda: Probe(Target(U), expect="ok"), "expect"),
    (lambda: Expect(outcomes=["bogus"]), "expect"),
    (lambda: Expect(tools_include="T___a"), "expect.tools_include"),
    (lambda: Expect(latency_fail_ms="x"), "expect.latency_fail_ms"),
    (lambda: Expect(policy_engine_mode="bad"), "expect.policy_engine_mode"),
    (lambda: AuthConfig(bearer_token_env=1), "auth.bearer_token_env"),
    (lambda: AuthConfig(sigv4="yes"), "auth.sigv4"),
    (lambda: Call("T___a", {"a": float("inf")}), "call.args"),
    (lambda: Probe(Target(U), max_run_time=10 ** 400), "max_run_time"),
    (lambda: Probe(Target(U), idempotent="no"), "idempotent"),
])
def test_api_misuse_is_a_spec_error_naming_the_field(build, field) -> None:
    with pytest.raises(SpecError) as e:
        build()
    assert e.value.field == field


def test_outcome_names_are_accepted_where_outcomes_are_expected() -> None:
    assert Expect(outcomes=["ok", "empty_tools"]).outcomes == Expect(outcomes="ok,empty_tools").outcomes


BASE = {"schema_version": 1, "outcome": "ok", "exit_code": 0, "url": "http://127.0.0.1/mcp", "tools": [],
        "steps": [{"method": "initialize", "outcome": "ok"}], "duration_ms": 1.0}


@pytest.mark.parametrize("patch", [
    {"steps": [{"method": "initialize", "outcome": "ok", "detail": "x"}]},
    {"duration_ms": 10 ** 400},
    {"outcome": "policy_internal_failure", "iam": [1]},
    {"outcome": "policy_internal_failure", "iam": {"verdict": "missing_permissions", "missing": [1, 2]}},
    {"steps": [{"method": "tools/list", "outcome": "ok", "detail": {"rule": ["x"]},
                "exchanges": [{"rpc_method": "tools/list", "rpc_id": 1, "url": "u", "http_method": "POST",
                               "request_headers": "x", "request_body": "", "status": 200, "headers": 5,
                               "body": "{}", "body_bytes": 2}]}]},
])
@pytest.mark.parametrize("flags", [[], ["-v"], ["--format", "json", "-v"]])
def test_replay_of_a_crafted_report_never_tracebacks(tmp_path, capsys, patch, flags) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**BASE, **patch}))
    code = main(["replay", str(path), *flags])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert (code == 2 and err.count("\n") == 1) or code in (0, 21)


def test_replay_escapes_the_saved_servers_text(tmp_path, capsys) -> None:
    with hostile.serve(_answering(_mcp_ok)[0]) as url:
        main(["run", url, "-v", "--format", "json", "--no-iam"])
    report = json.loads(capsys.readouterr().out)
    listing = report["steps"][1]["exchanges"][0]
    listing["body"] = json.dumps({"jsonrpc": "2.0", "id": listing["rpc_id"], "error": {
        "code": -32603, "message": "boom\x1b[2J\x1b[1;1HRESULT ok (exit 0)\u202e"}})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    main(["replay", str(path)])
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert "today's rules say server_error" in err


def test_a_refused_stream_resumption_is_named_as_such(capsys) -> None:
    def behaviour(sock, request) -> None:
        head, _, body = request.partition(b"\r\n\r\n")
        if head.startswith(b"GET"):
            sock.sendall(hostile.respond("405 Method Not Allowed", "text/plain", b"no GET here"))
            return
        message = json.loads(body or b"{}")
        if message.get("method") == "tools/list":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                         b"id: e1\nretry: 10\ndata: \n\n")
            return
        status, ctype, payload, extra = _mcp_ok(message.get("method", ""), message, {})
        sock.sendall(hostile.respond(status, ctype, payload, extra))

    with hostile.serve(behaviour) as url:
        code, out = main(["run", url, "--format", "json", "--no-iam", "--retries", "0"]), capsys.readouterr().out
    step = json.loads(out)["steps"][1]
    assert code == 61 and step["detail"]["rule"] == "sse_resumption"
    assert "GET with Last-Event-ID answered HTTP 405" in step["message"]
    assert "did not let the probe resume" in step["hint"]


def test_an_answer_with_both_result_and_error_is_a_protocol_error(capsys) -> None:
    def script(method, message, headers):
        if method == "tools/list":
            body = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": []},
                    "error": {"code": 1, "message": "x"}}
            return "200 OK", "application/json", json.dumps(body).encode(), ""
        return _mcp_ok(method, message, headers)

    with hostile.serve(_answering(script)[0]) as url:
        code = main(["run", url, "--format", "json", "--no-iam"])
    step = json.loads(capsys.readouterr().out)["steps"][1]
    assert (code, step["outcome"], step["attempts"]) == (61, "protocol_error", 1)
    assert "both a result and an error" in step["message"]
