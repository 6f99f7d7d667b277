"""`agentcore-probe run` edges an operator meets: bounds, interrupts, durations, arguments, hints, usage.

Real servers on loopback (raw-socket scripts from tests/hostile/servers.py, the latency
server) and the real command line, in-process or as a subprocess where signals matter.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probe.cli import main
from probe.report.style import use_color
from tests.hostile import servers
from tests.support.latency_server import LatencyServer

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(["run", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


def tools_list(message: dict, names: list[str]) -> servers.Answer:
    body = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": n, "inputSchema": {}} for n in names]}}
    return "200 OK", "application/json", json.dumps(body).encode(), ""


def script(call_answer: servers.Answer | None = None, notification: servers.Answer | None = None) -> servers.Script:
    def answer(method: str, message: dict, headers: dict[str, str]) -> servers.Answer:
        if method == "initialize":
            return servers.initialize_ok(message, "s-1")
        if method == "notifications/initialized":
            return notification or ("202 Accepted", "application/json", b"", "")
        if method == "tools/list":
            return tools_list(message, ["T___echo"])
        assert call_answer is not None
        return call_answer

    return answer


# -- bounds and interrupts ----------------------------------------------------------------------


def test_max_run_time_cuts_the_run_and_names_the_step(capsys) -> None:
    def slow_list(sock, request) -> None:
        message = json.loads(request.partition(b"\r\n\r\n")[2] or b"{}")
        if message.get("method") == "tools/list":
            time.sleep(8)  # each request is within --timeout; the run as a whole is not
        status, ctype, payload, extra = script()(message.get("method", ""), message, {})
        sock.sendall(servers.respond(status, ctype, payload, extra))

    with servers.serve(slow_list) as url:
        t0 = time.monotonic()
        code, report, _ = run(capsys, url, "--call", "T___echo", "--max-run-time", "1.5", "--timeout", "10")
        elapsed = time.monotonic() - t0
    assert (code, report["outcome"]) == (62, "transport_error")
    cut = report["steps"][-1]
    assert "exceeded --max-run-time 1.5s during tools/list" in cut["message"]
    assert "Raise --max-run-time" in cut["hint"]
    assert [s["method"] for s in report["steps"]] == ["initialize", "tools/list"]
    assert "interrupted" not in report
    assert elapsed < 6  # cut at the bound, not after the slow answer


def test_ctrl_c_prints_the_partial_json_report_and_exits_130() -> None:
    with LatencyServer(latency_s=3.0) as url:
        proc = subprocess.Popen([sys.executable, "-m", "probe", "run", url, "--format", "json", "--timeout", "20"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # inside the initialize request
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    report = json.loads(out)
    assert report["interrupted"] is True
    assert report["steps"][-1]["method"] == "initialize"
    assert "interrupted during initialize" in report["steps"][-1]["message"]


def test_sigterm_text_report_says_interrupted() -> None:
    with LatencyServer(latency_s=3.0) as url:
        proc = subprocess.Popen([sys.executable, "-m", "probe", "run", url, "--timeout", "20"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "(interrupted)" in out and "RESULT transport_error" in out


def test_duration_counts_backoff_and_wire_time_apart(capsys) -> None:
    attempts: list[float] = []

    def throttled(method: str, message: dict, headers: dict[str, str]) -> servers.Answer:
        if method == "initialize":
            attempts.append(time.monotonic())
            if len(attempts) < 3:
                return "429 Too Many Requests", "application/json", b'{"message": "slow down"}', "Retry-After: 0.4\r\n"
        return script()(method, message, headers)

    with servers.serve(servers.mcp(throttled, [])) as url:
        code, report, _ = run(capsys, url, "--retries", "2")
    init = report["steps"][0]
    assert (code, init["attempts"]) == (0, 3)
    assert init["duration_ms"] >= 800 > init["wire_ms"]  # two waits of 0.4 s, short requests
    assert init["elapsed_ms"] == init["duration_ms"]


# -- the handshake's notification -----------------------------------------------------------------


def test_initialized_answered_with_a_held_open_stream_does_not_stall_the_handshake(capsys) -> None:
    held = ("200 OK", "text/event-stream", b": keep-alive\n\n" + b":\n" * 10, "")

    def behaviour(sock, request) -> None:
        _, _, body = request.partition(b"\r\n\r\n")
        message = json.loads(body or b"{}")
        if message.get("method") == "notifications/initialized":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n: open\n\n")
            time.sleep(5)  # the stream stays open: nothing in it is for the probe
            return
        status, ctype, payload, extra = script(notification=held)(message.get("method", ""), message, {})
        sock.sendall(servers.respond(status, ctype, payload, extra))

    with servers.serve(behaviour) as url:
        t0 = time.monotonic()
        code, report, _ = run(capsys, url, "--timeout", "3")
    assert (code, report["outcome"]) == (0, "ok")
    assert time.monotonic() - t0 < 2.5


# -- tools/call that may have reached the tool ---------------------------------------------------


def test_a_failed_call_is_not_repeated_and_says_why(capsys) -> None:
    log: list[tuple[str, dict[str, str]]] = []
    boom = ("500 Internal Server Error", "application/json",
            b'{"jsonrpc": "2.0", "id": 3, "error": {"code": -32603, "message": "boom"}}', "")
    with servers.serve(servers.mcp(script(boom), log)) as url:
        code, report, _ = run(capsys, url, "--call", "T___echo", "--retries", "2")
        assert [m for m, _ in log].count("tools/call") == 1
        call = report["steps"][-1]
        assert (code, call["outcome"], call["attempts"]) == (60, "server_error", 1)
        assert "not repeated" in call["hint"] and "--idempotent" in call["hint"]
        code, report, _ = run(capsys, url, "--call", "T___echo", "--retries", "1", "--idempotent",
                              "--max-retry-time", "60")
    assert report["steps"][-1]["attempts"] == 2


# -- arguments -----------------------------------------------------------------------------------


def test_args_file_without_at_sign_suggests_it(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("args.json").write_text('{"a": 1}')
    assert main(["run", "http://127.0.0.1:9/mcp", "--call", "T___x", "--args", "args.json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--args is not valid JSON" in err and "write @args.json" in err


def test_args_from_stdin_and_with_a_bom(capsys, tmp_path) -> None:
    log: list[tuple[str, dict[str, str]]] = []
    seen: list[dict] = []

    def echo(method: str, message: dict, headers: dict[str, str]) -> servers.Answer:
        if method == "tools/call":
            seen.append(message["params"]["arguments"])
            body = {"jsonrpc": "2.0", "id": message["id"], "result": {"content": [{"type": "text", "text": "ok"}]}}
            return "200 OK", "application/json", json.dumps(body).encode(), ""
        return script()(method, message, headers)

    bom = tmp_path / "bom.json"
    bom.write_bytes("\ufeff".encode() + b'{"city": "Troms\xc3\xb8"}')
    with servers.serve(servers.mcp(echo, log)) as url:
        proc = subprocess.run([sys.executable, "-m", "probe", "run", url, "--call", "T___echo", "--args", "@-",
                               "--format", "json"], cwd=REPO, input='{"from": "stdin"}', capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        code, _, _ = run(capsys, url, "--call", "T___echo", "--args", f"@{bom}")
    assert code == 0
    assert seen == [{"from": "stdin"}, {"city": "Tromsø"}]


# -- one validation, one colour rule ------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["--region", "us-east1"], "--region 'us-east1' is not an AWS region name"),
    (["--expect", "probe_error"], "probe_error cannot be expected"),
    (["--expect", "ok,sideways"], "'sideways' is not an outcome"),
    (["--max-run-time", "0"], "--max-run-time must be a finite number greater than 0"),
    (["--connect-to", "nowhere"], "must be HOST:PORT"),
])
def test_usage_errors_are_one_line(capsys, argv, message) -> None:
    assert main(["run", "http://127.0.0.1:9/mcp", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({}, False, True),
    ({"NO_COLOR": "1"}, False, False),
    ({"NO_COLOR": ""}, False, True),  # set but empty: the convention is "set and non-empty"
    ({"TERM": "dumb"}, False, False),
    ({}, True, False),
])
def test_one_colour_rule(monkeypatch, env, flag, expected) -> None:
    for name in ("NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert use_color(Tty(), no_color=flag) is expected
    assert use_color(io.StringIO()) is False  # never in a pipe


def test_expectations_say_which_exit_applies(capsys) -> None:
    with LatencyServer(latency_s=0) as url:
        assert main(["run", url, "--expect", "empty_tools,ok"]) == 0
        out = capsys.readouterr().out
        assert "RESULT ok:" in out and "(exit 0)" in out.splitlines()[-1]
        assert "expectation met: expected empty_tools, ok, got ok (exit 0)" in out
        assert main(["run", url, "--expect", "policy_denied"]) == 1
        out = capsys.readouterr().out
        assert "expectation NOT met: expected policy_denied, got ok (exit 1)" in out
        assert "RESULT ok (exit" not in out  # the outcome's own code does not apply here


def test_connect_to_sends_a_real_looking_url_to_another_address(capsys) -> None:
    log: list[tuple[str, dict[str, str]]] = []
    with servers.serve(servers.mcp(script(), log)) as url:
        port = url.split(":")[2].split("/")[0]
        real = "http://gw-abc123.gateway.example.internal/mcp"
        code, report, _ = run(capsys, real, "--connect-to", f"127.0.0.1:{port}")
    assert (code, report["url"]) == (0, real)
    assert {h["host"] for _, h in log} == {"gw-abc123.gateway.example.internal"}


def test_environment_is_not_needed_for_help() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "probe", "run", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "--max-run-time" in proc.stdout
    imported = proc.stderr
    for heavy in ("httpx2", "boto3", "mcp.", "cedarpy", "probe.lab"):
        assert f" {heavy}" not in imported, heavy


def test_initialized_is_retried_on_a_connection_the_server_just_closed(capsys) -> None:
    """A server that closes a kept-alive connection after each answer, without saying so: the
    notification goes out on the dead connection, fails before it was read, and is sent again."""
    import socket
    import threading

    seen: list[str] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                request = servers.read_request(conn)
                message = json.loads(request.partition(b"\r\n\r\n")[2] or b"{}")
                seen.append(message.get("method", ""))
                status, ctype, payload, extra = script()(message.get("method", ""), message, {})
                # No "Connection: close": the client keeps the connection for its next request.
                conn.sendall(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                             f"{extra}\r\n".encode() + payload)
                time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        code, report, _ = run(capsys, f"http://127.0.0.1:{port}/mcp", "--retries", "2", "-v")
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert (code, report["outcome"]) == (0, "ok"), report
    assert seen.count("notifications/initialized") == 1  # delivered once
    sends = [e for e in report["steps"][0]["exchanges"] if e["rpc_method"] == "notifications/initialized"]
    assert [e["status"] for e in sends] == [None, 202]  # the first send found the connection closed
    assert sends[0]["error"] in ("remote_protocol", "connection_lost") and sends[1]["attempt"] == 2


def test_ctrl_c_before_the_run_started_still_prints_json(capsys, monkeypatch) -> None:
    """Ctrl-C while the command is still importing its modules: no traceback, a report, exit 130."""
    import probe.cli.run

    def interrupted(ns):
        raise KeyboardInterrupt

    monkeypatch.setattr(probe.cli.run, "main", interrupted)
    assert main(["run", "http://127.0.0.1:1/mcp?api_key=abcdef123", "--format", "json"]) == 130
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["interrupted"], report["exit_code"], report["outcome"]) == (True, 130, "transport_error")
    assert "abcdef123" not in out and err == "agentcore-probe: interrupted\n"


def test_a_run_cut_in_the_middle_of_the_page_walk_keeps_the_pages_it_read(capsys) -> None:
    pages: list[int] = []

    def paging(sock, request) -> None:
        message = json.loads(request.partition(b"\r\n\r\n")[2] or b"{}")
        if message.get("method") == "tools/list":
            pages.append(1)
            if len(pages) > 1:
                time.sleep(8)  # the second page never comes in time
            body = {"jsonrpc": "2.0", "id": message["id"],
                    "result": {"tools": [{"name": "T___first", "inputSchema": {}}], "nextCursor": "p2"}}
            sock.sendall(servers.respond("200 OK", "application/json", json.dumps(body).encode()))
            return
        status, ctype, payload, extra = script()(message.get("method", ""), message, {})
        sock.sendall(servers.respond(status, ctype, payload, extra))

    with servers.serve(paging) as url:
        code, report, _ = run(capsys, url, "--max-run-time", "1.5", "--timeout", "10", "--no-iam")
    assert (code, report["outcome"]) == (62, "transport_error")
    assert report["tools"] == ["T___first"] and report["tools_partial"] is True
