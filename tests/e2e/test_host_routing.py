"""A gateway's real URL against the lab: routed by Host with --connect-to, id and region read from the URL.

AWS routes by host (`https://{id}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp`) and
the probe reads the gateway id and region from that host; with `--connect-to` the same URL
reaches the lab, so that code path runs end to end, the IAM tie-in included.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from probe.cli import main


def test_real_looking_url_reaches_the_lab_and_the_iam_tie_in(lab, lab_env, capsys) -> None:
    c = lab.console
    engine = c.create_policy_engine("hostrouted")
    gw = c.create_gateway("hostrouted")
    c.attach_engine_from_policy_side(gw.gateway_id, engine.engine_id, "ENFORCE")
    address = urlsplit(lab.gateway_base_url).netloc
    real = f"http://{gw.gateway_id}.gateway.bedrock-agentcore.{lab.region}.amazonaws.com/mcp"

    code = main(["run", real, "--connect-to", address, "--format", "json", "--retries", "0"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["outcome"], report["url"]) == (21, "policy_internal_failure", real)
    # No --gateway-id or --region: both came from the URL's host, and the IAM check used them.
    assert report["iam"]["gateway_id"] == gw.gateway_id and report["iam"]["region"] == lab.region
    assert len(report["iam"]["missing"]) == 5

    # Another region in the host is another gateway: the lab answers 404, the probe says so.
    other = real.replace(lab.region, "eu-west-3")
    code = main(["run", other, "--connect-to", address, "--format", "json", "--retries", "0", "--no-iam"])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["outcome"]) == (61, "protocol_error")
    assert "HTTP 404" in report["steps"][0]["message"]
