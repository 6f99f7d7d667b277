"""The emulated gateways' MCP side: `/{gateway_id}/mcp` for every gateway in the lab's store.

The official MCP SDK speaks the protocol (initialize and `Mcp-Session-Id` for the
2025 revisions, the stateless per-request envelope for 2026-07-28); this module decides
what AgentCore would answer. It works in two layers because the real gateway answers
some things no conforming MCP server would:

- An ASGI layer in front of the SDK answers what never reaches MCP: unknown gateway
  (404), throttling (429 with a JSON-RPC body), inbound auth failures (401 with the
  gateway's JSON-RPC body and `WWW-Authenticate`), and stamps every answer with
  `x-amzn-requestid` / `x-amzn-trace-id`. It resolves the caller into a Cedar principal
  and hands it, with the gateway id, to the SDK through the ASGI scope.
- Inside the SDK, a server middleware answers the incident (policy evaluation failed
  because the role lacks permissions) before any handler runs: for `tools/list` that
  answer is a CallToolResult-shaped result, which the SDK's result validation would
  refuse to send from a handler. The handlers list tools (paged, filtered by Cedar in
  ENFORCE) and run them (Cedar decision, target faults, deterministic emulation).

Gateways are looked up per request, so a gateway created through the control plane
after the app started is served at once, and a policy change applies to the next call.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import unsupported_protocol_version_rejection
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, KNOWN_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from probe.cedar.model import ENFORCED_STATUSES, OAUTH_USER, Principal, authorize_call, could_permit
from probe.lab import role_check
from probe.lab.state import Gateway, LabState, Target, ToolSpec
from probe.lab.tokens import TokenError, TokenIssuer

logger = logging.getLogger(__name__)

SEARCH_TOOL = "x_amz_bedrock_agentcore_search"
# A gateway or target in CREATING (or DELETING, FAILED) is not served; an update keeps serving.
SERVED_STATUSES = ("READY", "UPDATING", "UPDATE_UNSUCCESSFUL", "SYNCHRONIZING", "SYNCHRONIZE_UNSUCCESSFUL")
DEFAULT_PAGE_SIZE = 50
MAX_BODY_BYTES = 4 * 1024 * 1024
LAB_OPERATOR_KEY = "testing"  # the fake default credentials every test and demo uses
LAB_OPERATOR_SECRET = "testing"
LAB_OPERATOR_ARN = "arn:aws:iam::123456789012:user/lab-operator"
ANONYMOUS = Principal(OAUTH_USER, "anonymous")

POLICY_FAILED_LIST = "InternalServerException - Policy evaluation failed for list tools"
POLICY_FAILED_CALL = "InternalServerException - Policy evaluation failed for tool call"
TARGET_FAILED = "An internal error occurred. Please retry later."
LAMBDA_DENIED = "Access denied while invoking Lambda function"
LAMBDA_INVOKE = "lambda:InvokeFunction"
_DENIED = "Tool Execution Denied: Tool call not allowed due to policy enforcement"
DENIED_BY_DEFAULT = f"AuthorizeActionException - {_DENIED} [No policy applies to the request (denied by default).]"
NO_DETERMINING = "Policy evaluation denied due to no determining policies"
DENIED_NO_DETERMINING = f"AuthorizeActionException - {_DENIED} [{NO_DETERMINING}]"
PREVIEW_DENIED_CODE = -32002
AUTH_ERROR_CODE = -32001
INVALID_PARAMS = -32602

_SCOPE_KEY = "agentcore.request"


@dataclass(frozen=True)
class _RequestInfo:
    """What the ASGI layer learnt about a request, for the SDK handlers."""

    gateway_id: str
    principal: Principal


@dataclass(frozen=True)
class _View:
    """A consistent copy of one gateway and its engine's active policies, taken under the lock."""

    gateway: Gateway
    engine_found: bool
    policies: dict[str, str]

    @property
    def enforcing(self) -> bool:
        return bool(self.gateway.policy_engine_arn) and self.gateway.policy_engine_mode == "ENFORCE"


def build_gateway_app(
    state: LabState,
    *,
    issuer: TokenIssuer,
    page_size: int = DEFAULT_PAGE_SIZE,
    json_response: bool = True,
    allowed_hosts: Sequence[str] = ("127.0.0.1:*", "localhost:*", "[::1]:*"),
) -> Starlette:
    """The gateways' Starlette app: MCP at `/{gateway_id}/mcp`, OAuth at `/oauth2/token`.

    `allowed_hosts` feeds the SDK's DNS-rebinding protection (Host header patterns).
    Run it under a server that honours the ASGI lifespan: the SDK's session manager
    lives there.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    gateways = _Gateways(state, page_size)
    server: Server[Any] = Server(
        "agentcore-lab-gateway",
        version="1.0",
        on_list_tools=gateways.list_tools,
        on_call_tool=gateways.call_tool,
        # AgentCore always allows prompts/* and resources/* (policy covers tools only), and a gateway
        # made of tool targets has none: empty lists, and unknown names for get/read.
        on_list_prompts=_no_prompts,
        on_get_prompt=_unknown_prompt,
        on_list_resources=_no_resources,
        on_list_resource_templates=_no_resource_templates,
        on_read_resource=_unknown_resource,
    )
    server.middleware.append(gateways.policy_failure_gate)
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(allowed_hosts),
        allowed_origins=[f"http://{h}" for h in allowed_hosts] + [f"https://{h}" for h in allowed_hosts],
    )
    manager = StreamableHTTPSessionManager(
        app=server, json_response=json_response, stateless=False, security_settings=security
    )
    front = _Front(state, issuer, manager)
    routes = [
        Route("/{gateway_id}/mcp", endpoint=front, methods=["GET", "POST", "DELETE"]),
        Route("/{gateway_id}/.well-known/oauth-protected-resource", endpoint=front.protected_resource),
        # AWS's own addressing: https://{gatewayId}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp
        Route("/mcp", endpoint=front, methods=["GET", "POST", "DELETE"]),
        Route("/.well-known/oauth-protected-resource", endpoint=front.protected_resource),
        *issuer.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lambda _app: manager.run())
    app.add_middleware(_AwsRequestIds)
    app.state.mcp_handlers = gateways  # `page_size` may be changed while serving (`Lab.page_size`)
    return app


async def _no_prompts(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[])


async def _unknown_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    raise MCPError(INVALID_PARAMS, f"Unknown prompt: {params.name}")


async def _no_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=[])


async def _no_resource_templates(
    ctx: Any, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[])


async def _unknown_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    raise MCPError(INVALID_PARAMS, f"Unknown resource: {params.uri}")


# --- the SDK side: listing, calling, the incident ------------------------------------------


class _Gateways:
    """The MCP handlers, shared by every gateway: the gateway comes from the request."""

    def __init__(self, state: LabState, page_size: int) -> None:
        self.state = state
        self.page_size = page_size

    def view(self, ctx: ServerRequestContext[Any, Any]) -> tuple[_View, Principal]:
        info = _info(ctx)
        with self.state.lock:
            gateway = self.state.gateway(info.gateway_id)
            if gateway is None:
                raise MCPError(-32603, "Gateway no longer exists")
            engine = self.state.engine(gateway.policy_engine_arn) if gateway.policy_engine_arn else None
            policies = {p.policy_id: p.statement for p in engine.policies.values()
                        if p.status in ENFORCED_STATUSES and p.enforcement_mode != "LOG_ONLY"} if engine else {}
            served = copy.deepcopy(gateway)
            served.targets = [t for t in served.targets if t.status in SERVED_STATUSES]
            return _View(served, engine is not None, policies), info.principal

    async def policy_failure_gate(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """The incident: an ENFORCE gateway whose role cannot evaluate policies.

        Short-circuits before the handler, so `tools/list` can answer a tool-call
        shaped error as the real gateway does. LOG_ONLY never fails here (the
        reference: a missing permission "fails silently until ENFORCE"). A gateway seeded
        with the second form of the fault (`permission_fault_form: deny_by_default`) passes
        on to the handlers, which then deny by default (`enforced_policies`).
        """
        if ctx.method in ("tools/list", "tools/call") and _info_or_none(ctx) is not None:
            view, _ = self.view(ctx)
            second_form = view.engine_found and view.gateway.faults.permission_fault_form == "deny_by_default"
            if view.enforcing and not second_form and (
                    not view.engine_found or role_check.missing_for_gateway(view.gateway)):
                text = POLICY_FAILED_LIST if ctx.method == "tools/list" else POLICY_FAILED_CALL
                logger.info("gateway %s: policy evaluation failed (%s)", view.gateway.gateway_id, ctx.method)
                return {"content": [{"type": "text", "text": text}], "isError": True}
        return await call_next(ctx)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        view, principal = self.view(ctx)
        tools = visible_tools(view.gateway, principal, enforced_policies(view))
        if not view.gateway.list_pagination:  # disableMcpListToolsPagination: one page, no cursor
            return types.ListToolsResult(tools=tools)
        # The search tool is not one of the gateway's tools: it takes a slot in every page.
        search = [t for t in tools if t.name == SEARCH_TOOL]
        own = [t for t in tools if t.name != SEARCH_TOOL]
        size = max(self.page_size - len(search), 1)
        offset = _decode_cursor(params.cursor if params else None)
        page = search + own[offset : offset + size]
        more = offset + size < len(own)
        return types.ListToolsResult(tools=page, next_cursor=_encode_cursor(offset + size) if more else None)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        view, principal = self.view(ctx)
        gateway = view.gateway
        arguments = dict(params.arguments or {})
        policies = enforced_policies(view)
        if params.name == SEARCH_TOOL and gateway.search_enabled:
            return _search(gateway, principal, policies, arguments)
        found = find_tool(gateway, params.name)
        if found is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        target, tool = found
        if policies is not None:
            decision = authorize_call(policies, principal, params.name, gateway.arn, arguments, tool.input_schema)
            if not decision.allowed:
                return _denial(gateway, decision.determining_policy_ids)
        if target.lambda_arn and not role_check.role_allows(gateway.role_arn, LAMBDA_INVOKE, target.lambda_arn):
            return _lambda_denied(gateway, target.lambda_arn)
        if params.name in gateway.faults.failing_tools:
            return _target_failure(gateway, target)
        return emulate_tool(params.name, arguments)


def enforced_policies(view: _View) -> dict[str, str] | None:
    """The policies deciding this gateway's requests; None when nothing is enforced.

    The second form of the IAM fault (AWS: without the three permissions "all tool calls
    will be denied by default even when you have configured permit policies") decides
    with no policy at all: every call is denied by default and `tools/list` is empty.
    Which form AWS shows where is not documented; the lab shows the one seeded.
    """
    if not view.enforcing:
        return None
    if view.gateway.faults.permission_fault_form == "deny_by_default" and role_check.missing_for_gateway(view.gateway):
        return {}
    return view.policies


def full_name(target: Target, tool: ToolSpec) -> str:
    return f"{target.name}___{tool.name}"


def find_tool(gateway: Gateway, name: str) -> tuple[Target, ToolSpec] | None:
    for target in gateway.targets:
        for tool in target.tools:
            if full_name(target, tool) == name:
                return target, tool
    return None


def visible_tools(gateway: Gateway, principal: Principal, policies: Mapping[str, str] | None) -> list[types.Tool]:
    """The gateway's tools as listed: search first when enabled, then each target's tools.

    `policies` is None when nothing is enforced; otherwise a tool is listed only if
    some request for it could be permitted. The search tool is not one of the
    gateway's own tools and is always listed.
    """
    tools: list[types.Tool] = []
    if gateway.search_enabled:
        tools.append(_search_tool())
    for target in gateway.targets:
        for tool in target.tools:
            name = full_name(target, tool)
            if policies is not None and not could_permit(policies, principal, name, gateway.arn):
                continue
            tools.append(
                types.Tool(name=name, description=tool.description or None, input_schema=dict(tool.input_schema))
            )
    return tools


def emulate_tool(name: str, arguments: Mapping[str, Any]) -> types.CallToolResult:
    """A target's answer, deterministic in (tool, arguments): tests can predict it."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    if name.endswith("___process_refund"):
        refund_id = "rf-" + hashlib.sha256(f"{name}|{canonical}".encode()).hexdigest()[:12]
        payload = {"refundId": refund_id, "status": "PROCESSED", "amount": arguments.get("amount")}
        return types.CallToolResult(content=[types.TextContent(text=json.dumps(payload))])
    return types.CallToolResult(content=[types.TextContent(text=f"{name} called with {canonical}")])


def _search_tool() -> types.Tool:
    return types.Tool(
        name=SEARCH_TOOL,
        description="Search the gateway's tools by what they do.",
        input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    )


def _search(
    gateway: Gateway, principal: Principal, policies: Mapping[str, str] | None, arguments: Mapping[str, Any]
) -> types.CallToolResult:
    """Word match over names and descriptions of the tools this caller could see."""
    words = str(arguments.get("query", "")).lower().split()
    hits = [
        {"name": t.name, "description": t.description or ""}
        for t in visible_tools(gateway, principal, policies)
        if t.name != SEARCH_TOOL and any(w in f"{t.name} {t.description or ''}".lower() for w in words)
    ]
    return types.CallToolResult(content=[types.TextContent(text=json.dumps({"tools": hits}))])


def _denial(gateway: Gateway, forbids: Sequence[str]) -> types.CallToolResult:
    if gateway.faults.denial_shape == "preview":
        bracket = ", ".join(forbids) if forbids else "no determining policies"
        raise MCPError(PREVIEW_DENIED_CODE, f"{_DENIED} [Policy evaluation denied due to {bracket}]")
    if forbids:
        text = f"AuthorizeActionException - {_DENIED} [Policy evaluation denied due to {', '.join(forbids)}]"
    else:
        text = DENIED_NO_DETERMINING if gateway.faults.denial_shape == "no_determining" else DENIED_BY_DEFAULT
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def _lambda_denied(gateway: Gateway, lambda_arn: str) -> types.CallToolResult:
    """The gateway's role may not invoke the target's function: AWS's generic text, or with DEBUG its reason."""
    if gateway.exception_level != "DEBUG":
        return types.CallToolResult(content=[types.TextContent(text=TARGET_FAILED)], is_error=True)
    text = f"{LAMBDA_DENIED} {lambda_arn}"
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True, _meta={"debug": text})


def _target_failure(gateway: Gateway, target: Target) -> types.CallToolResult:
    if gateway.exception_level != "DEBUG":
        return types.CallToolResult(content=[types.TextContent(text=TARGET_FAILED)], is_error=True)
    text = gateway.faults.target_failure_text
    if target.lambda_arn and target.lambda_arn not in text:
        text = f"{text} {target.lambda_arn}"
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True, _meta={"debug": text})


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        offset = int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise MCPError(INVALID_PARAMS, "Invalid cursor") from None
    if kind != "offset" or offset < 0:
        raise MCPError(INVALID_PARAMS, "Invalid cursor")
    return offset


def _info_or_none(ctx: ServerRequestContext[Any, Any]) -> _RequestInfo | None:
    request = ctx.request
    scope = getattr(request, "scope", None)
    info = scope.get(_SCOPE_KEY) if isinstance(scope, dict) else None
    return info if isinstance(info, _RequestInfo) else None


def _info(ctx: ServerRequestContext[Any, Any]) -> _RequestInfo:
    info = _info_or_none(ctx)
    if info is None:
        raise MCPError(-32603, "Request did not come through the gateway front")
    return info


# --- the ASGI side: gateway lookup, faults, inbound auth ------------------------------------


class _Front:
    """Everything the gateway decides before MCP: 404, latency, 429, 401, principal."""

    def __init__(self, state: LabState, issuer: TokenIssuer, manager: StreamableHTTPSessionManager) -> None:
        self.state = state
        self.issuer = issuer
        self.manager = manager
        self.sessions: dict[str, str] = {}  # Mcp-Session-Id -> gateway id that opened it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway_id = _gateway_id(scope, self.state.region)
        with self.state.lock:
            gateway = self.state.gateway(gateway_id)
            gateway = copy.deepcopy(gateway) if gateway is not None and gateway.gateway_id == gateway_id \
                and gateway.status in SERVED_STATUSES else None  # CREATING, DELETING: not (or no longer) served
        if gateway is None:
            await _json(404, {"message": f"Gateway {gateway_id} not found"})(scope, receive, send)
            return
        body = b""
        if scope["method"] == "POST":
            body = await _read_body(receive, MAX_BODY_BYTES)
            if body is None:
                await _json(413, {"message": "Request body too large"})(scope, receive, send)
                return
        rpc_id = _rpc_id(body)
        if gateway.faults.latency_ms > 0:
            await anyio.sleep(gateway.faults.latency_ms / 1000)
        if gateway.faults.throttle:
            await self._throttled(gateway, rpc_id)(scope, receive, send)
            return
        principal = await self._authenticate(gateway, scope, body, rpc_id)
        if isinstance(principal, Response):
            await principal(scope, receive, send)
            return
        negotiated = _negotiate(gateway, scope, body, rpc_id)
        if isinstance(negotiated, Response):
            await negotiated(scope, receive, send)
            return
        body = negotiated
        session = _header(scope, b"mcp-session-id")
        if session is not None and self.sessions.get(session, gateway_id) != gateway_id:
            await _json(404, _rpc_error(None, -32600, "Session not found"))(scope, receive, send)
            return
        scope[_SCOPE_KEY] = _RequestInfo(gateway_id, principal)
        if "gateway_id" not in scope.get("path_params", {}):
            # Routed by Host: the Host was an AgentCore gateway's, checked above; the SDK's DNS-rebinding
            # guard knows only loopback names, so it sees the address the request actually reached.
            server = scope.get("server") or ("127.0.0.1", 80)
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"] + [
                (b"host", f"{server[0]}:{server[1]}".encode())]
        await self.manager.handle_request(scope, _replay(body, receive), self._watch_sessions(gateway_id, send))
        if session is not None and scope["method"] == "DELETE":
            self.sessions.pop(session, None)

    def _watch_sessions(self, gateway_id: str, send: Send) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"mcp-session-id":
                        self.sessions[value.decode("latin-1")] = gateway_id
            await send(message)

        return watched

    def _throttled(self, gateway: Gateway, rpc_id: Any) -> Response:
        headers = {"x-amzn-ErrorType": "ThrottlingException"}
        if gateway.faults.throttle_retry_after_s is not None:
            headers["Retry-After"] = _seconds(gateway.faults.throttle_retry_after_s)
        return _json(429, _rpc_error(rpc_id, -32000, "Rate exceeded"), headers)

    async def _authenticate(self, gateway: Gateway, scope: Scope, body: bytes, rpc_id: Any) -> Principal | Response:
        kind = gateway.authorizer_type
        if kind == "NONE":
            return ANONYMOUS
        if kind == "AWS_IAM":
            return self._sigv4(scope, body, rpc_id)
        return self._bearer(gateway, scope)

    def _bearer(self, gateway: Gateway, scope: Scope) -> Principal | Response:
        prefix = f"/{gateway.gateway_id}" if "gateway_id" in scope.get("path_params", {}) else ""
        challenge = f'Bearer resource_metadata="{_base_url(scope)}{prefix}' \
            '/.well-known/oauth-protected-resource"'
        header = (_header(scope, b"authorization") or "").strip()
        if not header:
            return _auth_failure("Missing Authentication Token", challenge)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _auth_failure("Invalid Bearer token", challenge)
        try:
            claims = self.issuer.verify(token.strip())
        except TokenError as exc:
            logger.info("gateway %s: bearer token rejected: %s", gateway.gateway_id, exc.reason)
            return _auth_failure("Invalid Bearer token", challenge)
        if gateway.authorizer_type == "CUSTOM_JWT":
            reason = jwt_config_rejection(gateway.authorizer_configuration, claims)
            if reason is not None:
                logger.info("gateway %s: bearer token rejected: %s", gateway.gateway_id, reason)
                return _auth_failure("Invalid Bearer token", challenge)
        return Principal.oauth_user(claims)

    def _sigv4(self, scope: Scope, body: bytes, rpc_id: Any) -> Principal | Response:
        from probe.lab.sigv4 import verify_sigv4  # the sibling verifier; only AWS_IAM gateways need it

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        url = f"{_base_url(scope)}{path}" + (f"?{query}" if query else "")
        keys = _AccessKeys(self.state.account)
        verdict = verify_sigv4(
            scope["method"], url, headers, body, secret_for=keys.secret_for, region=self.state.region
        )
        if not verdict.ok:
            logger.info("SigV4 rejected: %s", verdict.reason)
            if verdict.reason.startswith("missing Authorization"):
                return _auth_failure("Missing Authentication Token")
            if verdict.reason in ("request expired", "request not yet valid"):
                # As reported from the field: expired SigV4 answers -32602, not 401.
                return _json(200, _rpc_error(rpc_id, INVALID_PARAMS, "Invalid request parameters"))
            if verdict.reason == "unknown access key":
                return _auth_failure("The security token included in the request is invalid.")
            return _auth_failure("The request signature we calculated does not match the signature you provided.")
        arn = keys.caller_arn(verdict.access_key_id or "", _header(scope, b"x-amz-security-token"))
        if arn is None:
            return _auth_failure("The security token included in the request is invalid.")
        return Principal.iam_entity(arn)

    async def protected_resource(self, request: Request) -> Response:
        """RFC 9728 metadata, where the 401's `WWW-Authenticate` points."""
        gateway = self.state.gateway(_gateway_id(request.scope, self.state.region))
        if gateway is None or gateway.authorizer_type not in ("CUSTOM_JWT", "AUTHENTICATE_ONLY"):
            return _json(404, {"message": "Not Found"})
        base = _base_url(request.scope)
        config = (gateway.authorizer_configuration or {}).get("customJWTAuthorizer", {})
        body: dict[str, Any] = {
            "resource": f"{base}/{gateway.gateway_id}/mcp" if "gateway_id" in request.path_params else f"{base}/mcp",
            "authorization_servers": [self.issuer.issuer_url],
            "bearer_methods_supported": ["header"],
        }
        if config.get("allowedScopes"):
            body["scopes_supported"] = list(config["allowedScopes"])
        return JSONResponse(body)


def gateway_host(gateway_id: str, region: str) -> str:
    """The host AWS serves a gateway on (its URL is `https://{host}/mcp`)."""
    return f"{gateway_id}.gateway.bedrock-agentcore.{region}.amazonaws.com"


def _gateway_id(scope: Scope, region: str) -> str:
    """The gateway a request is for: from the path (`/{id}/mcp`) or, as on AWS, from the Host.

    A Host of another region names no gateway of this (one-region) lab; "" then.
    """
    from_path = scope.get("path_params", {}).get("gateway_id")
    if from_path is not None:
        return str(from_path)
    host = (_header(scope, b"host") or "").lower().split(":", 1)[0]  # an AgentCore host is a name, never IPv6
    gateway_id, sep, rest = host.partition(".")
    return gateway_id if sep and rest == f"gateway.bedrock-agentcore.{region}.amazonaws.com" else ""


def _negotiate(gateway: Gateway, scope: Scope, body: bytes, rpc_id: Any) -> bytes | Response:
    """Hold the gateway to its `protocolConfiguration.mcp.supportedVersions`.

    An `MCP-Protocol-Version` header naming another version is refused (HTTP 400, as MCP
    says for an unsupported header version); an `initialize` asking for another version
    is answered with the latest version the gateway supports, as MCP's negotiation says a
    server must, by handing the SDK the request with that version.
    """
    versions = gateway.supported_versions
    if not versions:
        return body
    header = _header(scope, b"mcp-protocol-version")
    if header is not None and header not in versions:
        return _unsupported(rpc_id, header, versions)
    try:
        message = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return body
    if not isinstance(message, dict) or message.get("method") != "initialize":
        return body
    params = message.get("params")
    requested = params.get("protocolVersion") if isinstance(params, dict) else None
    if not isinstance(requested, str) or requested in versions:
        return body
    offered = [v for v in KNOWN_PROTOCOL_VERSIONS if v in versions and v in HANDSHAKE_PROTOCOL_VERSIONS]
    if not offered:
        return _unsupported(rpc_id, requested, versions)
    message["params"] = {**params, "protocolVersion": offered[-1]}
    rewritten = json.dumps(message).encode()
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"] + [
        (b"content-length", str(len(rewritten)).encode())]
    return rewritten


def _unsupported(rpc_id: Any, requested: str, versions: Sequence[str]) -> Response:
    rejection = unsupported_protocol_version_rejection(requested, list(versions))
    error: dict[str, Any] = {"code": INVALID_PARAMS, "message": "Unsupported protocol version",
                             "data": {"supported": list(versions), "requested": requested}}
    if rejection is not None:
        error = {"code": rejection.code, "message": rejection.message, "data": rejection.data}
    return _json(400, {"jsonrpc": "2.0", "id": rpc_id, "error": error})


def jwt_config_rejection(configuration: Mapping[str, Any] | None, claims: Mapping[str, Any]) -> str | None:
    """Why a verified token does not satisfy the gateway's customJWTAuthorizer, or None.

    `discoveryUrl` is not followed: the lab has one issuer, and `verify` already
    pinned the signature and issuer to it. Each list, when set and non-empty, must
    match: `aud` (string or list) against allowedAudience, `client_id` against
    allowedClients, and at least one token scope against allowedScopes.
    """
    config = (configuration or {}).get("customJWTAuthorizer") or {}
    audiences = config.get("allowedAudience") or []
    if audiences:
        aud = claims.get("aud")
        token_auds = [aud] if isinstance(aud, str) else list(aud or [])
        if not set(token_auds) & set(audiences):
            return "audience not allowed"
    clients = config.get("allowedClients") or []
    if clients and claims.get("client_id") not in clients:
        return "client not allowed"
    scopes = config.get("allowedScopes") or []
    if scopes and not set(str(claims.get("scope", "")).split()) & set(scopes):
        return "scope not allowed"
    return None


class _AccessKeys:
    """SigV4 secrets and caller ARNs from moto's IAM and STS, plus the lab's fake default key."""

    def __init__(self, account: str) -> None:
        self.account = account

    def secret_for(self, access_key_id: str) -> str | None:
        if access_key_id == LAB_OPERATOR_KEY:
            return LAB_OPERATOR_SECRET
        found = self._user_key(access_key_id) or self._assumed_role(access_key_id)
        return found[0] if found else None

    def caller_arn(self, access_key_id: str, session_token: str | None) -> str | None:
        if access_key_id == LAB_OPERATOR_KEY:
            return LAB_OPERATOR_ARN
        user = self._user_key(access_key_id)
        if user is not None:
            return user[1] if session_token is None else None
        role = self._assumed_role(access_key_id)
        if role is not None and session_token is not None and secrets.compare_digest(role[2], session_token):
            return role[1]
        return None

    def _user_key(self, access_key_id: str) -> tuple[str, str] | None:
        backend = role_check.lab_iam_backend(self.account)
        for user in list(backend.users.values()):
            for key in user.access_keys:
                if key.access_key_id == access_key_id and key.status == "Active":
                    return key.secret_access_key, user.arn
        return None

    def _assumed_role(self, access_key_id: str) -> tuple[str, str, str] | None:
        from moto.sts.models import sts_backends

        for role in list(sts_backends[self.account]["aws"].assumed_roles):
            if role.access_key_id == access_key_id:
                return role.secret_access_key, role.arn, role.session_token
        return None


# --- small ASGI helpers ---------------------------------------------------------------------


class _AwsRequestIds:
    """Stamps every HTTP answer with AWS's request and trace ids, as a support case needs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4()).encode()
        trace_id = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}".encode()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _AWS_ID_HEADERS]
                headers += [(b"x-amzn-requestid", request_id), (b"x-amzn-trace-id", trace_id)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


_AWS_ID_HEADERS = (b"x-amzn-requestid", b"x-amzn-trace-id")


def _auth_failure(message: str, challenge: str | None = None) -> Response:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return _json(401, _rpc_error(0, AUTH_ERROR_CODE, message), headers)


def _rpc_error(rpc_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _base_url(scope: Scope) -> str:
    host = _header(scope, b"host")
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _rpc_id(body: bytes) -> Any:
    """The JSON-RPC id of a single request body, for error bodies the front answers itself."""
    if not body:
        return None
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    rpc_id = decoded.get("id") if isinstance(decoded, dict) else None
    return rpc_id if isinstance(rpc_id, str | int) and not isinstance(rpc_id, bool) else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A `receive` that yields the already-read body once, then defers to the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
