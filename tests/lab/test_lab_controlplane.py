"""The lab's control plane and IAM, driven by unpatched boto3 (and the AWS CLI when installed)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import boto3
import botocore.session
import httpx2
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from probe.lab.iam import find_role, iam_backend
from probe.lab.server import Lab, LabError
from probe.lab.state import LAB_ACCOUNT, Target, ToolSpec

MODEL = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
ROLE = f"arn:aws:iam::{LAB_ACCOUNT}:role/SomeGatewayRole"
CEDAR_OK = "permit(principal, action, resource is AgentCore::Gateway);"
LAMBDA = f"arn:aws:lambda:us-east-1:{LAB_ACCOUNT}:function:refunds"
TOOL_DEFS = [
    {"name": "process_refund", "description": "Refund",
     "inputSchema": {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}},
    {"name": "get_order", "description": "Order", "inputSchema": {"type": "object"}},
]


def missing_required(shape, value, path="") -> list[str]:
    """Required output members the answer lacks, walking the model's shape."""
    out: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value:
                out.append(f"{path}.{name}")
        for name, member in shape.members.items():
            if name in value:
                out += missing_required(member, value[name], f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            out += missing_required(shape.member, item, f"{path}[{i}]")
    return out


def assert_complete(operation: str, response: dict) -> None:
    assert missing_required(MODEL.operation_model(operation).output_shape, response) == []


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def ctl(lab):
    return lab.client("bedrock-agentcore-control")


@pytest.fixture(scope="module")
def iam(lab):
    return lab.client("iam")


def new_gateway(ctl, name: str, **extra) -> dict:
    return ctl.create_gateway(name=name, roleArn=ROLE, authorizerType="NONE", **extra)


def new_engine(ctl, name: str) -> dict:
    return ctl.create_policy_engine(name=name)


INTERMEDIATE = ("CREATING", "UPDATING", "DELETING", "SYNCHRONIZING")


def settled(get, **params) -> dict:
    """Poll a Get operation until the resource leaves its intermediate status (as a user's code must)."""
    deadline = time.monotonic() + 5
    while True:
        got = get(**params)
        if got["status"] not in INTERMEDIATE or time.monotonic() > deadline:
            return got
        time.sleep(0.01)


def gone(get, **params) -> str:
    """Poll until a deleted resource is gone; the error code it then answers."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert get(**params)["status"] == "DELETING"
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        time.sleep(0.01)
    return "still there"


# --- gateways --------------------------------------------------------------------------------------


def test_create_get_list_gateway(lab, ctl):
    created = new_gateway(ctl, "cp-basic", description="first", protocolType="MCP")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert_complete("CreateGateway", created)
    gid = created["gatewayId"]
    assert gid.startswith("cp-basic-") and len(gid) == len("cp-basic-") + 10
    assert created["status"] == "CREATING"
    got = settled(ctl.get_gateway, gatewayIdentifier=gid)
    assert_complete("GetGateway", got)
    assert got["gatewayArn"] == f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:gateway/{gid}"
    assert got["gatewayUrl"] == lab.gateway_url(gid) == f"{lab.gateway_base_url}/{gid}/mcp"
    assert (got["status"], got["roleArn"], got["authorizerType"], got["protocolType"]) == (
        "READY", ROLE, "NONE", "MCP")
    assert got["description"] == "first"
    assert "policyEngineConfiguration" not in got and "exceptionLevel" not in got
    assert got["createdAt"].tzinfo is not None  # iso8601 parsed by botocore into an aware datetime
    with pytest.raises(ClientError) as exc:  # the model's GatewayIdentifier pattern admits ids only
        ctl.get_gateway(gatewayIdentifier=got["gatewayArn"])
    assert code(exc) == ("ValidationException", 400)
    assert lab.state.gateway(gid).role_arn == ROLE


def test_list_gateways_pages(ctl):
    ids = {new_gateway(ctl, f"cp-page{i}")["gatewayId"] for i in range(3)}
    pages = list(ctl.get_paginator("list_gateways").paginate(PaginationConfig={"PageSize": 1}))
    assert len(pages) >= 3 and all(len(p["items"]) == 1 for p in pages)
    for page in pages:
        assert_complete("ListGateways", page)
    listed = [item["gatewayId"] for page in pages for item in page["items"]]
    assert ids <= set(listed) and len(listed) == len(set(listed))
    with pytest.raises(ClientError) as exc:
        ctl.list_gateways(nextToken="not-a-token")
    assert code(exc) == ("ValidationException", 400)


def test_gateway_not_found_and_conflict(ctl):
    with pytest.raises(ClientError) as exc:
        ctl.get_gateway(gatewayIdentifier="nope-0123456789")
    assert code(exc) == ("ResourceNotFoundException", 404)
    assert "nope-0123456789" in exc.value.response["Error"]["Message"]
    new_gateway(ctl, "cp-dupe")
    with pytest.raises(ClientError) as exc:
        new_gateway(ctl, "cp-dupe")
    assert code(exc) == ("ConflictException", 409)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "bad_name!", "roleArn": ROLE, "authorizerType": "NONE"}, "name"),
        ({"name": "cp-enum", "roleArn": ROLE, "authorizerType": "BOGUS"}, "authorizerType"),
        ({"name": "cp-role", "roleArn": "not-an-arn", "authorizerType": "NONE"}, "roleArn"),
        ({"name": "cp-jwt", "roleArn": ROLE, "authorizerType": "CUSTOM_JWT"}, "authorizerConfiguration"),
        ({"name": "cp-pe", "roleArn": ROLE, "authorizerType": "NONE",
          "policyEngineConfiguration": {"arn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:"
                                               "policy-engine/Missing-0123456789", "mode": "ENFORCE"}},
         "policyEngineConfiguration.arn"),
        ({"name": "cp-mode", "roleArn": ROLE, "authorizerType": "NONE", "exceptionLevel": "TRACE"},
         "exceptionLevel"),
    ],
)
def test_create_gateway_validation(lab, ctl, kwargs, field):
    before = set(lab.state.gateways)
    with pytest.raises(ClientError) as exc:
        ctl.create_gateway(**kwargs)
    assert code(exc) == ("ValidationException", 400)
    assert exc.value.response["Error"]["Message"]
    assert set(lab.state.gateways) == before
    body = exc.value.response
    assert body.get("reason") == "FieldValidationFailed"
    assert body["fieldList"][0]["name"] == field


def test_raw_wire_required_members_and_auth(lab):
    url = f"{lab.control_url}/gateways/"
    sig = {"Authorization": "AWS4-HMAC-SHA256 Credential=anything/20260101/us-east-1/bedrock-agentcore/aws4_request"}
    r = httpx2.post(url, json={"name": "cp-raw", "authorizerType": "NONE"}, headers=sig)
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"].split(":")[0] == "ValidationException"
    assert "roleArn" in r.json()["message"]
    r = httpx2.post(url, content=b"{not json", headers=sig)
    assert r.status_code == 400 and r.json()["reason"] == "CannotParse"
    r = httpx2.get(url)
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException")
    r = httpx2.get(f"{lab.control_url}/no-such-thing", headers=sig)
    assert r.status_code == 404


def test_unsigned_boto3_is_refused(lab):
    unsigned = lab.boto3_session().client(
        "bedrock-agentcore-control", endpoint_url=lab.control_url, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as exc:
        unsigned.list_gateways()
    assert code(exc) == ("MissingAuthenticationTokenException", 403)


def test_update_gateway_attach_modes_and_detach(lab, ctl):
    gid = new_gateway(ctl, "cp-attach")["gatewayId"]
    engine = new_engine(ctl, "cp_attach_engine")
    base = {"gatewayIdentifier": gid, "name": "cp-attach", "roleArn": ROLE, "authorizerType": "NONE"}
    for mode in ("ENFORCE", "LOG_ONLY"):
        resp = ctl.update_gateway(**base, policyEngineConfiguration={"arn": engine["policyEngineArn"], "mode": mode})
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert_complete("UpdateGateway", resp)
        got = ctl.get_gateway(gatewayIdentifier=gid)
        assert got["policyEngineConfiguration"] == {"arn": engine["policyEngineArn"], "mode": mode}
        g = lab.state.gateway(gid)
        assert (g.policy_engine_arn, g.policy_engine_mode) == (engine["policyEngineArn"], mode)
    resp = ctl.update_gateway(**base, exceptionLevel="DEBUG")  # a PUT: the engine is not in it, so it goes
    got = ctl.get_gateway(gatewayIdentifier=gid)
    assert got["exceptionLevel"] == "DEBUG" and "policyEngineConfiguration" not in got
    assert lab.state.gateway(gid).policy_engine_arn is None
    ctl.update_gateway(**base)
    assert "exceptionLevel" not in ctl.get_gateway(gatewayIdentifier=gid)
    assert got["updatedAt"] >= got["createdAt"]


def test_update_gateway_authorizer_and_errors(lab, ctl):
    gid = new_gateway(ctl, "cp-auth")["gatewayId"]
    base = {"gatewayIdentifier": gid, "name": "cp-auth", "roleArn": ROLE}
    with pytest.raises(ClientError) as exc:
        ctl.update_gateway(**base, authorizerType="CUSTOM_JWT")
    assert code(exc) == ("ValidationException", 400)
    jwt = {"customJWTAuthorizer": {"discoveryUrl": "https://idp.example/.well-known/openid-configuration",
                                   "allowedClients": ["a"]}}
    ctl.update_gateway(**base, authorizerType="CUSTOM_JWT", authorizerConfiguration=jwt)
    got = ctl.get_gateway(gatewayIdentifier=gid)
    assert (got["authorizerType"], got["authorizerConfiguration"]) == ("CUSTOM_JWT", jwt)
    assert lab.state.gateway(gid).authorizer_configuration == jwt
    with pytest.raises(ClientError) as exc:
        ctl.update_gateway(**{**base, "gatewayIdentifier": "gone-0123456789"}, authorizerType="NONE")
    assert code(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        ctl.update_gateway(**base, authorizerType="NONE", policyEngineConfiguration={
            "arn": f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:policy-engine/Nope-0123456789",
            "mode": "ENFORCE"})
    assert code(exc) == ("ValidationException", 400)


def test_search_flag_maps_to_state(lab, ctl):
    gid = new_gateway(ctl, "cp-search", protocolConfiguration={"mcp": {"searchType": "SEMANTIC"}})["gatewayId"]
    assert lab.state.gateway(gid).search_enabled is True
    assert ctl.get_gateway(gatewayIdentifier=gid)["protocolConfiguration"] == {"mcp": {"searchType": "SEMANTIC"}}


# --- targets ---------------------------------------------------------------------------------------


def test_lambda_target_round_trip(lab, ctl):
    gid = new_gateway(ctl, "cp-lambda")["gatewayId"]
    config = {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"inlinePayload": TOOL_DEFS}}}}
    created = ctl.create_gateway_target(gatewayIdentifier=gid, name="RefundTarget", targetConfiguration=config,
                                        credentialProviderConfigurations=[
                                            {"credentialProviderType": "GATEWAY_IAM_ROLE"}])
    assert_complete("CreateGatewayTarget", created)
    tid = created["targetId"]
    assert len(tid) == 10 and tid.isalnum()
    got = ctl.get_gateway_target(gatewayIdentifier=gid, targetId=tid)
    assert_complete("GetGatewayTarget", got)
    assert got["targetConfiguration"]["mcp"]["lambda"]["lambdaArn"] == LAMBDA
    (target,) = lab.state.gateway(gid).targets
    assert (target.target_id, target.name, target.lambda_arn) == (tid, "RefundTarget", LAMBDA)
    assert [(t.name, t.input_schema) for t in target.tools] == [(d["name"], d["inputSchema"]) for d in TOOL_DEFS]
    listed = ctl.list_gateway_targets(gatewayIdentifier=gid)
    assert_complete("ListGatewayTargets", listed)
    assert [(i["targetId"], i["targetType"]) for i in listed["items"]] == [(tid, "LAMBDA")]
    with pytest.raises(ClientError) as exc:
        ctl.create_gateway_target(gatewayIdentifier=gid, name="RefundTarget", targetConfiguration=config)
    assert code(exc) == ("ConflictException", 409)
    with pytest.raises(ClientError) as exc:
        ctl.get_gateway_target(gatewayIdentifier=gid, targetId="ABCDEFGHIJ")
    assert code(exc) == ("ResourceNotFoundException", 404)


def test_mcp_server_and_openapi_targets(lab, ctl):
    gid = new_gateway(ctl, "cp-kinds")["gatewayId"]
    mcp = {"mcp": {"mcpServer": {"endpoint": "https://tools.example/mcp",
                                 "mcpToolSchema": {"inlinePayload": json.dumps({"tools": TOOL_DEFS})}}}}
    openapi = """
openapi: 3.0.0
info: {title: weather, version: "1"}
paths:
  /forecast/{city}:
    get:
      operationId: get_forecast
      summary: Forecast
      parameters: [{name: city, in: path, required: true, schema: {type: string}}]
  /alerts:
    post:
      operationId: post_alert
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {text: {type: string}}, required: [text]}
"""
    ctl.create_gateway_target(gatewayIdentifier=gid, name="Shop", targetConfiguration=mcp)
    ctl.create_gateway_target(gatewayIdentifier=gid, name="Weather",
                              targetConfiguration={"mcp": {"openApiSchema": {"inlinePayload": openapi}}})
    shop, weather = lab.state.gateway(gid).targets
    assert [t.name for t in shop.tools] == ["process_refund", "get_order"] and shop.lambda_arn is None
    assert [t.name for t in weather.tools] == ["get_forecast", "post_alert"]
    assert weather.tools[0].input_schema["required"] == ["city"]
    assert weather.tools[1].input_schema["properties"] == {"text": {"type": "string"}}
    types = {i["name"]: i["targetType"] for i in ctl.list_gateway_targets(gatewayIdentifier=gid)["items"]}
    assert types == {"Shop": "MCP_SERVER", "Weather": "OPEN_API_SCHEMA"}


@pytest.mark.parametrize(
    "config",
    [
        {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"s3": {"uri": "s3://bucket/tools.json"}}}}},
        {"mcp": {"smithyModel": {"inlinePayload": "{}"}}},
        {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"inlinePayload": []}}}},
        {"mcp": {"lambda": {"lambdaArn": "arn:aws:lambda:nowhere", "toolSchema": {"inlinePayload": TOOL_DEFS}}}},
        {"mcp": {"mcpServer": {"endpoint": "http://plain.example/mcp"}}},
    ],
)
def test_target_configuration_rejected(lab, ctl, config):
    gid = new_gateway(ctl, f"cp-bad{abs(hash(json.dumps(config))) % 10**6}")["gatewayId"]
    with pytest.raises(ClientError) as exc:
        ctl.create_gateway_target(gatewayIdentifier=gid, name="T", targetConfiguration=config)
    assert code(exc) == ("ValidationException", 400)
    assert lab.state.gateway(gid).targets == []


def test_target_put_into_state_directly_is_described(lab, ctl):
    gid = new_gateway(ctl, "cp-direct")["gatewayId"]
    with lab.state.lock:
        lab.state.gateway(gid).targets.append(
            Target(target_id="DIRECT0001", name="Direct", tools=[ToolSpec("ping", "Ping")]))
    got = ctl.get_gateway_target(gatewayIdentifier=gid, targetId="DIRECT0001")
    assert_complete("GetGatewayTarget", got)
    inline = json.loads(got["targetConfiguration"]["mcp"]["mcpServer"]["mcpToolSchema"]["inlinePayload"])
    assert [t["name"] for t in inline["tools"]] == ["ping"]


def test_delete_gateway_needs_targets_gone_first(lab, ctl):
    gid = new_gateway(ctl, "cp-delete")["gatewayId"]
    config = {"mcp": {"lambda": {"lambdaArn": LAMBDA, "toolSchema": {"inlinePayload": TOOL_DEFS}}}}
    tid = ctl.create_gateway_target(gatewayIdentifier=gid, name="T", targetConfiguration=config)["targetId"]
    with pytest.raises(ClientError) as exc:
        ctl.delete_gateway(gatewayIdentifier=gid)
    assert code(exc) == ("ConflictException", 409)
    deleted = ctl.delete_gateway_target(gatewayIdentifier=gid, targetId=tid)
    assert deleted["status"] == "DELETING" and deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    resp = ctl.delete_gateway(gatewayIdentifier=gid)
    assert (resp["gatewayId"], resp["status"]) == (gid, "DELETING")
    assert gone(ctl.get_gateway, gatewayIdentifier=gid) == "ResourceNotFoundException"
    assert lab.state.gateway(gid) is None


# --- policy engines and policies ---------------------------------------------------------------------


def test_policy_engine_lifecycle(lab, ctl):
    created = new_engine(ctl, "cp_engine")
    assert_complete("CreatePolicyEngine", created)
    eid = created["policyEngineId"]
    assert created["policyEngineArn"] == f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:policy-engine/{eid}"
    assert created["status"] == "CREATING"
    got = settled(ctl.get_policy_engine, policyEngineId=eid)
    assert_complete("GetPolicyEngine", got)
    assert (got["status"], got["name"], got["statusReasons"]) == ("ACTIVE", "cp_engine", [])
    listed = [e["policyEngineId"] for p in ctl.get_paginator("list_policy_engines").paginate() for e in
              p["policyEngines"]]
    assert eid in listed
    with pytest.raises(ClientError) as exc:
        new_engine(ctl, "cp_engine")
    assert code(exc) == ("ConflictException", 409)
    with pytest.raises(ClientError) as exc:
        new_engine(ctl, "has-hyphen")
    assert code(exc) == ("ValidationException", 400)
    gid = new_gateway(ctl, "cp-engine-user", policyEngineConfiguration={"arn": created["policyEngineArn"],
                                                                        "mode": "LOG_ONLY"})["gatewayId"]
    with pytest.raises(ClientError) as exc:
        ctl.delete_policy_engine(policyEngineId=eid)
    assert code(exc) == ("ConflictException", 409)
    assert gid in exc.value.response["Error"]["Message"]
    ctl.update_gateway(gatewayIdentifier=gid, name="cp-engine-user", roleArn=ROLE, authorizerType="NONE")
    assert ctl.delete_policy_engine(policyEngineId=eid)["status"] == "DELETING"
    assert gone(ctl.get_policy_engine, policyEngineId=eid) == "ResourceNotFoundException"


def test_policy_lifecycle(lab, ctl):
    eid = new_engine(ctl, "cp_policies")["policyEngineId"]
    created = ctl.create_policy(policyEngineId=eid, name="allow_t", definition={"cedar": {"statement": CEDAR_OK}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert_complete("CreatePolicy", created)
    pid = created["policyId"]
    assert created["policyArn"] == f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:policy-engine/{eid}/policy/{pid}"
    assert lab.state.engine(eid).policies[pid].statement == CEDAR_OK
    assert created["status"] == "CREATING"
    got = settled(ctl.get_policy, policyEngineId=eid, policyId=pid)
    assert_complete("GetPolicy", got)
    assert (got["status"], got["definition"]["cedar"]["statement"]) == ("ACTIVE", CEDAR_OK)
    ctl.create_policy(policyEngineId=eid, name="second", definition={"cedar": {"statement": CEDAR_OK}})
    pages = list(ctl.get_paginator("list_policies").paginate(policyEngineId=eid, PaginationConfig={"PageSize": 1}))
    assert [p["name"] for page in pages for p in page["policies"]] == ["allow_t", "second"]
    forbid = CEDAR_OK.replace("permit", "forbid")
    updating = ctl.update_policy(policyEngineId=eid, policyId=pid, definition={"cedar": {"statement": forbid}})
    assert updating["status"] == "UPDATING"
    assert settled(ctl.get_policy, policyEngineId=eid, policyId=pid)["status"] == "ACTIVE"
    assert lab.state.engine(eid).policies[pid].statement == forbid
    with pytest.raises(ClientError) as exc:
        ctl.delete_policy_engine(policyEngineId=eid)
    assert code(exc) == ("ConflictException", 409)
    deleted = ctl.delete_policy(policyEngineId=eid, policyId=pid)
    assert (deleted["policyId"], deleted["status"]) == (pid, "DELETING")
    assert gone(ctl.get_policy, policyEngineId=eid, policyId=pid) == "ResourceNotFoundException"
    assert pid not in lab.state.engine(eid).policies
    with pytest.raises(ClientError) as exc:
        ctl.delete_policy(policyEngineId=eid, policyId=pid)
    assert code(exc) == ("ResourceNotFoundException", 404)


def test_list_policies_scoped_to_a_gateway(ctl):
    eid = new_engine(ctl, "cp_scoped")["policyEngineId"]
    arns = {n: new_gateway(ctl, f"cp-scope-{n}")["gatewayArn"] for n in ("a", "b")}
    for n, arn in arns.items():
        ctl.create_policy(policyEngineId=eid, name=f"for_{n}", definition={"cedar": {
            "statement": f'permit(principal, action, resource == AgentCore::Gateway::"{arn}");'}})
    ctl.create_policy(policyEngineId=eid, name="general", definition={"cedar": {"statement": CEDAR_OK}})
    scoped = ctl.list_policies(policyEngineId=eid, targetResourceScope=arns["a"])["policies"]
    assert sorted(p["name"] for p in scoped) == ["for_a", "general"]


@pytest.fixture(scope="module")
def cedar_engine(ctl) -> str:
    return new_engine(ctl, "cp_cedar")["policyEngineId"]


@pytest.mark.parametrize(
    ("statement", "needle"),
    [
        ("permit(principal, action resource) when { context.input.amount < 500 };", "does not parse"),
        (CEDAR_OK + "\n" + CEDAR_OK, "exactly one"),
        ("// only a comment, long enough for the model's minimum", "exactly one"),
    ],
)
def test_policy_cedar_is_validated(lab, ctl, cedar_engine, statement, needle):
    with pytest.raises(ClientError) as exc:
        ctl.create_policy(policyEngineId=cedar_engine, name="bad", definition={"cedar": {"statement": statement}})
    assert code(exc) == ("ValidationException", 400)
    assert needle in exc.value.response["Error"]["Message"]
    assert "\n" not in exc.value.response["Error"]["Message"]
    assert lab.state.engine(cedar_engine).policies == {}


def test_policy_in_unknown_engine(ctl):
    with pytest.raises(ClientError) as exc:
        ctl.create_policy(policyEngineId="Ghost-0123456789", name="p", definition={"cedar": {"statement": CEDAR_OK}})
    assert code(exc) == ("ResourceNotFoundException", 404)


# --- IAM through moto --------------------------------------------------------------------------------


def test_iam_is_moto_in_process(lab, iam):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "bedrock-agentcore.amazonaws.com"}}]}
    arn = iam.create_role(RoleName="cp-shared-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert arn == f"arn:aws:iam::{LAB_ACCOUNT}:role/cp-shared-role"
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam.put_role_policy(RoleName="cp-shared-role", PolicyName="inline", PolicyDocument=json.dumps(doc))
    role = find_role(arn)
    assert role is not None and json.loads(role.policies["inline"]) == doc
    assert any(r.name == "cp-shared-role" for r in iam_backend().roles.values())
    sts = lab.client("sts")
    assert sts.get_caller_identity()["Account"] == LAB_ACCOUNT


def test_moto_simulation_is_unimplemented_when_the_lab_switches_its_own_off(lab, iam):
    """moto's gap, kept reachable: with the lab's simulation off, the probe must fall back offline."""
    iam.create_role(RoleName="cp-sim-role", AssumeRolePolicyDocument="{}")
    lab.state.iam_simulation = False
    try:
        started = time.monotonic()
        with pytest.raises(ResponseParserError):
            iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{LAB_ACCOUNT}:role/cp-sim-role",
                                          ActionNames=["bedrock-agentcore:GetGateway"])
        assert time.monotonic() - started < 5  # one attempt, no retry storm
    finally:
        lab.state.iam_simulation = True
    answer = iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{LAB_ACCOUNT}:role/cp-sim-role",
                                           ActionNames=["bedrock-agentcore:GetGateway"])
    assert [r["EvalDecision"] for r in answer["EvaluationResults"]] == ["implicitDeny"]


def test_env_points_boto3_and_cli_at_the_lab(lab, lab_env, ctl):
    gid = new_gateway(ctl, "cp-env")["gatewayId"]
    for name in ("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS"):
        assert os.environ[name].startswith("http://127.0.0.1:")
    plain = boto3.client("bedrock-agentcore-control")  # endpoint and region from the environment only
    assert plain.get_gateway(gatewayIdentifier=gid)["gatewayUrl"] == lab.gateway_url(gid)
    assert boto3.client("sts").get_caller_identity()["Account"] == LAB_ACCOUNT
    aws = shutil.which("aws")
    if aws is None:
        return  # the boto3 path above is the contract; the CLI is checked wherever it is installed
    out = subprocess.run([aws, "bedrock-agentcore-control", "get-gateway", "--gateway-identifier", gid,
                          "--output", "json"], capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gatewayId"] == gid
    out = subprocess.run([aws, "sts", "get-caller-identity", "--output", "json"], capture_output=True, text=True,
                         timeout=60, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == LAB_ACCOUNT


def test_another_region_is_empty_as_on_aws(lab, ctl):
    """AgentCore is regional: a client for eu-west-1 must not see the lab's us-east-1 resources."""
    gid = new_gateway(ctl, "cp-region")["gatewayId"]
    engine_id = new_engine(ctl, "cp_region_engine")["policyEngineId"]
    eu = lab.boto3_session().client("bedrock-agentcore-control", region_name="eu-west-1",
                                    endpoint_url=lab.control_url)
    assert eu.list_gateways()["items"] == [] and eu.list_policy_engines()["policyEngines"] == []
    calls = [lambda: eu.get_gateway(gatewayIdentifier=gid), lambda: eu.list_gateway_targets(gatewayIdentifier=gid),
             lambda: eu.get_policy_engine(policyEngineId=engine_id), lambda: eu.list_policies(policyEngineId=engine_id),
             lambda: eu.delete_gateway(gatewayIdentifier=gid)]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        eu.create_gateway(name="cp-region-eu", roleArn=ROLE, authorizerType="NONE")
    assert code(exc) == ("ValidationException", 400)
    assert "us-east-1" in str(exc.value) and "eu-west-1" in str(exc.value)
    assert not any(g.name == "cp-region-eu" for g in lab.state.gateways.values())
    # the lab's own region still answers, and nothing was deleted by the foreign request
    assert ctl.get_gateway(gatewayIdentifier=gid)["gatewayId"] == gid
    assert gid in {i["gatewayId"] for i in ctl.list_gateways()["items"]}


def test_lab_sessions_ignore_the_callers_profile_and_config(lab, monkeypatch, tmp_path):
    """A caller's AWS_PROFILE (even one that does not exist) or config file never reaches the lab's clients."""
    config = tmp_path / "config"
    config.write_text("[profile elsewhere]\nregion = ap-south-1\n[default]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(Exception, match="nope"):  # what the caller's environment alone would do
        boto3.Session().client("iam")
    session = lab.boto3_session()
    assert session.region_name == lab.region
    ctl = lab.client("bedrock-agentcore-control")
    assert ctl.meta.region_name == lab.region
    assert isinstance(ctl.list_gateways()["items"], list)
    assert lab.client("sts").get_caller_identity()["Account"] == LAB_ACCOUNT


def test_env_lists_what_clients_need(lab):
    env = lab.env()
    assert env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"] == lab.control_url
    assert env["AWS_ENDPOINT_URL_IAM"] == env["AWS_ENDPOINT_URL_STS"] == lab.iam_url
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == lab.region == "us-east-1"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    with pytest.raises(ValueError, match="does not serve"):
        lab.client("s3")


# --- the Lab's own life cycle ---------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_second_lab_starts_fast_and_releases_everything(lab):
    threads_before = {t.ident for t in threading.enumerate()}
    with Lab() as other:
        assert other.startup_s is not None and other.startup_s < 2.0, other.startup_s
        ports = [int(u.rsplit(":", 1)[1]) for u in (other.control_url, other.gateway_base_url, other.iam_url)]
        assert len(set(ports)) == 3 and lab.control_url not in (other.control_url, other.gateway_base_url)
        ctl = other.client("bedrock-agentcore-control")
        gid = new_gateway(ctl, "cp-other")["gatewayId"]
        assert other.state.gateway(gid) is not None and lab.state.gateway(gid) is None
    assert all(_port_is_free(p) for p in ports)
    deadline = time.monotonic() + 5
    while {t.ident for t in threading.enumerate()} - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {t.ident for t in threading.enumerate()} - threads_before == set()


def test_port_in_use_is_a_lab_error_and_releases_the_rest():
    """Lab(port=N) takes N, N+1, N+2: with N+1 taken, the error names it and N is given back."""
    for _ in range(50):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        if _port_is_free(taken - 1):
            break
        blocker.close()
    with blocker:
        with pytest.raises(LabError, match=f"127.0.0.1:{taken}:"):
            Lab(port=taken - 1).start()
        assert _port_is_free(taken - 1)
