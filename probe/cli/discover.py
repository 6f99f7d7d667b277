"""`agentcore-probe discover --regions R1,R2|all [--output FILE] [--format text|json]`.

Lists every gateway of the account in the regions (probe.discover), prints a table (or
JSON) on stdout and, with --output, writes a scenario file that monitors them. A region
the caller cannot read is one line on stderr and a `skipped` row: never fatal.
Exit codes: 0 at least one region was read; 2 a usage error (bad region, no credentials,
`all` with no region list) or no region could be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from probe.cli.iam import UsageError, aws_setup
from probe.spec import REGION_PATTERN

if TYPE_CHECKING:
    import boto3

    from probe.discover import RegionResult

EXIT_OK = 0
EXIT_USAGE = 2


def parse_regions(text: str | None, session: boto3.Session, default: str | None = None) -> list[str]:
    """`us-east-1,us-west-2` or `all` (botocore's list for the control plane); UsageError otherwise."""
    from probe.discover import SERVICE, available_regions

    if not text:
        if default:
            return [default]
        raise UsageError("name the regions: --regions us-east-1,us-west-2 or --regions all")
    if text.strip().lower() == "all":
        found = available_regions(session)
        if not found:
            raise UsageError(
                f"this botocore does not list the regions of {SERVICE} (get_available_regions is empty): "
                "name them with --regions us-east-1,us-west-2"
            )
        return found
    regions: list[str] = []
    for part in text.split(","):
        region = part.strip()
        if not region:
            continue
        if not REGION_PATTERN.match(region):
            raise UsageError(f"--regions: {region!r} is not an AWS region name (like us-east-1)")
        if region not in regions:
            regions.append(region)
    if not regions:
        raise UsageError("--regions names no region")
    return regions


def report_skipped(results: Sequence[RegionResult]) -> None:
    """One stderr line per region that could not be read."""
    for r in results:
        if r.skipped:
            why = "no access" if r.access else "not readable"
            sys.stderr.write(f"agentcore-probe: {r.region}: skipped ({why}): {r.error}\n")
        for note in r.notes:
            sys.stderr.write(f"agentcore-probe: {r.region}: {note}\n")


def main(ns: argparse.Namespace) -> int:
    from probe.discover import discover, scenario_text

    try:
        session, _ = aws_setup(getattr(ns, "profile", None))
        regions = parse_regions(ns.regions, session)
    except UsageError as exc:
        sys.stderr.write(f"agentcore-probe: error: {exc}\n")
        return EXIT_USAGE
    results = discover(regions, session=session)
    report_skipped(results)
    if ns.format == "json":
        data = {"regions": [r.to_dict() for r in results],
                "gateways": sum(len(r.gateways) for r in results),
                "skipped_regions": [r.region for r in results if r.skipped]}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(render_table(results))
    if all(r.skipped for r in results):
        sys.stderr.write("agentcore-probe: error: no region could be read\n")
        return EXIT_USAGE
    if ns.output:
        text = scenario_text(results)
        try:
            with open(ns.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            sys.stderr.write(f"agentcore-probe: error: cannot write {ns.output}: {exc.strerror or exc}\n")
            return EXIT_USAGE
        listed = sum(1 for r in results for g in r.gateways if g.url)
        sys.stderr.write(f"agentcore-probe: wrote {ns.output}: {listed} gateway(s), one listing probe each; "
                         "fill in the auth references, then `agentcore-probe validate --env` it\n")
    return EXIT_OK


def render_table(results: Sequence[RegionResult]) -> str:
    """REGION GATEWAY AUTHORIZER ENGINE MODE STATUS URL, one row per gateway (and per skipped region)."""
    header = ("REGION", "GATEWAY", "AUTHORIZER", "POLICY ENGINE", "MODE", "STATUS", "URL")
    rows: list[tuple[str, ...]] = []
    for r in results:
        if r.skipped:
            rows.append((r.region, "-", "-", "-", "-", "SKIPPED", r.error or ""))
            continue
        for g in r.gateways:
            engine = g.policy_engine_arn.rsplit("/", 1)[-1] if g.policy_engine_arn else "-"
            url = g.url or ("; ".join(g.errors) or "-")
            rows.append((r.region, g.gateway_id, g.authorizer_type or "?", engine,
                         g.policy_engine_mode or "-", g.status or "?", url))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
             for row in [header, *rows]]
    total = sum(len(r.gateways) for r in results)
    read = sum(1 for r in results if not r.skipped)
    lines.append(f"{total} gateway(s) in {read} region(s)"
                 + (f"; {len(results) - read} region(s) skipped" if read < len(results) else ""))
    return "\n".join(lines) + "\n"
