"""Does the gateway's execution role let it evaluate policies? Decided from moto's IAM.

The lab must reproduce the incident (a policy engine attached while the role still
allows only `GetGateway`) without borrowing the probe's own IAM evaluator: a lab that
agreed with the probe by construction could not catch the probe being wrong. So the
role and its policies are read from moto's in-process IAM backend (where boto3 calls
against the lab put them), and each statement is matched with moto's own matcher
(`moto.iam.access_control.IAMPolicyStatement`).

moto's matcher is a small thing; its limits, and what this module does about them:

- Action names are matched case-sensitively by moto; IAM matches them
  case-insensitively, so actions and Action/NotAction patterns are lower-cased first.
- `NotResource` is not understood by moto (a statement without `Resource` is taken as a
  trust-policy statement and "permits" everything); it is handled here by asking
  moto whether the resource matches the NotResource list and inverting.
- `Condition` blocks: moto knows only StringEquals and turns a failed condition on an
  Allow into an explicit Deny, so conditions are decided by `probe.lab.conditions`
  against the context the real service would have for the gateway's own call
  (`aws:RequestedRegion` = the gateway's region, `aws:PrincipalArn` = the role,
  `aws:PrincipalAccount`, ...). A condition the lab cannot decide (another key, an
  operator it does not implement) errs towards "missing": a conditional Allow grants
  nothing and a conditional Deny applies, so the answer stays "provably allowed".
- `?` wildcards and policy variables (`${aws:username}`) are not supported; regex
  metacharacters in patterns (`.`) may over-match. SCPs, session policies and
  resource policies are out of scope (the gateway's own calls need none of them).
- The permissions boundary is applied when set: an action must be allowed by both
  the identity policies and the boundary, and a Deny in either wins. A boundary
  policy moto does not know is taken to allow nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from probe.lab.conditions import condition_holds, gateway_request_context
from probe.lab.state import LAB_ACCOUNT, Gateway

AUTHORIZE_ACTION = "bedrock-agentcore:AuthorizeAction"
PARTIALLY_AUTHORIZE_ACTIONS = "bedrock-agentcore:PartiallyAuthorizeActions"
GET_POLICY_ENGINE = "bedrock-agentcore:GetPolicyEngine"

Effect = Literal["allow", "deny"] | None


def required_pairs(gateway: Gateway) -> list[tuple[str, str]]:
    """The (action, resource) pairs a gateway with a policy engine needs on its role."""
    engine = gateway.policy_engine_arn
    if not engine:
        return []
    return [
        (AUTHORIZE_ACTION, gateway.arn),
        (AUTHORIZE_ACTION, engine),
        (PARTIALLY_AUTHORIZE_ACTIONS, gateway.arn),
        (PARTIALLY_AUTHORIZE_ACTIONS, engine),
        (GET_POLICY_ENGINE, engine),
    ]


def missing_for_gateway(gateway: Gateway) -> list[tuple[str, str]]:
    """The required pairs the gateway's role does not allow ([] with no policy engine)."""
    documents = role_documents(gateway.role_arn)
    context = gateway_request_context(gateway.role_arn, _region_of(gateway.arn))
    return [(a, r) for a, r in required_pairs(gateway) if not _decide(documents, a, r, context)]


def role_allows(role_arn: str, action: str, resource: str) -> bool:
    """Whether the role's identity policies (within its boundary) allow `action` on `resource`,
    called by the role itself in the resource's region."""
    context = gateway_request_context(role_arn, _region_of(resource))
    return _decide(role_documents(role_arn), action, resource, context)


def role_documents(role_arn: str) -> tuple[list[Any], list[Any] | None] | None:
    """(identity policy documents, boundary documents or None) of a role; None if moto has no such role."""
    backend = lab_iam_backend(_account_of(role_arn))
    try:
        role = backend.get_role_by_arn(role_arn)
    except Exception:  # moto's NotFoundException; any lookup failure means "no such role"
        return None
    identity: list[Any] = list(role.policies.values())
    identity += [_default_document(p) for p in list(role.managed_policies.values())]
    boundary: list[Any] | None = None
    if role.permissions_boundary_arn:
        try:
            boundary = [_default_document(backend.get_policy(role.permissions_boundary_arn))]
        except Exception:
            boundary = []
    return identity, boundary


def documents_allow(
    identity: Iterable[str | Mapping[str, Any]],
    action: str,
    resource: str,
    boundary: Iterable[str | Mapping[str, Any]] | None = None,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Pure core: do these policy documents (and boundary, if any) allow the pair?

    `context` is the request context (lower-cased keys, see `probe.lab.conditions`); None
    leaves every condition undecided.
    """
    verdict = _effect(identity, action, resource, context)
    if verdict != "allow":
        return False
    return boundary is None or _effect(boundary, action, resource, context) == "allow"


def _decide(
    documents: tuple[list[Any], list[Any] | None] | None, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if documents is None:
        return False
    identity, boundary = documents
    return documents_allow(identity, action, resource, boundary, context)


def _effect(
    documents: Iterable[str | Mapping[str, Any]], action: str, resource: str, context: Mapping[str, str] | None
) -> Effect:
    allowed = False
    for document in documents:
        for statement in _statements(document):
            effect = statement_effect(statement, action, resource, context)
            if effect == "deny":
                return "deny"
            allowed = allowed or effect == "allow"
    return "allow" if allowed else None


def statement_effect(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str] | None = None
) -> Effect:
    """What one identity-policy statement says about the pair: allow, deny or nothing.

    A condition that holds in `context` lets the statement speak; one that fails silences
    it; one the lab cannot decide silences an Allow and lets a Deny speak.
    """
    matched = _unconditional_effect(statement, action, resource)
    if matched is None or "Condition" not in statement:
        return matched
    holds = condition_holds(statement["Condition"], context)
    if matched == "allow":
        return "allow" if holds is True else None
    return None if holds is False else "deny"


def _unconditional_effect(statement: Mapping[str, Any], action: str, resource: str) -> Effect:
    effect = str(statement.get("Effect", ""))
    if effect not in ("Allow", "Deny") or not ("Action" in statement or "NotAction" in statement):
        return None
    core: dict[str, Any] = {"Effect": effect}
    for key in ("Action", "NotAction"):
        if key in statement:
            core[key] = _lower(statement[key])
    if "NotResource" in statement:
        if _resource_matches(statement["NotResource"], resource):
            return None
        core["Resource"] = "*"
    elif "Resource" in statement:
        core["Resource"] = statement["Resource"]
    else:
        return None  # not a valid identity-policy statement
    result = IAMPolicyStatement(core).is_action_permitted(action.lower(), resource)
    if result == PermissionResult.PERMITTED:
        return "allow"
    if result == PermissionResult.DENIED:
        return "deny"
    return None


def _resource_matches(patterns: Any, resource: str) -> bool:
    probe = {"Effect": "Allow", "Action": "*", "Resource": patterns}
    return IAMPolicyStatement(probe).is_action_permitted("x:y", resource) == PermissionResult.PERMITTED


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    return value


def _statements(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return []
    if not isinstance(parsed, Mapping):
        return []
    statements = parsed.get("Statement", [])
    if isinstance(statements, Mapping):
        return [statements]
    return [s for s in statements if isinstance(s, Mapping)] if isinstance(statements, list) else []


def _default_document(policy: Any) -> Any:
    """A moto managed policy's default version document (a JSON string in moto)."""
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False):
            return version.document
    return getattr(policy, "document", "{}")


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else LAB_ACCOUNT


def lab_iam_backend(account: str = LAB_ACCOUNT) -> Any:
    """The lab's IAM backend: `probe.lab.iam`'s when present, else moto's in-process one (the same store)."""
    try:
        from probe.lab.iam import iam_backend
    except ImportError:
        from moto.iam.models import iam_backends

        return iam_backends[account]["aws"]
    return iam_backend(account)
