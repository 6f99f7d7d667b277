"""After classification, ask why: typed `Diagnosis` entries chosen by outcome.

The wire says *what* happened; some outcomes can only be explained by the control plane:

- `policy_internal_failure`: the IAM check of the gateway's execution role (the point of
  the tool), with the missing (action, resource) pairs and the least-privilege fix;
- `empty_tools`: the policy engine's state (ENFORCE with no ACTIVE policy is default deny,
  LOG_ONLY enforces nothing);
- `policy_denied`, `empty_tools`, `tool_missing` on a gateway with a policy engine: the
  policy explanation (`probe.diagnose_policy`): which policy decided, or that the policies
  permit what the gateway refused; with the role lacking the policy-evaluation pairs that
  is the second form of the IAM fault, and the outcome becomes `policy_internal_failure`.

Each diagnosis is data on the result; nothing here prints. AWS reads are blocking boto3
calls, run in a worker thread so that the event loop (and other probes) go on.
Diagnoses may also change the outcome when the evidence says the wire's word was wrong
(the policy explainer's second form of the IAM fault plugs in here).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from probe.diagnose_policy import Caller, policy_findings
from probe.outcome import DIAGNOSED, Diagnosis, Outcome, RunResult
from probe.spec import Probe

T = TypeVar("T")

def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
    """Run blocking AWS reads in a daemon thread: a cut run (--max-run-time, Ctrl-C) returns at once.

    asyncio's own executor would be joined when the event loop closes, so a stalled endpoint
    would hold the process until botocore's timeouts; a daemon thread is simply left behind.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        try:
            value, error = fn(*args, **kwargs), None
        except BaseException as exc:  # handed to the awaiting task, which decides
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=work, name="agentcore-probe-diagnose", daemon=True).start()
    return future


__all__ = ["DIAGNOSED", "Caller", "Findings", "diagnose", "engine_state", "iam_diagnosis"]


@dataclass
class Findings:
    """What the stage concluded: diagnoses to add and, rarely, a corrected outcome."""

    diagnoses: list[Diagnosis] = field(default_factory=list)
    outcome: Outcome | None = None


async def diagnose(probe: Probe, result: RunResult, caller: Caller | None = None) -> Findings:
    """Diagnoses for `result`; never raises for AWS trouble (a refused read is itself a finding).

    `caller` says who the probe was to the gateway (auth mode, the token's claims): the
    policy explanation rebuilds the Cedar principal from it.
    """
    if not probe.diagnose or result.outcome not in DIAGNOSED:
        return Findings()
    target = probe.target
    if not target.gateway_id or not target.region:
        if result.outcome is Outcome.POLICY_INTERNAL_FAILURE:
            return Findings([Diagnosis("target_unknown", "the gateway is not known, so its role was not checked", (
                "The gateway is not known, so its role was not checked: pass --gateway-id and --region "
                "(or use the gateway's own URL), or run `agentcore-probe iam check --gateway-id ID --region R`.",))])
        return Findings()
    if result.outcome is Outcome.POLICY_INTERNAL_FAILURE:
        return Findings([await in_thread(iam_diagnosis, target.gateway_id, target.region, target.profile)])
    explained = await in_thread(policy_findings, probe, result.outcome, caller, result.tools_partial)
    found = Findings(list(explained.diagnoses), explained.outcome)
    if result.outcome is Outcome.EMPTY_TOOLS:
        state = await in_thread(engine_state, target.gateway_id, target.region, target.profile,
                                        tools_permitted=explained.tools_permitted)
        found.diagnoses.insert(0, state)
    return found


def iam_diagnosis(gateway_id: str, region: str, profile: str | None) -> Diagnosis:
    from probe.iam.check import check_gateway

    check = check_gateway(gateway_id=gateway_id, region=region, profile=profile).to_dict()
    missing = check.get("missing") or []
    summary = f"IAM check ({check.get('method')}): {check.get('verdict')}"
    if missing:
        summary += f", {len(missing)} missing permissions"
    return Diagnosis("iam_check", summary, (), check)


def engine_state(gateway_id: str, region: str, profile: str | None, *, tools_permitted: bool = False) -> Diagnosis:
    from probe.iam.check import policy_mode_notes
    from probe.iam.gateway import describe_gateway

    facts = describe_gateway(gateway_id=gateway_id, region=region, profile=profile)
    lines = [note[0].upper() + note[1:] + "." for note in policy_mode_notes(facts)]
    if facts.policy_engine_mode == "ENFORCE" and facts.policies_active and not tools_permitted:
        lines.append(f"The policy engine is in ENFORCE with {facts.policies_active} active policies; "
                     "none could permit any tool for this caller.")
    lines += [f"Could not read: {err}" for err in facts.read_errors]
    mode = facts.policy_engine_mode or ("none" if facts.gateway_arn else "unknown")
    return Diagnosis("engine_state", f"policy engine mode {mode}", tuple(lines), {
        "policy_engine_arn": facts.policy_engine_arn, "policy_engine_mode": facts.policy_engine_mode,
        "policies_active": facts.policies_active, "read_errors": list(facts.read_errors)})
