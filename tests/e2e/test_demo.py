"""The demo is the README's first command: it must pass, and read as a story, on every CI run."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ProfileNotFound

from probe.demo import Teller, run_demo
from probe.lab.server import Lab, LabError


def test_demo_tells_the_incident_and_passes() -> None:
    # AWS_PROFILE naming no profile: the demo must not depend on the caller's AWS setup at all.
    env = {**os.environ, "NO_COLOR": "1", "AWS_PROFILE": "nope"}
    proc = subprocess.run([sys.executable, "-m", "probe", "demo"], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in out + proc.stderr
    # every chapter, in order, with the outcome the story needs
    expected = [("1. A gateway without a policy engine works", "=> ok"),
                ("2. A policy engine is attached from the Policy side", "=> policy_internal_failure"),
                ("3. iam fix --apply", "=> empty_tools"),
                ("4. A permit policy", "=> ok"),
                ("5. A call outside the policy is denied", "=> policy_denied"),
                ("6. LOG_ONLY mode", "=> ok")]
    pos = 0
    for title, verdict in expected:
        pos = out.index(title, pos)
        pos = out.index(verdict, pos)
    # the IAM check names the three missing permissions on the exact ARNs
    for action in ("AuthorizeAction", "PartiallyAuthorizeActions", "GetPolicyEngine"):
        assert f"missing bedrock-agentcore:{action} on arn:aws:bedrock-agentcore:us-east-1:123456789012:" in out
    assert out.count("missing bedrock-agentcore:") == 5
    assert "demo passed: 6 chapters" in out
    assert "\033[" not in out  # no colour when not on a terminal


@pytest.mark.parametrize("failure", [LabError("cannot listen on 127.0.0.1:4000: Address already in use"),
                                     ProfileNotFound(profile="nope")])
def test_a_lab_that_cannot_start_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             failure: Exception) -> None:
    def start(self: Lab) -> Lab:
        raise failure

    monkeypatch.setattr(Lab, "start", start)
    monkeypatch.setenv("AWS_PROFILE", "callers-own")
    out = io.StringIO()
    assert run_demo(Teller(False, out)) == 2
    err = capsys.readouterr().err
    assert err == f"agentcore-probe: error: the lab could not start: {failure}\n"
    assert "Traceback" not in out.getvalue()
    assert os.environ["AWS_PROFILE"] == "callers-own"  # what the demo set aside while the lab ran came back
