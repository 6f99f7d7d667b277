"""Helpers for the IAM check/simulate/fix tests: constants, policy builders, moto setup (no fixtures here).

Everything runs against moto's in-process mock or botocore's Stubber: no AWS endpoint is
ever contacted, and the credentials are moto's fake ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENGINE_ID = "engine_probe-abc1234567"
ENGINE_ARN = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:policy-engine/{ENGINE_ID}"
AUTH = "bedrock-agentcore:AuthorizeAction"
PARTIAL = "bedrock-agentcore:PartiallyAuthorizeActions"
GET_ENGINE = "bedrock-agentcore:GetPolicyEngine"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def console_remediation(gateway_arn: str, engine_arn: str = ENGINE_ARN) -> dict[str, Any]:
    """The console's remediation policy, as the incident report quotes it."""
    return doc(
        {
            "Sid": "EvaluatePoliciesForGateway",
            "Effect": "Allow",
            "Action": [AUTH, PARTIAL],
            "Resource": [gateway_arn, engine_arn],
        },
        {"Sid": "GetPolicyEngineForValidation", "Effect": "Allow", "Action": [GET_ENGINE], "Resource": [engine_arn]},
    )


@dataclass
class Gw:
    gateway_id: str
    gateway_arn: str
    role_name: str
    role_arn: str


def make_role(
    name: str = "gateway-role",
    *,
    path: str = "/",
    inline: dict[str, dict[str, Any]] | None = None,
    managed: dict[str, dict[str, Any]] | None = None,
    boundary: dict[str, Any] | None = None,
) -> str:
    iam = boto3.client("iam")
    kwargs: dict[str, Any] = {"RoleName": name, "Path": path, "AssumeRolePolicyDocument": TRUST}
    if boundary is not None:
        b = iam.create_policy(PolicyName=f"{name}-boundary", PolicyDocument=json.dumps(boundary))
        kwargs["PermissionsBoundary"] = b["Policy"]["Arn"]
    arn = iam.create_role(**kwargs)["Role"]["Arn"]
    for policy_name, document in (inline or {}).items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    for policy_name, document in (managed or {}).items():
        p = iam.create_policy(PolicyName=policy_name, PolicyDocument=json.dumps(document))
        iam.attach_role_policy(RoleName=name, PolicyArn=p["Policy"]["Arn"])
    return arn


def make_gateway(
    role_arn: str,
    *,
    engine_arn: str | None = ENGINE_ARN,
    mode: str = "ENFORCE",
    lambda_arns: tuple[str, ...] = (),
    region: str = REGION,
) -> Gw:
    control = boto3.client("bedrock-agentcore-control", region_name=region)
    kwargs: dict[str, Any] = {"name": "refunds", "roleArn": role_arn, "protocolType": "MCP", "authorizerType": "NONE"}
    if engine_arn:
        kwargs["policyEngineConfiguration"] = {"arn": engine_arn, "mode": mode}
    gw = control.create_gateway(**kwargs)
    for i, arn in enumerate(lambda_arns):
        control.create_gateway_target(
            gatewayIdentifier=gw["gatewayId"],
            name=f"target{i}",
            targetConfiguration={"mcp": {"lambda": {"lambdaArn": arn, "toolSchema": {"inlinePayload": []}}}},
        )
    return Gw(gw["gatewayId"], gw["gatewayArn"], role_arn.rsplit("/", 1)[-1], role_arn)


def all_pairs(gateway_arn: str, engine_arn: str = ENGINE_ARN) -> set[tuple[str, str]]:
    return {
        (AUTH, gateway_arn),
        (AUTH, engine_arn),
        (PARTIAL, gateway_arn),
        (PARTIAL, engine_arn),
        (GET_ENGINE, engine_arn),
    }


def missing_set(check: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(m["action"], m["resource"], m["reason"]) for m in check["missing"]}


def refuse(session: boto3.Session, operation: str, code: str = "AccessDenied") -> None:
    """Make one IAM operation fail as AWS does for a caller without the permission."""

    def handler(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": f"not authorized to perform iam:{operation}"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            },
            operation,
        )

    session.events.register(f"before-call.iam.{operation}", handler)


def count_calls(session: boto3.Session, service: str, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every call of one operation made through `session`."""
    calls: list[dict[str, Any]] = []

    def handler(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    session.events.register(f"before-call.{service}.{operation}", handler)
    return calls


class SessionWith:
    """A boto3 Session whose client for one service is a given (stubbed) client."""

    def __init__(self, session: boto3.Session, **clients: Any) -> None:
        self._session = session
        self._clients = clients

    def client(self, service: str, *args: Any, **kwargs: Any) -> Any:
        if service in self._clients:
            return self._clients[service]
        return self._session.client(service, *args, **kwargs)
