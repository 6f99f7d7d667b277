"""`iam:SimulatePrincipalPolicy` for the lab's IAM endpoint, decided from moto's IAM state.

moto does not implement the simulation (its server answers an HTML 500), so without this
every `iam check` in the lab took its offline path and the probe's `"method": "simulate"`
never ran end to end. This module answers the Query-protocol call with IAM's XML, from
the principal's policies as moto stores them, and stays independent of the probe's own
evaluator (`probe.iam.evaluate`): statements are matched by `probe.lab.role_check`
(moto's matcher, with IAM's case rules and NotResource) and conditions by
`probe.lab.conditions`, so the probe and the lab can disagree, and a test can see it.

What it models, from IAM's documentation of the simulator:

- the principal's identity policies (inline and attached, of a role or a user and the
  user's groups), plus `PolicyInputList` documents added as if attached;
- the permissions boundary (the principal's, or `PermissionsBoundaryPolicyInputList`):
  an action must be allowed by both, a Deny in either wins, and
  `PermissionsBoundaryDecisionDetail.AllowedByPermissionsBoundary` says what the
  boundary alone decided;
- `ContextEntries` (string-typed values; several values for a key match if any does);
  a condition key a statement needs and the request does not give is listed in
  `MissingContextValues`, and the condition does not hold (IfExists excepted), as IAM's
  simulator does;
- `explicitDeny` / `implicitDeny` / `allowed`, with the deciding statements in
  `MatchedStatements` (source policy name and type, start and end line/column);
- `MaxItems` / `Marker` paging over the (action, resource) results.

Not modelled: SCPs and RCPs (`OrganizationsDecisionDetail`), resource policies
(`ResourcePolicy`, `CallerArn`), session policies, `PolicyExclusionList`, non-string
condition types beyond what `probe.lab.conditions` decides. The permission to call the
simulation is not checked (the lab's IAM checks no caller permission at all).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from probe.lab import role_check
from probe.lab.conditions import condition_holds

XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
ACTION = "SimulatePrincipalPolicy"


class SimulationInputError(Exception):
    """A request IAM would refuse; `code` is IAM's error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Source:
    """One policy document and where IAM says it came from."""

    policy_id: str
    policy_type: str  # IAM's PolicySourceType: role, user, group, aws-managed, user-managed, none
    text: str


@dataclass
class Matched:
    source: Source
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass
class Result:
    action: str
    resource: str
    decision: str  # allowed | explicitDeny | implicitDeny
    matched: list[Matched] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    boundary_allows: bool | None = None  # None: no boundary


# --- the evaluation (pure) --------------------------------------------------------------------------


def simulate(
    identity: Sequence[Source],
    boundary: Sequence[Source] | None,
    actions: Sequence[str],
    resources: Sequence[str],
    context: Mapping[str, Sequence[str]],
) -> list[Result]:
    """One Result per (action, resource), actions outer, as IAM orders them."""
    ctx = {k.lower(): list(v) for k, v in context.items()}
    return [_decide(identity, boundary, a, r, ctx) for a in actions for r in (resources or ["*"])]


def _decide(
    identity: Sequence[Source], boundary: Sequence[Source] | None, action: str, resource: str,
    context: Mapping[str, list[str]],
) -> Result:
    missing: list[str] = []
    allows, denies = _matches(identity, action, resource, context, missing)
    b_allows: list[Matched] = []
    b_denies: list[Matched] = []
    if boundary is not None:
        b_allows, b_denies = _matches(boundary, action, resource, context, missing)
    result = Result(action, resource, "implicitDeny", missing=sorted(set(missing)))
    if boundary is not None:
        result.boundary_allows = bool(b_allows) and not b_denies
    if denies or b_denies:
        result.decision, result.matched = "explicitDeny", denies + b_denies
    elif allows and (boundary is None or b_allows):
        result.decision, result.matched = "allowed", allows
    return result


def _matches(
    sources: Sequence[Source], action: str, resource: str, context: Mapping[str, list[str]], missing: list[str]
) -> tuple[list[Matched], list[Matched]]:
    allows: list[Matched] = []
    denies: list[Matched] = []
    for source in sources:
        for statement, start, end in statements_with_positions(source.text):
            bare = {k: v for k, v in statement.items() if k != "Condition"}
            effect = role_check.statement_effect(bare, action, resource)
            if effect is None:
                continue
            if "Condition" in statement and not _condition(statement["Condition"], context, missing):
                continue
            (allows if effect == "allow" else denies).append(Matched(source, start, end))
    return allows, denies


def _condition(condition: Any, context: Mapping[str, list[str]], missing: list[str]) -> bool:
    """Does the block hold? Absent keys are noted and make their test fail (IfExists: hold)."""
    if not isinstance(condition, Mapping):
        return False
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return False
        for key, expected in keys.items():
            name = str(key).lower()
            if name not in context:
                if str(operator).lower().endswith("ifexists"):
                    continue
                if str(operator).lower() == "null":
                    if not _null_expects_absent(expected):
                        return False
                    continue
                missing.append(str(key))
                return False
            values = context[name]
            if not any(condition_holds({operator: {name: expected}}, {name: v}) is True for v in values):
                return False
    return True


def _null_expects_absent(expected: Any) -> bool:
    items = expected if isinstance(expected, list) else [expected]
    return all(str(i).lower() == "true" for i in items)


def statements_with_positions(text: str) -> list[tuple[dict[str, Any], tuple[int, int], tuple[int, int]]]:
    """The document's statements with 1-based (line, column) of their first and last character."""
    decoder = json.JSONDecoder()
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    raw = doc.get("Statement")
    statements = [raw] if isinstance(raw, dict) else [s for s in raw if isinstance(s, dict)] \
        if isinstance(raw, list) else []
    out = []
    cursor = text.find('"Statement"')
    for statement in statements:
        start = text.find("{", cursor + 1)
        try:
            _, end = decoder.raw_decode(text, start)
        except ValueError:
            start, end = 0, len(text)
        out.append((statement, _line_col(text, start), _line_col(text, end - 1)))
        cursor = end - 1
    return out


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


# --- moto's state -> sources ---------------------------------------------------------------------


def principal_sources(backend: Any, arn: str) -> tuple[list[Source], list[Source] | None]:
    """(identity sources, boundary sources or None) of a role or user in moto's IAM backend."""
    kind, _, name = arn.split(":", 5)[-1].partition("/")
    name = name.rsplit("/", 1)[-1]
    try:
        if kind == "role":
            principal = backend.get_role_by_arn(arn)
        elif kind == "user":
            principal = backend.get_user(name)
        else:
            raise ValueError(kind)
    except Exception:
        raise SimulationInputError("NoSuchEntity", f"The principal {arn} cannot be found.", 404) from None
    identity = [Source(n, kind, _text(d)) for n, d in principal.policies.items()]
    identity += [_managed(p) for p in list(principal.managed_policies.values())]
    if kind == "user":
        for group in _groups(backend, name):
            identity += [Source(n, "group", _text(d)) for n, d in group.policies.items()]
            identity += [_managed(p) for p in list(group.managed_policies.values())]
    boundary: list[Source] | None = None
    boundary_arn = getattr(principal, "permissions_boundary_arn", None)
    if boundary_arn:
        try:
            boundary = [_managed(backend.get_policy(boundary_arn))]
        except Exception:
            boundary = []
    return identity, boundary


def _groups(backend: Any, user_name: str) -> list[Any]:
    try:
        return list(backend.get_groups_for_user(user_name))
    except Exception:
        return []


def _managed(policy: Any) -> Source:
    arn = str(getattr(policy, "arn", ""))
    kind = "aws-managed" if ":aws:policy/" in arn else "user-managed"
    document = "{}"
    for version in getattr(policy, "versions", []):
        if getattr(version, "is_default", False):
            document = version.document
    return Source(str(getattr(policy, "name", arn)), kind, _text(document))


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


# --- the Query wire -----------------------------------------------------------------------------------


def handle_query(params: Mapping[str, list[str]], backend: Any) -> tuple[int, str]:
    """(HTTP status, XML body) for one SimulatePrincipalPolicy request (form parameters)."""
    request_id = str(uuid.uuid4())
    try:
        body = _answer(params, backend)
        return 200, (f'<{ACTION}Response xmlns="{XMLNS}"><{ACTION}Result>{body}</{ACTION}Result>'
                     f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{ACTION}Response>")
    except SimulationInputError as err:
        return err.status, (f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{err.code}</Code>'
                            f"<Message>{escape(err.message)}</Message></Error><RequestId>{request_id}</RequestId>"
                            "</ErrorResponse>")


def _answer(params: Mapping[str, list[str]], backend: Any) -> str:
    arn = _one(params, "PolicySourceArn", required=True)
    actions = _members(params, "ActionNames")
    if not actions:
        raise SimulationInputError("ValidationError", "1 validation error detected: ActionNames must not be empty")
    resources = _members(params, "ResourceArns") or ["*"]
    identity, boundary = principal_sources(backend, arn)
    given = _members(params, "PolicyInputList")
    identity += [Source(f"PolicyInputList.{i}", "none", t) for i, t in enumerate(given, 1)]
    extra_boundary = _members(params, "PermissionsBoundaryPolicyInputList")
    if extra_boundary:
        boundary = [Source(f"PermissionsBoundaryPolicyInputList.{i}", "none", t)
                    for i, t in enumerate(extra_boundary, 1)]
    for source in identity + (boundary or []):
        try:
            json.loads(source.text)
        except ValueError:
            raise SimulationInputError("MalformedPolicyDocument", f"{source.policy_id} is not valid JSON") from None
    results = simulate(identity, boundary, actions, resources, _context(params))
    start = int(_one(params, "Marker") or 0) if (_one(params, "Marker") or "0").isdigit() else 0
    size = int(_one(params, "MaxItems") or 1000)
    page = results[start : start + size]
    truncated = start + size < len(results)
    out = f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    if truncated:
        out += f"<Marker>{start + size}</Marker>"
    return out + "<EvaluationResults>" + "".join(_result_xml(r) for r in page) + "</EvaluationResults>"


def _context(params: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    i = 1
    while f"ContextEntries.member.{i}.ContextKeyName" in params:
        name = params[f"ContextEntries.member.{i}.ContextKeyName"][-1]
        out[name] = _members(params, f"ContextEntries.member.{i}.ContextKeyValues")
        i += 1
    return out


def _one(params: Mapping[str, list[str]], key: str, *, required: bool = False) -> str | None:
    if params.get(key):
        return params[key][-1]
    if required:
        raise SimulationInputError("ValidationError", f"1 validation error detected: {key} is required")
    return None


def _members(params: Mapping[str, list[str]], key: str) -> list[str]:
    out = []
    i = 1
    while f"{key}.member.{i}" in params:
        out.append(params[f"{key}.member.{i}"][-1])
        i += 1
    return out


def _result_xml(r: Result) -> str:
    statements = "".join(
        f"<member><SourcePolicyId>{escape(m.source.policy_id)}</SourcePolicyId>"
        f"<SourcePolicyType>{m.source.policy_type}</SourcePolicyType>"
        f"<StartPosition><Line>{m.start[0]}</Line><Column>{m.start[1]}</Column></StartPosition>"
        f"<EndPosition><Line>{m.end[0]}</Line><Column>{m.end[1]}</Column></EndPosition></member>"
        for m in r.matched
    )
    missing = "".join(f"<member>{escape(k)}</member>" for k in r.missing)
    boundary = ""
    if r.boundary_allows is not None:
        boundary = (f"<PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>"
                    f"{'true' if r.boundary_allows else 'false'}</AllowedByPermissionsBoundary>"
                    "</PermissionsBoundaryDecisionDetail>")
    common = (f"<EvalDecision>{r.decision}</EvalDecision><MatchedStatements>{statements}</MatchedStatements>"
              f"<MissingContextValues>{missing}</MissingContextValues>{boundary}")
    specific = (f"<ResourceSpecificResults><member><EvalResourceName>{escape(r.resource)}</EvalResourceName>"
                f"<EvalResourceDecision>{r.decision}</EvalResourceDecision>"
                f"<MatchedStatements>{statements}</MatchedStatements>"
                f"<MissingContextValues>{missing}</MissingContextValues>{boundary}</member></ResourceSpecificResults>")
    return (f"<member><EvalActionName>{escape(r.action)}</EvalActionName>"
            f"<EvalResourceName>{escape(r.resource)}</EvalResourceName>{common}"
            f"<EvalDecisionDetails/>{specific}</member>")
