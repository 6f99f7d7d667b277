"""Each kind of explanation: forbid, default deny (which part missed), permit, listing, cannot tell."""

from __future__ import annotations

import json

from probe.cedar.explain import Explanation, explain_call, explain_listing
from probe.cedar.model import EnginePolicy, Principal

GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
OTHER_GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/other-xyz"
REFUND = "RefundTarget___process_refund"
SCHEMA = {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}
USER = Principal.oauth_user({"sub": "u-1", "scope": "refunds/write"})
OPERATOR = Principal.iam_entity("arn:aws:iam::123456789012:user/op")
ON_GW = f'resource == AgentCore::Gateway::"{GW}"'
SMALL = EnginePolicy("small-1", "small_refunds",
                     f'permit(principal is AgentCore::OAuthUser, action == AgentCore::Action::"{REFUND}", '
                     f'{ON_GW}) when {{ context.input.amount.lessThan(decimal("500.0")) }};')
NO_BIG = EnginePolicy("nobig-1", "no_big_refunds",
                      f'forbid(principal, action == AgentCore::Action::"{REFUND}", {ON_GW}) '
                      'when { context.input.amount.greaterThan(decimal("1000.0")) };')
READS = EnginePolicy("reads-1", "reads", f'permit(principal, action == AgentCore::Action::"RefundTarget___get_order", '
                     f'resource == AgentCore::Gateway::"{GW}");')


def call(policies, principal=USER, amount=120, gateway=GW, tool=REFUND) -> Explanation:
    e = explain_call(policies, gateway, tool, principal, {"amount": amount}, SCHEMA)
    assert Explanation.from_dict(json.loads(json.dumps(e.to_dict()))) == e  # written, read back: the same
    return e


def test_permit_names_the_permitting_policy():
    e = call([SMALL, NO_BIG, READS])
    assert e.kind == "permit" and [p.name for p in e.policies] == ["small_refunds"]
    assert "not theirs" in e.summary
    assert e.request["context"] == {"input": {"amount": {"__extn": {"fn": "decimal", "arg": "120.0"}}}}


def test_forbid_names_the_forbid_with_its_text():
    e = call([SMALL, NO_BIG], amount=5000)
    assert e.kind == "forbid" and e.summary == "forbidden by no_big_refunds (nobig-1)"
    (p,) = e.policies
    assert (p.policy_id, p.effect, p.statement) == ("nobig-1", "forbid", NO_BIG.statement)


def test_default_deny_says_the_condition_failed():
    e = call([SMALL, NO_BIG, READS], amount=900)
    assert e.kind == "default_deny"
    (p,) = e.policies  # only the permit on this action: READS names another tool
    assert p.name == "small_refunds" and p.failed == ("when",)
    assert e.lines()[1] == "  permit small_refunds (small-1): did not hold: when"


def test_default_deny_says_the_principal_failed():
    e = call([SMALL], principal=OPERATOR)
    assert e.kind == "default_deny" and e.policies[0].failed == ("principal",)


def test_default_deny_says_the_resource_failed():
    e = call([SMALL], gateway=OTHER_GW)
    assert e.kind == "default_deny" and e.policies[0].failed == ("resource",)


def test_default_deny_names_an_evaluation_error():
    """The classic mistake, kept by skipping validation: the condition errors on every call."""
    long_cmp = EnginePolicy("p", "as_long", SMALL.statement.replace(
        'context.input.amount.lessThan(decimal("500.0"))', "context.input.amount < 500"))
    e = call([long_cmp])
    assert e.kind == "default_deny" and e.policies[0].failed == ("when",)
    assert any("decimal" in err for err in e.policies[0].errors)


def test_default_deny_with_no_permit_on_the_tool():
    e = call([READS])
    assert e.kind == "default_deny" and e.policies == () and "no permit names this tool" in e.summary


def test_listing_partial_evaluation():
    assert explain_listing([SMALL], GW, REFUND, USER).kind == "listable"
    hidden = explain_listing([SMALL], GW, REFUND, OPERATOR)
    assert hidden.kind == "hidden" and hidden.policies[0].failed == ("principal",)
    assert explain_listing([SMALL], GW, "RefundTarget___get_order", USER).summary == \
        "no permit names this tool for this gateway"
    forbid_all = EnginePolicy("f", "no_refunds", f'forbid(principal, action == AgentCore::Action::"{REFUND}", '
                                                 f'resource == AgentCore::Gateway::"{GW}");')
    e = explain_listing([SMALL, forbid_all], GW, REFUND, USER)
    assert e.kind == "hidden" and "forbid" in e.summary


def test_not_enforced_policies_are_noted_not_used():
    failed = EnginePolicy("x", "broken_one", SMALL.statement, status="CREATE_FAILED")
    logged = EnginePolicy("y", "logged", SMALL.statement, enforcement_mode="LOG_ONLY")
    e = call([failed, logged])
    assert e.kind == "default_deny" and e.policies == ()
    assert e.not_enforced == ("broken_one (x): status CREATE_FAILED", "logged (y): enforcementMode LOG_ONLY")


def test_cannot_tell_when_a_policy_cannot_be_read():
    e = call([SMALL, EnginePolicy("z", "unread", "")])
    assert e.kind == "cannot_tell" and "cannot be read" in e.summary and e.notes == ("unread (z): no statement",)
    garbled = call([EnginePolicy("g", "garbled", "permit(principal, action")])
    assert garbled.kind == "cannot_tell" and garbled.notes[0].startswith("garbled (g): ")


def test_cannot_tell_when_the_principal_is_unknown():
    e = explain_call([SMALL], GW, REFUND, None, {"amount": 1}, SCHEMA)
    assert e.kind == "cannot_tell" and "principal is not known" in e.summary
    scoped = EnginePolicy("s", "scoped", 'permit(principal, action, resource is AgentCore::Gateway) when '
                                         '{ principal.hasTag("scope") };')
    unknown_claims = Principal.oauth_user({})
    assert explain_call([scoped], GW, REFUND, unknown_claims, {}, None).kind == "cannot_tell"
    assert explain_listing([scoped], GW, REFUND, unknown_claims).kind == "cannot_tell"
