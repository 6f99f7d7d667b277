"""The lab's `bedrock-agentcore-control`: botocore's rest-json wire over the shared `LabState`.

Routes, member locations, required members, enums and patterns all come from botocore's
own service model, so boto3 (or the AWS CLI) pointed at the lab with `endpoint_url` or
`AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL` works unchanged, and a request the real
service would reject for its shape is rejected here with the same error code.

As on AWS, the API never touches IAM: a gateway's `roleArn` is recorded, not checked, so
an execution role that lacks the policy permissions is only found out when the gateway
evaluates a policy. Signatures are not verified (any `Authorization` header will do), but
a request without one is refused like AWS does.

The lab is one region (`LabState.region`), and AgentCore is regional: a request whose
SigV4 credential scope names another region sees that region as AWS would for an
account that never used it. Lists are empty and every identifier is
ResourceNotFoundException, so a client configured for the wrong region fails the way it
would on AWS. Creating a gateway or policy engine there is refused (ValidationException
naming both regions): the lab cannot hold a second region, and a resource that silently
landed in the lab's region would be the more surprising answer.

As on AWS, create, update and delete are asynchronous: the answer says CREATING,
UPDATING or DELETING and the resource reaches READY/ACTIVE, a *_FAILED status, or is gone
`LabState.settle_s` later (the lab's `settle_s`, 0.05 s by default), so boto3's waiters
(`policy_active`, `policy_engine_deleted`, ...) and code that polls both work, and code
that does not wait meets the intermediate statuses. A gateway is not served before it is
READY; a target's tools are not listed before it is READY; an updated policy or target
decides with its previous definition until the update settles (assumed: AWS does not say).

Also served: UpdateGatewayTarget, SynchronizeGatewayTargets (always refused: every lab
target has a static tool schema, which AWS refuses to synchronize), UpdatePolicyEngine,
the tag operations (gateways and policy engines) and the gateway's resource-based policy
(Put/Get/DeleteResourcePolicy: stored and echoed, not enforced, because the lab's gateways
take every SigV4 caller the lab knows; cross-account callers are what such a policy is for).

Where the model is silent the lab picks one plain behaviour: UpdateGateway replaces the
whole configuration (PUT), a gateway with targets or
an engine in use cannot be deleted (ConflictException), a Policy holds exactly one Cedar
policy, and a target's tools must come inline (the lab cannot read S3 or dial servers).

Policies are validated as AWS documents (`probe.cedar.schema`): a statement that does not
parse is a ValidationException; one that parses but breaks the schema generated from the
gateway's tools, or the action/resource scope rules, is stored CREATE_FAILED (UPDATE_FAILED)
with `statusReasons`, unless `validationMode` is IGNORE_ALL_FINDINGS.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from probe.lab.state import Gateway, LabState, Policy, PolicyEngine, Target, ToolSpec, new_id

log = logging.getLogger(__name__)

SERVICE = "bedrock-agentcore-control"
DEFAULT_PAGE_SIZE = 50  # the model gives no default; small enough that clients must paginate

# The operations the lab serves; routing and request parsing come from the model.
OPERATIONS: tuple[str, ...] = (
    "CreateGateway", "GetGateway", "ListGateways", "UpdateGateway", "DeleteGateway",
    "CreateGatewayTarget", "GetGatewayTarget", "ListGatewayTargets", "DeleteGatewayTarget",
    "CreatePolicyEngine", "GetPolicyEngine", "ListPolicyEngines", "DeletePolicyEngine",
    "CreatePolicy", "GetPolicy", "ListPolicies", "UpdatePolicy", "DeletePolicy",
    "UpdateGatewayTarget", "SynchronizeGatewayTargets", "UpdatePolicyEngine",
    "TagResource", "UntagResource", "ListTagsForResource",
    "PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy",
)  # fmt: skip


@cache
def service_model() -> ServiceModel:
    from probe.lab.aws_session import isolated_botocore_session

    return isolated_botocore_session().get_service_model(SERVICE)


class ApiError(Exception):
    """An AWS error answer: its code picks the HTTP status from the model's error shape."""

    def __init__(self, code: str, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _error_status(code)
        self.extra = extra

    def response(self, request_id: str) -> Response:
        body = {"message": self.message, **self.extra}
        return JSONResponse(
            body,
            status_code=self.status,
            headers={"x-amzn-ErrorType": f"{self.code}:", "x-amzn-RequestId": request_id},
        )


def _error_status(code: str) -> int:
    try:
        shape = service_model().shape_for(code)
    except Exception:
        return 400
    return int(shape.metadata.get("error", {}).get("httpStatusCode", 400))


def validation(message: str, *, field_name: str | None = None, reason: str = "FieldValidationFailed") -> ApiError:
    extra: dict[str, Any] = {"reason": reason}
    if field_name:
        extra["fieldList"] = [{"name": field_name, "message": message}]
    return ApiError("ValidationException", message, **extra)


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError("ResourceNotFoundException", f"{kind} not found: {ident}")


def conflict(message: str) -> ApiError:
    return ApiError("ConflictException", message)


# --- request parsing and validation, driven by the model ------------------------------------


def _route_regex(request_uri: str) -> re.Pattern[str]:
    """`/gateways/{gatewayIdentifier}/` -> a regex over the raw (still percent-encoded) path."""
    path = request_uri.split("?", 1)[0].rstrip("/")
    out = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name.rstrip("+")
            out += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}/?$")


def _convert_query(value: list[str], shape: Shape, name: str) -> Any:
    if shape.type_name == "list":
        return value
    raw = value[-1]
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise validation(f"{name} must be an integer", field_name=name, reason="CannotParse") from None
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    return raw


def parse_input(
    op: OperationModel, labels: dict[str, str], query: dict[str, list[str]], body: bytes
) -> dict[str, Any]:
    """The operation's parameters as boto3 would have passed them, read from the wire."""
    shape = op.input_shape
    if shape is None:
        return {}
    doc: dict[str, Any] = {}
    if body.strip():
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise validation("the request body is not valid JSON", reason="CannotParse") from None
        if not isinstance(doc, dict):
            raise validation("the request body must be a JSON object", reason="CannotParse")
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = labels[wire]
        elif location == "querystring":
            if wire in query:
                params[name] = _convert_query(query[wire], member, name)
        elif location is None and name in doc:
            params[name] = doc[name]
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        text = "; ".join(line.strip() for line in report.generate_report().splitlines() if line.strip())
        raise validation(text or "invalid request")
    problems = list(_constraint_errors(params, shape, ""))
    if problems:
        path, message = problems[0]
        raise validation(message, field_name=path)
    return params


def _constraint_errors(value: Any, shape: Shape, path: str) -> Iterable[tuple[str, str]]:
    """Enums, patterns and maximums: what botocore leaves to the service to check."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from _constraint_errors(item, shape.members[key], f"{path}.{key}" if path else key)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _constraint_errors(item, shape.member, f"{path}[{i}]")  # type: ignore[attr-defined]
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _constraint_errors(item, shape.value, f"{path}.{key}")  # type: ignore[attr-defined]
    elif kind == "string" and isinstance(value, str):
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            yield path, f"{path} must be one of {', '.join(enum)}"
        pattern = shape.metadata.get("pattern")
        if pattern and not _pattern_ok(pattern, value):
            yield path, f"{path} does not match the pattern {pattern}"
        maximum = shape.metadata.get("max")
        if maximum is not None and len(value) > maximum:
            yield path, f"{path} is longer than {maximum} characters"
    elif kind in ("integer", "long") and isinstance(value, int):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            yield path, f"{path} must be at most {maximum}"


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None  # a Java-only construct: leave that check to the real service


def _pattern_ok(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


# --- views: state -> wire ----------------------------------------------------------------------


def iso(ts: float) -> str:
    """The model's `iso8601` timestamps, in UTC with millisecond precision."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def tool_definition(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description or tool.name, "inputSchema": tool.input_schema}


def _target_id() -> str:
    """`[0-9a-zA-Z]{10}`, as the model's TargetId pattern demands."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


def _page(items: Sequence[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    """Offset pagination behind an opaque token; a token from elsewhere is a ValidationException."""
    offset = 0
    token = params.get("nextToken")
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise validation("nextToken is not valid", field_name="nextToken") from None
    size = int(params.get("maxResults") or DEFAULT_PAGE_SIZE)
    chunk = list(items[offset : offset + size])
    more = offset + size < len(items)
    nxt = base64.urlsafe_b64encode(f"offset:{offset + size}".encode()).decode() if more else None
    return chunk, nxt


# --- target configurations -> emulated tools ------------------------------------------------------


def tools_from_definitions(defs: Any, where: str) -> list[ToolSpec]:
    if isinstance(defs, dict) and isinstance(defs.get("tools"), list):
        defs = defs["tools"]
    if not isinstance(defs, list) or not defs:
        raise validation(f"{where} must list at least one tool", field_name=where)
    tools: list[ToolSpec] = []
    for i, d in enumerate(defs):
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"]:
            raise validation(f"{where}[{i}] needs a name", field_name=f"{where}[{i}].name")
        schema = d.get("inputSchema") or {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise validation(f"{where}[{i}].inputSchema must be an object", field_name=f"{where}[{i}].inputSchema")
        tools.append(ToolSpec(name=d["name"], description=str(d.get("description") or ""), input_schema=schema))
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise validation(f"{where} names a tool twice: {', '.join(dupes)}", field_name=where)
    return tools


def _inline(source: dict[str, Any], where: str) -> Any:
    if "inlinePayload" not in source:
        raise validation(f"{where}: the lab cannot read S3; give the schema as inlinePayload", field_name=where)
    return source["inlinePayload"]


def _load_text(text: Any, where: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return yaml.safe_load(text)  # JSON is YAML: one parser for both OpenAPI spellings
    except yaml.YAMLError:
        raise validation(f"{where} is neither JSON nor YAML", field_name=where, reason="CannotParse") from None


def _openapi_tools(doc: Any, where: str) -> list[ToolSpec]:
    """Each operation with an operationId becomes a tool, as the gateway does for OpenAPI targets."""
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise validation(f"{where} is not an OpenAPI document (no paths)", field_name=where)
    defs: list[dict[str, Any]] = []
    for item in doc["paths"].values():
        for method, op in (item or {}).items():
            if method.lower() not in {"get", "put", "post", "delete", "patch"} or not isinstance(op, dict):
                continue
            if not op.get("operationId"):
                continue
            props: dict[str, Any] = {}
            required: list[str] = []
            for param in op.get("parameters") or []:
                if isinstance(param, dict) and param.get("name"):
                    props[param["name"]] = param.get("schema") or {"type": "string"}
                    if param.get("required"):
                        required.append(param["name"])
            body = ((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
            body_schema = body.get("schema") or {}
            props.update(body_schema.get("properties") or {})
            required.extend(body_schema.get("required") or [])
            schema: dict[str, Any] = {"type": "object", "properties": props}
            if required:
                schema["required"] = required
            defs.append({"name": op["operationId"], "description": op.get("summary") or op.get("description") or "",
                         "inputSchema": schema})
    return tools_from_definitions(defs, where)


def tools_from_target_configuration(config: dict[str, Any]) -> tuple[list[ToolSpec], str | None, str]:
    """(tools, Lambda ARN or None, targetType) for the target kinds the lab emulates."""
    mcp = config.get("mcp")
    if not isinstance(mcp, dict) or len(mcp) != 1:
        raise validation("the lab emulates only targetConfiguration.mcp with exactly one of lambda, "
                         "mcpServer, openApiSchema", field_name="targetConfiguration")
    kind, body = next(iter(mcp.items()))
    where = f"targetConfiguration.mcp.{kind}"
    if kind == "lambda":
        payload = _inline(body["toolSchema"], f"{where}.toolSchema")
        return tools_from_definitions(payload, f"{where}.toolSchema.inlinePayload"), body["lambdaArn"], "LAMBDA"
    if kind == "mcpServer":
        source = body.get("mcpToolSchema")
        if not source:
            raise validation(f"{where}: the lab does not dial MCP servers; give mcpToolSchema.inlinePayload",
                             field_name=f"{where}.mcpToolSchema")
        text = _inline(source, f"{where}.mcpToolSchema")
        tools = tools_from_definitions(_load_text(text, where), f"{where}.mcpToolSchema.inlinePayload")
        return tools, None, "MCP_SERVER"
    if kind == "openApiSchema":
        text = _inline(body, where)
        return _openapi_tools(_load_text(text, where), f"{where}.inlinePayload"), None, "OPEN_API_SCHEMA"
    raise validation(f"{where} targets are not emulated by the lab", field_name=where)


def target_configuration(target: Target) -> dict[str, Any]:
    """The wire `targetConfiguration` for a lab target: Lambda, or an emulated MCP server.

    The console sends it to CreateGatewayTarget; GetGatewayTarget answers it for a target
    put into the state without the API.
    """
    defs = [tool_definition(t) for t in target.tools]
    if target.lambda_arn:
        return {"mcp": {"lambda": {"lambdaArn": target.lambda_arn, "toolSchema": {"inlinePayload": defs}}}}
    return {"mcp": {"mcpServer": {"endpoint": emulated_endpoint(target.name),
                                  "mcpToolSchema": {"inlinePayload": json.dumps({"tools": defs})}}}}


def emulated_endpoint(target_name: str) -> str:
    """An https endpoint (the model demands https) in the reserved `.invalid` domain: never dialled."""
    return f"https://{target_name.lower()}.targets.lab.invalid/mcp"


# --- the operations ------------------------------------------------------------------------------


@dataclass
class _TargetRecord:
    configuration: dict[str, Any]
    target_type: str
    description: str | None = None
    credentials: list[dict[str, Any]] = field(default_factory=list)


class ControlPlane:
    """The operations themselves: plain functions of (state, params) -> response document.

    Fields the shared state has no place for (the MCP protocol configuration, a target's
    original configuration) are kept here and echoed back.
    """

    def __init__(self, state: LabState, gateway_url: Callable[[str], str]) -> None:
        self.state = state
        self.gateway_url = gateway_url
        self._gateway_extra: dict[str, dict[str, Any]] = {}
        self._targets: dict[str, _TargetRecord] = {}
        self._tokens: dict[str, str] = {}  # clientToken -> resource id: retries create once
        self._tags: dict[str, dict[str, str]] = {}  # resource ARN -> tags
        self._resource_policies: dict[str, str] = {}  # gateway ARN -> resource-based policy (JSON text)

    # gateways

    def _gateway(self, ident: str) -> Gateway:
        g = self.state.gateway(ident)
        if g is None:
            raise not_found("Gateway", ident)
        return g

    def _engine_arn(self, params: dict[str, Any]) -> tuple[str | None, str | None]:
        pec = params.get("policyEngineConfiguration")
        if not pec:
            return None, None
        engine = self.state.engine(pec["arn"])
        if engine is None:
            raise validation(f"policy engine not found: {pec['arn']}", field_name="policyEngineConfiguration.arn")
        return engine.arn, pec["mode"]

    @staticmethod
    def _authorizer(params: dict[str, Any]) -> dict[str, Any] | None:
        config = params.get("authorizerConfiguration")
        if params["authorizerType"] == "CUSTOM_JWT" and not (config or {}).get("customJWTAuthorizer"):
            raise validation("authorizerConfiguration.customJWTAuthorizer is required for CUSTOM_JWT",
                             field_name="authorizerConfiguration")
        return config

    @staticmethod
    def _search(params: dict[str, Any]) -> bool:
        mcp = (params.get("protocolConfiguration") or {}).get("mcp") or {}
        return mcp.get("searchType") == "SEMANTIC"

    @staticmethod
    def _mcp_settings(params: dict[str, Any]) -> dict[str, Any]:
        """The protocolConfiguration.mcp members the lab's gateways honour (besides searchType)."""
        mcp = (params.get("protocolConfiguration") or {}).get("mcp") or {}
        versions = mcp.get("supportedVersions")
        return {"supported_versions": tuple(versions) if versions else None,
                "list_pagination": not mcp.get("disableMcpListToolsPagination", False)}

    @staticmethod
    def _extra(params: dict[str, Any]) -> dict[str, Any]:
        keys = ("protocolConfiguration", "kmsKeyArn", "interceptorConfigurations", "wafConfiguration",
                "domainOverride")
        return {k: params[k] for k in keys if k in params}

    def gateway_view(self, g: Gateway) -> dict[str, Any]:
        extra = self._gateway_extra.get(g.gateway_id, {})
        pec = {"arn": g.policy_engine_arn, "mode": g.policy_engine_mode} if g.policy_engine_arn else None
        return _clean({
            "gatewayArn": g.arn, "gatewayId": g.gateway_id, "gatewayUrl": self.gateway_url(g.gateway_id),
            "createdAt": iso(g.created_at), "updatedAt": iso(g.updated_at), "status": g.status,
            "statusReasons": [], "name": g.name, "description": g.description, "roleArn": g.role_arn,
            "protocolType": "MCP", "authorizerType": g.authorizer_type,
            "authorizerConfiguration": g.authorizer_configuration, "policyEngineConfiguration": pec,
            "exceptionLevel": g.exception_level, **extra,
        })  # fmt: skip

    def create_gateway(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            token = p.get("clientToken")
            if token and token in self._tokens and self.state.gateway(self._tokens[token]):
                return self.gateway_view(self._gateway(self._tokens[token]))
            if any(g.name == p["name"] for g in self.state.gateways.values()):
                raise conflict(f"a gateway named {p['name']} already exists")
            engine_arn, mode = self._engine_arn(p)
            g = Gateway(
                gateway_id=new_id(p["name"].lower()), name=p["name"], role_arn=p["roleArn"],
                authorizer_type=p["authorizerType"], authorizer_configuration=self._authorizer(p),
                policy_engine_arn=engine_arn, policy_engine_mode=mode,  # type: ignore[arg-type]
                exception_level=p.get("exceptionLevel"), search_enabled=self._search(p),
                description=p.get("description"), **self._mcp_settings(p),
            )  # fmt: skip
            self.state.gateways[g.gateway_id] = g
            self._gateway_extra[g.gateway_id] = self._extra(p)
            self._tag(g.arn, p.get("tags"))
            self.state.begin(g, "CREATING", "READY")
            if token:
                self._tokens[token] = g.gateway_id
            return self.gateway_view(g)

    def get_gateway(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return self.gateway_view(self._gateway(p["gatewayIdentifier"]))

    def list_gateways(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            gateways = sorted(self.state.gateways.values(), key=lambda g: (g.created_at, g.gateway_id))
            chunk, nxt = _page(gateways, p)
            items = [_clean({
                "gatewayId": g.gateway_id, "name": g.name, "status": g.status, "description": g.description,
                "createdAt": iso(g.created_at), "updatedAt": iso(g.updated_at),
                "authorizerType": g.authorizer_type, "protocolType": "MCP",
            }) for g in chunk]  # fmt: skip
            return _clean({"items": items, "nextToken": nxt})

    def update_gateway(self, p: dict[str, Any]) -> dict[str, Any]:
        """A PUT: the request is the gateway's whole new configuration; omitted members are cleared."""
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            if p["name"] != g.name:
                raise validation("a gateway's name cannot be changed", field_name="name")
            engine_arn, mode = self._engine_arn(p)
            g.role_arn = p["roleArn"]
            g.authorizer_type = p["authorizerType"]
            g.authorizer_configuration = self._authorizer(p)
            g.policy_engine_arn, g.policy_engine_mode = engine_arn, mode  # type: ignore[assignment]
            g.exception_level = p.get("exceptionLevel")
            g.search_enabled = self._search(p)
            for key, value in self._mcp_settings(p).items():
                setattr(g, key, value)
            g.description = p.get("description")
            g.updated_at = time.time()
            self._gateway_extra[g.gateway_id] = self._extra(p)
            self.state.begin(g, "UPDATING", "READY")
            return self.gateway_view(g)

    def delete_gateway(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            live = [t for t in g.targets if t.status != "DELETING"]
            if live:
                raise conflict(f"gateway {g.gateway_id} still has {len(live)} target(s); delete them first")

            def gone() -> None:
                self.state.gateways.pop(g.gateway_id, None)
                self._gateway_extra.pop(g.gateway_id, None)
                self._tags.pop(g.arn, None)
                self._resource_policies.pop(g.arn, None)

            self.state.begin(g, "DELETING", "DELETING", then=gone)
            return {"gatewayId": g.gateway_id, "status": g.status, "statusReasons": []}

    # targets

    def _target(self, g: Gateway, target_id: str) -> Target:
        for t in g.targets:
            if t.target_id == target_id:
                return t
        raise not_found("Target", target_id)

    def target_view(self, g: Gateway, t: Target) -> dict[str, Any]:
        rec = self._targets.get(t.target_id)
        return _clean({
            "gatewayArn": g.arn, "targetId": t.target_id, "createdAt": iso(t.created_at),
            "updatedAt": iso(t.created_at), "status": t.status, "statusReasons": [], "name": t.name,
            "description": rec.description if rec else None,
            "targetConfiguration": rec.configuration if rec else target_configuration(t),
            "credentialProviderConfigurations": (rec.credentials if rec else None)
            or [{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
            "protocolType": "MCP",
        })  # fmt: skip

    def _target_type(self, t: Target) -> str:
        rec = self._targets.get(t.target_id)
        if rec:
            return rec.target_type
        return "LAMBDA" if t.lambda_arn else "MCP_SERVER"

    def create_gateway_target(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            token = p.get("clientToken")
            if token and token in self._tokens:
                for t in g.targets:
                    if t.target_id == self._tokens[token]:
                        return self.target_view(g, t)
            tools, lambda_arn, target_type = tools_from_target_configuration(p["targetConfiguration"])
            name = p.get("name") or f"target-{_target_id().lower()}"
            if any(t.name == name for t in g.targets):
                raise conflict(f"gateway {g.gateway_id} already has a target named {name}")
            t = Target(target_id=_target_id(), name=name, tools=tools, lambda_arn=lambda_arn)
            g.targets.append(t)
            g.updated_at = time.time()
            self._targets[t.target_id] = _TargetRecord(
                configuration=p["targetConfiguration"], target_type=target_type, description=p.get("description"),
                credentials=list(p.get("credentialProviderConfigurations") or []),
            )
            self.state.begin(t, "CREATING", "READY")
            if token:
                self._tokens[token] = t.target_id
            return self.target_view(g, t)

    def get_gateway_target(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            return self.target_view(g, self._target(g, p["targetId"]))

    def list_gateway_targets(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            chunk, nxt = _page(g.targets, p)
            items = [_clean({
                "targetId": t.target_id, "name": t.name, "status": t.status,
                "description": (self._targets[t.target_id].description if t.target_id in self._targets else None),
                "createdAt": iso(t.created_at), "updatedAt": iso(t.created_at), "targetType": self._target_type(t),
            }) for t in chunk]  # fmt: skip
            return _clean({"items": items, "nextToken": nxt})

    def delete_gateway_target(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            t = self._target(g, p["targetId"])
            g.updated_at = time.time()

            def gone() -> None:
                if t in g.targets:
                    g.targets.remove(t)
                self._targets.pop(t.target_id, None)

            self.state.begin(t, "DELETING", "DELETING", then=gone)
            return {"gatewayArn": g.arn, "targetId": t.target_id, "status": t.status, "statusReasons": []}

    # policy engines

    def _engine(self, ident: str) -> PolicyEngine:
        e = self.state.engine(ident)
        if e is None:
            raise not_found("PolicyEngine", ident)
        return e

    @staticmethod
    def engine_view(e: PolicyEngine, status: str | None = None) -> dict[str, Any]:
        return _clean({
            "policyEngineId": e.engine_id, "name": e.name, "createdAt": iso(e.created_at),
            "updatedAt": iso(e.updated_at), "policyEngineArn": e.arn, "status": status or e.status,
            "description": e.description, "statusReasons": [],
        })  # fmt: skip

    def create_policy_engine(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            token = p.get("clientToken")
            if token and token in self._tokens and self.state.engine(self._tokens[token]):
                return self.engine_view(self._engine(self._tokens[token]))
            if any(e.name == p["name"] for e in self.state.engines.values()):
                raise conflict(f"a policy engine named {p['name']} already exists")
            e = PolicyEngine(engine_id=new_id(p["name"]), name=p["name"], description=p.get("description"))
            self.state.engines[e.engine_id] = e
            self._tag(e.arn, p.get("tags"))
            self.state.begin(e, "CREATING", "ACTIVE")
            if token:
                self._tokens[token] = e.engine_id
            return self.engine_view(e)

    def get_policy_engine(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return self.engine_view(self._engine(p["policyEngineId"]))

    def list_policy_engines(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            engines = sorted(self.state.engines.values(), key=lambda e: (e.created_at, e.engine_id))
            chunk, nxt = _page(engines, p)
            return _clean({"policyEngines": [self.engine_view(e) for e in chunk], "nextToken": nxt})

    def delete_policy_engine(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            users = sorted(g.gateway_id for g in self.state.gateways.values() if g.policy_engine_arn == e.arn)
            if users:
                raise conflict(f"policy engine {e.engine_id} is attached to gateway(s) {', '.join(users)}")
            live = [pol for pol in e.policies.values() if pol.status != "DELETING"]
            if live:
                raise conflict(f"policy engine {e.engine_id} still has {len(live)} policy(ies)")

            def gone() -> None:
                self.state.engines.pop(e.engine_id, None)
                self._tags.pop(e.arn, None)

            self.state.begin(e, "DELETING", "DELETING", then=gone)
            return self.engine_view(e)

    # policies

    def _policy(self, e: PolicyEngine, policy_id: str) -> Policy:
        pol = e.policies.get(policy_id)
        if pol is None:
            raise not_found("Policy", policy_id)
        return pol

    def policy_view(self, e: PolicyEngine, pol: Policy, status: str | None = None) -> dict[str, Any]:
        return _clean({
            "policyId": pol.policy_id, "name": pol.name, "policyEngineId": e.engine_id,
            "createdAt": iso(pol.created_at), "updatedAt": iso(pol.updated_at),
            "policyArn": f"{e.arn}/policy/{pol.policy_id}", "status": status or pol.status,
            "definition": {"cedar": {"statement": pol.statement}}, "description": pol.description,
            "statusReasons": list(pol.status_reasons), "enforcementMode": pol.enforcement_mode,
        })  # fmt: skip

    def _findings(self, e: PolicyEngine, statement: str, mode: str | None) -> list[str]:
        """What AWS's validation at CreatePolicy/UpdatePolicy finds ([] when validationMode skips it).

        The schema comes from the tools of the gateway the policy names, or, for a policy naming
        none, of every gateway the engine is attached to (an assumption: AWS does not say).
        """
        if mode == "IGNORE_ALL_FINDINGS":
            return []
        from probe.cedar.schema import Tool, validate_statement

        def tools_for(arn: str | None) -> list[Tool] | None:
            if arn is not None:
                g = self.state.gateway(arn)
                gateways = [g] if g is not None and g.arn == arn else None
            else:
                gateways = [g for g in self.state.gateways.values() if g.policy_engine_arn == e.arn]
            if gateways is None:
                return None
            return [Tool(f"{t.name}___{s.name}", s.input_schema) for g in gateways for t in g.targets
                    for s in t.tools]

        return list(validate_statement(statement, tools_for).findings)

    @staticmethod
    def _statement(p: dict[str, Any]) -> str:
        definition = p["definition"]
        cedar = definition.get("cedar")
        if not cedar:
            raise validation("the lab accepts only definition.cedar", field_name="definition")
        statement = cedar["statement"]
        check_cedar(statement)
        return statement

    def create_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            token = p.get("clientToken")
            if token and token in self._tokens and self._tokens[token] in e.policies:
                return self.policy_view(e, e.policies[self._tokens[token]])
            if any(pol.name == p["name"] for pol in e.policies.values()):
                raise conflict(f"policy engine {e.engine_id} already has a policy named {p['name']}")
            statement = self._statement(p)
            findings = self._findings(e, statement, p.get("validationMode"))
            pol = Policy(policy_id=new_id(p["name"]), name=p["name"], statement=statement,
                         description=p.get("description"), status="CREATING",
                         enforcement_mode=p.get("enforcementMode") or "ACTIVE", status_reasons=findings)
            e.policies[pol.policy_id] = pol
            self.state.begin(pol, "CREATING", "CREATE_FAILED" if findings else "ACTIVE")
            e.updated_at = time.time()
            if token:
                self._tokens[token] = pol.policy_id
            return self.policy_view(e, pol)

    def get_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            return self.policy_view(e, self._policy(e, p["policyId"]))

    def list_policies(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            policies = sorted(e.policies.values(), key=lambda pol: (pol.created_at, pol.policy_id))
            scope = p.get("targetResourceScope")
            if scope:  # a policy naming no particular gateway applies to every one
                policies = [pol for pol in policies
                            if scope in pol.statement or 'AgentCore::Gateway::"' not in pol.statement]
            chunk, nxt = _page(policies, p)
            return _clean({"policies": [self.policy_view(e, pol) for pol in chunk], "nextToken": nxt})

    def update_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            pol = self._policy(e, p["policyId"])
            if p.get("definition"):
                # A definition that fails validation is not taken: the policy keeps deciding with its
                # previous one and says UPDATE_FAILED with the reasons (an assumption: AWS does not say).
                statement = self._statement(p)
                findings = self._findings(e, statement, p.get("validationMode"))
                # Until the update settles (UPDATING), the policy decides with its previous statement.
                final = ("CREATE_FAILED" if pol.status == "CREATE_FAILED" else "UPDATE_FAILED") \
                    if findings else "ACTIVE"

                def take(pol: Policy = pol, statement: str = statement, findings: list[str] = findings) -> None:
                    if not findings:
                        pol.statement = statement
                    pol.status_reasons = findings

                self.state.begin(pol, "UPDATING", final, then=take)
            if "description" in p:  # UpdatedDescription: an absent optionalValue clears it
                pol.description = p["description"].get("optionalValue")
            if p.get("enforcementMode"):
                pol.enforcement_mode = p["enforcementMode"]
            pol.updated_at = e.updated_at = time.time()
            return self.policy_view(e, pol)

    def delete_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            pol = self._policy(e, p["policyId"])
            e.updated_at = time.time()
            self.state.begin(pol, "DELETING", "DELETING", then=lambda: e.policies.pop(pol.policy_id, None))
            return self.policy_view(e, pol)

    # the operations a user of the probe touches besides create/read/delete

    def update_gateway_target(self, p: dict[str, Any]) -> dict[str, Any]:
        """A PUT of the target's configuration; the old one serves until the update settles (UPDATING)."""
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            t = self._target(g, p["targetId"])
            tools, lambda_arn, target_type = tools_from_target_configuration(p["targetConfiguration"])
            name = p.get("name") or t.name
            if any(o.name == name and o is not t for o in g.targets):
                raise conflict(f"gateway {g.gateway_id} already has a target named {name}")
            record = _TargetRecord(
                configuration=p["targetConfiguration"], target_type=target_type, description=p.get("description"),
                credentials=list(p.get("credentialProviderConfigurations") or []),
            )

            def take() -> None:
                t.name, t.tools, t.lambda_arn = name, tools, lambda_arn
                self._targets[t.target_id] = record

            g.updated_at = time.time()
            self.state.begin(t, "UPDATING", "READY", then=take)
            return self.target_view(g, t)

    def synchronize_gateway_targets(self, p: dict[str, Any]) -> dict[str, Any]:
        """AWS re-reads an MCP server target's tools; the lab's targets all have static schemas, which
        AWS refuses to synchronize, so every target answers that ValidationException."""
        with self.state.lock:
            g = self._gateway(p["gatewayIdentifier"])
            for target_id in p["targetIdList"]:
                t = self._target(g, target_id)
                kind = self._target_type(t)
                if kind == "MCP_SERVER":
                    raise validation(f"target {t.target_id} has a static tool schema (mcpToolSchema) and cannot "
                                     "be synchronized; remove it with UpdateGatewayTarget first",
                                     field_name="targetIdList")
                raise validation(f"target {t.target_id} is a {kind} target: only MCP server targets synchronize",
                                 field_name="targetIdList")
            return {"targets": []}

    def update_policy_engine(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            e = self._engine(p["policyEngineId"])
            if "description" in p:  # UpdatedDescription: an absent optionalValue clears it
                e.description = p["description"].get("optionalValue")
            e.updated_at = time.time()
            self.state.begin(e, "UPDATING", "ACTIVE")
            return self.engine_view(e)

    def _taggable(self, arn: str) -> str:
        """The ARN of a gateway or policy engine of this lab (what it can tag), else ResourceNotFoundException."""
        kind, _, ident = arn.rsplit(":", 1)[-1].partition("/")
        found = self.state.gateway(ident) if kind == "gateway" else \
            self.state.engine(ident) if kind == "policy-engine" else None
        if found is None or found.arn != arn:
            raise not_found("Resource", arn)
        return arn

    def _tag(self, arn: str, tags: dict[str, str] | None) -> None:
        if tags:
            self._tags.setdefault(arn, {}).update(tags)

    def tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            arn = self._taggable(p["resourceArn"])
            merged = {**self._tags.get(arn, {}), **p["tags"]}
            if len(merged) > 50:
                raise validation("a resource can have at most 50 tags", field_name="tags")
            self._tags[arn] = merged
            return {}

    def untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            arn = self._taggable(p["resourceArn"])
            for key in p["tagKeys"]:
                self._tags.get(arn, {}).pop(key, None)
            return {}

    def list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            return {"tags": dict(self._tags.get(self._taggable(p["resourceArn"]), {}))}

    def _gateway_arn(self, arn: str) -> str:
        if self._taggable(arn).rsplit(":", 1)[-1].startswith("policy-engine/"):
            raise validation("resource-based policies apply to gateways (and runtimes), not policy engines",
                             field_name="resourceArn")
        return arn

    def put_resource_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        """Stored and echoed; the lab's gateways do not enforce it (see the module's docstring)."""
        with self.state.lock:
            arn = self._gateway_arn(p["resourceArn"])
            try:
                doc = json.loads(p["policy"])
            except ValueError:
                raise validation("policy is not valid JSON", field_name="policy") from None
            if not isinstance(doc, dict) or "Statement" not in doc:
                raise validation("policy must be a JSON policy document with a Statement", field_name="policy")
            self._resource_policies[arn] = p["policy"]
            return {"policy": p["policy"]}

    def get_resource_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            arn = self._gateway_arn(p["resourceArn"])
            if arn not in self._resource_policies:
                raise not_found("ResourcePolicy", arn)
            return {"policy": self._resource_policies[arn]}

    def delete_resource_policy(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            arn = self._gateway_arn(p["resourceArn"])
            if self._resource_policies.pop(arn, None) is None:
                raise not_found("ResourcePolicy", arn)
            return {}

    def elsewhere(self, operation: str, p: dict[str, Any], region: str) -> dict[str, Any]:
        """The answer for a request signed for another region: that region holds nothing."""
        if operation in _ACCOUNT_LISTS:
            return {_ACCOUNT_LISTS[operation]: []}
        if operation in _ACCOUNT_CREATES:
            raise validation(f"the lab emulates one region, {self.state.region}, and this request is signed "
                             f"for {region}: use region {self.state.region} (AWS_REGION or --region)")
        if "gatewayIdentifier" in p:
            raise not_found("Gateway", p["gatewayIdentifier"])
        raise not_found("PolicyEngine", p["policyEngineId"])

    def handler(self, operation: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        self.state.settle()  # apply the CREATING/UPDATING/DELETING transitions that are due
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        return getattr(self, snake)  # type: ignore[no-any-return]


# Operations that need no parent resource: in another region, lists are empty and creates are refused.
_ACCOUNT_LISTS = {"ListGateways": "items", "ListPolicyEngines": "policyEngines"}
_ACCOUNT_CREATES = frozenset({"CreateGateway", "CreatePolicyEngine"})
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/")


def signed_region(authorization: str | None, query_credential: str | None) -> str | None:
    """The region a SigV4 request is signed for (header or presigned query), or None."""
    if query_credential:
        parts = query_credential.split("/")
        return parts[2] if len(parts) == 5 and parts[2] else None
    m = _CREDENTIAL_REGION.search(authorization or "")
    return m.group(1) if m else None


def check_cedar(statement: str) -> None:
    """One Cedar policy that parses, as AgentCore stores one policy per Policy resource."""
    import cedarpy

    try:
        parsed = json.loads(cedarpy.policies_to_json_str(statement))
    except ValueError as exc:
        message = " ".join(str(exc).split())
        raise validation(f"the Cedar statement does not parse: {message}",
                         field_name="definition.cedar.statement") from None
    count = len(parsed.get("staticPolicies") or {}) + len(parsed.get("templates") or {})
    if count != 1:
        raise validation(f"definition.cedar.statement must hold exactly one Cedar policy, not {count}",
                         field_name="definition.cedar.statement")


# --- the ASGI app ------------------------------------------------------------------------------------


def build_controlplane_app(state: LabState, *, gateway_url: Callable[[str], str]) -> Starlette:
    """The Starlette app serving the operations in OPERATIONS over `state`."""
    plane = ControlPlane(state, gateway_url)
    model = service_model()
    routes: list[tuple[str, re.Pattern[str], OperationModel]] = []
    for name in OPERATIONS:
        op = model.operation_model(name)
        routes.append((op.http["method"], _route_regex(op.http["requestUri"]), op))

    async def dispatch(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            if not request.headers.get("authorization") and "X-Amz-Signature" not in request.query_params:
                raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", status=403)
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            path = raw_path.decode("latin-1").split("?", 1)[0]
            op, labels = _match(routes, request.method, path)
            query = parse_qs(request.url.query, keep_blank_values=True)
            params = parse_input(op, labels, query, await request.body())
            region = signed_region(request.headers.get("authorization"), request.query_params.get("X-Amz-Credential"))
            if region is not None and region != state.region:
                doc = plane.elsewhere(op.name, params, region)
            else:
                doc = plane.handler(op.name)(params)
            status = int(op.http.get("responseCode", 200))
            if status == 204:  # TagResource and friends: no body at all
                return Response(status_code=204, headers={"x-amzn-RequestId": request_id})
            return JSONResponse(doc, status_code=status, headers={"x-amzn-RequestId": request_id})
        except ApiError as err:
            return err.response(request_id)
        except Exception:  # a lab bug must still answer like AWS, not with a bare 500 page
            log.exception("control plane: %s %s failed", request.method, request.url.path)
            return ApiError("InternalServerException", "internal error").response(request_id)

    app = Starlette(routes=[Route("/{path:path}", dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
    app.state.controlplane = plane
    return app


def _match(
    routes: Sequence[tuple[str, re.Pattern[str], OperationModel]], method: str, path: str
) -> tuple[OperationModel, dict[str, str]]:
    path_matched = False
    for verb, regex, op in routes:
        m = regex.match(path)
        if m is None:
            continue
        path_matched = True
        if verb == method:
            return op, {k: unquote(v) for k, v in m.groupdict().items()}
    if path_matched:
        raise ApiError("MethodNotAllowedException", f"{method} is not allowed on {path}", status=405)
    raise ApiError("UnknownOperationException", f"no lab operation at {method} {path}", status=404)
