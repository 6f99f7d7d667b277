"""`iam check` against moto: real boto3 calls, real IAM documents, the offline path.

moto implements neither `iam:SimulatePrincipalPolicy` nor policy engines, so every check
here records those as errors and decides offline from the role's documents, exactly as
it must for a caller without the simulation permission.
"""

from __future__ import annotations

import json

import boto3
import pytest

from probe.cli import main
from probe.iam.check import check_gateway, manual_check_commands, not_covered_note
from probe.iam.gateway import GatewayFacts, describe_error, describe_gateway
from probe.iam.roles import decode_document
from probe.report.iam_text import render_iam_check
from probe.spec import parse_gateway_url
from tests.iam.support import (
    ACCOUNT,
    AUTH,
    ENGINE_ARN,
    GET_ENGINE,
    PARTIAL,
    REGION,
    SessionWith,
    all_pairs,
    allow,
    console_remediation,
    deny,
    doc,
    make_gateway,
    make_role,
    missing_set,
    refuse,
)

pytestmark = pytest.mark.usefixtures("moto")


def run(gw, session=None):
    result = check_gateway(gateway_id=gw.gateway_id, region=REGION, session=session or boto3.Session())
    return result, result.to_dict()


def console_default(gw_prefix: str) -> dict:
    """What the console gives a new gateway's role: GetGateway on gateway/NAME-*, nothing else."""
    return doc(
        allow("bedrock-agentcore:GetGateway", f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/{gw_prefix}*")
    )


def gateway_with(**role_kwargs):
    """A role with the given documents, then a gateway using it (the gateway ARN is known after)."""
    role_arn = make_role(**role_kwargs)
    return make_gateway(role_arn)


def put_inline(gw, name: str, document: dict) -> None:
    boto3.client("iam").put_role_policy(RoleName=gw.role_name, PolicyName=name, PolicyDocument=json.dumps(document))


# --- the scenarios of the issue ------------------------------------------------------------


def test_console_default_role_misses_every_pair():
    gw = gateway_with()
    put_inline(gw, "console-default", console_default(gw.gateway_id[:4]))
    result, data = run(gw)
    assert data["verdict"] == "missing_permissions"
    assert missing_set(data) == {(a, r, "implicit_deny") for a, r in all_pairs(gw.gateway_arn)}
    assert data["method"] == "offline"
    assert result.exit_code == 3
    assert any("SimulatePrincipalPolicy" in e for e in data["errors"])
    assert data["gateway_arn"] == gw.gateway_arn and data["role_arn"] == gw.role_arn
    assert data["policy_engine_arn"] == ENGINE_ARN and data["policy_engine_mode"] == "ENFORCE"


def test_console_remediation_policy_is_enough():
    gw = gateway_with()
    put_inline(gw, "console-default", console_default(gw.gateway_id[:4]))
    put_inline(gw, "console-remediation", console_remediation(gw.gateway_arn))
    result, data = run(gw)
    assert data["verdict"] == "ok", data["decisions"]
    assert data["missing"] == [] and data["remediation_policy"] is None
    assert result.exit_code == 0
    sids = {d["action"]: {s["sid"] for s in d["statements"]} for d in data["decisions"]}
    assert sids == {
        AUTH: {"EvaluatePoliciesForGateway"},
        PARTIAL: {"EvaluatePoliciesForGateway"},
        GET_ENGINE: {"GetPolicyEngineForValidation"},
    }


def test_service_wildcard_allows_everything():
    gw = gateway_with(managed={"agentcore-full": doc(allow("bedrock-agentcore:*", "*"))})
    _, data = run(gw)
    assert data["verdict"] == "ok"
    assert all(d["statements"][0]["source_kind"] == "managed" for d in data["decisions"])


def test_explicit_deny_names_the_statement():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    put_inline(gw, "no-authorize-engine", doc(deny(AUTH, ENGINE_ARN, Sid="NoEngineAuthorize")))
    _, data = run(gw)
    assert missing_set(data) == {(AUTH, ENGINE_ARN, "explicit_deny")}
    [m] = data["missing"]
    assert [s["sid"] for s in m["statements"]] == ["NoEngineAuthorize"]
    assert "explicit deny by inline policy 'no-authorize-engine' statement 'NoEngineAuthorize'" in render_iam_check(
        data
    )


def test_not_action_leaves_the_excluded_action_missing():
    gw = gateway_with(inline={"most": doc({"Effect": "Allow", "NotAction": [GET_ENGINE, "s3:*"], "Resource": "*"})})
    _, data = run(gw)
    assert missing_set(data) == {(GET_ENGINE, ENGINE_ARN, "implicit_deny")}


def test_not_resource_in_a_deny_blocks_everything_but_the_gateway():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    put_inline(
        gw,
        "only-this-gateway",
        doc({"Effect": "Deny", "Action": "bedrock-agentcore:*", "NotResource": [gw.gateway_arn]}),
    )
    _, data = run(gw)
    assert missing_set(data) == {
        (AUTH, ENGINE_ARN, "explicit_deny"),
        (PARTIAL, ENGINE_ARN, "explicit_deny"),
        (GET_ENGINE, ENGINE_ARN, "explicit_deny"),
    }


def test_boundary_that_blocks():
    gw = gateway_with(
        inline={"full": doc(allow("bedrock-agentcore:*", "*"))},
        boundary=doc(allow([AUTH, GET_ENGINE], "*")),
    )
    _, data = run(gw)
    assert missing_set(data) == {(PARTIAL, gw.gateway_arn, "boundary"), (PARTIAL, ENGINE_ARN, "boundary")}
    assert "outside the permissions boundary" in render_iam_check(data)


def test_wildcards_star_and_question_mark():
    gw = gateway_with()
    put_inline(
        gw,
        "patterns",
        doc(
            allow("bedrock-agentcore:*Authorize*", f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:*"),
            # `?` is exactly one character: the first matches GetPolicyEngine, the second needs one more.
            allow("bedrock-agentcore:GetPolicyEngin?", ENGINE_ARN[:-1] + "?"),
        ),
    )
    _, data = run(gw)
    assert data["verdict"] == "ok"
    put_inline(
        gw,
        "patterns",
        doc(
            allow("bedrock-agentcore:*Authorize*", f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:*"),
            allow("bedrock-agentcore:GetPolicyEngine?", ENGINE_ARN),
        ),
    )
    _, data = run(gw)
    assert missing_set(data) == {(GET_ENGINE, ENGINE_ARN, "implicit_deny")}


def test_wrong_region():
    gw = gateway_with()
    west = console_remediation(gw.gateway_arn.replace(REGION, "us-west-2"), ENGINE_ARN.replace(REGION, "us-west-2"))
    put_inline(gw, "wrong-region", west)
    _, data = run(gw)
    assert missing_set(data) == {(a, r, "implicit_deny") for a, r in all_pairs(gw.gateway_arn)}


def test_wrong_gateway_name_prefix():
    gw = gateway_with()
    wrong = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/other-gateway-*"
    put_inline(
        gw,
        "wrong-prefix",
        doc(
            allow([AUTH, PARTIAL], [wrong, ENGINE_ARN]),
            allow(GET_ENGINE, ENGINE_ARN),
        ),
    )
    _, data = run(gw)
    assert missing_set(data) == {(AUTH, gw.gateway_arn, "implicit_deny"), (PARTIAL, gw.gateway_arn, "implicit_deny")}


# --- reading the role -------------------------------------------------------------------------


def test_managed_policy_uses_the_default_version_only():
    gw = gateway_with()
    iam = boto3.client("iam")
    arn = iam.create_policy(PolicyName="versioned", PolicyDocument=json.dumps(console_remediation(gw.gateway_arn)))
    arn = arn["Policy"]["Arn"]
    iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(doc(allow("s3:GetObject", "*"))), SetAsDefault=True
    )
    iam.attach_role_policy(RoleName=gw.role_name, PolicyArn=arn)
    _, data = run(gw)
    assert missing_set(data) == {(a, r, "implicit_deny") for a, r in all_pairs(gw.gateway_arn)}
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    _, data = run(gw)
    assert data["verdict"] == "ok"


def test_unsettled_condition_makes_the_pair_unknown():
    gw = gateway_with(
        inline={
            "vpc-only": doc(allow("bedrock-agentcore:*", "*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}))
        }
    )
    result, data = run(gw)
    assert data["verdict"] == "unknown" and data["missing"] == []
    assert {d["decision"] for d in data["decisions"]} == {"unknown"}
    assert all("aws:SourceVpc" in d["note"] for d in data["decisions"])
    assert result.exit_code == 4


def test_known_context_settles_a_region_condition():
    cond = {"StringEquals": {"aws:RequestedRegion": REGION}}
    gw = gateway_with(inline={"this-region": doc(allow("bedrock-agentcore:*", "*", Condition=cond))})
    _, data = run(gw)
    assert data["verdict"] == "ok"


def test_unreadable_managed_policy_downgrades_to_unknown_but_keeps_explicit_deny():
    gw = gateway_with(
        inline={"full": doc(allow("bedrock-agentcore:*", "*")), "deny": doc(deny(GET_ENGINE, ENGINE_ARN))},
        managed={"secret": doc(allow("s3:*", "*"))},
    )
    session = boto3.Session()
    refuse(session, "GetPolicyVersion")
    _, data = run(gw, session)
    decisions = {(d["action"], d["resource"]): d["decision"] for d in data["decisions"]}
    assert decisions.pop((GET_ENGINE, ENGINE_ARN)) == "explicit_deny"
    assert set(decisions.values()) == {"unknown"}
    assert data["verdict"] == "missing_permissions"
    assert any("GetPolicyVersion" in e and "AccessDenied" in e for e in data["errors"])


def test_no_access_to_iam_at_all_gives_unknown_with_manual_commands():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    session = boto3.Session()
    refuse(session, "SimulatePrincipalPolicy")
    refuse(session, "GetRole")
    result, data = run(gw, session)
    assert data["verdict"] == "unknown" and data["method"] is None
    assert result.exit_code == 4
    assert any(e.startswith("iam:SimulatePrincipalPolicy: AccessDenied") for e in data["errors"])
    assert any(e.startswith("iam:GetRole: AccessDenied") for e in data["errors"])
    simulate = [c for c in data["manual_check"] if "simulate-principal-policy" in c]
    assert simulate and gw.role_arn in simulate[0] and gw.gateway_arn in simulate[0] and ENGINE_ARN in simulate[0]
    # A remediation is still offered: it grants exactly the pairs, whatever the role holds.
    assert data["remediation_policy"] is not None


def test_url_encoded_documents_are_decoded():
    raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
    assert decode_document(raw) == {"Version": "2012-10-17", "Statement": []}
    assert decode_document({"a": 1}) == {"a": 1}


# --- reading the gateway ----------------------------------------------------------------------


def test_describe_gateway_reads_what_it_can():
    role = make_role()
    lambdas = (f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:refund", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fx")
    gw = make_gateway(role, lambda_arns=lambdas)
    facts = describe_gateway(gateway_id=gw.gateway_id, region=REGION, session=boto3.Session())
    assert facts.gateway_arn == gw.gateway_arn and facts.role_arn == role and facts.status == "READY"
    assert facts.authorizer_type == "NONE" and facts.exception_level is None
    assert facts.policy_engine_arn == ENGINE_ARN and facts.policy_engine_mode == "ENFORCE"
    assert sorted(facts.lambda_target_arns) == sorted(lambdas) and facts.targets_read
    # moto has no policy engines: those reads fail, are named, and the rest went on.
    assert facts.engine_status is None and facts.policies_active is None
    assert [e.split(":")[0] for e in facts.read_errors] == ["GetPolicyEngine", "ListPolicies"]
    assert all("NotImplemented" in e for e in facts.read_errors)


def test_describe_gateway_with_readable_engine_counts_policies():
    from botocore.stub import Stubber

    role = make_role()
    gw = make_gateway(role, mode="LOG_ONLY")
    session = boto3.Session()
    control = session.client("bedrock-agentcore-control", region_name=REGION)
    stub = Stubber(control)
    stub.add_response(
        "get_gateway",
        {
            "gatewayArn": gw.gateway_arn,
            "gatewayId": gw.gateway_id,
            "gatewayUrl": "https://x",
            "name": "refunds",
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "status": "READY",
            "roleArn": role,
            "protocolType": "MCP",
            "authorizerType": "CUSTOM_JWT",
            "exceptionLevel": "DEBUG",
            "policyEngineConfiguration": {"arn": ENGINE_ARN, "mode": "LOG_ONLY"},
        },
        {"gatewayIdentifier": gw.gateway_id},
    )
    engine_id = ENGINE_ARN.rsplit("/", 1)[-1]
    stub.add_response(
        "get_policy_engine",
        {
            "policyEngineId": engine_id,
            "name": "e",
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "policyEngineArn": ENGINE_ARN,
            "status": "ACTIVE",
            "statusReasons": [],
        },
        {"policyEngineId": engine_id},
    )
    policy = {
        "policyEngineId": engine_id,
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "policyArn": ENGINE_ARN + "/policy/p1-abcdefghij",
        "definition": {"cedar": {"statement": "permit(principal, action, resource);"}},
        "statusReasons": [],
    }
    stub.add_response(
        "list_policies",
        {
            "policies": [
                {**policy, "policyId": "p1-abcdefghij", "name": "a", "status": "ACTIVE"},
                {**policy, "policyId": "p2-abcdefghij", "name": "b", "status": "CREATE_FAILED"},
            ]
        },
        {"policyEngineId": engine_id},
    )
    stub.add_response("list_gateway_targets", {"items": []}, {"gatewayIdentifier": gw.gateway_id})
    with stub:
        facts = describe_gateway(
            gateway_id=gw.gateway_id,
            region=REGION,
            session=SessionWith(session, **{"bedrock-agentcore-control": control}),
        )
    stub.assert_no_pending_responses()
    assert facts.read_errors == []
    assert (facts.engine_status, facts.policies_total, facts.policies_active) == ("ACTIVE", 2, 1)
    assert facts.policy_statuses == {"ACTIVE": 1, "CREATE_FAILED": 1}
    assert (facts.authorizer_type, facts.exception_level) == ("CUSTOM_JWT", "DEBUG")


def test_missing_gateway_is_an_access_or_usage_error():
    result = check_gateway(gateway_id="nope-abcdef1234", region=REGION, session=boto3.Session())
    data = result.to_dict()
    assert result.exit_code == 2 and data["verdict"] == "unknown" and data["gateway_arn"] is None
    assert data["errors"][0].startswith("GetGateway: ResourceNotFoundException")
    assert data["manual_check"][0].startswith(
        "aws bedrock-agentcore-control get-gateway --gateway-identifier nope-abcdef1234"
    )


def test_no_credentials_never_raises(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # belt and braces: nothing leaves the host
    result = check_gateway(gateway_id="gw-abcdef1234", region=REGION, session=boto3.Session())
    assert result.verdict == "unknown" and result.exit_code == 2
    assert result.errors == ["GetGateway: NoCredentialsError: Unable to locate credentials"]
    assert result.to_dict()["manual_check"]


def test_unknown_profile_is_reported_not_raised():
    result = check_gateway(gateway_id="gw-abcdef1234", region=REGION, profile="no-such-profile")
    assert result.exit_code == 2
    assert result.errors[0].startswith("session: ProfileNotFound")


def test_no_policy_engine_needs_nothing():
    gw = make_gateway(make_role(), engine_arn=None)
    result, data = run(gw)
    assert data["verdict"] == "ok" and data["decisions"] == [] and result.exit_code == 0
    assert any("no policy engine is attached" in n for n in data["notes"])


def test_lambda_targets_are_reported_separately():
    f1 = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:granted"
    f2 = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:forgotten"
    role = make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"), allow("lambda:InvokeFunction", f1))})
    gw = make_gateway(role, lambda_arns=(f1, f2))
    result, data = run(gw)
    assert data["verdict"] == "ok"  # the verdict is about policy evaluation ...
    assert result.exit_code == data["exit_code"] == 6  # ... the exit code says a target cannot be invoked
    assert data["lambda_uninvokable"] == [f2]
    verdict_line = next(line for line in render_iam_check(data).splitlines() if line.startswith("verdict:"))
    assert "1 Lambda target cannot be invoked" in verdict_line
    assert {(d["resource"], d["decision"]) for d in data["lambda"]} == {(f1, "allowed"), (f2, "implicit_deny")}
    assert [d["resource"] for d in data["lambda_missing"]] == [f2]
    lambda_statements = [s for s in data["remediation_policy"]["Statement"] if s["Sid"] == "InvokeLambdaTargets"]
    assert lambda_statements == [
        {"Sid": "InvokeLambdaTargets", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [f2]}
    ]


def test_parse_gateway_url():
    assert parse_gateway_url("https://refunds-abc1234567.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp") == (
        "refunds-abc1234567",
        "us-west-2",
    )
    assert parse_gateway_url("https://x-abc1234567.gateway.bedrock-agentcore.eu-central-1.amazonaws.com") == (
        "x-abc1234567",
        "eu-central-1",
    )
    assert parse_gateway_url("http://127.0.0.1:8080/mcp") is None
    assert parse_gateway_url("https://x.gateway.bedrock-agentcore.amazonaws.com/mcp") is None
    assert parse_gateway_url("https://evil.com/x.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp") is None


def test_describe_error_is_one_safe_line():
    from botocore.exceptions import ClientError

    html = ClientError(
        {
            "Error": {"Code": "500", "Message": "<!doctype html>\n<html>boom</html>"},
            "ResponseMetadata": {"HTTPStatusCode": 500},
        },
        "GetPolicyEngine",
    )
    assert describe_error("GetPolicyEngine", html) == "GetPolicyEngine: HTTP500: HTTP 500 with a non-AWS (HTML) body"
    leaky = ClientError(
        {"Error": {"Code": "InvalidClientTokenId", "Message": "key AKIAABCDEFGHIJKLMNOP\nis bad"}}, "GetGateway"
    )
    line = describe_error("GetGateway", leaky)
    assert "AKIAABCDEFGHIJKLMNOP" not in line and "\n" not in line


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_check_json(capsys):
    gw = gateway_with()
    put_inline(gw, "console-default", console_default(gw.gateway_id[:4]))
    code = main(["iam", "check", "--gateway-id", gw.gateway_id, "--region", REGION, "--format", "json"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 3 and data["verdict"] == "missing_permissions"
    for key in (
        "gateway_arn",
        "role_arn",
        "policy_engine_arn",
        "policy_engine_mode",
        "method",
        "verdict",
        "missing",
        "decisions",
        "remediation_policy",
        "errors",
        "manual_check",
        "lambda",
        "gateway_id",
        "region",
    ):
        assert key in data
    assert "testing" not in out  # the fake secret key never shows


def test_cli_check_text_from_url(capsys):
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    url = f"https://{gw.gateway_id}.gateway.bedrock-agentcore.{REGION}.amazonaws.com/mcp"
    code = main(["iam", "check", url, "--no-color"])
    out = capsys.readouterr().out
    assert code == 0
    assert "verdict: OK" in out and gw.gateway_arn in out and "\033[" not in out


def test_cli_text_names_missing_permissions_and_the_command(capsys):
    gw = gateway_with()
    code = main(["iam", "check", "--gateway-id", gw.gateway_id, "--region", REGION])
    out = capsys.readouterr().out
    assert code == 3
    assert f"x  {PARTIAL} on {ENGINE_ARN}" in out
    assert (
        f"aws iam put-role-policy --role-name {gw.role_name} --policy-name AgentCoreProbe-PolicyEvaluation-"
        f"{gw.gateway_id} --policy-document file://agentcore-probe-policy.json"
    ) in out
    assert '"Sid": "EvaluatePoliciesForGateway"' in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["iam", "check"], "name the gateway"),
        (["iam", "check", "https://example.com/mcp"], "cannot read a gateway id and region"),
        (["iam", "check", "--gateway-id", "gw-abcdef1234", "--region", "mars"], "is not an AWS region"),
        (["iam", "fix", "--region", REGION], "name the gateway"),
    ],
)
def test_cli_usage_errors_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and needle in captured.err


def test_text_renderer_does_not_import_boto3():
    import subprocess
    import sys

    code = "import sys, probe.report.iam_text; sys.exit('boto3' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- a remediation is offered only where it would work --------------------------------------

BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/gateway-role-boundary"


def test_boundary_plus_missing_identity_permissions_offline():
    """The identity lacks every pair and the boundary allows only Get*: the pairs are implicit
    denies (identity decides first), but four of them are outside the boundary too, and the check
    says so instead of offering a policy that could not work."""
    gw = gateway_with(
        inline={"console": doc(allow("bedrock-agentcore:GetGateway", "*"))},
        boundary=doc(allow("bedrock-agentcore:Get*", "*")),
    )
    result, data = run(gw)
    assert data["method"] == "offline" and result.exit_code == 3
    assert missing_set(data) == {(a, r, "implicit_deny") for a, r in all_pairs(gw.gateway_arn)}
    also = {(m["action"], m["resource"]): m.get("also_blocked_by") for m in data["missing"]}
    assert also.pop((GET_ENGINE, ENGINE_ARN)) is None  # Get* is inside the boundary
    assert set(also.values()) == {"boundary"}
    engine_note = next(d["note"] for d in data["decisions"] if d["action"] == AUTH and d["resource"] == ENGINE_ARN)
    assert "the permissions boundary 'gateway-role-boundary' does not allow it either" in engine_note

    assert data["remediation_policy"] is None and data["remediation_command"] is None
    assert data["remediation_policy_name"] is None
    assert {(b["action"], b["resource"], b["reason"]) for b in data["remediation_blocked"]} == {
        (a, r, "boundary") for a in (AUTH, PARTIAL) for r in (gw.gateway_arn, ENGINE_ARN)
    }
    assert f"outside the permissions boundary 'gateway-role-boundary' ({BOUNDARY_ARN})" in data["remediation_refusal"]
    [change] = data["remediation_changes"]
    assert change.startswith(f"widen the permissions boundary 'gateway-role-boundary' ({BOUNDARY_ARN}) to allow")

    out = render_iam_check(data)
    assert "No inline policy can fix this:" in out and "What to change instead:" in out
    assert "does not allow it either" in out
    assert "put-role-policy" not in out and "iam fix" not in out and "Remediation:" not in out


def test_explicit_deny_check_shows_the_refusal_not_a_fix():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    put_inline(gw, "no-authorize-engine", doc(deny(AUTH, ENGINE_ARN, Sid="NoEngineAuthorize")))
    _, data = run(gw)
    assert data["remediation_policy"] is None
    assert data["remediation_changes"] == [
        "remove or narrow the Deny in inline policy 'no-authorize-engine' statement 'NoEngineAuthorize' so that it "
        f"no longer matches: {AUTH} on {ENGINE_ARN}"
    ]
    out = render_iam_check(data)
    assert "No inline policy can fix this:" in out and "put-role-policy" not in out and "--apply" not in out


def test_service_linked_role_check_shows_the_refusal_not_a_fix():
    role = make_role("AWSServiceRoleForBedrockAgentCore", path="/aws-service-role/bedrock-agentcore.amazonaws.com/")
    gw = make_gateway(role)
    _, data = run(gw)
    assert data["verdict"] == "missing_permissions" and data["role_service_linked"] is True
    assert data["remediation_policy"] is None and "service-linked" in data["remediation_refusal"]
    [change] = data["remediation_changes"]
    assert "Gateway side" in change and f"update-gateway --gateway-identifier {gw.gateway_id} --role-arn" in change
    out = render_iam_check(data)
    assert "No inline policy can fix this:" in out and "put-role-policy" not in out and "--apply" not in out


def test_unsettled_deny_check_refuses_and_points_at_the_statement():
    tls = deny("*", "*", Sid="TlsOnly", Condition={"Bool": {"aws:SecureTransport": "false"}})
    gw = gateway_with(inline={"tls-only": doc(tls)})
    result, data = run(gw)
    assert data["verdict"] == "unknown" and result.exit_code == 4
    assert data["remediation_policy"] is None
    assert {(b["reason"], tuple(b["blocked_by"])) for b in data["remediation_blocked"]} == {
        ("unsettled", ("inline policy 'tls-only' statement 'TlsOnly'",))
    }
    assert "settle the condition of inline policy 'tls-only' statement 'TlsOnly'" in data["remediation_changes"][0]


def test_blocked_lambda_is_left_out_of_an_offered_policy():
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:refund"
    gw = make_gateway(make_role(inline={"guard": doc(deny("lambda:*", "*"))}), lambda_arns=(fn,))
    _, data = run(gw)
    assert data["remediation_refusal"] is None
    assert [s["Sid"] for s in data["remediation_policy"]["Statement"]] == [
        "EvaluatePoliciesForGateway",
        "GetPolicyEngineForValidation",
    ]
    assert [(b["resource"], b["kind"], b["reason"]) for b in data["remediation_blocked"]] == [
        (fn, "lambda", "explicit_deny")
    ]
    out = render_iam_check(data)
    assert "put-role-policy" in out and "Not granted" in out and f"lambda:InvokeFunction on {fn}" in out


# --- what the check does not cover, when it passes --------------------------------------------


def test_ok_verdict_notes_what_the_check_does_not_cover():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    _, data = run(gw)
    assert data["verdict"] == "ok"
    [note] = [n for n in data["notes"] if "does not cover" in n]
    assert "retry in a minute" in note and "SCPs, RCPs" in note and "KMS" in note
    assert "status could not be read" in note  # moto has no policy engines


def test_missing_verdict_has_no_coverage_note():
    _, data = run(gateway_with())
    assert data["verdict"] == "missing_permissions"
    assert not any("does not cover" in n for n in data["notes"])


def test_no_engine_has_no_coverage_note():
    _, data = run(make_gateway(make_role(), engine_arn=None))
    assert not any("does not cover" in n for n in data["notes"])


def test_coverage_note_names_the_engine_key_and_status():
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    facts = GatewayFacts("g", REGION, policy_engine_arn=ENGINE_ARN, engine_status="UPDATING", engine_kms_key_arn=key)
    note = not_covered_note(facts, "simulate")
    assert f"customer-managed KMS key {key}" in note
    assert "status is UPDATING, not ACTIVE" in note
    assert "RCPs" in note and "not evaluated offline" not in note
    quiet = not_covered_note(GatewayFacts("g", REGION, policy_engine_arn=ENGINE_ARN, engine_status="ACTIVE"), "offline")
    assert "KMS" not in quiet and "ACTIVE" not in quiet and "not evaluated offline" in quiet


# --- checking by hand reproduces the probe's verdict ------------------------------------------


def context_of(command: str) -> dict:
    entries = json.loads(command.split("--context-entries ", 1)[1].split("'")[1])
    return {e["ContextKeyName"]: e["ContextKeyValues"] for e in entries}


def test_manual_simulations_carry_the_assumed_context():
    gw = gateway_with(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    _, data = run(gw)
    simulations = [c for c in data["manual_check"] if "simulate-principal-policy" in c]
    assert len(simulations) == 2
    expected = {k: [v] for k, v in data["assumed_context"].items()}
    assert expected == {
        "aws:PrincipalArn": [gw.role_arn],
        "aws:PrincipalAccount": [ACCOUNT],
        "aws:RequestedRegion": [REGION],
    }
    assert all(context_of(c) == expected for c in simulations)


def test_manual_context_uses_the_gateway_arn_region_and_placeholders():
    west = f"arn:aws:bedrock-agentcore:us-west-2:{ACCOUNT}:gateway/g-abc1234567"
    cmds = manual_check_commands(
        gateway_id="g-abc1234567",
        region=REGION,
        profile=None,
        gateway_arn=west,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/with,comma",
        engine_arn=ENGINE_ARN.replace(REGION, "us-west-2"),
    )
    [sim, _] = [c for c in cmds if "simulate-principal-policy" in c]
    assert context_of(sim)["aws:RequestedRegion"] == ["us-west-2"]
    assert context_of(sim)["aws:PrincipalArn"] == [f"arn:aws:iam::{ACCOUNT}:role/with,comma"]
    assert any("get-policy-engine" in c and c.endswith("--region us-west-2") for c in cmds)
    unknown = manual_check_commands(
        gateway_id="g-abc1234567", region=REGION, profile=None, gateway_arn=None, role_arn=None, engine_arn=None
    )
    sim = next(c for c in unknown if "simulate-principal-policy" in c)
    assert context_of(sim) == {
        "aws:PrincipalArn": ["<roleArn from get-gateway>"],
        "aws:PrincipalAccount": ["<account of the role>"],
        "aws:RequestedRegion": [REGION],
    }
    assert "--policy-source-arn <roleArn from get-gateway>" in sim


def test_check_assumes_the_region_of_the_gateway_arn():
    """The role's calls happen where the gateway is, whatever region the caller's client names."""
    from botocore.stub import Stubber

    role = make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"))})
    west = f"arn:aws:bedrock-agentcore:us-west-2:{ACCOUNT}:gateway/g-abc1234567"
    session = boto3.Session()
    control = session.client("bedrock-agentcore-control", region_name=REGION)
    stub = Stubber(control)
    stub.add_response(
        "get_gateway",
        {
            "gatewayArn": west,
            "gatewayId": "g-abc1234567",
            "gatewayUrl": "https://x",
            "name": "g",
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "status": "READY",
            "roleArn": role,
            "protocolType": "MCP",
            "authorizerType": "NONE",
        },
        {"gatewayIdentifier": "g-abc1234567"},
    )
    stub.add_response("list_gateway_targets", {"items": []}, {"gatewayIdentifier": "g-abc1234567"})
    with stub:
        result = check_gateway(
            gateway_id="g-abc1234567",
            region=REGION,
            session=SessionWith(session, **{"bedrock-agentcore-control": control}),
        )
    assert result.context["aws:RequestedRegion"] == "us-west-2"
