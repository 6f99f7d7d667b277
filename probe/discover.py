"""Discovery: every gateway of an account, per region, and a scenario file that monitors them.

`discover(regions, session=...)` reads each region concurrently (boto3 blocks, so one
thread per region): ListGateways page by page, then GetGateway per gateway, because the
list's summaries carry the authorizer type but neither the URL nor the policy engine
(checked against botocore's service model: GatewaySummary has gatewayId, name, status,
description, createdAt, updatedAt, authorizerType, protocolType). A region the caller
cannot read (AccessDenied, unrecognized credentials, no endpoint) becomes a skipped
region with its one-line reason; the other regions go on.

`scenario_text(regions)` is the scenario file (the contract of `probe.scenario`): the
gateways with url/gateway_id/region and auth left as references to fill in, and one
listing probe per gateway expecting `ok` (and the engine's current mode, when one is
attached). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from probe.iam.gateway import aws_failures, client, describe_error, error_code

if TYPE_CHECKING:
    import boto3

SERVICE = "bedrock-agentcore-control"
MAX_PAGES = 1000  # a bound against a control plane that never stops paging, not a limit anyone meets
MAX_WORKERS = 8
# Error codes that mean "this caller may not read this region" rather than "the region is broken".
ACCESS_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId",
    "UnauthorizedOperation", "ExpiredTokenException", "ExpiredToken", "InvalidSignatureException",
    "SignatureDoesNotMatch", "OptInRequired", "AuthFailure",
})

ClientFor = Callable[[str], Any]


@dataclass
class GatewayInfo:
    """One gateway as discovery saw it; None where it could not be read."""

    region: str
    gateway_id: str
    name: str | None = None
    status: str | None = None
    url: str | None = None
    authorizer_type: str | None = None
    policy_engine_arn: str | None = None
    policy_engine_mode: str | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RegionResult:
    """One region: its gateways, or why it was skipped (`error` set, `access` when it is a permission matter)."""

    region: str
    gateways: list[GatewayInfo] = field(default_factory=list)
    error: str | None = None
    access: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "status": "skipped" if self.skipped else "ok",
            "error": self.error,
            "access_denied": self.access,
            "notes": list(self.notes),
            "gateways": [g.to_dict() for g in self.gateways],
        }


def available_regions(session: boto3.Session) -> list[str]:
    """The regions botocore knows the control plane in ([] when its endpoint data lists none)."""
    return sorted(session.get_available_regions(SERVICE))


def discover(
    regions: Sequence[str],
    *,
    session: boto3.Session,
    client_for: ClientFor | None = None,
    max_workers: int = MAX_WORKERS,
) -> list[RegionResult]:
    """Every region's gateways, in the order of `regions`. Never raises for AWS trouble.

    Clients are made here, in the calling thread (a boto3 Session is not thread-safe, its
    clients are); `client_for(region)` replaces them (tests hand in a Stubber's client).
    """
    failures = aws_failures()
    clients: dict[str, Any] = {}
    early: dict[str, RegionResult] = {}
    for region in regions:
        try:
            clients[region] = client_for(region) if client_for else client(session, SERVICE, region)
        except failures as exc:
            early[region] = _skipped(region, "session", exc)
    todo = [r for r in regions if r in clients]
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(todo) or 1))) as pool:
        done = dict(zip(todo, pool.map(lambda r: list_region(clients[r], r), todo), strict=True))
    return [early.get(r) or done[r] for r in regions]


def list_region(control: Any, region: str) -> RegionResult:
    """ListGateways (every page), then GetGateway for each: URL and policy engine."""
    failures = aws_failures()
    result = RegionResult(region=region)
    summaries: list[dict[str, Any]] = []
    token: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = control.list_gateways(**({"nextToken": token} if token else {}))
            summaries.extend(page.get("items") or [])
            token = page.get("nextToken")
            if not token:
                break
        else:
            result.notes.append(f"ListGateways still paging after {MAX_PAGES} pages: the list may be incomplete")
    except failures as exc:
        return _skipped(region, "ListGateways", exc)
    for summary in summaries:
        result.gateways.append(_read_gateway(control, region, summary, failures))
    return result


def _read_gateway(
    control: Any, region: str, summary: dict[str, Any], failures: tuple[type[BaseException], ...]
) -> GatewayInfo:
    info = GatewayInfo(
        region=region,
        gateway_id=str(summary.get("gatewayId") or ""),
        name=summary.get("name"),
        status=summary.get("status"),
        authorizer_type=summary.get("authorizerType"),
    )
    try:
        gw = control.get_gateway(gatewayIdentifier=info.gateway_id)
    except failures as exc:
        info.errors.append(describe_error("GetGateway", exc))
        return info
    info.url = gw.get("gatewayUrl")
    info.status = gw.get("status") or info.status
    info.authorizer_type = gw.get("authorizerType") or info.authorizer_type
    pec = gw.get("policyEngineConfiguration") or {}
    info.policy_engine_arn = pec.get("arn")
    info.policy_engine_mode = pec.get("mode")
    return info


def _skipped(region: str, operation: str, exc: BaseException) -> RegionResult:
    name = type(exc).__name__
    access = error_code(exc) in ACCESS_CODES
    if name in ("EndpointConnectionError", "UnknownEndpointError", "ConnectTimeoutError"):
        access = True  # no control plane reachable here: the service is not offered in this region (or not to us)
    return RegionResult(region=region, error=describe_error(operation, exc), access=access)


# --- the scenario file ---------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"[^a-z0-9]+")


def scenario_names(gateways: Sequence[GatewayInfo]) -> list[str]:
    """A short, unique scenario name per gateway: its name, with the region added only when names repeat."""
    base = [_slug(g.name or g.gateway_id) for g in gateways]
    names: list[str] = []
    seen: set[str] = set()
    for g, b in zip(gateways, base, strict=True):
        name = b if base.count(b) == 1 else f"{b}-{_slug(g.region)}"
        candidate, n = name, 2
        while candidate in seen:
            candidate, n = f"{name}-{n}", n + 1
        seen.add(candidate)
        names.append(candidate)
    return names


def _slug(text: str) -> str:
    return _NAME_CHARS.sub("-", text.lower()).strip("-") or "gateway"


def token_env_name(name: str) -> str:
    """GW_TOKEN_<NAME>: the environment variable a CUSTOM_JWT gateway's bearer token is read from."""
    return "GW_TOKEN_" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def _auth_lines(g: GatewayInfo, name: str) -> list[str]:
    kind = g.authorizer_type
    if kind == "CUSTOM_JWT":
        return [
            "    # CUSTOM_JWT: set this variable to a token the gateway accepts, or replace with",
            "    # oauth: {token_url: ..., client_id: ..., client_secret_env: ...}",
            f"    auth: {{bearer_token_env: {token_env_name(name)}}}",
        ]
    if kind == "AWS_IAM":
        return ["    # AWS_IAM: requests are signed with the standard credential chain (sigv4: {profile: NAME})",
                "    auth: {sigv4: {}}"]
    if kind == "NONE":
        return ["    auth: none                             # the gateway has no inbound authorizer"]
    return [f"    # authorizer {kind or 'unknown'}: fill in the auth (bearer_token_env, oauth, sigv4 or none)",
            "    auth: none"]


def scenario_text(regions: Sequence[RegionResult]) -> str:
    """The scenario file for every discovered gateway with a URL (version 1)."""
    gateways = [g for r in regions for g in r.gateways if g.url]
    names = scenario_names(gateways)
    read = ", ".join(r.region for r in regions if not r.skipped) or "none"
    lines = [
        "# Written by `agentcore-probe discover`: every gateway found, one listing probe each.",
        f"# Regions read: {read}.",
    ]
    skipped = [r for r in regions if r.skipped]
    if skipped:
        lines.append(f"# Regions skipped (not readable): {', '.join(r.region for r in skipped)}.")
    unreadable = [g for r in regions for g in r.gateways if not g.url]
    if unreadable:
        lines.append("# Gateways left out (GetGateway failed, no URL): "
                     + ", ".join(f"{g.gateway_id} ({g.region})" for g in unreadable) + ".")
    lines += [
        "# Auth is left as references to fill in: never put a token or secret in this file.",
        "#   agentcore-probe validate --env FILE   then   agentcore-probe watch -f FILE --every 60s",
        "version: 1",
        "defaults: {timeout: 10, retries: 1, max_run_time: 30}",
    ]
    if not gateways:
        lines += ["gateways: {}", "probes: []"]
        return "\n".join(lines) + "\n"
    lines.append("gateways:")
    for g, name in zip(gateways, names, strict=True):
        lines.append(f"  {name}:")
        lines.append(f"    url: {_quote(g.url or '')}")
        lines.append(f"    gateway_id: {_quote(g.gateway_id)}")
        lines.append(f"    region: {g.region}")
        lines.extend(_auth_lines(g, name))
    lines.append("probes:")
    for g, name in zip(gateways, names, strict=True):
        lines += [f"  - name: {name}-list", f"    gateway: {name}", "    expect: ok"]
        if g.policy_engine_arn and g.policy_engine_mode:
            lines.append(f"    policy_engine: {{mode: {g.policy_engine_mode}}}   # as discovered")
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (URLs hold ':' and may hold '#')."""
    import json

    return json.dumps(value)
