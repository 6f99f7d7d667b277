"""The incident end to end against the embedded lab: real HTTP to its control plane and IAM.

The lab's IAM is moto's HTTP server with `iam:SimulatePrincipalPolicy` answered by the lab
from moto's state, so the check takes its simulate path as on AWS; with the lab's
simulation switched off, moto's HTML 500 comes back and the run proves the offline
fallback on the wire. Its control plane, unlike moto, serves policy engines and
policies, so the engine facts are read for real. The lab's own
role checker (moto's matcher, independent of probe.iam.evaluate) must agree with us.
"""

from __future__ import annotations

import json

import pytest

from probe.cli import main
from probe.iam.check import check_gateway
from probe.lab.role_check import missing_for_gateway

PERMIT_ALL = "permit(principal, action, resource is AgentCore::Gateway);"


@pytest.fixture(params=["simulate", "offline"])
def method(request, lab):
    """Each test runs with the lab's IAM simulation on (the probe simulates) and off (it falls back)."""
    lab.state.iam_simulation = request.param == "simulate"
    yield request.param
    lab.state.iam_simulation = True


@pytest.fixture
def incident(lab, lab_env, method):
    """A gateway made by the console, then an engine attached from the Policy side."""
    engine = lab.console.create_policy_engine(f"refunds_engine_{method}")
    lab.console.add_policy(engine.engine_id, "allow_all", PERMIT_ALL)
    gw = lab.console.create_gateway(f"refunds-{method}", targets=[])
    lab.console.attach_engine_from_policy_side(gw.gateway_id, engine.engine_id)
    return lab, lab.state.gateway(gw.gateway_id), engine


def test_check_finds_the_incident_and_fix_repairs_it(incident, method, capsys):
    lab, gw, engine = incident
    assert main(["iam", "check", "--gateway-id", gw.gateway_id, "--region", lab.region, "--format", "json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == method and data["verdict"] == "missing_permissions"
    simulation_errors = [e for e in data["errors"] if "SimulatePrincipalPolicy" in e]
    assert (simulation_errors == []) if method == "simulate" else len(simulation_errors) == 1
    assert data["policy_engine_arn"] == engine.arn and data["policy_engine_mode"] == "ENFORCE"
    assert {(m["action"], m["resource"]) for m in data["missing"]} == set(missing_for_gateway(gw))
    assert len(data["missing"]) == 5
    facts = data["gateway"]
    assert (facts["engine_status"], facts["policies_total"], facts["policies_active"]) == ("ACTIVE", 1, 1)

    assert main(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", lab.region, "--apply"]) == 0
    out = capsys.readouterr().out
    assert "Fix: wrote inline policy AgentCoreProbe-PolicyEvaluation-" in out and "Checked again: OK" in out
    assert missing_for_gateway(lab.state.gateway(gw.gateway_id)) == []  # the lab's gateway agrees

    assert main(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", lab.region]) == 0
    assert "Fix: nothing to do" in capsys.readouterr().out


def test_gateway_side_attachment_is_fine(lab, lab_env, method):
    engine = lab.console.create_policy_engine(f"orders_engine_{method}")
    gw = lab.console.create_gateway(f"orders-{method}", targets=[], policy_engine_id=engine.engine_id)
    result = check_gateway(gateway_id=gw.gateway_id, region=lab.region)
    assert result.verdict == "ok" and result.exit_code == 0, result.errors
    assert result.method == method
    assert any("ENFORCE mode with no ACTIVE policy: default deny hides every tool" in n for n in result.notes)
