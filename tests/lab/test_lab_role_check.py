"""The lab's role check: roles written with boto3 into moto, judged with moto's own matcher."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from probe.lab.conditions import condition_holds, gateway_request_context
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


def test_undecidable_conditions_are_not_assumed_to_hold(iam: Any) -> None:
    """A key the lab cannot know (aws:SourceIp, aws:SourceAccount): an Allow grants nothing, a Deny applies."""
    conditional_allow = {**REMEDIATION[1], "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
    arn = make_role(iam, REMEDIATION[0], conditional_allow)
    assert missing_for_gateway(gateway(arn)) == [(GET_POLICY_ENGINE, ENGINE_ARN)]
    iam.put_role_policy(RoleName="gw-role", PolicyName="grant", PolicyDocument=doc(REMEDIATION[1]))
    assert missing_for_gateway(gateway(arn)) == []
    conditional_deny = {"Effect": "Deny", "Action": "bedrock-agentcore:AuthorizeAction", "Resource": "*",
                        "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}
    iam.put_role_policy(RoleName="gw-role", PolicyName="deny", PolicyDocument=doc(conditional_deny))
    assert {a for a, _ in missing_for_gateway(gateway(arn))} == {AUTHORIZE_ACTION}


IN_REGION = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}


def test_region_condition_is_decided_with_the_gateways_region(iam: Any) -> None:
    """The reviewer's case: bedrock-agentcore:* only in us-east-1 is enough for a us-east-1 gateway."""
    arn = make_role(iam, {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*",
                          "Condition": IN_REGION})
    assert missing_for_gateway(gateway(arn)) == []
    iam.put_role_policy(RoleName="gw-role", PolicyName="inline", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}}))
    assert set(missing_for_gateway(gateway(arn))) == set(required_pairs(gateway(arn)))
    # the region is the gateway's own: the same role judged for a gateway in eu-west-1 passes
    eu_gateway = Gateway(GW_ID, "refunds", arn, policy_engine_mode="ENFORCE",
                         policy_engine_arn=policy_engine_arn("pe-main0001", region="eu-west-1"))
    assert role_allows(arn, GET_POLICY_ENGINE, eu_gateway.policy_engine_arn)
    assert not role_allows(arn, GET_POLICY_ENGINE, ENGINE_ARN)


def test_guard_denies_apply_only_when_their_condition_holds(iam: Any) -> None:
    """The usual region guard (Deny outside the allowed regions) must not break an in-region gateway."""
    guard = {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}}}
    arn = make_role(iam, *REMEDIATION, guard)
    assert missing_for_gateway(gateway(arn)) == []
    iam.put_role_policy(RoleName="gw-role", PolicyName="inline", PolicyDocument=doc(
        *REMEDIATION, {**guard, "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}}))
    assert set(missing_for_gateway(gateway(arn))) == set(required_pairs(gateway(arn)))


def test_principal_conditions_name_the_role_itself(iam: Any) -> None:
    arn = make_role(iam, {**REMEDIATION[0], "Condition": {
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/gw-*"},
        "StringEquals": {"aws:PrincipalAccount": "123456789012"},
        "Bool": {"aws:SecureTransport": "true"}}}, REMEDIATION[1])
    assert missing_for_gateway(gateway(arn)) == []
    iam.put_role_policy(RoleName="gw-role", PolicyName="inline", PolicyDocument=doc(
        {**REMEDIATION[0], "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/other-*"}}},
        REMEDIATION[1]))
    assert {a for a, _ in missing_for_gateway(gateway(arn))} == {AUTHORIZE_ACTION, PARTIALLY_AUTHORIZE_ACTIONS}


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


@pytest.mark.parametrize(("condition", "holds"), [
    ({"StringEquals": {"aws:requestedregion": "us-east-1"}}, True),  # keys are case-insensitive
    ({"StringEquals": {"aws:RequestedRegion": "US-EAST-1"}}, False),  # values are not
    ({"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}}, True),
    ({"StringLike": {"aws:RequestedRegion": "us-*-?"}}, True),
    ({"StringNotLike": {"aws:RequestedRegion": ["eu-*", "ap-*"]}}, True),
    ({"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}, True),
    ({"ForAnyValue:StringEquals": {"aws:RequestedRegion": ["us-east-1", "us-west-2"]}}, True),
    ({"Null": {"aws:RequestedRegion": "true"}}, False),
    ({"Null": {"aws:RequestedRegion": "false"}}, True),
    ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/gw-role"}}, True),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"},
      "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, False),  # operators are ANDed
    ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, None),  # undecidable
    ({"StringEquals": {"aws:RequestedRegion": "${aws:PrincipalTag/region}"}}, None),
    ({"StringEquals": {"aws:RequestedRegion": "eu-west-1", "aws:SourceVpc": "vpc-1"}}, False),  # False wins
])
def test_condition_semantics(condition: dict[str, Any], holds: bool | None) -> None:
    context = gateway_request_context("arn:aws:iam::123456789012:role/gw-role", "us-east-1")
    assert condition_holds(condition, context) is holds


def test_documents_allow_is_pure() -> None:
    identity = [doc(*REMEDIATION)]
    assert documents_allow(identity, AUTHORIZE_ACTION, GW_ARN)
    assert not documents_allow(identity, AUTHORIZE_ACTION, GW_ARN, boundary=[])
    assert not documents_allow(["not json"], AUTHORIZE_ACTION, GW_ARN)
    assert not documents_allow([{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}, *identity],
                               AUTHORIZE_ACTION, GW_ARN)
