"""Every outcome the lab produces, under each inbound auth mode: auth must not change the verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from probe.cli import main

MODES = ["none", "bearer", "oauth", "sigv4"]
PERMIT = """permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
                  resource == AgentCore::Gateway::"{arn}")
when {{ context.input.amount.lessThan(decimal("500.0")) }};"""
REFUND = ["--call", "RefundTarget___process_refund"]


@pytest.fixture(scope="module")
def world(lab) -> dict[str, Any]:
    """Per auth mode, one gateway per situation; plus the credentials each mode uses."""
    c = lab.console
    authorizer = {"none": "NONE", "bearer": "CUSTOM_JWT", "oauth": "CUSTOM_JWT", "sigv4": "AWS_IAM"}
    empty = c.create_policy_engine("empty_engine")
    engine = c.create_policy_engine("refund_engine")
    gws: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        kind = authorizer[mode]
        g = {
            "plain": c.create_gateway(f"{mode}plain", authorizer_type=kind),
            "deny": c.create_gateway(f"{mode}deny", authorizer_type=kind, policy_engine_id=empty.engine_id),
            "enforced": c.create_gateway(f"{mode}enforced", authorizer_type=kind, policy_engine_id=engine.engine_id),
            "incident": c.create_gateway(f"{mode}incident", authorizer_type=kind),
            "throttled": c.create_gateway(f"{mode}throttled", authorizer_type=kind),
        }
        c.add_policy(engine.engine_id, f"{mode}_small", PERMIT.format(arn=g["enforced"].arn))
        c.attach_engine_from_policy_side(g["incident"].gateway_id, engine.engine_id, "ENFORCE")
        c.set_faults(g["plain"].gateway_id, failing_tools={"WeatherTarget___get_forecast"})
        c.set_faults(g["throttled"].gateway_id, throttle=True)
        gws[mode] = g
    iam = lab.client("iam")
    iam.create_user(UserName="modes-runner")
    key = iam.create_access_key(UserName="modes-runner")["AccessKey"]
    client = lab.issuer.add_client("modes-client", "modes-client-secret-0042")
    return {"gws": gws, "key": key, "client": client}


def auth_args(mode: str, lab, world, monkeypatch) -> list[str]:
    if mode == "bearer":
        monkeypatch.setenv("MODES_TOKEN", lab.issuer.issue(lab.issuer.default_client.client_id))
        return ["--bearer-token-env", "MODES_TOKEN"]
    if mode == "oauth":
        monkeypatch.setenv("MODES_SECRET", "modes-client-secret-0042")
        return ["--oauth-token-url", lab.token_url, "--oauth-client-id", world["client"].client_id,
                "--oauth-client-secret-env", "MODES_SECRET"]
    if mode == "sigv4":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", world["key"]["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", world["key"]["SecretAccessKey"])
        return ["--sigv4", "--region", lab.region]
    return []


CASES = [
    ("plain", ["--call", "RefundTarget___get_order", "--args", '{"order_id": "1"}'], "ok"),
    ("plain", ["--call", "Nope___missing"], "tool_missing"),
    ("plain", ["--call", "WeatherTarget___get_forecast", "--args", '{"city": "Oslo"}'], "tool_error"),
    ("deny", [], "empty_tools"),
    ("enforced", [*REFUND, "--args", '{"order_id": "1", "amount": 10}'], "ok"),
    ("enforced", [*REFUND, "--args", '{"order_id": "1", "amount": 10000}'], "policy_denied"),
    ("incident", ["--no-iam"], "policy_internal_failure"),
    ("throttled", [], "throttled"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("gateway", "extra", "outcome"), CASES,
                         ids=[f"{g}-{o}" for g, _, o in CASES])
def test_outcome_under_auth_mode(lab, world, capsys, monkeypatch, mode, gateway, extra, outcome) -> None:
    url = lab.gateway_url(world["gws"][mode][gateway].gateway_id)
    argv = ["run", url, "--format", "json", "--retries", "0", *auth_args(mode, lab, world, monkeypatch), *extra]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == outcome, report["steps"]
    assert code == report["exit_code"]
    methods = [s["method"] for s in report["steps"]]
    assert methods[0] == ("oauth2/token" if mode == "oauth" else "initialize")
