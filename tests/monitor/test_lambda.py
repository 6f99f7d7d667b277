"""The Lambda handler run locally on EventBridge Scheduler's event shape, against the lab.

EventBridge Scheduler invokes a templated Lambda target with the target's `Input` as the
event, after replacing its context attributes (`<aws.scheduler.scheduled-time>`,
`<aws.scheduler.execution-id>`, ...); `EVENT` below is deploy/template.yaml's Input so
substituted. S3 and SSM are moto's server, on loopback in this process, reached through
the standard AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SSM (not `mock_aws`, which would
intercept the lab's own control plane). The EMF lines are read back from stdout and checked
against the EMF specification's structure.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pytest
import yaml

from probe.aws_lambda import ScenarioSourceError, handler
from probe.monitor.emf import METRIC_NAMES
from probe.outcome import Outcome

SCENARIO = """\
version: 1
defaults: {timeout: 5, retries: 0}
gateways:
  open:
    url: ${OPEN_GATEWAY_URL}
    auth: none
  incident:
    url: ${INCIDENT_GATEWAY_URL}
    gateway_id: ${INCIDENT_GATEWAY_ID}
    region: us-east-1
probes:
  - name: open-list
    gateway: open
    expect: ok
  - name: incident-list
    gateway: incident
    expect: ok
"""

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"


def scheduler_event(scenarios: list[str]) -> dict:
    """The schedule target's Input as deploy/template.yaml writes it, context attributes substituted."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    raw = template["Resources"]["Schedule"]["Properties"]["Target"]["Input"]
    assert isinstance(raw, dict) and "Fn::Sub" in raw  # the Input names the scenario parameter
    text, _ = raw["Fn::Sub"]
    text = text.replace("${Sources}", '", "'.join(scenarios)).replace("${MetricNamespace}", "AgentCoreProbe")
    for attr, value in {"<aws.scheduler.scheduled-time>": "2026-01-01T12:00:00Z",
                        "<aws.scheduler.execution-id>": "c1d2e3f4-0000-4000-8000-123456789abc",
                        "<aws.scheduler.schedule-arn>":
                            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/agentcore-probe",
                        "<aws.scheduler.attempt-number>": "1"}.items():
        text = text.replace(attr, value)
    return json.loads(text)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Sub, !Ref, ...) as {"Fn::Sub": ...} mappings."""


def _cfn_tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if name == "Fn::Sub" and isinstance(value, str):
        value = [value, {}]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


class FakeContext:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "agentcore-probe"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gateways(lab):
    c = lab.console
    engine = c.create_policy_engine("refunds")
    open_gw = c.create_gateway("open")
    incident = c.create_gateway("incident")
    c.attach_engine_from_policy_side(incident.gateway_id, engine.engine_id, "ENFORCE")
    slow = c.create_gateway("slow")
    c.set_faults(slow.gateway_id, latency_ms=3000)
    return {"open": open_gw, "incident": incident, "slow": slow}


@pytest.fixture
def env(lab, lab_env, gateways, moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_server)
    monkeypatch.setenv("OPEN_GATEWAY_URL", lab.gateway_url(gateways["open"].gateway_id))
    monkeypatch.setenv("INCIDENT_GATEWAY_URL", lab.gateway_url(gateways["incident"].gateway_id))
    monkeypatch.setenv("INCIDENT_GATEWAY_ID", gateways["incident"].gateway_id)
    monkeypatch.delenv("AGENTCORE_PROBE_SCENARIOS", raising=False)
    return moto_server


def emf_lines(out: str) -> list[dict]:
    docs = [json.loads(line) for line in out.splitlines()]
    for doc in docs:  # the EMF specification's structure
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert isinstance(doc["_aws"]["Timestamp"], int)
        assert directive["Dimensions"] == [["gateway", "probe"]]
        for metric in directive["Metrics"]:
            assert metric["Name"] in doc  # every metric named is a key of the line
        assert {"gateway", "probe"} <= set(doc)
    return docs


def test_scheduler_event_runs_the_ssm_scenario_and_emits_emf(env, gateways, capsys):
    boto3.client("ssm").put_parameter(Name="/agentcore-probe/scenario", Value=SCENARIO, Type="String",
                                      Overwrite=True)
    event = scheduler_event(["ssm:/agentcore-probe/scenario"])
    summary = handler(event, FakeContext())
    out, err = capsys.readouterr()
    assert summary == {
        "scenarios": ["ssm:/agentcore-probe/scenario"],
        "probes": 2,
        "succeeded": 1,
        "failed": [{"probe": "incident-list", "gateway": "incident", "outcome": "policy_internal_failure"}],
        "interrupted": [],
        "namespace": "AgentCoreProbe",
        "scheduled_time": "2026-01-01T12:00:00Z",
    }
    docs = {d["probe"]: d for d in emf_lines(out)}
    assert set(docs) == {"open-list", "incident-list"}
    assert {m["Name"] for m in docs["open-list"]["_aws"]["CloudWatchMetrics"][0]["Metrics"]} >= {
        "Success", "Duration", "InitializeDuration", "ToolsListDuration"}
    assert docs["open-list"]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AgentCoreProbe"
    assert (docs["open-list"]["Success"], docs["open-list"]["Outcome_ok"]) == (1.0, 1.0)
    assert (docs["incident-list"]["Success"], docs["incident-list"]["Outcome_policy_internal_failure"]) == (0.0, 1.0)
    assert docs["incident-list"]["outcome"] == Outcome.POLICY_INTERNAL_FAILURE.value
    assert set(METRIC_NAMES) >= {k for k in docs["incident-list"] if k[:1].isupper()}
    assert "Traceback" not in err


def test_s3_and_a_packaged_file_with_a_namespace(env, tmp_path, monkeypatch, capsys):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="probe-scenarios")
    s3.put_object(Bucket="probe-scenarios", Key="fleet/open.yaml",
                  Body=SCENARIO.replace("incident-list", "incident-again").encode())
    (tmp_path / "scenarios").mkdir()
    only_open = yaml.safe_load(SCENARIO)
    only_open["gateways"] = {"open": {"url": "${OPEN_GATEWAY_URL}", "auth": "none"}}
    only_open["probes"] = [{"name": "packaged-open", "gateway": "open", "expect": "ok"}]
    (tmp_path / "scenarios" / "monitoring.yaml").write_text(yaml.safe_dump(only_open))
    monkeypatch.chdir(tmp_path)  # Lambda's working directory is the package root
    event = {"scenarios": ["s3://probe-scenarios/fleet/open.yaml", "scenarios/monitoring.yaml"],
             "namespace": "Team/Gateways"}
    summary = handler(event, FakeContext())
    docs = emf_lines(capsys.readouterr().out)
    assert [d["probe"] for d in docs] == ["open-list", "incident-again", "packaged-open"]
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in docs} == {"Team/Gateways"}
    assert (summary["probes"], summary["succeeded"]) == (3, 2) and "scheduled_time" not in summary


def test_scenarios_from_the_environment_for_an_eventbridge_rule_event(env, monkeypatch, capsys, tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    monkeypatch.setenv("AGENTCORE_PROBE_SCENARIOS", str(tmp_path / "s.yaml"))
    rule_event = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
                  "source": "aws.events", "account": "123456789012", "time": "2026-01-01T12:00:00Z",
                  "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/probe"],
                  "detail": {}}
    summary = handler(rule_event, FakeContext())
    assert summary["probes"] == 2 and len(emf_lines(capsys.readouterr().out)) == 2


def test_runs_are_cut_before_the_lambda_timeout(env, gateways, lab, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SLOW_URL", lab.gateway_url(gateways["slow"].gateway_id))
    (tmp_path / "slow.yaml").write_text(
        "version: 1\ngateways:\n  slow: {url: '${SLOW_URL}', auth: none}\n  open: {url: '${OPEN_GATEWAY_URL}'}\n"
        "probes:\n  - {name: slow-list, gateway: slow, expect: ok}\n  - {name: open-list, gateway: open}\n")
    summary = handler({"scenarios": [str(tmp_path / "slow.yaml")]}, FakeContext(remaining_ms=4_000))
    docs = emf_lines(capsys.readouterr().out)
    assert summary["interrupted"] == ["slow-list"]
    assert [d["probe"] for d in docs] == ["open-list"]  # a cut run is not an observation


@pytest.mark.parametrize(("event", "message"), [
    ({}, 'name the scenarios: an event like {"scenarios"'),
    ({"scenarios": []}, "name the scenarios"),
    ({"scenarios": "s3://probe-scenarios/missing.yaml"},
     "s3://probe-scenarios/missing.yaml: s3:GetObject: NoSuchKey"),
    ({"scenarios": ["s3://no-key"]}, "s3://no-key: expected s3://BUCKET/KEY"),
    ({"scenarios": ["ssm:/agentcore-probe/absent"]},
     "ssm:/agentcore-probe/absent: ssm:GetParameter: ParameterNotFound"),
    ({"scenarios": ["scenarios/nowhere.yaml"]}, "scenarios/nowhere.yaml: no such scenario file in the package"),
    ({"scenarios": ["ssm:/agentcore-probe/scenario"], "concurrency": "many"}, "concurrency must be a whole number"),
])
def test_bad_sources_are_one_line_errors(env, event, message):
    boto3.client("ssm").put_parameter(Name="/agentcore-probe/scenario", Value=SCENARIO, Type="String",
                                      Overwrite=True)
    boto3.client("s3").create_bucket(Bucket="probe-scenarios")
    with pytest.raises(ScenarioSourceError) as info:
        handler(event, FakeContext())
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_unset_variable_names_the_variable_and_the_source(env, monkeypatch):
    monkeypatch.delenv("INCIDENT_GATEWAY_URL")
    boto3.client("ssm").put_parameter(Name="/agentcore-probe/scenario", Value=SCENARIO, Type="String",
                                      Overwrite=True)
    with pytest.raises(ScenarioSourceError) as info:
        handler({"scenarios": ["ssm:/agentcore-probe/scenario"]}, FakeContext())
    text = str(info.value)
    assert text.startswith("ssm:/agentcore-probe/scenario:8: ${INCIDENT_GATEWAY_URL} is not set")
