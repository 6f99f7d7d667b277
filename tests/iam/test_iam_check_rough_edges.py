"""`iam check` as a newcomer and an operator meet it (issue 13, items 13-17 and 23), through moto and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from probe.cli import main
from probe.iam.check import check_gateway
from tests.iam.support import ACCOUNT, REGION, allow, doc, make_gateway, make_role, refuse

pytestmark = pytest.mark.usefixtures("moto")

EVERYTHING_ELSE = allow(["bedrock-agentcore:GetPolicyEngine", "bedrock-agentcore:*"], "*")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["iam", *argv, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else None, captured.err


def check(gw: Any, session: boto3.Session | None = None) -> dict[str, Any]:
    return check_gateway(gateway_id=gw.gateway_id, region=REGION, session=session).to_dict()


# ----------------------------------------------------------------------------- items 13-16 end to end


def test_variables_before_the_fifth_colon_are_missing_permissions():
    pattern = "arn:aws:bedrock-agentcore:${aws:RequestedRegion}:${aws:PrincipalAccount}:*"
    gw = make_gateway(make_role(inline={"templated": doc(allow("bedrock-agentcore:*", pattern))}))
    data = check(gw)
    assert data["method"] == "offline"
    assert data["verdict"] == "missing_permissions" and data["exit_code"] == 3
    assert len(data["missing"]) == 5


def test_a_star_that_does_not_end_its_segment_does_not_match_across_colons():
    gw = make_gateway(make_role(inline={"p": doc(allow("bedrock-agentcore:*", "arn:aws:bedrock-agentcore:us-*1:*/*"))}))
    assert check(gw)["verdict"] == "missing_permissions"


def test_unsettled_identity_under_a_refusing_boundary_is_missing_not_unknown():
    from_office = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    role = make_role(
        inline={"office": doc(allow("bedrock-agentcore:*", "*", Sid="FromOffice", Condition=from_office))},
        boundary=doc(allow("bedrock-agentcore:GetGateway", "*")),
    )
    data = check(make_gateway(role))
    assert data["verdict"] == "missing_permissions" and data["exit_code"] == 3
    assert {m["reason"] for m in data["missing"]} == {"boundary"}
    assert data["remediation_policy"] is None  # an Allow cannot lift a boundary
    assert "outside the permissions boundary 'gateway-role-boundary'" in data["remediation_refusal"]


def test_role_tags_are_context():
    team = {"StringEquals": {"aws:PrincipalTag/team": "refunds"}}
    role = make_role(inline={"team": doc(allow("bedrock-agentcore:*", "*", Condition=team))})
    boto3.client("iam").tag_role(RoleName="gateway-role", Tags=[{"Key": "team", "Value": "refunds"}])
    data = check(make_gateway(role))
    assert data["verdict"] == "ok" and data["exit_code"] == 0
    assert data["tags"]["role"] == {"team": "refunds"}
    assert data["assumed_context"]["aws:PrincipalTag/team"] == "refunds"
    simulations = [c for c in data["manual_check"] if "simulate-principal-policy" in c]
    assert simulations and all('"ContextKeyName":"aws:PrincipalTag/team"' in c for c in simulations)


def test_a_tag_the_role_does_not_carry_is_absent():
    team = {"StringEquals": {"aws:PrincipalTag/team": "refunds"}}
    gw = make_gateway(make_role(inline={"team": doc(allow("bedrock-agentcore:*", "*", Condition=team))}))
    data = check(gw)
    assert data["verdict"] == "missing_permissions"
    assert {m["reason"] for m in data["missing"]} == {"implicit_deny"}


def test_gateway_tags_are_context_for_the_gateway_pairs_only():
    prod = {"StringEquals": {"aws:ResourceTag/env": "prod"}}
    role = make_role(inline={"prod": doc(allow("bedrock-agentcore:*", "*", Condition=prod))})
    gw = make_gateway(role)
    boto3.client("bedrock-agentcore-control", region_name=REGION).tag_resource(
        resourceArn=gw.gateway_arn, tags={"env": "prod"}
    )
    data = check(gw)
    assert data["tags"]["gateway"] == {"env": "prod"} and data["tags"]["policy_engine"] == {}
    assert data["assumed_resource_context"][gw.gateway_arn] == {"aws:ResourceTag/env": "prod"}
    decided = {(d["resource"] == gw.gateway_arn, d["decision"]) for d in data["decisions"]}
    assert decided == {(True, "allowed"), (False, "implicit_deny")}  # the engine is not tagged env=prod


def test_refused_tag_reads_are_error_lines_not_failures():
    prod = {"StringEquals": {"aws:ResourceTag/env": "prod"}}
    role = make_role(inline={"prod": doc(allow("bedrock-agentcore:*", "*", Condition=prod))})
    gw = make_gateway(role)
    session = boto3.Session()
    refuse(session, "ListRoleTags")

    def no_tags(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListTagsForResource")

    session.events.register("before-call.bedrock-agentcore-control.ListTagsForResource", no_tags)
    data = check(gw, session)
    assert data["verdict"] == "unknown" and data["exit_code"] == 4
    assert data["tags"] == {"role": None, "gateway": None, "policy_engine": None}
    errors = "\n".join(data["errors"])
    assert "iam:ListRoleTags: AccessDenied" in errors and "aws:PrincipalTag/* stay undecided" in errors
    assert "ListTagsForResource(gateway): AccessDeniedException" in errors
    assert "ListTagsForResource(policy engine): AccessDeniedException" in errors


# ----------------------------------------------------------------------------- item 17


@pytest.mark.parametrize("command", ["check", "fix"])
def test_no_credentials_is_one_line(capsys, monkeypatch, command):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing leaves the host whatever happens
    code, out, err = run_cli(capsys, command, "--gateway-id", "gw-abcdef1234", "--region", REGION)
    assert (code, out) == (2, None)
    assert err.count("\n") == 1 and "no AWS credentials found" in err


@pytest.mark.parametrize("command", ["check", "fix"])
def test_unknown_profile_is_one_line(capsys, command):
    code, out, err = run_cli(capsys, command, "--gateway-id", "gw-abcdef1234", "--region", REGION, "--profile", "nope")
    assert (code, out) == (2, None)
    assert err.count("\n") == 1 and "AWS profile 'nope' not found" in err


def test_no_region_anywhere_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    code, out, err = run_cli(capsys, "check", "--gateway-id", "gw-abcdef1234")
    assert (code, out) == (2, None)
    assert err.count("\n") == 1 and "no AWS region" in err and "AWS_REGION" in err


def test_aws_region_is_honoured_before_aws_default_region(capsys, monkeypatch):
    gw = make_gateway(make_role(), region="us-west-2")
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # AWS_DEFAULT_REGION says us-east-1
    code, out, _ = run_cli(capsys, "check", "--gateway-id", gw.gateway_id)
    assert out["region"] == "us-west-2" and out["gateway_arn"] == gw.gateway_arn
    assert code == 3


def test_the_profiles_region_is_honoured(capsys, monkeypatch, tmp_path: Path):
    gw = make_gateway(make_role(), region="eu-west-1")
    config = tmp_path / "config"
    config.write_text("[profile lab]\nregion = eu-west-1\n")
    credentials = tmp_path / "credentials"
    credentials.write_text("[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, out, _ = run_cli(capsys, "check", "--gateway-id", gw.gateway_id, "--profile", "lab")
    assert out["region"] == "eu-west-1" and out["gateway_arn"] == gw.gateway_arn and code == 3


def test_the_urls_region_beats_the_environment(capsys, monkeypatch):
    gw = make_gateway(make_role(), region="us-west-2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    url = f"https://{gw.gateway_id}.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp"
    code, out, _ = run_cli(capsys, "check", url)
    assert out["region"] == "us-west-2" and code == 3


# ----------------------------------------------------------------------------- item 23


def test_an_uninvokable_lambda_target_has_its_own_exit_code(capsys):
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:refunds"
    gw = make_gateway(make_role(inline={"full": doc(allow("bedrock-agentcore:*", "*"))}), lambda_arns=(function,))
    code, out, _ = run_cli(capsys, "check", "--gateway-id", gw.gateway_id, "--region", REGION)
    assert out["verdict"] == "ok" and out["lambda_uninvokable"] == [function]
    assert code == out["exit_code"] == 6
    assert main(["iam", "check", "--gateway-id", gw.gateway_id, "--region", REGION]) == 6
    text = capsys.readouterr().out
    assert (
        "verdict: OK: the role has every permission policy evaluation needs; but 1 Lambda target cannot be invoked"
        in (text)
    )


def test_missing_policy_permissions_still_exit_3_with_an_uninvokable_lambda(capsys):
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:refunds"
    gw = make_gateway(make_role(), lambda_arns=(function,))
    code, out, _ = run_cli(capsys, "check", "--gateway-id", gw.gateway_id, "--region", REGION)
    assert out["verdict"] == "missing_permissions" and code == 3
    assert out["lambda_uninvokable"] == [function]


def test_a_granted_lambda_keeps_exit_0(capsys):
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:refunds"
    policy = doc(allow("bedrock-agentcore:*", "*"), allow("lambda:InvokeFunction", function))
    gw = make_gateway(make_role(inline={"full": policy}), lambda_arns=(function,))
    code, out, _ = run_cli(capsys, "check", "--gateway-id", gw.gateway_id, "--region", REGION)
    assert (code, out["verdict"], out["lambda_uninvokable"]) == (0, "ok", [])
