"""`agentcore-probe lab`'s printout: every suggested command runs as printed and shows what it says.

Both shipped seeds are seeded into one lab; each printed `run` line is parsed as a
shell would and run through the probe's own `run` path, and its outcome must be the one
the line's comment predicts. The predictions come from the lab's Cedar model and role
check; the outcomes from the probe against the running lab: two independent paths.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from probe.cli import build_parser
from probe.cli.lab import describe
from probe.cli.run import probe_from_args
from probe.demo import probe_run
from probe.lab.server import SEEDS_DIR

SECRET = "printout-test-client-secret"


@pytest.fixture(scope="module")
def printout(lab: Any) -> dict[str, list[tuple[list[str], str]]]:
    """Gateway name -> [(argv after `agentcore-probe`, comment)] from the printout of both seeds."""
    seeded = [lab.seed(SEEDS_DIR / name, environ={"LAB_OAUTH_CLIENT_SECRET": SECRET})
              for name in ("default.yaml", "faults.yaml")]
    text = "\n".join(describe(lab, s, "seed", None) for s in seeded)
    assert SECRET not in text
    out: dict[str, list[tuple[list[str], str]]] = {}
    gateway = ""
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and "(" in line and ";" in line:
            gateway = line.split()[0]
        elif line.strip().startswith("agentcore-probe "):
            command, _, comment = line.strip().partition("   # ")
            out.setdefault(gateway, []).append((shlex.split(command)[1:], comment))
    return out


def expected(comment: str) -> str:
    return comment.split(":", 1)[0]


def test_every_gateway_gets_a_call_that_shows_its_feature(printout: dict[str, list[tuple[list[str], str]]]) -> None:
    calls = {name: [(argv, c) for argv, c in lines if "--call" in argv] for name, lines in printout.items()}
    assert set(printout) == {"walkthrough", "incident", "logonly", "open", "throttled", "slow", "broken-target",
                             "broken-target-debug", "guarded"}
    assert [expected(c) for _, c in calls["walkthrough"]] == ["ok", "policy_denied"]
    # guarded's target is a Lambda function its console-made role may not invoke: permitted calls fail there
    assert [expected(c) for _, c in calls["guarded"]] == ["tool_error", "policy_denied"]
    assert "lambda:InvokeFunction" in calls["guarded"][0][1]
    assert "forbidden by no_big_refunds" in calls["guarded"][1][1]
    assert [expected(c) for _, c in calls["broken-target"]] == ["tool_error"]
    assert calls["broken-target"][0][0][calls["broken-target"][0][0].index("--call") + 1] == \
        "WeatherTarget___get_forecast"
    assert "LOG_ONLY lets it through" in calls["logonly"][1][1]
    assert all(expected(c) == "policy_internal_failure" for _, c in calls["incident"])
    assert calls["throttled"] == [] and expected(printout["throttled"][0][1]) == "throttled"
    for name, lines in printout.items():
        iam_checks = [argv for argv, _ in lines if argv[:2] == ["iam", "check"]]
        assert len(iam_checks) == (name in {"walkthrough", "incident", "logonly", "guarded"}), name
        for argv, _ in lines:
            assert argv[argv.index("--region") + 1] == "us-east-1" and "--gateway-id" in argv


def test_printed_runs_show_the_outcome_they_predict(
    printout: dict[str, list[tuple[list[str], str]]], lab_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAB_OAUTH_CLIENT_SECRET", SECRET)
    checked = 0
    for name, lines in printout.items():
        if name == "slow":  # 1.5 s an answer: the same code path as "open", only later
            continue
        for argv, comment in lines:
            if argv[0] != "run":
                continue
            if name == "throttled":
                argv = [*argv, "--retries", "0"]
            result = probe_run(probe_from_args(build_parser().parse_args(argv)))
            assert result.outcome.value == expected(comment), (name, argv, comment)
            if " in 2 pages " in comment:
                listing = next(s for s in result.steps if s.method == "tools/list")
                assert listing.data["pages"] == 2, (name, comment)
            checked += 1
    assert checked == 19  # 3 + 3 + 3 + 2 (incident seed) + 1 + 2 + 2 + 3 (faults, without "slow")
