"""AgentCore's Cedar model on cedarpy: decisions, determining policy ids, the listing filter."""

from __future__ import annotations

import pytest

from probe.lab.cedar_model import IAM_ENTITY, OAUTH_USER, Principal, authorize_call, could_permit

GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
OTHER_GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/other-xyz"
REFUND = "RefundTarget___process_refund"
USER = Principal.oauth_user({"sub": "client-1", "client_id": "client-1", "scope": "refunds/write", "exp": 1700000000})
OPERATOR = Principal.iam_entity("arn:aws:iam::123456789012:user/lab-operator")

PERMIT_SMALL = (f'permit(principal is AgentCore::OAuthUser, action == AgentCore::Action::"{REFUND}", '
                f'resource == AgentCore::Gateway::"{GW}") when {{ context.input.amount < 500 }};')


def test_principal_shapes() -> None:
    assert USER.entity_type == OAUTH_USER and USER.entity_id == "client-1"
    assert USER.tags["scope"] == "refunds/write"
    assert OPERATOR.entity_type == IAM_ENTITY and OPERATOR.tags == {}


@pytest.mark.parametrize(("amount", "allowed"), [(100, True), (499, True), (500, False), (900, False)])
def test_permit_condition_reads_context_input(amount: int, allowed: bool) -> None:
    d = authorize_call({"p-small": PERMIT_SMALL}, USER, REFUND, GW, {"amount": amount})
    assert d.allowed is allowed
    assert d.determining_policy_ids == (("p-small",) if allowed else ())
    assert d.denied_by_default is (not allowed)
    assert d.errors == ()


def test_permit_scope_binds_principal_type_and_resource() -> None:
    assert not authorize_call({"p": PERMIT_SMALL}, OPERATOR, REFUND, GW, {"amount": 1}).allowed
    assert not authorize_call({"p": PERMIT_SMALL}, USER, REFUND, OTHER_GW, {"amount": 1}).allowed
    assert not authorize_call({"p": PERMIT_SMALL}, USER, "RefundTarget___other", GW, {"amount": 1}).allowed


def test_forbid_overrides_permit_and_is_named() -> None:
    policies = {"allow-all": "permit(principal, action, resource);",
                "no-big": f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource) '
                          'when { context.input.amount > 1000 };'}
    assert authorize_call(policies, USER, REFUND, GW, {"amount": 10}).allowed
    d = authorize_call(policies, USER, REFUND, GW, {"amount": 5000})
    assert not d.allowed and d.determining_policy_ids == ("no-big",) and not d.denied_by_default


def test_jwt_claims_are_tags() -> None:
    policy = {"scoped": 'permit(principal, action, resource) when { principal.hasTag("scope") && '
                        'principal.getTag("scope") like "*refunds/write*" };'}
    assert authorize_call(policy, USER, REFUND, GW, {}).allowed
    reader = Principal.oauth_user({"sub": "reader", "scope": "refunds/read"})
    assert not authorize_call(policy, reader, REFUND, GW, {}).allowed
    assert not authorize_call(policy, OPERATOR, REFUND, GW, {}).allowed  # no tags at all


def test_iam_entity_principal_by_arn() -> None:
    policy = {"op": f'permit(principal == AgentCore::IamEntity::"{OPERATOR.entity_id}", action, resource);'}
    assert authorize_call(policy, OPERATOR, REFUND, GW, {}).allowed
    assert not authorize_call(policy, USER, REFUND, GW, {}).allowed


def test_no_policies_denies_by_default() -> None:
    d = authorize_call({}, USER, REFUND, GW, {"amount": 1})
    assert not d.allowed and d.denied_by_default and d.determining_policy_ids == ()
    assert not could_permit({}, USER, REFUND, GW)


def test_a_broken_statement_is_reported_and_skipped() -> None:
    d = authorize_call({"broken": "permit(principal, action", "p": PERMIT_SMALL}, USER, REFUND, GW, {"amount": 1})
    assert d.allowed and d.determining_policy_ids == ("p",)
    assert len(d.errors) == 1 and d.errors[0].startswith("policy broken:")


def test_statement_with_two_policies_maps_back_to_one_id() -> None:
    head = f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource)'
    both = f"{head} when {{ context.input.amount > 9 }};{head} when {{ context.input.amount > 5 }};"
    d = authorize_call({"allow": "permit(principal, action, resource);", "pair": both}, USER, REFUND, GW,
                       {"amount": 10})
    assert d.determining_policy_ids == ("pair",)


def test_argument_values_are_mapped_to_cedar() -> None:
    policy = {"p": 'permit(principal, action, resource) when { context.input.tags.contains("vip") && '
                   'context.input.customer.tier == "gold" && context.input.price.lessThan(decimal("10.50")) && '
                   '!(context.input has note) };'}
    args = {"tags": ["vip", "eu"], "customer": {"tier": "gold"}, "price": 9.99, "note": None}
    d = authorize_call(policy, USER, REFUND, GW, args)
    assert d.allowed, d.errors
    assert not authorize_call(policy, USER, REFUND, GW, {**args, "price": 10.75}).allowed


def test_could_permit_uses_partial_evaluation() -> None:
    assert could_permit({"p": PERMIT_SMALL}, USER, REFUND, GW)  # residual on context: could be permitted
    assert not could_permit({"p": PERMIT_SMALL}, USER, "OrdersTarget___get_order", GW)
    assert not could_permit({"p": PERMIT_SMALL}, OPERATOR, REFUND, GW)
    forbid_all = {"p": PERMIT_SMALL, "f": f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource);'}
    assert not could_permit(forbid_all, USER, REFUND, GW)
    # a forbid that depends on the input does not hide the tool: some input is still allowed
    forbid_big = {"p": PERMIT_SMALL, "f": f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource) '
                                          'when { context.input.amount > 100 };'}
    assert could_permit(forbid_big, USER, REFUND, GW)
    assert could_permit({"all": "permit(principal, action, resource);"}, OPERATOR, REFUND, GW)
    # a forbid keyed on the principal's tags is known at list time
    banned = {"all": "permit(principal, action, resource);",
              "ban": 'forbid(principal, action, resource) when { principal.getTag("scope") == "refunds/write" };'}
    assert not could_permit(banned, USER, REFUND, GW)


def test_could_permit_hides_tools_no_permit_names() -> None:
    """Regression: with a permit still open on another tool, cedarpy answers "undetermined" and hands
    back residuals that are already false (`when { false }`) or forbids; `action in [...]` stayed
    unknown because the action entity was missing. Neither may list a tool no permit names."""
    reads = 'permit(principal, action in [AgentCore::Action::"OrdersTarget___get_order"], resource);'
    policies = {"small": PERMIT_SMALL, "reads": reads}
    assert could_permit(policies, USER, REFUND, GW)
    assert could_permit(policies, USER, "OrdersTarget___get_order", GW)
    assert not could_permit(policies, USER, "OrdersTarget___cancel_order", GW)
    forbid_only = {"small": PERMIT_SMALL, "f": 'forbid(principal, action, resource) when { context.input.x > 1 };'}
    assert not could_permit(forbid_only, USER, "OrdersTarget___cancel_order", GW)
    assert could_permit(forbid_only, USER, REFUND, GW)
