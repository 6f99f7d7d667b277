"""IAM `Condition` blocks, decided against the request context the lab knows for sure.

The lab's role check asks "would AWS let the gateway's role call AuthorizeAction here?".
That request has a context the lab can state exactly (the gateway's region, the role as
the principal), and conditions on those keys are decided here as IAM does. Anything the
lab cannot know (a source IP, tags, times, an operator it does not implement) is
*unsettled*: the caller then errs the safe way (an Allow grants nothing, a Deny applies),
so the lab never reports a permission it could not prove.

Written from IAM's documented semantics, not from moto (whose matcher knows only
StringEquals and ignores other operators, and turns a failed condition on an Allow into
an explicit Deny) and not from the probe's own evaluator (the lab must stay an
independent witness).

- Keys are case-insensitive; String values are case-sensitive unless `...IgnoreCase`.
- Several operators, and several keys under one operator, must all hold; several values
  for one key match if any does (a negated operator holds only if none does).
- `...IfExists` and `ForAnyValue:`/`ForAllValues:` are accepted: every key the lab
  knows is single-valued and present, so they decide as the plain operator does.
- `Null` tests presence: every known key is present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

Settled = bool | None  # None: the lab cannot know

_POSITIVE = {
    "stringequals": "equals", "stringequalsignorecase": "iequals", "stringlike": "like",
    "arnequals": "arn", "arnlike": "arn", "bool": "bool",
}  # fmt: skip
_NEGATED = {
    "stringnotequals": "equals", "stringnotequalsignorecase": "iequals", "stringnotlike": "like",
    "arnnotequals": "arn", "arnnotlike": "arn",
}  # fmt: skip


def gateway_request_context(role_arn: str, region: str | None) -> dict[str, str]:
    """The keys AWS sets, beyond doubt, when a gateway's role session calls the policy service.

    The gateway acts as its execution role (an assumed-role session), in the gateway's region,
    over TLS: `aws:PrincipalArn` is the role's ARN (not the session's), as IAM documents.
    """
    parts = role_arn.split(":")
    context = {
        "aws:principalarn": role_arn,
        "aws:principaltype": "AssumedRole",
        "aws:securetransport": "true",
    }
    if len(parts) > 4 and parts[4]:
        context["aws:principalaccount"] = parts[4]
    if region:
        context["aws:requestedregion"] = region
    return context


def condition_holds(condition: Any, context: Mapping[str, str] | None) -> Settled:
    """Does the Condition block hold in `context` (lower-cased keys)? None when it cannot be known."""
    if not isinstance(condition, Mapping) or context is None:
        return None
    verdicts = []
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            return None
        verdicts += [_holds(str(operator), str(key).lower(), expected, context) for key, expected in keys.items()]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def _holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> Settled:
    op = operator.lower()
    for prefix in ("foranyvalue:", "forallvalues:"):
        op = op.removeprefix(prefix)
    op = op.removesuffix("ifexists")
    if key not in context:
        return None
    values = _values(expected)
    if values is None:
        return None
    actual = context[key]
    if op == "null":
        return all(v.lower() == "false" for v in values) if values else None
    kind = _POSITIVE.get(op) or _NEGATED.get(op)
    if kind is None:
        return None  # Numeric, Date, IpAddress, Binary: no known key of the lab has such values
    matched = any(_match(kind, pattern, actual) for pattern in values)
    return matched if op in _POSITIVE else not matched


def _values(expected: Any) -> list[str] | None:
    items = expected if isinstance(expected, list) else [expected]
    out = []
    for item in items:
        if isinstance(item, bool):
            item = "true" if item else "false"
        if not isinstance(item, str | int | float) or "${" in str(item):
            return None  # policy variables need a context the lab does not model
        out.append(str(item))
    return out


def _match(kind: str, pattern: str, actual: str) -> bool:
    if kind == "equals":
        return pattern == actual
    if kind == "iequals":
        return pattern.casefold() == actual.casefold()
    if kind == "bool":
        return pattern.lower() == actual.lower()
    if kind == "like":
        return _glob(pattern).fullmatch(actual) is not None
    # ArnEquals and ArnLike are the same test: each of the six colon-separated parts, with wildcards.
    want, have = pattern.split(":", 5), actual.split(":", 5)
    if not len(want) == len(have) == 6:
        return False
    return all(_glob(w).fullmatch(h) is not None for w, h in zip(want, have, strict=True))


@cache
def _glob(pattern: str) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` one character, everything else literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)
