"""The offline IAM evaluator against the incident's roles and AWS's documented logic."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from probe.iam.evaluate import Decision, PolicySource, StatementRef, evaluate

REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}"  # prefix of every AgentCore ARN here
GW = f"{ARN}:gateway/demo-abc123"
PE = f"{ARN}:policy-engine/pe-xyz"
TEAM = "aws:PrincipalTag/team"
TAGS = "aws:TagKeys"

GET_GATEWAY = "bedrock-agentcore:GetGateway"
AUTHORIZE = "bedrock-agentcore:AuthorizeAction"
PARTIAL = "bedrock-agentcore:PartiallyAuthorizeActions"
GET_ENGINE = "bedrock-agentcore:GetPolicyEngine"

# What the gateway needs once a policy engine is attached (the incident's table).
REQUIRED = [(AUTHORIZE, GW), (AUTHORIZE, PE), (PARTIAL, GW), (PARTIAL, PE), (GET_ENGINE, PE)]

CONSOLE_DEFAULT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "GetGateway",
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:GetGateway"],
            "Resource": [f"{ARN}:gateway/demo-*"],
        }
    ],
}

REMEDIATION = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "EvaluatePoliciesForGateway",
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
            "Resource": [GW, PE],
        },
        {
            "Sid": "GetPolicyEngineForValidation",
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:GetPolicyEngine"],
            "Resource": [PE],
        },
    ],
}


def inline(document: Any, name: str = "role-policy") -> PolicySource:
    return PolicySource(kind="inline", name=name, arn=None, document=document)


def managed(document: Any, name: str = "managed-policy") -> PolicySource:
    return PolicySource(kind="managed", name=name, arn=f"arn:aws:iam::{ACCOUNT}:policy/{name}", document=document)


def boundary(document: Any, name: str = "boundary-policy") -> PolicySource:
    return PolicySource(kind="boundary", name=name, arn=f"arn:aws:iam::{ACCOUNT}:policy/{name}", document=document)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


ALLOW_ALL_AGENTCORE = doc(allow("bedrock-agentcore:*", "*"))


# ----------------------------------------------------------------------------- the incident


@pytest.mark.parametrize(("action", "resource"), REQUIRED)
def test_console_default_role_lacks_the_policy_permissions(action: str, resource: str) -> None:
    decision = evaluate(action, resource, [inline(CONSOLE_DEFAULT)])
    assert decision.decision == "implicit_deny"
    assert decision.allowed is False
    assert decision.statements == ()
    assert decision.note


def test_console_default_role_still_allows_get_gateway() -> None:
    decision = evaluate(GET_GATEWAY, GW, [inline(CONSOLE_DEFAULT)])
    assert decision.decision == "allowed"
    assert [s.sid for s in decision.statements] == ["GetGateway"]


@pytest.mark.parametrize(
    ("action", "resource", "sid", "index"),
    [
        (AUTHORIZE, GW, "EvaluatePoliciesForGateway", 0),
        (AUTHORIZE, PE, "EvaluatePoliciesForGateway", 0),
        (PARTIAL, GW, "EvaluatePoliciesForGateway", 0),
        (PARTIAL, PE, "EvaluatePoliciesForGateway", 0),
        (GET_ENGINE, PE, "GetPolicyEngineForValidation", 1),
    ],
)
def test_remediation_policy_allows_every_required_pair(action: str, resource: str, sid: str, index: int) -> None:
    identity = [inline(CONSOLE_DEFAULT), managed(REMEDIATION, "AgentCorePolicyEngineAccess")]
    decision = evaluate(action, resource, identity)
    assert decision.decision == "allowed"
    assert decision.allowed is True
    (ref,) = decision.statements
    assert (ref.sid, ref.index, ref.source_kind, ref.source_name) == (
        sid,
        index,
        "managed",
        "AgentCorePolicyEngineAccess",
    )
    assert ref.source_arn == f"arn:aws:iam::{ACCOUNT}:policy/AgentCorePolicyEngineAccess"


def test_remediation_does_not_grant_get_policy_engine_on_the_gateway() -> None:
    decision = evaluate(GET_ENGINE, GW, [inline(REMEDIATION)])
    assert decision.decision == "implicit_deny"


@pytest.mark.parametrize(("action", "resource"), [*REQUIRED, (GET_GATEWAY, GW)])
def test_service_wildcard_on_everything_allows(action: str, resource: str) -> None:
    assert evaluate(action, resource, [inline(ALLOW_ALL_AGENTCORE)]).decision == "allowed"


def test_service_wildcard_does_not_reach_other_services() -> None:
    assert evaluate("s3:GetObject", "arn:aws:s3:::b/k", [inline(ALLOW_ALL_AGENTCORE)]).decision == "implicit_deny"


def test_no_identity_policies_is_implicit_deny() -> None:
    assert evaluate(AUTHORIZE, GW, []).decision == "implicit_deny"


# ----------------------------------------------------------------------------- deny, Not*, boundary


def test_explicit_deny_beats_allow_and_names_its_source() -> None:
    identity = [
        inline(ALLOW_ALL_AGENTCORE, "allow-all"),
        managed(doc(deny(AUTHORIZE, GW, Sid="NoAuthorize")), "guardrail"),
    ]
    denied = evaluate(AUTHORIZE, GW, identity)
    assert denied.decision == "explicit_deny"
    assert denied.allowed is False
    (ref,) = denied.statements
    assert (ref.effect, ref.sid, ref.source_kind, ref.source_name) == ("Deny", "NoAuthorize", "managed", "guardrail")
    assert "guardrail" in (denied.note or "")
    assert evaluate(PARTIAL, GW, identity).decision == "allowed"
    assert evaluate(AUTHORIZE, PE, identity).decision == "allowed"


def test_explicit_deny_wins_even_when_listed_first_and_in_the_same_document() -> None:
    identity = [inline(doc(deny("bedrock-agentcore:*Authorize*", "*"), allow("*", "*")))]
    assert evaluate(PARTIAL, PE, identity).decision == "explicit_deny"
    assert evaluate(GET_ENGINE, PE, identity).decision == "allowed"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (AUTHORIZE, "allowed"),
        (GET_ENGINE, "allowed"),
        ("iam:CreateRole", "implicit_deny"),
        ("IAM:PassRole", "implicit_deny"),
    ],
)
def test_not_action_in_an_allow(action: str, expected: str) -> None:
    identity = [inline(doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}))]
    assert evaluate(action, GW, identity).decision == expected


@pytest.mark.parametrize(("resource", "expected"), [(GW, "allowed"), (PE, "explicit_deny")])
def test_not_resource_in_a_deny(resource: str, expected: str) -> None:
    only_this_gateway = {"Effect": "Deny", "Action": "bedrock-agentcore:*", "NotResource": [GW]}
    identity = [inline(doc(allow("bedrock-agentcore:*", "*"), only_this_gateway))]
    assert evaluate(AUTHORIZE, resource, identity).decision == expected


def test_boundary_that_allows_only_get_gateway() -> None:
    identity = [inline(ALLOW_ALL_AGENTCORE, "allow-all")]
    fence = boundary(CONSOLE_DEFAULT, "gateway-fence")
    blocked = evaluate(AUTHORIZE, GW, identity, boundary=fence)
    assert blocked.decision == "boundary"
    assert blocked.allowed is False
    assert "gateway-fence" in (blocked.note or "")
    assert [s.source_name for s in blocked.statements] == ["allow-all"]  # the Allow the boundary overrides

    passed = evaluate(GET_GATEWAY, GW, identity, boundary=fence)
    assert passed.decision == "allowed"
    assert [(s.source_kind, s.source_name) for s in passed.statements] == [
        ("inline", "allow-all"),
        ("boundary", "gateway-fence"),
    ]


def test_identity_deny_is_implicit_even_when_the_boundary_also_refuses() -> None:
    decision = evaluate(AUTHORIZE, GW, [inline(CONSOLE_DEFAULT)], boundary=boundary(CONSOLE_DEFAULT, "fence"))
    assert decision.decision == "implicit_deny"
    # The identity policies decide first, but the note says an Allow added to them would not be enough.
    assert decision.note == (
        "no identity policy statement allows this action on this resource; "
        "the permissions boundary 'fence' does not allow it either"
    )


def test_implicit_deny_inside_the_boundary_says_nothing_of_it() -> None:
    decision = evaluate(AUTHORIZE, GW, [inline(CONSOLE_DEFAULT)], boundary=boundary(ALLOW_ALL_AGENTCORE, "fence"))
    assert decision.decision == "implicit_deny"
    assert decision.note == "no identity policy statement allows this action on this resource"


def test_implicit_deny_with_an_unsettled_boundary_says_so() -> None:
    fence = boundary(doc(allow("*", "*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})), "fence")
    decision = evaluate(AUTHORIZE, GW, [inline(CONSOLE_DEFAULT)], boundary=fence)
    assert decision.decision == "implicit_deny"
    assert "whether the permissions boundary 'fence' allows it could not be settled" in (decision.note or "")


def test_deny_inside_the_boundary_is_explicit() -> None:
    fence = boundary(doc(allow("*", "*"), deny(GET_ENGINE, "*", Sid="NoEngines")), "fence")
    decision = evaluate(GET_ENGINE, PE, [inline(ALLOW_ALL_AGENTCORE)], boundary=fence)
    assert decision.decision == "explicit_deny"
    (ref,) = decision.statements
    assert (ref.source_kind, ref.source_name, ref.sid) == ("boundary", "fence", "NoEngines")


def test_boundary_alone_allows_nothing() -> None:
    decision = evaluate(GET_GATEWAY, GW, [], boundary=boundary(doc(allow("*", "*"))))
    assert decision.decision == "implicit_deny"


# ----------------------------------------------------------------------------- wildcards and case


@pytest.mark.parametrize(
    ("pattern_action", "pattern_resource", "action", "resource", "expected"),
    [
        ("bedrock-agentcore:*Authorize*", "*", AUTHORIZE, GW, "allowed"),
        ("bedrock-agentcore:*Authorize*", "*", PARTIAL, PE, "allowed"),
        ("bedrock-agentcore:*Authorize*", "*", GET_ENGINE, PE, "implicit_deny"),
        ("bedrock-agentcore:Get?ateway", "*", GET_GATEWAY, GW, "allowed"),
        ("bedrock-agentcore:Get?Gateway", "*", GET_GATEWAY, GW, "implicit_deny"),
        ("bedrock-agentcore:Get*", "*", "bedrock-agentcore:ListGateways", GW, "implicit_deny"),
        ("*", "*", "anything:AtAll", "whatever", "allowed"),
        (AUTHORIZE, f"arn:aws:bedrock-agentcore:*:{ACCOUNT}:gateway/*", AUTHORIZE, GW, "allowed"),
        (AUTHORIZE, f"arn:aws:bedrock-agentcore:*:{ACCOUNT}:gateway/*", AUTHORIZE, PE, "implicit_deny"),
        (AUTHORIZE, "arn:aws:*", AUTHORIZE, GW, "allowed"),  # * crosses ':' and '/'
        # a * that is not the last character of its segment stays inside it (IAM's documented rule)
        (AUTHORIZE, "arn:aws:bedrock-agentcore:*/demo-abc123", AUTHORIZE, GW, "implicit_deny"),
        (AUTHORIZE, "arn:aws:bedrock-agentcore:*:gateway/demo-abc123", AUTHORIZE, GW, "allowed"),
        (AUTHORIZE, f"arn:aws:bedrock-agentcore:us-east-?:{ACCOUNT}:gateway/demo-abc123", AUTHORIZE, GW, "allowed"),
        (AUTHORIZE, f"{ARN}:gateway/demo-abc12?", AUTHORIZE, GW, "allowed"),
        (AUTHORIZE, f"{ARN}:gateway/demo-abc1?", AUTHORIZE, GW, "implicit_deny"),
        (AUTHORIZE, f"{ARN}:gateway/demo-abc12", AUTHORIZE, GW, "implicit_deny"),
        (AUTHORIZE, f"{ARN}:*", AUTHORIZE, PE, "allowed"),
        # wrong region, wrong account, wrong gateway-name prefix
        (
            AUTHORIZE,
            f"arn:aws:bedrock-agentcore:us-west-2:{ACCOUNT}:gateway/demo-abc123",
            AUTHORIZE,
            GW,
            "implicit_deny",
        ),
        (AUTHORIZE, "arn:aws:bedrock-agentcore:us-east-1:210987654321:gateway/*", AUTHORIZE, GW, "implicit_deny"),
        (AUTHORIZE, f"{ARN}:gateway/other-*", AUTHORIZE, GW, "implicit_deny"),
        # action names are case-insensitive, ARNs are not
        (AUTHORIZE, GW, "BEDROCK-AGENTCORE:authorizeaction", GW, "allowed"),
        ("Bedrock-AgentCore:AUTHORIZE*", GW, AUTHORIZE, GW, "allowed"),
        (AUTHORIZE, f"{ARN}:Gateway/demo-abc123", AUTHORIZE, GW, "implicit_deny"),
        (AUTHORIZE, f"{ARN}:gateway/DEMO-*", AUTHORIZE, GW, "implicit_deny"),
    ],
)
def test_action_and_resource_matching(
    pattern_action: str, pattern_resource: str, action: str, resource: str, expected: str
) -> None:
    decision = evaluate(action, resource, [inline(doc(allow(pattern_action, pattern_resource)))])
    assert decision.decision == expected


def test_regex_metacharacters_in_patterns_are_literal() -> None:
    identity = [inline(doc(allow(AUTHORIZE, "arn:aws:s3:::bucket.name/(a)+[b]")))]
    assert evaluate(AUTHORIZE, "arn:aws:s3:::bucket.name/(a)+[b]", identity).decision == "allowed"
    assert evaluate(AUTHORIZE, "arn:aws:s3:::bucketXname/(a)+[b]", identity).decision == "implicit_deny"


# ----------------------------------------------------------------------------- conditions


CONDITION_CASES: list[tuple[str, Any, dict[str, Any] | None, str]] = [
    # (id, Condition block, context, expected decision for an Allow of AUTHORIZE on GW)
    ("settled-true", {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}, {"aws:ResourceAccount": ACCOUNT}, "allowed"),
    (
        "settled-false",
        {"StringEquals": {"aws:ResourceAccount": ACCOUNT}},
        {"aws:ResourceAccount": "999"},
        "implicit_deny",
    ),
    ("unsettled-no-context", {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}, None, "unknown"),
    ("unsettled-other-key", {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}, {"aws:SourceVpc": "v"}, "unknown"),
    (
        "key-case-insensitive",
        {"StringEquals": {"AWS:ResourceAccount": ACCOUNT}},
        {"aws:resourceaccount": ACCOUNT},
        "allowed",
    ),
    ("value-case-sensitive", {"StringEquals": {TEAM: "Demo"}}, {TEAM: "demo"}, "implicit_deny"),
    ("ignore-case", {"StringEqualsIgnoreCase": {TEAM: "Demo"}}, {TEAM: "demo"}, "allowed"),
    ("not-equals-ignore-case", {"StringNotEqualsIgnoreCase": {TEAM: "Demo"}}, {TEAM: "DEMO"}, "implicit_deny"),
    ("values-or", {"StringEquals": {TEAM: ["a", "b"]}}, {TEAM: "b"}, "allowed"),
    ("negated-values-nor", {"StringNotEquals": {TEAM: ["a", "b"]}}, {TEAM: "b"}, "implicit_deny"),
    ("negated-true", {"StringNotEquals": {TEAM: ["a", "b"]}}, {TEAM: "c"}, "allowed"),
    ("negated-absent-key-true", {"StringNotEquals": {TEAM: "a"}}, {TEAM: []}, "allowed"),
    ("positive-absent-key-false", {"StringEquals": {TEAM: "a"}}, {TEAM: []}, "implicit_deny"),
    ("string-like", {"StringLike": {TEAM: "de?o-*"}}, {TEAM: "demo-x"}, "allowed"),
    ("string-like-miss", {"StringLike": {TEAM: "de?o-*"}}, {TEAM: "deemo-x"}, "implicit_deny"),
    ("string-equals-star-is-literal", {"StringEquals": {TEAM: "de*"}}, {TEAM: "demo"}, "implicit_deny"),
    ("string-not-like", {"StringNotLike": {TEAM: "prod-*"}}, {TEAM: "demo"}, "allowed"),
    (
        "arn-like",
        {"ArnLike": {"aws:SourceArn": f"arn:aws:bedrock-agentcore:*:{ACCOUNT}:gateway/*"}},
        {"aws:SourceArn": GW},
        "allowed",
    ),
    ("arn-equals", {"ArnEquals": {"aws:SourceArn": GW}}, {"aws:SourceArn": GW}, "allowed"),
    ("arn-equals-other", {"ArnEquals": {"aws:SourceArn": GW}}, {"aws:SourceArn": PE}, "implicit_deny"),
    ("arn-not-equals", {"ArnNotEquals": {"aws:SourceArn": GW}}, {"aws:SourceArn": PE}, "allowed"),
    (
        "arn-not-like",
        {"ArnNotLike": {"aws:SourceArn": "arn:aws:bedrock-agentcore:*:*:gateway/*"}},
        {"aws:SourceArn": GW},
        "implicit_deny",
    ),
    # ArnLike compares segment by segment: '*' in the account segment cannot swallow a ':'
    (
        "arn-like-segment",
        {"ArnLike": {"aws:SourceArn": "arn:aws:svc:us-east-1:*:thing/x"}},
        {"aws:SourceArn": "arn:aws:svc:us-east-1:1:2:thing/x"},
        "implicit_deny",
    ),
    (
        "string-like-crosses",
        {"StringLike": {"aws:SourceArn": "arn:aws:svc:us-east-1:*:thing/x"}},
        {"aws:SourceArn": "arn:aws:svc:us-east-1:1:2:thing/x"},
        "allowed",
    ),
    ("bool-true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, "allowed"),
    ("bool-json-true", {"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "TRUE"}, "allowed"),
    ("bool-false", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, "implicit_deny"),
    ("null-true-absent", {"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": []}, "allowed"),
    (
        "null-true-present",
        {"Null": {"aws:TokenIssueTime": "true"}},
        {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"},
        "implicit_deny",
    ),
    (
        "null-false-present",
        {"Null": {"aws:TokenIssueTime": False}},
        {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"},
        "allowed",
    ),
    ("null-unknown", {"Null": {"aws:TokenIssueTime": "true"}}, None, "unknown"),
    ("if-exists-absent", {"StringEqualsIfExists": {TEAM: "a"}}, {TEAM: []}, "allowed"),
    ("if-exists-present-miss", {"StringEqualsIfExists": {TEAM: "a"}}, {TEAM: "b"}, "implicit_deny"),
    ("any-value-hit", {"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["b", "c"]}, "allowed"),
    ("any-value-miss", {"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["c"]}, "implicit_deny"),
    ("any-value-empty", {"ForAnyValue:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: []}, "implicit_deny"),
    ("all-values-hit", {"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["a", "b"]}, "allowed"),
    ("all-values-miss", {"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: ["a", "c"]}, "implicit_deny"),
    ("all-values-empty", {"ForAllValues:StringEquals": {TAGS: ["a", "b"]}}, {TAGS: []}, "allowed"),
    (
        "all-values-not-like",
        {"ForAllValues:StringNotLike": {TAGS: "secret-*"}},
        {TAGS: ["a", "secret-1"]},
        "implicit_deny",
    ),
    ("single-op-multi-value", {"StringEquals": {TAGS: "a"}}, {TAGS: ["a", "b"]}, "unknown"),
    ("numeric", {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {"aws:MultiFactorAuthAge": "60"}, "allowed"),
    (
        "numeric-miss",
        {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}},
        {"aws:MultiFactorAuthAge": "7200"},
        "implicit_deny",
    ),
    (
        "numeric-bad-value",
        {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
        {"aws:MultiFactorAuthAge": "soon"},
        "unknown",
    ),
    (
        "date",
        {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2026-05-01T12:00:00Z"},
        "allowed",
    ),
    (
        "date-miss",
        {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        {"aws:CurrentTime": "2026-05-01T12:00:00Z"},
        "implicit_deny",
    ),
    ("ip", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": "10.1.2.3"}, "allowed"),
    (
        "not-ip",
        {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}},
        {"aws:SourceIp": "10.1.2.3"},
        "implicit_deny",
    ),
    (
        "unsupported-operator",
        {"BinaryEquals": {"aws:SomeBinary": "QmluYXJ5"}},
        {"aws:SomeBinary": "QmluYXJ5"},
        "unknown",
    ),
    ("misspelt-operator", {"StringEqual": {TEAM: "a"}}, {TEAM: "a"}, "unknown"),
    (
        "keys-and",
        {"StringEquals": {TEAM: "a", "aws:PrincipalTag/env": "dev"}},
        {TEAM: "a", "aws:PrincipalTag/env": "dev"},
        "allowed",
    ),
    (
        "keys-and-one-false",
        {"StringEquals": {TEAM: "a", "aws:PrincipalTag/env": "dev"}},
        {TEAM: "a", "aws:PrincipalTag/env": "prod"},
        "implicit_deny",
    ),
    # a condition settled false wins over another that cannot be settled: the statement does not apply
    (
        "false-beats-unsettled",
        {"StringEquals": {TEAM: "a"}, "Bool": {"aws:ViaAWSService": "true"}},
        {TEAM: "b"},
        "implicit_deny",
    ),
    (
        "true-and-unsettled",
        {"StringEquals": {TEAM: "a"}, "Bool": {"aws:ViaAWSService": "true"}},
        {TEAM: "a"},
        "unknown",
    ),
    ("condition-not-an-object", "StringEquals", {}, "unknown"),
    ("operator-without-keys", {"StringEquals": TEAM}, {TEAM: "a"}, "unknown"),
    ("value-is-an-object", {"StringEquals": {TEAM: {"x": 1}}}, {TEAM: "a"}, "unknown"),
]


@pytest.mark.parametrize(
    ("condition", "context", "expected"),
    [case[1:] for case in CONDITION_CASES],
    ids=[case[0] for case in CONDITION_CASES],
)
def test_conditions_on_an_allow(condition: Any, context: dict[str, Any] | None, expected: str) -> None:
    identity = [inline(doc(allow(AUTHORIZE, GW, Sid="Conditional", Condition=condition)))]
    decision = evaluate(AUTHORIZE, GW, identity, context=context)
    assert decision.decision == expected
    if expected == "unknown":
        assert decision.allowed is None
        assert [s.sid for s in decision.statements] == ["Conditional"]
        assert "Conditional" in (decision.note or "")


def test_unknown_names_the_missing_key() -> None:
    identity = [inline(doc(allow(AUTHORIZE, GW, Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})))]
    decision = evaluate(AUTHORIZE, GW, identity)
    assert decision.decision == "unknown"
    assert "aws:SourceVpc" in (decision.note or "")


def test_a_settled_allow_makes_unsettled_allows_irrelevant() -> None:
    identity = [
        inline(doc(allow(AUTHORIZE, GW, Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}))),
        managed(REMEDIATION),
    ]
    decision = evaluate(AUTHORIZE, GW, identity)
    assert decision.decision == "allowed"
    assert [s.sid for s in decision.statements] == ["EvaluatePoliciesForGateway"]


DENY_OUTSIDE_VPC = deny(AUTHORIZE, GW, Sid="OnlyFromVpc", Condition={"StringNotEquals": {"aws:SourceVpc": "vpc-1"}})


@pytest.mark.parametrize(
    ("context", "expected"),
    [(None, "unknown"), ({"aws:SourceVpc": "vpc-2"}, "explicit_deny"), ({"aws:SourceVpc": "vpc-1"}, "allowed")],
)
def test_deny_with_a_condition(context: dict[str, Any] | None, expected: str) -> None:
    identity = [inline(ALLOW_ALL_AGENTCORE), managed(doc(DENY_OUTSIDE_VPC), "vpc-guard")]
    decision = evaluate(AUTHORIZE, GW, identity, context=context)
    assert decision.decision == expected
    if expected != "allowed":
        assert [(s.sid, s.effect) for s in decision.statements] == [("OnlyFromVpc", "Deny")]


def test_unsettled_deny_without_any_allow_is_unknown_but_says_denied_either_way() -> None:
    decision = evaluate(AUTHORIZE, GW, [inline(doc(DENY_OUTSIDE_VPC))])
    assert decision.decision == "unknown"
    assert decision.allowed is None
    assert "denied in every case" in (decision.note or "")


def test_unsettled_deny_for_another_pair_does_not_matter() -> None:
    identity = [inline(ALLOW_ALL_AGENTCORE), inline(doc(DENY_OUTSIDE_VPC), "vpc-guard")]
    assert evaluate(PARTIAL, GW, identity).decision == "allowed"
    assert evaluate(AUTHORIZE, PE, identity).decision == "allowed"


def test_unsettled_boundary_allow_is_unknown() -> None:
    fence = boundary(
        doc(allow("*", "*", Sid="FenceIfTagged", Condition={"StringEquals": {"aws:PrincipalTag/ok": "yes"}}))
    )
    decision = evaluate(AUTHORIZE, GW, [inline(ALLOW_ALL_AGENTCORE)], boundary=fence)
    assert decision.decision == "unknown"
    assert [(s.source_kind, s.sid) for s in decision.statements] == [("boundary", "FenceIfTagged")]
    settled = evaluate(
        AUTHORIZE, GW, [inline(ALLOW_ALL_AGENTCORE)], boundary=fence, context={"aws:PrincipalTag/ok": "yes"}
    )
    assert settled.decision == "allowed"


# ----------------------------------------------------------------------------- policy variables


PER_TEAM = f"{ARN}:gateway/${{aws:PrincipalTag/team}}-*"


@pytest.mark.parametrize(
    ("resource_pattern", "context", "expected"),
    [
        (PER_TEAM, None, "unknown"),
        (PER_TEAM, {TEAM: "demo"}, "allowed"),
        (PER_TEAM, {"AWS:PRINCIPALTAG/TEAM": "demo"}, "allowed"),  # keys are case-insensitive
        (PER_TEAM, {TEAM: "Demo"}, "implicit_deny"),  # values are not
        (PER_TEAM, {TEAM: "other"}, "implicit_deny"),
        (PER_TEAM, {TEAM: []}, "implicit_deny"),  # known absent: never substitutes
        (PER_TEAM, {TEAM: ["demo", "x"]}, "implicit_deny"),  # multi-valued: never substitutes
        (PER_TEAM.replace("}", ", 'demo'}"), {TEAM: []}, "allowed"),  # default value
        # a variable in an ARN that cannot match whatever its value is settles as no match
        (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:policy-engine/${{aws:username}}", None, "implicit_deny"),
        # ${*} is a literal asterisk, not a wildcard
        (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/${{*}}", None, "implicit_deny"),
    ],
)
def test_policy_variable_in_resource(resource_pattern: str, context: dict[str, Any] | None, expected: str) -> None:
    identity = [inline(doc(allow(GET_GATEWAY, resource_pattern, Sid="PerTeam")))]
    decision = evaluate(GET_GATEWAY, GW, identity, context=context)
    assert decision.decision == expected
    if expected == "unknown":
        assert [s.sid for s in decision.statements] == ["PerTeam"]
        assert TEAM in (decision.note or "")


def test_escaped_asterisk_matches_a_literal_asterisk() -> None:
    identity = [inline(doc(allow(GET_GATEWAY, "arn:aws:svc:::thing/${*}")))]
    assert evaluate(GET_GATEWAY, "arn:aws:svc:::thing/*", identity).decision == "allowed"


def test_substituted_value_is_literal_not_a_wildcard() -> None:
    identity = [inline(doc(allow(GET_GATEWAY, "arn:aws:svc:::thing/${aws:username}")))]
    assert evaluate(GET_GATEWAY, "arn:aws:svc:::thing/bob", identity, context={"aws:username": "*"}).decision == (
        "implicit_deny"
    )


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"aws:ResourceTag/owner": "alice", "aws:username": "alice"}, "allowed"),
        ({"aws:ResourceTag/owner": "alice", "aws:username": "bob"}, "implicit_deny"),
        ({"aws:ResourceTag/owner": "alice"}, "unknown"),
    ],
)
def test_policy_variable_in_a_condition_value(context: dict[str, Any], expected: str) -> None:
    condition = {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}
    identity = [inline(doc(allow(GET_GATEWAY, "*", Condition=condition)))]
    assert evaluate(GET_GATEWAY, GW, identity, context=context).decision == expected


# ----------------------------------------------------------------------------- tolerance and malformed input


def test_single_statement_object_without_version_and_string_action() -> None:
    document = {"Statement": {"Effect": "Allow", "Action": AUTHORIZE, "Resource": GW}}
    decision = evaluate(AUTHORIZE, GW, [inline(document)])
    assert decision.decision == "allowed"
    assert decision.statements[0].index == 0
    assert decision.statements[0].sid is None


@pytest.mark.parametrize(
    "as_text", [json.dumps(REMEDIATION), urllib.parse.quote(json.dumps(REMEDIATION))], ids=["json", "url-encoded"]
)
def test_document_as_json_text(as_text: str) -> None:
    assert evaluate(GET_ENGINE, PE, [inline(as_text)]).decision == "allowed"


MALFORMED_STATEMENTS: list[tuple[str, Any, str]] = [
    ("not-an-object", "Allow everything", "is not an object"),
    ("none", None, "is not an object"),
    ("no-effect", {"Action": "*", "Resource": "*"}, "has no Effect"),
    ("lowercase-effect", {"Effect": "allow", "Action": "*", "Resource": "*"}, "must be exactly"),
    ("padded-effect", {"Effect": "Allow ", "Action": "*", "Resource": "*"}, "must be exactly"),
    ("no-action", {"Effect": "Allow", "Resource": "*"}, "neither Action nor NotAction"),
    ("both-actions", {"Effect": "Allow", "Action": "*", "NotAction": "iam:*", "Resource": "*"}, "both Action"),
    ("no-resource", {"Effect": "Allow", "Action": "*"}, "neither Resource nor NotResource"),
    ("both-resources", {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": GW}, "both Resource"),
    ("action-int", {"Effect": "Allow", "Action": 7, "Resource": "*"}, "Action that is not"),
    ("action-list-with-int", {"Effect": "Allow", "Action": ["*", 7], "Resource": "*"}, "Action that is not"),
    ("empty-resource-list", {"Effect": "Allow", "Action": "*", "Resource": []}, "Resource that is not"),
    ("resource-object", {"Effect": "Allow", "Action": "*", "Resource": {"arn": GW}}, "Resource that is not"),
]


@pytest.mark.parametrize(
    ("statement", "problem"),
    [case[1:] for case in MALFORMED_STATEMENTS],
    ids=[case[0] for case in MALFORMED_STATEMENTS],
)
def test_malformed_statement_matches_nothing_and_is_noted(statement: Any, problem: str) -> None:
    document = {"Statement": [statement, {"Sid": "Good", "Effect": "Allow", "Action": GET_GATEWAY, "Resource": GW}]}
    denied = evaluate(AUTHORIZE, GW, [inline(document, "messy")])
    assert denied.decision == "implicit_deny"
    assert "messy" in (denied.note or "") and problem in (denied.note or "")
    allowed = evaluate(GET_GATEWAY, GW, [inline(document, "messy")])
    assert allowed.decision == "allowed"
    assert [(s.sid, s.index) for s in allowed.statements] == [("Good", 1)]


def test_malformed_deny_does_not_deny() -> None:
    broken = {"Effect": "Deny", "Action": AUTHORIZE}  # no Resource: matches nothing
    decision = evaluate(AUTHORIZE, GW, [inline(ALLOW_ALL_AGENTCORE), inline(doc(broken), "broken")])
    assert decision.decision == "allowed"
    assert "broken" in (decision.note or "")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"Version": "2012-10-17"}, "has no Statement"),
        ({"Statement": "Allow"}, "neither an object nor a list"),
        ([allow()], "not a JSON object"),
        ("{not json", "not a JSON object"),
        (None, "not a JSON object"),
    ],
)
def test_malformed_document_is_skipped(document: Any, problem: str) -> None:
    decision = evaluate(AUTHORIZE, GW, [inline(document, "bad-doc"), managed(REMEDIATION)])
    assert decision.decision == "allowed"
    assert "bad-doc" in (decision.note or "") and problem in (decision.note or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "AuthorizeAction"}, "service:Name"),
        ({"action": "bedrock-agentcore:*"}, "no wildcards"),
        ({"action": ":AuthorizeAction"}, "service:Name"),
        ({"action": None}, "action must be"),
        ({"resource": ""}, "resource"),
        ({"identity": PolicySource("inline", "p", None, {})}, "list of PolicySource"),
        ({"identity": [{"Statement": []}]}, "PolicySource objects"),
        ({"identity": [PolicySource("boundary", "b", None, {})]}, "boundary="),
        ({"boundary": {"Statement": []}}, "boundary must be"),
        ({"context": {"aws:SourceVpc": {"a": 1}}}, "aws:SourceVpc"),
        ({"context": {"aws:SourceVpc": [None]}}, "aws:SourceVpc"),
        ({"context": ["aws:SourceVpc"]}, "context must be"),
    ],
)
def test_bad_request_raises_a_one_line_value_error(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"action": AUTHORIZE, "resource": GW, "identity": [inline(REMEDIATION)], **kwargs}
    with pytest.raises(ValueError, match=message) as caught:
        evaluate(**arguments)
    assert "\n" not in str(caught.value)


# ----------------------------------------------------------------------------- serialisation


def test_decision_to_dict_is_json_ready() -> None:
    fence = boundary(doc(allow("*", "*", Sid="Fence", Condition={"Bool": {"aws:SecureTransport": True}})))
    decision = evaluate(AUTHORIZE, GW, [managed(REMEDIATION, "fix")], boundary=fence)
    data = json.loads(json.dumps(decision.to_dict()))
    assert data["decision"] == "unknown" and data["allowed"] is None
    assert data["action"] == AUTHORIZE and data["resource"] == GW
    assert data["statements"] == [
        {
            "source_kind": "boundary",
            "source_name": "boundary-policy",
            "source_arn": f"arn:aws:iam::{ACCOUNT}:policy/boundary-policy",
            "index": 0,
            "sid": "Fence",
            "effect": "Allow",
            "statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Sid": "Fence",
                "Condition": {"Bool": {"aws:SecureTransport": True}},
            },
        }
    ]
    assert "aws:SecureTransport" in data["note"]


def test_statement_ref_to_dict_copies_tuples_as_lists() -> None:
    ref = StatementRef("inline", "p", None, 2, "S", "Allow", {"Action": ("a:B", "a:C"), "Resource": "*"})
    assert ref.to_dict()["statement"] == {"Action": ["a:B", "a:C"], "Resource": "*"}


def test_allowed_property_follows_the_decision() -> None:
    def make(kind: Any) -> Decision:
        return Decision(AUTHORIZE, GW, kind, ())

    assert [make(k).allowed for k in ("allowed", "implicit_deny", "explicit_deny", "boundary", "unknown")] == [
        True,
        False,
        False,
        False,
        None,
    ]
