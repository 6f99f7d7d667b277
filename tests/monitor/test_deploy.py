"""deploy/: the CloudFormation template passes cfn-lint and says what the issue asks; the Dockerfile is sane.

cfn-lint runs through its Python API over the whole template (every rule, every region's
resource specification it ships). The template is also read as data to check the choices
the linter cannot judge: the runtime and handler, the schedule, least privilege (every
action of the README's read-only probe policy, and nothing that writes), the alarm.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

from probe.monitor.emf import DEFAULT_NAMESPACE
from tests.monitor.test_lambda import _CfnLoader

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def role_statements(template: dict) -> list[dict]:
    (policy,) = template["Resources"]["ProbeRole"]["Properties"]["Policies"]
    out = []
    for s in policy["PolicyDocument"]["Statement"]:
        if "Fn::If" in s:  # a conditional statement: the one used when the condition holds
            s = s["Fn::If"][1]
        out.append(s)
    return out


def actions(statement: dict) -> set[str]:
    a = statement["Action"]
    return {a} if isinstance(a, str) else set(a)


def test_cfn_lint_finds_nothing():
    from cfnlint.api import lint_file

    matches = lint_file(TEMPLATE)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    from cfnlint.api import lint_file

    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.12", "Runtime: python2.1"))
    assert any(m.rule.id.startswith("E") for m in lint_file(broken))


def test_the_function_runs_the_handler_on_python_3_12(template):
    props = template["Resources"]["ProbeFunction"]["Properties"]
    assert props["Runtime"] == "python3.12"
    module, func = props["Handler"].rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), func))
    assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert props["Environment"]["Variables"]["AGENTCORE_PROBE_NAMESPACE"] == {"Ref": "MetricNamespace"}
    assert template["Parameters"]["MetricNamespace"]["Default"] == DEFAULT_NAMESPACE


def test_the_schedule(template):
    props = template["Resources"]["Schedule"]["Properties"]
    assert props["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert re.fullmatch(template["Parameters"]["ScheduleExpression"]["AllowedPattern"], "rate(5 minutes)")
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": "ProbeFunction.Arn"}
    assert props["Target"]["RoleArn"] == {"Fn::GetAtt": "SchedulerRole.Arn"}
    sched_role = template["Resources"]["SchedulerRole"]["Properties"]
    assert sched_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (stmt,) = sched_role["Policies"][0]["PolicyDocument"]["Statement"]
    assert actions(stmt) == {"lambda:InvokeFunction"}


def test_the_log_group_has_a_retention(template):
    props = template["Resources"]["LogGroup"]["Properties"]
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert props["LogGroupName"] == {"Fn::Sub": ["/aws/lambda/${FunctionName}", {}]}


def readme_probe_actions() -> set[str]:
    """The actions of the README's read-only probe policy (section "The probe's own IAM permissions")."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### The probe's own IAM permissions", 1)[1]
    block = section.split("```json", 1)[1].split("```", 1)[0]
    return {a for s in json.loads(block)["Statement"] for a in s["Action"]}


def test_the_probe_role_is_the_readmes_read_only_policy_plus_invoke(template):
    statements = role_statements(template)
    granted = set().union(*(actions(s) for s in statements))
    assert readme_probe_actions() <= granted
    extra = granted - readme_probe_actions()
    assert extra == {"bedrock-agentcore:ListGateways", "bedrock-agentcore:InvokeGateway", "ssm:GetParameter",
                     "s3:GetObject", "logs:CreateLogStream", "logs:PutLogEvents"}
    writes = {a for a in granted if re.match(r"[a-z-]+:(Put|Create|Delete|Update|Attach|Detach|Tag|Untag)", a)}
    assert writes == {"logs:CreateLogStream", "logs:PutLogEvents"}  # its own log lines, nothing else
    assert all(s["Effect"] == "Allow" for s in statements)
    star = [s for s in statements if s["Resource"] == "*"]
    assert [actions(s) for s in star] == [{"bedrock-agentcore:ListGateways"}]  # a list action has no resource ARN


def test_one_alarm_on_the_success_metric(template):
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    (alarm,) = alarms
    p = alarm["Properties"]
    assert (p["MetricName"], p["Namespace"], p["Statistic"]) == ("Success", {"Ref": "MetricNamespace"}, "Average")
    assert [d["Name"] for d in p["Dimensions"]] == ["gateway", "probe"]  # the EMF dimension set
    assert (p["Threshold"], p["ComparisonOperator"], p["TreatMissingData"]) == (1, "LessThanThreshold", "breaching")
    assert p["EvaluationPeriods"] == {"Ref": "AlarmEvaluationPeriods"}


def test_the_dockerfile_serves_as_a_non_root_user():
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "FROM python:3.12-slim"
    assert 'RUN pip install ".[monitor]" && rm -rf /src' in lines
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0")
    assert "EXPOSE 9810" in lines
    cmd = json.loads(next(ln for ln in lines if ln.startswith("CMD "))[4:])
    entry = json.loads(next(ln for ln in lines if ln.startswith("ENTRYPOINT "))[11:])
    assert entry == ["agentcore-probe"] and cmd[:3] == ["serve", "-f", "/scenarios/monitoring.yaml"]
    from probe.cli import build_parser

    ns = build_parser().parse_args(cmd)  # the CMD is a valid `serve` command line
    assert (ns.command, ns.port, ns.listen) == ("serve", 9810, "0.0.0.0")
