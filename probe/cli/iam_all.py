"""`agentcore-probe iam check --all --regions R1,R2|all`: the IAM check on every gateway with a policy engine.

The account-wide audit finds the incident (an engine attached, the role never granted
policy evaluation) before a user hits it. Gateways are listed with probe.discover, the ones
with a policy engine are checked with probe.iam.check.check_gateway (a few at once: each
check is a handful of blocking AWS calls), and each gets one line: gateway, region, engine
mode, verdict, missing count and the command that fixes it.

Exit code: the worst of the per-gateway codes: 3 when any gateway misses permissions, else
6 (a Lambda target cannot be invoked), else 4 (something could not be decided: a gateway
that could not be read, or a region skipped for lack of access), else 0. 2 for usage.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from probe.cli.iam import EXIT_USAGE, UsageError, aws_setup

if TYPE_CHECKING:
    from probe.discover import GatewayInfo
    from probe.iam.check import IamCheck

EXIT_OK, EXIT_MISSING, EXIT_UNKNOWN, EXIT_LAMBDA = 0, 3, 4, 6
SEVERITY = (EXIT_MISSING, EXIT_LAMBDA, EXIT_UNKNOWN, EXIT_OK)  # worst first
MAX_CHECKS_AT_ONCE = 4


def worst(codes: list[int]) -> int:
    """The most severe code: 3 > 6 > 4 > 0; an unreadable gateway (2 in the single check) counts as 4."""
    normalised = {c if c in SEVERITY else EXIT_UNKNOWN for c in codes}
    return next((c for c in SEVERITY if c in normalised), EXIT_OK)


def check_all_main(ns: argparse.Namespace) -> int:
    from probe.cli.discover import parse_regions, report_skipped
    from probe.discover import discover

    try:
        if not getattr(ns, "all", False):
            raise UsageError("--regions applies to --all (check every gateway); for one gateway use --region")
        if getattr(ns, "url", None) or getattr(ns, "gateway_id", None):
            raise UsageError("--all checks every gateway: do not name one (drop the URL / --gateway-id)")
        if getattr(ns, "region", None):
            raise UsageError("with --all, name the regions with --regions (not --region)")
        session, default_region = aws_setup(getattr(ns, "profile", None))
        regions = parse_regions(getattr(ns, "regions", None), session, default_region)
    except UsageError as exc:
        sys.stderr.write(f"agentcore-probe: error: {exc}\n")
        return EXIT_USAGE

    found = discover(regions, session=session)
    report_skipped(found)
    with_engine = [g for r in found for g in r.gateways if g.policy_engine_arn]
    without = sum(1 for r in found for g in r.gateways if not g.policy_engine_arn)
    profile = getattr(ns, "profile", None)
    with ThreadPoolExecutor(max_workers=MAX_CHECKS_AT_ONCE) as pool:
        checks = list(pool.map(lambda g: _check(g, profile), with_engine))
    skipped = [r.region for r in found if r.skipped]
    code = worst([c.exit_code for c in checks] + ([EXIT_UNKNOWN] if skipped else []))
    if getattr(ns, "format", "text") == "json":
        data = {
            "exit_code": code,
            "regions": regions,
            "skipped_regions": [{"region": r.region, "error": r.error} for r in found if r.skipped],
            "without_policy_engine": without,
            "gateways": [_summary(c) | {"check": c.to_dict()} for c in checks],
        }
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return code
    for c in checks:
        sys.stdout.write(line_for(c) + "\n")
    tail = f"{len(checks)} gateway(s) with a policy engine checked"
    if without:
        tail += f"; {without} without one (nothing to check)"
    if skipped:
        tail += f"; region(s) skipped: {', '.join(skipped)}"
    sys.stdout.write(tail + "\n")
    return code


def _check(g: GatewayInfo, profile: str | None) -> IamCheck:
    # One session per check: a boto3 Session is not thread-safe (its clients are).
    from probe.iam.check import check_gateway
    from probe.iam.gateway import make_session

    return check_gateway(gateway_id=g.gateway_id, region=g.region, profile=profile, session=make_session(profile))


def fix_command(c: IamCheck) -> str:
    """What to run next: `iam fix --apply` when an inline policy helps, the single check's details otherwise."""
    tail = ["--gateway-id", c.gateway_id, "--region", c.region] + (["--profile", c.profile] if c.profile else [])
    if c.exit_code == EXIT_OK:
        return "-"
    if c.exit_code in (EXIT_MISSING, EXIT_LAMBDA) and c.remediation_policy is not None:
        return shlex.join(["agentcore-probe", "iam", "fix", *tail, "--apply"])
    return shlex.join(["agentcore-probe", "iam", "check", *tail])


def _summary(c: IamCheck) -> dict[str, Any]:
    verdict = "unreadable" if not c.gateway_read else c.verdict
    if c.gateway_read and c.verdict != "missing_permissions" and c.lambda_missing:
        verdict = "lambda_uninvokable"
    return {
        "gateway_id": c.gateway_id,
        "region": c.region,
        "policy_engine_mode": c.policy_engine_mode,
        "verdict": verdict,
        "missing": len(c.missing) + len(c.lambda_missing),
        "exit_code": c.exit_code,
        "fix": fix_command(c),
    }


def line_for(c: IamCheck) -> str:
    """`GATEWAY REGION MODE VERDICT missing=N FIX`: one line, greppable."""
    s = _summary(c)
    return (f"{s['gateway_id']}  {s['region']}  {s['policy_engine_mode'] or '-'}  {s['verdict']}  "
            f"missing={s['missing']}  fix: {s['fix']}")
