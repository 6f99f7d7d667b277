"""What the control plane says about a gateway, read for a support bundle: best effort, never fatal.

The IAM check reads only what it needs to decide; a support engineer needs the whole
picture: the gateway as configured (role, authorizer, engine and mode, exceptionLevel,
status, protocolConfiguration), every target, the engine and each policy's Cedar text and
status. An operator often holds only part of the permissions, so each refused read is one
entry in `unavailable` (the call and the error code) and the rest goes on. Every AWS
request id is kept: it is what AWS support asks for first.
"""

from __future__ import annotations

from typing import Any

from probe.iam.gateway import aws_failures, client, describe_error, make_session

MAX_TARGETS = 200
MAX_POLICIES = 500
_GATEWAY_KEYS = ("gatewayId", "gatewayArn", "gatewayUrl", "name", "status", "statusReasons", "roleArn",
                 "authorizerType", "authorizerConfiguration", "policyEngineConfiguration", "exceptionLevel",
                 "protocolType", "protocolConfiguration", "kmsKeyArn", "createdAt", "updatedAt")


def _clean(answer: Any) -> dict[str, Any]:
    """The answer without boto3's ResponseMetadata (its request id is kept apart), as JSON values."""
    return {k: jsonable(v) for k, v in dict(answer or {}).items() if k != "ResponseMetadata"}


def jsonable(value: Any) -> Any:
    """boto3's answers hold datetimes (and bytes, rarely): written as ISO 8601 text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class _Reader:
    def __init__(self, control: Any, unavailable: list[dict[str, str]], request_ids: list[dict[str, str]]) -> None:
        self.control = control
        self.unavailable = unavailable
        self.request_ids = request_ids
        self.failures = aws_failures()

    def call(self, operation: str, label: str, **params: Any) -> dict[str, Any] | None:
        try:
            answer = getattr(self.control, operation)(**params)
        except self.failures as exc:
            self.unavailable.append({"what": label, "why": describe_error(label, exc)})
            return None
        rid = ((answer or {}).get("ResponseMetadata") or {}).get("RequestId")
        if rid:
            self.request_ids.append({"call": label, "request_id": str(rid)})
        return _clean(answer)


def read_control_plane(
    *, gateway_id: str, region: str, profile: str | None = None, session: Any = None
) -> tuple[dict[str, Any], list[dict[str, str]], list[dict[str, str]]]:
    """(facts, unavailable, request ids) for one gateway. Never raises for AWS or credential trouble."""
    unavailable: list[dict[str, str]] = []
    request_ids: list[dict[str, str]] = []
    facts: dict[str, Any] = {"gateway_id": gateway_id, "region": region}
    failures = aws_failures()
    try:
        session = session or make_session(profile)
        control = client(session, "bedrock-agentcore-control", region)
    except failures as exc:
        unavailable.append({"what": "control plane", "why": describe_error("session", exc)})
        return facts, unavailable, request_ids
    r = _Reader(control, unavailable, request_ids)
    gw = r.call("get_gateway", "GetGateway", gatewayIdentifier=gateway_id)
    if gw is not None:
        facts["gateway"] = {k: gw[k] for k in _GATEWAY_KEYS if k in gw}
    facts["targets"] = _targets(r, gateway_id)
    engine_arn = ((gw or {}).get("policyEngineConfiguration") or {}).get("arn")
    if engine_arn:
        facts["policy_engine"] = _engine(r, session, engine_arn, region)
    return facts, unavailable, request_ids


def _targets(r: _Reader, gateway_id: str) -> list[dict[str, Any]] | None:
    ids: list[str] = []
    token: str | None = None
    for _ in range(20):
        page = r.call("list_gateway_targets", "ListGatewayTargets", gatewayIdentifier=gateway_id,
                      **({"nextToken": token} if token else {}))
        if page is None:
            return None
        ids.extend(str(t["targetId"]) for t in page.get("items") or [] if t.get("targetId"))
        token = page.get("nextToken")
        if not token:
            break
    targets: list[dict[str, Any]] = []
    for target_id in ids[:MAX_TARGETS]:
        t = r.call("get_gateway_target", f"GetGatewayTarget({target_id})", gatewayIdentifier=gateway_id,
                   targetId=target_id)
        targets.append(t if t is not None else {"targetId": target_id, "unread": True})
    if len(ids) > MAX_TARGETS:
        r.unavailable.append({"what": "GetGatewayTarget", "why": f"only the first {MAX_TARGETS} of {len(ids)} read"})
    return targets


def _engine(r: _Reader, session: Any, arn: str, region: str) -> dict[str, Any]:
    engine_id = arn.rsplit("/", 1)[-1]
    parts = arn.split(":")
    engine_region = parts[3] if len(parts) > 3 and parts[3] else region
    if engine_region != region:
        try:
            r = _Reader(client(session, "bedrock-agentcore-control", engine_region), r.unavailable, r.request_ids)
        except r.failures as exc:
            r.unavailable.append({"what": "policy engine", "why": describe_error("session", exc)})
            return {"arn": arn}
    out: dict[str, Any] = {"arn": arn}
    engine = r.call("get_policy_engine", "GetPolicyEngine", policyEngineId=engine_id)
    if engine is not None:
        out["engine"] = engine
    policies: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(50):
        page = r.call("list_policies", "ListPolicies", policyEngineId=engine_id,
                      **({"nextToken": token} if token else {}))
        if page is None:
            out["policies"] = None
            return out
        policies.extend(page.get("policies") or [])
        token = page.get("nextToken")
        if not token or len(policies) >= MAX_POLICIES:
            break
    full: list[dict[str, Any]] = []
    for p in policies[:MAX_POLICIES]:
        pid = p.get("policyId")
        if not pid or ((p.get("definition") or {}).get("cedar") or {}).get("statement"):
            full.append(p)  # the list already carries the Cedar text
            continue
        got = r.call("get_policy", f"GetPolicy({pid})", policyEngineId=engine_id, policyId=pid)
        full.append(got if got is not None else p)
    out["policies"] = full
    return out


def cedar_text(policy: dict[str, Any]) -> str | None:
    """A policy's Cedar statement, when the control plane gave it."""
    return ((policy.get("definition") or {}).get("cedar") or {}).get("statement")
