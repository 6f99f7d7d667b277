"""The emulated gateways over real loopback HTTP: uvicorn in a thread, httpx2 and the MCP SDK client.

Self-contained: builds its own LabState and app (no server.py), and keeps IAM in moto
via `mock_aws` (boto3 calls write the roles the gateway's role check then reads).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import boto3
import botocore.auth
import httpx2
import pytest
import uvicorn
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto import mock_aws

from probe.lab.gateway import (
    DENIED_BY_DEFAULT,
    POLICY_FAILED_CALL,
    POLICY_FAILED_LIST,
    SEARCH_TOOL,
    TARGET_FAILED,
    build_gateway_app,
)
from probe.lab.state import Faults, Gateway, LabState, Policy, PolicyEngine, Target, ToolSpec, new_id
from probe.lab.tokens import TokenIssuer

ACCEPT = "application/json, text/event-stream"
LEGACY_VERSIONS = ["2025-03-26", "2025-06-18", "2025-11-25"]
MODERN = "2026-07-28"
PAGE_SIZE = 2
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "bedrock-agentcore.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


class Lab:
    """LabState + issuer + the gateway app on a loopback port; helpers to add gateways."""

    def __init__(self) -> None:
        # IPPROTO_TCP, not the default 0: asyncio then turns Nagle off on each accepted connection.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.state = LabState()
        self.issuer = TokenIssuer(self.base)
        app = build_gateway_app(self.state, issuer=self.issuer, page_size=PAGE_SIZE)
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def url(self, gateway: Gateway | str) -> str:
        gid = gateway if isinstance(gateway, str) else gateway.gateway_id
        return f"{self.base}/{gid}/mcp"

    def add_gateway(self, *, role_arn: str = "arn:aws:iam::123456789012:role/unused", **kw: Any) -> Gateway:
        gid = new_id("gw")
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
def aws() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def lab(aws: None) -> Iterator[Lab]:
    lab = Lab()
    lab.start()
    yield lab
    lab.stop()


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


def role_with_get_gateway_only(name: str) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="console-default", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "bedrock-agentcore:GetGateway",
                       "Resource": "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/gw-*"}]}))
    return arn


def grant_policy_evaluation(role_name: str, gateway: Gateway) -> None:
    boto3.client("iam", region_name="us-east-1").put_role_policy(
        RoleName=role_name, PolicyName="policy-engine", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "EvaluatePoliciesForGateway", "Effect": "Allow",
                 "Action": ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"],
                 "Resource": [gateway.arn, gateway.policy_engine_arn]},
                {"Sid": "GetPolicyEngineForValidation", "Effect": "Allow",
                 "Action": "bedrock-agentcore:GetPolicyEngine", "Resource": gateway.policy_engine_arn},
            ]}))


def full_access_role(name: str) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]}))
    return arn


def policy_gateway(lab: Lab, policies: dict[str, str], mode: str = "ENFORCE", **kw: Any) -> Gateway:
    engine = lab.add_engine({})
    g = lab.add_gateway(role_arn=full_access_role(f"role-{uuid.uuid4().hex[:8]}"),
                        policy_engine_arn=engine.arn, policy_engine_mode=mode, **kw)
    with lab.state.lock:
        for pid, stmt in policies.items():
            engine.policies[pid] = Policy(pid, pid, stmt.replace("GATEWAY_ARN", g.arn))
    return g


REFUND_UNDER_500 = ('permit(principal, action == AgentCore::Action::"RefundTarget___process_refund", '
                    'resource == AgentCore::Gateway::"GATEWAY_ARN") when { context.input.amount < 500 };')


# --- basics: routing, headers, paging, versions ---------------------------------------------


def test_unknown_gateway_answers_404_with_aws_ids(lab: Lab, http: httpx2.Client) -> None:
    r = Mcp(http, lab.url("gw-doesnotexist")).initialize()
    assert r.status_code == 404
    assert "gw-doesnotexist" in body(r)["message"]
    uuid.UUID(r.headers["x-amzn-requestid"])
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", r.headers["x-amzn-trace-id"])


def test_every_answer_carries_a_fresh_request_id(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(lab.add_gateway()))
    ids = {m.request("tools/list").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3


def test_tools_list_pages_with_next_cursor(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(lab.add_gateway()))
    first = body(m.request("tools/list"))["result"]
    assert len(first["tools"]) == PAGE_SIZE and first["nextCursor"]
    names = m.list_all()
    assert len(names) == len(ALL_TOOLS) and set(names) == ALL_TOOLS
    bad = body(m.request("tools/list", {"cursor": "not-a-cursor"}))
    assert bad["error"]["code"] == -32602


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_handshake_versions_open_a_session_and_serve(lab: Lab, http: httpx2.Client, version: str) -> None:
    m = Mcp(http, lab.url(lab.add_gateway()), version)
    r = m.initialize()
    assert body(r)["result"]["protocolVersion"] == version
    assert m.session
    assert set(m.list_all()) == ALL_TOOLS
    assert text_of(m.call("OrdersTarget___get_order", {"orderId": "o-1"})) == \
        'OrdersTarget___get_order called with {"orderId":"o-1"}'
    # no session: only initialize may open one
    m.session = None
    assert m.request("tools/list").status_code == 400


def test_stateless_2026_07_28_needs_no_initialize(lab: Lab, http: httpx2.Client) -> None:
    m = Mcp(http, lab.url(lab.add_gateway()), MODERN)
    r = m.request("tools/list")
    assert r.status_code == 200 and "mcp-session-id" not in r.headers
    assert set(m.list_all()) == ALL_TOOLS
    result = body(m.call("RefundTarget___process_refund", {"amount": 10}))["result"]
    assert result["isError"] is False
    assert json.loads(result["content"][0]["text"])["refundId"].startswith("rf-")


def test_gateway_created_after_start_is_served(lab: Lab, http: httpx2.Client) -> None:
    gid = new_id("gw")
    assert Mcp(http, lab.url(gid)).initialize().status_code == 404
    with lab.state.lock:
        lab.state.gateways[gid] = Gateway(gid, gid, "arn:aws:iam::123456789012:role/r", targets=default_targets())
    assert set(connected(http, lab.url(gid)).list_all()) == ALL_TOOLS


def test_refund_ids_are_deterministic_per_arguments(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(lab.add_gateway()))

    def refund(args: dict[str, Any]) -> str:
        return json.loads(text_of(m.call("RefundTarget___process_refund", args)))["refundId"]

    assert refund({"amount": 5, "orderId": "a"}) == refund({"orderId": "a", "amount": 5})
    assert refund({"amount": 5, "orderId": "a"}) != refund({"amount": 6, "orderId": "a"})


def test_unknown_tool_is_invalid_params(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(lab.add_gateway()))
    err = body(m.call("Nope___nothing"))["error"]
    assert err == {"code": -32602, "message": "Unknown tool: Nope___nothing"}


def test_search_tool_is_listed_first_and_searches(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(lab.add_gateway(search_enabled=True)))
    names = m.list_all()
    assert names[0] == SEARCH_TOOL and set(names[1:]) == ALL_TOOLS
    hits = json.loads(text_of(m.call(SEARCH_TOOL, {"query": "refund"})))["tools"]
    assert {h["name"] for h in hits} == {"RefundTarget___process_refund", "RefundTarget___get_refund_status"}
    plain = connected(http, lab.url(lab.add_gateway()))
    assert body(plain.call(SEARCH_TOOL, {"query": "refund"}))["error"]["code"] == -32602


def test_session_of_one_gateway_is_not_valid_on_another(lab: Lab, http: httpx2.Client) -> None:
    a = connected(http, lab.url(lab.add_gateway()))
    b = Mcp(http, lab.url(lab.add_gateway()))
    b.session = a.session
    assert b.request("tools/list").status_code == 404
    assert a.request("tools/list").status_code == 200
    ended = http.delete(a.url, headers={"Mcp-Session-Id": a.session or "", "MCP-Protocol-Version": a.version})
    assert ended.status_code == 200
    assert a.request("tools/list").status_code == 404


def test_dns_rebinding_protection_rejects_foreign_host(lab: Lab, http: httpx2.Client) -> None:
    m = Mcp(http, lab.url(lab.add_gateway()), headers={"Host": "evil.example:80"})
    assert m.initialize().status_code in (403, 421)


def test_sdk_client_lists_and_calls(lab: Lab) -> None:
    """The official client (legacy handshake and stateless 2026-07-28) accepts what the lab answers."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    url = lab.url(lab.add_gateway(authorizer_type="CUSTOM_JWT"))
    token = lab.issuer.issue(lab.issuer.default_client.client_id)

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


def fetch_token(lab: Lab, http: httpx2.Client, *, basic: bool = True, secret: str | None = None,
                **form: str) -> httpx2.Response:
    client = lab.issuer.default_client
    data = {"grant_type": "client_credentials", **form}
    headers = {}
    if basic:
        raw = f"{client.client_id}:{secret or client.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    else:
        data.update(client_id=client.client_id, client_secret=secret or client.client_secret)
    return http.post(f"{lab.base}/oauth2/token", data=data, headers=headers)


def test_token_endpoint_issues_and_refuses_per_rfc6749(lab: Lab, http: httpx2.Client) -> None:
    for basic in (True, False):
        r = fetch_token(lab, http, basic=basic)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        claims = lab.issuer.verify(r.json()["access_token"])
        assert claims["sub"] == claims["client_id"] == lab.issuer.default_client.client_id
        assert claims["iss"] == lab.base and claims["exp"] > time.time() and claims["aud"]
        assert "x-amzn-requestid" in r.headers
    bad = fetch_token(lab, http, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert fetch_token(lab, http, grant_type="password").json()["error"] == "unsupported_grant_type"
    r = fetch_token(lab, http, scope="admin/everything")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert "wrong" not in bad.text
    conf = http.get(lab.issuer.discovery_url).json()
    assert conf["token_endpoint"] == f"{lab.base}/oauth2/token"
    assert http.get(conf["jwks_uri"]).json()["keys"][0]["kty"] == "RSA"


JWT_MISSING = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "Missing Authentication Token"}}
JWT_INVALID = {"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "Invalid Bearer token"}}


def test_custom_jwt_accepts_a_token_from_the_endpoint(lab: Lab, http: httpx2.Client) -> None:
    g = lab.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": lab.issuer.discovery_url, "allowedClients": [lab.issuer.default_client.client_id],
        "allowedAudience": ["agentcore-lab"]}})
    token = fetch_token(lab, http).json()["access_token"]
    m = connected(http, lab.url(g), headers={"Authorization": f"Bearer {token}"})
    assert set(m.list_all()) == ALL_TOOLS


def test_custom_jwt_refusals(lab: Lab, http: httpx2.Client) -> None:
    g = lab.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": lab.issuer.discovery_url, "allowedAudience": ["agentcore-lab"]}})
    cid = lab.issuer.default_client.client_id
    missing = Mcp(http, lab.url(g)).initialize()
    assert missing.status_code == 401 and body(missing) == JWT_MISSING
    assert missing.headers["www-authenticate"] == \
        f'Bearer resource_metadata="{lab.base}/{g.gateway_id}/.well-known/oauth-protected-resource"'
    meta = http.get(f"{lab.base}/{g.gateway_id}/.well-known/oauth-protected-resource").json()
    assert meta["resource"] == lab.url(g) and meta["authorization_servers"] == [lab.base]
    good = lab.issuer.issue(cid)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for token in ("garbage", tampered, lab.issuer.issue(cid, ttl_s=-60), lab.issuer.issue(cid, audience="other")):
        r = Mcp(http, lab.url(g), headers={"Authorization": f"Bearer {token}"}).initialize()
        assert r.status_code == 401 and body(r) == JWT_INVALID
        assert "resource_metadata" in r.headers["www-authenticate"]
    # a valid session, then a call with an expired token on it
    m = connected(http, lab.url(g), headers={"Authorization": f"Bearer {good}"})
    m.headers["Authorization"] = f"Bearer {lab.issuer.issue(cid, ttl_s=-1)}"
    assert m.request("tools/list").status_code == 401


def test_custom_jwt_allowed_clients(lab: Lab, http: httpx2.Client) -> None:
    lab.issuer.add_client("other-client", "other-secret-value")
    g = lab.add_gateway(authorizer_type="CUSTOM_JWT", authorizer_configuration={"customJWTAuthorizer": {
        "discoveryUrl": lab.issuer.discovery_url, "allowedClients": ["other-client"]}})
    r = Mcp(http, lab.url(g), headers={"Authorization": f"Bearer {lab.issuer.issue('lab-client')}"}).initialize()
    assert body(r) == JWT_INVALID
    ok = Mcp(http, lab.url(g), headers={"Authorization": f"Bearer {lab.issuer.issue('other-client')}"})
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


def test_aws_iam_sigv4_with_the_default_and_a_moto_user_key(lab: Lab, http: httpx2.Client) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = "arn:aws:iam::123456789012:user/alice"
    # only alice may see the refund tool: proves the principal is her ARN
    g = policy_gateway(lab, {"alice-only": REFUND_UNDER_500.replace("permit(principal,",
                             f'permit(principal == AgentCore::IamEntity::"{alice}",')},
                       authorizer_type="AWS_IAM")
    url = lab.url(g)
    r = iam_session(http, url, key["AccessKeyId"], key["SecretAccessKey"])
    assert r.status_code == 200 and [t["name"] for t in body(r)["result"]["tools"]] == ["RefundTarget___process_refund"]
    r = iam_session(http, url, "testing", "testing")
    assert r.status_code == 200 and body(r)["result"]["tools"] == []


def test_aws_iam_refusals(lab: Lab, http: httpx2.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    url = lab.url(lab.add_gateway(authorizer_type="AWS_IAM"))
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


def test_incident_role_without_policy_permissions(lab: Lab, http: httpx2.Client) -> None:
    role_name = f"console-role-{uuid.uuid4().hex[:8]}"
    engine = lab.add_engine({})
    g = lab.add_gateway(role_arn=role_with_get_gateway_only(role_name), policy_engine_arn=engine.arn,
                        policy_engine_mode="ENFORCE")
    with lab.state.lock:
        engine.policies["p1"] = Policy("p1", "p1", REFUND_UNDER_500.replace("GATEWAY_ARN", g.arn))
    m = connected(http, lab.url(g))
    r = m.request("tools/list")
    assert r.status_code == 200
    assert body(r) == {"jsonrpc": "2.0", "id": json.loads(r.request.content)["id"],
                       "result": {"content": [{"type": "text", "text": POLICY_FAILED_LIST}], "isError": True}}
    call = body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]
    assert call == {"content": [{"type": "text", "text": POLICY_FAILED_CALL}], "isError": True}
    # stateless too
    assert text_of(Mcp(http, lab.url(g), MODERN).request("tools/list")) == POLICY_FAILED_LIST
    # LOG_ONLY with the same role: nothing is enforced, nothing fails
    with lab.state.lock:
        g.policy_engine_mode = "LOG_ONLY"
    assert set(m.list_all()) == ALL_TOOLS
    with lab.state.lock:
        g.policy_engine_mode = "ENFORCE"
    grant_policy_evaluation(role_name, g)
    assert m.list_all() == ["RefundTarget___process_refund"]
    assert body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]["isError"] is False


def test_enforce_without_policies_lists_nothing(lab: Lab, http: httpx2.Client) -> None:
    m = connected(http, lab.url(policy_gateway(lab, {})))
    assert body(m.request("tools/list"))["result"] == {"tools": []}
    assert text_of(m.call("OrdersTarget___get_order")) == DENIED_BY_DEFAULT


def test_enforce_permit_lists_and_allows_within_its_condition(lab: Lab, http: httpx2.Client) -> None:
    g = policy_gateway(lab, {"refund-small": REFUND_UNDER_500})
    m = connected(http, lab.url(g))
    assert m.list_all() == ["RefundTarget___process_refund"]
    ok = body(m.call("RefundTarget___process_refund", {"amount": 100}))["result"]
    assert ok["isError"] is False and json.loads(ok["content"][0]["text"])["amount"] == 100
    denied = body(m.call("RefundTarget___process_refund", {"amount": 900}))["result"]
    assert denied == {"content": [{"type": "text", "text": DENIED_BY_DEFAULT}], "isError": True}
    with lab.state.lock:
        g.faults.denial_shape = "preview"
    err = body(m.call("RefundTarget___process_refund", {"amount": 900}))["error"]
    assert err == {"code": -32002, "message": "Tool Execution Denied: Tool call not allowed due to policy "
                   "enforcement [Policy evaluation denied due to no determining policies]"}


def test_forbid_names_its_policy_in_both_shapes(lab: Lab, http: httpx2.Client) -> None:
    g = policy_gateway(lab, {
        "allow-all": "permit(principal, action, resource);",
        "no-cancel": 'forbid(principal, action == AgentCore::Action::"OrdersTarget___cancel_order", resource);',
    })
    m = connected(http, lab.url(g))
    assert set(m.list_all()) == ALL_TOOLS - {"OrdersTarget___cancel_order"}
    assert text_of(m.call("OrdersTarget___cancel_order")) == (
        "AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement "
        "[Policy evaluation denied due to no-cancel]")
    with lab.state.lock:
        g.faults.denial_shape = "preview"
    assert body(m.call("OrdersTarget___cancel_order"))["error"]["message"].endswith(
        "[Policy evaluation denied due to no-cancel]")


def test_jwt_claims_reach_cedar_as_tags(lab: Lab, http: httpx2.Client) -> None:
    lab.issuer.add_client("support-bot", "support-secret-1", scopes=["refunds/write"])
    g = policy_gateway(lab, {"scoped": 'permit(principal is AgentCore::OAuthUser, action, resource) '
                             'when { principal.getTag("scope") like "*refunds/write*" };'},
                       authorizer_type="CUSTOM_JWT")
    bot = connected(http, lab.url(g), headers={"Authorization": f"Bearer {lab.issuer.issue('support-bot')}"})
    assert set(bot.list_all()) == ALL_TOOLS
    plain = connected(http, lab.url(g), headers={"Authorization": f"Bearer {lab.issuer.issue('lab-client')}"})
    assert plain.list_all() == []


def test_log_only_never_enforces(lab: Lab, http: httpx2.Client) -> None:
    g = policy_gateway(lab, {"deny-all": "forbid(principal, action, resource);"}, mode="LOG_ONLY")
    m = connected(http, lab.url(g))
    assert set(m.list_all()) == ALL_TOOLS
    assert body(m.call("OrdersTarget___cancel_order"))["result"]["isError"] is False


# --- faults -----------------------------------------------------------------------------------


def test_throttle_answers_429_with_retry_after(lab: Lab, http: httpx2.Client) -> None:
    g = lab.add_gateway()
    m = connected(http, lab.url(g))
    with lab.state.lock:
        g.faults.throttle = True
        g.faults.throttle_retry_after_s = 2
    r = m.request("tools/list")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert body(r) == {"jsonrpc": "2.0", "id": json.loads(r.request.content)["id"],
                       "error": {"code": -32000, "message": "Rate exceeded"}}
    with lab.state.lock:
        g.faults.throttle = False
    assert m.request("tools/list").status_code == 200


def test_latency_is_added_before_answering(lab: Lab, http: httpx2.Client) -> None:
    g = lab.add_gateway(faults=Faults(latency_ms=300))
    m = Mcp(http, lab.url(g))
    started = time.monotonic()
    assert m.initialize().status_code == 200
    assert time.monotonic() - started >= 0.3 * 2  # initialize + notifications/initialized


def test_failing_target_generic_then_debug(lab: Lab, http: httpx2.Client) -> None:
    g = lab.add_gateway(faults=Faults(failing_tools={"RefundTarget___process_refund"}))
    m = connected(http, lab.url(g))
    result = body(m.call("RefundTarget___process_refund", {"amount": 1}))["result"]
    assert result == {"content": [{"type": "text", "text": TARGET_FAILED}], "isError": True}
    assert body(m.call("OrdersTarget___get_order"))["result"]["isError"] is False
    with lab.state.lock:
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


def test_lab_server_answers_keep_alive_requests_without_nagle(lab: Lab) -> None:
    """Regression: answers after a connection's first waited ~40 ms (Nagle vs delayed ACK).

    uvicorn writes a response's head and body separately; asyncio only disables Nagle on
    connections accepted from an IPPROTO_TCP listener, and `bind` makes a proto-0 one. So the
    lab's server must turn TCP_NODELAY on itself: checked on the accepted socket, not timed.
    """
    from probe.lab.server import _AsgiThread, bind

    app = build_gateway_app(lab.state, issuer=lab.issuer)
    server = _AsgiThread(app, bind(0), "test-lab-gateways", lifespan="on")
    server.start()
    try:
        server.wait_started(time.monotonic() + 10)
        path = f"/{lab.add_gateway().gateway_id}/mcp"
        with socket.create_connection(server.sock.getsockname(), timeout=10) as conn:
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
    finally:
        server.stop()
