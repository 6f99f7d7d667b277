"""Gateway id and region from a gateway's own MCP URL: the operator should not type them twice.

Kept dependency-free (no boto3) because `run` calls it on every start.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_HOST = re.compile(r"^(?P<id>[a-z0-9][a-z0-9-]*)\.gateway\.bedrock-agentcore\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\."
                   r"amazonaws\.com(?:\.cn)?$")


def parse_gateway_url(url: str) -> tuple[str, str] | None:
    """`https://{gatewayId}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp` -> (id, region)."""
    host = (urlsplit(url).hostname or "").lower()
    m = _HOST.match(host)
    return (m.group("id"), m.group("region")) if m else None
