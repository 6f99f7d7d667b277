"""`agentcore-probe iam check|fix`: from parsed arguments to output and an exit code.

Only wiring lives here; the findings come from probe.iam.check and probe.iam.fix and the
words from probe.report.iam_text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from probe.iam.gateway import parse_gateway_url

EXIT_USAGE = 2
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")


class UsageError(Exception):
    """Bad arguments; the message is the one line the operator sees."""


def resolve_target(ns: argparse.Namespace) -> tuple[str, str]:
    """Gateway id and region from the flags, falling back to those read from the URL."""
    url = getattr(ns, "url", None)
    parsed = parse_gateway_url(url) if url else None
    if url and parsed is None and not (getattr(ns, "gateway_id", None) and getattr(ns, "region", None)):
        raise UsageError(
            f"cannot read a gateway id and region from {url!r} (expected "
            "https://ID.gateway.bedrock-agentcore.REGION.amazonaws.com/mcp); pass --gateway-id and --region"
        )
    gateway_id = getattr(ns, "gateway_id", None) or (parsed[0] if parsed else None)
    region = getattr(ns, "region", None) or (parsed[1] if parsed else None)
    if not gateway_id or not region:
        raise UsageError("name the gateway: a gateway URL, or --gateway-id and --region")
    gateway_id = gateway_id.strip()
    if not gateway_id or any(c.isspace() for c in gateway_id):
        raise UsageError(f"--gateway-id {gateway_id!r} is not a gateway id")
    if not _REGION.match(region):
        raise UsageError(f"--region {region!r} is not an AWS region name (like us-east-1)")
    return gateway_id, region


def check_main(ns: argparse.Namespace) -> int:
    from probe.iam.check import check_gateway
    from probe.report.iam_text import render_iam_check

    try:
        gateway_id, region = resolve_target(ns)
    except UsageError as exc:
        return _usage(exc)
    check = check_gateway(gateway_id=gateway_id, region=region, profile=getattr(ns, "profile", None))
    _emit(ns, check.to_dict(), render_iam_check)
    return check.exit_code


def fix_main(ns: argparse.Namespace) -> int:
    from probe.iam.fix import fix_gateway
    from probe.report.iam_text import render_iam_fix

    try:
        gateway_id, region = resolve_target(ns)
    except UsageError as exc:
        return _usage(exc)
    fix = fix_gateway(
        gateway_id=gateway_id,
        region=region,
        apply=bool(getattr(ns, "apply", False)),
        profile=getattr(ns, "profile", None),
    )
    _emit(ns, fix.to_dict(), render_iam_fix)
    return fix.exit_code


def _emit(ns: argparse.Namespace, data: dict[str, Any], render: Any) -> None:
    if getattr(ns, "format", "text") == "json":
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    color = (
        not getattr(ns, "no_color", False)
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM") != "dumb"
        and sys.stdout.isatty()
    )
    sys.stdout.write(render(data, color=color))


def _usage(exc: UsageError) -> int:
    sys.stderr.write(f"agentcore-probe: error: {exc}\n")
    return EXIT_USAGE
