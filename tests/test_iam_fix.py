"""`iam fix` against moto: one inline policy, least privilege, idempotent, verified; refusals."""

from __future__ import annotations

import json

import boto3
import pytest

from probe.cli import main
from probe.iam import needs
from probe.iam.fix import fix_gateway
from probe.report.iam_text import render_iam_fix
from tests.test_iam_support import (
    AUTH,
    ENGINE_ARN,
    GET_ENGINE,
    PARTIAL,
    REGION,
    allow,
    aws_env,  # noqa: F401  (autouse fixture)
    count_calls,
    deny,
    doc,
    make_gateway,
    make_role,
    moto,  # noqa: F401  (fixture)
    refuse,
)

pytestmark = pytest.mark.usefixtures("moto")


def fix(gw, *, apply: bool, session=None):
    return fix_gateway(
        gateway_id=gw.gateway_id, region=REGION, apply=apply, session=session or boto3.Session(), settle_delays=()
    )


def inline_policies(gw) -> dict[str, dict]:
    iam = boto3.client("iam")
    names = iam.list_role_policies(RoleName=gw.role_name)["PolicyNames"]
    return {n: iam.get_role_policy(RoleName=gw.role_name, PolicyName=n)["PolicyDocument"] for n in names}


def expected_policy(gw) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EvaluatePoliciesForGateway",
                "Effect": "Allow",
                "Action": [AUTH, PARTIAL],
                "Resource": [gw.gateway_arn, ENGINE_ARN],
            },
            {
                "Sid": "GetPolicyEngineForValidation",
                "Effect": "Allow",
                "Action": [GET_ENGINE],
                "Resource": [ENGINE_ARN],
            },
        ],
    }


def test_dry_run_changes_nothing():
    gw = make_gateway(make_role())
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=False, session=session)
    assert result.action == "printed" and result.exit_code == 0 and not result.wrote
    assert puts == [] and inline_policies(gw) == {}
    assert result.policy == expected_policy(gw)
    out = render_iam_fix(result.to_dict())
    assert "dry run" in out and "aws iam put-role-policy --role-name gateway-role" in out


def test_apply_writes_one_least_privilege_policy_then_passes_and_is_idempotent():
    gw = make_gateway(make_role(inline={"console": doc(allow("bedrock-agentcore:GetGateway", gw_pattern()))}))
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")

    first = fix(gw, apply=True, session=session)
    assert first.action == "applied" and first.wrote and first.exit_code == 0
    assert first.before.verdict == "missing_permissions"
    assert first.after is not None and first.after.verdict == "ok"
    name = f"AgentCoreProbe-PolicyEvaluation-{gw.gateway_id}"
    policies = inline_policies(gw)
    assert set(policies) == {"console", name}
    assert policies[name] == expected_policy(gw)
    resources = [r for s in policies[name]["Statement"] for r in s["Resource"]]
    assert not any("*" in r or "?" in r for r in resources)
    assert len(puts) == 1

    second = fix(gw, apply=True, session=session)
    assert second.action == "nothing_to_do" and not second.wrote and second.exit_code == 0
    assert len(puts) == 1  # the second run wrote nothing at all
    assert inline_policies(gw) == policies


def gw_pattern() -> str:
    return f"arn:aws:bedrock-agentcore:{REGION}:123456789012:gateway/*"


def test_identical_document_is_not_written_again():
    """When the check cannot confirm (an unreadable policy) but our document is already in place."""
    role = make_role(managed={"opaque": doc(allow("s3:*", "*"))})
    gw = make_gateway(role)
    boto3.client("iam").put_role_policy(
        RoleName=gw.role_name,
        PolicyName=f"AgentCoreProbe-PolicyEvaluation-{gw.gateway_id}",
        PolicyDocument=json.dumps(expected_policy(gw)),
    )
    session = boto3.Session()
    refuse(session, "GetPolicyVersion")
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.before.verdict == "unknown"
    assert result.action == "unchanged" and not result.wrote and puts == []
    assert result.after is not None and result.after.verdict == "unknown" and result.exit_code == 4


def test_lambda_targets_are_granted_and_carried_over():
    f1 = "arn:aws:lambda:us-east-1:123456789012:function:one"
    f2 = "arn:aws:lambda:us-east-1:123456789012:function:two"
    gw = make_gateway(make_role(inline={"f2": doc(allow("lambda:InvokeFunction", f2))}), lambda_arns=(f1, f2))
    result = fix(gw, apply=True)
    assert result.action == "applied" and result.after.verdict == "ok" and result.after.lambda_missing == []
    lam = [s for s in result.policy["Statement"] if s["Sid"] == "InvokeLambdaTargets"]
    assert lam == [
        {"Sid": "InvokeLambdaTargets", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [f1]}
    ]

    # The gateway moves to another engine: the rewrite grants the new engine, drops the old
    # one, and keeps the Lambda grant only our earlier write held.
    new_engine = ENGINE_ARN.replace("abc1234567", "xyz7654321")
    boto3.client("bedrock-agentcore-control", region_name=REGION).update_gateway(
        gatewayIdentifier=gw.gateway_id,
        name="refunds",
        roleArn=gw.role_arn,
        protocolType="MCP",
        authorizerType="NONE",
        policyEngineConfiguration={"arn": new_engine, "mode": "ENFORCE"},
    )
    again = fix(gw, apply=True)
    assert again.before.verdict == "missing_permissions" and again.before.lambda_missing == []
    assert again.action == "applied" and again.after.verdict == "ok" and again.after.lambda_missing == []
    written = inline_policies(gw)[f"AgentCoreProbe-PolicyEvaluation-{gw.gateway_id}"]
    assert ENGINE_ARN not in json.dumps(written) and new_engine in json.dumps(written)
    assert [s["Resource"] for s in written["Statement"] if s["Sid"] == "InvokeLambdaTargets"] == [[f1]]


def test_refuses_a_service_linked_role():
    role = make_role("AWSServiceRoleForBedrockAgentCore", path="/aws-service-role/bedrock-agentcore.amazonaws.com/")
    gw = make_gateway(role)
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.action == "refused" and result.exit_code == 5 and puts == []
    assert "service-linked" in result.refusal and "/aws-service-role/" in result.refusal


def test_refuses_an_explicit_deny_and_names_it():
    gw = make_gateway(
        make_role(
            inline={"full": doc(allow("bedrock-agentcore:*", "*")), "guard": doc(deny(PARTIAL, "*", Sid="NoPartial"))}
        )
    )
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.action == "refused" and result.exit_code == 5 and puts == [] and not result.wrote
    assert (
        f"{PARTIAL} on {gw.gateway_arn} is blocked by an explicit Deny (inline policy 'guard' statement 'NoPartial')"
        in result.refusal
    )
    assert f"{PARTIAL} on {ENGINE_ARN}" in result.refusal
    assert AUTH not in result.refusal
    assert "refused" in render_iam_fix(result.to_dict())


def test_refuses_a_blocking_boundary():
    gw = make_gateway(
        make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"))}, boundary=doc(allow([AUTH, PARTIAL], "*")))
    )
    result = fix(gw, apply=True)
    assert result.action == "refused" and result.exit_code == 5
    assert f"{GET_ENGINE} on {ENGINE_ARN} is blocked by the permissions boundary" in result.refusal
    assert inline_policies(gw) == {"full": doc(allow("bedrock-agentcore:*", "*"))}


def test_write_refused_by_iam_is_reported():
    gw = make_gateway(make_role())
    session = boto3.Session()
    refuse(session, "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.action == "failed" and result.exit_code == 2 and not result.wrote
    assert result.errors == ["iam:PutRolePolicy: AccessDenied: not authorized to perform iam:PutRolePolicy"]


def test_unreadable_gateway_is_exit_2():
    result = fix_gateway(gateway_id="nope-abcdef1234", region=REGION, apply=True, session=boto3.Session())
    assert result.action == "failed" and result.exit_code == 2 and result.policy is None


def test_remediation_never_writes_a_wildcard():
    with pytest.raises(needs.WildcardRefused):
        needs.remediation_policy(None, ENGINE_ARN)
    with pytest.raises(needs.WildcardRefused):
        needs.remediation_policy("arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/*", ENGINE_ARN)
    with pytest.raises(needs.WildcardRefused):
        needs.remediation_policy(ENGINE_ARN, "arn:aws:bedrock-agentcore:us-east-1:123456789012:policy-engine/e?")
    assert needs.remediation_policy("arn:aws:bedrock-agentcore:us-east-1:1:gateway/g", None) is None


def test_policy_name_is_bounded():
    assert needs.policy_name("refunds-abc1234567") == "AgentCoreProbe-PolicyEvaluation-refunds-abc1234567"
    long = needs.policy_name("g" * 120 + "-abc1234567")
    assert len(long) <= 128 and long.startswith("AgentCoreProbe-PolicyEvaluation-")
    assert long != needs.policy_name("g" * 121 + "-abc1234567")


def test_probe_policies_are_read_only_plus_one_write():
    check_actions = {a for s in needs.probe_check_policy()["Statement"] for a in s["Action"]}
    fix_actions = {a for s in needs.probe_fix_policy()["Statement"] for a in s["Action"]}
    assert fix_actions - check_actions == {"iam:PutRolePolicy"}
    assert all(a.split(":")[1].startswith(("Get", "List", "Simulate")) for a in check_actions)
    resources = [
        r
        for s in needs.probe_fix_policy(account="123456789012", role_name="gw-role")["Statement"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    ]
    assert "arn:aws:iam::123456789012:role/gw-role" in resources


def test_cli_fix_apply_json(capsys):
    gw = make_gateway(make_role())
    code = main(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", REGION, "--apply", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["action"] == "applied" and data["wrote"] is True
    assert data["after"]["verdict"] == "ok" and data["before"]["verdict"] == "missing_permissions"
    code = main(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", REGION, "--apply", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["action"] == "nothing_to_do" and data["wrote"] is False


def test_cli_fix_text_dry_run(capsys):
    gw = make_gateway(make_role())
    code = main(["iam", "fix", "--gateway-id", gw.gateway_id, "--region", REGION])
    out = capsys.readouterr().out
    assert code == 0 and inline_policies(gw) == {}
    assert "Fix: nothing was changed (dry run)" in out
    assert out.count('"Sid": "EvaluatePoliciesForGateway"') == 1  # shown once, not in the check and again
