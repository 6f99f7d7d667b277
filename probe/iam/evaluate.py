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
from the request*, which is what Null, ...IfExists and the negated operators test.
"""

from __future__ import annotations

import functools
import ipaddress
import json
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

    identity_verdicts = [
        v for source in identity for v in _verdicts(source, source.kind, action, resource, ctx, skipped)
    ]
    boundary_verdicts = _verdicts(boundary, "boundary", action, resource, ctx, skipped) if boundary is not None else []
    verdicts = identity_verdicts + boundary_verdicts

    deny_yes = [v for v in verdicts if v.ref.effect == "Deny" and v.applies is True]
    deny_maybe = [v for v in verdicts if v.ref.effect == "Deny" and v.applies is None]
    id_yes = [v for v in identity_verdicts if v.ref.effect == "Allow" and v.applies is True]
    id_maybe = [v for v in identity_verdicts if v.ref.effect == "Allow" and v.applies is None]
    b_yes = [v for v in boundary_verdicts if v.ref.effect == "Allow" and v.applies is True]
    b_maybe = [v for v in boundary_verdicts if v.ref.effect == "Allow" and v.applies is None]

    identity_allows: Tri = True if id_yes else (None if id_maybe else False)
    boundary_allows: Tri = True if boundary is None or b_yes else (None if b_maybe else False)

    def decide(kind: DecisionKind, chosen: list[_Verdict], note: str) -> Decision:
        if skipped:
            note = f"{note} (skipped as malformed: {'; '.join(skipped)})"
        return Decision(action, resource, kind, tuple(v.ref for v in chosen), note)

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
        if identity_allows is True and boundary_allows is False and boundary is not None:
            return decide(
                "boundary",
                id_yes,
                f"allowed by {_labels(id_yes)}, but the permissions boundary '{boundary.name}' "
                "has no Allow statement matching this action and resource",
            )

    at_stake = deny_maybe + (id_maybe if identity_allows is None else []) + (b_maybe if boundary_allows is None else [])
    reasons = _dedupe(f"{v.ref.label}: {r}" for v in at_stake for r in v.reasons)
    if identity_allows is False or boundary_allows is False:
        lead = "denied in every case, but whether explicitly depends on what could not be settled"
        if not deny_maybe:
            lead = "denied in every case, but whether by the boundary depends on what could not be settled"
    else:
        lead = "the decision depends on what could not be settled"
    return decide("unknown", at_stake, f"{lead}: {'; '.join(reasons)}")


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


@dataclass(frozen=True)
class _Verdict:
    ref: StatementRef
    applies: Tri
    reasons: tuple[str, ...]


_NO_CONDITION = object()


def _verdicts(
    source: PolicySource, kind: PolicyKind, action: str, resource: str, ctx: _Ctx, skipped: list[str]
) -> list[_Verdict]:
    out = []
    for statement in _statements(source, kind, skipped):
        applies, reasons = _applies(statement, action, resource, ctx)
        if applies is not False:
            out.append(_Verdict(statement.ref, applies, reasons))
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

    out = []
    for index, item in enumerate(raw_list):
        parsed = _parse_statement(source, kind, index, item)
        if isinstance(parsed, str):
            skipped.append(f"{where} '{source.name}' statement at index {index} {parsed}")
        else:
            out.append(parsed)
    return out


def _parse_statement(source: PolicySource, kind: PolicyKind, index: int, item: Any) -> _Statement | str:
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


def _applies(statement: _Statement, action: str, resource: str, ctx: _Ctx) -> _Result:
    """Whether the statement applies to the request (three-valued), cheapest test first."""
    action_hit = any(_glob(p, ignore_case=True).fullmatch(action) for p in statement.actions)
    if action_hit == statement.not_action:
        return False, ()

    resource_hit, resource_why = _or(
        [_match_template(p, resource, ctx, wildcards=True, ignore_case=False, arn=False) for p in statement.resources]
    )
    if statement.not_resource:
        resource_hit = _not(resource_hit)
    if resource_hit is False:
        return False, ()

    if statement.condition is _NO_CONDITION:
        return resource_hit, resource_why
    return _and([(resource_hit, resource_why), _condition_block(statement.condition, ctx)])


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters (`/` and `:` included), `?` exactly one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?")


def _resolve(template: str, ctx: _Ctx) -> tuple[list[tuple[str, str]] | None, list[str]]:
    """Split a pattern into pieces: raw pattern text, literal text, or an unknown variable.

    Returns None as the pieces when a variable can never be substituted (its key is known
    absent or multi-valued, with no default, or the variable is malformed): AWS then treats
    the pattern as matching nothing.
    """
    pieces: list[tuple[str, str]] = []
    unresolved: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(template):
        pieces.append(("pattern", template[pos : m.start()]))
        pos = m.end()
        body = m.group(1)
        if body in ("*", "?", "$"):
            pieces.append(("literal", body))
            continue
        parsed = _VARIABLE_BODY.fullmatch(body)
        if parsed is None:
            return None, []
        key, default = parsed.group(1), parsed.group(2)
        values = ctx.get(key.lower())
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


def _match_template(template: str, value: str, ctx: _Ctx, *, wildcards: bool, ignore_case: bool, arn: bool) -> _Result:
    """Match `value` against a policy pattern that may hold policy variables.

    An unknown variable stands for "any text" while matching: if even that cannot match,
    the answer is a settled False; otherwise it is unsettled. With `arn`, wildcards stay
    inside their colon-delimited segment for the first five segments, as ArnLike does.
    """
    pieces, unresolved = _resolve(template, ctx)
    if pieces is None:
        return False, ()
    colons_total = sum(text.count(":") for kind, text in pieces if kind != "unknown")
    segmented = arn and colons_total >= 5
    out: list[str] = []
    colons = 0
    for kind, text in pieces:
        if kind == "unknown":
            out.append(".*")
            continue
        for c in text:
            if kind == "pattern" and wildcards and c in "*?":
                bounded = segmented and colons < 5
                if c == "*":
                    out.append("[^:]*" if bounded else ".*")
                else:
                    out.append("[^:]" if bounded else ".")
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


Matcher = Callable[[str, str, _Ctx], _Result]  # (policy value, request value, context)


def _string(*, wildcards: bool, ignore_case: bool = False, arn: bool = False) -> Matcher:
    def match(policy: str, request: str, ctx: _Ctx) -> _Result:
        return _match_template(policy, request, ctx, wildcards=wildcards, ignore_case=ignore_case, arn=arn)

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
    def match(policy: str, request: str, ctx: _Ctx) -> _Result:
        return test(parse(request), parse(policy)), ()

    return match


def _ip(policy: str, request: str, ctx: _Ctx) -> _Result:
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


def _condition_block(block: Any, ctx: _Ctx) -> _Result:
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
                parts.append(_condition(str(operator), str(key), values, ctx))
            except _Unsettled as exc:
                parts.append((None, (f"{operator} on {key}: {exc}",)))
    return _and(parts)


def _condition(operator: str, key: str, raw_values: Any, ctx: _Ctx) -> _Result:
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

    request = ctx.get(key.lower())
    if request is None:
        return None, (f"condition key {key} is not in the context",)

    if base == "Null":
        wanted = {v.lower() for v in values}
        if not wanted <= {"true", "false"}:
            return None, (f"Null on {key} needs 'true' or 'false'",)
        return ("true" in wanted and not request) or ("false" in wanted and bool(request)), ()

    matcher, negated = _OPERATORS[base]
    if not request:  # the key is known to be absent from the request
        if if_exists or qualifier == "ForAllValues:":
            return True, ()
        if qualifier == "ForAnyValue:":
            return False, ()
        return negated, ()

    def one(request_value: str) -> _Result:
        hit, why = _or([matcher(v, request_value, ctx) for v in values])
        return (_not(hit) if negated else hit), why

    if qualifier == "ForAnyValue:":
        return _or([one(r) for r in request])
    if qualifier == "ForAllValues:":
        return _and([one(r) for r in request])
    if len(request) > 1:
        return None, (f"condition key {key} has several values but {operator} compares one",)
    return one(request[0])


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
