"""A bundle of the lab's incident: what it holds, that it replays to the same report, its SUMMARY.md."""

from __future__ import annotations

import json
import zipfile

import pytest

from probe.cli import main

FILES = {"bundle.json", "report.json", "outcome.json", "control_plane.json", "iam.json", "telemetry.json", "ids.json",
         "timeline.json", "environment.json", "unavailable.json", "SUMMARY.md"}


@pytest.fixture(scope="module")
def incident(lab):
    c = lab.console
    engine = c.create_policy_engine("refunds")
    c.add_policy(engine.engine_id, "small_refunds", 'permit(principal, action, resource) when { false };')
    gw = c.create_gateway("incident")
    c.attach_engine_from_policy_side(gw.gateway_id, engine.engine_id, "ENFORCE")
    return gw, lab.state.gateway(gw.gateway_id).policy_engine_arn


@pytest.fixture
def bundled(lab, incident, aws_to_lab, tmp_path, capsys):
    gw, engine_arn = incident
    out = tmp_path / "case"
    argv = ["run", lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id, "--region", lab.region,
            "--no-color", "--bundle", str(out), "--zip", "--telemetry-wait", "0"]
    code = main(argv)
    printed = capsys.readouterr()
    return {"code": code, "out": out, "stdout": printed.out, "stderr": printed.err, "gw": gw, "engine": engine_arn}


def five_pairs(gw, engine: str) -> set[tuple[str, str]]:
    return {("bedrock-agentcore:AuthorizeAction", gw.arn), ("bedrock-agentcore:AuthorizeAction", engine),
            ("bedrock-agentcore:PartiallyAuthorizeActions", gw.arn),
            ("bedrock-agentcore:PartiallyAuthorizeActions", engine), ("bedrock-agentcore:GetPolicyEngine", engine)}


def test_bundle_holds_the_whole_case(lab, bundled) -> None:
    out, gw = bundled["out"], bundled["gw"]
    assert bundled["code"] == 21
    assert f"support bundle written to {out}.zip" in bundled["stderr"]
    assert {p.name for p in out.iterdir()} == FILES
    with zipfile.ZipFile(f"{out}.zip") as z:
        assert {n.split("/", 1)[1] for n in z.namelist()} == FILES
    outcome = json.loads((out / "outcome.json").read_text())[0]
    assert (outcome["outcome"], outcome["rule"], outcome["step"]) == ("policy_internal_failure", "policy_words",
                                                                        "tools/list")
    assert "Policy evaluation failed" in outcome["evidence"]["message"]
    assert outcome["evidence"]["request_id"] and outcome["evidence"]["trace_id"].startswith("Root=1-")
    control = json.loads((out / "control_plane.json").read_text())[f"{gw.gateway_id}@{lab.region}"]
    assert control["gateway"]["policyEngineConfiguration"] == {"arn": bundled["engine"], "mode": "ENFORCE"}
    assert control["gateway"]["roleArn"] and control["gateway"]["authorizerType"] == "NONE"
    assert {t["name"] for t in control["targets"]} >= {"RefundTarget"}
    policies = control["policy_engine"]["policies"]
    assert [p["definition"]["cedar"]["statement"] for p in policies] == [
        "permit(principal, action, resource) when { false };"]
    iam = json.loads((out / "iam.json").read_text())[0]
    assert iam["source"] == "run"
    assert {(m["action"], m["resource"]) for m in iam["check"]["missing"]} == five_pairs(gw, bundled["engine"])
    ids = json.loads((out / "ids.json").read_text())
    assert any(i["step"] == "tools/list" and i["request_id"] and i["trace_id"] for i in ids["gateway"])
    assert {i["call"] for i in ids["control_plane"]} >= {"GetGateway", "GetPolicyEngine", "ListPolicies"}
    env = json.loads((out / "environment.json").read_text())
    assert env["dependencies"]["boto3"] and env["probe_version"] and env["platform"]
    timeline = json.loads((out / "timeline.json").read_text())[0]
    assert [s["method"] for s in timeline["steps"]] == ["initialize", "tools/list"]
    assert all(s["duration_ms"] > 0 for s in timeline["steps"])
    telemetry = json.loads((out / "telemetry.json").read_text())[0]
    assert telemetry["spans"]["status"] == "no_log_group"  # the lab's moto has no aws/spans group
    unavailable = json.loads((out / "unavailable.json").read_text())
    assert any("telemetry spans" in u["what"] and "log group does not exist" in u["why"] for u in unavailable)


def test_summary_names_the_five_pairs_and_the_fix(lab, bundled) -> None:
    gw = bundled["gw"]
    summary = (bundled["out"] / "SUMMARY.md").read_text()
    assert "Outcome: policy_internal_failure (exit 21)" in summary
    assert "classifier rule `policy_words`" in summary
    for action, resource in five_pairs(gw, bundled["engine"]):
        assert f"| `{action}` | `{resource}` |" in summary
    assert f"agentcore-probe iam fix --gateway-id {gw.gateway_id} --region {lab.region} --apply" in summary
    assert "aws iam put-role-policy --role-name AgentCoreGatewayRole-incident" in summary
    assert "## Not captured" in summary


@pytest.mark.parametrize("form", ["dir", "zip"])
def test_bundle_replays_to_the_same_outcome_and_report(bundled, capsys, form) -> None:
    source = str(bundled["out"]) + (".zip" if form == "zip" else "")
    code = main(["replay", source, "--no-color"])
    replayed = capsys.readouterr()
    assert code == 21
    assert replayed.out == bundled["stdout"]
    assert "replay:" not in replayed.err
    assert main(["replay", source, "--format", "json"]) == 21
    assert json.loads(capsys.readouterr().out)["outcome"] == "policy_internal_failure"


def test_unwritable_bundle_directory_is_one_line_exit_2(lab, incident, aws_to_lab, tmp_path, capsys) -> None:
    gw, _ = incident
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["run", lab.gateway_url(gw.gateway_id), "--no-iam", "--bundle", str(blocker / "case")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"agentcore-probe: error: cannot write the bundle to {blocker / 'case'}:" in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if "error" in line]) == 1


def test_not_a_bundle_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["replay", str(tmp_path / "empty")]) == 2
    assert "no report.json" in capsys.readouterr().err
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("../../etc/report.json", "{}")
    assert main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
    assert "no report.json" in capsys.readouterr().err
