"""`discover` and `iam check --all` against two labs (two regions, one with the incident).

The lab emulates one region, so two labs run side by side (us-east-1 and us-west-2) behind a
loopback router that plays AWS's regional endpoints: it forwards each control-plane request
to the lab of the region the request is signed for (SigV4 credential scope), and answers
403 AccessDeniedException for eu-west-1, as AWS does for a caller without
bedrock-agentcore:ListGateways there. boto3 and the CLI reach it through the standard
AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL. The core function is also driven with
botocore's Stubber (AccessDenied in one region, paging, a GetGateway failure).
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import yaml
from botocore.stub import Stubber

from probe.cli import main
from probe.discover import discover, scenario_text
from probe.lab.controlplane import signed_region
from probe.lab.server import Lab
from probe.lab.state import LabState

EAST, WEST, DENIED = "us-east-1", "us-west-2", "eu-west-1"


class RegionRouter:
    """A loopback HTTP server forwarding each request to the upstream of its signed region."""

    def __init__(self, upstreams: dict[str, str], denied: set[str]) -> None:
        router = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                region = signed_region(self.headers.get("authorization"), None)
                if region in router.denied or region not in router.upstreams:
                    doc = json.dumps({"message": f"User is not authorized to perform "
                                                 f"bedrock-agentcore:ListGateways in {region}"}).encode()
                    self.send_response(403)
                    self.send_header("x-amzn-ErrorType", "AccessDeniedException")
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(doc)))
                    self.end_headers()
                    self.wfile.write(doc)
                    return
                up = urlsplit(router.upstreams[region])
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.upstreams = upstreams
        self.denied = denied
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RegionRouter:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def west():
    with Lab(state=LabState(region=WEST)) as lab:
        yield lab


@pytest.fixture(scope="module")
def fleet(lab, west):
    """us-east-1: the incident, a healthy enforced gateway, an open one, a JWT one; us-west-2: two healthy ones."""
    e, w = lab.console, west.console
    east_engine = e.create_policy_engine("refunds")
    west_engine = w.create_policy_engine("orders")
    g = {
        "incident": e.create_gateway("incident"),
        "walkthrough": e.create_gateway("walkthrough", policy_engine_id=east_engine.engine_id, mode="ENFORCE"),
        "open": e.create_gateway("open"),
        "jwt": e.create_gateway("jwt", authorizer_type="CUSTOM_JWT"),
        "orders": w.create_gateway("orders", policy_engine_id=west_engine.engine_id, mode="LOG_ONLY"),
        "signed": w.create_gateway("signed", authorizer_type="AWS_IAM"),
    }
    e.attach_engine_from_policy_side(g["incident"].gateway_id, east_engine.engine_id, "ENFORCE")
    return g


@pytest.fixture
def regions_env(lab, west, fleet, monkeypatch):
    with RegionRouter({EAST: lab.control_url, WEST: west.control_url}, {DENIED}) as router:
        for name, value in lab.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", router.url)
        yield router


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "testing" not in out + err  # the placeholder secret key never shows
    return code, out, err


# --- discover ------------------------------------------------------------------------------------


def test_discover_lists_both_regions_skips_the_denied_one_and_writes_a_scenario(
        lab, west, fleet, regions_env, capsys, tmp_path):
    path = tmp_path / "fleet.yaml"
    code, out, err = cli(capsys, "discover", "--regions", f"{EAST},{WEST},{DENIED}", "--output", str(path))
    assert code == 0
    rows = {line.split()[1]: line.split() for line in out.splitlines()[1:-1] if not line.startswith(DENIED)}
    assert set(rows) == {gw.gateway_id for gw in fleet.values()}
    incident = rows[fleet["incident"].gateway_id]
    assert incident[:6] == [EAST, fleet["incident"].gateway_id, "NONE", fleet["incident"].policy_engine_arn.rsplit(
        "/", 1)[-1], "ENFORCE", "READY"]
    assert incident[6] == lab.gateway_url(fleet["incident"].gateway_id)
    assert rows[fleet["orders"].gateway_id][0] == WEST and rows[fleet["orders"].gateway_id][4] == "LOG_ONLY"
    assert rows[fleet["orders"].gateway_id][6] == west.gateway_url(fleet["orders"].gateway_id)
    assert rows[fleet["jwt"].gateway_id][2] == "CUSTOM_JWT" and rows[fleet["signed"].gateway_id][2] == "AWS_IAM"
    assert out.splitlines()[-1] == "6 gateway(s) in 2 region(s); 1 region(s) skipped"
    assert f"agentcore-probe: {DENIED}: skipped (no access): ListGateways: AccessDeniedException" in err
    assert f"wrote {path}: 6 gateway(s)" in err

    doc = yaml.safe_load(path.read_text())
    assert doc["version"] == 1
    assert set(doc["gateways"]) == {"incident", "walkthrough", "open", "jwt", "orders", "signed"}
    assert doc["gateways"]["orders"] == {"url": west.gateway_url(fleet["orders"].gateway_id),
                                         "gateway_id": fleet["orders"].gateway_id, "region": WEST,
                                         "auth": "none"}
    assert doc["gateways"]["jwt"]["auth"] == {"bearer_token_env": "GW_TOKEN_JWT"}
    assert doc["gateways"]["signed"]["auth"] == {"sigv4": {}}
    assert {p["name"]: p["expect"] for p in doc["probes"]} == {f"{n}-list": "ok" for n in doc["gateways"]}
    by_name = {p["name"]: p for p in doc["probes"]}
    assert by_name["incident-list"]["policy_engine"] == {"mode": "ENFORCE"}
    assert "policy_engine" not in by_name["open-list"]
    text = path.read_text()
    assert f"# Regions skipped (not readable): {DENIED}." in text
    assert "never put a token or secret in this file" in text


def test_the_written_scenario_loads_and_runs(lab, west, fleet, regions_env, capsys, tmp_path, monkeypatch):
    from probe.scenario import load

    path = tmp_path / "fleet.yaml"
    assert cli(capsys, "discover", "--regions", f"{EAST},{WEST}", "-o", str(path))[0] == 0
    monkeypatch.setenv("GW_TOKEN_JWT", lab.issuer.issue(lab.issuer.default_client.client_id))
    loaded = load([str(path)], env={"GW_TOKEN_JWT": "set"})
    assert len(loaded.probes) == 6
    signed = loaded.gateways["signed"]
    assert (signed.gateway_id, signed.region, signed.auth.sigv4) == (fleet["signed"].gateway_id, WEST, True)
    code, out, _ = cli(capsys, "run", "-f", str(path), "--format", "json",
                       "--only", "open-list", "--only", "jwt-list", "--only", "incident-list", "--only", "orders-list")
    report = json.loads(out)
    outcomes = {p["name"]: (p["outcome"], p["expectation_met"]) for p in report["probes"]}
    assert outcomes == {
        "open-list": ("ok", True),
        "jwt-list": ("ok", True),  # the bearer token read from GW_TOKEN_JWT, as the file says
        "incident-list": ("policy_internal_failure", False),  # the incident, found by the generated monitor
        "orders-list": ("ok", True),  # LOG_ONLY, and the engine's mode read back through the router
    }
    assert code == 1


def test_discover_json(fleet, regions_env, capsys):
    code, out, _ = cli(capsys, "discover", "--regions", f"{WEST},{DENIED}", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["skipped_regions"] == [DENIED] and data["gateways"] == 2
    west_region, denied = data["regions"]
    assert (west_region["region"], west_region["status"]) == (WEST, "ok")
    assert {g["gateway_id"] for g in west_region["gateways"]} == {fleet["orders"].gateway_id,
                                                                  fleet["signed"].gateway_id}
    assert denied["status"] == "skipped" and denied["access_denied"] is True
    assert denied["error"].startswith("ListGateways: AccessDeniedException: User is not authorized")


def test_discover_with_no_readable_region_is_exit_2(regions_env, capsys, tmp_path):
    code, _, err = cli(capsys, "discover", "--regions", DENIED, "-o", str(tmp_path / "x.yaml"))
    assert code == 2
    assert err.splitlines()[-1] == "agentcore-probe: error: no region could be read"
    assert not (tmp_path / "x.yaml").exists()


def test_discover_all_uses_botocores_region_list(regions_env, capsys, monkeypatch):
    import probe.discover

    monkeypatch.setattr(probe.discover, "available_regions", lambda session: [])
    code, _, err = cli(capsys, "discover", "--regions", "all")
    assert code == 2
    assert "get_available_regions is empty" in err and "--regions us-east-1,us-west-2" in err
    monkeypatch.setattr(probe.discover, "available_regions", lambda session: [WEST, DENIED])
    code, out, _ = cli(capsys, "discover", "--regions", "all", "--format", "json")
    assert code == 0 and [r["region"] for r in json.loads(out)["regions"]] == [WEST, DENIED]


@pytest.mark.parametrize("regions", ["us-east-1,Nowhere", ",", "us-east-1;us-west-2"])
def test_discover_bad_regions_is_a_usage_error(regions, capsys):
    code, out, err = cli(capsys, "discover", "--regions", regions)
    assert code == 2 and out == ""
    assert err.startswith("agentcore-probe: error: --regions")


def test_discover_without_credentials_is_one_line(capsys, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = cli(capsys, "discover", "--regions", EAST)
    assert code == 2 and err.startswith("agentcore-probe: error: no AWS credentials found")


# --- the core function with botocore's Stubber ----------------------------------------------------


def stubbed(region):
    import boto3

    client = boto3.Session().client("bedrock-agentcore-control", region_name=region)
    return client, Stubber(client)


def test_access_denied_in_one_region_with_stubber(lab, fleet):
    denied, stub = stubbed("eu-central-1")
    stub.add_client_error("list_gateways", service_error_code="AccessDeniedException",
                          service_message="not authorized", http_status_code=403)
    with stub:
        clients = {EAST: lab.client("bedrock-agentcore-control"), "eu-central-1": denied}
        results = discover([EAST, "eu-central-1"], session=lab.boto3_session(), client_for=clients.__getitem__)
        stub.assert_no_pending_responses()
    east, central = results
    assert not east.skipped
    assert {g.gateway_id for g in east.gateways} == {fleet[k].gateway_id for k in ("incident", "walkthrough",
                                                                                   "open", "jwt")}
    assert (central.skipped, central.access, central.gateways) == (True, True, [])
    assert central.error == "ListGateways: AccessDeniedException: not authorized"
    assert "eu-central-1" in scenario_text(results) and "incident:" in scenario_text(results)


def test_paging_and_an_unreadable_gateway_with_stubber():
    import boto3

    client, stub = stubbed(WEST)
    summary = {"gatewayId": "a-1", "name": "Alpha", "status": "READY", "authorizerType": "CUSTOM_JWT",
               "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
    stub.add_response("list_gateways", {"items": [summary], "nextToken": "page2"}, {})
    stub.add_response("list_gateways", {"items": [summary | {"gatewayId": "b-2", "name": "alpha"}]},
                      {"nextToken": "page2"})
    stub.add_response("get_gateway", {
        "gatewayId": "a-1", "gatewayUrl": "https://a-1.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp",
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "name": "Alpha",
        "status": "READY", "authorizerType": "CUSTOM_JWT",
        "gatewayArn": "arn:aws:bedrock-agentcore:us-west-2:123456789012:gateway/a-1",
        "policyEngineConfiguration": {"arn": "arn:aws:bedrock-agentcore:us-west-2:123456789012:policy-engine/pe-1",
                                      "mode": "ENFORCE"}}, {"gatewayIdentifier": "a-1"})
    stub.add_client_error("get_gateway", service_error_code="AccessDeniedException",
                          service_message="no GetGateway", http_status_code=403,
                          expected_params={"gatewayIdentifier": "b-2"})
    with stub:
        (result,) = discover([WEST], session=boto3.Session(), client_for=lambda r: client)
        stub.assert_no_pending_responses()
    a, b = result.gateways
    assert (a.url, a.policy_engine_mode, a.authorizer_type) == (
        "https://a-1.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp", "ENFORCE", "CUSTOM_JWT")
    assert (b.url, b.errors) == (None, ["GetGateway: AccessDeniedException: no GetGateway"])
    text = scenario_text([result])
    assert "# Gateways left out (GetGateway failed, no URL): b-2 (us-west-2)." in text
    doc = yaml.safe_load(text)
    assert doc["gateways"] == {"alpha": {"url": a.url, "gateway_id": "a-1", "region": WEST,
                                         "auth": {"bearer_token_env": "GW_TOKEN_ALPHA"}}}


def test_scenario_names_stay_unique_across_regions():
    from probe.discover import GatewayInfo, RegionResult

    results = [RegionResult(region=r, gateways=[GatewayInfo(region=r, gateway_id=f"x-{r}", name="Refunds GW",
                                                            url=f"https://{r}/mcp", authorizer_type="NONE")])
               for r in (EAST, WEST)]
    doc = yaml.safe_load(scenario_text(results))
    assert list(doc["gateways"]) == ["refunds-gw-us-east-1", "refunds-gw-us-west-2"]
    assert [p["gateway"] for p in doc["probes"]] == list(doc["gateways"])
    assert yaml.safe_load(scenario_text([RegionResult(region=EAST)])) | {} == {
        "version": 1, "defaults": {"timeout": 10, "retries": 1, "max_run_time": 30}, "gateways": {}, "probes": []}


# --- iam check --all ---------------------------------------------------------------------------------


def test_iam_check_all_finds_the_incident_in_one_region(lab, west, fleet, regions_env, capsys):
    code, out, err = cli(capsys, "iam", "check", "--all", "--regions", f"{EAST},{WEST},{DENIED}")
    lines = out.splitlines()
    by_id = {line.split()[0]: line for line in lines[:-1]}
    assert set(by_id) == {fleet[k].gateway_id for k in ("incident", "walkthrough", "orders")}
    inc = fleet["incident"].gateway_id
    assert by_id[inc].startswith(f"{inc}  {EAST}  ENFORCE  missing_permissions  missing=")
    assert int(by_id[inc].split("missing=")[1].split()[0]) >= 2
    assert by_id[inc].endswith(f"fix: agentcore-probe iam fix --gateway-id {inc} --region {EAST} --apply")
    orders = fleet["orders"].gateway_id
    assert by_id[orders] == f"{orders}  {WEST}  LOG_ONLY  ok  missing=0  fix: -"
    assert " ok  missing=0  fix: -" in by_id[fleet["walkthrough"].gateway_id]
    assert lines[-1] == (f"3 gateway(s) with a policy engine checked; 3 without one (nothing to check); "
                         f"region(s) skipped: {DENIED}")
    assert f"{DENIED}: skipped (no access)" in err
    assert code == 3


def test_iam_check_all_json(fleet, regions_env, capsys):
    code, out, _ = cli(capsys, "iam", "check", "--all", "--regions", EAST, "--format", "json")
    data = json.loads(out)
    assert code == data["exit_code"] == 3
    verdicts = {g["gateway_id"]: (g["verdict"], g["exit_code"]) for g in data["gateways"]}
    assert verdicts == {fleet["incident"].gateway_id: ("missing_permissions", 3),
                        fleet["walkthrough"].gateway_id: ("ok", 0)}
    incident = next(g for g in data["gateways"] if g["gateway_id"] == fleet["incident"].gateway_id)
    assert incident["check"]["role_arn"] == fleet["incident"].role_arn
    assert data["without_policy_engine"] == 2 and data["skipped_regions"] == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--all", "--gateway-id", "gw-1", "--regions", EAST], "--all checks every gateway: do not name one"),
    (["--all", "https://gw-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"], "do not name one"),
    (["--regions", EAST, "--gateway-id", "gw-1"], "--regions applies to --all"),
    (["--all", "--region", EAST], "with --all, name the regions with --regions"),
    (["--all", "--regions", "Mars-1"], "--regions: 'Mars-1' is not an AWS region name"),
])
def test_iam_check_all_usage_errors(argv, message, capsys):
    code, out, err = cli(capsys, "iam", "check", *argv)
    assert (code, out) == (2, "")
    assert err.startswith("agentcore-probe: error: ") and message in err


def test_iam_check_all_after_the_fix_is_clean_but_a_skipped_region_is_undecided(lab, fleet, regions_env, capsys):
    inc = fleet["incident"].gateway_id
    assert cli(capsys, "iam", "fix", "--gateway-id", inc, "--region", EAST, "--apply")[0] == 0
    code, out, _ = cli(capsys, "iam", "check", "--all", "--regions", f"{EAST},{WEST}")
    assert code == 0 and f"{inc}  {EAST}  ENFORCE  ok  missing=0  fix: -" in out
    code, out, _ = cli(capsys, "iam", "check", "--all", "--regions", f"{EAST},{DENIED}")
    assert code == 4 and out.splitlines()[-1].endswith(f"region(s) skipped: {DENIED}")
