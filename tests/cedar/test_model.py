"""AgentCore's Cedar model on cedarpy: decisions, typing of context.input, principal id, action groups."""

from __future__ import annotations

import subprocess
import sys

import pytest

from probe.cedar import CedarUnavailable, require_cedarpy
from probe.cedar.model import (
    IAM_ENTITY,
    OAUTH_USER,
    EnginePolicy,
    Principal,
    authorize_call,
    could_permit,
    enforced_statements,
    typed_input,
)

GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
OTHER_GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/other-xyz"
REFUND = "RefundTarget___process_refund"
REFUND_SCHEMA = {"type": "object", "properties": {"amount": {"type": "number"}, "order_id": {"type": "string"}},
                 "required": ["amount", "order_id"]}
USER = Principal.oauth_user({"sub": "client-1", "client_id": "client-1", "scope": "refunds/write", "exp": 1700000000})
OPERATOR = Principal.iam_entity("arn:aws:iam::123456789012:user/lab-operator")

PERMIT_SMALL = (f'permit(principal is AgentCore::OAuthUser, action == AgentCore::Action::"{REFUND}", '
                f'resource == AgentCore::Gateway::"{GW}") when {{ context.input.amount < 500 }};')
PERMIT_SMALL_DECIMAL = PERMIT_SMALL.replace("context.input.amount < 500",
                                            'context.input.amount.lessThan(decimal("500.0"))')


def test_principal_shapes_and_round_trip() -> None:
    assert USER.entity_type == OAUTH_USER and USER.entity_id == "client-1"
    assert USER.tags["scope"] == "refunds/write"
    assert OPERATOR.entity_type == IAM_ENTITY and OPERATOR.tags == {}
    assert Principal.from_dict(USER.to_dict()) == USER
    with pytest.raises(ValueError, match="not an AgentCore principal type"):
        Principal.from_dict({"type": "User", "id": "x"})


def test_number_inputs_are_decimals_so_a_long_comparison_never_permits() -> None:
    """AgentCore types JSON Schema `number` as decimal: `amount < 500` is an evaluation error."""
    d = authorize_call({"p": PERMIT_SMALL}, USER, REFUND, GW, {"amount": 120, "order_id": "o"}, REFUND_SCHEMA)
    assert not d.allowed and d.denied_by_default
    assert any("decimal" in e for e in d.errors), d.errors


@pytest.mark.parametrize(("amount", "allowed"), [(120, True), (120.5, True), (499.99999, True), (500, False),
                                                 (900.25, False)])
def test_decimal_comparison_reads_typed_input(amount: float, allowed: bool) -> None:
    d = authorize_call({"p": PERMIT_SMALL_DECIMAL}, USER, REFUND, GW, {"amount": amount, "order_id": "o"},
                       REFUND_SCHEMA)
    assert d.allowed is allowed, d.errors
    assert d.errors == ()


def test_typed_input_follows_the_schema() -> None:
    schema = {"type": "object", "properties": {
        "n": {"type": "number"}, "i": {"type": "integer"}, "b": {"type": "boolean"}, "s": {"type": "string"},
        "o": {"type": "object", "properties": {"x": {"type": "number"}}},
        "a": {"type": "array", "items": {"type": "integer"}}}}
    got = typed_input({"n": 1.23456, "i": 3.0, "b": True, "s": "v", "o": {"x": 2}, "a": [1, None, 2], "z": None},
                      schema)
    assert got == {"n": {"__extn": {"fn": "decimal", "arg": "1.2345"}}, "i": 3, "b": True, "s": "v",
                   "o": {"x": {"__extn": {"fn": "decimal", "arg": "2.0"}}}, "a": [1, 2]}


def test_integer_inputs_stay_long() -> None:
    schema = {"type": "object", "properties": {"amount": {"type": "integer"}}}
    assert authorize_call({"p": PERMIT_SMALL}, USER, REFUND, GW, {"amount": 120}, schema).allowed
    assert not authorize_call({"p": PERMIT_SMALL}, USER, REFUND, GW, {"amount": 700}, schema).allowed


def test_principal_id_is_an_attribute() -> None:
    """The documentation recommends `principal.id like ...` for IAM callers."""
    policy = {"ops": 'permit(principal, action, resource is AgentCore::Gateway) '
                     'when { principal.id like "arn:aws:iam::123456789012:user/*" };'}
    assert authorize_call(policy, OPERATOR, REFUND, GW, {}).allowed
    assert authorize_call({"sub": 'permit(principal, action, resource) when { principal.id == "client-1" };'},
                          USER, REFUND, GW, {}).allowed
    assert not authorize_call(policy, Principal.iam_entity("arn:aws:iam::999999999999:role/x"), REFUND, GW, {}).allowed


@pytest.mark.parametrize("group", ["CallTool", "Mcp", "RefundTarget"])
def test_tool_actions_are_in_their_groups(group: str) -> None:
    policy = {"g": f'permit(principal, action in AgentCore::Action::"{group}", '
                   f'resource == AgentCore::Gateway::"{GW}");'}
    assert authorize_call(policy, USER, REFUND, GW, {}).allowed
    assert could_permit(policy, USER, REFUND, GW)
    assert (group != "RefundTarget") == authorize_call(policy, USER, "WeatherTarget___get_alerts", GW, {}).allowed


def test_permit_scope_binds_principal_type_and_resource() -> None:
    args = {"amount": 1, "order_id": "o"}
    assert not authorize_call({"p": PERMIT_SMALL_DECIMAL}, OPERATOR, REFUND, GW, args, REFUND_SCHEMA).allowed
    assert not authorize_call({"p": PERMIT_SMALL_DECIMAL}, USER, REFUND, OTHER_GW, args, REFUND_SCHEMA).allowed
    assert not authorize_call({"p": PERMIT_SMALL_DECIMAL}, USER, "RefundTarget___other", GW, args).allowed


def test_forbid_overrides_permit_and_is_named() -> None:
    policies = {"allow-all": "permit(principal, action, resource);",
                "no-big": f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource) '
                          'when { context.input.amount > 1000 };'}
    assert authorize_call(policies, USER, REFUND, GW, {"amount": 10}).allowed
    d = authorize_call(policies, USER, REFUND, GW, {"amount": 5000})
    assert not d.allowed and d.determining_policy_ids == ("no-big",) and not d.denied_by_default


def test_jwt_claims_are_string_tags() -> None:
    policy = {"scoped": 'permit(principal, action, resource) when { principal.hasTag("scope") && '
                        'principal.getTag("scope") like "*refunds/write*" };'}
    assert authorize_call(policy, USER, REFUND, GW, {}).allowed
    reader = Principal.oauth_user({"sub": "reader", "scope": ["refunds/read", "refunds/write"]})
    assert authorize_call(policy, reader, REFUND, GW, {}).allowed  # a list claim is space-joined
    assert not authorize_call(policy, Principal.oauth_user({"sub": "r", "scope": "refunds/read"}), REFUND, GW,
                              {}).allowed
    assert not authorize_call(policy, OPERATOR, REFUND, GW, {}).allowed  # no tags at all
    exp = {"exp": 'permit(principal, action, resource) when { principal.getTag("exp") == "1700000000" };'}
    assert authorize_call(exp, USER, REFUND, GW, {}).allowed


def test_no_policies_denies_by_default() -> None:
    d = authorize_call({}, USER, REFUND, GW, {"amount": 1})
    assert not d.allowed and d.denied_by_default and d.determining_policy_ids == ()
    assert not could_permit({}, USER, REFUND, GW)


def test_a_broken_statement_is_reported_and_skipped() -> None:
    d = authorize_call({"broken": "permit(principal, action", "p": PERMIT_SMALL}, USER, REFUND, GW, {"amount": 1})
    assert d.allowed and d.determining_policy_ids == ("p",)
    assert len(d.errors) == 1 and d.errors[0].startswith("policy broken:")


def test_could_permit_uses_partial_evaluation() -> None:
    assert could_permit({"p": PERMIT_SMALL_DECIMAL}, USER, REFUND, GW)
    assert not could_permit({"p": PERMIT_SMALL_DECIMAL}, USER, "OrdersTarget___get_order", GW)
    assert not could_permit({"p": PERMIT_SMALL_DECIMAL}, OPERATOR, REFUND, GW)
    forbid_all = {"p": PERMIT_SMALL, "f": f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource);'}
    assert not could_permit(forbid_all, USER, REFUND, GW)
    banned = {"all": "permit(principal, action, resource);",
              "ban": 'forbid(principal, action, resource) when { principal.getTag("scope") == "refunds/write" };'}
    assert not could_permit(banned, USER, REFUND, GW)


def test_enforced_statements_skip_failed_and_log_only_policies() -> None:
    policies = [EnginePolicy("a", "a", "s-a"), EnginePolicy("b", "b", "s-b", status="CREATE_FAILED"),
                EnginePolicy("c", "c", "s-c", enforcement_mode="LOG_ONLY"),
                EnginePolicy("d", "d", "s-d", status="UPDATE_FAILED")]
    assert enforced_statements(policies) == {"a": "s-a", "d": "s-d"}
    assert EnginePolicy.from_dict(policies[2].to_dict()) == policies[2]
    api = {"policyId": "p-1", "name": "small", "status": "ACTIVE", "enforcementMode": "LOG_ONLY",
           "definition": {"cedar": {"statement": "permit(principal, action, resource);"}}}
    assert EnginePolicy.from_api(api) == EnginePolicy("p-1", "small", "permit(principal, action, resource);",
                                                      "ACTIVE", "LOG_ONLY")


def test_missing_cedarpy_is_a_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # what an absent install looks like to `import`
    with pytest.raises(CedarUnavailable) as exc:
        require_cedarpy()
    assert "\n" not in str(exc.value) and "pip install 'agentcore-probe[cedar]'" in str(exc.value)


def test_importing_the_cli_and_the_cedar_package_does_not_import_cedarpy() -> None:
    code = "import sys, probe.cli, probe.cedar, probe.cedar.model; print('cedarpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
