"""AgentCore Policy's Cedar model: the request a gateway builds, decided in-process with cedarpy.

The gateway asks two questions of a policy engine: "may this principal call this tool
with these arguments?" (`tools/call`, AuthorizeAction) and "could any request for this
tool be permitted?" (`tools/list`, PartiallyAuthorizeActions). Both are answered here as
pure functions over (policy id -> Cedar statement), so neither the lab's MCP side nor the
probe's diagnosis touches Cedar directly.

Documented by AWS (developer guide, "Schema constraints", "Policy scope"):

- principal `AgentCore::OAuthUser::"<sub>"` with attribute `id` (the JWT `sub`) and the
  other claims as tags, or `AgentCore::IamEntity::"<caller ARN>"` with `id` (no tags);
- action `AgentCore::Action::"<Target>___<tool>"`, in `CallTool` (in `Mcp`) and in its
  target's group `AgentCore::Action::"<Target>"` (`action in` a target selects its tools);
- resource `AgentCore::Gateway::"<gateway ARN>"`;
- `context.input` typed from the tool's JSON Schema: string -> String, integer -> Long,
  boolean -> Bool, number -> decimal (4 fractional digits, truncated), object -> Record,
  array -> Set.

Assumed where the documentation is silent:

- claim values become String tags (the schema has one tag type; the documented examples
  compare tags as strings): lists are joined with spaces (as `scope` is), other
  non-strings are written as JSON;
- an argument whose JSON value does not fit its schema type is passed on as the JSON
  value would be by itself; Cedar then reports an evaluation error for a policy that
  compares it, and that policy does not apply;
- "could be permitted" uses Cedar partial evaluation with the context unknown: a residual
  permit that is unsatisfiable for every input still counts (an over-approximation).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from probe.cedar import require_cedarpy

NAMESPACE = "AgentCore"
OAUTH_USER = "AgentCore::OAuthUser"
IAM_ENTITY = "AgentCore::IamEntity"
ACTION = "AgentCore::Action"
GATEWAY = "AgentCore::Gateway"
CALL_TOOL = "CallTool"
MCP_GROUP = "Mcp"
TOOL_SEPARATOR = "___"
PRINCIPAL_TYPES = (OAUTH_USER, IAM_ENTITY)

# Statuses whose definition the engine evaluates. ACTIVE is documented; that a policy being
# updated, or whose update failed, keeps deciding with its previous definition is assumed.
ENFORCED_STATUSES = ("ACTIVE", "UPDATING", "UPDATE_FAILED")

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_DECIMAL_LIMIT = Decimal("922337203685477.5807")  # Cedar decimal: 4 fractional digits, i64 backing
_FOUR_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Principal:
    """Who is calling, as Cedar sees it: an entity type, an id, and (for JWT callers) tags."""

    entity_type: Literal["AgentCore::OAuthUser", "AgentCore::IamEntity"]
    entity_id: str
    tags: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def oauth_user(cls, claims: Mapping[str, Any]) -> Principal:
        """A JWT caller: `sub` is the id, every claim a tag."""
        return cls(OAUTH_USER, str(claims.get("sub", "")), dict(claims))

    @classmethod
    def iam_entity(cls, caller_arn: str) -> Principal:
        return cls(IAM_ENTITY, caller_arn)

    @property
    def uid(self) -> str:
        return f"{self.entity_type}::{cedar_string(self.entity_id)}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.entity_type, "id": self.entity_id, "tags": dict(self.tags)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Principal:
        kind = str(doc.get("type"))
        if kind not in PRINCIPAL_TYPES:
            raise ValueError(f"not an AgentCore principal type: {kind!r}")
        return cls(kind, str(doc.get("id", "")), dict(doc.get("tags") or {}))  # type: ignore[arg-type]


@dataclass(frozen=True)
class EnginePolicy:
    """One Policy resource of an engine, as GetPolicy/ListPolicies describe it."""

    policy_id: str
    name: str
    statement: str
    status: str = "ACTIVE"
    enforcement_mode: str = "ACTIVE"  # ACTIVE | LOG_ONLY (botocore's EnforcementMode)

    @property
    def enforced(self) -> bool:
        """Whether the engine decides with this policy (LOG_ONLY policies are only logged)."""
        return self.status in ENFORCED_STATUSES and self.enforcement_mode != "LOG_ONLY"

    @property
    def label(self) -> str:
        return self.name if self.name == self.policy_id else f"{self.name} ({self.policy_id})"

    @classmethod
    def from_api(cls, doc: Mapping[str, Any]) -> EnginePolicy:
        """From a GetPolicy answer or a ListPolicies item (statement may be absent: '')."""
        statement = ((doc.get("definition") or {}).get("cedar") or {}).get("statement") or ""
        return cls(str(doc.get("policyId", "")), str(doc.get("name") or doc.get("policyId") or ""), statement,
                   str(doc.get("status") or "ACTIVE"), str(doc.get("enforcementMode") or "ACTIVE"))

    def to_dict(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "name": self.name, "statement": self.statement,
                "status": self.status, "enforcement_mode": self.enforcement_mode}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EnginePolicy:
        return cls(str(doc["policy_id"]), str(doc.get("name") or doc["policy_id"]), str(doc.get("statement") or ""),
                   str(doc.get("status") or "ACTIVE"), str(doc.get("enforcement_mode") or "ACTIVE"))


def enforced_statements(policies: Sequence[EnginePolicy]) -> dict[str, str]:
    """policy id -> statement for the policies the engine decides with."""
    return {p.policy_id: p.statement for p in policies if p.enforced}


@dataclass(frozen=True)
class CedarDecision:
    allowed: bool
    determining_policy_ids: tuple[str, ...]  # AgentCore policy ids (permits when allowed, forbids when not)
    errors: tuple[str, ...] = ()

    @property
    def denied_by_default(self) -> bool:
        """No policy applied: the documented "denied by default" case."""
        return not self.allowed and not self.determining_policy_ids


# --- the request -------------------------------------------------------------------------------


def target_of(tool: str) -> str | None:
    """`RefundTarget` for `RefundTarget___process_refund`; None for a name without a target."""
    target, sep, rest = tool.partition(TOOL_SEPARATOR)
    return target if sep and target and rest else None


def action_entities(tool: str) -> list[dict[str, Any]]:
    """The action and its groups: the tool is in its target's group and in CallTool, which is in Mcp."""
    parents = [{"type": ACTION, "id": CALL_TOOL}]
    target = target_of(tool)
    if target:
        parents.append({"type": ACTION, "id": target})
    out = [
        {"uid": {"type": ACTION, "id": tool}, "attrs": {}, "parents": parents},
        {"uid": {"type": ACTION, "id": CALL_TOOL}, "attrs": {}, "parents": [{"type": ACTION, "id": MCP_GROUP}]},
        {"uid": {"type": ACTION, "id": MCP_GROUP}, "attrs": {}, "parents": []},
    ]
    if target:
        out.append({"uid": {"type": ACTION, "id": target}, "attrs": {}, "parents": []})
    return out


def entities(principal: Principal, gateway_arn: str, tool: str) -> list[dict[str, Any]]:
    """Principal (with `id` and tags), gateway and the action hierarchy, in cedarpy's entity JSON."""
    principal_entity: dict[str, Any] = {
        "uid": {"type": principal.entity_type, "id": principal.entity_id},
        "attrs": {"id": principal.entity_id},
        "parents": [],
    }
    if principal.entity_type == OAUTH_USER and principal.tags:
        principal_entity["tags"] = {str(k): tag_value(v) for k, v in principal.tags.items() if v is not None}
    gateway_entity = {"uid": {"type": GATEWAY, "id": gateway_arn}, "attrs": {}, "parents": []}
    return [principal_entity, gateway_entity, *action_entities(tool)]


def tag_value(value: Any) -> str:
    """A claim as a String tag: strings as they are, lists space-joined, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(tag_value(v) for v in value if v is not None)
    return json.dumps(value, sort_keys=True, default=str)


def request(principal: Principal, tool: str, gateway_arn: str, context_input: Mapping[str, Any]) -> dict[str, Any]:
    """The AuthorizeAction request the gateway builds (cedarpy's request JSON)."""
    return {
        "principal": {"type": principal.entity_type, "id": principal.entity_id},
        "action": {"type": ACTION, "id": tool},
        "resource": {"type": GATEWAY, "id": gateway_arn},
        "context": {"input": dict(context_input)},
    }


# --- context.input, typed from the tool's schema ---------------------------------------------


def typed_input(arguments: Mapping[str, Any] | None, input_schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """`context.input` as AgentCore builds it: each argument typed by its schema property.

    Without a schema (or for properties it does not describe) the JSON value types itself:
    integers as Long, other numbers as decimal.
    """
    props = (input_schema or {}).get("properties") if isinstance(input_schema, Mapping) else None
    props = props if isinstance(props, Mapping) else {}
    out: dict[str, Any] = {}
    for key, value in (arguments or {}).items():
        if value is None:
            continue
        schema = props.get(key)
        out[str(key)] = typed_value(value, schema if isinstance(schema, Mapping) else None)
    return out


def typed_value(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """One JSON value -> Cedar JSON, by its JSON Schema type (see the module docstring)."""
    kind = json_type(schema)
    if kind == "number":
        dec = cedar_decimal(value)
        return dec if dec is not None else untyped_value(value)
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value <= _I64_MAX:
            return value
        if isinstance(value, float) and value.is_integer() and _I64_MIN <= value <= _I64_MAX:
            return int(value)
        return untyped_value(value)
    if kind == "object" and isinstance(value, Mapping):
        return typed_input(value, schema)
    if kind == "array" and isinstance(value, list | tuple):
        items = (schema or {}).get("items")
        return [typed_value(v, items if isinstance(items, Mapping) else None) for v in value if v is not None]
    return untyped_value(value)


def json_type(schema: Mapping[str, Any] | None) -> str | None:
    """The schema's single JSON type (`["number", "null"]` counts as number), or None."""
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, str) else None


def cedar_decimal(value: Any) -> dict[str, Any] | None:
    """A JSON number as a Cedar decimal, truncated to 4 places; None if it is not one or out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        dec = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    if not dec.is_finite():
        return None
    dec = dec.quantize(_FOUR_PLACES, rounding=ROUND_DOWN)
    if abs(dec) > _DECIMAL_LIMIT:
        return None
    text = format(dec.normalize(), "f")
    if "." not in text:
        text += ".0"
    return {"__extn": {"fn": "decimal", "arg": text}}


def untyped_value(value: Any) -> Any:
    """A JSON value -> Cedar JSON by its own type. Cedar has no null and no float."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _I64_MIN <= value <= _I64_MAX else str(value)
    if isinstance(value, float):
        if value.is_integer() and _I64_MIN <= value <= _I64_MAX:
            return int(value)
        dec = cedar_decimal(value)
        return dec if dec is not None else repr(value)
    if isinstance(value, Mapping):
        return {str(k): untyped_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set):
        return [untyped_value(v) for v in value if v is not None]
    return str(value)


# --- deciding --------------------------------------------------------------------------------


def authorize_call(
    policies: Mapping[str, str],
    principal: Principal,
    tool: str,
    gateway_arn: str,
    arguments: Mapping[str, Any] | None,
    input_schema: Mapping[str, Any] | None = None,
) -> CedarDecision:
    """Decide one `tools/call`: AuthorizeAction with `context.input` typed from `input_schema`."""
    cedarpy = require_cedarpy()
    policy_set, errors = policy_set_of(policies)
    if policy_set is None:
        return CedarDecision(False, (), tuple(errors))
    req = request(principal, tool, gateway_arn, typed_input(arguments, input_schema))
    result = cedarpy.is_authorized(req, policy_set, entities(principal, gateway_arn, tool))
    reasons = tuple(sorted({agentcore_id(r) for r in result.diagnostics.reasons}))
    return CedarDecision(result.allowed, reasons, tuple(errors) + tuple(result.diagnostics.errors))


def could_permit(policies: Mapping[str, str], principal: Principal, tool: str, gateway_arn: str) -> bool:
    """Whether some request for `tool` could be permitted (the `tools/list` filter)."""
    return partial_permits(policies, principal, tool, gateway_arn) is not False


def partial_permits(policies: Mapping[str, str], principal: Principal, tool: str, gateway_arn: str) -> bool | None:
    """True: permitted whatever the input; None: some permit still depends on the input; False: never."""
    cedarpy = require_cedarpy()
    policy_set, _ = policy_set_of(policies)
    if policy_set is None:
        return False
    req = {
        "principal": principal.uid,
        "action": f"{ACTION}::{cedar_string(tool)}",
        "resource": f"{GATEWAY}::{cedar_string(gateway_arn)}",
        "context": None,  # unknown at list time
    }
    try:
        result = cedarpy.is_authorized_partial(req, policy_set, entities(principal, gateway_arn, tool))
    except (ValueError, TypeError):
        return False
    if result.decision == cedarpy.Decision.Allow:
        return True
    if result.decision == cedarpy.Decision.Deny:
        return False
    # Undetermined: open when some *permit* still depends on the unknown context (no forbid is
    # already satisfied: that would have made the decision Deny). cedarpy also returns residuals
    # already decided false (`when { false }`), and forbids: neither can permit.
    return None if any(_open_permit(r) for r in (result.residuals or {}).values()) else False


def _open_permit(residual: Any) -> bool:
    """A residual permit whose conditions are not already settled against it."""
    if not isinstance(residual, Mapping) or residual.get("effect") != "permit":
        return False
    for condition in residual.get("conditions") or []:
        settled = condition.get("body", {}).get("Value") if isinstance(condition, Mapping) else None
        if isinstance(settled, bool) and settled != (condition.get("kind") == "when"):
            return False
    return True


# --- policy sets --------------------------------------------------------------------------------


def policy_set_of(policies: Mapping[str, str]) -> tuple[Any, list[str]]:
    """One cedarpy PolicySet keyed by AgentCore policy ids; unparsable statements are reported, skipped."""
    cedarpy = require_cedarpy()
    static: dict[str, Any] = {}
    errors: list[str] = []
    for policy_id, statement in sorted(policies.items()):
        try:
            parsed = parse_statement(statement)
        except ValueError as exc:
            errors.append(f"policy {policy_id}: {' '.join(str(exc).split())}")
            continue
        for n, body in enumerate(parsed):
            static[policy_id if n == 0 else f"{policy_id}#{n}"] = body
    if not static:
        return None, errors
    doc = {"staticPolicies": static, "templates": {}, "templateLinks": []}
    return cedarpy.PolicySet.from_json_str(json.dumps(doc)), errors


@functools.lru_cache(maxsize=1024)
def _parse_cached(statement: str) -> str:
    cedarpy = require_cedarpy()
    parsed = json.loads(cedarpy.policies_to_json_str(statement))
    if parsed.get("templates"):
        raise ValueError("templates are not supported in AgentCore policies")
    return json.dumps(list(parsed.get("staticPolicies", {}).values()))


def parse_statement(statement: str) -> list[dict[str, Any]]:
    """The statement's policies in Cedar's JSON form (EST); ValueError when it does not parse."""
    bodies: list[dict[str, Any]] = json.loads(_parse_cached(statement))
    if not bodies:
        raise ValueError("no Cedar policy in the statement")
    return bodies


def agentcore_id(cedar_id: str) -> str:
    return cedar_id.split("#", 1)[0]


def cedar_string(value: str) -> str:
    """A Cedar string literal (Cedar's escapes agree with JSON's for printable text)."""
    return json.dumps(value, ensure_ascii=False)
