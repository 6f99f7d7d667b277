"""Hostile servers: each misbehaviour is a defined outcome, with no traceback, within the time bounds."""

from __future__ import annotations

import json
import time

import pytest

from probe.cli import main
from tests import hostile


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
    assert "read_timeout" in report["steps"][0]["message"]
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
        (["run", "http://127.0.0.1:1/mcp", "--call", "A___b", "--args", "@/nonexistent/args.json"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_probe_error(capsys, monkeypatch, argv, fragment) -> None:
    monkeypatch.delenv("PROBE_TEST_UNSET_VARIABLE", raising=False)
    code = main([*argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert json.loads(out)["outcome"] == "probe_error"


def test_unknown_option_is_one_line_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "http://x/mcp", "--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-such-flag" in err
