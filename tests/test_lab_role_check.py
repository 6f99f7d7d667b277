"""The lab's role check: roles written with boto3 into moto, judged with moto's own matcher."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from probe.lab.role_check import (
    AUTHORIZE_ACTION,
    GET_POLICY_ENGINE,
    PARTIALLY_AUTHORIZE_ACTIONS,
    documents_allow,
    missing_for_gateway,
    required_pairs,
    role_allows,
)
from probe.lab.state import Gateway, gateway_arn, policy_engine_arn

GW_ID = "gw-refunds01"
GW_ARN = gateway_arn(GW_ID)
ENGINE_ARN = policy_engine_arn("pe-main0001")
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
REMEDIATION = [
    {"Sid": "EvaluatePoliciesForGateway", "Effect": "Allow",
     "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
     "Resource": [GW_ARN, ENGINE_ARN]},
    {"Sid": "GetPolicyEngineForValidation", "Effect": "Allow", "Action": "bedrock-agentcore:GetPolicyEngine",
     "Resource": ENGINE_ARN},
]


@pytest.fixture
def iam() -> Iterator[Any]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        yield boto3.client("iam", region_name="us-east-1")
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def make_role(iam: Any, *statements: dict[str, Any], name: str = "gw-role") -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc(*statements))
    return arn


def gateway(role_arn: str, engine: str | None = ENGINE_ARN) -> Gateway:
    return Gateway(GW_ID, "refunds", role_arn, policy_engine_arn=engine, policy_engine_mode="ENFORCE")


CONSOLE_DEFAULT = {"Effect": "Allow", "Action": "bedrock-agentcore:GetGateway",
                   "Resource": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/gw-*"}


def test_required_pairs_follow_the_reference() -> None:
    g = gateway("arn:aws:iam::123456789012:role/x")
    assert set(required_pairs(g)) == {
        (AUTHORIZE_ACTION, GW_ARN), (AUTHORIZE_ACTION, ENGINE_ARN),
        (PARTIALLY_AUTHORIZE_ACTIONS, GW_ARN), (PARTIALLY_AUTHORIZE_ACTIONS, ENGINE_ARN),
        (GET_POLICY_ENGINE, ENGINE_ARN)}
    assert required_pairs(gateway("arn:aws:iam::123456789012:role/x", engine=None)) == []


def test_incident_role_misses_everything_until_remediated(iam: Any) -> None:
    arn = make_role(iam, CONSOLE_DEFAULT)
    g = gateway(arn)
    assert set(missing_for_gateway(g)) == set(required_pairs(g))
    assert role_allows(arn, "bedrock-agentcore:GetGateway", GW_ARN)
    iam.put_role_policy(RoleName="gw-role", PolicyName="fix", PolicyDocument=doc(*REMEDIATION))
    assert missing_for_gateway(g) == []


def test_service_wildcard_and_case_insensitive_actions(iam: Any) -> None:
    arn = make_role(iam, {"Effect": "Allow", "Action": "Bedrock-AgentCore:*", "Resource": "*"})
    assert missing_for_gateway(gateway(arn)) == []
    assert role_allows(arn, "BEDROCK-AGENTCORE:getpolicyengine", ENGINE_ARN)
    assert not role_allows(arn, "s3:GetObject", "arn:aws:s3:::b/k")


def test_resource_wildcards_must_cover_both_arns(iam: Any) -> None:
    arn = make_role(iam, {"Effect": "Allow", "Action": "bedrock-agentcore:*",
                          "Resource": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/*"})
    assert set(missing_for_gateway(gateway(arn))) == {
        (AUTHORIZE_ACTION, ENGINE_ARN), (PARTIALLY_AUTHORIZE_ACTIONS, ENGINE_ARN), (GET_POLICY_ENGINE, ENGINE_ARN)}


def test_explicit_deny_in_a_managed_policy_wins(iam: Any) -> None:
    arn = make_role(iam, *REMEDIATION)
    deny = iam.create_policy(PolicyName="no-engine-reads", PolicyDocument=doc(
        {"Effect": "Deny", "Action": "bedrock-agentcore:Get*", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="gw-role", PolicyArn=deny)
    assert missing_for_gateway(gateway(arn)) == [(GET_POLICY_ENGINE, ENGINE_ARN)]


def test_attached_managed_policy_grants(iam: Any) -> None:
    arn = make_role(iam)
    grant = iam.create_policy(PolicyName="grant", PolicyDocument=doc(*REMEDIATION))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="gw-role", PolicyArn=grant)
    assert missing_for_gateway(gateway(arn)) == []


def test_not_action_and_not_resource(iam: Any) -> None:
    arn = make_role(
        iam,
        {"Effect": "Allow", "NotAction": "bedrock-agentcore:GetPolicyEngine", "Resource": "*"},
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetPolicyEngine", "NotResource": ENGINE_ARN},
    )
    assert missing_for_gateway(gateway(arn)) == [(GET_POLICY_ENGINE, ENGINE_ARN)]
    assert role_allows(arn, GET_POLICY_ENGINE, policy_engine_arn("pe-other"))


def test_conditions_are_not_assumed_to_hold(iam: Any) -> None:
    conditional_allow = {**REMEDIATION[1], "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
    arn = make_role(iam, REMEDIATION[0], conditional_allow)
    assert missing_for_gateway(gateway(arn)) == [(GET_POLICY_ENGINE, ENGINE_ARN)]
    iam.put_role_policy(RoleName="gw-role", PolicyName="grant", PolicyDocument=doc(REMEDIATION[1]))
    assert missing_for_gateway(gateway(arn)) == []
    conditional_deny = {"Effect": "Deny", "Action": "bedrock-agentcore:AuthorizeAction", "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    iam.put_role_policy(RoleName="gw-role", PolicyName="deny", PolicyDocument=doc(conditional_deny))
    assert {a for a, _ in missing_for_gateway(gateway(arn))} == {AUTHORIZE_ACTION}


def test_permissions_boundary_limits_the_role(iam: Any) -> None:
    arn = make_role(iam, {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"})
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:GetPolicyEngine"],
         "Resource": "*"}))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="gw-role", PermissionsBoundary=boundary)
    assert {a for a, _ in missing_for_gateway(gateway(arn))} == {PARTIALLY_AUTHORIZE_ACTIONS}
    iam.delete_role_permissions_boundary(RoleName="gw-role")
    assert missing_for_gateway(gateway(arn)) == []


def test_unknown_role_allows_nothing(iam: Any) -> None:
    g = gateway("arn:aws:iam::123456789012:role/never-created")
    assert set(missing_for_gateway(g)) == set(required_pairs(g))


def test_documents_allow_is_pure() -> None:
    identity = [doc(*REMEDIATION)]
    assert documents_allow(identity, AUTHORIZE_ACTION, GW_ARN)
    assert not documents_allow(identity, AUTHORIZE_ACTION, GW_ARN, boundary=[])
    assert not documents_allow(["not json"], AUTHORIZE_ACTION, GW_ARN)
    assert not documents_allow([{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}, *identity],
                               AUTHORIZE_ACTION, GW_ARN)
