"""AgentCore Policy's Cedar model, evaluated in-process with cedarpy.

The gateway asks two questions of a policy engine: "may this principal call this tool
with these arguments?" (`tools/call`, AuthorizeAction) and "could any request for this
tool be permitted?" (`tools/list`, PartiallyAuthorizeActions). Both are answered here as
pure functions over (policy id -> Cedar statement) so the MCP side never touches Cedar.

Choices where AgentCore's documentation is silent:

- JWT claims become Cedar entity *tags* on the `AgentCore::OAuthUser` principal
  (cedarpy 4.x supports tags, so `principal.getTag("scope")` works as documented);
  claim values are mapped to Cedar values (lists -> sets, objects -> records, floats ->
  `decimal` when representable, else strings; nulls dropped).
- Each AgentCore policy id becomes the cedarpy policy id, so the determining policies
  cedarpy reports are AgentCore policy ids with no mapping table.
- "Could be permitted" uses Cedar partial evaluation with the context unknown: the
  tool is listed when the decision is Allow, or undetermined because some permit's
  residual still depends on `context`. A residual that is unsatisfiable for every input
  (e.g. `x < 0 && x > 10`) still counts: an over-approximation, never an
  under-approximation. An unconditional `forbid` that matches makes the answer Deny.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import cedarpy

OAUTH_USER = "AgentCore::OAuthUser"
IAM_ENTITY = "AgentCore::IamEntity"
ACTION = "AgentCore::Action"
GATEWAY = "AgentCore::Gateway"

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_DECIMAL_LIMIT = Decimal("922337203685477.5807")  # Cedar decimal: 4 fractional digits, i64 backing


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
        return f"{self.entity_type}::{_cedar_string(self.entity_id)}"


@dataclass(frozen=True)
class CedarDecision:
    allowed: bool
    determining_policy_ids: tuple[str, ...]  # AgentCore policy ids (permits when allowed, forbids when not)
    errors: tuple[str, ...] = ()

    @property
    def denied_by_default(self) -> bool:
        """No policy applied: the documented "denied by default" case."""
        return not self.allowed and not self.determining_policy_ids


def authorize_call(
    policies: Mapping[str, str],
    principal: Principal,
    tool: str,
    gateway_arn: str,
    arguments: Mapping[str, Any] | None,
) -> CedarDecision:
    """Decide one `tools/call`: AuthorizeAction with `context.input` = the arguments."""
    policy_set, errors = _policy_set(policies)
    if policy_set is None:
        return CedarDecision(False, (), tuple(errors))
    request = {
        "principal": {"type": principal.entity_type, "id": principal.entity_id},
        "action": {"type": ACTION, "id": tool},
        "resource": {"type": GATEWAY, "id": gateway_arn},
        "context": {"input": _cedar_record(arguments or {})},
    }
    result = cedarpy.is_authorized(request, policy_set, _entities(principal, gateway_arn))
    reasons = tuple(sorted({_agentcore_id(r) for r in result.diagnostics.reasons}))
    return CedarDecision(result.allowed, reasons, tuple(errors) + tuple(result.diagnostics.errors))


def could_permit(policies: Mapping[str, str], principal: Principal, tool: str, gateway_arn: str) -> bool:
    """Whether some request for `tool` could be permitted (the `tools/list` filter)."""
    policy_set, _ = _policy_set(policies)
    if policy_set is None:
        return False
    request = {
        "principal": principal.uid,
        "action": f"{ACTION}::{_cedar_string(tool)}",
        "resource": f"{GATEWAY}::{_cedar_string(gateway_arn)}",
        "context": None,  # unknown at list time
    }
    try:
        entities = _with_action(_entities(principal, gateway_arn), tool)
        result = cedarpy.is_authorized_partial(request, policy_set, entities)
    except (ValueError, TypeError):
        return False
    if result.decision == cedarpy.Decision.Allow:
        return True
    if result.decision == cedarpy.Decision.Deny:
        return False
    # Undetermined: listed when some *permit* still depends on the unknown context (no forbid
    # is already satisfied: that would have made the decision Deny). cedarpy also returns
    # residuals already decided false (`when { false }`), and forbids: neither can permit.
    return any(_open_permit(residual) for residual in (result.residuals or {}).values())


def _open_permit(residual: Any) -> bool:
    """A residual permit whose conditions are not already settled against it."""
    if not isinstance(residual, Mapping) or residual.get("effect") != "permit":
        return False
    for condition in residual.get("conditions") or []:
        settled = condition.get("body", {}).get("Value") if isinstance(condition, Mapping) else None
        if isinstance(settled, bool) and settled != (condition.get("kind") == "when"):
            return False
    return True


def _policy_set(policies: Mapping[str, str]) -> tuple[cedarpy.PolicySet | None, list[str]]:
    """One cedarpy PolicySet keyed by AgentCore policy ids; unparsable statements are reported, skipped."""
    static: dict[str, Any] = {}
    errors: list[str] = []
    for policy_id, statement in sorted(policies.items()):
        try:
            parsed = _parse(statement)
        except ValueError as exc:
            errors.append(f"policy {policy_id}: {exc}")
            continue
        for n, body in enumerate(parsed):
            static[policy_id if n == 0 else f"{policy_id}#{n}"] = body
    if not static:
        return None, errors
    doc = {"staticPolicies": static, "templates": {}, "templateLinks": []}
    return cedarpy.PolicySet.from_json_str(json.dumps(doc)), errors


@functools.lru_cache(maxsize=1024)
def _parse_cached(statement: str) -> str:
    parsed = json.loads(cedarpy.policies_to_json_str(statement))
    if parsed.get("templates"):
        raise ValueError("templates are not supported in AgentCore policies")
    return json.dumps(list(parsed.get("staticPolicies", {}).values()))


def _parse(statement: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = json.loads(_parse_cached(statement))
    if not bodies:
        raise ValueError("no Cedar policy in the statement")
    return bodies


def _agentcore_id(cedar_id: str) -> str:
    return cedar_id.split("#", 1)[0]


def _entities(principal: Principal, gateway_arn: str) -> list[dict[str, Any]]:
    principal_entity: dict[str, Any] = {
        "uid": {"type": principal.entity_type, "id": principal.entity_id},
        "attrs": {},
        "parents": [],
    }
    if principal.tags:
        principal_entity["tags"] = _cedar_record(principal.tags)
    gateway_entity = {"uid": {"type": GATEWAY, "id": gateway_arn}, "attrs": {}, "parents": []}
    return [principal_entity, gateway_entity]


def _with_action(entities: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    """The entities plus the action itself: partial evaluation takes an absent entity for an
    unknown one, so `action in [...]` would stay undecided for every tool."""
    return [*entities, {"uid": {"type": ACTION, "id": tool}, "attrs": {}, "parents": []}]


def _cedar_string(value: str) -> str:
    """A Cedar string literal (Cedar's escapes agree with JSON's for printable text)."""
    return json.dumps(value, ensure_ascii=False)


def _cedar_record(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _cedar_value(v) for k, v in values.items() if v is not None}


def _cedar_value(value: Any) -> Any:
    """JSON value -> Cedar JSON value. Cedar has no null and no float."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _I64_MIN <= value <= _I64_MAX else str(value)
    if isinstance(value, float):
        return _cedar_number(value)
    if isinstance(value, Mapping):
        return _cedar_record(value)
    if isinstance(value, list | tuple | set):
        return [_cedar_value(v) for v in value if v is not None]
    return str(value)


def _cedar_number(value: float) -> Any:
    if value.is_integer() and _I64_MIN <= value <= _I64_MAX:
        return int(value)
    try:
        dec = Decimal(repr(value))
    except InvalidOperation:
        return repr(value)
    if dec.is_finite() and abs(dec) <= _DECIMAL_LIMIT and -dec.as_tuple().exponent <= 4:
        return {"__extn": {"fn": "decimal", "arg": format(dec, "f")}}
    return repr(value)
