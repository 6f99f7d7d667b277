"""Reports that round-trip: written by real runs against the lab, validated by the schema, read back, replayed.

For each outcome the lab can produce, `run -v --format json` writes a report; the report
validates against probe/report/schema.json (jsonschema), `RunResult.from_dict` gives back
a result equal to the one the engine returned, and `replay` of the file prints the same
outcome and exits with the same code.
"""

from __future__ import annotations

import asyncio
import json
import socket
from importlib import resources
from typing import Any

import jsonschema
import pytest

from probe.cli import main
from probe.engine import run_probe
from probe.outcome import RunResult
from probe.spec import Call, Expect, Probe, Target

PERMIT = """permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
       resource == AgentCore::Gateway::"{arn}") when {{ context.input.order_id == "o-1" }};"""


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(resources.files("probe.report").joinpath("schema.json").read_text())


@pytest.fixture(scope="module")
def gateways(lab) -> dict[str, Any]:
    c = lab.console
    g: dict[str, Any] = {"plain": c.create_gateway("plain")}
    c.set_faults(g["plain"].gateway_id, failing_tools={"WeatherTarget___get_forecast"})
    g["throttled"] = c.create_gateway("throttled")
    c.set_faults(g["throttled"].gateway_id, throttle=True, throttle_retry_after_s=0.05)
    engine = c.create_policy_engine("rt")
    g["enforced"] = c.create_gateway("enforced", policy_engine_id=engine.engine_id, mode="ENFORCE")
    c.add_policy(engine.engine_id, "order_one", PERMIT.format(arn=g["enforced"].arn))
    g["denyall"] = c.create_gateway("denyall", policy_engine_id=c.create_policy_engine("none").engine_id,
                                    mode="ENFORCE")
    g["incident"] = c.create_gateway("incident")
    c.attach_engine_from_policy_side(g["incident"].gateway_id, engine.engine_id, "ENFORCE")
    g["jwt"] = c.create_gateway("jwt", authorizer_type="CUSTOM_JWT")
    return g


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cases(lab, g) -> dict[str, list[str]]:
    url = lambda name: lab.gateway_url(g[name].gateway_id)  # noqa: E731
    where = lambda name: [url(name), "--gateway-id", g[name].gateway_id, "--region", lab.region]  # noqa: E731
    refund = ["--call", "RefundTarget___process_refund", "--args"]
    return {
        "ok": [*where("plain"), "--call", "RefundTarget___get_order", "--args", '{"order_id": "o-1"}'],
        "tool_missing": [url("plain"), "--call", "RefundTarget___nope"],
        "tool_error": [url("plain"), "--call", "WeatherTarget___get_forecast", "--args", '{"city": "Oslo"}'],
        "throttled": [url("throttled")],
        "policy_denied": [*where("enforced"), *refund, '{"order_id": "o-2", "amount": 5}'],
        "empty_tools": where("denyall"),
        "policy_internal_failure": where("incident"),
        "auth_failed": [url("jwt")],
        "protocol_error": [lab.gateway_url("nosuchgateway-0000000000")],
        "transport_error": [f"http://127.0.0.1:{_closed_port()}/mcp"],
    }


@pytest.mark.parametrize("expected", ["ok", "tool_missing", "tool_error", "throttled", "policy_denied", "empty_tools",
                                      "policy_internal_failure", "auth_failed", "protocol_error", "transport_error"])
def test_report_validates_reads_back_and_replays(lab, gateways, lab_env, schema, capsys, tmp_path, expected) -> None:
    argv = _cases(lab, gateways)[expected]
    code = main(["run", *argv, "-v", "--format", "json", "--retries", "0", "--timeout", "5"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    report = json.loads(out)
    assert (report["outcome"], report["exit_code"], code) == (expected, code, code)
    jsonschema.validate(report, schema)

    # Read back: equal to a result rebuilt from the same report, and the same report again.
    result = RunResult.from_dict(report)
    assert result.outcome.value == expected and result.exit_code == code
    assert result.to_dict(verbose=True) == report
    assert RunResult.from_dict(result.to_dict(verbose=True)) == result
    assert sum(len(s.exchanges) for s in result.steps) == len(report["transcript"]) > 0

    # Replay the file: today's classifier judges the recorded exchanges the same way.
    path = tmp_path / "report.json"
    path.write_text(out)
    assert main(["replay", str(path), "--format", "json"]) == code
    replayed_out, replayed_err = capsys.readouterr()
    assert "replay:" not in replayed_err  # no verdict changed
    replayed = json.loads(replayed_out)
    assert (replayed["outcome"], replayed["exit_code"]) == (expected, code)
    assert [s["outcome"] for s in replayed["steps"]] == [s["outcome"] for s in report["steps"]]
    assert main(["replay", str(path)]) == code
    text = capsys.readouterr().out
    assert f"RESULT {expected}" in text


def test_engine_result_equals_its_report(lab, gateways, lab_env) -> None:
    """The typed result the engine returns is what its JSON report reads back as."""
    target = Target(lab.gateway_url(gateways["incident"].gateway_id), gateway_id=gateways["incident"].gateway_id,
                    region=lab.region)
    result = asyncio.run(run_probe(Probe(target, expect=Expect(outcomes=(RunResult.from_dict(
        {"url": "x", "outcome": "policy_internal_failure"}).outcome,)))))
    assert result.outcome.value == "policy_internal_failure" and result.exit_code == 0
    assert result.iam is not None and len(result.iam["missing"]) == 5
    again = RunResult.from_dict(json.loads(json.dumps(result.to_dict(verbose=True))))
    assert again == result


def test_replay_says_when_todays_rules_judge_differently(lab, gateways, capsys, tmp_path) -> None:
    main(["run", lab.gateway_url(gateways["plain"].gateway_id), "-v", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    report["steps"][1]["outcome"] = "server_error"  # as if an older classifier had judged the list so
    report["outcome"] = "server_error"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(report))
    assert main(["replay", str(path), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert "step 2 (tools/list): saved as server_error, today's rules say ok" in err
    assert "the run's outcome: saved as server_error, today ok" in err
    assert json.loads(out)["outcome"] == "ok"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ('{"a": 1}', "not an agentcore-probe report"),
    ('{"url": "x", "outcome": "sideways"}', "not a report this probe can read"),
    ('{"url": "x", "outcome": "ok", "schema_version": 99}', "newer than this probe reads"),
])
def test_replay_of_a_bad_file_is_one_line(tmp_path, capsys, content, message) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    assert main(["replay", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err and "Traceback" not in err
    assert main(["replay", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_python_api_is_the_small_public_surface(lab, gateways) -> None:
    import probe

    assert set(probe.__all__) == {"Probe", "Target", "run_probe", "run_many", "RunResult", "Outcome"}
    target = probe.Target(lab.gateway_url(gateways["plain"].gateway_id))
    results = asyncio.run(probe.run_many([probe.Probe(target), probe.Probe(target, Call("RefundTarget___nope"))]))
    assert [r.outcome for r in results] == [probe.Outcome.OK, probe.Outcome.TOOL_MISSING]


def test_server_error_and_probe_error_reports_round_trip(schema, capsys, tmp_path) -> None:
    from tests.hostile import servers as hostile

    body = b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "internal"}}'
    with hostile.serve(hostile.fixed("500 Internal Server Error", "application/json", body)) as url:
        code = main(["run", url, "-v", "--format", "json", "--retries", "0", "--no-iam"])
    out = capsys.readouterr().out
    assert code == 60
    code_usage = main(["run", "http://127.0.0.1:1/mcp", "--timeout", "0", "--format", "json"])
    usage_out = capsys.readouterr().out
    assert code_usage == 2
    for text, expected, exit_code in ((out, "server_error", 60), (usage_out, "probe_error", 2)):
        report = json.loads(text)
        jsonschema.validate(report, schema)
        result = RunResult.from_dict(report)
        assert (result.outcome.value, result.exit_code) == (expected, exit_code)
        assert RunResult.from_dict(result.to_dict(verbose=True)) == result
        path = tmp_path / f"{expected}.json"
        path.write_text(text)
        assert main(["replay", str(path), "--format", "json"]) == exit_code
        assert json.loads(capsys.readouterr().out)["outcome"] == expected
