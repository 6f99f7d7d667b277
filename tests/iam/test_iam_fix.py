"""`iam fix` against moto: one inline policy, least privilege, idempotent, verified; refusals."""

from __future__ import annotations

import json

import boto3
import pytest

from probe.cli import main
from probe.iam import needs
from probe.iam.fix import fix_gateway
from probe.report.iam_text import render_iam_fix
from tests.iam.support import (
    AUTH,
    ENGINE_ARN,
    GET_ENGINE,
    PARTIAL,
    REGION,
    allow,
    count_calls,
    deny,
    doc,
    make_gateway,
    make_role,
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
        f"blocked by an explicit Deny in inline policy 'guard' statement 'NoPartial': {PARTIAL} on {gw.gateway_arn}, "
        f"{PARTIAL} on {ENGINE_ARN}"
    ) in result.refusal
    assert AUTH not in result.refusal
    assert "refused" in render_iam_fix(result.to_dict())


def test_refuses_a_blocking_boundary():
    gw = make_gateway(
        make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"))}, boundary=doc(allow([AUTH, PARTIAL], "*")))
    )
    result = fix(gw, apply=True)
    assert result.action == "refused" and result.exit_code == 5
    boundary = "arn:aws:iam::123456789012:policy/gateway-role-boundary"
    assert f"outside the permissions boundary 'gateway-role-boundary' ({boundary}): {GET_ENGINE} on {ENGINE_ARN}" in (
        result.refusal
    )
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


# --- what an inline Allow cannot fix is never written ----------------------------------------

BOUNDARY_ARN = "arn:aws:iam::123456789012:policy/gateway-role-boundary"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:refund"


@pytest.mark.parametrize("apply", [True, False])
def test_boundary_blocks_pairs_the_identity_does_not_allow_yet(apply):
    """The console's default role inside a boundary allowing only Get*: the identity lacks all five
    pairs (an implicit deny), and the boundary would still block four of them after the write."""
    gw = make_gateway(
        make_role(
            inline={"console": doc(allow("bedrock-agentcore:GetGateway", "*"))},
            boundary=doc(allow("bedrock-agentcore:Get*", "*")),
        )
    )
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=apply, session=session)
    assert {m["reason"] for m in result.before.missing} == {"implicit_deny"}
    assert result.action == "refused" and result.exit_code == 5 and not result.wrote and result.after is None
    assert puts == [] and set(inline_policies(gw)) == {"console"}
    blocked = [f"{a} on {r}" for a in (AUTH, PARTIAL) for r in (gw.gateway_arn, ENGINE_ARN)]
    assert f"outside the permissions boundary 'gateway-role-boundary' ({BOUNDARY_ARN}): {', '.join(blocked)}." in (
        result.refusal
    )
    assert f"{GET_ENGINE} on" not in result.refusal  # Get* is inside the boundary: the Allow would work there
    assert {(b["action"], b["resource"], b["reason"]) for b in result.before.remediation_blocked} == {
        (a, r, "boundary") for a in (AUTH, PARTIAL) for r in (gw.gateway_arn, ENGINE_ARN)
    }
    out = render_iam_fix(result.to_dict())
    assert "Fix: refused: nothing was written" in out
    assert f"widen the permissions boundary 'gateway-role-boundary' ({BOUNDARY_ARN}) to allow" in out
    assert "put-role-policy" not in out


def test_blocked_lambda_grant_is_left_out_and_the_rest_is_fixed():
    gw = make_gateway(make_role(inline={"guard": doc(deny("lambda:*", "*", Sid="NoLambda"))}), lambda_arns=(LAMBDA,))
    result = fix(gw, apply=True)
    assert result.action == "applied" and result.wrote and result.exit_code == 0
    assert result.after is not None and result.after.verdict == "ok"
    written = inline_policies(gw)[f"AgentCoreProbe-PolicyEvaluation-{gw.gateway_id}"]
    assert written == expected_policy(gw)  # the policy statements only: no Lambda grant a Deny would void
    assert [(b["resource"], b["reason"], b["blocked_by"]) for b in result.to_dict()["not_granted"]] == [
        (LAMBDA, "explicit_deny", ["inline policy 'guard' statement 'NoLambda'"])
    ]
    out = render_iam_fix(result.to_dict())
    assert "Not granted (an inline Allow cannot help; the rest of the fix stands):" in out
    assert f"lambda:InvokeFunction on {LAMBDA}: blocked by an explicit Deny (inline policy 'guard' statement" in out
    assert "remove or narrow the Deny in inline policy 'guard' statement 'NoLambda'" in out


def test_only_a_blocked_lambda_grant_missing_is_refused():
    gw = make_gateway(
        make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*")), "guard": doc(deny("lambda:*", "*"))}),
        lambda_arns=(LAMBDA,),
    )
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.before.verdict == "ok" and result.action == "refused" and result.exit_code == 5 and puts == []
    assert f"blocked by an explicit Deny in inline policy 'guard' statement #0: lambda:InvokeFunction on {LAMBDA}" in (
        result.refusal
    )


def test_unreadable_own_policy_is_not_rewritten():
    """Rewriting our policy replaces it whole: unread, an earlier Lambda grant would be revoked."""
    own = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "InvokeLambdaTargets", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [LAMBDA]}
        ],
    }
    gw = make_gateway(make_role(), lambda_arns=(LAMBDA,))
    name = f"AgentCoreProbe-PolicyEvaluation-{gw.gateway_id}"
    boto3.client("iam").put_role_policy(RoleName=gw.role_name, PolicyName=name, PolicyDocument=json.dumps(own))
    session = boto3.Session()

    def refuse_ours(params, **_):
        if params["body"].get("PolicyName") == name:  # the serialized request: our policy only
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetRolePolicy")

    session.events.register("before-call.iam.GetRolePolicy", refuse_ours)
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.action == "refused" and result.exit_code == 5 and puts == [] and not result.wrote
    assert f"iam:GetRolePolicy({name}): AccessDenied" in result.refusal and "revoke" in result.refusal
    assert inline_policies(gw)[name] == own


def test_conditional_deny_the_check_cannot_settle_blocks_the_write():
    gw = make_gateway(
        make_role(
            inline={
                "tls-only": doc(deny("*", "*", Sid="TlsOnly", Condition={"Bool": {"aws:SecureTransport": "false"}}))
            }
        )
    )
    session = boto3.Session()
    puts = count_calls(session, "iam", "PutRolePolicy")
    result = fix(gw, apply=True, session=session)
    assert result.before.verdict == "unknown"
    assert (
        result.action == "refused"
        and result.exit_code == 5
        and puts == []
        and inline_policies(gw).keys() == {"tls-only"}
    )
    assert "possibly blocked by inline policy 'tls-only' statement 'TlsOnly', whose condition" in result.refusal
    assert {b["reason"] for b in result.before.remediation_blocked} == {"unsettled"}


def test_conditional_allow_alone_does_not_block_the_write():
    """An unsettled *Allow* is what the fix replaces: the write goes ahead and the check then passes."""
    vpc_only = allow("bedrock-agentcore:*", "*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})
    gw = make_gateway(make_role(inline={"vpc-only": doc(vpc_only)}))
    result = fix(gw, apply=True)
    assert result.before.verdict == "unknown" and result.before.remediation_blocked == []
    assert result.action == "applied" and result.after is not None and result.after.verdict == "ok"
