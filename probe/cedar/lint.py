"""`policy lint`'s core: what makes an AgentCore policy silently useless, one finding per line.

Validation against the schema AgentCore derives from the gateway's tools
(`probe.cedar.schema`) catches most of it, but a validator's message says what is wrong
with the Cedar, not what the operator meant. Each finding here names the policy, says in
AgentCore's terms why it never does what it says, and gives a fix:

- `type_mismatch`: a Long literal compared with a decimal input (`context.input.amount <
  500` when `amount` is a JSON Schema `number`): every evaluation is an error;
- `unknown_attribute`: `context.input.X` that no tool in the policy's scope has;
- `unknown_action`: an action naming no tool of the gateway;
- `unsatisfiable_principal`: a permit no principal of this gateway can satisfy (an entity
  type outside AgentCore, or the other authorizer's principal type);
- `shadowed`: a permit that an unconditional forbid covers completely;
- `not_active` / `log_only`: a policy the engine does not enforce;
- `scope`: the action/resource pairing AWS refuses at creation;
- `optional_attribute`, `unguarded_tag`: reads the validator cannot prove safe;
- `other_gateway`: a policy naming another gateway (it never applies here);
- `unreadable`, `invalid`: the statement does not parse, or another validator finding.

Pure: policies and tools in, findings out. Loaders for a `.cedar` file and a tools JSON
(as `tools/list` answers it, or the control plane's target `toolSchema`) are at the end.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.cedar import require_cedarpy
from probe.cedar.model import (
    ACTION,
    CALL_TOOL,
    IAM_ENTITY,
    MCP_GROUP,
    OAUTH_USER,
    TOOL_SEPARATOR,
    EnginePolicy,
    parse_statement,
)
from probe.cedar.schema import Tool, cedar_type, named_gateway, schema_findings, scope_findings

_DECIMAL_METHODS = {"<": "lessThan", "<=": "lessThanOrEqual", ">": "greaterThan", ">=": "greaterThanOrEqual"}
_AUTHORIZER_PRINCIPAL = {"CUSTOM_JWT": OAUTH_USER, "AWS_IAM": IAM_ENTITY}


@dataclass(frozen=True)
class Finding:
    """One reason a policy is useless or refused, with a fix an operator can apply."""

    kind: str
    policy: str  # the policy's name (and id when they differ)
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.policy}: {self.message}; fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "policy": self.policy, "message": self.message, "fix": self.fix}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Finding:
        return cls(str(doc["kind"]), str(doc["policy"]), str(doc["message"]), str(doc.get("fix", "")))


def lint(
    policies: Sequence[EnginePolicy],
    tools: Sequence[Tool],
    gateway_arn: str,
    authorizer_type: str | None = None,
) -> list[Finding]:
    """Every finding for the engine's policies as they apply to one gateway and its tools."""
    findings: list[Finding] = []
    parsed: dict[str, dict[str, Any]] = {}
    for p in policies:
        try:
            bodies = parse_statement(p.statement)
        except ValueError as exc:
            why = " ".join(str(exc).split())
            findings.append(Finding("unreadable", p.label, f"the statement does not parse ({why})",
                                    "correct the Cedar syntax"))
            continue
        if p.status != "ACTIVE":
            findings.append(Finding("not_active", p.label, f"status {p.status}: the engine does not decide with it",
                                    "fix what statusReasons says and UpdatePolicy, or delete it"))
        elif p.enforcement_mode == "LOG_ONLY":
            findings.append(Finding("log_only", p.label, "enforcementMode LOG_ONLY: its decisions are only logged",
                                    "set enforcementMode ACTIVE when its decisions look right"))
        if len(bodies) != 1:
            findings.append(Finding("invalid", p.label, f"holds {len(bodies)} Cedar policies; AgentCore takes one",
                                    "split it into one Policy per Cedar policy"))
            continue
        est = bodies[0]
        other = named_gateway(est)
        if other is not None and other != gateway_arn:
            findings.append(Finding("other_gateway", p.label, f"names gateway {other}, so it never applies to "
                                    f"{gateway_arn}", "attach it to the right engine, or name this gateway's ARN"))
            continue
        parsed[p.policy_id] = est
        findings += _scope(p, est)
        findings += _principal(p, est, authorizer_type)
        findings += _schema(p, est, tools)
    findings += _shadowed([p for p in policies if p.policy_id in parsed and p.enforced], parsed, tools)
    return findings


# --- the checks ------------------------------------------------------------------------------------


def _scope(policy: EnginePolicy, est: Mapping[str, Any]) -> list[Finding]:
    out = []
    for text in scope_findings(est):
        if "wildcard" in text:
            fix = 'write `resource is AgentCore::Gateway`, or `resource == AgentCore::Gateway::"<arn>"`'
        elif "unconstrained action" in text:
            fix = "write `resource is AgentCore::Gateway`, or name the actions"
        else:
            fix = 'name the gateway: resource == AgentCore::Gateway::"<gateway ARN>"'
        out.append(Finding("scope", policy.label, f"refused by AWS at creation: {text}", fix))
    return out


def _principal(policy: EnginePolicy, est: Mapping[str, Any], authorizer_type: str | None) -> list[Finding]:
    if est.get("effect") != "permit":
        return []
    scope = est.get("principal") or {}
    kind = scope.get("entity_type") if scope.get("op") == "is" else (scope.get("entity") or {}).get("type")
    if kind is None:
        return []
    if kind not in (OAUTH_USER, IAM_ENTITY):
        return [Finding("unsatisfiable_principal", policy.label, f"no principal is ever a {kind}: AgentCore's "
                        f"principals are {OAUTH_USER} and {IAM_ENTITY}", f"use `principal is {OAUTH_USER}` (JWT "
                        f"callers) or `principal is {IAM_ENTITY}` (SigV4 callers)")]
    expected = _AUTHORIZER_PRINCIPAL.get(authorizer_type or "")
    if expected and kind != expected:
        return [Finding("unsatisfiable_principal", policy.label, f"a {authorizer_type} gateway's callers are "
                        f"{expected}, never {kind}: this permit never matches", f"use `principal is {expected}`")]
    return []


def _schema(policy: EnginePolicy, est: Mapping[str, Any], tools: Sequence[Tool]) -> list[Finding]:
    if not tools:
        return []
    raw = schema_findings(policy.statement, tools)
    out: list[Finding] = []
    names = [t.name for t in tools]
    for text in raw:
        if "unexpected type" in text and "decimal" in text and "Long" in text:
            out += _decimal_findings(policy, est, tools) or [Finding(
                "type_mismatch", policy.label, f"compares a decimal input with a Long ({text})",
                'compare decimals with methods: x.lessThan(decimal("500.0"))')]
        elif m := re.search(r"attribute `input\.([^`]+)` in context for ([^ ]+) not found", text):
            attr, action = m.group(1), m.group(2)
            tool = action.removeprefix(f"{ACTION}::").strip('"')
            known = sorted(_input_attributes(tools, tool))
            hint = difflib.get_close_matches(attr.split(".")[0], known, n=1)
            fix = f"did you mean `{hint[0]}`?" if hint else (
                f"the input of {tool} has: {', '.join(known) or 'no attributes'}")
            out.append(Finding("unknown_attribute", policy.label,
                               f"context.input.{attr} is not an input of {tool}: the policy cannot apply to it", fix))
        elif m := re.search(r"unrecognized action `([^`]+)`", text):
            action = m.group(1)
            name = action.removeprefix(f"{ACTION}::").strip('"')
            hint = difflib.get_close_matches(name, names, n=1)
            fix = f"did you mean {ACTION}::\"{hint[0]}\"?" if hint else \
                "name a tool as the gateway lists it: <TargetName>___<toolName>"
            out.append(Finding("unknown_action", policy.label, f"{action} names no tool of this gateway", fix))
        elif m := re.search(r"unrecognized entity type `([^`]+)`", text):
            if m.group(1) in json.dumps(est.get("principal")) and est.get("effect") == "permit":
                continue  # reported by _principal as unsatisfiable_principal
            else:
                out.append(Finding("invalid", policy.label, text, "use only AgentCore entity types"))
        elif "optional attribute" in text:
            attr = re.search(r"attribute `([^`]+)`", text)
            name = attr.group(1) if attr else "the attribute"
            out.append(Finding("optional_attribute", policy.label, f"reads {name}, which the tool does not require: "
                               "refused by AWS's validation", f"guard it: `context.{name.split('.')[0]} has "
                               f"{name.split('.', 1)[-1]} && ...`"))
        elif "access to tag" in text:
            tag = re.search(r"tag `\"?([^`\"]+)\"?`", text)
            name = tag.group(1) if tag else "scope"
            if not any(f.kind == "unguarded_tag" for f in out):
                out.append(Finding("unguarded_tag", policy.label, f"reads the tag {name!r} without testing for it: "
                                   "refused by AWS's validation", f'guard it: principal.hasTag("{name}") && ...'))
        elif "unable to find an applicable action" in text:
            continue  # the consequence of another finding (an unknown action or principal type)
        else:
            out.append(Finding("invalid", policy.label, text, "correct the policy against the gateway's tools"))
    if raw and all("unable to find an applicable action" in t for t in raw):
        out.append(Finding("invalid", policy.label, "its scope matches no tool of this gateway",
                           "name a tool of this gateway, or widen the scope"))
    return out


def _decimal_findings(policy: EnginePolicy, est: Mapping[str, Any], tools: Sequence[Tool]) -> list[Finding]:
    """Each `context.input.X <op> <Long>` whose X is a decimal, with the method call that fixes it."""
    decimals = {attr for t in tools for attr, kind in _input_types(t).items() if kind == "decimal"}
    out = []
    for op, path, literal in _comparisons(est):
        if path not in decimals:
            continue
        method = _DECIMAL_METHODS.get(op)
        value = f'decimal("{literal}.0")'
        fix = f"context.input.{path}.{method}({value})" if method else f"context.input.{path} == {value}"
        out.append(Finding("type_mismatch", policy.label,
                           f"compares context.input.{path} (a JSON Schema number, so a Cedar decimal) with the Long "
                           f"{literal}: every evaluation is an error and the policy never applies", fix))
    return out


def _comparisons(node: Any) -> Iterable[tuple[str, str, int]]:
    """(operator, input path, Long literal) for every comparison of `context.input.<path>` with a Long."""
    if isinstance(node, Mapping):
        for op in ("<", "<=", ">", ">=", "==", "!="):
            body = node.get(op)
            if isinstance(body, Mapping) and "left" in body and "right" in body:
                for a, b, flipped in ((body["left"], body["right"], False), (body["right"], body["left"], True)):
                    path = _input_path(a)
                    literal = b.get("Value") if isinstance(b, Mapping) else None
                    if path and isinstance(literal, int) and not isinstance(literal, bool):
                        yield (_flip(op) if flipped else op), path, literal
        for value in node.values():
            yield from _comparisons(value)
    elif isinstance(node, list):
        for value in node:
            yield from _comparisons(value)


def _flip(op: str) -> str:
    return {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)


def _input_path(node: Any) -> str | None:
    """`amount` for the EST of `context.input.amount` (`a.b` for nested records), else None."""
    attrs: list[str] = []
    while isinstance(node, Mapping) and "." in node:
        attrs.append(str(node["."]["attr"]))
        node = node["."]["left"]
    if node == {"Var": "context"} and len(attrs) >= 2 and attrs[-1] == "input":
        return ".".join(reversed(attrs[:-1]))
    return None


def _input_types(tool: Tool) -> dict[str, str]:
    """Input attribute path -> "decimal" | other Cedar type name, as the schema types them."""
    out: dict[str, str] = {}

    def walk(schema: Mapping[str, Any] | None, prefix: str) -> None:
        props = (schema or {}).get("properties")
        for name, prop in (props if isinstance(props, Mapping) else {}).items():
            ctype = cedar_type(prop if isinstance(prop, Mapping) else None) or {}
            path = f"{prefix}{name}"
            out[path] = "decimal" if ctype.get("name") == "decimal" else str(ctype.get("type"))
            if ctype.get("type") == "Record":
                walk(prop, f"{path}.")

    walk(tool.input_schema, "")
    return out


def _input_attributes(tools: Sequence[Tool], tool_name: str) -> set[str]:
    for t in tools:
        if t.name == tool_name:
            return {k for k in _input_types(t) if "." not in k}
    return set()


def _shadowed(
    policies: Sequence[EnginePolicy], parsed: Mapping[str, Mapping[str, Any]], tools: Sequence[Tool]
) -> list[Finding]:
    """Permits that an unconditional forbid covers in principal, action and resource."""
    out = []
    forbids = [p for p in policies if parsed[p.policy_id].get("effect") == "forbid"
               and _unconditional(parsed[p.policy_id])]
    for permit in policies:
        est = parsed[permit.policy_id]
        if est.get("effect") != "permit":
            continue
        for forbid in forbids:
            f = parsed[forbid.policy_id]
            covered = (_covers_principal(f["principal"], est["principal"])
                       and _covers_resource(f["resource"], est["resource"])
                       and _covers_action(f["action"], est["action"], tools))
            if covered:
                out.append(Finding("shadowed", permit.label, f"forbid {forbid.label} applies to every request this "
                                   "permit matches, and forbid wins: it can never permit",
                                   "narrow the forbid (a when condition, or a narrower scope), or drop the permit"))
                break
    return out


def _unconditional(est: Mapping[str, Any]) -> bool:
    for cond in est.get("conditions") or []:
        settled = (cond.get("body") or {}).get("Value")
        if not (isinstance(settled, bool) and settled == (cond.get("kind") == "when")):
            return False
    return True


def _covers_principal(forbid: Mapping[str, Any], permit: Mapping[str, Any]) -> bool:
    if forbid.get("op") == "All" or forbid == permit:
        return True
    if forbid.get("op") == "is" and forbid.get("in") is None:
        kind = permit.get("entity_type") if permit.get("op") == "is" else (permit.get("entity") or {}).get("type")
        return kind == forbid.get("entity_type")
    return False


def _covers_resource(forbid: Mapping[str, Any], permit: Mapping[str, Any]) -> bool:
    return _covers_principal(forbid, permit)  # the same shapes: All, ==, is


def _covers_action(forbid: Mapping[str, Any], permit: Mapping[str, Any], tools: Sequence[Tool]) -> bool:
    if forbid.get("op") == "All":
        return True
    everything = {t.name for t in tools}
    wanted = everything if permit.get("op") == "All" else _actions(permit, tools)
    return bool(wanted) and wanted <= _actions(forbid, tools)


def _actions(scope: Mapping[str, Any], tools: Sequence[Tool]) -> set[str]:
    """The tool names an action scope selects (groups expanded over the gateway's tools)."""
    ids = [scope["entity"]["id"]] if scope.get("op") == "==" else [e["id"] for e in scope.get("entities") or []]
    if scope.get("op") == "in" and "entity" in scope:
        ids = [scope["entity"]["id"]]
    out: set[str] = set()
    for ident in ids:
        if ident in (CALL_TOOL, MCP_GROUP):
            out |= {t.name for t in tools}
        elif TOOL_SEPARATOR not in ident:
            out |= {t.name for t in tools if t.target == ident}
        out.add(ident)
    return out


# --- loaders -----------------------------------------------------------------------------------------


def load_policies_file(text: str) -> list[EnginePolicy]:
    """The policies of a `.cedar` file; each named by its `@id("...")` annotation, else policy1, policy2, ..."""
    cedarpy = require_cedarpy()
    try:
        doc = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise ValueError(f"the Cedar file does not parse: {' '.join(str(exc).split())}") from None
    if doc.get("templates"):
        raise ValueError("the Cedar file holds templates; AgentCore policies are static")
    static = doc.get("staticPolicies") or {}
    out = []
    for n, key in enumerate(sorted(static, key=lambda k: int(k[6:]) if k[6:].isdigit() else 0), start=1):
        body = static[key]
        name = str((body.get("annotations") or {}).get("id") or f"policy{n}")
        single = {"staticPolicies": {"p": body}, "templates": {}, "templateLinks": []}
        statement = cedarpy.policies_from_json_str(json.dumps(single)).strip()
        out.append(EnginePolicy(name, name, statement))
    if not out:
        raise ValueError("the Cedar file holds no policy")
    return out


def load_tools_json(text: str) -> list[Tool]:
    """Tools from JSON: a `tools/list` result (or its JSON-RPC answer, or the bare list), or the control
    plane's targets (GetGatewayTarget answers, or `{"name": T, "toolSchema": {"inlinePayload": [...]}}`)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the tools file is not JSON: {exc}") from None
    tools = _tools(doc)
    if not tools:
        raise ValueError("the tools file lists no tool (expected a tools/list result or gateway targets)")
    return tools


def tools_of(doc: Any) -> list[Tool]:
    """The tools in a parsed document (a GetGatewayTarget answer, a tools/list result, ...); [] if none."""
    return _tools(doc)


def _tools(doc: Any) -> list[Tool]:
    if isinstance(doc, Mapping):
        if isinstance(doc.get("result"), Mapping):
            return _tools(doc["result"])
        if isinstance(doc.get("tools"), list):
            return _tools(doc["tools"])
        if isinstance(doc.get("items"), list):
            return _tools(doc["items"])
        target = doc.get("name")
        payload = _inline_payload(doc)
        if isinstance(target, str) and payload is not None:
            return [Tool(f"{target}{TOOL_SEPARATOR}{d['name']}", _schema_of(d)) for d in payload
                    if isinstance(d, Mapping) and isinstance(d.get("name"), str)]
        if isinstance(doc.get("name"), str):
            return [Tool(doc["name"], _schema_of(doc))]
        return []
    if isinstance(doc, list):
        return [t for item in doc for t in _tools(item)]
    return []


def _schema_of(tool: Mapping[str, Any]) -> dict[str, Any]:
    schema = tool.get("inputSchema")
    return dict(schema) if isinstance(schema, Mapping) else {"type": "object", "properties": {}}


def _inline_payload(doc: Mapping[str, Any]) -> list[Any] | None:
    """The tool definitions of a target, wherever the control plane's shapes keep them."""
    config = doc.get("targetConfiguration")
    if isinstance(config, Mapping):
        mcp = config.get("mcp") or {}
        for body in mcp.values() if isinstance(mcp, Mapping) else ():
            if isinstance(body, Mapping):
                found = _inline_payload(body)
                if found is not None:
                    return found
        return None
    for key in ("toolSchema", "mcpToolSchema"):
        source = doc.get(key)
        if isinstance(source, Mapping) and "inlinePayload" in source:
            payload = source["inlinePayload"]
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    return None
            if isinstance(payload, Mapping):
                payload = payload.get("tools")
            return payload if isinstance(payload, list) else None
    return None
