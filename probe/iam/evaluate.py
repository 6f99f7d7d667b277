"""Offline evaluation of a role's IAM identity policies for one (action, resource) pair.

Why this exists: `AuthorizeAction` and `PartiallyAuthorizeActions` are permission names
with no API behind them, so the only ways to learn whether a gateway's execution role
grants them are `iam:SimulatePrincipalPolicy` or reading the role's policy documents.
When the probe's own credentials lack the simulation permission, this module reads the
documents instead. It is pure: documents in, a `Decision` out, no I/O, stdlib only.

Scope, on purpose: AWS's evaluation logic for a request made inside one account by an
identity, i.e. identity policies (inline and managed) and an optional permissions
boundary. Service control policies, resource control policies, resource-based policies
and session policies are out of scope; a real request can still be refused by those.

The rule this module never breaks: it does not guess. Anything it cannot settle (a
condition key missing from `context`, an operator it does not implement, a policy
variable with no value) makes the decision "unknown", listing the statements at stake,
whenever the answer would depend on them. A statement whose conditions are settled
false simply does not apply. Three-valued logic is used throughout, so a statement with
one condition settled false does not apply even if another of its conditions is unsettled.

`context` maps condition keys (case-insensitive) to a string or a list of strings. A key
absent from `context` is *unknown*; a key mapped to an empty list is known to be *absent
from the request*, which is what Null, ...IfExists and the negated operators test. A key
ending in `/*` mapped to an empty list (`"aws:ResourceTag/*": []`) says that every key of
that family not listed is absent (the caller read every tag of the resource).

Rules taken from IAM's documentation that a naive matcher gets wrong:
- Resource ARNs match segment by segment: a `*` or `?` stays inside its colon-delimited
  segment, except a `*` that is the last character of one of the first five segments,
  which may expand across colons ("If the * wildcard is the last character of a resource
  ARN segment, it can expand to match beyond the colon boundaries"). In the resource part
  (after the fifth colon) wildcards match anything. ArnLike/ArnEquals conditions check
  the six components separately, without that expansion.
- Policy variables are substituted only in documents with `Version: 2012-10-17`; older
  documents (and those without a Version, which default to 2008-10-17) treat `${...}` as
  literal text. In a Resource ARN they are substituted only after the fifth colon; before
  it they stay literal text, so the pattern matches no real ARN and grants nothing.
- When the unsettled conditions are exact comparisons on single-valued `aws:` keys, every
  value the conditions can tell apart (absent, each value named, any other value) is tried;
  a decision that is the same in every case is settled (conditions that cannot hold
  together across a policy and the boundary, conditions that always hold).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import itertools
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "Decision",
    "DecisionKind",
    "PolicyKind",
    "PolicySource",
    "StatementRef",
    "evaluate",
]

PolicyKind = Literal["inline", "managed", "boundary"]
DecisionKind = Literal["allowed", "implicit_deny", "explicit_deny", "boundary", "unknown"]

# Kleene logic: True, False, or None for "could not be settled offline".
Tri = bool | None
_Ctx = dict[str, tuple[str, ...]]
_Result = tuple[Tri, tuple[str, ...]]  # a three-valued answer and, when None, why


@dataclass(frozen=True)
class PolicySource:
    """One policy document attached to the role, with the name an operator knows it by."""

    kind: PolicyKind
    name: str
    arn: str | None
    document: Mapping[str, Any]


@dataclass(frozen=True)
class StatementRef:
    """Points at one statement, so a report can say exactly which line to change."""

    source_kind: PolicyKind
    source_name: str
    source_arn: str | None
    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    statement: Mapping[str, Any]

    @property
    def label(self) -> str:
        """A human name for the statement, e.g. `inline policy 'p' statement 'Sid'`."""
        where = "permissions boundary" if self.source_kind == "boundary" else f"{self.source_kind} policy"
        which = f"statement '{self.sid}'" if self.sid else f"statement at index {self.index}"
        return f"{where} '{self.source_name}' {which}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_kind": self.source_kind,
            "source_name": self.source_name,
            "source_arn": self.source_arn,
            "index": self.index,
            "sid": self.sid,
            "effect": self.effect,
            "statement": _jsonable(self.statement),
        }


@dataclass(frozen=True)
class Decision:
    """The verdict for one pair and the statements that produced it.

    `statements` holds: the matching Deny(s) for "explicit_deny"; the matching Allow(s),
    identity and boundary, for "allowed"; the identity Allow(s) the boundary overrides for
    "boundary"; the unsettled statements for "unknown"; nothing for "implicit_deny".
    """

    action: str
    resource: str
    decision: DecisionKind
    statements: tuple[StatementRef, ...] | tuple[Any, ...]  # the simulation's matched statements too
    note: str | None = None

    @property
    def allowed(self) -> bool | None:
        if self.decision == "unknown":
            return None
        return self.decision == "allowed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "decision": self.decision,
            "allowed": self.allowed,
            "statements": [s.to_dict() for s in self.statements],
            "note": self.note,
        }


def evaluate(
    action: str,
    resource: str,
    identity: Sequence[PolicySource],
    boundary: PolicySource | None = None,
    context: Mapping[str, str | Sequence[str]] | None = None,
) -> Decision:
    """Decide whether the identity policies (within the boundary) allow `action` on `resource`.

    Raises ValueError (one line) when the request itself is malformed: an action that is
    not `service:Name`, an empty resource, something other than PolicySource objects, a
    boundary-kind source among the identity policies, or a context value that is not a
    string or list of strings. Malformed policy *documents* never raise: the offending
    statement is skipped and the decision's note says so.
    """
    _check_request(action, resource, identity, boundary)
    ctx = _normalize_context(context)
    skipped: list[str] = []
    identity_statements = [(s, s.ref.source_kind) for src in identity for s in _statements(src, src.kind, skipped)]
    boundary_statements = _statements(boundary, "boundary", skipped) if boundary is not None else []
    # Only statements whose action matches can speak; the rest are never looked at again.
    relevant_identity = [s for s, _ in identity_statements if _action_hit(s, action)]
    relevant_boundary = [s for s in boundary_statements if _action_hit(s, action)]
    request = _Request(action, resource, boundary, relevant_identity, relevant_boundary, skipped)
    decided, at_stake = _decide(request, ctx)
    if decided.decision != "unknown":
        return decided
    return _settle_by_cases(request, ctx, decided, at_stake)


@dataclass(frozen=True)
class _Request:
    action: str
    resource: str
    boundary: PolicySource | None
    identity: list[_Statement]
    boundary_statements: list[_Statement]
    skipped: list[str]


def _decide(request: _Request, ctx: _Ctx) -> tuple[Decision, list[_Verdict]]:
    """One pass of AWS's evaluation logic in three-valued form; also returns the unsettled statements."""
    action, resource, boundary, skipped = request.action, request.resource, request.boundary, request.skipped
    identity_verdicts = _verdicts(request.identity, action, resource, ctx)
    boundary_verdicts = _verdicts(request.boundary_statements, action, resource, ctx)
    verdicts = identity_verdicts + boundary_verdicts

    deny_yes = [v for v in verdicts if v.ref.effect == "Deny" and v.applies is True]
    deny_maybe = [v for v in verdicts if v.ref.effect == "Deny" and v.applies is None]
    id_yes = [v for v in identity_verdicts if v.ref.effect == "Allow" and v.applies is True]
    id_maybe = [v for v in identity_verdicts if v.ref.effect == "Allow" and v.applies is None]
    b_yes = [v for v in boundary_verdicts if v.ref.effect == "Allow" and v.applies is True]
    b_maybe = [v for v in boundary_verdicts if v.ref.effect == "Allow" and v.applies is None]

    identity_allows: Tri = True if id_yes else (None if id_maybe else False)
    boundary_allows: Tri = True if boundary is None or b_yes else (None if b_maybe else False)

    def decide(kind: DecisionKind, chosen: list[_Verdict], note: str) -> tuple[Decision, list[_Verdict]]:
        if skipped:
            note = f"{note} (skipped as malformed: {'; '.join(skipped)})"
        return Decision(action, resource, kind, tuple(v.ref for v in chosen), note), []

    if deny_yes:
        return decide("explicit_deny", deny_yes, f"explicitly denied by {_labels(deny_yes)}")

    if not deny_maybe:
        if identity_allows is False:
            note = "no identity policy statement allows this action on this resource"
            if boundary is not None and boundary_allows is False:
                # Still an implicit deny (the identity policies decide first), but an Allow
                # added to them alone would not be enough: say so where the operator reads.
                note += f"; the permissions boundary '{boundary.name}' does not allow it either"
            elif boundary is not None and boundary_allows is None:
                note += f"; whether the permissions boundary '{boundary.name}' allows it could not be settled"
            return decide("implicit_deny", [], note)
        if identity_allows is True and boundary_allows is True:
            within = f", within the permissions boundary '{boundary.name}'" if boundary is not None else ""
            return decide("allowed", id_yes + b_yes, f"allowed by {_labels(id_yes)}{within}")
        if boundary_allows is False and boundary is not None:
            if identity_allows is True:
                return decide(
                    "boundary",
                    id_yes,
                    f"allowed by {_labels(id_yes)}, but the permissions boundary '{boundary.name}' "
                    "has no Allow statement matching this action and resource",
                )
            # Whatever the identity policies say, the boundary refuses and no Deny could speak:
            # denied, and an Allow added to the identity policies could not change that.
            reasons = _dedupe(f"{v.ref.label}: {r}" for v in id_maybe for r in v.reasons)
            return decide(
                "boundary",
                id_maybe,
                f"denied by the permissions boundary '{boundary.name}', which has no Allow statement matching "
                f"this action and resource (whether {_labels(id_maybe)} allows it could not be settled: "
                f"{'; '.join(reasons)})",
            )

    at_stake = deny_maybe + (id_maybe if identity_allows is None else []) + (b_maybe if boundary_allows is None else [])
    reasons = _dedupe(f"{v.ref.label}: {r}" for v in at_stake for r in v.reasons)
    if identity_allows is False or boundary_allows is False:
        lead = "denied in every case, but whether explicitly depends on what could not be settled"
        if not deny_maybe:
            lead = "denied in every case, but whether by the boundary depends on what could not be settled"
    else:
        lead = "the decision depends on what could not be settled"
    decision, _ = decide("unknown", at_stake, f"{lead}: {'; '.join(reasons)}")
    return decision, at_stake


# --------------------------------------------------------------------------- request checks


def _check_request(action: Any, resource: Any, identity: Any, boundary: Any) -> None:
    if not isinstance(action, str):
        raise ValueError(f"action must be a string like 'service:Name', not {type(action).__name__}")
    service, sep, name = action.partition(":")
    if not sep or not service or not name or any(c in action for c in "*? "):
        raise ValueError(f"action must be one concrete 'service:Name' (no wildcards), got {action!r}")
    if not isinstance(resource, str) or not resource:
        raise ValueError("resource must be a non-empty string (an ARN, or '*')")
    if isinstance(identity, str | bytes | Mapping) or not isinstance(identity, Sequence):
        raise ValueError("identity must be a list of PolicySource")
    for source in identity:
        if not isinstance(source, PolicySource):
            raise ValueError(f"identity must hold PolicySource objects, got {type(source).__name__}")
        if source.kind == "boundary":
            raise ValueError(f"policy {source.name!r} is a boundary: pass it as boundary=, not in identity")
    if boundary is not None and not isinstance(boundary, PolicySource):
        raise ValueError(f"boundary must be a PolicySource or None, got {type(boundary).__name__}")


def _scalar(value: Any) -> str | None:
    """A JSON scalar as IAM sees it; None for anything that is not one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return None


def _normalize_context(context: Any) -> _Ctx:
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise ValueError("context must be a mapping of condition keys to a string or a list of strings")
    out: _Ctx = {}
    for key, value in context.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"context keys must be non-empty strings, got {key!r}")
        if "*" in key:
            if not key.endswith("/*") or "*" in key[:-1] or value not in ([], ()):
                raise ValueError(f"context key {key!r}: only 'family/*' mapped to [] (every other key absent)")
            out[key.lower()] = ()
            continue
        items = [value] if isinstance(value, str | bool | int | float) else value
        if isinstance(items, Mapping) or not isinstance(items, Sequence):
            raise ValueError(f"context value for {key!r} must be a string or a list of strings")
        values = tuple(_scalar(v) for v in items)
        if any(v is None for v in values):
            raise ValueError(f"context value for {key!r} must be a string or a list of strings")
        out[key.lower()] = tuple(v for v in values if v is not None)
    return out


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class _Statement:
    """A statement whose shape is valid; only its matching remains to be judged."""

    ref: StatementRef
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: Any  # _NO_CONDITION when the statement has none
    variables: bool  # policy variables are substituted (Version 2012-10-17) or literal text


@dataclass(frozen=True)
class _Verdict:
    ref: StatementRef
    applies: Tri
    reasons: tuple[str, ...]
    statement: _Statement


_NO_CONDITION = object()
_VARIABLES_VERSION = "2012-10-17"


def _verdicts(statements: Sequence[_Statement], action: str, resource: str, ctx: _Ctx) -> list[_Verdict]:
    out = []
    for statement in statements:
        applies, reasons = _applies(statement, action, resource, ctx)
        if applies is not False:
            out.append(_Verdict(statement.ref, applies, reasons, statement))
    return out


def _load_document(document: Any) -> Any:
    """Tolerate the raw JSON text (URL-encoded, as the IAM API sends it) as well as a dict."""
    if isinstance(document, bytes | str):
        text = document.decode() if isinstance(document, bytes) else document
        if text.lstrip().startswith("%"):
            text = urllib.parse.unquote(text)
        try:
            return json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return None
    return document


def _statements(source: PolicySource, kind: PolicyKind, skipped: list[str]) -> list[_Statement]:
    where = "permissions boundary" if kind == "boundary" else f"{kind} policy"
    document = _load_document(source.document)
    if not isinstance(document, Mapping):
        skipped.append(f"{where} '{source.name}' is not a JSON object")
        return []
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw_list: Sequence[Any] = [raw]
    elif isinstance(raw, list | tuple):
        raw_list = raw
    else:
        problem = "has no Statement" if raw is None else "has a Statement that is neither an object nor a list"
        skipped.append(f"{where} '{source.name}' {problem}")
        return []

    # Without `Version: 2012-10-17` (2008-10-17, or none: the default) `${...}` is literal text.
    variables = document.get("Version") == _VARIABLES_VERSION
    out = []
    for index, item in enumerate(raw_list):
        parsed = _parse_statement(source, kind, index, item, variables)
        if isinstance(parsed, str):
            skipped.append(f"{where} '{source.name}' statement at index {index} {parsed}")
        else:
            out.append(parsed)
    return out


def _parse_statement(
    source: PolicySource, kind: PolicyKind, index: int, item: Any, variables: bool
) -> _Statement | str:
    """The statement, or what is wrong with it (a malformed statement matches nothing)."""
    if not isinstance(item, Mapping):
        return "is not an object"
    effect = item.get("Effect")
    if effect is None:
        return "has no Effect"
    if effect not in ("Allow", "Deny"):
        return f"has Effect {effect!r} (must be exactly 'Allow' or 'Deny')"
    actions = _element(item, "Action", "NotAction")
    if isinstance(actions, str):
        return actions
    resources = _element(item, "Resource", "NotResource")
    if isinstance(resources, str):
        return resources
    sid = item.get("Sid")
    ref = StatementRef(
        source_kind=kind,
        source_name=source.name,
        source_arn=source.arn,
        index=index,
        sid=None if sid is None else str(sid),
        effect=effect,
        statement=item,
    )
    return _Statement(
        ref=ref,
        actions=actions[0],
        not_action=actions[1],
        resources=resources[0],
        not_resource=resources[1],
        condition=item.get("Condition", _NO_CONDITION),
        variables=variables,
    )


def _element(item: Mapping[str, Any], name: str, not_name: str) -> tuple[tuple[str, ...], bool] | str:
    has, has_not = name in item, not_name in item
    if has and has_not:
        return f"has both {name} and {not_name}"
    if not has and not has_not:
        return f"has neither {name} nor {not_name}"
    key = name if has else not_name
    raw = item[key]
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list | tuple) or not values or not all(isinstance(v, str) for v in values):
        return f"has a {key} that is not a string or a non-empty list of strings"
    return tuple(values), has_not


# --------------------------------------------------------------------------- matching


def _action_hit(statement: _Statement, action: str) -> bool:
    """Whether the statement speaks about this action at all (Action matches, or NotAction does not)."""
    hit = any(_glob(p, ignore_case=True).fullmatch(action) for p in statement.actions)
    return hit != statement.not_action


def _applies(statement: _Statement, action: str, resource: str, ctx: _Ctx) -> _Result:
    """Whether the statement applies to the request (three-valued), cheapest test first."""
    if not _action_hit(statement, action):
        return False, ()

    resource_hit, resource_why = _or(
        [
            _match_template(
                p,
                resource,
                ctx,
                wildcards=True,
                ignore_case=False,
                arn=True,
                variables=statement.variables,
                resource_element=True,
            )
            for p in statement.resources
        ]
    )
    if statement.not_resource:
        resource_hit = _not(resource_hit)
    if resource_hit is False:
        return False, ()

    if statement.condition is _NO_CONDITION:
        return resource_hit, resource_why
    return _and([(resource_hit, resource_why), _condition_block(statement.condition, ctx, statement.variables)])


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters (`/` and `:` included), `?` exactly one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")
_ARN_PREFIX_COLONS = 5  # arn:partition:service:region:account:resource


def _resolve(
    template: str, ctx: _Ctx, *, variables: bool = True, resource_element: bool = False
) -> tuple[list[tuple[str, str]] | None, list[str]]:
    """Split a pattern into pieces: raw pattern text, literal text, or an unknown variable.

    Returns None as the pieces when a variable can never be substituted (its key is known
    absent or multi-valued, with no default, or the variable is malformed): AWS then treats
    the pattern as matching nothing. Without `variables` (a 2008-10-17 document) the whole
    template is pattern text; in a Resource ARN a variable before the fifth colon is kept
    as literal text (IAM substitutes only in the resource part).
    """
    if not variables:
        return [("pattern", template)], []
    pieces: list[tuple[str, str]] = []
    unresolved: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(template):
        pieces.append(("pattern", template[pos : m.start()]))
        pos = m.end()
        if resource_element and template.count(":", 0, m.start()) < _ARN_PREFIX_COLONS:
            pieces.append(("literal", m.group(0)))
            continue
        body = m.group(1)
        if body in ("*", "?", "$"):
            pieces.append(("literal", body))
            continue
        parsed = _VARIABLE_BODY.fullmatch(body)
        if parsed is None:
            return None, []
        key, default = parsed.group(1), parsed.group(2)
        values = _known(ctx, key)
        if values is None:
            pieces.append(("unknown", key))
            unresolved.append(key)
        elif len(values) == 1:
            pieces.append(("literal", values[0]))
        elif default is not None:
            pieces.append(("literal", default.replace("''", "'")))
        else:
            return None, []
    pieces.append(("pattern", template[pos:]))
    return pieces, unresolved


def _match_template(
    template: str,
    value: str,
    ctx: _Ctx,
    *,
    wildcards: bool,
    ignore_case: bool,
    arn: bool,
    variables: bool = True,
    resource_element: bool = False,
) -> _Result:
    """Match `value` against a policy pattern that may hold policy variables.

    An unknown variable stands for "any text" while matching: if even that cannot match,
    the answer is a settled False; otherwise it is unsettled. With `arn`, wildcards stay
    inside their colon-delimited segment for the first five segments; in a Resource
    element (`resource_element`) a `*` that ends one of those segments may run on across
    colons, as IAM documents.
    """
    pieces, unresolved = _resolve(template, ctx, variables=variables, resource_element=resource_element)
    if pieces is None:
        return False, ()
    tokens: list[tuple[str, str]] = []
    for kind, text in pieces:
        if kind == "unknown":
            tokens.append((kind, ""))
        else:
            tokens.extend((kind, c) for c in text)
    out: list[str] = []
    colons = 0
    for i, (kind, c) in enumerate(tokens):
        if kind == "unknown":
            out.append(".*")
            continue
        if kind == "pattern" and wildcards and c in "*?":
            if arn and colons < _ARN_PREFIX_COLONS:
                following = tokens[i + 1] if i + 1 < len(tokens) else None
                ends_segment = following is None or following == ("pattern", ":") or following == ("literal", ":")
                if c == "*":
                    out.append(".*" if resource_element and ends_segment else "[^:]*")
                else:
                    out.append("[^:]")
            else:
                out.append(".*" if c == "*" else ".")
            continue
        colons += c == ":"
        out.append(re.escape(c))
    regex = re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))
    if regex.fullmatch(value) is None:
        return False, ()
    if unresolved:
        return None, tuple(f"policy variable ${{{k}}} is not in the context" for k in unresolved)
    return True, ()


def _and(parts: Sequence[_Result]) -> _Result:
    if any(r is False for r, _ in parts):
        return False, ()
    if any(r is None for r, _ in parts):
        return None, tuple(why for r, whys in parts if r is None for why in whys)
    return True, ()


def _or(parts: Sequence[_Result]) -> _Result:
    if any(r is True for r, _ in parts):
        return True, ()
    if any(r is None for r, _ in parts):
        return None, tuple(why for r, whys in parts if r is None for why in whys)
    return False, ()


def _not(value: Tri) -> Tri:
    return None if value is None else not value


# --------------------------------------------------------------------------- conditions


class _Unsettled(Exception):
    """A value this module cannot compare offline (the reason is the message)."""


Matcher = Callable[[str, str, _Ctx, bool], _Result]  # (policy value, request value, context, variables)


def _string(*, wildcards: bool, ignore_case: bool = False, arn: bool = False) -> Matcher:
    def match(policy: str, request: str, ctx: _Ctx, variables: bool) -> _Result:
        return _match_template(
            policy, request, ctx, wildcards=wildcards, ignore_case=ignore_case, arn=arn, variables=variables
        )

    return match


def _parse_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _Unsettled(f"{text!r} is not a number") from None


def _parse_date(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Unsettled(f"{text!r} is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Matcher:
    def match(policy: str, request: str, ctx: _Ctx, variables: bool) -> _Result:
        return test(parse(request), parse(policy)), ()

    return match


def _ip(policy: str, request: str, ctx: _Ctx, variables: bool) -> _Result:
    try:
        network = ipaddress.ip_network(policy, strict=False)
        address = ipaddress.ip_address(request)
    except ValueError:
        raise _Unsettled(f"cannot compare {request!r} with the address range {policy!r}") from None
    return address in network, ()


def _ordered(parse: Callable[[str], Any]) -> dict[str, Matcher]:
    return {
        "Equals": _compare(parse, lambda a, b: a == b),
        "LessThan": _compare(parse, lambda a, b: a < b),
        "LessThanEquals": _compare(parse, lambda a, b: a <= b),
        "GreaterThan": _compare(parse, lambda a, b: a > b),
        "GreaterThanEquals": _compare(parse, lambda a, b: a >= b),
    }


def _operator_table() -> dict[str, tuple[Matcher, bool]]:
    """Base operator name -> (matcher, negated). A negated operator is NOR over its values."""
    table: dict[str, tuple[Matcher, bool]] = {
        "StringEquals": (_string(wildcards=False), False),
        "StringNotEquals": (_string(wildcards=False), True),
        "StringEqualsIgnoreCase": (_string(wildcards=False, ignore_case=True), False),
        "StringNotEqualsIgnoreCase": (_string(wildcards=False, ignore_case=True), True),
        "StringLike": (_string(wildcards=True), False),
        "StringNotLike": (_string(wildcards=True), True),
        # AWS documents ArnEquals and ArnLike identically: segment-wise, wildcards allowed.
        "ArnEquals": (_string(wildcards=True, arn=True), False),
        "ArnLike": (_string(wildcards=True, arn=True), False),
        "ArnNotEquals": (_string(wildcards=True, arn=True), True),
        "ArnNotLike": (_string(wildcards=True, arn=True), True),
        "Bool": (_string(wildcards=False, ignore_case=True), False),
        "IpAddress": (_ip, False),
        "NotIpAddress": (_ip, True),
    }
    for family, parse in (("Numeric", _parse_number), ("Date", _parse_date)):
        ordered = _ordered(parse)
        for suffix, matcher in ordered.items():
            table[f"{family}{suffix}"] = (matcher, False)
        table[f"{family}NotEquals"] = (ordered["Equals"], True)
    return table


_OPERATORS = _operator_table()


def _condition_block(block: Any, ctx: _Ctx, variables: bool = True) -> _Result:
    """Operators AND together, keys within an operator AND together (AWS's documented logic)."""
    if not isinstance(block, Mapping) or not block:
        return None, ("its Condition is not a non-empty object",)
    parts: list[_Result] = []
    for operator, keys in block.items():
        if not isinstance(keys, Mapping) or not keys:
            parts.append((None, (f"condition operator {operator} has no key/value object",)))
            continue
        for key, values in keys.items():
            try:
                parts.append(_condition(str(operator), str(key), values, ctx, variables))
            except _Unsettled as exc:
                parts.append((None, (f"{operator} on {key}: {exc}",)))
    return _and(parts)


def _condition(operator: str, key: str, raw_values: Any, ctx: _Ctx, variables: bool = True) -> _Result:
    qualifier: str | None = None
    base = operator
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if base.startswith(prefix):
            qualifier, base = prefix, base[len(prefix) :]
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base != "Null" and base not in _OPERATORS:
        return None, (f"condition operator {operator} is not evaluated offline",)
    if base == "Null" and (qualifier or if_exists):
        return None, (f"condition operator {operator} is not evaluated offline",)

    items = raw_values if isinstance(raw_values, list | tuple) else [raw_values]
    policy_values = [_scalar(v) for v in items]
    if not policy_values or any(v is None for v in policy_values):
        return None, (f"{operator} on {key} has values that are not strings, numbers or booleans",)
    values = [v for v in policy_values if v is not None]

    if base == "Null":
        wanted = {v.lower() for v in values}
        if not wanted <= {"true", "false"}:
            return None, (f"Null on {key} needs 'true' or 'false'",)
        if wanted == {"true", "false"}:
            return True, ()  # absent or present: holds whatever the request holds
    request = _known(ctx, key)
    if request is None:
        return None, (f"condition key {key} is not in the context",)

    if base == "Null":
        return ("true" in wanted and not request) or ("false" in wanted and bool(request)), ()

    matcher, negated = _OPERATORS[base]
    if not request:  # the key is known to be absent from the request
        if if_exists or qualifier == "ForAllValues:":
            return True, ()
        if qualifier == "ForAnyValue:":
            return False, ()
        return negated, ()

    def one(request_value: str) -> _Result:
        hit, why = _or([matcher(v, request_value, ctx, variables) for v in values])
        return (_not(hit) if negated else hit), why

    if qualifier == "ForAnyValue:":
        return _or([one(r) for r in request])
    if qualifier == "ForAllValues:":
        return _and([one(r) for r in request])
    if len(request) > 1:
        return None, (f"condition key {key} has several values but {operator} compares one",)
    return one(request[0])


def _known(ctx: _Ctx, key: str) -> tuple[str, ...] | None:
    """The request's values for `key`; () when known absent (itself or its family); None when unknown."""
    lowered = key.lower()
    found = ctx.get(lowered)
    if found is not None:
        return found
    for family, values in ctx.items():
        if family.endswith("/*") and lowered.startswith(family[:-1]) and len(lowered) > len(family) - 1:
            return values
    return None


# --------------------------------------------------------------------------- settling by cases

# Global keys that may hold several values: a single-valued world would not stand for them.
_MULTIVALUED = frozenset(
    k.lower()
    for k in (
        "aws:TagKeys",
        "aws:CalledVia",
        "aws:PrincipalServiceNamesList",
        "aws:PrincipalOrgPaths",
        "aws:ResourceOrgPaths",
        "aws:SourceOrgPaths",
    )
)
_FAMILIES = {"StringEquals": "string", "StringNotEquals": "string", "Bool": "bool", "Null": "null"}
_MAX_CASES = 256


def _settle_by_cases(request: _Request, ctx: _Ctx, undecided: Decision, at_stake: list[_Verdict]) -> Decision:
    """Try every value of the unknown keys that the unsettled conditions can tell apart.

    Sound because the conditions considered are exact comparisons (StringEquals,
    StringNotEquals, Bool, Null, with or without IfExists) on single-valued `aws:` keys: any
    real value behaves like one of the candidates (absent, a value the policies name, or
    any other value). A decision that comes out the same in every case is the decision.
    """
    candidates, spelled = _case_candidates(at_stake, ctx)
    if not candidates:
        return undecided
    keys = sorted(candidates)
    worlds: list[Decision] = []
    for values in itertools.product(*(candidates[k] for k in keys)):
        world = dict(ctx)
        world.update({k: (() if v is None else (v,)) for k, v in zip(keys, values, strict=True)})
        decided, _ = _decide(request, world)
        if decided.decision == "unknown":
            return undecided
        worlds.append(decided)
    kinds = {d.decision for d in worlds}
    names = ", ".join(spelled[k] for k in keys)
    statements = _unique_refs(ref for d in worlds for ref in d.statements)
    skipped = f" (skipped as malformed: {'; '.join(request.skipped)})" if request.skipped else ""
    if len(kinds) == 1:
        (kind,) = kinds
        labels = ", ".join(s.label for s in statements)
        what = {
            "allowed": f"allowed by {labels}",
            "implicit_deny": "no identity policy statement allows this action on this resource",
            "explicit_deny": f"explicitly denied by {labels}",
            "boundary": f"allowed by {labels}, but the permissions boundary "
            f"'{request.boundary.name if request.boundary else ''}' does not allow it",
        }[kind]
        note = f"{what}, whatever the request holds for {names} (every case the conditions tell apart was tried)"
        return dataclasses.replace(worlds[0], statements=statements, note=note + skipped)
    if kinds <= {"implicit_deny", "boundary"} and request.boundary is not None:
        allows = _unique_refs(ref for d in worlds if d.decision == "boundary" for ref in d.statements)
        labels = ", ".join(s.label for s in allows)
        note = (
            f"denied in every case: wherever {labels} allows it, the permissions boundary "
            f"'{request.boundary.name}' does not (their conditions on {names} cannot hold together)"
        )
        return Decision(request.action, request.resource, "boundary", allows, note + skipped)
    return undecided


def _unique_refs(refs: Any) -> tuple[StatementRef, ...]:
    seen: dict[tuple[str, str, int], StatementRef] = {}
    for ref in refs:
        seen.setdefault((ref.source_kind, ref.source_name, ref.index), ref)
    return tuple(seen.values())


def _case_candidates(at_stake: list[_Verdict], ctx: _Ctx) -> tuple[dict[str, list[str | None]], dict[str, str]]:
    """For each unknown key the unsettled conditions use: the values worth trying (None: absent),
    and the key as the policy spells it.

    Empty when any such key is used in a way the cases could not stand for (another
    operator, a set operator, a policy variable), or when there would be too many cases.
    A key compared only with Bool is a boolean: absent, "true" or "false".
    """
    uses: dict[str, set[str]] = {}
    spelled: dict[str, str] = {}
    named: dict[str, set[str]] = {}
    variables_used: set[str] = set()
    for verdict in at_stake:
        statement = verdict.statement
        if statement.variables:
            text = json.dumps(_jsonable(statement.ref.statement))
            variables_used |= {m.group(1).split(",")[0].strip().lower() for m in _VARIABLE.finditer(text)}
        block = statement.condition
        if block is _NO_CONDITION or not isinstance(block, Mapping):
            continue
        for operator, keys in block.items():
            if not isinstance(keys, Mapping):
                continue
            for key, raw in keys.items():
                lowered = str(key).lower()
                if _known(ctx, lowered) is not None:
                    continue
                spelled.setdefault(lowered, str(key))
                base = str(operator)
                if base.endswith("IfExists") and base != "NullIfExists":
                    base = base[: -len("IfExists")]
                family = _FAMILIES.get(base, "other")
                uses.setdefault(lowered, set()).add(family)
                items = raw if isinstance(raw, list | tuple) else [raw]
                scalars = [_scalar(v) for v in items]
                if any(v is None for v in scalars) or (statement.variables and any("${" in str(v) for v in scalars)):
                    uses[lowered].add("other")
                named.setdefault(lowered, set()).update(v for v in scalars if v is not None)
    candidates: dict[str, list[str | None]] = {}
    for key, families in uses.items():
        kinds = families - {"null"}
        if "other" in families or len(kinds) > 1 or not key.startswith("aws:") or key in _MULTIVALUED:
            return {}, {}
        if key in variables_used:
            return {}, {}
        if kinds == {"bool"}:
            candidates[key] = [None, "true", "false"]
            continue
        values = sorted(named.get(key, set())) if kinds == {"string"} else []
        other = "\x00" + max(values, key=len, default="") + "\x00"  # equal to none of the named values
        candidates[key] = [None, *values, other]
    if math.prod(len(v) for v in candidates.values()) > _MAX_CASES:
        return {}, {}
    return candidates, spelled


# --------------------------------------------------------------------------- helpers


def _labels(verdicts: Sequence[_Verdict]) -> str:
    return ", ".join(v.ref.label for v in verdicts)


def _dedupe(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def statement_label(s: Mapping[str, Any]) -> str:
    """A deciding statement as an operator finds it, from either evaluator's `to_dict()` form."""
    kind = s.get("source_kind")
    where = "permissions boundary" if kind == "boundary" else f"{kind} policy"
    if s.get("sid"):
        which = f" statement '{s['sid']}'"
    elif s.get("index") is not None:
        which = f" statement #{s['index']}"
    elif s.get("position"):
        which = f" ({s['position']})"
    else:
        which = ""
    return f"{where} '{s.get('source_name')}'{which}"
