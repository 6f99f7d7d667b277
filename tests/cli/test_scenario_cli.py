"""`validate` and `run -f`: exit codes, the summary table, JSON, JUnit, the step summary, --lab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from probe.cli import main

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = ROOT / "scenarios" / "incident.yaml"
URL = "https://gw-1.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp"


def test_validate_exit_codes_and_one_line_errors(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\ngateways: {g: {url: '${GW_URL}'}}\nprobes: [{name: p}]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n    expect: okk\n"
                   "    timout: 3\n")
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out == "1 scenario file(s) valid\n"
    assert main(["validate", str(good), str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{bad}:5: probe 'p': expect: 'okk' is not an outcome")
    assert err[1].startswith(f"{bad}:6: unknown key 'timout' in probe 'p' (did you mean 'timeout'?)")
    assert err[2] == "agentcore-probe: 2 problem(s) in 2 file(s)"
    assert main(["validate", "--env", str(good)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{good}:2: ${{GW_URL}} is not set: export GW_URL before running (the file reads it from the environment)")


def test_a_missing_variable_at_run_time_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GW_URL", raising=False)
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\ngateways:\n  g:\n    url: ${GW_URL}\nprobes: [{name: p}]\n")
    assert main(["run", "-f", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"agentcore-probe: error: {path}:4: ${{GW_URL}} is not set: export GW_URL before "
                            "running (the file reads it from the environment)\n")


def test_usage_errors(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: p}}]\n")
    assert main(["run", URL, "-f", str(path)]) == 2
    assert capsys.readouterr().err == ("agentcore-probe: error: give a URL or -f FILE, not both: a scenario file "
                                       "names its gateways\n")
    assert main(["run", "-f", str(path), URL]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "give the gateway's URL, or -f FILE" in capsys.readouterr().err
    assert main(["run", "-f", str(path), "--expect", "ok"]) == 2
    assert "--expect applies to a URL" in capsys.readouterr().err
    assert main(["run", "-f", str(path), "--only", "nope"]) == 2
    assert capsys.readouterr().err == ("agentcore-probe: error: --only 'nope': no such probe (the files define: p)\n")


def test_the_incident_against_the_lab(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    junit = tmp_path / "junit.xml"
    code = main(["run", "-f", str(INCIDENT), "--lab", "--format", "json", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["passed"] is True and report["exit_code"] == 0
    by = {p["name"]: p for p in report["probes"]}
    assert by["incident-policy-evaluation-fails"]["outcome"] == "policy_internal_failure"
    assert by["incident-policy-evaluation-fails"]["result"]["iam"]["verdict"] == "missing_permissions"
    assert by["fixed-small-refund-permitted"]["outcome"] == "ok"
    assert by["fixed-large-refund-denied"]["outcome"] == "policy_denied"
    assert by["fixed-auth-enforced"]["outcome"] == "auth_failed"
    assert all(p["expectation_met"] for p in report["probes"])
    assert all(p["result"]["gateway"] in ("incident", "fixed") for p in report["probes"])
    from junitparser import JUnitXml

    suite = next(iter(JUnitXml.fromfile(str(junit))))
    assert (suite.tests, suite.failures, suite.errors) == (5, 0, 0)
    assert {c.classname for c in suite} == {"incident"}
    text = summary.read_text()
    assert text.startswith("earlier step\n### agentcore-probe scenario: passed")
    assert "5 of 5 expectations met." in text
    assert "secret" not in out.lower().replace("client_secret_env", "")


def test_an_expectation_not_met_exits_1_with_the_table(tmp_path, capsys):
    path = tmp_path / "wrong.yaml"
    shutil.copy(INCIDENT, path)
    text = path.read_text().replace("expect: policy_internal_failure", "expect: ok")
    path.write_text(text)
    code = main(["run", "-f", str(path), "--lab", "--only", "incident-policy-evaluation-fails",
                 "--only", "fixed-auth-enforced"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PROBE "))
    assert lines[header].split() == ["PROBE", "OUTCOME", "EXPECTED", "MET", "DURATION"]
    assert lines[header + 1].split()[:4] == ["incident-policy-evaluation-fails", "policy_internal_failure", "ok",
                                             "+1"]
    assert " NO " in lines[header + 1]
    assert lines[header + 2].split()[:4] == ["fixed-auth-enforced", "auth_failed", "auth_failed", "yes"]
    assert lines[-1] == "FAILED: 1 of 2 expectations met"
    # the failed probe's evidence is printed above the table: the gateway's words and the IAM check
    assert "Policy evaluation failed" in out
    assert "expectation NOT met: expected ok, got policy_internal_failure" in out
