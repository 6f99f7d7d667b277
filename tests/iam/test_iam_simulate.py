"""The simulation path, with botocore's Stubber standing in for IAM.

The gateway itself comes from moto (real control-plane calls); only the IAM client is
stubbed, so each test pins the exact SimulatePrincipalPolicy requests the check makes
and feeds it the answers AWS gives.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from probe.iam import needs
from probe.iam.check import check_gateway
from probe.iam.simulate import SimulationUnavailable, simulate_pairs
from probe.report.iam_text import render_iam_check
from tests.iam.support import (
    AUTH,
    ENGINE_ARN,
    GET_ENGINE,
    PARTIAL,
    REGION,
    SessionWith,
    allow,
    doc,
    make_gateway,
    make_role,
    missing_set,
)


def context(role_arn: str) -> list[dict]:
    return [
        {"ContextKeyName": "aws:PrincipalArn", "ContextKeyValues": [role_arn], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:PrincipalAccount", "ContextKeyValues": ["123456789012"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [REGION], "ContextKeyType": "string"},
    ]


def result(action: str, resource: str, decision: str, **extra) -> dict:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision, **extra}


def matched(policy_id: str, source_type: str = "role") -> dict:
    return {
        "SourcePolicyId": policy_id,
        "SourcePolicyType": source_type,
        "StartPosition": {"Line": 1, "Column": 40},
        "EndPosition": {"Line": 1, "Column": 180},
    }


@pytest.fixture
def setup():
    """A gateway in moto, and a stubbed IAM client the check will use."""
    with mock_aws():
        role = make_role()
        gw = make_gateway(role)
        session = boto3.Session()
        iam = session.client("iam")
        yield gw, SessionWith(session, iam=iam), Stubber(iam)


def expect_role_tags(stub: Stubber, gw, tags: list[dict] | None = None) -> None:
    """The check reads the role's tags first (they are context for the simulation)."""
    stub.add_response("list_role_tags", {"Tags": tags or [], "IsTruncated": False}, {"RoleName": gw.role_name})


def expect_two_calls(stub: Stubber, gw, gateway_results: list[dict], engine_results: list[dict]) -> None:
    """The batching contract: one call for the gateway ARN, one for the engine ARN."""
    expect_role_tags(stub, gw)
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": gateway_results, "IsTruncated": False},
        {
            "PolicySourceArn": gw.role_arn,
            "ActionNames": [AUTH, PARTIAL],
            "ResourceArns": [gw.gateway_arn],
            "ContextEntries": context(gw.role_arn),
        },
    )
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": engine_results, "IsTruncated": False},
        {
            "PolicySourceArn": gw.role_arn,
            "ActionNames": [AUTH, GET_ENGINE, PARTIAL],
            "ResourceArns": [ENGINE_ARN],
            "ContextEntries": context(gw.role_arn),
        },
    )


def check(gw, session):
    r = check_gateway(gateway_id=gw.gateway_id, region=REGION, session=session)
    return r, r.to_dict()


def test_all_allowed(setup):
    gw, session, stub = setup
    m = [matched("agentcore-remediation")]
    expect_two_calls(
        stub,
        gw,
        [
            result(AUTH, gw.gateway_arn, "allowed", MatchedStatements=m),
            result(PARTIAL, gw.gateway_arn, "allowed", MatchedStatements=m),
        ],
        [result(a, ENGINE_ARN, "allowed", MatchedStatements=m) for a in (AUTH, GET_ENGINE, PARTIAL)],
    )
    with stub:
        r, data = check(gw, session)
    stub.assert_no_pending_responses()
    assert data["method"] == "simulate" and data["verdict"] == "ok" and r.exit_code == 0
    assert not any("SimulatePrincipalPolicy" in e for e in data["errors"])
    s = data["decisions"][0]["statements"][0]
    assert (s["source_kind"], s["source_name"], s["effect"]) == ("inline", "agentcore-remediation", "Allow")
    assert s["position"] == "line 1 col 40 to line 1 col 180"


def test_implicit_and_explicit_deny_and_boundary(setup):
    gw, session, stub = setup
    boundary_says_no = {"PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False}}
    expect_two_calls(
        stub,
        gw,
        [
            result(AUTH, gw.gateway_arn, "allowed", MatchedStatements=[matched("full")]),
            result(PARTIAL, gw.gateway_arn, "implicitDeny", **boundary_says_no),
        ],
        [
            result(
                AUTH,
                ENGINE_ARN,
                "explicitDeny",
                MatchedStatements=[matched("arn:aws:iam::123456789012:policy/guard", "user-managed")],
            ),
            result(GET_ENGINE, ENGINE_ARN, "implicitDeny"),
            result(
                PARTIAL,
                ENGINE_ARN,
                "implicitDeny",
                PermissionsBoundaryDecisionDetail={"AllowedByPermissionsBoundary": True},
            ),
        ],
    )
    with stub:
        r, data = check(gw, session)
    assert data["verdict"] == "missing_permissions" and r.exit_code == 3
    assert missing_set(data) == {
        (PARTIAL, gw.gateway_arn, "boundary"),
        (AUTH, ENGINE_ARN, "explicit_deny"),
        (GET_ENGINE, ENGINE_ARN, "implicit_deny"),
        (PARTIAL, ENGINE_ARN, "implicit_deny"),
    }
    deny = next(m for m in data["missing"] if m["reason"] == "explicit_deny")
    assert deny["statements"][0]["source_kind"] == "managed"
    assert deny["statements"][0]["source_arn"] == "arn:aws:iam::123456789012:policy/guard"
    assert "explicit deny by managed policy 'arn:aws:iam::123456789012:policy/guard'" in render_iam_check(data)


def test_missing_context_values_make_the_pair_unknown(setup):
    gw, session, stub = setup
    expect_two_calls(
        stub,
        gw,
        [
            result(AUTH, gw.gateway_arn, "allowed", MissingContextValues=["aws:SourceVpc"]),
            result(PARTIAL, gw.gateway_arn, "allowed"),
        ],
        [result(a, ENGINE_ARN, "allowed") for a in (AUTH, GET_ENGINE, PARTIAL)],
    )
    # The remediation is tried for the undecided pair only, with the policy added: allowed.
    expect_trial(stub, gw, [AUTH], [gw.gateway_arn], [result(AUTH, gw.gateway_arn, "allowed")])
    with stub:
        r, data = check(gw, session)
    stub.assert_no_pending_responses()
    assert data["verdict"] == "unknown" and r.exit_code == 4 and data["missing"] == []
    [undecided] = [d for d in data["decisions"] if d["decision"] == "unknown"]
    assert (undecided["action"], undecided["resource"]) == (AUTH, gw.gateway_arn)
    assert "aws:SourceVpc" in undecided["note"]
    assert data["remediation_policy"] == needs.remediation_policy(gw.gateway_arn, ENGINE_ARN)
    assert data["remediation_blocked"] == [] and data["remediation_refusal"] is None


def expect_trial(stub: Stubber, gw, actions: list[str], resources: list[str], results: list[dict]) -> None:
    """The remediation tried by the simulation itself: the same request plus the policy (PolicyInputList)."""
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": results, "IsTruncated": False},
        {
            "PolicySourceArn": gw.role_arn,
            "ActionNames": actions,
            "ResourceArns": resources,
            "PolicyInputList": [json.dumps(needs.remediation_policy(gw.gateway_arn, ENGINE_ARN))],
            "ContextEntries": context(gw.role_arn),
        },
    )


def test_simulated_trial_catches_a_boundary_behind_implicit_denies(setup):
    """IAM answers implicitDeny (no boundary detail) for the role as it is; with the policy added,
    the simulation says the boundary does not allow four pairs: no policy is offered."""
    gw, session, stub = setup
    expect_two_calls(
        stub,
        gw,
        [result(a, gw.gateway_arn, "implicitDeny") for a in (AUTH, PARTIAL)],
        [result(a, ENGINE_ARN, "implicitDeny") for a in (AUTH, GET_ENGINE, PARTIAL)],
    )
    outside = {"PermissionsBoundaryDecisionDetail": {"AllowedByPermissionsBoundary": False}}
    expect_trial(
        stub,
        gw,
        [AUTH, PARTIAL],
        [gw.gateway_arn],
        [result(a, gw.gateway_arn, "implicitDeny", **outside) for a in (AUTH, PARTIAL)],
    )
    expect_trial(
        stub,
        gw,
        [AUTH, GET_ENGINE, PARTIAL],
        [ENGINE_ARN],
        [
            result(AUTH, ENGINE_ARN, "implicitDeny", **outside),
            result(GET_ENGINE, ENGINE_ARN, "allowed"),
            result(PARTIAL, ENGINE_ARN, "implicitDeny", **outside),
        ],
    )
    with stub:
        r, data = check(gw, session)
    stub.assert_no_pending_responses()
    assert data["method"] == "simulate" and r.exit_code == 3
    assert {m["reason"] for m in data["missing"]} == {"implicit_deny"}
    assert data["remediation_policy"] is None
    assert {(b["action"], b["resource"], b["reason"]) for b in data["remediation_blocked"]} == {
        (a, res, "boundary") for a in (AUTH, PARTIAL) for res in (gw.gateway_arn, ENGINE_ARN)
    }
    assert "outside the role's permissions boundary" in data["remediation_refusal"]
    assert "put-role-policy" not in render_iam_check(data)


def test_access_denied_on_simulation_falls_back_offline(setup):
    gw, session, stub = setup
    name = gw.role_name
    expect_role_tags(stub, gw)
    stub.add_client_error(
        "simulate_principal_policy",
        service_error_code="AccessDenied",
        service_message="User is not authorized to perform: iam:SimulatePrincipalPolicy",
        http_status_code=403,
    )
    stub.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": name,
                "RoleId": "AROAEXAMPLEROLEID0001",
                "Arn": gw.role_arn,
                "CreateDate": "2026-01-01T00:00:00Z",
            }
        },
        {"RoleName": name},
    )
    stub.add_response("list_role_policies", {"PolicyNames": ["remediation"], "IsTruncated": False}, {"RoleName": name})
    encoded = json.dumps(doc(allow([AUTH, PARTIAL], [gw.gateway_arn, ENGINE_ARN])))
    stub.add_response(
        "get_role_policy",
        {"RoleName": name, "PolicyName": "remediation", "PolicyDocument": encoded},
        {"RoleName": name, "PolicyName": "remediation"},
    )
    stub.add_response("list_attached_role_policies", {"AttachedPolicies": [], "IsTruncated": False}, {"RoleName": name})
    with stub:
        _, data = check(gw, session)
    stub.assert_no_pending_responses()
    assert data["method"] == "offline"
    assert missing_set(data) == {(GET_ENGINE, ENGINE_ARN, "implicit_deny")}
    assert any(e.startswith("iam:SimulatePrincipalPolicy: AccessDenied") and "offline" in e for e in data["errors"])
    assert "AROAEXAMPLEROLEID0001" not in json.dumps(data)  # the role id (a key-like id) never shows


def test_pagination_and_resource_specific_results():
    iam = boto3.client("iam")
    stub = Stubber(iam)
    role = "arn:aws:iam::123456789012:role/r"
    f1, f2 = "arn:aws:lambda:us-east-1:123456789012:function:a", "arn:aws:lambda:us-east-1:123456789012:function:b"
    params = {"PolicySourceArn": role, "ActionNames": ["lambda:InvokeFunction"], "ResourceArns": [f1, f2]}
    stub.add_response(
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "lambda:InvokeFunction",
                    "EvalResourceName": "*",
                    "EvalDecision": "implicitDeny",
                    "ResourceSpecificResults": [{"EvalResourceName": f1, "EvalResourceDecision": "allowed"}],
                }
            ],
            "IsTruncated": True,
            "Marker": "page-2",
        },
        params,
    )
    stub.add_response(
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "lambda:InvokeFunction",
                    "EvalResourceName": "*",
                    "EvalDecision": "implicitDeny",
                    "ResourceSpecificResults": [{"EvalResourceName": f2, "EvalResourceDecision": "explicitDeny"}],
                }
            ],
            "IsTruncated": False,
        },
        {**params, "Marker": "page-2"},
    )
    with stub:
        decisions = simulate_pairs(iam, role, [("lambda:InvokeFunction", f1), ("lambda:InvokeFunction", f2)])
    stub.assert_no_pending_responses()
    assert [(d.resource, d.decision) for d in decisions] == [(f1, "allowed"), (f2, "explicit_deny")]


def test_a_pair_the_simulation_does_not_answer_is_unknown():
    iam = boto3.client("iam")
    stub = Stubber(iam)
    role = "arn:aws:iam::123456789012:role/r"
    stub.add_response(
        "simulate_principal_policy",
        {"EvaluationResults": [], "IsTruncated": False},
        {"PolicySourceArn": role, "ActionNames": [GET_ENGINE], "ResourceArns": [ENGINE_ARN]},
    )
    with stub:
        [d] = simulate_pairs(iam, role, [(GET_ENGINE, ENGINE_ARN)])
    assert d.decision == "unknown" and d.allowed is None


@pytest.mark.parametrize(
    ("error", "status"),
    [("AccessDenied", 403), ("NotImplemented", 501), ("InternalFailure", 500), ("500", 500)],
)
def test_unavailable_simulation_raises_for_fallback(error, status):
    iam = boto3.client("iam")
    stub = Stubber(iam)
    stub.add_client_error(
        "simulate_principal_policy",
        service_error_code=error,
        http_status_code=status,
        service_message="<!doctype html><title>500</title>" if error == "500" else "no",
    )
    with stub, pytest.raises(SimulationUnavailable) as raised:
        simulate_pairs(iam, "arn:aws:iam::123456789012:role/r", [(GET_ENGINE, ENGINE_ARN)])
    assert "iam:SimulatePrincipalPolicy" in str(raised.value) and "<" not in str(raised.value)


def test_moto_server_html_500_falls_back_offline(monkeypatch):
    """The lab's wire: moto's HTTP server answers the simulation with an HTML 500 page."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        role = make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
        gw = make_gateway(role)
        r = check_gateway(gateway_id=gw.gateway_id, region=REGION, session=boto3.Session())
    finally:
        server.stop()
    assert r.method == "offline" and r.verdict == "ok", r.errors
    sim = next(e for e in r.errors if e.startswith("iam:SimulatePrincipalPolicy"))
    assert "ResponseParserError" in sim and "<" not in sim
    assert any(e.startswith("GetPolicyEngine: HTTP500") for e in r.errors)
