"""The console's paths (the incident lives there), seed files, and `agentcore-probe lab`."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import httpx2
import pytest
from botocore.exceptions import ClientError

from probe.lab import role_check
from probe.lab.console import (
    SID_EVALUATE,
    SID_GET_ENGINE,
    SID_GET_GATEWAY,
    ConsoleError,
    default_targets,
)
from probe.lab.seed import SeedError, load_seed, parse_seed
from probe.lab.server import SEEDS_DIR
from probe.lab.state import LAB_ACCOUNT

REPO = Path(__file__).resolve().parents[2]
EVALUATE_ACTIONS = ["bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions"]
PERMIT_ALL = "permit(principal, action, resource is AgentCore::Gateway);"


def role_policies(iam, role_arn: str) -> dict[str, dict]:
    """The role's inline policies, read back with boto3 as an operator would."""
    name = role_arn.rsplit("/", 1)[-1]
    names = iam.list_role_policies(RoleName=name)["PolicyNames"]
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    return {n: iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"] for n in names}


def statements(iam, role_arn: str) -> dict[str, dict]:
    docs = role_policies(iam, role_arn)
    return {s["Sid"]: s for doc in docs.values() for s in doc["Statement"]}


@pytest.fixture(scope="module")
def iam(lab):
    return lab.client("iam")


@pytest.fixture(scope="module")
def ctl(lab):
    return lab.client("bedrock-agentcore-control")


@pytest.fixture(scope="module")
def engine(lab):
    e = lab.console.create_policy_engine("ConsoleEngine")
    lab.console.add_policy(e.engine_id, "permit_all", PERMIT_ALL)
    return e


# --- roles as the console makes them ----------------------------------------------------------------


def test_console_gateway_role_allows_only_get_gateway(lab, iam, ctl):
    g = lab.console.create_gateway("con-plain")
    role = iam.get_role(RoleName=g.role_arn.rsplit("/", 1)[-1])["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": LAB_ACCOUNT}
    assert statements(iam, g.role_arn) == {SID_GET_GATEWAY: {
        "Sid": SID_GET_GATEWAY, "Effect": "Allow", "Action": ["bedrock-agentcore:GetGateway"],
        "Resource": [f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:gateway/con-plain-*"]}}
    assert g.arn.startswith(f"arn:aws:bedrock-agentcore:us-east-1:{LAB_ACCOUNT}:gateway/con-plain-")
    assert ctl.get_gateway(gatewayIdentifier=g.gateway_id)["roleArn"] == g.role_arn
    assert role_check.missing_for_gateway(g) == []  # no engine: nothing to evaluate


def test_default_targets_fill_pages(lab, ctl):
    g = lab.console.create_gateway("con-targets")
    assert [t.name for t in g.targets] == ["RefundTarget", "WeatherTarget"]
    names = [f"{t.name}___{tool.name}" for t in g.targets for tool in t.tools]
    assert "RefundTarget___process_refund" in names and "WeatherTarget___get_forecast" in names
    assert len(names) >= 6 and all(t.lambda_arn is None for t in g.targets)
    refund = g.targets[0]
    assert refund.tools[0].input_schema["properties"]["amount"]["type"] == "number"
    described = ctl.get_gateway_target(gatewayIdentifier=g.gateway_id, targetId=refund.target_id)
    inline = json.loads(described["targetConfiguration"]["mcp"]["mcpServer"]["mcpToolSchema"]["inlinePayload"])
    assert [t["name"] for t in inline["tools"]] == [t.name for t in default_targets()[0].tools]
    assert lab.console.create_gateway("con-empty", targets=[]).targets == []


def test_policy_side_attach_leaves_the_role_alone(lab, iam, ctl, engine):
    g = lab.console.create_gateway("con-policy-side")
    before = role_policies(iam, g.role_arn)
    g = lab.console.attach_engine_from_policy_side(g.gateway_id, engine.engine_id, "ENFORCE")
    assert (g.policy_engine_arn, g.policy_engine_mode) == (engine.arn, "ENFORCE")
    got = ctl.get_gateway(gatewayIdentifier=g.gateway_id)
    assert got["policyEngineConfiguration"] == {"arn": engine.arn, "mode": "ENFORCE"}
    assert role_policies(iam, g.role_arn) == before
    assert set(statements(iam, g.role_arn)) == {SID_GET_GATEWAY}
    assert sorted(role_check.missing_for_gateway(g)) == sorted([
        (a, r) for a in EVALUATE_ACTIONS for r in (g.arn, engine.arn)
    ] + [("bedrock-agentcore:GetPolicyEngine", engine.arn)])


def _assert_evaluation_statements(iam, g, engine) -> None:
    found = statements(iam, g.role_arn)
    assert set(found) == {SID_GET_GATEWAY, SID_EVALUATE, SID_GET_ENGINE}
    assert found[SID_EVALUATE]["Action"] == EVALUATE_ACTIONS
    assert found[SID_EVALUATE]["Resource"] == [g.arn, engine.arn]
    assert found[SID_GET_ENGINE]["Action"] == ["bedrock-agentcore:GetPolicyEngine"]
    assert found[SID_GET_ENGINE]["Resource"] == [engine.arn]
    assert role_check.missing_for_gateway(g) == []


def test_gateway_side_attach_adds_the_statements(lab, iam, engine):
    g = lab.console.create_gateway("con-gateway-side")
    g = lab.console.attach_engine_from_gateway_side(g.gateway_id, engine.engine_id, "LOG_ONLY")
    assert (g.policy_engine_arn, g.policy_engine_mode) == (engine.arn, "LOG_ONLY")
    _assert_evaluation_statements(iam, g, engine)


def test_engine_at_creation_adds_the_statements(lab, iam, engine):
    g = lab.console.create_gateway("con-at-creation", policy_engine_id=engine.engine_id, mode="ENFORCE")
    assert (g.policy_engine_arn, g.policy_engine_mode) == (engine.arn, "ENFORCE")
    _assert_evaluation_statements(iam, g, engine)


def test_mode_detach_and_exception_level(lab, iam, ctl, engine):
    g = lab.console.create_gateway("con-modes", policy_engine_id=engine.engine_id, exception_level="DEBUG",
                                   search=True)
    assert g.exception_level == "DEBUG" and g.search_enabled
    g = lab.console.set_mode(g.gateway_id, "LOG_ONLY")
    assert ctl.get_gateway(gatewayIdentifier=g.gateway_id)["policyEngineConfiguration"]["mode"] == "LOG_ONLY"
    assert g.exception_level == "DEBUG" and g.search_enabled  # UpdateGateway carried the rest over
    g = lab.console.detach_engine(g.gateway_id)
    assert g.policy_engine_arn is None and g.policy_engine_mode is None
    assert SID_EVALUATE in statements(iam, g.role_arn)  # the console does not clean the role up
    with pytest.raises(ConsoleError, match="no policy engine"):
        lab.console.set_mode(g.gateway_id, "ENFORCE")
    assert lab.console.set_exception_level(g.gateway_id, None).exception_level is None


def test_custom_jwt_gateway_points_at_the_lab_issuer(lab, ctl):
    g = lab.console.create_gateway("con-jwt", authorizer_type="CUSTOM_JWT", allowed_clients=["lab-client"])
    jwt = ctl.get_gateway(gatewayIdentifier=g.gateway_id)["authorizerConfiguration"]["customJWTAuthorizer"]
    assert jwt == {"discoveryUrl": f"{lab.gateway_base_url}/.well-known/openid-configuration",
                   "allowedClients": ["lab-client"]}
    discovery = httpx2.get(jwt["discoveryUrl"]).json()
    assert discovery["token_endpoint"] == lab.token_url


def test_faults_and_bad_input(lab, engine):
    g = lab.console.create_gateway("con-faults", targets=[])
    faults = lab.console.set_faults(g.gateway_id, latency_ms=5, failing_tools=["A___b"], throttle=True)
    assert (faults.latency_ms, faults.failing_tools, faults.throttle) == (5, {"A___b"}, True)
    assert lab.state.gateway(g.gateway_id).faults is faults
    with pytest.raises(ConsoleError, match="unknown fault field"):
        lab.console.set_faults(g.gateway_id, latency=5)
    with pytest.raises(ConsoleError, match="no gateway"):
        lab.console.set_faults("ghost-0123456789", throttle=True)
    with pytest.raises(ConsoleError, match="no policy engine"):
        lab.console.attach_engine_from_policy_side(g.gateway_id, "Ghost-0123456789")
    with pytest.raises(ClientError) as exc:
        lab.console.add_policy(engine.engine_id, "broken", "permit(principal, action resource) ;;;")
    assert exc.value.response["Error"]["Code"] == "ValidationException"


# --- the incident, end to end over MCP -----------------------------------------------------------------


def _rpc(url: str, method: str, headers: dict[str, str], rpc_id: int = 1) -> dict:
    base = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    r = httpx2.post(url, json=init, headers={**base, **headers}, timeout=10)
    assert r.status_code == 200, r.text
    session = {"Mcp-Session-Id": r.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
    httpx2.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                headers={**base, **headers, **session}, timeout=10)
    r = httpx2.post(url, json={"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": {}},
                    headers={**base, **headers, **session}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_incident_reproduced_over_mcp_and_fixed_from_the_gateway_side(lab, engine):
    """Policy-side attach breaks tools/list; the Gateway-side edit (role statements) fixes it."""
    g = lab.console.create_gateway("con-e2e")
    url = lab.gateway_url(g.gateway_id)
    assert len(_rpc(url, "tools/list", {})["result"]["tools"]) >= 6
    lab.console.attach_engine_from_policy_side(g.gateway_id, engine.engine_id, "ENFORCE")
    broken = _rpc(url, "tools/list", {})["result"]
    assert broken["isError"] is True
    assert broken["content"][0]["text"].startswith("InternalServerException - Policy evaluation failed")
    lab.console.attach_engine_from_gateway_side(g.gateway_id, engine.engine_id, "ENFORCE")
    assert len(_rpc(url, "tools/list", {})["result"]["tools"]) >= 6


def test_oauth_token_from_the_lab_issuer_opens_a_jwt_gateway(lab):
    g = lab.console.create_gateway("con-oauth", authorizer_type="CUSTOM_JWT")
    url = lab.gateway_url(g.gateway_id)
    r = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"Accept": "application/json, text/event-stream"})
    assert r.status_code == 401
    lab.issuer.add_client("con-client", "con-secret-value")
    token = httpx2.post(lab.token_url, data={"grant_type": "client_credentials"},
                        auth=("con-client", "con-secret-value")).json()["access_token"]
    assert "tools" in _rpc(url, "tools/list", {"Authorization": f"Bearer {token}"})["result"]


# --- seed files ---------------------------------------------------------------------------------------------


def test_incident_seed_seeds_both_sides(lab, iam):
    seeded = lab.seed(SEEDS_DIR / "default.yaml", environ={})
    gw = seeded.gateways
    assert set(gw) == {"walkthrough", "incident", "logonly", "open"}
    engine_arn = lab.state.engine(seeded.engines["RefundPolicies"]).arn
    assert {n: (g.policy_engine_arn, g.policy_engine_mode) for n, g in gw.items()} == {
        "walkthrough": (engine_arn, "ENFORCE"), "incident": (engine_arn, "ENFORCE"),
        "logonly": (engine_arn, "LOG_ONLY"), "open": (None, None)}
    assert set(statements(iam, gw["incident"].role_arn)) == {SID_GET_GATEWAY}
    assert SID_EVALUATE in statements(iam, gw["walkthrough"].role_arn)
    assert role_check.missing_for_gateway(gw["walkthrough"]) == []
    assert len(role_check.missing_for_gateway(gw["incident"])) == 5
    policies = lab.state.engine(seeded.engines["RefundPolicies"]).policies.values()
    assert len(policies) == 6 and all(p.status == "ACTIVE" and not p.status_reasons for p in policies)
    (client,) = seeded.clients
    assert client.client_id == "refunds-agent" and client.generated
    assert lab.issuer.client("refunds-agent") is not None
    assert gw["walkthrough"].authorizer_configuration["customJWTAuthorizer"]["allowedClients"] == ["refunds-agent"]


def test_faults_seed_resolves_gateway_placeholders(lab):
    seeded = lab.seed(SEEDS_DIR / "faults.yaml", environ={})
    guarded = seeded.gateways["guarded"]
    statements_ = [p.statement for p in lab.state.engine(seeded.engines["GuardedRefunds"]).policies.values()]
    assert all(f'AgentCore::Gateway::"{guarded.arn}"' in s for s in statements_) and len(statements_) == 2
    assert guarded.targets[0].lambda_arn == f"arn:aws:lambda:us-east-1:{LAB_ACCOUNT}:function:refunds"
    assert guarded.faults.denial_shape == "preview"
    assert seeded.gateways["throttled"].faults.throttle is True
    assert seeded.gateways["slow"].faults.latency_ms == 1500
    assert seeded.gateways["broken-target-debug"].exception_level == "DEBUG"
    assert seeded.gateways["broken-target"].faults.failing_tools == {"WeatherTarget___get_forecast"}


def test_seed_secret_comes_from_the_named_env_var(lab):
    doc = {"oauth_clients": [{"client_id": "env-client", "secret_env": "CON_TEST_SECRET"}]}
    seeded = lab.seed(parse_seed(doc, "inline.yaml"), environ={"CON_TEST_SECRET": "from-env-value"})
    assert seeded.clients[0].generated is False
    token = httpx2.post(lab.token_url, data={"grant_type": "client_credentials"},
                        auth=("env-client", "from-env-value"))
    assert token.status_code == 200


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("gateways:\n  - name: a\n    colour: red\n", "gateways[0]: unknown key 'colour'"),
        ("gateways:\n  - name: a\n    mode: STRICT\n", "gateways[0].mode: must be one of LOG_ONLY, ENFORCE"),
        ("gateways:\n  - name: a\n    policy_engine: Nope\n", "gateways[0].policy_engine: no policy engine named"),
        ("gateways:\n  - name: a\n    search: yes please\n", "gateways[0].search: must be a boolean"),
        ("gateways:\n  - name: a\n    faults: {latency: 3}\n", "gateways[0].faults: unknown fault 'latency'"),
        ("gateways:\n  - name: a\n    faults: {latency_ms: -1}\n", "gateways[0].faults.latency_ms: invalid"),
        ("gateways:\n  - {name: a}\n  - {name: a}\n", "gateways: gateway 'a' is defined twice"),
        ("gateways:\n  - name: a\n    attach_from: policy\n", "gateways[0].attach_from: needs policy_engine"),
        ("gateways:\n  - {name: a, targets: [{name: T, tools: [{name: t, args: {x: text}}]}]}\n",
         "gateways[0].targets[0].tools[0].args: type of 'x'"),
        ("policy_engines:\n  - name: E\n    policies: [{name: p}]\n",
         "policy_engines[0].policies[0].cedar: is required"),
        ("policy_engines:\n  - name: E\n    policies:\n      - name: p\n        cedar: '${gateway_arn:zz}'\n",
         "policy_engines[0].policies[0].cedar: no gateway named 'zz'"),
        ("oauth_clients: [{client_id: c, secret_env: 'not a name'}]\n", "oauth_clients[0].secret_env"),
        ("gateways: {name: a}\n", "gateways: must be a list"),
        ("- just\n- a list\n", "(top): must be a mapping"),
        ("gateways: [\n", "line "),
        ("page_size: 0\n", "page_size: must be at least 1, not 0"),
        ("page_size: ten\n", "page_size: must be a number"),
        ("page_size: true\n", "page_size: must be a number"),
    ],
)
def test_bad_seed_files_name_file_and_field(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SeedError) as exc:
        load_seed(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and where in message, message
    assert "\n" not in message


def test_missing_seed_file(tmp_path):
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "absent.yaml")


def test_seed_failing_at_the_api_names_the_entry(lab, tmp_path):
    path = tmp_path / "cedar.yaml"
    path.write_text("policy_engines:\n  - name: BadCedar\n    policies:\n"
                    "      - {name: p, cedar: 'permit(principal, action resource) when { true };'}\n")
    with pytest.raises(SeedError) as exc:
        lab.seed(path, environ={})
    assert str(exc.value).startswith(f"{path}: policy_engines[0].policies[0]: ValidationException: ")


# --- agentcore-probe lab ------------------------------------------------------------------------------------


def _start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "probe", "lab", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or os.environ.copy())


def _printout(proc: subprocess.Popen[str]) -> list[str]:
    """What `agentcore-probe lab` printed, up to its last line."""
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ready:"):
        line = proc.stdout.readline()
        assert line, "\n".join(lines) + proc.stderr.read()  # the lab died before printing everything
        lines.append(line.rstrip("\n"))
    return lines


def _as_operator(lines: list[str], command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a printed command as an operator would: in bash, after the printed exports and unsets."""
    setup = [line.strip() for line in lines if line.startswith(("  export ", "  unset "))]
    script = "\n".join([f'agentcore-probe() {{ {shlex.quote(sys.executable)} -m probe "$@"; }}', *setup, command])
    return subprocess.run(["bash", "-c", script], cwd=REPO, text=True, capture_output=True, timeout=60, env=env,
                          check=False)


def test_lab_main_prints_how_to_reach_it_and_stops_on_ctrl_c():
    # A profile that does not exist must not matter: the lab never uses the caller's AWS setup.
    env = {**os.environ, "AWS_PROFILE": "nope"}
    proc = _start_cli(env=env)
    try:
        lines = _printout(proc)
        text = "\n".join(lines)
        exports = dict(line.split("export ", 1)[1].split("=", 1) for line in lines if line.startswith("  export AWS_"))
        assert set(exports) >= {"AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", "AWS_ENDPOINT_URL_IAM",
                                "AWS_ENDPOINT_URL_STS", "AWS_DEFAULT_REGION", "AWS_REGION"}
        assert "(tools/list pages of 5)" in text  # the default seed's page_size
        commands = [line.strip() for line in lines if line.strip().startswith("agentcore-probe ")]
        run_lines = [c for c in commands if c.startswith("agentcore-probe run ")]
        # every run names its gateway and region, or the IAM tie-in could not be reached from a lab URL
        for line in run_lines:
            url, gateway_id = line.split()[2], line.split("--gateway-id ", 1)[1].split()[0]
            assert url.endswith(f"/{gateway_id}/mcp") and f"--gateway-id {gateway_id} --region us-east-1 " in line
        assert sum("--oauth-client-id refunds-agent --oauth-client-secret-env LAB_OAUTH_CLIENT_SECRET" in line
                   for line in run_lines) == 6  # walkthrough and incident: a listing and two calls each
        checks = [c.split("   #", 1)[0] for c in commands if c.startswith("agentcore-probe iam check ")]
        assert len(checks) == 3 and all(
            re.fullmatch(r"agentcore-probe iam check --gateway-id (walkthrough|incident|logonly)-\w{10} "
                         r"--region us-east-1", c) for c in checks), checks
        secret_line = next(line for line in lines if "export LAB_OAUTH_CLIENT_SECRET=" in line)
        secret_file = Path(secret_line.split("$(cat ", 1)[1].split(")", 1)[0])
        secret = secret_file.read_text()
        assert secret and secret not in text
        assert secret_file.stat().st_mode & 0o777 == 0o600
        # The printed endpoints answer, and the printed gateway URLs are the control plane's.
        ctl = boto3.client("bedrock-agentcore-control", region_name="us-east-1",
                           endpoint_url=exports["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL"])
        urls = {ctl.get_gateway(gatewayIdentifier=i["gatewayId"])["gatewayUrl"]
                for i in ctl.list_gateways()["items"]}
        assert {line.split()[2] for line in run_lines} == urls
        token_url = next(word for word in text.split() if word.endswith("/oauth2/token"))
        token = httpx2.post(token_url, data={"grant_type": "client_credentials"}, auth=("refunds-agent", secret))
        assert token.status_code == 200
        # The incident's printed commands, run as printed (with AWS_PROFILE=nope still in the shell).
        incident_check = next(c for c in checks if "--gateway-id incident-" in c)
        check = _as_operator(lines, incident_check, env)
        assert check.returncode == 3, check.stdout + check.stderr
        for action in ("AuthorizeAction", "PartiallyAuthorizeActions", "GetPolicyEngine"):
            assert f"bedrock-agentcore:{action} on arn:aws:bedrock-agentcore:us-east-1:" in check.stdout
        incident_run = next(c for c in run_lines if "--gateway-id incident-" in c and "--call" not in c)
        assert incident_run.endswith("# policy_internal_failure: the role may not evaluate policies: "
                                     "`iam check` names what is missing")
        run = _as_operator(lines, incident_run, env)
        assert run.returncode == 21, run.stdout + run.stderr
        assert "MISSING PERMISSIONS (5 of 5" in run.stdout  # the IAM tie-in, reached from the printed line
        assert secret not in run.stdout + run.stderr + check.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "lab stopped" in out and "Traceback" not in err
    assert secret not in out + err
    assert not secret_file.exists()  # the lab's temporary secrets go with it


def test_lab_main_port_in_use_is_one_line_exit_2():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        proc = _start_cli("--port", str(port))
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.count("\n") == 1 and f"127.0.0.1:{port}" in err and err.startswith("agentcore-probe: error:")


def test_lab_main_bad_seed_is_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("gateways:\n  - name: a\n    mode: STRICT\n")
    proc = _start_cli("--seed", str(path))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err == f"agentcore-probe: error: {path}: gateways[0].mode: must be one of LOG_ONLY, ENFORCE, not 'STRICT'\n"


def test_lab_main_aws_tooling_failure_is_one_line_exit_2(monkeypatch, capsys):
    """A botocore failure while seeding (here: the control plane unreachable) is one line, not a traceback."""
    from botocore.exceptions import EndpointConnectionError

    from probe.cli.lab import lab_main
    from probe.lab.server import Lab

    def unreachable(self, spec, **kw):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/gateways/")

    monkeypatch.setattr(Lab, "seed", unreachable)
    assert lab_main(argparse.Namespace(port=0, seed=None)) == 2
    err = capsys.readouterr().err
    assert err == ("agentcore-probe: error: the lab's AWS clients failed: Could not connect to the endpoint URL: "
                   '"http://127.0.0.1:1/gateways/"\n')


def test_seed_page_size_sets_the_labs_pages(lab):
    before = lab.page_size
    try:
        lab.seed(parse_seed({"page_size": 3}, "pages.yaml"), environ={})
        assert lab.page_size == 3
        g = lab.console.create_gateway("con-pages")
        with httpx2.Client(timeout=10) as http:
            headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                       "Mcp-Method": "tools/list"}
            meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {}}
            answer = http.post(lab.gateway_url(g.gateway_id), headers=headers, json={
                "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}).json()["result"]
        assert len(answer["tools"]) == 3 and answer["nextCursor"]
        lab.seed(parse_seed({}, "none.yaml"), environ={})  # a seed without page_size leaves it alone
        assert lab.page_size == 3
        for bad in (0, -1, True, 2.5):
            with pytest.raises(ValueError, match="page_size"):
                lab.page_size = bad
    finally:
        lab.page_size = before
