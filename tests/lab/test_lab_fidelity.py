"""Where the lab used to be kinder or simpler than AgentCore (issue 11), each checked on the wire.

Asynchronous statuses and boto3's waiters, `protocolConfiguration`, IAM's
SimulatePrincipalPolicy from moto's state, Host routing, prompts/resources, Lambda
targets whose role may not invoke them, the printout for a gateway without targets, and
the control-plane operations a probe user touches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from botocore.exceptions import ClientError

from probe.cedar.model import Principal
from probe.cli import main
from probe.lab.examples import examples
from probe.lab.gateway import SEARCH_TOOL, TARGET_FAILED, gateway_host
from probe.lab.seed import parse_seed
from probe.lab.state import LAB_ACCOUNT, Target, ToolSpec

ACCEPT = "application/json, text/event-stream"
TOOLS = [{"name": f"tool{i}", "description": f"Tool {i}", "inputSchema": {"type": "object"}} for i in range(5)]
ROLE = f"arn:aws:iam::{LAB_ACCOUNT}:role/FidelityRole"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "bedrock-agentcore.amazonaws.com"}}]})


@pytest.fixture(scope="module")
def ctl(lab: Any) -> Any:
    return lab.client("bedrock-agentcore-control")


@pytest.fixture(scope="module")
def iam(lab: Any) -> Any:
    return lab.client("iam")


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def settled(get: Any, **params: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        got = get(**params)
        if got["status"] not in ("CREATING", "UPDATING", "DELETING") or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def mcp_target(tools: list[dict[str, Any]] = TOOLS) -> dict[str, Any]:
    return {"mcp": {"mcpServer": {"endpoint": "https://t.targets.lab.invalid/mcp",
                                  "mcpToolSchema": {"inlinePayload": json.dumps({"tools": tools})}}}}


def ready_gateway(ctl: Any, name: str, **extra: Any) -> str:
    """A gateway with one 5-tool target, both READY (waited for, as a user's code must)."""
    gid = ctl.create_gateway(name=name, roleArn=ROLE, authorizerType="NONE", **extra)["gatewayId"]
    settled(ctl.get_gateway, gatewayIdentifier=gid)
    tid = ctl.create_gateway_target(gatewayIdentifier=gid, name="T", targetConfiguration=mcp_target())["targetId"]
    settled(ctl.get_gateway_target, gatewayIdentifier=gid, targetId=tid)
    return str(gid)


class Rpc:
    """A bare JSON-RPC client over the gateway's Streamable HTTP: every answer stays visible."""

    def __init__(self, http: httpx2.Client, url: str, headers: dict[str, str] | None = None) -> None:
        self.http, self.url, self.headers, self.session, self.n = http, url, dict(headers or {}), None, 0

    def post(self, method: str, params: dict[str, Any] | None = None, **headers: str) -> httpx2.Response:
        self.n += 1
        h = {"Accept": ACCEPT, "Content-Type": "application/json", **self.headers, **headers}
        if self.session:
            h.setdefault("Mcp-Session-Id", self.session)
        return self.http.post(self.url, headers=h, content=json.dumps(
            {"jsonrpc": "2.0", "id": self.n, "method": method, "params": params or {}}))

    def initialize(self, version: str = "2025-06-18") -> httpx2.Response:
        r = self.post("initialize", {"protocolVersion": version, "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "0"}})
        if r.status_code == 200:
            self.session = r.headers.get("mcp-session-id")
            self.headers["MCP-Protocol-Version"] = r.json()["result"]["protocolVersion"]
            self.http.post(self.url, headers={"Accept": ACCEPT, "Content-Type": "application/json",
                                              "Mcp-Session-Id": self.session or "", **self.headers},
                           content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        return r

    def pages(self) -> list[list[str]]:
        out: list[list[str]] = []
        cursor = None
        for _ in range(20):
            result = self.post("tools/list", {"cursor": cursor} if cursor else {}).json()["result"]
            out.append([t["name"] for t in result["tools"]])
            cursor = result.get("nextCursor")
            if not cursor:
                return out
        raise AssertionError("paging did not end")


# --- 6: asynchronous statuses ------------------------------------------------------------------


def test_create_answers_creating_and_the_gateway_is_served_once_ready(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    created = ctl.create_gateway(name="fid-async", roleArn=ROLE, authorizerType="NONE")
    assert created["status"] == "CREATING"
    url = lab.gateway_url(created["gatewayId"])
    assert Rpc(http, url).initialize().status_code == 404  # not served before READY
    assert settled(ctl.get_gateway, gatewayIdentifier=created["gatewayId"])["status"] == "READY"
    assert Rpc(http, url).initialize().status_code == 200


def test_boto3_waiters_see_creating_then_active(ctl: Any) -> None:
    engine = ctl.create_policy_engine(name="fid_waiters")
    assert engine["status"] == "CREATING"
    ctl.get_waiter("policy_engine_active").wait(policyEngineId=engine["policyEngineId"],
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert ctl.get_policy_engine(policyEngineId=engine["policyEngineId"])["status"] == "ACTIVE"
    policy = ctl.create_policy(policyEngineId=engine["policyEngineId"], name="p", definition={"cedar": {
        "statement": "permit(principal, action, resource is AgentCore::Gateway);"}})
    assert policy["status"] == "CREATING"
    ctl.get_waiter("policy_active").wait(policyEngineId=engine["policyEngineId"], policyId=policy["policyId"],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    ctl.delete_policy(policyEngineId=engine["policyEngineId"], policyId=policy["policyId"])
    ctl.get_waiter("policy_deleted").wait(policyEngineId=engine["policyEngineId"], policyId=policy["policyId"],
                                          WaiterConfig={"Delay": 1, "MaxAttempts": 5})


def test_settle_time_is_configurable(lab: Any, ctl: Any) -> None:
    before = lab.state.settle_s
    lab.state.settle_s = 0
    try:
        assert ctl.create_policy_engine(name="fid_instant")["status"] == "ACTIVE"
    finally:
        lab.state.settle_s = before


# --- 8: protocolConfiguration ------------------------------------------------------------------


def test_supported_versions_are_honoured(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    gid = ready_gateway(ctl, "fid-versions", protocolConfiguration={"mcp": {"supportedVersions": ["2025-03-26"]}})
    rpc = Rpc(http, lab.gateway_url(gid))
    assert rpc.initialize("2025-06-18").json()["result"]["protocolVersion"] == "2025-03-26"
    assert rpc.pages() == [["T___tool0", "T___tool1", "T___tool2", "T___tool3", "T___tool4"]]
    refused = Rpc(http, lab.gateway_url(gid)).post("tools/list", **{"MCP-Protocol-Version": "2026-07-28"})
    assert refused.status_code == 400 and refused.json()["error"]["data"]["supported"] == ["2025-03-26"]


def test_pagination_switch_and_the_search_slot(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    before = lab.page_size
    lab.page_size = 2
    try:
        flat = ready_gateway(ctl, "fid-nopages", protocolConfiguration={"mcp": {"disableMcpListToolsPagination": True}})
        rpc = Rpc(http, lab.gateway_url(flat))
        rpc.initialize()
        assert [len(p) for p in rpc.pages()] == [5]
        search = ready_gateway(ctl, "fid-search", protocolConfiguration={"mcp": {"searchType": "SEMANTIC"}})
        rpc = Rpc(http, lab.gateway_url(search))
        rpc.initialize()
        pages = rpc.pages()
        assert all(p[0] == SEARCH_TOOL and len(p) == 2 for p in pages) and len(pages) == 5
    finally:
        lab.page_size = before


# --- 9: iam:SimulatePrincipalPolicy from moto's state ---------------------------------------------


def test_simulation_decides_from_moto_state(iam: Any) -> None:
    iam.create_role(RoleName="fid-sim", AssumeRolePolicyDocument=TRUST)
    arn = f"arn:aws:iam::{LAB_ACCOUNT}:role/fid-sim"
    iam.put_role_policy(RoleName="fid-sim", PolicyName="mixed", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"},
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}},
        ]}))

    def decide(actions: list[str], **kw: Any) -> list[dict[str, Any]]:
        return iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=actions, **kw)["EvaluationResults"]

    got, denied = decide(["s3:GetObject", "s3:DeleteBucket"])
    assert got["EvalDecision"] == "allowed" and got["MatchedStatements"][0]["SourcePolicyId"] == "mixed"
    assert got["MatchedStatements"][0]["SourcePolicyType"] == "role"
    assert denied["EvalDecision"] == "explicitDeny" and denied["MatchedStatements"][0]["StartPosition"]["Line"] == 1
    (unknown,) = decide(["sqs:SendMessage"])
    assert unknown["EvalDecision"] == "implicitDeny" and unknown["MissingContextValues"] == ["aws:RequestedRegion"]
    region = [{"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["us-east-1"], "ContextKeyType": "string"}]
    assert decide(["sqs:SendMessage"], ContextEntries=region)[0]["EvalDecision"] == "allowed"
    extra = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    (added,) = decide(["ec2:RunInstances"], PolicyInputList=[extra])
    assert added["EvalDecision"] == "allowed" and added["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"

    boundary = iam.create_policy(PolicyName="fid-boundary", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    iam.put_role_permissions_boundary(RoleName="fid-sim", PermissionsBoundary=boundary["Policy"]["Arn"])
    inside, outside = decide(["s3:GetObject", "s3:PutObject"])
    assert inside["EvalDecision"] == "allowed"
    assert inside["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] is True
    assert outside["EvalDecision"] == "implicitDeny"
    assert outside["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] is False


def test_seed_switches_the_simulation_off(lab: Any, iam: Any) -> None:
    from botocore.parsers import ResponseParserError

    lab.seed(parse_seed({"iam_simulation": False}, "off.yaml"), environ={})
    try:
        iam.create_role(RoleName="fid-sim-off", AssumeRolePolicyDocument=TRUST)
        with pytest.raises(ResponseParserError):
            iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{LAB_ACCOUNT}:role/fid-sim-off",
                                          ActionNames=["s3:GetObject"])
    finally:
        lab.state.iam_simulation = True


# --- 10: routing by Host ---------------------------------------------------------------------------


def test_gateways_answer_by_host(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    gid = ready_gateway(ctl, "fid-host")
    url = f"{lab.gateway_base_url}/mcp"
    rpc = Rpc(http, url, {"Host": gateway_host(gid, lab.region)})
    assert rpc.initialize().status_code == 200
    assert rpc.pages() == [[f"T___tool{i}" for i in range(5)]]
    elsewhere = Rpc(http, url, {"Host": gateway_host(gid, "eu-west-1")})
    assert elsewhere.initialize().status_code == 404


# --- 11: prompts and resources, Lambda permission, the printout for no targets ---------------------


def test_prompts_and_resources_are_empty_not_unknown_methods(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    rpc = Rpc(http, lab.gateway_url(ready_gateway(ctl, "fid-prompts")))
    rpc.initialize()
    assert rpc.post("prompts/list").json()["result"]["prompts"] == []
    assert rpc.post("resources/list").json()["result"]["resources"] == []
    assert rpc.post("resources/templates/list").json()["result"]["resourceTemplates"] == []


def test_lambda_target_needs_invoke_permission_on_the_role(lab: Any, iam: Any, http: httpx2.Client) -> None:
    fn = f"arn:aws:lambda:us-east-1:{LAB_ACCOUNT}:function:fid-refunds"
    target = Target("", "Refunds", [ToolSpec("refund", "Refund", {"type": "object", "properties": {}})], fn)
    g = lab.console.create_gateway("fid-lambda", targets=[target])
    rpc = Rpc(http, lab.gateway_url(g.gateway_id))
    rpc.initialize()

    def call() -> dict[str, Any]:
        return dict(rpc.post("tools/call", {"name": "Refunds___refund", "arguments": {}}).json()["result"])

    assert call() == {"content": [{"type": "text", "text": TARGET_FAILED}], "isError": True}
    lab.console.set_exception_level(g.gateway_id, "DEBUG")
    debug = call()
    assert debug["content"][0]["text"] == f"Access denied while invoking Lambda function {fn}"
    iam.put_role_policy(RoleName=g.role_arn.rsplit("/", 1)[-1], PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn}]}))
    assert call()["isError"] is False


def test_printout_predicts_empty_tools_for_a_gateway_without_targets(lab: Any, lab_env: Any, capsys: Any) -> None:
    g = lab.console.create_gateway("fid-empty", targets=[])
    (listing,) = examples(lab.state.gateway(g.gateway_id), None, Principal.oauth_user({"sub": "x"}), role_ok=True,
                          page_size=5)
    assert listing.expect == "empty_tools"
    code = main(["run", lab.gateway_url(g.gateway_id), "--gateway-id", g.gateway_id, "--region", lab.region])
    assert code == 10 and "empty_tools" in capsys.readouterr().out


# --- the control-plane operations a probe user touches ---------------------------------------------


def test_update_and_synchronize_targets(lab: Any, ctl: Any, http: httpx2.Client) -> None:
    gid = ready_gateway(ctl, "fid-target-ops")
    tid = ctl.list_gateway_targets(gatewayIdentifier=gid)["items"][0]["targetId"]
    updated = ctl.update_gateway_target(gatewayIdentifier=gid, targetId=tid, name="T",
                                        targetConfiguration=mcp_target(TOOLS[:1]))
    assert updated["status"] == "UPDATING"
    assert settled(ctl.get_gateway_target, gatewayIdentifier=gid, targetId=tid)["status"] == "READY"
    rpc = Rpc(http, lab.gateway_url(gid))
    rpc.initialize()
    assert rpc.pages() == [["T___tool0"]]
    with pytest.raises(ClientError) as exc:
        ctl.synchronize_gateway_targets(gatewayIdentifier=gid, targetIdList=[tid])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "static tool schema" in exc.value.response["Error"]["Message"]


def test_update_policy_engine_tags_and_resource_policy(ctl: Any) -> None:
    engine = ctl.create_policy_engine(name="fid_ops", tags={"team": "refunds"})
    eid, engine_arn = engine["policyEngineId"], engine["policyEngineArn"]
    settled(ctl.get_policy_engine, policyEngineId=eid)
    assert ctl.update_policy_engine(policyEngineId=eid, description={"optionalValue": "new"})["status"] == "UPDATING"
    assert settled(ctl.get_policy_engine, policyEngineId=eid)["description"] == "new"
    assert ctl.list_tags_for_resource(resourceArn=engine_arn)["tags"] == {"team": "refunds"}
    ctl.tag_resource(resourceArn=engine_arn, tags={"env": "lab"})
    ctl.untag_resource(resourceArn=engine_arn, tagKeys=["team"])
    assert ctl.list_tags_for_resource(resourceArn=engine_arn)["tags"] == {"env": "lab"}
    with pytest.raises(ClientError) as exc:
        ctl.list_tags_for_resource(resourceArn=engine_arn.replace(eid, "fid_none-0123456789"))
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"

    gateway_arn = ctl.get_gateway(gatewayIdentifier=ready_gateway(ctl, "fid-respol"))["gatewayArn"]
    with pytest.raises(ClientError) as exc:
        ctl.get_resource_policy(resourceArn=gateway_arn)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
                                                              "Action": "bedrock-agentcore:InvokeGateway",
                                                              "Resource": gateway_arn}]})
    assert ctl.put_resource_policy(resourceArn=gateway_arn, policy=doc)["policy"] == doc
    assert ctl.get_resource_policy(resourceArn=gateway_arn)["policy"] == doc
    ctl.delete_resource_policy(resourceArn=gateway_arn)
    with pytest.raises(ClientError):
        ctl.get_resource_policy(resourceArn=gateway_arn)
