"""Judge a probe's expectations against its result: pure, after the run, one `Check` each.

An expectation is the operator's claim about the gateway ("these tools are listed, this
call is denied, nothing got slow"). Checks are kept apart from the outcome: the outcome
says what the gateway did, the checks whether that is what the deploy promised.
"""

from __future__ import annotations

from probe.outcome import Check, RunResult
from probe.spec import Expect


def judge(expect: Expect, result: RunResult) -> list[Check]:
    checks: list[Check] = []
    if expect.outcomes:
        wanted = ", ".join(o.value for o in expect.outcomes)
        met = result.outcome in expect.outcomes
        checks.append(Check("outcome", met, f"expected {wanted}, got {result.outcome.value}"))
    tools = set(result.tools)
    if expect.tools_include:
        absent = [t for t in expect.tools_include if t not in tools]
        checks.append(Check("tools.include", not absent,
                            f"not listed: {', '.join(absent)}" if absent else "every required tool is listed"))
    if expect.tools_exclude:
        present = [t for t in expect.tools_exclude if t in tools]
        checks.append(Check("tools.exclude", not present,
                            f"listed but must not be: {', '.join(present)}" if present
                            else "no excluded tool is listed"))
    if expect.tools_exact is not None:
        want = set(expect.tools_exact)
        added, removed = sorted(tools - want), sorted(want - tools)
        diff = [f"+ {t}" for t in added] + [f"- {t}" for t in removed]
        checks.append(Check("tools.exact", not diff,
                            "the catalogue changed: " + "; ".join(diff) if diff else "the catalogue is unchanged"))
    if expect.result_contains is not None:
        call = next((s for s in result.steps if s.method == "tools/call"), None)
        text = str(call.data.get("result_text", "")) if call else ""
        found = expect.result_contains in text
        checks.append(Check("result_contains", found,
                            f"the call result {'contains' if found else 'does not contain'} "
                            f"{expect.result_contains!r}"))
    for level, bound in (("fail", expect.latency_fail_ms), ("warn", expect.latency_degraded_ms)):
        if bound is not None:
            fast = result.duration_ms <= bound
            checks.append(Check(f"latency.{'fail' if level == 'fail' else 'degraded'}", fast,
                                f"took {result.duration_ms:.0f} ms, {'within' if fast else 'over'} {bound:g} ms",
                                level))
    return checks


def engine_mode_check(expected: str, mode: str | None, errors: list[str] | None = None) -> Check:
    """`policy_engine: {mode: ...}`: the gateway's engine configuration as the control plane reports it.

    `mode` is GetGateway's policyEngineConfiguration.mode (None: no engine attached);
    `errors` the read's failures (then nothing can be said, and the check fails).
    """
    if errors:
        return Check("policy_engine", False, f"cannot read the gateway's policy engine: {errors[0]}")
    got = (mode or "NONE").upper()
    want = expected.upper()
    shown = "no policy engine attached" if got == "NONE" else f"policy engine attached in {got} mode"
    wanted = "none attached" if want == "NONE" else want
    return Check("policy_engine", got == want, f"{shown} (expected {wanted})")
