"""The lab's in-memory AgentCore: the one store the control plane writes and the gateways read.

Both the control plane (boto3's `bedrock-agentcore-control` wire) and the MCP gateway
endpoints are views of this store, so a policy created through boto3 is enforced on the
very next `tools/call`, as on the real service. Every access goes through the lock:
uvicorn serves the two views from different threads.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

AuthorizerType = Literal["NONE", "CUSTOM_JWT", "AWS_IAM", "AUTHENTICATE_ONLY"]
PolicyMode = Literal["LOG_ONLY", "ENFORCE"]
DenialShape = Literal["documented", "no_determining", "preview"]
# Without the policy permissions on its role, an ENFORCE gateway fails policy evaluation
# ("internal_error", the incident) or denies every call by default ("deny_by_default");
# AWS documents both and not which appears where.
PermissionFaultForm = Literal["internal_error", "deny_by_default"]

LAB_REGION = "us-east-1"
LAB_ACCOUNT = "123456789012"  # moto's default account: IAM ARNs and gateway ARNs agree


def new_id(prefix: str, length: int = 10) -> str:
    """AgentCore-style ids: a readable prefix and a random lower-case suffix."""
    alphabet = string.ascii_lowercase + string.digits
    return f"{prefix}-{''.join(secrets.choice(alphabet) for _ in range(length))}"


def gateway_arn(gateway_id: str, region: str = LAB_REGION, account: str = LAB_ACCOUNT) -> str:
    return f"arn:aws:bedrock-agentcore:{region}:{account}:gateway/{gateway_id}"


def policy_engine_arn(engine_id: str, region: str = LAB_REGION, account: str = LAB_ACCOUNT) -> str:
    return f"arn:aws:bedrock-agentcore:{region}:{account}:policy-engine/{engine_id}"


@dataclass
class ToolSpec:
    """One tool of an emulated target; the gateway lists it as `{target}___{name}`."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass
class Target:
    target_id: str
    name: str
    tools: list[ToolSpec]
    lambda_arn: str | None = None  # set for Lambda targets: the role needs lambda:InvokeFunction on it
    status: str = "READY"
    created_at: float = field(default_factory=time.time)


@dataclass
class Faults:
    """Failure modes an operator or a test turns on for one gateway."""

    throttle: bool = False  # every MCP request answers HTTP 429
    throttle_retry_after_s: float | None = None
    latency_ms: int = 0  # added before every MCP answer
    failing_tools: set[str] = field(default_factory=set)  # full tool names whose target fails
    target_failure_text: str = "Access denied while invoking Lambda function"
    denial_shape: DenialShape = "documented"
    permission_fault_form: PermissionFaultForm = "internal_error"


@dataclass
class Gateway:
    gateway_id: str
    name: str
    role_arn: str
    authorizer_type: AuthorizerType = "NONE"
    authorizer_configuration: dict[str, Any] | None = None
    policy_engine_arn: str | None = None
    policy_engine_mode: PolicyMode | None = None
    exception_level: str | None = None  # "DEBUG" or None
    search_enabled: bool = False
    # protocolConfiguration.mcp: the versions the gateway speaks (None: every version the lab knows)
    # and whether tools/list pages (disableMcpListToolsPagination turns it off).
    supported_versions: tuple[str, ...] | None = None
    list_pagination: bool = True
    status: str = "READY"
    description: str | None = None
    targets: list[Target] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def arn(self) -> str:
        return gateway_arn(self.gateway_id)


@dataclass
class Policy:
    policy_id: str
    name: str
    statement: str  # Cedar source
    status: str = "ACTIVE"
    description: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    enforcement_mode: str = "ACTIVE"  # ACTIVE | LOG_ONLY: a LOG_ONLY policy is evaluated, never enforced
    status_reasons: list[str] = field(default_factory=list)


@dataclass
class PolicyEngine:
    engine_id: str
    name: str
    status: str = "ACTIVE"
    description: str | None = None
    policies: dict[str, Policy] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    @property
    def arn(self) -> str:
        return policy_engine_arn(self.engine_id)


@dataclass
class _Transition:
    """A resource's pending move out of an intermediate status (CREATING, UPDATING, DELETING...)."""

    resource: Any
    final: str
    due: float
    then: Callable[[], None] | None = None


class LabState:
    """Gateways and policy engines by id, behind one re-entrant lock.

    Create, update and delete are asynchronous, as on AWS: `begin` puts a resource in an
    intermediate status (CREATING, UPDATING, SYNCHRONIZING, DELETING) and it reaches its
    final one (READY/ACTIVE, a *_FAILED, or gone) `settle_s` seconds later. Transitions are
    applied lazily, on the next lookup (`settle`), so no thread runs them. `settle_s` 0
    makes everything final at once. `iam_simulation` lets the lab's IAM endpoint answer
    `iam:SimulatePrincipalPolicy` (off: moto's HTML 500, the probe's offline path).
    """

    def __init__(self, region: str = LAB_REGION, account: str = LAB_ACCOUNT, *, settle_s: float = 0.0) -> None:
        self.region = region
        self.account = account
        self.lock = threading.RLock()
        self.gateways: dict[str, Gateway] = {}
        self.engines: dict[str, PolicyEngine] = {}
        self.settle_s = settle_s
        self.iam_simulation = True
        self._transitions: list[_Transition] = []

    def begin(self, resource: Any, interim: str, final: str, then: Callable[[], None] | None = None) -> None:
        """Put `resource` (anything with a `status`) in `interim`; `final` (and `then()`) after `settle_s`."""
        with self.lock:
            self._transitions = [t for t in self._transitions if t.resource is not resource]
            if self.settle_s <= 0:
                resource.status = final
                if then is not None:
                    then()
                return
            resource.status = interim
            self._transitions.append(_Transition(resource, final, time.monotonic() + self.settle_s, then))

    def settle(self) -> None:
        """Apply every transition that is due."""
        with self.lock:
            if not self._transitions:
                return
            now = time.monotonic()
            due = [t for t in self._transitions if t.due <= now]
            self._transitions = [t for t in self._transitions if t.due > now]
            for t in due:
                t.resource.status = t.final
                if t.then is not None:
                    t.then()

    def pending(self, resource: Any) -> bool:
        """Whether `resource` is still on its way to a final status."""
        with self.lock:
            self.settle()
            return any(t.resource is resource for t in self._transitions)

    def gateway(self, gateway_id_or_arn: str) -> Gateway | None:
        with self.lock:
            self.settle()
            key = gateway_id_or_arn.rsplit("/", 1)[-1]
            return self.gateways.get(key)

    def engine(self, engine_id_or_arn: str) -> PolicyEngine | None:
        with self.lock:
            self.settle()
            key = engine_id_or_arn.rsplit("/", 1)[-1]
            return self.engines.get(key)
