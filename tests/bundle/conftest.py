"""Bundle tests: every AWS read goes to the lab (or nowhere), never to a real endpoint."""

from __future__ import annotations

import pytest


@pytest.fixture
def aws_to_lab(lab, lab_env, monkeypatch) -> dict[str, str]:
    """The lab's control plane and IAM, and its moto server for CloudWatch Logs and CloudWatch."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", lab.iam_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", lab.iam_url)
    return lab_env


@pytest.fixture
def aws_nowhere(monkeypatch) -> None:
    """Every AWS endpoint a bundle could read points at a closed port: nothing leaves the machine."""
    for name in ("BEDROCK_AGENTCORE_CONTROL", "IAM", "STS", "CLOUDWATCH_LOGS", "CLOUDWATCH"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{name}", "http://127.0.0.1:9/")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
