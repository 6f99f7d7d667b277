"""What the gateway's execution role must be allowed to do, and what the probe itself needs.

The required pairs are exact (action, resource) tuples derived from the gateway's own
configuration, never patterns: the operator is told precisely what is missing, and the
remediation grants precisely that. `AuthorizeAction` and `PartiallyAuthorizeActions` are
permission names with no SDK operation behind them, so these pairs can only be decided
by IAM simulation or by evaluating the role's documents.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

AUTHORIZE_ACTION = "bedrock-agentcore:AuthorizeAction"
PARTIALLY_AUTHORIZE_ACTIONS = "bedrock-agentcore:PartiallyAuthorizeActions"
GET_POLICY_ENGINE = "bedrock-agentcore:GetPolicyEngine"
INVOKE_FUNCTION = "lambda:InvokeFunction"

# The console's remediation statement ids: an operator comparing our policy with the
# console's sees the same names.
SID_EVALUATE = "EvaluatePoliciesForGateway"
SID_GET_ENGINE = "GetPolicyEngineForValidation"
SID_LAMBDA = "InvokeLambdaTargets"

EVALUATE_ACTIONS: tuple[str, ...] = (AUTHORIZE_ACTION, PARTIALLY_AUTHORIZE_ACTIONS)

PairKind = Literal["policy", "lambda"]


@dataclass(frozen=True)
class RequiredPermission:
    """One (action, resource) pair the role needs, and which remediation statement grants it."""

    action: str
    resource: str
    sid: str
    kind: PairKind = "policy"

    @property
    def pair(self) -> tuple[str, str]:
        return (self.action, self.resource)

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "resource": self.resource, "sid": self.sid, "kind": self.kind}


def policy_pairs(gateway_arn: str, engine_arn: str | None) -> list[RequiredPermission]:
    """The pairs policy evaluation needs; none when no engine is attached (nothing evaluates)."""
    if not engine_arn:
        return []
    pairs = [RequiredPermission(a, r, SID_EVALUATE) for a in EVALUATE_ACTIONS for r in (gateway_arn, engine_arn)]
    pairs.append(RequiredPermission(GET_POLICY_ENGINE, engine_arn, SID_GET_ENGINE))
    return pairs


def lambda_pairs(lambda_arns: Iterable[str]) -> list[RequiredPermission]:
    """`lambda:InvokeFunction` on each Lambda target: a tool-call need, not a policy one."""
    seen: dict[str, None] = dict.fromkeys(a for a in lambda_arns if a)
    return [RequiredPermission(INVOKE_FUNCTION, arn, SID_LAMBDA, "lambda") for arn in seen]


def arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":", 5)
    return parts[4] or None if len(parts) == 6 else None


def arn_region(arn: str | None) -> str | None:
    parts = (arn or "").split(":", 5)
    return parts[3] or None if len(parts) == 6 else None


def request_context(*, role_arn: str | None, region: str | None) -> dict[str, str]:
    """Condition keys whose value is certain for any call the gateway's role makes.

    Only keys that cannot differ between the real request and our model: the requesting
    principal and its account, and the region of the gateway the request concerns.
    Everything else stays unset, so a condition on it is reported as undecidable rather
    than guessed.
    """
    ctx: dict[str, str] = {}
    if role_arn:
        ctx["aws:PrincipalArn"] = role_arn
        account = arn_account(role_arn)
        if account:
            ctx["aws:PrincipalAccount"] = account
    if region:
        ctx["aws:RequestedRegion"] = region
    return ctx


# --- what the probe itself needs (README material) -------------------------------------

CHECK_AGENTCORE_ACTIONS: tuple[str, ...] = (
    "bedrock-agentcore:GetGateway",
    "bedrock-agentcore:ListGatewayTargets",
    "bedrock-agentcore:GetGatewayTarget",
    "bedrock-agentcore:ListTagsForResource",  # the gateway's tags: aws:ResourceTag/* context (best effort)
)
CHECK_ENGINE_ACTIONS: tuple[str, ...] = (
    "bedrock-agentcore:GetPolicyEngine",
    "bedrock-agentcore:ListPolicies",
    "bedrock-agentcore:ListTagsForResource",
)
CHECK_ROLE_ACTIONS: tuple[str, ...] = (
    "iam:SimulatePrincipalPolicy",
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoleTags",  # the role's tags: aws:PrincipalTag/* context (best effort)
)
CHECK_POLICY_ACTIONS: tuple[str, ...] = ("iam:GetPolicy", "iam:GetPolicyVersion")
FIX_ROLE_ACTIONS: tuple[str, ...] = ("iam:PutRolePolicy",)


def probe_check_policy(*, region: str = "*", account: str = "*", role_name: str = "*") -> dict[str, Any]:
    """The read-only policy `agentcore-probe iam check` (and `run`'s IAM tie-in) needs.

    Narrow `region`, `account` and `role_name` for a tighter grant; the defaults cover
    any gateway the caller can name. Without `iam:SimulatePrincipalPolicy` the check
    falls back to reading the role's documents; without those reads it says `unknown`.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadGatewayAndTargets",
                "Effect": "Allow",
                "Action": list(CHECK_AGENTCORE_ACTIONS),
                "Resource": f"arn:aws:bedrock-agentcore:{region}:{account}:gateway/*",
            },
            {
                "Sid": "ReadPolicyEngineAndPolicies",
                "Effect": "Allow",
                "Action": list(CHECK_ENGINE_ACTIONS),
                "Resource": f"arn:aws:bedrock-agentcore:{region}:{account}:policy-engine/*",
            },
            {
                "Sid": "SimulateOrReadGatewayRole",
                "Effect": "Allow",
                "Action": list(CHECK_ROLE_ACTIONS),
                "Resource": f"arn:aws:iam::{account}:role/{role_name}",
            },
            {
                "Sid": "ReadManagedPoliciesOfRole",
                "Effect": "Allow",
                "Action": list(CHECK_POLICY_ACTIONS),
                "Resource": [f"arn:aws:iam::{account}:policy/*", "arn:aws:iam::aws:policy/*"],
            },
        ],
    }


def probe_fix_policy(*, region: str = "*", account: str = "*", role_name: str = "*") -> dict[str, Any]:
    """What `agentcore-probe iam fix --apply` needs: the check's reads plus one write.

    `iam:PutRolePolicy` is the only write; scope `role_name` to the gateway roles the
    caller may repair.
    """
    policy = probe_check_policy(region=region, account=account, role_name=role_name)
    policy["Statement"].append(
        {
            "Sid": "WriteProbeInlinePolicy",
            "Effect": "Allow",
            "Action": list(FIX_ROLE_ACTIONS),
            "Resource": f"arn:aws:iam::{account}:role/{role_name}",
        }
    )
    return policy


# --- the remediation: exactly the pairs above, as one inline policy ---------------------

POLICY_NAME = "AgentCoreProbe-PolicyEvaluation"
POLICY_FILE = "agentcore-probe-policy.json"
_MAX_POLICY_NAME = 128  # IAM's limit on an inline policy name


def policy_name(gateway_id: str) -> str:
    """The inline policy's name: fixed for one gateway, distinct between gateways.

    One role often serves several gateways; a single shared name would let a fix for one
    gateway overwrite (and so revoke) what an earlier fix granted another.
    """
    name = f"{POLICY_NAME}-{gateway_id}"
    if len(name) <= _MAX_POLICY_NAME:
        return name
    digest = hashlib.sha256(gateway_id.encode()).hexdigest()[:12]
    return f"{POLICY_NAME}-{gateway_id[: _MAX_POLICY_NAME - len(POLICY_NAME) - 14]}-{digest}"


class WildcardRefused(ValueError):
    """A remediation would need a resource we do not know exactly; we never write a pattern."""


def remediation_policy(
    gateway_arn: str | None, engine_arn: str | None, lambda_arns: Iterable[str] = ()
) -> dict[str, Any] | None:
    """The least-privilege inline policy: exact ARNs, only the needed actions, one Sid per purpose.

    The policy statements cover every policy-evaluation pair (not only the missing ones)
    so that the one inline policy is enough on its own; the Lambda statement appears
    only for the ARNs passed. None when there is nothing to grant. Raises
    WildcardRefused when an ARN needed is unknown or is a pattern.
    """
    statements: list[dict[str, Any]] = []
    if engine_arn is not None:
        _exact(gateway_arn, "gateway ARN")
        _exact(engine_arn, "policy-engine ARN")
        statements.append(
            {
                "Sid": SID_EVALUATE,
                "Effect": "Allow",
                "Action": list(EVALUATE_ACTIONS),
                "Resource": [gateway_arn, engine_arn],
            }
        )
        statements.append(
            {"Sid": SID_GET_ENGINE, "Effect": "Allow", "Action": [GET_POLICY_ENGINE], "Resource": [engine_arn]}
        )
    functions = list(dict.fromkeys(a for a in lambda_arns))
    if functions:
        for arn in functions:
            _exact(arn, "Lambda function ARN")
        statements.append({"Sid": SID_LAMBDA, "Effect": "Allow", "Action": [INVOKE_FUNCTION], "Resource": functions})
    if not statements:
        return None
    return {"Version": "2012-10-17", "Statement": statements}


def _exact(arn: str | None, what: str) -> None:
    if not arn:
        raise WildcardRefused(f"the {what} is unknown, and a wildcard resource is never written")
    if "*" in arn or "?" in arn or not arn.startswith("arn:"):
        raise WildcardRefused(f"the {what} {arn!r} is not an exact ARN, and a wildcard resource is never written")


def put_role_policy_command(
    role_name: str, name: str, *, profile: str | None = None, policy_file: str = POLICY_FILE
) -> str:
    """The `aws iam` command that applies the remediation (the document goes by file://)."""
    parts = [
        "aws",
        "iam",
        "put-role-policy",
        "--role-name",
        role_name,
        "--policy-name",
        name,
        "--policy-document",
        f"file://{policy_file}",
    ]
    if profile:
        parts += ["--profile", profile]
    return shlex.join(parts)
