"""The policy explanation of `run`: is a denial (or a hidden tool) really the policies' doing?

For `policy_denied`, `empty_tools` and `tool_missing` on a gateway with a policy engine,
this reads the engine's policies and the tools' schemas, rebuilds the Cedar request the
gateway builds for the probe's own principal, and asks `probe.cedar.explain`:

- forbid / default deny: the policies' own doing; the diagnosis names the policies (and
  for a default deny, which part of each permit on the action did not hold);
- permit (or, for a hidden tool under ENFORCE, some permit that could apply): the
  gateway disagrees with its policies. AgentCore documents why that happens: a role
  without AuthorizeAction, PartiallyAuthorizeActions or GetPolicyEngine makes "all tool
  calls ... denied by default even when you have configured permit policies" (the second
  form of the IAM fault). So the IAM check runs; when it finds those pairs missing the
  outcome becomes `policy_internal_failure`; when the role is fine the outcome stays and
  a finding carries the request as the probe built it, for a support case.

Whatever cannot be read or known is said in one line and the outcome is kept: never a
guess. Blocking boto3 calls: the diagnose stage runs this in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probe.outcome import Diagnosis, Outcome

if TYPE_CHECKING:
    from probe.cedar.explain import Explanation
    from probe.cedar.model import Principal
    from probe.cedar.read import PolicyFacts
    from probe.spec import Probe

KIND = "policy_explanation"
EVALUATION_ACTIONS = ("bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions",
                      "bedrock-agentcore:GetPolicyEngine")
_SHOWN_TOOLS = 5


@dataclass(frozen=True)
class Caller:
    """Who the probe was to the gateway, as far as its policies can tell; never a secret.

    `mode` is the auth plan's (`bearer`, `oauth2_client_credentials`, `sigv4`, `none`);
    `claims` the token's claims decoded without verification (None when there was no
    token, or it is not a JWT). The engine hands this to the diagnose stage; it is not
    part of the result.
    """

    mode: str = "none"
    claims: Mapping[str, Any] | None = field(default=None, repr=False)


@dataclass
class PolicyFindings:
    diagnoses: list[Diagnosis] = field(default_factory=list)
    outcome: Outcome | None = None
    tools_permitted: bool = False  # a hidden tool some permit could apply to (the engine-state note must not deny it)


def policy_findings(
    probe: Probe, outcome: Outcome, caller: Caller | None, tools_partial: bool = False
) -> PolicyFindings:
    """The policy explanation for one run's outcome (policy_denied, empty_tools, tool_missing)."""
    from probe.cedar import CedarUnavailable, require_cedarpy
    from probe.cedar.read import read_policy_facts

    target = probe.target
    assert target.gateway_id and target.region
    keep = f"the outcome stays {outcome.value}"
    if outcome is Outcome.TOOL_MISSING and (probe.call is None or tools_partial):
        return PolicyFindings()  # the tool may be on a page not read: nothing to explain
    try:
        require_cedarpy()
    except CedarUnavailable as exc:
        if outcome is Outcome.POLICY_DENIED:
            return PolicyFindings([_note("the policies were not explained", f"{exc}; {keep}.")])
        return PolicyFindings()
    facts = read_policy_facts(target.gateway_id, target.region, target.profile, engine_only=True)
    if facts.gateway_arn is None:
        return PolicyFindings([_unread(facts, "the gateway could not be read", keep)])
    if not facts.engine_arn:
        if outcome is Outcome.POLICY_DENIED:
            return PolicyFindings([_note("no policy engine is attached",
                                         f"The gateway has no policy engine attached now, so its policies cannot "
                                         f"explain this denial (was the engine detached since?); {keep}.")])
        return PolicyFindings()
    if outcome is not Outcome.POLICY_DENIED and facts.engine_mode != "ENFORCE":
        return PolicyFindings()  # LOG_ONLY hides nothing
    if facts.policies is None:
        return PolicyFindings([_unread(facts, "the engine's policies could not be read", keep)])
    principal, why_unknown = _principal(caller, target.region, target.profile)
    if outcome is Outcome.POLICY_DENIED:
        assert probe.call is not None
        return _explain_denial(probe, facts, principal, why_unknown, keep)
    return _explain_hidden(probe, outcome, facts, principal, why_unknown, keep)


def _principal(caller: Caller | None, region: str, profile: str | None) -> tuple[Principal | None, str | None]:
    from probe.cedar.principal import principal_from_claims
    from probe.cedar.read import caller_principal

    mode = caller.mode if caller else "none"
    if mode == "sigv4":
        return caller_principal(region, profile)
    if mode in ("bearer", "oauth2_client_credentials"):
        principal = principal_from_claims(caller.claims if caller else None)
        return principal, None if principal else "the probe's token is not a JWT with a `sub`, so its principal " \
                                                 "is not known"
    return None, "the probe sent no credentials, so the gateway's principal for it is not known"


def _explain_denial(probe: Probe, facts: PolicyFacts, principal: Principal | None, why_unknown: str | None,
                    keep: str) -> PolicyFindings:
    from probe.cedar.explain import explain_call

    assert probe.call is not None
    tool, arguments = probe.call.tool, dict(probe.call.arguments)
    schema = facts.schemas.get(tool)
    e = explain_call(facts.policies or [], facts.gateway_arn or "", tool, principal, arguments, schema)
    lines = _lines(e)
    if schema is None and facts.tools is not None:
        lines.append(f"No target of the gateway lists {tool}: context.input was typed from the JSON values.")
    if e.kind == "cannot_tell":
        if why_unknown and "principal" in e.summary:
            lines.append(why_unknown[0].upper() + why_unknown[1:] + ".")
        lines.append(f"So the denial is not explained; {keep}.")
        return PolicyFindings([_explained(e, lines)])
    if e.kind != "permit":
        return PolicyFindings([_explained(e, lines)])
    if schema is None and arguments:
        lines.append(f"The tool's input schema could not be read, so the input's Cedar types are not known; {keep}.")
        return PolicyFindings([_explained(e, lines)])
    return _gateway_disagrees(probe, facts, e, lines, "denied a call its policies permit", keep)


def _explain_hidden(probe: Probe, outcome: Outcome, facts: PolicyFacts, principal: Principal | None,
                    why_unknown: str | None, keep: str) -> PolicyFindings:
    from probe.cedar.explain import explain_listing

    if facts.tools is None:
        return PolicyFindings([_unread(facts, "the gateway's tools could not be read", keep)])
    names = [t.name for t in facts.tools]
    if outcome is Outcome.TOOL_MISSING:
        assert probe.call is not None
        if probe.call.tool not in names:
            return PolicyFindings()  # no target has it: a name mistake, which the step's hint covers
        names = [probe.call.tool]
    if not names:
        return PolicyFindings()
    answers = [explain_listing(facts.policies or [], facts.gateway_arn or "", n, principal) for n in names]
    unknown = [e for e in answers if e.kind == "cannot_tell"]
    if unknown:
        e = unknown[0]
        lines = _lines(e)
        if why_unknown and "principal" in e.summary:
            lines.append(why_unknown[0].upper() + why_unknown[1:] + ".")
        lines.append(f"So whether the policies hide {'these tools' if len(names) > 1 else names[0]} is not known; "
                     f"{keep}.")
        return PolicyFindings([_explained(e, lines)])
    listable = [e for e in answers if e.kind == "listable"]
    if not listable:
        e = answers[0]
        head = (f"The policies hide {names[0]} from this caller: {e.summary}." if len(names) == 1 else
                f"The policies hide all {len(names)} tools from this caller.")
        lines = [head] + [f"  {x.tool}: {x.summary}" for x in answers[:_SHOWN_TOOLS]]
        if len(answers) > _SHOWN_TOOLS:
            lines.append(f"  ... and {len(answers) - _SHOWN_TOOLS} more")
        return PolicyFindings([Diagnosis(KIND, head, tuple(lines), {"explanations": [x.to_dict() for x in answers]})])
    e = listable[0]
    shown = ", ".join(x.tool for x in listable[:_SHOWN_TOOLS]) + (
        f" and {len(listable) - _SHOWN_TOOLS} more" if len(listable) > _SHOWN_TOOLS else "")
    lines = [f"The policies would show {shown} to this caller (some permit could apply with the input unknown), "
             "yet the gateway hid it: the hiding is not the policies'.", *_lines(e)[1:]]
    found = _gateway_disagrees(probe, facts, e, lines, "hid a tool its policies allow", keep)
    found.tools_permitted = True
    return found


def _gateway_disagrees(probe: Probe, facts: PolicyFacts, e: Explanation, lines: list[str], what: str,
                       keep: str) -> PolicyFindings:
    """The policies allow what the gateway refused: the IAM check decides between the second form and a mismatch."""
    from probe.diagnose import iam_diagnosis

    target = probe.target
    assert target.gateway_id and target.region
    iam = iam_diagnosis(target.gateway_id, target.region, target.profile)
    check = iam.data or {}
    missing = [m for m in check.get("missing") or [] if m.get("action") in EVALUATION_ACTIONS]
    data = e.to_dict()
    if missing:
        actions = ", ".join(dict.fromkeys(str(m.get("action", "")).split(":")[-1] for m in missing))
        lines += [
            f"This is the second form of the policy-permissions fault: the gateway's role lacks {len(missing)} "
            f"permission(s) policy evaluation needs ({actions}: the IAM check lists each pair), and AgentCore then "
            "denies every call by default even when a permit matches.",
            f"Fix the role as for InternalServerException: agentcore-probe iam fix --gateway-id {target.gateway_id} "
            f"--region {target.region} --apply",
        ]
        summary = f"the gateway {what}: the role lacks the policy-evaluation permissions (second form of the fault)"
        data["second_form"] = True
        return PolicyFindings([Diagnosis(KIND, summary, tuple(lines), data), iam], Outcome.POLICY_INTERNAL_FAILURE)
    data["second_form"] = False
    if check.get("verdict") == "ok":
        request = json.dumps(e.request or {"principal": e.principal, "tool": e.tool}, sort_keys=True)
        lines += [f"The gateway {what}, and its role holds every permission policy evaluation needs: the gateway "
                  f"and its policies disagree. Open a support case with this request, as the probe built it: "
                  f"{request}", f"The IAM check found the role complete; {keep}."]
        summary = f"the gateway {what}, and its role is fine: the gateway and its policies disagree"
    else:
        lines.append(f"The gateway {what}; the IAM check could not tell whether the role is the cause "
                     f"({check.get('verdict') or 'unknown'}); {keep}.")
        summary = f"the gateway {what}; the IAM check is inconclusive"
    return PolicyFindings([Diagnosis(KIND, summary, tuple(lines), data), iam])


def _lines(e: Explanation) -> list[str]:
    """The explanation's lines, with each deciding forbid's text (one line: the report is line-based)."""
    out = [f"  ({line[8:]})" if line.startswith("  note: ") else line for line in e.lines()]
    out[0] = "Policies: " + out[0]
    if e.kind == "forbid":
        out += [f"  {p.label}: {' '.join(p.statement.split())}" for p in e.policies]
    return out


def _explained(e: Explanation, lines: Sequence[str]) -> Diagnosis:
    return Diagnosis(KIND, e.summary, tuple(lines), e.to_dict())


def _note(summary: str, line: str) -> Diagnosis:
    return Diagnosis(KIND, summary, (line[0].upper() + line[1:],), None)


def _unread(facts: PolicyFacts, summary: str, keep: str) -> Diagnosis:
    errors = "; ".join(facts.errors) or "no detail"
    return Diagnosis(KIND, summary, (f"The policies could not be explained: {summary} ({errors}); {keep}.",),
                     {"errors": list(facts.errors)})
