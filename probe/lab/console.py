"""What the AWS console does beyond the API, because the incident lives there.

The console is a client of the same two APIs the operator has (the lab's control plane
and moto's IAM, through boto3), plus the IAM edits it makes on the operator's behalf:

- creating a gateway, it creates an execution role allowing only
  `bedrock-agentcore:GetGateway` on `gateway/{name}-*`;
- attaching a policy engine from the Gateway side (at creation or when editing), it
  adds the statements policy evaluation needs (`EvaluatePoliciesForGateway`,
  `GetPolicyEngineForValidation`);
- attaching from the Policy side, it updates the gateway only and leaves the role as
  it was. That gap is the incident this project exists for.

Faults are not an AWS feature: `set_faults` writes the lab state directly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import string
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from probe.lab.controlplane import target_configuration
from probe.lab.state import Faults, Gateway, LabState, Policy, PolicyEngine, PolicyMode, Target, ToolSpec

ROLE_PREFIX = "AgentCoreGatewayRole-"
ROLE_POLICY_NAME = "AgentCoreGatewayExecution"
SID_GET_GATEWAY = "GetGateway"
SID_EVALUATE = "EvaluatePoliciesForGateway"
SID_GET_ENGINE = "GetPolicyEngineForValidation"

# The UpdateGateway members the console carries over from GetGateway (UpdateGateway is a PUT).
_UPDATABLE = (
    "name", "description", "roleArn", "protocolType", "protocolConfiguration", "authorizerType",
    "authorizerConfiguration", "kmsKeyArn", "interceptorConfigurations", "policyEngineConfiguration",
    "exceptionLevel", "wafConfiguration", "domainOverride",
)  # fmt: skip


class ConsoleError(Exception):
    """A console action that cannot be done as asked; the message is one line for an operator."""


def _tool(name: str, description: str, props: dict[str, str], required: Sequence[str] | None = None) -> ToolSpec:
    """A tool whose arguments are all described by JSON types (the model's SchemaDefinition)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: {"type": t, "description": k.replace("_", " ")} for k, t in props.items()},
        "required": list(required if required is not None else props),
    }
    return ToolSpec(name=name, description=description, input_schema=schema)


def default_targets() -> list[Target]:
    """The walkthrough's targets: refunds (the tool a policy guards) and weather (harmless reads).

    Seven tools in all, so a small `tools/list` page size gives several pages. They are
    emulated MCP-server targets, not Lambda ones: a Lambda target would make the role need
    `lambda:InvokeFunction` too, and the incident is about policy permissions alone.
    """
    refund = Target(target_id="", name="RefundTarget", tools=[
        _tool("process_refund", "Refund an order, fully or in part", {"order_id": "string", "amount": "number"}),
        _tool("get_order", "Read one order", {"order_id": "string"}),
        _tool("list_orders", "List a customer's orders", {"customer_id": "string"}),
        _tool("cancel_order", "Cancel an order that has not shipped", {"order_id": "string"}),
    ])  # fmt: skip
    weather = Target(target_id="", name="WeatherTarget", tools=[
        _tool("get_forecast", "Forecast for a city", {"city": "string", "days": "integer"}, required=["city"]),
        _tool("get_current_conditions", "Current conditions in a city", {"city": "string"}),
        _tool("get_alerts", "Active weather alerts for a region", {"region": "string"}),
    ])  # fmt: skip
    return [refund, weather]


def role_name_for(gateway_name: str) -> str:
    """`AgentCoreGatewayRole-{name}-{suffix}`: unique, as the console's are, so labs sharing
    moto's process-wide IAM never collide; at most 64 characters, as IAM demands."""
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    return f"{ROLE_PREFIX}{gateway_name[: 64 - len(ROLE_PREFIX) - 7]}-{suffix}"


class Console:
    """The console's actions, each returning the lab state's view of what it made.

    `control` and `iam` are boto3 clients for the lab's control plane and moto's IAM;
    `discovery_url` and `default_audience` describe the lab's token issuer, used for
    CUSTOM_JWT gateways.
    """

    def __init__(
        self,
        state: LabState,
        *,
        control: Any,
        iam: Any,
        discovery_url: str | None = None,
        default_audience: str | None = None,
    ) -> None:
        self.state = state
        self.control = control
        self.iam = iam
        self.discovery_url = discovery_url
        self.default_audience = default_audience

    # --- IAM, as the console edits it --------------------------------------------------------

    def create_gateway_role(self, name: str) -> str:
        """The execution role the console makes with a gateway; returns its ARN.

        Trusts the AgentCore service (limited to this account, as the console does) and
        allows only `GetGateway` on the gateways this name will produce.
        """
        region, account = self.state.region, self.state.account
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account},
                          "ArnLike": {"aws:SourceArn": f"arn:aws:bedrock-agentcore:{region}:{account}:*"}},
        }]}  # fmt: skip
        role_name = role_name_for(name)
        try:
            role = self.iam.create_role(
                RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"Execution role for the AgentCore gateway {name}",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityAlreadyExists":
                raise ConsoleError(f"IAM role {role_name} already exists") from None
            raise
        # Gateway ids are the lower-cased name plus a suffix, so this matches only this name's gateways.
        resource = f"arn:aws:bedrock-agentcore:{region}:{account}:gateway/{name.lower()}-*"
        self._put_statements(role_name, [
            {"Sid": SID_GET_GATEWAY, "Effect": "Allow", "Action": ["bedrock-agentcore:GetGateway"],
             "Resource": [resource]},
        ])  # fmt: skip
        return str(role["Role"]["Arn"])

    def role_document(self, role_name: str) -> dict[str, Any]:
        """The console's inline policy on a role ({} if it has none)."""
        try:
            doc = self.iam.get_role_policy(RoleName=role_name, PolicyName=ROLE_POLICY_NAME)["PolicyDocument"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return {}
            raise
        return json.loads(doc) if isinstance(doc, str) else dict(doc)

    def _put_statements(self, role_name: str, statements: list[dict[str, Any]]) -> None:
        """Add statements to the console's inline policy, replacing any with the same Sid."""
        doc = self.role_document(role_name) or {"Version": "2012-10-17", "Statement": []}
        sids = {s["Sid"] for s in statements}
        kept = [s for s in doc.get("Statement", []) if s.get("Sid") not in sids]
        doc["Statement"] = kept + statements
        self.iam.put_role_policy(RoleName=role_name, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(doc))

    def grant_policy_evaluation(self, gateway_id: str) -> None:
        """What the Gateway side of the console adds to the role when an engine is attached."""
        g = self._gateway(gateway_id)
        if not g.policy_engine_arn:
            raise ConsoleError(f"gateway {gateway_id} has no policy engine attached")
        role_name = g.role_arn.rsplit("/", 1)[-1]
        self._put_statements(role_name, [
            {"Sid": SID_EVALUATE, "Effect": "Allow",
             "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
             "Resource": [g.arn, g.policy_engine_arn]},
            {"Sid": SID_GET_ENGINE, "Effect": "Allow", "Action": ["bedrock-agentcore:GetPolicyEngine"],
             "Resource": [g.policy_engine_arn]},
        ])  # fmt: skip

    # --- gateways ------------------------------------------------------------------------------

    def _gateway(self, gateway_id: str) -> Gateway:
        g = self.state.gateway(gateway_id)
        if g is None:
            raise ConsoleError(f"no gateway {gateway_id} in the lab")
        return g

    def _engine(self, engine_id: str) -> PolicyEngine:
        e = self.state.engine(engine_id)
        if e is None:
            raise ConsoleError(f"no policy engine {engine_id} in the lab")
        return e

    def create_gateway(
        self,
        name: str,
        *,
        authorizer_type: str = "NONE",
        policy_engine_id: str | None = None,
        mode: PolicyMode = "ENFORCE",
        targets: Sequence[Target] | None = None,
        exception_level: str | None = None,
        search: bool = False,
        allowed_clients: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Gateway:
        """Create role, gateway and targets as the console's gateway wizard does.

        `targets=None` gives `default_targets()`; `[]` gives none. With `policy_engine_id`
        the engine is attached at creation (the Gateway side) and the role gets the
        evaluation statements.
        """
        role_arn = self.create_gateway_role(name)
        request: dict[str, Any] = {"name": name, "roleArn": role_arn, "authorizerType": authorizer_type,
                                   "protocolType": "MCP"}
        if description:
            request["description"] = description
        if authorizer_type == "CUSTOM_JWT":
            request["authorizerConfiguration"] = self._jwt_authorizer(allowed_clients)
        if search:
            request["protocolConfiguration"] = {"mcp": {"searchType": "SEMANTIC"}}
        if exception_level:
            request["exceptionLevel"] = exception_level
        if policy_engine_id:
            request["policyEngineConfiguration"] = {"arn": self._engine(policy_engine_id).arn, "mode": mode}
        gateway_id = self.control.create_gateway(**request)["gatewayId"]
        self.wait(self._gateway(gateway_id))
        made = [self.add_target(gateway_id, target, wait=False)
                for target in (default_targets() if targets is None else targets)]
        self.wait(*made)
        if policy_engine_id:
            self.grant_policy_evaluation(gateway_id)
        return self._gateway(gateway_id)

    def _jwt_authorizer(self, allowed_clients: Sequence[str] | None) -> dict[str, Any]:
        if not self.discovery_url:
            raise ConsoleError("CUSTOM_JWT needs the lab's token issuer, and this console has none")
        jwt: dict[str, Any] = {"discoveryUrl": self.discovery_url}
        if allowed_clients:
            jwt["allowedClients"] = list(allowed_clients)
        elif self.default_audience:
            jwt["allowedAudience"] = [self.default_audience]
        return {"customJWTAuthorizer": jwt}

    def add_target(self, gateway_id: str, target: Target, *, wait: bool = True) -> Target:
        """Add a target (its tools and, for a Lambda target, its function ARN) through the API.

        Like the console, waits until the target is READY (`wait=False`: return it CREATING)."""
        resp = self.control.create_gateway_target(
            gatewayIdentifier=gateway_id, name=target.name, targetConfiguration=target_configuration(target),
            credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
        )
        g = self._gateway(gateway_id)
        with self.state.lock:
            made = next(t for t in g.targets if t.target_id == resp["targetId"])
        return self.wait(made) if wait else made

    def update_gateway(self, gateway_id: str, **changes: Any) -> Gateway:
        """UpdateGateway with the current configuration plus `changes` (a None value removes a member)."""
        current = self.control.get_gateway(gatewayIdentifier=gateway_id)
        request = {k: copy.deepcopy(current[k]) for k in _UPDATABLE if k in current}
        for key, value in changes.items():
            if value is None:
                request.pop(key, None)
            else:
                request[key] = value
        self.control.update_gateway(gatewayIdentifier=gateway_id, **request)
        return self.wait(self._gateway(gateway_id))

    def attach_engine_from_policy_side(self, gateway_id: str, engine_id: str, mode: PolicyMode = "ENFORCE") -> Gateway:
        """The Policy console's "associate gateway": the gateway changes, the role does not (the incident)."""
        arn = self._engine(engine_id).arn
        return self.update_gateway(gateway_id, policyEngineConfiguration={"arn": arn, "mode": mode})

    def attach_engine_from_gateway_side(self, gateway_id: str, engine_id: str, mode: PolicyMode = "ENFORCE") -> Gateway:
        """The Gateway console's edit: attach the engine and add the evaluation statements to the role."""
        g = self.attach_engine_from_policy_side(gateway_id, engine_id, mode)
        self.grant_policy_evaluation(gateway_id)
        return g

    def detach_engine(self, gateway_id: str) -> Gateway:
        """Remove the engine; like the console, leave the role's statements behind."""
        return self.update_gateway(gateway_id, policyEngineConfiguration=None)

    def set_mode(self, gateway_id: str, mode: PolicyMode) -> Gateway:
        g = self._gateway(gateway_id)
        if not g.policy_engine_arn:
            raise ConsoleError(f"gateway {gateway_id} has no policy engine: attach one before setting a mode")
        return self.update_gateway(gateway_id, policyEngineConfiguration={"arn": g.policy_engine_arn, "mode": mode})

    def set_exception_level(self, gateway_id: str, level: str | None) -> Gateway:
        return self.update_gateway(gateway_id, exceptionLevel=level)

    # --- policy engines ------------------------------------------------------------------------

    def create_policy_engine(self, name: str, description: str | None = None) -> PolicyEngine:
        request: dict[str, Any] = {"name": name}
        if description:
            request["description"] = description
        return self.wait(self._engine(self.control.create_policy_engine(**request)["policyEngineId"]))

    def add_policy(
        self,
        engine_id: str,
        name: str,
        cedar: str,
        description: str | None = None,
        *,
        validation_mode: str | None = None,
        enforcement_mode: str | None = None,
    ) -> Policy:
        """CreatePolicy; the policy comes back CREATE_FAILED (with status_reasons) if validation fails."""
        request: dict[str, Any] = {"policyEngineId": engine_id, "name": name,
                                   "definition": {"cedar": {"statement": cedar}}}
        if description:
            request["description"] = description
        if validation_mode:
            request["validationMode"] = validation_mode
        if enforcement_mode:
            request["enforcementMode"] = enforcement_mode
        policy_id = self.control.create_policy(**request)["policyId"]
        return self.wait(self._engine(engine_id).policies[policy_id])

    # --- waiting, as the console's progress indicator does ---------------------------------------

    def wait(self, *resources: Any, timeout_s: float = 10.0) -> Any:
        """Block until each resource has left CREATING/UPDATING/DELETING; returns the last one.

        The console shows "Creating..." until the resource is ready, so what it made is
        ready when its action returns (an API caller has to wait itself: waiters or polling).
        """
        deadline = time.monotonic() + timeout_s
        step = min(0.01, max(self.state.settle_s / 4, 0.001))
        while any(self.state.pending(r) for r in resources):
            if time.monotonic() > deadline:
                raise ConsoleError(f"still not settled after {timeout_s:.0f}s")
            time.sleep(step)
        return resources[-1] if resources else None

    # --- faults (the lab's own knob, no AWS API) -------------------------------------------------

    def set_faults(self, gateway_id: str, **fields: Any) -> Faults:
        """Set fields of the gateway's `state.Faults`; unknown names are a ConsoleError."""
        known = {f.name for f in dataclasses.fields(Faults)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConsoleError(f"unknown fault field(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        g = self._gateway(gateway_id)
        with self.state.lock:
            for key, value in fields.items():
                setattr(g.faults, key, set(value) if key == "failing_tools" else value)
            return g.faults
