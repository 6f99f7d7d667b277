"""`agentcore-probe iam check|fix`: from parsed arguments to output and an exit code.

Only wiring lives here; the findings come from probe.iam.check and probe.iam.fix and the
words from probe.report.iam_text. Before any AWS call the AWS setup is checked (profile,
region, credentials): a newcomer without one gets one line naming what is missing and
exit 2, not a report full of placeholders.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from probe.spec import REGION_PATTERN, parse_gateway_url

if TYPE_CHECKING:
    import boto3

EXIT_USAGE = 2
_SYNTAX_ONLY = "us-east-1"  # stands in for a region not yet known while the arguments alone are checked


class UsageError(Exception):
    """Bad arguments; the message is the one line the operator sees."""


def resolve_target(ns: argparse.Namespace, default_region: str | None = None) -> tuple[str, str]:
    """Gateway id and region from the flags, falling back to those read from the URL, then
    (for the region) to `default_region`, the AWS configuration's (see `aws_setup`)."""
    url = getattr(ns, "url", None)
    parsed = parse_gateway_url(url) if url else None
    if url and parsed is None and not getattr(ns, "gateway_id", None):
        raise UsageError(
            f"cannot read a gateway id and region from {url!r} (expected "
            "https://ID.gateway.bedrock-agentcore.REGION.amazonaws.com/mcp); pass --gateway-id and --region"
        )
    gateway_id = getattr(ns, "gateway_id", None) or (parsed[0] if parsed else None)
    if not gateway_id:
        raise UsageError("name the gateway: a gateway URL, or --gateway-id (and --region)")
    flag_region = getattr(ns, "region", None)
    region = flag_region or (parsed[1] if parsed else None) or default_region
    gateway_id = gateway_id.strip()
    if not gateway_id or any(c.isspace() for c in gateway_id):
        raise UsageError(f"--gateway-id {gateway_id!r} is not a gateway id")
    if not region:
        raise UsageError(
            "no AWS region: pass --region (or a gateway URL), or set AWS_REGION or AWS_DEFAULT_REGION, "
            "or a region in the AWS profile"
        )
    if not REGION_PATTERN.match(region):
        where = "--region" if flag_region else "the region"
        raise UsageError(f"{where} {region!r} is not an AWS region name (like us-east-1)")
    return gateway_id, region


def aws_setup(profile: str | None) -> tuple[boto3.Session, str | None]:
    """A session for `profile` and the region the AWS CLI would use, or UsageError naming what is missing.

    The region follows the AWS CLI: AWS_REGION, then AWS_DEFAULT_REGION, then the profile's
    `region` (botocore itself does not read AWS_REGION). Credentials are resolved here, once,
    so that "no credentials" is one line before any call instead of a report of failures.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound:
        raise UsageError(
            f"AWS profile {profile!r} not found in the AWS config or credentials files; "
            "check --profile (or AWS_PROFILE)"
        ) from None
    except BotoCoreError as exc:
        raise UsageError(f"cannot use the AWS configuration: {_one_line(exc)}") from None
    region = os.environ.get("AWS_REGION") or session.region_name
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:  # e.g. an expired SSO token, a failing credential_process
        raise UsageError(f"cannot load AWS credentials: {_one_line(exc)}") from None
    if credentials is None:
        which = f"profile {profile!r}" if profile else "the default credential chain"
        raise UsageError(
            f"no AWS credentials found ({which}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or use --profile with a configured profile (aws configure / aws sso login)"
        )
    return session, region


def _one_line(exc: BaseException) -> str:
    from probe.iam.gateway import describe_error

    return describe_error(type(exc).__name__, exc).split(": ", 2)[-1]


def _prepare(ns: argparse.Namespace) -> tuple[str, str, boto3.Session]:
    """Gateway id, region and session; UsageError (exit 2) when any is missing.

    The target is checked first (a malformed argument is a usage error whatever the AWS
    setup), then the profile and credentials, then the region they may supply.
    """
    resolve_target(ns, default_region=_SYNTAX_ONLY)  # the arguments' own errors first, whatever the AWS setup
    session, default_region = aws_setup(getattr(ns, "profile", None))
    gateway_id, region = resolve_target(ns, default_region)
    return gateway_id, region, session


def check_main(ns: argparse.Namespace) -> int:
    from probe.iam.check import check_gateway
    from probe.report.iam_text import render_iam_check

    if getattr(ns, "all", False) or getattr(ns, "regions", None):
        from probe.cli.iam_all import check_all_main

        return check_all_main(ns)
    try:
        gateway_id, region, session = _prepare(ns)
    except UsageError as exc:
        return _usage(exc)
    check = check_gateway(gateway_id=gateway_id, region=region, profile=getattr(ns, "profile", None), session=session)
    _emit(ns, check.to_dict(), render_iam_check)
    return check.exit_code


def fix_main(ns: argparse.Namespace) -> int:
    from probe.iam.fix import fix_gateway
    from probe.report.iam_text import render_iam_fix

    try:
        gateway_id, region, session = _prepare(ns)
    except UsageError as exc:
        return _usage(exc)
    fix = fix_gateway(
        gateway_id=gateway_id,
        region=region,
        apply=bool(getattr(ns, "apply", False)),
        profile=getattr(ns, "profile", None),
        session=session,
    )
    _emit(ns, fix.to_dict(), render_iam_fix)
    return fix.exit_code


def _emit(ns: argparse.Namespace, data: dict[str, Any], render: Any) -> None:
    if getattr(ns, "format", "text") == "json":
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    from probe.report.style import use_color

    sys.stdout.write(render(data, color=use_color(sys.stdout, no_color=getattr(ns, "no_color", False))))


def _usage(exc: UsageError) -> int:
    sys.stderr.write(f"agentcore-probe: error: {exc}\n")
    return EXIT_USAGE
