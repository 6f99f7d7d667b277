"""Re-judge a saved result with today's classifier: pure, no network, no AWS.

A report written with `-v --format json` (or a support bundle) holds every exchange as
recorded. Classifying them again shows what the probe would decide now, so a support
engineer sees what the sender saw, and a classifier change is visible on old evidence.
Steps that are not MCP exchanges (the OAuth token, a configuration error, a tool missing
from the list) and the diagnoses (they came from AWS) are kept as saved.
"""

from __future__ import annotations

import dataclasses

from probe.classify import classify, visible_tools
from probe.outcome import Detail, Judgement, Outcome, RunResult, Step, first_failure

KEPT_RULES = frozenset({"paging", "initialize_version", "run_cut"})


def rejudge_step(step: Step) -> Judgement | None:
    """Today's verdict on one saved step, or None when the step cannot be re-judged from its exchanges."""
    requests = [e for e in step.exchanges if e.rpc_method is not None]
    if not requests or step.detail.rule in KEPT_RULES:
        return None
    if step.method == "tools/list":
        for ex in requests:
            j = classify("tools/list", ex)
            if j.outcome is not Outcome.OK:
                return j
        names = [str(t) for t in step.data.get("tools") or []]
        if not visible_tools(names):
            return Judgement(Outcome.EMPTY_TOOLS, dataclasses.replace(step.detail), step.hint)
        return classify("tools/list", requests[-1])
    if step.method == "initialize":
        calls = [e for e in requests if e.rpc_id is not None]
        notes = [e for e in requests if e.rpc_id is None]
        j = classify("initialize", calls[-1]) if calls else None
        if j is not None and j.outcome is Outcome.OK and notes:
            return classify(notes[-1].rpc_method or "notifications/initialized", notes[-1])
        return j
    return classify(step.method, requests[-1])


def rejudge_result(saved: RunResult) -> tuple[RunResult, list[str]]:
    """The result with every step judged again, and one line per step whose verdict changed."""
    steps: list[Step] = []
    changes: list[str] = []
    for i, step in enumerate(saved.steps):
        j = rejudge_step(step)
        if j is None:
            steps.append(step)
            continue
        if j.outcome is step.outcome:
            steps.append(step)
            continue
        changes.append(f"step {i + 1} ({step.method}): saved as {step.outcome.value}, today's rules say "
                       f"{j.outcome.value}" + (f" ({j.detail.message})" if j.detail.message else ""))
        steps.append(dataclasses.replace(step, outcome=j.outcome, detail=j.detail or Detail(), hint=j.hint))
    outcome = first_failure(steps)
    if changes and outcome is not saved.outcome:
        changes.append(f"the run's outcome: saved as {saved.outcome.value}, today {outcome.value}")
    if not changes:
        return saved, []
    # The saved outcome may have been corrected by a diagnosis (e.g. the second form of the IAM fault):
    # a run whose wire verdicts did not change keeps it.
    return dataclasses.replace(saved, steps=steps, outcome=outcome), changes
