"""Keep the caller's AWS setup out of the lab: its sessions, and its process environment.

`boto3.Session(aws_access_key_id=...)` still reads AWS_PROFILE, AWS_CONFIG_FILE and the
shared files, so a caller's `AWS_PROFILE=nope` (or a broken ~/.aws/config) would break
the lab with ProfileNotFound. The lab's own clients therefore use sessions that read no
environment variable and no file. moto, though, runs in the lab's process and makes its
own botocore sessions from `os.environ` (answering an IAM error reads the service list
through one), so the entry points that start a lab (`agentcore-probe lab`, the demo)
also remove the caller's profile and credential selection from the environment while
the lab runs: `lab_process_environment`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

# What selects or supplies the caller's AWS identity or configuration.
CALLER_VARIABLES: tuple[str, ...] = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_ENDPOINT_URL",
)  # fmt: skip
# While a lab runs: no config or credentials file, no instance-metadata lookups.
ISOLATED: Mapping[str, str] = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def isolated_botocore_session() -> Any:
    """A botocore Session that reads no environment variable and no config or credentials file."""
    import botocore.session

    isolated = {name: (config, None, default, convert)
                for name, (config, _env, default, convert) in botocore.session.Session.SESSION_VARIABLES.items()}
    isolated["config_file"] = (None, None, os.devnull, None)
    isolated["credentials_file"] = (None, None, os.devnull, None)
    return botocore.session.Session(session_vars=isolated)


def isolated_boto3_session(access_key_id: str, secret_access_key: str, region: str) -> Any:
    """A boto3 Session with exactly these (placeholder) credentials and region, and nothing else."""
    import boto3

    return boto3.Session(botocore_session=isolated_botocore_session(), aws_access_key_id=access_key_id,
                         aws_secret_access_key=secret_access_key, region_name=region)


@contextlib.contextmanager
def lab_process_environment() -> Iterator[Callable[[Mapping[str, str]], None]]:
    """Within: the caller's AWS selection is gone from `os.environ` and files are not read.

    Yields `put(env)`, which sets more variables (a running lab's `env()`); everything is
    restored on exit.
    """
    saved: dict[str, str | None] = {}

    def put(env: Mapping[str, str | None]) -> None:
        for name, value in env.items():
            saved.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    try:
        put(dict.fromkeys(CALLER_VARIABLES))
        put(ISOLATED)
        yield put
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
