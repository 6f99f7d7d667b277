"""`policy lint`: one finding per kind, one line each with the policy name and a fix; loaders."""

from __future__ import annotations

import json

import pytest

from probe.cedar.lint import Finding, lint, load_policies_file, load_tools_json
from probe.cedar.model import EnginePolicy
from probe.cedar.schema import Tool

GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
ON_GW = f'resource == AgentCore::Gateway::"{GW}"'
REFUND = 'AgentCore::Action::"RefundTarget___process_refund"'
TOOLS = [
    Tool("RefundTarget___process_refund", {"type": "object", "properties": {
        "amount": {"type": "number"}, "order_id": {"type": "string"}}, "required": ["amount", "order_id"]}),
    Tool("RefundTarget___get_order", {"type": "object", "properties": {"order_id": {"type": "string"}},
                                      "required": ["order_id"]}),
]
# The default lab seed's policy as it was written before the lab validated policies.
AS_THE_SEED_WROTE_IT = f"""permit(principal is AgentCore::OAuthUser,
       action == {REFUND},
       {ON_GW})
when {{ context.input.amount < 500 }};"""
CORRECTED = AS_THE_SEED_WROTE_IT.replace("context.input.amount < 500",
                                         'context.input.amount.lessThan(decimal("500.0"))')


def findings(*statements: str, authorizer: str | None = None, **kw) -> list[Finding]:
    policies = [EnginePolicy(f"p{n}-id", f"p{n}", s, **kw) for n, s in enumerate(statements)]
    out = lint(policies, TOOLS, GW, authorizer)
    for f in out:
        assert "\n" not in f.line() and f.line().startswith(f.policy + ": ") and "; fix: " in f.line()
        assert Finding.from_dict(f.to_dict()) == f
    return out


def kinds(out: list[Finding]) -> list[str]:
    return [f.kind for f in out]


def test_decimal_long_mismatch_is_found_and_the_fix_given():
    (f,) = findings(AS_THE_SEED_WROTE_IT)
    assert f.kind == "type_mismatch" and f.policy == "p0 (p0-id)"
    assert "context.input.amount" in f.message and "Long 500" in f.message
    assert f.fix == 'context.input.amount.lessThan(decimal("500.0"))'
    assert findings(CORRECTED) == []


def test_flipped_comparison_gets_the_flipped_method():
    (f,) = findings(AS_THE_SEED_WROTE_IT.replace("context.input.amount < 500", "500 <= context.input.amount"))
    assert f.fix == 'context.input.amount.greaterThanOrEqual(decimal("500.0"))'


def test_unknown_attribute():
    (f,) = findings(f'permit(principal, action == {REFUND}, {ON_GW}) when {{ context.input.amout == "x" }};')
    assert f.kind == "unknown_attribute" and "amout" in f.message and "`amount`" in f.fix


def test_unknown_action():
    (f,) = findings(f'permit(principal, action == AgentCore::Action::"RefundTarget___proces_refund", {ON_GW});')
    assert f.kind == "unknown_action" and "RefundTarget___process_refund" in f.fix


def test_unsatisfiable_principal():
    (f,) = findings("permit(principal is AgentCore::User, action, resource is AgentCore::Gateway);")
    assert f.kind == "unsatisfiable_principal"
    (g,) = findings("permit(principal is AgentCore::IamEntity, action, resource is AgentCore::Gateway);",
                    authorizer="CUSTOM_JWT")
    assert g.kind == "unsatisfiable_principal" and "AgentCore::OAuthUser" in g.fix
    assert findings("permit(principal is AgentCore::IamEntity, action, resource is AgentCore::Gateway);",
                    authorizer="AWS_IAM") == []


def test_forbid_shadowing_a_permit_completely():
    reads = f'permit(principal, action == AgentCore::Action::"RefundTarget___get_order", {ON_GW});'
    forbid_target = 'forbid(principal, action, resource is AgentCore::Gateway);'
    out = findings(reads, forbid_target)
    assert kinds(out) == ["shadowed"] and out[0].policy == "p0 (p0-id)" and "p1 (p1-id)" in out[0].message
    group = f'forbid(principal, action in AgentCore::Action::"RefundTarget", {ON_GW});'
    assert kinds(findings(reads, group)) == ["shadowed"]
    conditional = f'forbid(principal, action in AgentCore::Action::"RefundTarget", {ON_GW}) when ' \
                  '{ principal.id == "x" };'
    assert findings(reads, conditional) == []
    other_tool = f'forbid(principal, action == {REFUND}, {ON_GW});'
    assert findings(reads, other_tool) == []


@pytest.mark.parametrize(("kw", "kind"), [({"status": "CREATE_FAILED"}, "not_active"),
                                          ({"enforcement_mode": "LOG_ONLY"}, "log_only")])
def test_policies_the_engine_does_not_enforce(kw, kind):
    (f,) = findings(CORRECTED, **kw)
    assert f.kind == kind


def test_scope_rules_refused_at_creation():
    assert kinds(findings("permit(principal, action, resource);")) == ["scope"]
    assert kinds(findings(f"permit(principal, action == {REFUND}, resource is AgentCore::Gateway);")) == ["scope"]


def test_other_gateway_and_unreadable():
    other = CORRECTED.replace(GW, GW.replace("refunds-abc123", "other-1"))
    assert kinds(findings(other)) == ["other_gateway"]
    assert kinds(findings("permit(principal, action")) == ["unreadable"]


def test_guards_for_optional_inputs_and_tags():
    tools = [Tool("T___t", {"type": "object", "properties": {"note": {"type": "string"}}})]
    out = lint([EnginePolicy("a", "a", f'permit(principal, action == AgentCore::Action::"T___t", {ON_GW}) '
                                       'when { context.input.note == "x" && principal.getTag("scope") == "s" };')],
               tools, GW)
    assert sorted(kinds(out)) == ["optional_attribute", "unguarded_tag"]


def test_load_policies_file_with_ids():
    text = f'@id("small") {CORRECTED}\n// a comment\npermit(principal, action, resource is AgentCore::Gateway);\n'
    small, second = load_policies_file(text)
    assert (small.name, second.name) == ("small", "policy2")
    assert "lessThan" in small.statement and lint([small, second], TOOLS, GW) == []
    with pytest.raises(ValueError, match="does not parse"):
        load_policies_file("permit(")
    with pytest.raises(ValueError, match="no policy"):
        load_policies_file("// nothing")


def test_load_tools_json_forms():
    listed = {"tools": [{"name": "RefundTarget___get_order", "inputSchema": TOOLS[1].input_schema}]}
    assert load_tools_json(json.dumps(listed)) == [TOOLS[1]]
    assert load_tools_json(json.dumps({"jsonrpc": "2.0", "id": 1, "result": listed})) == [TOOLS[1]]
    target = {"name": "RefundTarget", "targetConfiguration": {"mcp": {"lambda": {
        "lambdaArn": "arn:aws:lambda:us-east-1:1:function:f",
        "toolSchema": {"inlinePayload": [{"name": "get_order", "inputSchema": TOOLS[1].input_schema}]}}}}}
    assert load_tools_json(json.dumps([target])) == [TOOLS[1]]
    mcp_server = {"name": "RefundTarget", "targetConfiguration": {"mcp": {"mcpServer": {
        "endpoint": "https://x", "mcpToolSchema": {"inlinePayload": json.dumps(listed | {
            "tools": [{"name": "get_order", "inputSchema": TOOLS[1].input_schema}]})}}}}}
    assert load_tools_json(json.dumps(mcp_server)) == [TOOLS[1]]
    with pytest.raises(ValueError, match="lists no tool"):
        load_tools_json("{}")
    with pytest.raises(ValueError, match="not JSON"):
        load_tools_json("{")
