"""The offline evaluator against an independent one: the lab's role checker (moto's matcher + the lab's conditions).

Generated roles (identity policies and a boundary) are decided by both for the pairs a
gateway with a policy engine needs. The lab's checker answers only "provably allowed"
or not, so the comparison is:

- whatever the documents, the lab proving a pair allowed means the probe allows it, and
  the probe settling a pair as denied means the lab cannot prove it allowed;
- when every condition uses keys both know (the gateway's own request context), both
  decide everything, so they must agree exactly and the probe must never say unknown.

The generator stays inside what both evaluators implement the same way by IAM's rules:
no `?` and no policy variables (moto's matcher treats them as regex syntax), and every
ARN pattern has exactly five literal colons or ends in a segment-final `*`, where
moto's `.*` and IAM's segment-wise matching coincide for colon-free resource ids.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from probe.iam.evaluate import PolicySource, evaluate
from probe.lab.conditions import gateway_request_context
from probe.lab.role_check import documents_allow

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gateway-role"
PREFIX = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}"
GW = f"{PREFIX}:gateway/demo-abc123"
PE = f"{PREFIX}:policy-engine/pe-xyz"
AUTHORIZE = "bedrock-agentcore:AuthorizeAction"
PARTIAL = "bedrock-agentcore:PartiallyAuthorizeActions"
GET_ENGINE = "bedrock-agentcore:GetPolicyEngine"
PAIRS = [(AUTHORIZE, GW), (AUTHORIZE, PE), (PARTIAL, GW), (PARTIAL, PE), (GET_ENGINE, PE)]
DENIED = ("implicit_deny", "explicit_deny", "boundary")

ACTIONS = [
    AUTHORIZE,
    PARTIAL,
    GET_ENGINE,
    "bedrock-agentcore:*",
    "bedrock-agentcore:*Authorize*",
    "bedrock-agentcore:Get*",
    "bedrock-agentcore:GetGateway",
    "*",
    "s3:*",
]
RESOURCES = [
    GW,
    PE,
    "*",
    f"{PREFIX}:gateway/*",
    f"{PREFIX}:policy-engine/*",
    f"{PREFIX}:*",
    "arn:aws:bedrock-agentcore:*",
    "arn:aws:bedrock-agentcore:*:*:gateway/demo-*",
    f"arn:aws:bedrock-agentcore:us-*-1:{ACCOUNT}:*",
    f"arn:aws:bedrock-agentcore:us-west-2:{ACCOUNT}:*",
    f"arn:aws:bedrock-agentcore:{REGION}:999999999999:*",
    f"arn:aws:bedrock-agentcore:*:{ACCOUNT}:gateway/demo-abc123",
    f"{PREFIX}:gateway/other-*",
]
KNOWN_CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:RequestedRegion": REGION}},
    {"StringEquals": {"aws:RequestedRegion": "us-west-2"}},
    {"StringNotEquals": {"aws:RequestedRegion": ["us-west-2", "eu-west-1"]}},
    {"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}},
    {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/gateway-*"}},
    {"StringNotLike": {"aws:PrincipalArn": "*admin*"}},
    {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}},
    {"ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/other"}},
    {"StringEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT}},
    {"StringEquals": {"aws:PrincipalAccount": "999999999999"}},
    {"Null": {"aws:RequestedRegion": "false"}},
    {"Null": {"aws:PrincipalAccount": "true"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringEquals": {"aws:RequestedRegion": REGION, "aws:PrincipalAccount": ACCOUNT}},
]
UNKNOWN_CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
    {"StringNotEquals": {"aws:SourceVpc": "vpc-1"}},
    {"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}},
    {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
]


def statement(rng: random.Random, effect: str, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect}
    actions = rng.sample(ACTIONS, rng.choice([1, 1, 2]))
    out["NotAction" if rng.random() < 0.1 else "Action"] = actions if len(actions) > 1 else actions[0]
    resources = rng.sample(RESOURCES, rng.choice([1, 1, 2]))
    out["NotResource" if rng.random() < 0.12 else "Resource"] = resources if len(resources) > 1 else resources[0]
    if conditions and rng.random() < 0.4:
        out["Condition"] = rng.choice(conditions)
    return out


def document(rng: random.Random, conditions: list[dict[str, Any]], deny_rate: float) -> dict[str, Any]:
    effects = ["Deny" if rng.random() < deny_rate else "Allow" for _ in range(rng.randint(1, 3))]
    return {"Version": "2012-10-17", "Statement": [statement(rng, e, conditions) for e in effects]}


def role(seed: int, conditions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    rng = random.Random(seed)
    identity = [document(rng, conditions, deny_rate=0.2) for _ in range(rng.randint(1, 2))]
    boundary = document(rng, conditions, deny_rate=0.1) if rng.random() < 0.35 else None
    return identity, boundary


def both(
    identity: list[dict[str, Any]], boundary: dict[str, Any] | None, action: str, resource: str
) -> tuple[str, bool]:
    context = gateway_request_context(ROLE, REGION)
    sources = [PolicySource("inline", f"p{i}", None, d) for i, d in enumerate(identity)]
    fence = PolicySource("boundary", "fence", f"arn:aws:iam::{ACCOUNT}:policy/fence", boundary) if boundary else None
    probe = evaluate(action, resource, sources, fence, context).decision
    lab = documents_allow(identity, action, resource, [boundary] if boundary else None, context)
    return probe, lab


@pytest.mark.parametrize("batch", range(4))
def test_agrees_exactly_where_both_know_every_key(batch: int) -> None:
    decided = {"allowed": 0, "denied": 0}
    for seed in range(batch * 150, (batch + 1) * 150):
        identity, boundary = role(seed, KNOWN_CONDITIONS)
        for action, resource in PAIRS:
            probe, lab = both(identity, boundary, action, resource)
            case = f"seed {seed}: {action} on {resource}: probe {probe}, lab {lab}\n{identity}\n{boundary}"
            assert probe != "unknown", case
            assert (probe == "allowed") == lab, case
            decided["allowed" if lab else "denied"] += 1
    assert decided["allowed"] > 50 and decided["denied"] > 50  # the generator covers both answers


@pytest.mark.parametrize("batch", range(2))
def test_never_contradicts_where_keys_are_unknown(batch: int) -> None:
    unknown = 0
    for seed in range(10_000 + batch * 150, 10_000 + (batch + 1) * 150):
        identity, boundary = role(seed, KNOWN_CONDITIONS + UNKNOWN_CONDITIONS)
        for action, resource in PAIRS:
            probe, lab = both(identity, boundary, action, resource)
            case = f"seed {seed}: {action} on {resource}: probe {probe}, lab {lab}\n{identity}\n{boundary}"
            if lab:
                assert probe == "allowed", case
            if probe in DENIED:
                assert not lab, case
            unknown += probe == "unknown"
    assert unknown > 10  # unknown keys do reach the decision
