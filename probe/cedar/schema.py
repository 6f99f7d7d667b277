"""The Cedar schema AgentCore generates from a gateway's tools, and validation against it.

AWS validates a policy at CreatePolicy/UpdatePolicy (`validationMode`
FAIL_ON_ANY_FINDINGS, the default) against a schema generated from the gateway's tool
manifest [policy-schema-constraints], plus two scope rules stated for every policy
[example-policies-action-resource]: the resource is never unconstrained ("a wildcard
resource was detected"), and the action scope decides the resource form (specific
actions need `resource == AgentCore::Gateway::"<arn>"`, a bare `action` needs
`resource is AgentCore::Gateway`). This module builds that schema and reports the same
findings as one-line strings; the lab's control plane and `policy lint` both use it.

Assumed where the documentation is silent: the generated schema is written in the
`AgentCore` namespace with the record of each tool's input inlined (the documented
`<Tool>Input` common-type names would not be valid Cedar identifiers for target names
with hyphens); a JSON Schema property with no single type, or an array without `items`,
is left out of the record (so a policy reading it fails validation, rather than the
lab inventing a type); the action hierarchy's groups (`Mcp`, `CallTool`, each target)
are declared as actions with no `appliesTo`; a policy of an engine no gateway with tools
uses yet is checked against the scope rules only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from probe.cedar import require_cedarpy
from probe.cedar.model import CALL_TOOL, GATEWAY, MCP_GROUP, NAMESPACE, json_type, parse_statement, target_of

VALIDATION_MODES = ("FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS")  # botocore's PolicyValidationMode
WILDCARD_RESOURCE = "a wildcard resource was detected"


@dataclass(frozen=True)
class Tool:
    """One tool as the gateway lists it: the full name `Target___tool` and its input schema."""

    name: str
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @property
    def target(self) -> str | None:
        return target_of(self.name)


def cedar_type(schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON Schema -> a Cedar schema type, as AgentCore maps them; None when it has no single type."""
    kind = json_type(schema)
    if kind == "string":
        return {"type": "String"}
    if kind == "integer":
        return {"type": "Long"}
    if kind == "boolean":
        return {"type": "Boolean"}
    if kind == "number":
        return {"type": "Extension", "name": "decimal"}
    if kind == "object":
        return record_type(schema)
    if kind == "array":
        items = cedar_type((schema or {}).get("items"))
        return {"type": "Set", "element": items} if items is not None else None
    return None


def record_type(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """An object schema -> a Cedar Record; `required` decides which attributes are required."""
    props = (schema or {}).get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = (schema or {}).get("required")
    required = set(required) if isinstance(required, list) else set()
    attributes: dict[str, Any] = {}
    for name, prop in props.items():
        ctype = cedar_type(prop if isinstance(prop, Mapping) else None)
        if ctype is None:
            continue
        attributes[str(name)] = {**ctype, "required": name in required}
    return {"type": "Record", "attributes": attributes}


def generate_schema(tools: Iterable[Tool]) -> dict[str, Any]:
    """The Cedar schema (JSON form) for a gateway with these tools."""
    actions: dict[str, Any] = {MCP_GROUP: {}, CALL_TOOL: {"memberOf": [{"id": MCP_GROUP}]}}
    for tool in tools:
        member_of = [{"id": CALL_TOOL}]
        if tool.target:
            actions.setdefault(tool.target, {})
            member_of.append({"id": tool.target})
        actions[tool.name] = {
            "memberOf": member_of,
            "appliesTo": {
                "principalTypes": ["OAuthUser", "IamEntity"],
                "resourceTypes": ["Gateway"],
                "context": {"type": "Record", "attributes": {"input": record_type(tool.input_schema)}},
            },
        }
    id_record = {"type": "Record", "attributes": {"id": {"type": "String"}}}
    return {NAMESPACE: {
        "entityTypes": {
            "OAuthUser": {"shape": id_record, "tags": {"type": "String"}},
            "IamEntity": {"shape": id_record},
            "Gateway": {"shape": {"type": "Record", "attributes": {}}},
        },
        "actions": actions,
    }}  # fmt: skip


# --- scope rules ------------------------------------------------------------------------------------


def scope_findings(est: Mapping[str, Any]) -> list[str]:
    """The documented action/resource pairing rules, for one policy in Cedar's JSON form."""
    resource = est.get("resource") or {}
    action = est.get("action") or {}
    op = resource.get("op")
    if op == "All":
        return [WILDCARD_RESOURCE]
    specific_gateway = op == "==" and (resource.get("entity") or {}).get("type") == GATEWAY
    if action.get("op") == "All":
        if op != "is" or resource.get("in") is not None:
            return ["an unconstrained action needs the resource scope `resource is AgentCore::Gateway`"]
        return []
    if not specific_gateway:
        return ["a policy naming specific actions needs a specific gateway: "
                'resource == AgentCore::Gateway::"<gateway ARN>"']
    return []


def named_gateway(est: Mapping[str, Any]) -> str | None:
    """The gateway ARN in `resource == AgentCore::Gateway::"<arn>"`, or None."""
    resource = est.get("resource") or {}
    entity = resource.get("entity") or {}
    if resource.get("op") == "==" and entity.get("type") == GATEWAY:
        return str(entity.get("id"))
    return None


@dataclass(frozen=True)
class Validation:
    """What validating one statement found; `findings` are one line each, as `statusReasons`."""

    findings: tuple[str, ...]
    gateway_arn: str | None = None  # the gateway the policy names, if any

    @property
    def ok(self) -> bool:
        return not self.findings


def validate_statement(statement: str, tools_for: Any) -> Validation:
    """Validate one Policy's statement as AgentCore does at CreatePolicy/UpdatePolicy.

    `tools_for(gateway_arn | None)` gives the tools the schema is generated from: those of
    the named gateway, or (None) those of every gateway the policy could apply to; it
    returns None when the named gateway does not exist.
    """
    try:
        bodies = parse_statement(statement)
    except ValueError as exc:
        return Validation((f"the Cedar statement does not parse: {' '.join(str(exc).split())}",))
    if len(bodies) != 1:
        return Validation((f"a policy holds exactly one Cedar policy, not {len(bodies)}",))
    est = bodies[0]
    findings = scope_findings(est)
    arn = named_gateway(est)
    tools = tools_for(arn)
    if tools is None:
        return Validation((*findings, f"no gateway {arn} exists in this account and region"), arn)
    if tools:  # no tools yet: nothing to generate a schema from, so only the scope rules apply
        findings += schema_findings(statement, tools)
    return Validation(tuple(dict.fromkeys(findings)), arn)


def schema_findings(statement: str, tools: Sequence[Tool]) -> list[str]:
    """cedarpy's validator over the generated schema, one line per error."""
    cedarpy = require_cedarpy()
    result = cedarpy.validate_policies(statement, json.dumps(generate_schema(tools)))
    out = []
    for err in result.errors:
        text = " ".join(str(err.error).split())
        # cedarpy prefixes "for policy `policy0`, ": the caller knows which policy it is.
        if text.startswith("for policy `") and "`, " in text:
            text = text.split("`, ", 1)[1]
        out.append(text)
    return out
