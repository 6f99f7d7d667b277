"""The probe commands `agentcore-probe lab` suggests for a gateway, each with the outcome it shows.

A printout that only lists tools never shows an operator a failing target, a policy
denial or LOG_ONLY letting a call through. So for each gateway this picks the calls that
exercise what makes it special, and predicts each outcome from the very code that will
answer (the lab's Cedar model and role check), not from a table that could drift:

- throttled: listing alone shows it; a failing target: a call to it;
- a policy engine: one call the policies permit and one they deny, on the same tool when
  its arguments decide (`amount < 500`); in LOG_ONLY the denied one goes through;
- the role lacking policy permissions: every line fails until `iam fix --apply`, and
  the line says what it shows afterwards. In the second form of the fault
  (`permission_fault_form: deny_by_default`) the gateway lists no tools and denies every
  call by default; `run`'s policy explanation finds a permit that could apply, runs the
  IAM check and reports `policy_internal_failure`, when it can tell (the probe knows its
  principal, or no policy reads it); otherwise the run stays `empty_tools`;
- anything else: one plain call.

Pure: the caller hands in a snapshot of the gateway, its policies and the principal the
printed credentials will be.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from probe.cedar.model import EnginePolicy, Principal, authorize_call, could_permit
from probe.lab.gateway import SEARCH_TOOL
from probe.lab.state import Gateway, ToolSpec

# Argument values tried in turn: numbers below, between and above the usual policy thresholds.
_NUMBERS = (120, 900, 5000)
_INTEGERS = (3, 30, 300)


@dataclass(frozen=True)
class Example:
    """One suggested `agentcore-probe run` (a call when `tool` is set) and the outcome it should show."""

    expect: str  # an Outcome value
    why: str
    tool: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)


def sample_arguments(tool: ToolSpec, variant: int = 0) -> dict[str, Any]:
    """Arguments for every property of the tool's input schema; `variant` moves the numbers."""
    props = (tool.input_schema or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for name, schema in props.items():
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind == "number":
            out[name] = _NUMBERS[variant % len(_NUMBERS)]
        elif kind == "integer":
            out[name] = _INTEGERS[variant % len(_INTEGERS)]
        elif kind == "boolean":
            out[name] = True
        elif kind == "object":
            out[name] = {}
        elif kind == "array":
            out[name] = []
        else:
            out[name] = f"{name.replace('_', '-')}-17"
    return out


def examples(
    gateway: Gateway,
    policies: Mapping[str, str] | None,
    principal: Principal,
    *,
    role_ok: bool,
    page_size: int,
    lambda_denied: frozenset[str] = frozenset(),
    probe_principal: Principal | None = None,
) -> list[Example]:
    """The lines to print for one gateway: first the plain run (listing), then the calls.

    `policies` are the engine's enforced policies (None without an engine); `role_ok` says
    whether the gateway's role may evaluate them; `lambda_denied` names the targets whose
    Lambda function the role may not invoke (a permitted call to them fails as AWS's does);
    `probe_principal` is the principal the probe's own diagnosis will know (None: the
    printed command sends no credentials the probe could read a principal from).
    """
    tools = [(f"{t.name}___{s.name}", s) for t in gateway.targets for s in t.tools]
    faults = gateway.faults
    if faults.throttle:
        return [Example("throttled", "every request answers HTTP 429 (Rate exceeded)")]
    enforcing = policies is not None and gateway.policy_engine_mode == "ENFORCE"
    broken = enforcing and not role_ok
    shown = [(n, s) for n, s in tools if not enforcing or could_permit(policies or {}, principal, n, gateway.arn)]
    if broken and faults.permission_fault_form == "deny_by_default":
        return _second_form(gateway, tools, policies or {}, probe_principal)
    if broken:
        listing = Example("policy_internal_failure",
                          "the role may not evaluate policies: `iam check` names what is missing")
    elif not shown and not gateway.search_enabled:
        listing = Example("empty_tools", "no policy permits any tool for this caller (default deny)" if tools
                          else "the gateway has no targets, so no tools")
    else:
        listing = Example("ok", _listing_why(len(shown), len(tools), page_size, faults.latency_ms, enforcing))
    calls = [_lambda_blocked(c, gateway, lambda_denied) for c in _calls(gateway, tools, shown, policies, principal)]
    if broken:
        calls = [Example("policy_internal_failure", f"after `iam fix --apply`: {c.expect}, {c.why}", c.tool,
                         c.arguments) for c in calls]
    return [listing, *calls]


def _second_form(
    gateway: Gateway, tools: Sequence[tuple[str, ToolSpec]], policies: Mapping[str, str],
    probe_principal: Principal | None,
) -> list[Example]:
    """The second form: no tools listed, every call denied by default; what `run` makes of it.

    `run` explains the empty listing with the policies (`probe.cedar.explain`, the same
    partial evaluation the gateway would use): when some permit could apply, the gateway
    hid a tool its policies allow and the IAM check finds the pairs missing.
    """
    from probe.cedar.explain import explain_listing

    engine = [EnginePolicy(pid, pid, statement) for pid, statement in sorted(policies.items())]
    permitted = [(n, s) for n, s in tools
                 if explain_listing(engine, gateway.arn, n, probe_principal).kind == "listable"]
    if not permitted:
        return [Example("empty_tools", "the role may not evaluate policies (second form: every call denied by "
                        "default), and no permit could apply to a tool for this caller: `iam check` names the cause")]
    why = ("no tools listed and every call denied by default although a permit applies (the second form of the "
           "fault): `run` finds the permit, checks the role and names the missing permissions")
    listing = Example("policy_internal_failure", why)
    name, spec = permitted[0]
    call = Example("policy_internal_failure", f"{why}; after `iam fix --apply`: the call goes through", name,
                   sample_arguments(spec))
    return [listing, call]


def _lambda_blocked(call: Example, gateway: Gateway, lambda_denied: frozenset[str]) -> Example:
    """A call that gets past policy to a target whose function the role may not invoke fails there."""
    target = call.tool.split("___", 1)[0] if call.tool and "___" in call.tool else None
    if call.expect != "ok" or target not in lambda_denied:
        return call
    debug = gateway.exception_level == "DEBUG"
    why = ("the role lacks lambda:InvokeFunction on the target's function"
           + (": exceptionLevel DEBUG says so" if debug else " (generic text: exceptionLevel is not DEBUG)"))
    return Example("tool_error", why, call.tool, call.arguments)


def _listing_why(shown: int, total: int, page_size: int, latency_ms: int, enforcing: bool) -> str:
    pages = max(1, -(-shown // page_size))
    what = f"lists {shown} of {total} tools (policy-filtered)" if enforcing else f"lists {total} tools"
    what += f" in {pages} page{'s' if pages > 1 else ''} of up to {page_size}"
    return what + (f", each answer {latency_ms} ms late" if latency_ms else "")


def _calls(
    gateway: Gateway,
    tools: Sequence[tuple[str, ToolSpec]],
    shown: Sequence[tuple[str, ToolSpec]],
    policies: Mapping[str, str] | None,
    principal: Principal,
) -> list[Example]:
    enforcing = policies is not None and gateway.policy_engine_mode == "ENFORCE"

    def permitted(name: str, spec: ToolSpec) -> bool:
        return not enforcing or authorize_call(policies or {}, principal, name, gateway.arn,
                                               sample_arguments(spec), spec.input_schema).allowed

    candidates = shown if enforcing else tools
    failing = [(n, s) for n, s in candidates if n in gateway.faults.failing_tools and permitted(n, s)]
    if failing:
        name, spec = failing[0]
        debug = gateway.exception_level == "DEBUG"
        why = "its target fails" + (": exceptionLevel DEBUG shows why" if debug else
                                    " (generic text: exceptionLevel is not DEBUG)")
        return [Example("tool_error", why, name, sample_arguments(spec))]
    if policies is not None:
        decided = _policy_calls(gateway, tools, shown, policies, principal)
        if decided:
            return decided
    if gateway.search_enabled:
        return [Example("ok", "semantic search over the tools this caller may see", SEARCH_TOOL, {"query": "order"})]
    if shown:
        name, spec = shown[0]
        return [Example("ok", "a plain call", name, sample_arguments(spec))]
    return []


def _policy_calls(
    gateway: Gateway,
    tools: Sequence[tuple[str, ToolSpec]],
    shown: Sequence[tuple[str, ToolSpec]],
    policies: Mapping[str, str],
    principal: Principal,
) -> list[Example]:
    """One permitted and one denied call, preferring one tool whose arguments decide."""
    log_only = gateway.policy_engine_mode == "LOG_ONLY"
    # A denied call must be to a listed tool (else the probe stops at tool_missing); in LOG_ONLY all are listed.
    candidates = tools if log_only else shown
    allowed: list[tuple[str, dict[str, Any]]] = []
    denied: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    for (name, spec), variant in itertools.product(candidates, range(len(_NUMBERS))):
        args = sample_arguments(spec, variant)
        decision = authorize_call(policies, principal, name, gateway.arn, args, spec.input_schema)
        if decision.allowed:
            allowed.append((name, args))
        else:
            denied.append((name, args, decision.determining_policy_ids))
    both = next((n for n, _ in allowed if any(d[0] == n for d in denied)), None)
    pick_allowed = next((a for a in allowed if a[0] == both), allowed[0] if allowed else None)
    pick_denied = next((d for d in denied if d[0] == both), denied[0] if denied else None)
    out: list[Example] = []
    if pick_allowed:
        out.append(Example("ok", "the policies permit it", *pick_allowed))
    if pick_denied:
        name, args, forbids = pick_denied
        reason = f"forbidden by {', '.join(forbids)}" if forbids else "no policy permits it (default deny)"
        if log_only:
            out.append(Example("ok", f"ENFORCE would deny it ({reason}); LOG_ONLY lets it through", name, args))
        else:
            out.append(Example("policy_denied", reason, name, args))
    return out
