"""The schema AgentCore generates from a gateway's tools, and validation as CreatePolicy does it."""

from __future__ import annotations

import pytest

from probe.cedar.schema import WILDCARD_RESOURCE, Tool, cedar_type, generate_schema, validate_statement

GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
TOOLS = [
    Tool("RefundTarget___process_refund", {"type": "object", "properties": {
        "amount": {"type": "number"}, "order_id": {"type": "string"}, "note": {"type": "string"}},
        "required": ["amount", "order_id"]}),
    Tool("RefundTarget___get_order", {"type": "object", "properties": {"order_id": {"type": "string"}},
                                      "required": ["order_id"]}),
]
REFUND = 'AgentCore::Action::"RefundTarget___process_refund"'
ON_GW = f'resource == AgentCore::Gateway::"{GW}"'


def tools_for(arn):
    return TOOLS if arn in (None, GW) else None


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "string"}, {"type": "String"}),
    ({"type": "integer"}, {"type": "Long"}),
    ({"type": "boolean"}, {"type": "Boolean"}),
    ({"type": "number"}, {"type": "Extension", "name": "decimal"}),
    ({"type": "array", "items": {"type": "integer"}}, {"type": "Set", "element": {"type": "Long"}}),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
     {"type": "Record", "attributes": {"a": {"type": "String", "required": True}}}),
    ({"type": ["number", "null"]}, {"type": "Extension", "name": "decimal"}),
    ({"type": "array"}, None),
    ({}, None),
])
def test_json_schema_types_map_as_agentcore_documents(schema, expected):
    assert cedar_type(schema) == expected


def test_generated_schema_has_the_action_hierarchy():
    actions = generate_schema(TOOLS)["AgentCore"]["actions"]
    assert actions["CallTool"] == {"memberOf": [{"id": "Mcp"}]}
    assert actions["RefundTarget___get_order"]["memberOf"] == [{"id": "CallTool"}, {"id": "RefundTarget"}]
    assert "RefundTarget" in actions


@pytest.mark.parametrize(("statement", "needle"), [
    (f"permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input.amount < 500 }};",
     "expected Long but saw decimal"),
    (f'permit(principal, action == AgentCore::Action::"RefundTarget___nope", {ON_GW});', "unrecognized action"),
    (f"permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input.amout == 1 }};", "not found"),
    (f'permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input.note == "x" }};', "optional attribute"),
    ("permit(principal is AgentCore::User, action, resource is AgentCore::Gateway);", "unrecognized entity type"),
    ("permit(principal, action, resource);", WILDCARD_RESOURCE),
    (f"permit(principal, action == {REFUND}, resource is AgentCore::Gateway);", "needs a specific gateway"),
    (f"permit(principal, action, {ON_GW});", "unconstrained action needs"),
    ('permit(principal, action, resource == AgentCore::Gateway::"arn:aws:bedrock-agentcore:us-east-1:1:gateway/x");',
     "no gateway"),
])
def test_invalid_policies_are_found(statement, needle):
    v = validate_statement(statement, tools_for)
    assert not v.ok
    assert any(needle in f for f in v.findings), v.findings
    assert all("\n" not in f and "policy0" not in f for f in v.findings)


@pytest.mark.parametrize("statement", [
    f'permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input.amount.lessThan(decimal("500.0")) }};',
    f'permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input has note && context.input.note == "x" }};',
    f'permit(principal, action in AgentCore::Action::"RefundTarget", {ON_GW});',
    'permit(principal, action, resource is AgentCore::Gateway) when { principal.id like "arn:*" };',
    'permit(principal, action, resource is AgentCore::Gateway) when { principal.hasTag("scope") && '
    'principal.getTag("scope") like "*w*" };',
])
def test_valid_policies_pass(statement):
    v = validate_statement(statement, tools_for)
    assert v.ok, v.findings
