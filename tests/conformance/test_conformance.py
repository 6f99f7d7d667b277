"""The official MCP conformance suite's client scenarios, with the probe as the client.

Each test runs one scenario of `@modelcontextprotocol/conformance` (pinned in package.json):
the suite starts its test server, runs tests/conformance/client.py (hence `python -m probe
run`) against it, and judges what it saw on the wire. A test passes when the suite's own
verdict is a pass (exit 0: no FAILURE, no WARNING, the client exited 0) and the checks that
prove the scenario was really exercised are there and SUCCESS (the suite passes a scenario
with no checks at all, e.g. when the client never connected).

Scenarios the probe does not take part in, and why, are listed in the README
("Protocol conformance").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conformance.suite import Conformance, ScenarioRun

CLIENT_SECRET = "conformance-test-secret"  # the suite's fixed client secret (MCP_CONFORMANCE_CONTEXT)

# scenario -> the check ids that must be present and SUCCESS
REQUIRED = {
    "initialize": ["mcp-client-initialization"],
    "tools_call": ["tool-add-numbers"],
    "sse-retry": ["client-sse-graceful-reconnect", "client-sse-retry-timing", "client-sse-last-event-id"],
    "auth/client-credentials-basic": ["client-credentials-basic-auth", "valid-bearer-token"],
}


def _assert_passed(run: ScenarioRun, masked: tuple[str, ...] = ()) -> None:
    explain = run.explain(masked)
    for check_id in REQUIRED[run.scenario]:
        statuses = run.status_of(check_id)
        assert statuses and all(s == "SUCCESS" for s in statuses), f"{check_id}: {statuses}\n{explain}"
    assert run.failing() == [], explain
    assert run.exit_code == 0, explain


@pytest.mark.parametrize("scenario", ["initialize", "tools_call", "sse-retry"])
def test_client_scenario(conformance: Conformance, tmp_path: Path, scenario: str) -> None:
    _assert_passed(conformance.run_client_scenario(scenario, tmp_path))


def test_client_credentials_basic(conformance: Conformance, tmp_path: Path) -> None:
    """Client credentials with only the id and secret given: discovery, client_secret_basic, bearer."""
    run = conformance.run_client_scenario("auth/client-credentials-basic", tmp_path)
    _assert_passed(run, masked=(CLIENT_SECRET,))
    issued = set(re.findall(r"cc-token-\d+", str(run.checks)))
    assert issued, run.explain((CLIENT_SECRET,))
    printed = run.client_stdout + run.client_stderr
    assert CLIENT_SECRET not in printed
    assert not [token for token in issued if token in printed], "the issued access token was printed"
