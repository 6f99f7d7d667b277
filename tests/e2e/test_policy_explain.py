"""`run`'s policy explanation against the lab: which policy decided, and the denial that is an IAM fault.

Real MCP sessions to the lab's gateways, real boto3 reads of its control plane, a real IAM
check (moto), cedarpy deciding. Each test asserts what the operator sees: the outcome,
the exit code, the diagnosis lines and the JSON under `diagnoses`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shlex
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from probe.cli import build_parser, main
from probe.cli.lab import describe
from probe.cli.run import probe_from_args
from probe.demo import probe_run
from probe.diagnose import diagnose
from probe.diagnose_policy import Caller
from probe.outcome import Outcome, RunResult
from probe.spec import Call, Probe, Target

REFUND = "RefundTarget___process_refund"
SMALL = """permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
                  resource == AgentCore::Gateway::"{arn}")
when {{ context.input.amount.lessThan(decimal("500.0")) }};"""
NO_BIG = """forbid(principal, action == AgentCore::Action::"RefundTarget___process_refund",
                  resource == AgentCore::Gateway::"{arn}")
when {{ context.input.amount.greaterThan(decimal("1000.0")) }};"""
RUNNER_ONLY = """permit(principal == AgentCore::IamEntity::"{who}",
                  action == AgentCore::Action::"RefundTarget___get_order",
                  resource == AgentCore::Gateway::"{arn}");"""
EVALUATION_ACTIONS = {"bedrock-agentcore:AuthorizeAction", "bedrock-agentcore:PartiallyAuthorizeActions",
                      "bedrock-agentcore:GetPolicyEngine"}


@pytest.fixture(autouse=True)
def _lab_endpoints(lab_env: dict[str, str]) -> dict[str, str]:
    """boto3 (the diagnosis, the IAM check) talks to this module's lab."""
    return lab_env


def run(capsys: pytest.CaptureFixture[str], lab: Any, gateway: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", lab.gateway_url(gateway.gateway_id), "--gateway-id", gateway.gateway_id, "--region",
                 lab.region, "--format", "json", "--retries", "0", "--timeout", "5", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out)


def explanation(report: dict[str, Any]) -> dict[str, Any]:
    (found,) = [d for d in report["diagnoses"] if d["kind"] == "policy_explanation"]
    return found


def refund(amount: int) -> list[str]:
    return ["--call", REFUND, "--args", json.dumps({"order_id": "o-1", "amount": amount})]


@pytest.fixture(scope="module")
def gateways(lab: Any) -> dict[str, Any]:
    c = lab.console
    g: dict[str, Any] = {}
    engine = c.create_policy_engine("explained")
    g["enforced"] = c.create_gateway("explained", policy_engine_id=engine.engine_id)
    c.add_policy(engine.engine_id, "small_refunds", SMALL.format(arn=g["enforced"].arn))
    c.add_policy(engine.engine_id, "no_big_refunds", NO_BIG.format(arn=g["enforced"].arn))
    # The second form: attached from the Policy side (the role lacks the pairs), denying by default.
    second_engine = c.create_policy_engine("secondform")
    for name, search in (("secondform", False), ("secondsearch", True)):
        g[name] = c.create_gateway(name, search=search)
        c.add_policy(second_engine.engine_id, f"small_{name}", SMALL.format(arn=g[name].arn))
        c.attach_engine_from_policy_side(g[name].gateway_id, second_engine.engine_id)
        c.set_faults(g[name].gateway_id, permission_fault_form="deny_by_default")
    # A SigV4 gateway whose only permit names one IAM user: the probe's principal comes from STS.
    iam = lab.client("iam")
    iam.create_user(UserName="explain-runner")
    g["key"] = iam.create_access_key(UserName="explain-runner")["AccessKey"]
    who = iam.get_user(UserName="explain-runner")["User"]["Arn"]
    sig_engine = c.create_policy_engine("runneronly")
    g["sigv4"] = c.create_gateway("runneronly", authorizer_type="AWS_IAM", policy_engine_id=sig_engine.engine_id)
    c.add_policy(sig_engine.engine_id, "runner_reads", RUNNER_ONLY.format(who=who, arn=g["sigv4"].arn))
    return g


def test_a_forbid_names_its_policy_with_its_text(lab, gateways, capsys) -> None:
    code, report = run(capsys, lab, gateways["enforced"], *refund(5000))
    assert (code, report["outcome"]) == (20, "policy_denied")
    d = explanation(report)
    assert d["data"]["kind"] == "forbid" and [p["name"] for p in d["data"]["policies"]] == ["no_big_refunds"]
    assert d["lines"][0].startswith("Policies: forbidden by no_big_refunds (")
    assert any("greaterThan(decimal(\"1000.0\"))" in line for line in d["lines"])  # the forbid's text
    assert report["iam"] is None  # the policies' own doing: no IAM check


def test_a_default_deny_names_the_permit_whose_condition_failed(lab, gateways, capsys) -> None:
    code, report = run(capsys, lab, gateways["enforced"], *refund(900))
    assert (code, report["outcome"]) == (20, "policy_denied")
    d = explanation(report)
    assert d["data"]["kind"] == "default_deny"
    (permit,) = d["data"]["policies"]
    assert permit["name"] == "small_refunds" and permit["failed"] == ["when"]
    assert any(line.startswith("  permit small_refunds (") and line.endswith("did not hold: when")
               for line in d["lines"])
    # The text report shows the same lines as notes.
    code = main(["run", lab.gateway_url(gateways["enforced"].gateway_id), "--gateway-id",
                 gateways["enforced"].gateway_id, "--region", lab.region, "--retries", "0", *refund(900)])
    text = capsys.readouterr().out
    assert code == 20 and "note: Policies: denied by default: 1 permit(s) on this tool did not match" in text


def test_second_form_hidden_tools_are_a_policy_internal_failure(lab, gateways, capsys) -> None:
    code, report = run(capsys, lab, gateways["secondform"])
    assert report["steps"][-1]["outcome"] == "empty_tools"  # what the wire said
    assert (code, report["outcome"]) == (21, "policy_internal_failure")  # what it is
    missing = report["iam"]["missing"]
    assert len(missing) == 5 and {m["action"] for m in missing} == EVALUATION_ACTIONS
    d = explanation(report)
    assert d["data"]["second_form"] is True and d["data"]["kind"] == "listable"
    assert any("second form of the policy-permissions fault" in line for line in d["lines"])
    assert not any("none could permit" in line for d2 in report["diagnoses"] for line in d2["lines"])
    # The same with --call: the listing is empty, so the run stops there, with the same verdict.
    code, report = run(capsys, lab, gateways["secondform"], *refund(100))
    assert (code, report["outcome"]) == (21, "policy_internal_failure")


def test_second_form_with_search_only_listed_is_a_policy_internal_failure(lab, gateways, capsys) -> None:
    # Semantic search keeps its own tool in the list; the gateway's tools are all hidden.
    code, report = run(capsys, lab, gateways["secondsearch"], *refund(100))
    assert report["tools"] == ["x_amz_bedrock_agentcore_search"]
    assert (code, report["outcome"]) == (21, "policy_internal_failure")
    assert len(report["iam"]["missing"]) == 5


def test_second_form_missing_tool_is_a_policy_internal_failure(lab, gateways) -> None:
    """tool_missing (a listing without the tool) on the second form, through the diagnose stage against the lab:
    the lab's second form hides every tool, so `run` stops at empty_tools before it could miss one."""
    g = gateways["secondform"]
    probe = Probe(Target(lab.gateway_url(g.gateway_id), gateway_id=g.gateway_id, region=lab.region),
                  call=Call(REFUND, {"order_id": "o-1", "amount": 100}))
    result = RunResult(url=probe.target.url, protocol_version="", outcome=Outcome.TOOL_MISSING, steps=[])
    found = asyncio.run(diagnose(probe, result, Caller("none")))
    assert found.outcome is Outcome.POLICY_INTERNAL_FAILURE
    explained, iam = found.diagnoses
    assert explained.data["tool"] == REFUND and explained.data["second_form"] is True
    assert len(iam.data["missing"]) == 5
    # A tool no target has is a name mistake, not the policies': nothing to explain.
    probe = Probe(probe.target, call=Call("RefundTarget___no_such_tool", {}))
    assert asyncio.run(diagnose(probe, result, Caller("none"))).diagnoses == []


def test_second_form_denied_call_is_a_policy_internal_failure(lab, gateways) -> None:
    """A call denied by default although a permit matches (the wire's policy_denied), through the diagnose
    stage against the lab: the lab's second form never lists the tool, so `run` cannot reach the call."""
    g = gateways["secondform"]
    probe = Probe(Target(lab.gateway_url(g.gateway_id), gateway_id=g.gateway_id, region=lab.region),
                  call=Call(REFUND, {"order_id": "o-1", "amount": 100}))
    result = RunResult(url=probe.target.url, protocol_version="", outcome=Outcome.POLICY_DENIED, steps=[])
    found = asyncio.run(diagnose(probe, result, Caller("none")))
    assert found.outcome is Outcome.POLICY_INTERNAL_FAILURE
    kinds = [d.kind for d in found.diagnoses]
    assert kinds == ["policy_explanation", "iam_check"]
    assert found.diagnoses[0].data["kind"] == "permit"
    assert "the policies permit this call" in found.diagnoses[0].lines[0]
    assert len(found.diagnoses[1].data["missing"]) == 5


def test_policies_that_permit_on_a_fine_role_are_a_disagreement(lab, gateways) -> None:
    """The role holds every pair, yet the gateway denied what the policies permit: the outcome stays, and the
    finding carries the Cedar request as the probe built it, for a support case."""
    g = gateways["enforced"]
    probe = Probe(Target(lab.gateway_url(g.gateway_id), gateway_id=g.gateway_id, region=lab.region),
                  call=Call(REFUND, {"order_id": "o-1", "amount": 100}))
    result = RunResult(url=probe.target.url, protocol_version="", outcome=Outcome.POLICY_DENIED, steps=[])
    found = asyncio.run(diagnose(probe, result, Caller("none")))
    assert found.outcome is None
    explained, iam = found.diagnoses
    assert iam.data["verdict"] == "ok" and explained.data["second_form"] is False
    assert "disagree" in explained.summary
    request_line = next(line for line in explained.lines if "support case" in line)
    assert '"id": "RefundTarget___process_refund"' in request_line and '"arg": "100.0"' in request_line


def test_unreadable_policies_keep_policy_denied_with_a_note(lab, gateways, capsys, monkeypatch) -> None:
    with refusing_proxy(lab.control_url, "/policies") as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", proxy)
        code, report = run(capsys, lab, gateways["enforced"], *refund(900))
    assert (code, report["outcome"]) == (20, "policy_denied")
    (line,) = explanation(report)["lines"]
    assert "the engine's policies could not be read" in line and "ListPolicies: AccessDeniedException" in line
    assert line.endswith("the outcome stays policy_denied.")
    assert report["iam"] is None


def test_unreadable_policies_keep_the_second_form_empty_tools(lab, gateways, capsys, monkeypatch) -> None:
    with refusing_proxy(lab.control_url, "/policies") as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", proxy)
        code, report = run(capsys, lab, gateways["secondform"])
    assert (code, report["outcome"]) == (10, "empty_tools")  # never a guess
    assert any("the outcome stays empty_tools" in line for line in explanation(report)["lines"])


def test_no_iam_makes_no_aws_call(lab, gateways, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", "http://127.0.0.1:9/")
    code, report = run(capsys, lab, gateways["secondform"], "--no-iam")
    assert (code, report["outcome"], report["diagnoses"]) == (10, "empty_tools", [])


def test_sigv4_principal_comes_from_sts(lab, gateways, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", gateways["key"]["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", gateways["key"]["SecretAccessKey"])
    code, report = run(capsys, lab, gateways["sigv4"], "--sigv4", "--call", REFUND, "--args",
                       '{"order_id": "o-1", "amount": 1}')
    assert (code, report["outcome"]) == (11, "tool_missing")  # only get_order is permitted, so listed
    assert "no permit names this tool for this gateway" in explanation(report)["summary"]
    code, report = run(capsys, lab, gateways["sigv4"], "--sigv4", "--call", "RefundTarget___get_order", "--args",
                       '{"order_id": "o-1"}')
    assert (code, report["outcome"]) == (0, "ok")
    # Another caller: the permit's principal does not hold, and the explanation says so.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, report = run(capsys, lab, gateways["sigv4"], "--sigv4")
    assert report["outcome"] == "empty_tools"
    lines = explanation(report)["lines"]
    assert lines[0].startswith("The policies hide all ") and lines[0].endswith(" tools from this caller.")
    assert "  RefundTarget___get_order: no permit on this tool matches this caller and gateway" in lines


def test_replay_keeps_the_saved_explanation(lab, gateways, capsys, tmp_path) -> None:
    _, report = run(capsys, lab, gateways["secondform"], "-v")
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    assert main(["replay", str(saved), "--format", "json"]) == 21
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["outcome"] == "policy_internal_failure"
    assert explanation(replayed) == explanation(report)


def test_the_lab_printout_predicts_the_second_form(lab, lab_env) -> None:
    """`agentcore-probe lab --seed probe/lab/seeds/policy.yaml`: every printed run shows what its comment says."""
    from probe.lab.server import SEEDS_DIR

    seeded = lab.seed(SEEDS_DIR / "policy.yaml")
    text = describe(lab, seeded, "policy.yaml", None)
    lines, gateway = {}, ""
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and "(" in line and ";" in line:
            gateway = line.split()[0]
        elif line.strip().startswith("agentcore-probe run "):
            command, _, comment = line.strip().partition("   # ")
            lines.setdefault(gateway, []).append((shlex.split(command)[1:], comment))
    assert [c.split(":")[0] for _, c in lines["denies"]] == ["policy_internal_failure"] * 2
    assert "second form" in lines["denies"][0][1]
    checked = 0
    for name, runs in lines.items():
        for argv, comment in runs:
            result = probe_run(probe_from_args(build_parser().parse_args([*argv, "--retries", "0"])))
            assert result.outcome.value == comment.split(":")[0], (name, argv, comment)
            checked += 1
    assert checked >= 6


# --- a control plane that refuses one kind of read -------------------------------------------------


class _Refusing(BaseHTTPRequestHandler):
    upstream = ""
    refused = ""

    def log_message(self, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?")[0].rstrip("/").endswith(self.refused):
            payload = json.dumps({"message": "User is not authorized to perform: bedrock-agentcore:ListPolicies"})
            self.send_response(403)
            self.send_header("x-amzn-ErrorType", "AccessDeniedException")
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload.encode())
            return
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


class refusing_proxy:  # used as a context manager, like a function
    """A loopback proxy to the lab's control plane that answers AccessDeniedException for paths ending in `suffix`."""

    def __init__(self, upstream: str, suffix: str) -> None:
        handler = type("Handler", (_Refusing,), {"upstream": upstream, "refused": suffix})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
