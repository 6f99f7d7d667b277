"""The offline evaluator's false passes (issue 13, items 13-16), each against IAM's documented rule."""

from __future__ import annotations

from typing import Any

import pytest

from probe.iam.evaluate import PolicySource, evaluate

REGION = "us-west-2"
ACCOUNT = "123456789012"
GW = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/refunds-abc123"
PE = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:policy-engine/pe-xyz"
AUTHORIZE = "bedrock-agentcore:AuthorizeAction"
GET_GATEWAY = "bedrock-agentcore:GetGateway"
CONTEXT = {
    "aws:RequestedRegion": REGION,
    "aws:PrincipalAccount": ACCOUNT,
    "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/gw",
}
VPC = "aws:SourceVpc"


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    out: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        out["Version"] = version
    return out


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def inline(document: Any, name: str = "role-policy") -> PolicySource:
    return PolicySource(kind="inline", name=name, arn=None, document=document)


def fence(document: Any) -> PolicySource:
    return PolicySource(kind="boundary", name="fence", arn=f"arn:aws:iam::{ACCOUNT}:policy/fence", document=document)


def decide(resource_pattern: str, resource: str = GW, context: Any = CONTEXT, **doc_args: Any) -> str:
    identity = [inline(doc(allow(AUTHORIZE, resource_pattern), **doc_args))]
    return evaluate(AUTHORIZE, resource, identity, context=context).decision


# ----------------------------------------------------------------------------- item 13


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:bedrock-agentcore:${aws:RequestedRegion}:${aws:PrincipalAccount}:gateway/*",
        f"arn:aws:bedrock-agentcore:${{aws:RequestedRegion}}:{ACCOUNT}:gateway/*",
        f"arn:aws:bedrock-agentcore:{REGION}:${{aws:PrincipalAccount}}:gateway/*",
        f"arn:aws:bedrock-agentcore:{REGION}:${{aws:PrincipalAccount, '{ACCOUNT}'}}:gateway/*",
    ],
)
def test_a_variable_before_the_fifth_colon_grants_nothing(pattern: str) -> None:
    """IAM substitutes variables only in the resource part; before it they stay literal text."""
    assert decide(pattern) == "implicit_deny"


def test_a_variable_after_the_fifth_colon_is_still_substituted() -> None:
    pattern = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:${{aws:PrincipalTag/kind}}/refunds-*"
    assert decide(pattern, context={**CONTEXT, "aws:PrincipalTag/kind": "gateway"}) == "allowed"
    assert decide(pattern, context={**CONTEXT, "aws:PrincipalTag/kind": "policy-engine"}) == "implicit_deny"


def test_a_variable_before_the_fifth_colon_in_a_not_resource_excludes_nothing() -> None:
    statement = {
        "Effect": "Deny",
        "Action": AUTHORIZE,
        "NotResource": "arn:aws:bedrock-agentcore:${aws:RequestedRegion}:*:gateway/*",
    }
    identity = [inline(doc(allow(AUTHORIZE, "*"), statement))]
    assert evaluate(AUTHORIZE, GW, identity, context=CONTEXT).decision == "explicit_deny"


# ----------------------------------------------------------------------------- item 14


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # the case: `*` inside the region segment cannot swallow `:123456789012`
        ("arn:aws:bedrock-agentcore:us-*2:gateway/*", "implicit_deny"),
        (f"arn:aws:bedrock-agentcore:us-*2:{ACCOUNT}:gateway/*", "allowed"),
        (f"arn:aws:bedrock-agentcore:us-*-2:{ACCOUNT}:gateway/*", "allowed"),
        # `?` is one character of its segment, never a colon
        ("arn:aws:bedrock-agentcore:us-west-2?123456789012:gateway/refunds-abc123", "implicit_deny"),
        ("arn:aws:bedrock-agentcore:us-west-?:123456789012:gateway/refunds-abc123", "allowed"),
        ("arn:aws:bedrock-agentcore:?s-west-2:123456789012:gateway/refunds-abc12?", "allowed"),
        # a `*` that is the last character of a segment may expand across colons (documented)
        ("arn:aws:bedrock-agentcore:us-*:gateway/*", "allowed"),
        ("arn:aws:bedrock-agentcore:*", "allowed"),
        # in the resource part wildcards match anything, `/` included
        (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:*abc123", "allowed"),
        (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway*123", "allowed"),
    ],
)
def test_arn_wildcards_stay_in_their_segment(pattern: str, expected: str) -> None:
    assert decide(pattern) == expected


def test_a_mid_segment_star_does_not_reach_the_engine_through_the_account() -> None:
    pattern = f"arn:aws:bedrock-agentcore:us-*{ACCOUNT}:policy-engine/*"
    assert decide(pattern, resource=PE) == "implicit_deny"


# ----------------------------------------------------------------------------- item 15

FROM_OFFICE = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}  # unknowable for the gateway's own calls
ONLY_GET_GATEWAY = doc(allow(GET_GATEWAY, "*", Sid="OnlyGetGateway"))


def test_unsettled_identity_under_a_boundary_that_refuses_is_denied_by_the_boundary() -> None:
    identity = [inline(doc(allow("bedrock-agentcore:*", "*", Sid="FromOffice", Condition=FROM_OFFICE)))]
    decision = evaluate(AUTHORIZE, GW, identity, boundary=fence(ONLY_GET_GATEWAY), context=CONTEXT)
    assert decision.decision == "boundary"
    assert decision.allowed is False
    assert [s.sid for s in decision.statements] == ["FromOffice"]
    assert "permissions boundary 'fence'" in (decision.note or "")
    assert "aws:SourceIp" in (decision.note or "")


def test_the_mirror_case_is_an_implicit_deny() -> None:
    conditional_fence = fence(doc(allow("*", "*", Condition=FROM_OFFICE)))
    decision = evaluate(AUTHORIZE, GW, [inline(ONLY_GET_GATEWAY)], boundary=conditional_fence, context=CONTEXT)
    assert decision.decision == "implicit_deny"


def test_a_deny_that_may_apply_keeps_the_pair_unknown() -> None:
    """Explicit or by the boundary: a remediation differs, so this one stays unsettled."""
    identity = [
        inline(
            doc(
                allow("bedrock-agentcore:*", "*", Condition=FROM_OFFICE),
                deny("*", "*", Condition={"StringNotEquals": {VPC: "vpc-1"}}),
            )
        )
    ]
    decision = evaluate(AUTHORIZE, GW, identity, boundary=fence(ONLY_GET_GATEWAY), context=CONTEXT)
    assert decision.decision == "unknown"
    assert "denied in every case" in (decision.note or "")


# ----------------------------------------------------------------------------- item 16: conditions


def test_ifexists_negation_and_boundary_equality_cannot_hold_together() -> None:
    identity = [inline(doc(allow("bedrock-agentcore:*", "*", Sid="NotFromVpc1",
                                 Condition={"StringNotEqualsIfExists": {VPC: "vpc-1"}})))]  # fmt: skip
    boundary = fence(doc(allow("*", "*", Sid="OnlyVpc1", Condition={"StringEquals": {VPC: "vpc-1"}})))
    decision = evaluate(AUTHORIZE, GW, identity, boundary=boundary, context=CONTEXT)
    assert decision.decision == "boundary"
    assert [s.sid for s in decision.statements] == ["NotFromVpc1"]
    assert "cannot hold together" in (decision.note or "") and VPC in (decision.note or "")


def test_either_condition_alone_stays_unknown() -> None:
    identity = [inline(doc(allow("bedrock-agentcore:*", "*", Condition={"StringNotEqualsIfExists": {VPC: "vpc-1"}})))]
    assert evaluate(AUTHORIZE, GW, identity, context=CONTEXT).decision == "unknown"
    boundary = fence(doc(allow("*", "*", Condition={"StringEquals": {VPC: "vpc-1"}})))
    everything = [inline(doc(allow("*", "*")))]
    assert evaluate(AUTHORIZE, GW, everything, boundary=boundary, context=CONTEXT).decision == "unknown"


def test_compatible_conditions_stay_unknown() -> None:
    identity = [inline(doc(allow("bedrock-agentcore:*", "*", Condition={"StringEqualsIfExists": {VPC: "vpc-1"}})))]
    boundary = fence(doc(allow("*", "*", Condition={"StringEquals": {VPC: "vpc-1"}})))
    assert evaluate(AUTHORIZE, GW, identity, boundary=boundary, context=CONTEXT).decision == "unknown"


def test_null_covering_both_values_always_holds() -> None:
    identity = [inline(doc(allow(AUTHORIZE, "*", Sid="Always", Condition={"Null": {VPC: ["true", "false"]}})))]
    decision = evaluate(AUTHORIZE, GW, identity, context=CONTEXT)
    assert decision.decision == "allowed"
    assert [s.sid for s in decision.statements] == ["Always"]


def test_an_equality_and_its_negation_together_cover_every_request() -> None:
    identity = [
        inline(
            doc(
                allow(AUTHORIZE, "*", Sid="InVpc", Condition={"StringEquals": {VPC: "vpc-1"}}),
                allow(AUTHORIZE, "*", Sid="Elsewhere", Condition={"StringNotEquals": {VPC: "vpc-1"}}),
            )
        )
    ]
    decision = evaluate(AUTHORIZE, GW, identity, context=CONTEXT)
    assert decision.decision == "allowed"
    assert {s.sid for s in decision.statements} == {"InVpc", "Elsewhere"}
    assert VPC in (decision.note or "")


def test_a_deny_that_holds_in_every_case_is_explicit() -> None:
    identity = [
        inline(
            doc(
                allow("*", "*"),
                deny(AUTHORIZE, "*", Sid="NotVia", Condition={"BoolIfExists": {"aws:ViaAWSService": "false"}}),
                deny(AUTHORIZE, "*", Sid="Via", Condition={"Bool": {"aws:ViaAWSService": "true"}}),
            )
        )
    ]
    decision = evaluate(AUTHORIZE, GW, identity, context=CONTEXT)
    assert decision.decision == "explicit_deny"


def test_cases_are_not_tried_for_keys_that_may_hold_several_values() -> None:
    identity = [
        inline(
            doc(
                allow(AUTHORIZE, "*", Condition={"StringEquals": {"aws:TagKeys": "a"}}),
                allow(AUTHORIZE, "*", Condition={"StringNotEquals": {"aws:TagKeys": "a"}}),
            )
        )
    ]
    assert evaluate(AUTHORIZE, GW, identity, context=CONTEXT).decision == "unknown"


def test_cases_are_not_tried_for_service_keys_or_other_operators() -> None:
    for condition in (
        {"StringEquals": {"bedrock-agentcore:thing": "a"}},
        {"StringLike": {VPC: "vpc-*"}},
    ):
        negated = {k.replace("String", "StringNot"): v for k, v in condition.items()}
        identity = [inline(doc(allow(AUTHORIZE, "*", Condition=condition), allow(AUTHORIZE, "*", Condition=negated)))]
        assert evaluate(AUTHORIZE, GW, identity, context=CONTEXT).decision == "unknown"


# ----------------------------------------------------------------------------- item 16: 2008-10-17


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_old_or_missing_version_treats_variables_literally(version: str | None) -> None:
    pattern = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/${{aws:PrincipalTag/team}}-*"
    context = {**CONTEXT, "aws:PrincipalTag/team": "refunds"}
    assert decide(pattern, context=context, version=version) == "implicit_deny"
    assert decide(pattern, context=context) == "allowed"  # the same with 2012-10-17
    literal = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:gateway/${{aws:PrincipalTag/team}}-x"
    assert decide(pattern, resource=literal, context=context, version=version) == "allowed"


def test_old_version_condition_values_are_literal() -> None:
    condition = {"StringEquals": {"aws:PrincipalTag/owner": "${aws:username}"}}
    identity = [inline(doc(allow(AUTHORIZE, "*", Condition=condition), version="2008-10-17"))]
    context = {**CONTEXT, "aws:PrincipalTag/owner": "alice", "aws:username": "alice"}
    assert evaluate(AUTHORIZE, GW, identity, context=context).decision == "implicit_deny"
    context["aws:PrincipalTag/owner"] = "${aws:username}"
    assert evaluate(AUTHORIZE, GW, identity, context=context).decision == "allowed"


# ----------------------------------------------------------------------------- item 16: tags as context

TEAM_ONLY = {"StringEquals": {"aws:PrincipalTag/team": "refunds"}}


def test_tags_read_in_full_settle_conditions_on_other_tags() -> None:
    identity = [inline(doc(allow(AUTHORIZE, "*", Condition=TEAM_ONLY)))]
    assert evaluate(AUTHORIZE, GW, identity, context=CONTEXT).decision == "unknown"
    complete = {**CONTEXT, "aws:PrincipalTag/*": []}  # every tag was read: this one is absent
    assert evaluate(AUTHORIZE, GW, identity, context=complete).decision == "implicit_deny"
    tagged = {**complete, "aws:PrincipalTag/team": "refunds"}
    assert evaluate(AUTHORIZE, GW, identity, context=tagged).decision == "allowed"
    # a family marker says nothing of other families
    other = {**CONTEXT, "aws:ResourceTag/*": []}
    assert evaluate(AUTHORIZE, GW, identity, context=other).decision == "unknown"


def test_a_family_marker_must_be_a_family_mapped_to_nothing() -> None:
    identity = [inline(doc(allow(AUTHORIZE, "*")))]
    for bad in ({"aws:PrincipalTag/*": ["x"]}, {"aws:*Tag/x": []}):
        with pytest.raises(ValueError, match="family"):
            evaluate(AUTHORIZE, GW, identity, context=bad)
