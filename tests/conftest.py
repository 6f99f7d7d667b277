"""Shared fixtures: no test reaches AWS, and end-to-end tests get a running lab.

- Every test runs with placeholder AWS credentials, no profile, no shared config files and
  no instance-metadata lookups, so a forgotten endpoint fails to authenticate instead of
  reaching an account (and never waits on IMDS).
- `lab` is one running lab per test module (its own LabState; moto's process-wide IAM is
  emptied before it starts), so modules cannot see each other's gateways or roles.
- `lab_env` points boto3, the AWS CLI and the probe at that lab for one test.

Do not combine `lab` with `moto.mock_aws()`: mock_aws resets the same moto backends and
intercepts every botocore request, the lab's control plane included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from probe.lab.server import Lab

_PLACEHOLDER_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
          "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name in _UNSET:
            mp.delenv(name, raising=False)
        for name, value in _PLACEHOLDER_ENV.items():
            mp.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """A running `probe.lab.server.Lab` for this module; empty (seed it with `lab.console` or `lab.seed`)."""
    from probe.lab.iam import reset_iam
    from probe.lab.server import Lab

    reset_iam()
    running = Lab().start()
    try:
        yield running
    finally:
        running.stop()
        reset_iam()


@pytest.fixture
def lab_env(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Set the lab's environment (endpoints, placeholder credentials, region) for one test."""
    env = lab.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
