"""The lab's policies as AWS treats them: validated at CreatePolicy/UpdatePolicy against the schema
generated from the gateway's tools, `context.input` typed from the tool's schema, principal `id`,
action groups, per-policy enforcementMode, both forms of the IAM fault, both default-deny texts."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx2
import pytest

from probe.cedar.lint import lint
from probe.cedar.model import EnginePolicy
from probe.cedar.schema import Tool
from probe.lab.gateway import DENIED_BY_DEFAULT, DENIED_NO_DETERMINING, POLICY_FAILED_LIST
from probe.lab.server import SEEDS_DIR

REFUND = "RefundTarget___process_refund"
LONG_CMP = 'permit(principal, action == AgentCore::Action::"RefundTarget___process_refund", ' \
           'resource == AgentCore::Gateway::"{arn}") when {{ context.input.amount < 500 }};'
DECIMAL_CMP = LONG_CMP.replace("context.input.amount < 500", 'context.input.amount.lessThan(decimal("500.0"))')


def mcp(url: str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JSON-RPC request in an initialized session (an unauthenticated gateway)."""
    base = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    r = httpx2.post(url, json=init, headers=base, timeout=10)
    session = {**base, "Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
    httpx2.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session, timeout=10)
    r = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}},
                    headers=session, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def refund(lab, gateway, amount: Any) -> dict[str, Any]:
    return mcp(lab.gateway_url(gateway.gateway_id), "tools/call",
               {"name": REFUND, "arguments": {"order_id": "o-1", "amount": amount}})["result"]


def listed(lab, gateway) -> list[str]:
    return [t["name"] for t in mcp(lab.gateway_url(gateway.gateway_id), "tools/list")["result"]["tools"]]


def text(result: dict[str, Any]) -> str:
    return result["content"][0]["text"]


@pytest.fixture(scope="module")
def ctl(lab):
    return lab.client("bedrock-agentcore-control")


@pytest.fixture
def world(lab):
    """A fresh engine and a gateway (default targets: `amount` is a number) attached from the Gateway side."""
    name = uuid.uuid4().hex[:12]
    engine = lab.console.create_policy_engine(f"E{name}")
    gateway = lab.console.create_gateway(f"g{name}", policy_engine_id=engine.engine_id)
    return engine, gateway


def settled(ctl, engine, policy_id: str) -> dict[str, Any]:
    """GetPolicy once the policy has left CREATING/UPDATING (the lab settles in a fraction of a second)."""
    deadline = time.monotonic() + 5
    while True:
        got = ctl.get_policy(policyEngineId=engine.engine_id, policyId=policy_id)
        if got["status"] not in ("CREATING", "UPDATING") or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def create(ctl, engine, name: str, statement: str, **kw) -> dict[str, Any]:
    created = ctl.create_policy(policyEngineId=engine.engine_id, name=name,
                                definition={"cedar": {"statement": statement}}, **kw)
    return settled(ctl, engine, created["policyId"])


def update(ctl, engine, policy_id: str, **kw) -> dict[str, Any]:
    ctl.update_policy(policyEngineId=engine.engine_id, policyId=policy_id, **kw)
    return settled(ctl, engine, policy_id)


# --- item 1: validation at CreatePolicy / UpdatePolicy ----------------------------------------------


def test_create_policy_validates_against_the_generated_schema(lab, ctl, world):
    engine, gw = world
    got = create(ctl, engine, "as_long", LONG_CMP.format(arn=gw.arn))
    assert got["status"] == "CREATE_FAILED"
    assert any("expected Long but saw decimal" in r for r in got["statusReasons"]), got["statusReasons"]
    assert REFUND not in listed(lab, gw)  # a failed policy decides nothing
    ok = create(ctl, engine, "as_decimal", DECIMAL_CMP.format(arn=gw.arn))
    assert (ok["status"], ok["statusReasons"], ok["enforcementMode"]) == ("ACTIVE", [], "ACTIVE")
    assert REFUND in listed(lab, gw)


@pytest.mark.parametrize(("statement", "reason"), [
    ("permit(principal, action, resource);", "a wildcard resource was detected"),
    (f'permit(principal, action == AgentCore::Action::"{REFUND}", resource is AgentCore::Gateway);',
     "needs a specific gateway"),
    ('permit(principal, action == AgentCore::Action::"RefundTarget___no_such_tool", '
     'resource == AgentCore::Gateway::"{arn}");', "unrecognized action"),
    ('permit(principal is AgentCore::User, action == AgentCore::Action::"RefundTarget___get_order", '
     'resource == AgentCore::Gateway::"{arn}");', "unrecognized entity type"),
])
def test_scope_rules_and_unknown_names_fail_creation(ctl, world, statement, reason):
    engine, gw = world
    got = create(ctl, engine, "bad", statement.replace("{arn}", gw.arn))
    assert got["status"] == "CREATE_FAILED" and any(reason in r for r in got["statusReasons"]), got


def test_validation_mode_ignore_all_findings_keeps_the_mistake(lab, ctl, world):
    engine, gw = world
    got = create(ctl, engine, "kept", LONG_CMP.format(arn=gw.arn), validationMode="IGNORE_ALL_FINDINGS")
    assert (got["status"], got["statusReasons"]) == ("ACTIVE", [])
    # Active, yet useless: the tool is listed (the permit depends on the input), every refund is denied.
    assert REFUND in listed(lab, gw)
    assert text(refund(lab, gw, 100)) == DENIED_BY_DEFAULT


def test_update_policy_that_fails_validation_keeps_the_previous_definition(lab, ctl, world):
    engine, gw = world
    pid = create(ctl, engine, "small", DECIMAL_CMP.format(arn=gw.arn))["policyId"]
    got = update(ctl, engine, pid, definition={"cedar": {"statement": LONG_CMP.format(arn=gw.arn)}})
    assert got["status"] == "UPDATE_FAILED" and got["statusReasons"]
    assert "lessThan" in got["definition"]["cedar"]["statement"]
    assert refund(lab, gw, 100)["isError"] is False  # still decided by the previous definition
    got = update(ctl, engine, pid,
                 definition={"cedar": {"statement": DECIMAL_CMP.format(arn=gw.arn).replace("500.0", "50.0")}})
    assert (got["status"], got["statusReasons"]) == ("ACTIVE", [])
    assert text(refund(lab, gw, 100)) == DENIED_BY_DEFAULT


def test_every_shipped_seed_is_valid(lab):
    for path in sorted(SEEDS_DIR.glob("*.yaml")):
        seeded = lab.seed(path, environ={})
        for engine_id in seeded.engines.values():
            for p in lab.state.engine(engine_id).policies.values():
                assert (p.status, p.status_reasons) == ("ACTIVE", []), (path.name, p.name, p.status_reasons)
    # The one mistake a seed keeps on purpose is the one `policy lint` finds.
    g = lab.state.gateway(next(x for x in lab.state.gateways.values() if x.name == "unvalidated").gateway_id)
    engine = lab.state.engine(g.policy_engine_arn)
    tools = [Tool(f"{t.name}___{s.name}", s.input_schema) for t in g.targets for s in t.tools]
    found = lint([EnginePolicy(p.policy_id, p.name, p.statement) for p in engine.policies.values()], tools, g.arn)
    assert [(f.kind, f.policy.split(" ")[0]) for f in found] == [("type_mismatch", "small_refunds_as_long")]


# --- items 2-4, 7: typing, principal id, action groups, enforcementMode --------------------------------


def test_number_input_is_a_decimal(lab, ctl, world):
    engine, gw = world
    create(ctl, engine, "small", DECIMAL_CMP.format(arn=gw.arn))
    assert refund(lab, gw, 120.5)["isError"] is False  # was an evaluation error: floats were not Cedar values
    assert refund(lab, gw, 120)["isError"] is False
    assert text(refund(lab, gw, 500.0)) == DENIED_BY_DEFAULT


def test_principal_has_an_id(lab, ctl, world):
    engine, gw = world
    create(ctl, engine, "anon", f'permit(principal, action == AgentCore::Action::"{REFUND}", '
                                f'resource == AgentCore::Gateway::"{gw.arn}") when {{ principal.id == "anonymous" }};')
    assert refund(lab, gw, 1)["isError"] is False


@pytest.mark.parametrize("group", ["CallTool", "Mcp", "RefundTarget"])
def test_tool_actions_have_parents(lab, ctl, world, group):
    engine, gw = world
    create(ctl, engine, "group", f'permit(principal, action in AgentCore::Action::"{group}", '
                                 f'resource == AgentCore::Gateway::"{gw.arn}");')
    assert refund(lab, gw, 1)["isError"] is False
    assert REFUND in listed(lab, gw)


def test_per_policy_enforcement_mode(lab, ctl, world):
    engine, gw = world
    create(ctl, engine, "all", "permit(principal, action, resource is AgentCore::Gateway);")
    forbid = f'forbid(principal, action == AgentCore::Action::"{REFUND}", resource == AgentCore::Gateway::"{gw.arn}");'
    pid = create(ctl, engine, "no_refunds", forbid, enforcementMode="LOG_ONLY")["policyId"]
    assert refund(lab, gw, 1)["isError"] is False  # LOG_ONLY: evaluated, not enforced
    assert update(ctl, engine, pid, enforcementMode="ACTIVE")["enforcementMode"] == "ACTIVE"
    assert f"[Policy evaluation denied due to {pid}]" in text(refund(lab, gw, 1))


# --- item 5 and 11: the second form of the IAM fault, the other default-deny text -------------------------


def test_second_form_of_the_iam_fault_denies_by_default(lab, ctl):
    engine = lab.console.create_policy_engine("SecondForm")
    first = lab.console.create_gateway("first-form")
    second = lab.console.create_gateway("second-form")
    for g in (first, second):
        lab.console.attach_engine_from_policy_side(g.gateway_id, engine.engine_id, "ENFORCE")
        assert create(ctl, engine, f"small_{g.name.replace('-', '_')}", DECIMAL_CMP.format(arn=g.arn))["status"] \
            == "ACTIVE"
    lab.console.set_faults(second.gateway_id, permission_fault_form="deny_by_default")
    assert text(mcp(lab.gateway_url(first.gateway_id), "tools/list")["result"]) == POLICY_FAILED_LIST
    assert listed(lab, second) == []
    assert text(refund(lab, second, 100)) == DENIED_BY_DEFAULT  # although the permit matches
    lab.console.grant_policy_evaluation(second.gateway_id)  # the fix, as `iam fix` writes it
    assert REFUND in listed(lab, second) and refund(lab, second, 100)["isError"] is False


def test_default_deny_text_with_no_determining_policies(lab, ctl, world):
    engine, gw = world
    create(ctl, engine, "small", DECIMAL_CMP.format(arn=gw.arn))
    lab.console.set_faults(gw.gateway_id, denial_shape="no_determining")
    result = refund(lab, gw, 900)
    assert result["isError"] is True and text(result) == DENIED_NO_DETERMINING
    assert text(result).startswith("AuthorizeActionException - ")
    assert text(result).endswith("[Policy evaluation denied due to no determining policies]")
