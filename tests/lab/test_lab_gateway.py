"""The emulated gateways over real loopback HTTP, on the shared `lab` fixture: httpx2 and the MCP SDK client.

Gateways and engines are put straight into the running lab's state (no console, no
roles) where a test needs a shape the console would not make; roles are written with
boto3 into the lab's IAM (moto), where the gateway's role check reads them.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import botocore.auth
import httpx2
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from probe.lab.gateway import (
    DENIED_BY_DEFAULT,
    POLICY_FAILED_CALL,
    POLICY_FAILED_LIST,
    SEARCH_TOOL,
    TARGET_FAILED,
)
from probe.lab.server import Lab
from probe.lab.state import Faults, Gateway, Policy, PolicyEngine, Target, ToolSpec, new_id

ACCEPT = "application/json, text/event-stream"
LEGACY_VERSIONS = ["2025-03-26", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
PAGE_SIZE = 2
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


class Gateways:
    """The shared lab, with helpers that put gateways and engines straight into its state."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.state = lab.state
        self.issuer = lab.issuer
        self.base = lab.gateway_base_url
        self.iam = lab.client("iam")
        # Gateways put into the state get a role that may invoke their Lambda targets' functions (as a
        # working gateway's must), and nothing else.
        name = new_id("gw-test-invoker")
        self.invoker_role = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        self.iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]}))

    def url(self, gateway: Gateway | str) -> str:
        return self.lab.gateway_url(gateway if isinstance(gateway, str) else gateway.gateway_id)

    def add_gateway(self, *, role_arn: str | None = None, **kw: Any) -> Gateway:
        gid = new_id("gw")
        role_arn = role_arn or self.invoker_role
        targets = kw.pop("targets", None) or default_targets()
        g = Gateway(gateway_id=gid, name=gid, role_arn=role_arn, targets=targets, **kw)
        with self.state.lock:
            self.state.gateways[gid] = g
        return g

    def add_engine(self, policies: dict[str, str]) -> PolicyEngine:
        eid = new_id("pe")
        engine = PolicyEngine(engine_id=eid, name=eid,
                              policies={pid: Policy(pid, pid, stmt) for pid, stmt in policies.items()})
        with self.state.lock:
            self.state.engines[eid] = engine
        return engine


def default_targets() -> list[Target]:
    refund_schema = {"type": "object", "properties": {"amount": {"type": "integer"}, "orderId": {"type": "string"}}}
    return [
        Target("t-1", "RefundTarget", [
            ToolSpec("process_refund", "Refund an order", refund_schema),
            ToolSpec("get_refund_status", "Look up a refund"),
        ], lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:refunds"),
        Target("t-2", "OrdersTarget", [
            ToolSpec("list_orders", "List a customer's orders"),
            ToolSpec("get_order", "Fetch one order"),
            ToolSpec("cancel_order", "Cancel an order"),
        ]),
    ]


ALL_TOOLS = {
    "RefundTarget___process_refund", "RefundTarget___get_refund_status",
    "OrdersTarget___list_orders", "OrdersTarget___get_order", "OrdersTarget___cancel_order",
}


@pytest.fixture(scope="module")
def gw(lab: Lab) -> Iterator[Gateways]:
    """The module's lab with tools/list pages of PAGE_SIZE, so that five tools take three pages."""
    before = lab.page_size
    lab.page_size = PAGE_SIZE
    yield Gateways(lab)
    lab.page_size = before


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


# --- raw JSON-RPC helpers -------------------------------------------------------------------


class Mcp:
    """A hand-rolled MCP client: every HTTP answer stays visible."""

    def __init__(self, http: httpx2.Client, url: str, version: str = "2025-06-18",
                 headers: dict[str, str] | None = None) -> None:
        self.http, self.url, self.version = http, url, version
        self.headers = dict(headers or {})
        self.session: str | None = None
        self.next_id = 1

    def post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx2.Response:
        h = {"Accept": ACCEPT, "Content-Type": "application/json", **self.headers, **(headers or {})}
        if self.session:
            h["Mcp-Session-Id"] = self.session
        if self.session or self.version == MODERN:
            h["MCP-Protocol-Version"] = self.version
        return self.http.post(self.url, content=json.dumps(payload), headers=h)

    def initialize(self) -> httpx2.Response:
        r = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": self.version, "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}})
        if r.status_code == 200:
            self.session = r.headers.get("mcp-session-id")
            ack = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert ack.status_code == 202
        return r

    def request(self, method: str, params: dict[str, Any] | None = None) -> httpx2.Response:
        rpc_id = self.next_id
        self.next_id += 1
        params = dict(params or {})
        headers: dict[str, str] = {}
        if self.version == MODERN:
            params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN,
                               "io.modelcontextprotocol/clientCapabilities": {}}
            headers["Mcp-Method"] = method
            if method == "tools/call":
                headers["Mcp-Name"] = params["name"]
        return self.post({"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}, headers)

    def list_all(self) -> list[str]:
        names: list[str] = []
        cursor: str | None = None
        for _ in range(20):
            r = self.request("tools/list", {"cursor": cursor} if cursor else {})
            result = body(r)["result"]
            names += [t["name"] for t in result["tools"]]
            cursor = result.get("nextCursor")
            if not cursor:
                return names
        raise AssertionError("paging did not end")

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> httpx2.Response:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}})


def body(r: httpx2.Response) -> dict[str, Any]:
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    return json.loads(r.text)


def connected(http: httpx2.Client, url: str, version: str = "2025-06-18", **kw: Any) -> Mcp:
    m = Mcp(http, url, version, **kw)
    if version != MODERN:
        r = m.initialize()
        assert r.status_code == 200, r.text
    return m


def text_of(r: httpx2.Response) -> str:
    return body(r)["result"]["content"][0]["text"]


# --- IAM helpers ----------------------------------------------------------------------------


def role_with_get_gateway_only(iam: Any, name: str) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="console-default", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "bedrock-agentcore:GetGateway",
                       "Resource": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/gw-*"}]}))
    return arn


def grant_policy_evaluation(iam: Any, role_name: str, gateway: Gateway) -> None:
    iam.put_role_policy(
        RoleName=role_name, PolicyName="policy-engine", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "EvaluatePoliciesForGateway", "Effect": "Allow",
                 "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
                 "Resource": [gateway.arn, gateway.policy_engine_arn]},
                {"Sid": "GetPolicyEngineForValidation", "Effect": "Allow",
                 "Action": "bedrock-agentcore:GetPolicyEngine", "Resource": gateway.policy_engine_arn},
                {"Sid": "InvokeTargetFunctions", "Effect": "Allow", "Action": "lambda:InvokeFunction",
                 "Resource": "*"},  # the Lambda target's own need, besides policy evaluation
            ]}))


def full_access_role(iam: Any, name: str, condition: dict[str, Any] | None = None) -> str:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    statement: dict[str, Any] = {"Effect": "Allow", "Action": ["bedrock-agentcore:*", "lambda:InvokeFunction"],
                                 "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [statement]}))
    return arn


def policy_gateway(gw: Gateways, policies: dict[str, str], mode: str = "ENFORCE", **kw: Any) -> Gateway:
    engine = gw.add_engine({})
    g = gw.add_gateway(role_arn=full_access_role(gw.iam, f"role-{uuid.uuid4().hex[:8]}"),
                        policy_engine_arn=engine.arn, policy_engine_mode=mode, **kw)
    with gw.state.lock:
        for pid, stmt in policies.items():
            engine.policies[pid] = Policy(pid, pid, stmt.replace("GATEWAY_ARN", g.arn))
    return g


REFUND_UNDER_500 = ('permit(principal, action == AgentCore::Action::"RefundTarget___process_refund", '
                    'resource == AgentCore::Gateway::"GATEWAY_ARN") when { context.input.amount < 500 };')


# --- basics: routing, headers, paging, versions ---------------------------------------------


def test_unknown_gateway_answers_404_with_aws_ids(gw: Gateways, http: httpx2.Client) -> None:
    r = Mcp(http, gw.url("gw-doesnotexist")).initialize()
    assert r.status_code == 404
    assert "gw-doesnotexist" in body(r)["message"]
    uuid.UUID(r.headers["x-amzn-requestid"])
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", r.headers["x-amzn-trace-id"])


def test_every_answer_carries_a_fresh_request_id(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(gw.add_gateway()))
    ids = {m.request("tools/list").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3


def test_tools_list_pages_with_next_cursor(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(gw.add_gateway()))
    first = body(m.request("tools/list"))["result"]
    assert len(first["tools"]) == PAGE_SIZE and first["nextCursor"]
    names = m.list_all()
    assert len(names) == len(ALL_TOOLS) and set(names) == ALL_TOOLS
    bad = body(m.request("tools/list", {"cursor": "not-a-cursor"}))
    assert bad["error"]["code"] == -32602


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_handshake_versions_open_a_session_and_serve(gw: Gateways, http: httpx2.Client, version: str) -> None:
    m = Mcp(http, gw.url(gw.add_gateway()), version)
    r = m.initialize()
    assert body(r)["result"]["protocolVersion"] == version
    assert m.session
    assert set(m.list_all()) == ALL_TOOLS
    assert text_of(m.call("OrdersTarget___get_order", {"orderId": "o-1"})) == \
        'OrdersTarget___get_order called with {"orderId":"o-1"}'
    # no session: only initialize may open one
    m.session = None
    assert m.request("tools/list").status_code == 400


def test_stateless_2026_07_28_needs_no_initialize(gw: Gateways, http: httpx2.Client) -> None:
    m = Mcp(http, gw.url(gw.add_gateway()), MODERN)
    r = m.request("tools/list")
    assert r.status_code == 200 and "mcp-session-id" not in r.headers
    assert set(m.list_all()) == ALL_TOOLS
    result = body(m.call("RefundTarget___process_refund", {"amount": 10}))["result"]
    assert result["isError"] is False
    assert json.loads(result["content"][0]["text"])["refundId"].startswith("rf-")


def test_gateway_created_after_start_is_served(gw: Gateways, http: httpx2.Client) -> None:
    gid = new_id("gw")
    assert Mcp(http, gw.url(gid)).initialize().status_code == 404
    with gw.state.lock:
        gw.state.gateways[gid] = Gateway(gid, gid, "arn:aws:iam::123456789012:role/r", targets=default_targets())
    assert set(connected(http, gw.url(gid)).list_all()) == ALL_TOOLS


def test_refund_ids_are_deterministic_per_arguments(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(gw.add_gateway()))

    def refund(args: dict[str, Any]) -> str:
        return json.loads(text_of(m.call("RefundTarget___process_refund", args)))["refundId"]

    assert refund({"amount": 5, "orderId": "a"}) == refund({"orderId": "a", "amount": 5})
    assert refund({"amount": 5, "orderId": "a"}) != refund({"amount": 6, "orderId": "a"})


def test_unknown_tool_is_invalid_params(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(gw.add_gateway()))
    err = body(m.call("Nope___nothing"))["error"]
    assert err == {"code": -32602, "message": "Unknown tool: Nope___nothing"}


def test_search_tool_is_listed_first_and_searches(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(gw.add_gateway(search_enabled=True)))
    names = m.list_all()  # the search tool takes a slot in every page: 1 own tool per page of 2
    assert names[0] == SEARCH_TOOL and set(names) - {SEARCH_TOOL} == ALL_TOOLS
    assert names.count(SEARCH_TOOL) == len(ALL_TOOLS)
    hits = json.loads(text_of(m.call(SEARCH_TOOL, {"query": "refund"})))["tools"]
    assert {h["name"] for h in hits} == {"RefundTarget___process_refund", "RefundTarget___get_refund_status"}
    plain = connected(http, gw.url(gw.add_gateway()))
    assert body(plain.call(SEARCH_TOOL, {"query": "refund"}))["error"]["code"] == -32602


def test_session_of_one_gateway_is_not_valid_on_another(gw: Gateways, http: httpx2.Client) -> None:
    a = connected(http, gw.url(gw.add_gateway()))
    b = Mcp(http, gw.url(gw.add_gateway()))
    b.session = a.session
    assert b.request("tools/list").status_code == 404
    assert a.request("tools/list").status_code == 200
    ended = http.delete(a.url, headers={"Mcp-Session-Id": a.session or "", "MCP-Protocol-Version": a.version})
    assert ended.status_code == 200
    assert a.request("tools/list").status_code == 404


def test_dns_rebinding_protection_rejects_foreign_host(gw: Gateways, http: httpx2.Client) -> None:
    m = Mcp(http, gw.url(gw.add_gateway()), headers={"Host": "evil.example:80"})
    assert m.initialize().status_code in (403, 421)


def test_sdk_client_lists_and_calls(gw: Gateways) -> None:
    """The official client (legacy handshake and stateless 2026-07-28) accepts what the lab answers."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    url = gw.url(gw.add_gateway(authorizer_type="CUSTOM_JWT"))
    token = gw.issuer.issue(gw.issuer.default_client.client_id)

    async def run(mode: str) -> tuple[set[str], str]:
        http_client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        async with http_client, Client(streamable_http_client(url, http_client=http_client), mode=mode) as client:
            names: set[str] = set()
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                names |= {t.name for t in page.tools}
                cursor = page.next_cursor
                if not cursor:
                    break
            result = await client.call_tool("RefundTarget___process_refund", {"amount": 42})
            return names, result.content[0].text

    for mode in ("legacy", MODERN):
        names, text = anyio.run(run, mode)
        assert names == ALL_TOOLS
        assert json.loads(text)["amount"] == 42


# --- OAuth token endpoint and CUSTOM_JWT ----------------------------------------------------


def fetch_token(gw: Gateways, http: httpx2.Client, *, basic: bool = True, secret: str | None = None,
                **form: str) -> httpx2.Response:
    client = gw.issuer.default_client
    data = {"grant_type": "client_credentials", **form}
    headers = {}
    if basic:
        raw = f"{client.client_id}:{secret or client.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        data.update(client_id=client.client_id, client_secret=secret or client.client_secret)
    return http.post(f"{gw.base}/oauth2/token", data=data, headers=headers)


def test_token_endpoint_issues_and_refuses_per_rfc6749(gw: Gateways, http: httpx2.Client) -> None:
    for basic in (True, False):
        r = fetch_token(gw, http, basic=basic)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        claims = gw.issuer.verify(r.json()["access_token"])
        assert claims["sub"] == claims["client_id"] == gw.issuer.default_client.client_id
        assert claims["iss"] == gw.base and claims["exp"] > time.time() and claims["aud"]
        assert "x-amzn-requestid" in r.headers
    bad = fetch_token(gw, http, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert fetch_token(gw, http, grant_type="password").json()["error"] == "unsupported_grant_type"
    r = fetch_token(gw, http, scope="admin/everything")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert "wrong" not in bad.text
    conf = http.get(gw.issuer.discovery_url).json()
    assert conf["token_endpoint"] == f"{gw.base}/oauth2/token"
    assert http.get(conf["jwks_uri"]).json()["keys"][0]["kty"] == "RSA"


JWT_MISSING = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "Missing Authentication Token"}}
JWT_INVALID = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "Invalid Bearer token"}}


def test_custom_jwt_accepts_a_token_from_the_endpoint(gw: Gateways, http: httpx2.Client) -> None:
    g = gw.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": gw.issuer.discovery_url, "allowedClients": [gw.issuer.default_client.client_id],
        "allowedAudience": ["agentcore-lab"]}})
    token = fetch_token(gw, http).json()["access_token"]
    m = connected(http, gw.url(g), headers={"Authorization": f"Bearer {token}"})
    assert set(m.list_all()) == ALL_TOOLS


def test_custom_jwt_refusals(gw: Gateways, http: httpx2.Client) -> None:
    g = gw.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": gw.issuer.discovery_url, "allowedAudience": ["agentcore-lab"]}})
    cid = gw.issuer.default_client.client_id
    missing = Mcp(http, gw.url(g)).initialize()
    assert missing.status_code == 401 and body(missing) == JWT_MISSING
    assert missing.headers["www-authenticate"] == \
        f'Bearer resource_metadata="{gw.base}/{g.gateway_id}/.well-known/oauth-protected-resource"'
    meta = http.get(f"{gw.base}/{g.gateway_id}/.well-known/oauth-protected-resource").json()
    assert meta["resource"] == gw.url(g) and meta["authorization_servers"] == [gw.base]
    good = gw.issuer.issue(cid)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token in ("garbage", tampered, gw.issuer.issue(cid, ttl_s=-60), gw.issuer.issue(cid, audience="other")):
        r = Mcp(http, gw.url(g), headers={"Authorization": f"Bearer {token}"}).initialize()
        assert r.status_code == 401 and body(r) == JWT_INVALID
        assert "resource_metadata" in r.headers["www-authenticate"]
    # a valid session, then a call with an expired token on it
    m = connected(http, gw.url(g), headers={"Authorization": f"Bearer {good}"})
    m.headers["Authorization"] = f"Bearer {gw.issuer.issue(cid, ttl_s=-1)}"
    assert m.request("tools/list").status_code == 401


def test_custom_jwt_allowed_clients(gw: Gateways, http: httpx2.Client) -> None:
    gw.issuer.add_client("other-client", "other-secret-value")
    g = gw.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": gw.issuer.discovery_url, "allowedClients": ["other-client"]}})
    r = Mcp(http, gw.url(g), headers={"Authorization": f"Bearer {gw.issuer.issue('lab-client')}"}).initialize()
    assert body(r) == JWT_INVALID
    ok = Mcp(http, gw.url(g), headers={"Authorization": f"Bearer {gw.issuer.issue('other-client')}"})
    assert ok.initialize().status_code == 200


# --- AWS_IAM with SigV4 ---------------------------------------------------------------------


def signed(url: str, payload: dict[str, Any], key: str, secret: str, token: str | None = None,
           session: str | None = None, version: str | None = None) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(payload).encode()
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if session:
        headers["Mcp-Session-Id"] = session
    if version:
        headers["MCP-Protocol-Version"] = version
    req = AWSRequest(method="POST", url=url, data=data, headers=headers)
    botocore.auth.SigV4Auth(Credentials(key, secret, token), "bedrock-agentcore", "us-east-1").add_auth(req)
    return data, dict(req.headers.items())


def iam_session(http: httpx2.Client, url: str, key: str, secret: str, token: str | None = None) -> httpx2.Response:
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
    data, headers = signed(url, init, key, secret, token)
    r = http.post(url, content=data, headers=headers)
    if r.status_code != 200 or "mcp-session-id" not in r.headers:
        return r
    session = r.headers["mcp-session-id"]
    for payload in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                    {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}):
        data, headers = signed(url, payload, key, secret, token, session, "2025-06-18")
        r = http.post(url, content=data, headers=headers)
    return r


def test_aws_iam_sigv4_with_the_default_and_a_moto_user_key(gw: Gateways, http: httpx2.Client) -> None:
    iam = gw.iam
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = "arn:aws:iam::123456789012:user/alice"
    # only alice may see the refund tool: proves the principal is her ARN
    g = policy_gateway(gw, {"alice-only": REFUND_UNDER_500.replace("permit(principal,",
                             f'permit(principal == AgentCore::IamEntity::"{alice}",')},
                       authorizer_type="AWS_IAM")
    url = gw.url(g)
    r = iam_session(http, url, key["AccessKeyId"], key["SecretAccessKey"])
    assert r.status_code == 200 and [t["name"] for t in body(r)["result"]["tools"]] == ["RefundTarget___process_refund"]
    r = iam_session(http, url, "testing", "testing")
    assert r.status_code == 200 and body(r)["result"]["tools"] == []


def test_aws_iam_refusals(gw: Gateways, http: httpx2.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    url = gw.url(gw.add_gateway(authorizer_type="AWS_IAM"))
    r = iam_session(http, url, "testing", "not-the-secret")
    assert r.status_code == 401 and body(r)["error"]["code"] == -32001
    assert "signature" in body(r)["error"]["message"]
    assert "www-authenticate" not in r.headers
    r = iam_session(http, url, "AKIAUNKNOWNUNKNOWN00", "x")
    assert r.status_code == 401
    missing = Mcp(http, url).initialize()
    assert missing.status_code == 401 and body(missing)["error"]["message"] == "Missing Authentication Token"
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
    expired = iam_session(http, url, "testing", "testing")
    assert body(expired)["error"] == {"code": -32602, "message": "Invalid request parameters"}
    assert body(expired)["id"] == 0


# --- policy: the incident, ENFORCE, LOG_ONLY ------------------------------------------------


def test_incident_role_without_policy_permissions(gw: Gateways, http: httpx2.Client) -> None:
    role_name = f"console-role-{uuid.uuid4().hex[:8]}"
    engine = gw.add_engine({})
    g = gw.add_gateway(role_arn=role_with_get_gateway_only(gw.iam, role_name), policy_engine_arn=engine.arn,
                        policy_engine_mode="ENFORCE")
    with gw.state.lock:
        engine.policies["p1"] = Policy("p1", "p1", REFUND_UNDER_500.replace("GATEWAY_ARN", g.arn))
    m = connected(http, gw.url(g))
    r = m.request("tools/list")
    assert r.status_code == 200
    assert body(r) == {"jsonrpc": "2.0", "id": json.loads(r.request.content)["id"],
                       "result": {"content": [{"type": "text", "text": POLICY_FAILED_LIST}], "isError": True}}
    call = body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]
    assert call == {"content": [{"type": "text", "text": POLICY_FAILED_CALL}], "isError": True}
    # stateless too
    assert text_of(Mcp(http, gw.url(g), MODERN).request("tools/list")) == POLICY_FAILED_LIST
    # LOG_ONLY with the same role: nothing is enforced, nothing fails
    with gw.state.lock:
        g.policy_engine_mode = "LOG_ONLY"
    assert set(m.list_all()) == ALL_TOOLS
    with gw.state.lock:
        g.policy_engine_mode = "ENFORCE"
    grant_policy_evaluation(gw.iam, role_name, g)
    assert m.list_all() == ["RefundTarget___process_refund"]
    assert body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]["isError"] is False


def test_role_allowed_only_in_its_region_can_evaluate_policies(gw: Gateways, http: httpx2.Client) -> None:
    """bedrock-agentcore:* only when aws:RequestedRegion is us-east-1: the real service (and the
    probe's iam check) say OK for a us-east-1 gateway, so the lab must too; another region fails."""
    def gateway_with(condition: dict[str, Any]) -> Gateway:
        engine = gw.add_engine({"p1": "permit(principal, action, resource);"})
        role = full_access_role(gw.iam, f"region-role-{uuid.uuid4().hex[:8]}", condition)
        return gw.add_gateway(role_arn=role, policy_engine_arn=engine.arn, policy_engine_mode="ENFORCE")

    here = connected(http, gw.url(gateway_with({"StringEquals": {"aws:RequestedRegion": "us-east-1"}})))
    assert set(here.list_all()) == ALL_TOOLS
    elsewhere = connected(http, gw.url(gateway_with({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})))
    assert text_of(elsewhere.request("tools/list")) == POLICY_FAILED_LIST


def test_enforce_without_policies_lists_nothing(gw: Gateways, http: httpx2.Client) -> None:
    m = connected(http, gw.url(policy_gateway(gw, {})))
    assert body(m.request("tools/list"))["result"] == {"tools": []}
    assert text_of(m.call("OrdersTarget___get_order")) == DENIED_BY_DEFAULT


def test_enforce_permit_lists_and_allows_within_its_condition(gw: Gateways, http: httpx2.Client) -> None:
    g = policy_gateway(gw, {"refund-small": REFUND_UNDER_500})
    m = connected(http, gw.url(g))
    assert m.list_all() == ["RefundTarget___process_refund"]
    ok = body(m.call("RefundTarget___process_refund", {"amount": 100}))["result"]
    assert ok["isError"] is False and json.loads(ok["content"][0]["text"])["amount"] == 100
    denied = body(m.call("RefundTarget___process_refund", {"amount": 900}))["result"]
    assert denied == {"content": [{"type": "text", "text": DENIED_BY_DEFAULT}], "isError": True}
    with gw.state.lock:
        g.faults.denial_shape = "preview"
    err = body(m.call("RefundTarget___process_refund", {"amount": 900}))["error"]
    assert err == {"code": -32002, "message": "Tool Execution Denied: Tool call not allowed due to policy "
                   "enforcement [Policy evaluation denied due to no determining policies]"}


def test_forbid_names_its_policy_in_both_shapes(gw: Gateways, http: httpx2.Client) -> None:
    g = policy_gateway(gw, {
        "allow-all": "permit(principal, action, resource);",
        "no-cancel": 'forbid(principal, action == AgentCore::Action::"OrdersTarget___cancel_order", resource);',
    })
    m = connected(http, gw.url(g))
    assert set(m.list_all()) == ALL_TOOLS - {"OrdersTarget___cancel_order"}
    assert text_of(m.call("OrdersTarget___cancel_order")) == (
        "AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement "
        "[Policy evaluation denied due to no-cancel]")
    with gw.state.lock:
        g.faults.denial_shape = "preview"
    assert body(m.call("OrdersTarget___cancel_order"))["error"]["message"].endswith(
        "[Policy evaluation denied due to no-cancel]")


def test_jwt_claims_reach_cedar_as_tags(gw: Gateways, http: httpx2.Client) -> None:
    gw.issuer.add_client("support-bot", "support-secret-1", scopes=["refunds/write"])
    g = policy_gateway(gw, {"scoped": 'permit(principal is AgentCore::OAuthUser, action, resource) '
                             'when { principal.getTag("scope") like "*refunds/write*" };'},
                       authorizer_type="CUSTOM_JWT")
    bot = connected(http, gw.url(g), headers={"Authorization": f"Bearer {gw.issuer.issue('support-bot')}"})
    assert set(bot.list_all()) == ALL_TOOLS
    plain = connected(http, gw.url(g), headers={"Authorization": f"Bearer {gw.issuer.issue('lab-client')}"})
    assert plain.list_all() == []


def test_log_only_never_enforces(gw: Gateways, http: httpx2.Client) -> None:
    g = policy_gateway(gw, {"deny-all": "forbid(principal, action, resource);"}, mode="LOG_ONLY")
    m = connected(http, gw.url(g))
    assert set(m.list_all()) == ALL_TOOLS
    assert body(m.call("OrdersTarget___cancel_order"))["result"]["isError"] is False


# --- faults -----------------------------------------------------------------------------------


def test_throttle_answers_429_with_retry_after(gw: Gateways, http: httpx2.Client) -> None:
    g = gw.add_gateway()
    m = connected(http, gw.url(g))
    with gw.state.lock:
        g.faults.throttle = True
        g.faults.throttle_retry_after_s = 2
    r = m.request("tools/list")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert body(r) == {"jsonrpc": "2.0", "id": json.loads(r.request.content)["id"],
                       "error": {"code": -32000, "message": "Rate exceeded"}}
    with gw.state.lock:
        g.faults.throttle = False
    assert m.request("tools/list").status_code == 200


def test_latency_is_added_before_answering(gw: Gateways, http: httpx2.Client) -> None:
    g = gw.add_gateway(faults=Faults(latency_ms=300))
    m = Mcp(http, gw.url(g))
    started = time.monotonic()
    assert m.initialize().status_code == 200
    assert time.monotonic() - started >= 0.3 * 2  # initialize + notifications/initialized


def test_failing_target_generic_then_debug(gw: Gateways, http: httpx2.Client) -> None:
    g = gw.add_gateway(faults=Faults(failing_tools={"RefundTarget___process_refund"}))
    m = connected(http, gw.url(g))
    result = body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]
    assert result == {"content": [{"type": "text", "text": TARGET_FAILED}], "isError": True}
    assert body(m.call("OrdersTarget___get_order"))["result"]["isError"] is False
    with gw.state.lock:
        g.exception_level = "DEBUG"
    result = body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]
    expected = ("Access denied while invoking Lambda function "
                "arn:aws:lambda:us-east-1:123456789012:function:refunds")
    assert result["isError"] is True and result["content"][0]["text"] == expected
    assert result["_meta"]["debug"] == expected


# --- the lab's uvicorn servers: Nagle off on every accepted connection ----------------------


def _http_exchange(conn: socket.socket, path: str, payload: dict[str, Any],
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a kept-alive raw socket: status, headers (lower-cased), body."""
    data = json.dumps(payload).encode()
    ip, port = conn.getpeername()[:2]
    host = f"{ip}:{port}"
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {ACCEPT}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n".encode() + data)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = conn.recv(65536)
        assert chunk, "connection closed before the response head"
        raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert "transfer-encoding" not in fields and "content-length" in fields, fields
    while len(rest) < int(fields["content-length"]):
        chunk = conn.recv(65536)
        assert chunk, "connection closed inside the body"
        rest += chunk
    return int(status_line.split()[1]), fields, rest


def _server_end(client: socket.socket) -> socket.socket:
    """The socket this process accepted for `client` (a dup: closing it leaves the server's open)."""
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        try:
            if sock.getsockname() == client.getpeername() and sock.getpeername() == client.getsockname():
                return sock
        except OSError:
            pass
        sock.close()
    raise AssertionError("the server's end of the connection was not found")


def test_lab_server_answers_keep_alive_requests_without_nagle(gw: Gateways) -> None:
    """Regression: answers after a connection's first waited ~40 ms (Nagle vs delayed ACK).

    uvicorn writes a response's head and body separately; asyncio only disables Nagle on
    connections accepted from an IPPROTO_TCP listener, and `bind` makes a proto-0 one. So the
    lab's server must turn TCP_NODELAY on itself: checked on the accepted socket, not timed.
    """
    host, port = gw.base.removeprefix("http://").rsplit(":", 1)
    path = f"/{gw.add_gateway().gateway_id}/mcp"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        status, fields, _ = _http_exchange(conn, path, {
            "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "test", "version": "0"}}})
        assert status == 200
        session = {"Mcp-Session-Id": fields["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
        assert _http_exchange(conn, path, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                              session)[0] == 202
        status, _, answer = _http_exchange(conn, path, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                           session)
        assert status == 200 and json.loads(answer)["result"]["tools"]
        with _server_end(conn) as accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
