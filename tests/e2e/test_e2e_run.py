"""`agentcore-probe run` end to end against the lab: real MCP sessions over loopback HTTP.

One test per outcome the lab can produce, each auth mode, and the secrets rule. The
probe runs in-process through its CLI entry point, exactly as an operator runs it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from probe.cli import main
from probe.lab.state import Target, ToolSpec

PERMIT_SMALL_REFUNDS = """permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
                  resource == AgentCore::Gateway::"{arn}")
when {{ context.input.amount.lessThan(decimal("500.0")) }};"""


def run(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["run", url, "--format", "json", "--retries", "0", "--timeout", "5", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, json.loads(out), err


@pytest.fixture(scope="module")
def gateways(lab) -> dict[str, Any]:
    """One gateway per situation, made the way the console makes them."""
    c = lab.console
    g: dict[str, Any] = {}
    g["plain"] = c.create_gateway("plain")
    g["debug"] = c.create_gateway("debugging", exception_level="DEBUG")
    c.set_faults(g["debug"].gateway_id, failing_tools={"WeatherTarget___get_forecast"},
                 target_failure_text="Access denied while invoking Lambda function "
                                     "arn:aws:lambda:us-east-1:123456789012:function:weather")
    c.set_faults(g["plain"].gateway_id, failing_tools={"WeatherTarget___get_forecast"})
    g["throttled"] = c.create_gateway("throttled")
    c.set_faults(g["throttled"].gateway_id, throttle=True, throttle_retry_after_s=0.2)

    empty_engine = c.create_policy_engine("empty")
    g["default_deny"] = c.create_gateway("denyall", policy_engine_id=empty_engine.engine_id, mode="ENFORCE")

    engine = c.create_policy_engine("refunds")
    g["enforced"] = c.create_gateway("enforced", policy_engine_id=engine.engine_id, mode="ENFORCE")
    c.add_policy(engine.engine_id, "small_refunds", PERMIT_SMALL_REFUNDS.format(arn=g["enforced"].arn))
    g["preview"] = c.create_gateway("preview", policy_engine_id=engine.engine_id, mode="ENFORCE")
    c.add_policy(engine.engine_id, "small_refunds_preview", PERMIT_SMALL_REFUNDS.format(arn=g["preview"].arn))
    c.set_faults(g["preview"].gateway_id, denial_shape="preview")

    g["incident"] = c.create_gateway("incident")
    c.attach_engine_from_policy_side(g["incident"].gateway_id, engine.engine_id, "ENFORCE")

    g["jwt"] = c.create_gateway("jwt", authorizer_type="CUSTOM_JWT")
    g["iam"] = c.create_gateway("sigv4", authorizer_type="AWS_IAM")
    many = [Target(target_id=f"t{i}", name=f"Bulk{i}", tools=[ToolSpec(name=f"op{j}") for j in range(30)])
            for i in range(3)]
    g["paged"] = c.create_gateway("paged", targets=many)
    return g


def test_ok_list_and_call(lab, gateways, capsys) -> None:
    url = lab.gateway_url(gateways["plain"].gateway_id)
    code, report, _ = run(capsys, url, "--call", "RefundTarget___get_order", "--args", '{"order_id": "o-1"}')
    assert (code, report["outcome"]) == (0, "ok")
    assert [s["method"] for s in report["steps"]] == ["initialize", "tools/list", "tools/call"]
    assert "RefundTarget___process_refund" in report["tools"]
    assert report["protocol_version"] == "2025-11-25"
    for step in report["steps"]:
        assert step["http_status"] == 200 and step["attempts"] == 1 and step["outcome"] == "ok"
        assert step["request_id"]


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
def test_every_protocol_version(lab, gateways, capsys, version) -> None:
    url = lab.gateway_url(gateways["plain"].gateway_id)
    code, report, _ = run(capsys, url, "--protocol-version", version, "--call", "RefundTarget___get_order",
                          "--args", '{"order_id": "o-1"}')
    assert (code, report["outcome"], report["protocol_version"]) == (0, "ok", version)
    methods = [s["method"] for s in report["steps"]]
    assert methods == (["tools/list", "tools/call"] if version == "2026-07-28"
                       else ["initialize", "tools/list", "tools/call"])


def test_paging_follows_next_cursor_to_the_end(lab, gateways, capsys) -> None:
    code, report, _ = run(capsys, lab.gateway_url(gateways["paged"].gateway_id), "-v")
    assert (code, len(report["tools"])) == (0, 90)
    pages = [t for t in report["transcript"] if t["rpc_method"] == "tools/list"]
    assert len(pages) >= 2
    everything = report["tools"]
    code, report, _ = run(capsys, lab.gateway_url(gateways["paged"].gateway_id), "--max-pages", "1")
    listing = report["steps"][-1]
    assert (code, report["outcome"]) == (61, "protocol_error")
    assert "reached --max-pages 1" in listing["message"] and "incomplete" in listing["message"]
    assert "Raise --max-pages" in listing["hint"]
    first_page = report["tools"]
    assert 0 < len(first_page) < 90 and everything[: len(first_page)] == first_page
    assert report["tools_partial"] is True
    # The bound protects the probe; when the tool to call was already listed, the run goes on.
    code, report, _ = run(capsys, lab.gateway_url(gateways["paged"].gateway_id), "--max-pages", "1",
                          "--call", first_page[0])
    listing = report["steps"][1]
    assert listing["outcome"] == "ok" and listing["data"]["bound_reached"] is True
    assert "the run goes on" in listing["hint"]
    assert report["steps"][-1]["method"] == "tools/call" and report["steps"][-1]["outcome"] in ("ok", "tool_error")


def test_tool_missing(lab, gateways, capsys) -> None:
    code, report, _ = run(capsys, lab.gateway_url(gateways["plain"].gateway_id), "--call", "process_refund")
    assert (code, report["outcome"]) == (11, "tool_missing")
    assert "RefundTarget___process_refund" in report["steps"][-1]["hint"]


def test_tool_error_generic_hints_debug(lab, gateways, capsys) -> None:
    url = lab.gateway_url(gateways["plain"].gateway_id)
    code, report, _ = run(capsys, url, "--call", "WeatherTarget___get_forecast", "--args", '{"city": "Oslo"}')
    assert (code, report["outcome"]) == (40, "tool_error")
    assert "An internal error occurred" in report["steps"][-1]["message"]
    assert "DEBUG" in report["steps"][-1]["hint"]


def test_tool_error_debug_surfaces_meta_debug(lab, gateways, capsys) -> None:
    url = lab.gateway_url(gateways["debug"].gateway_id)
    code, report, _ = run(capsys, url, "--call", "WeatherTarget___get_forecast", "--args", '{"city": "Oslo"}')
    assert (code, report["outcome"]) == (40, "tool_error")
    assert "function:weather" in report["steps"][-1]["detail"]["debug"]


def test_throttled_is_retried_then_reported(lab, gateways, capsys) -> None:
    url = lab.gateway_url(gateways["throttled"].gateway_id)
    code, report, _ = run(capsys, url, "--retries", "2", "--max-retry-time", "10")
    assert (code, report["outcome"]) == (50, "throttled")
    assert report["steps"][0]["attempts"] == 3
    assert report["steps"][0]["http_status"] == 429


def test_empty_tools_under_default_deny(lab, gateways, capsys, lab_env) -> None:
    gw = gateways["default_deny"]
    code, report, _ = run(capsys, lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id,
                          "--region", lab.region)
    assert (code, report["outcome"], report["tools"]) == (10, "empty_tools", [])
    assert any("default deny hides every tool" in n for n in report["notes"])


def test_policy_permits_then_denies_in_both_shapes(lab, gateways, capsys) -> None:
    for name, code_expected in (("enforced", 20), ("preview", 20)):
        url = lab.gateway_url(gateways[name].gateway_id)
        code, report, _ = run(capsys, url)
        assert (code, report["tools"]) == (0, ["RefundTarget___process_refund"])  # only what policy could permit
        code, report, _ = run(capsys, url, "--call", "RefundTarget___process_refund",
                              "--args", '{"order_id": "o-1", "amount": 100}')
        assert (code, report["outcome"]) == (0, "ok")
        code, report, _ = run(capsys, url, "--call", "RefundTarget___process_refund",
                              "--args", '{"order_id": "o-1", "amount": 1000}')
        assert (code, report["outcome"]) == (code_expected, "policy_denied")
        step = report["steps"][-1]
        assert "Tool Execution Denied" in step["message"]
        assert step["detail"]["reason"]


def test_policy_internal_failure_names_the_missing_permissions(lab, gateways, capsys, lab_env) -> None:
    gw = gateways["incident"]
    code, report, _ = run(capsys, lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id,
                          "--region", lab.region)
    assert (code, report["outcome"]) == (21, "policy_internal_failure")
    assert "Policy evaluation failed for list tools" in report["steps"][-1]["message"]
    iam = report["iam"]
    assert iam["verdict"] == "missing_permissions"
    pairs = {(m["action"], m["resource"]) for m in iam["missing"]}
    engine = gw_engine_arn(lab, gw.gateway_id)
    assert pairs == {
        ("bedrock-agentcore:AuthorizeAction", gw.arn),
        ("bedrock-agentcore:AuthorizeAction", engine),
        ("bedrock-agentcore:PartiallyAuthorizeActions", gw.arn),
        ("bedrock-agentcore:PartiallyAuthorizeActions", engine),
        ("bedrock-agentcore:GetPolicyEngine", engine),
    }


def gw_engine_arn(lab, gateway_id: str) -> str:
    return lab.state.gateway(gateway_id).policy_engine_arn


def test_policy_internal_failure_without_iam_access_still_classifies(lab, gateways, capsys, monkeypatch) -> None:
    gw = gateways["incident"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL", "http://127.0.0.1:9/")  # nothing there
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:9/")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, report, _ = run(capsys, lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id,
                          "--region", lab.region)
    assert (code, report["outcome"]) == (21, "policy_internal_failure")
    assert report["iam"]["verdict"] == "unknown"
    assert report["iam"]["errors"]
    assert any("simulate-principal-policy" in cmd for cmd in report["iam"]["manual_check"])


def test_no_iam_skips_the_check(lab, gateways, capsys) -> None:
    gw = gateways["incident"]
    code, report, _ = run(capsys, lab.gateway_url(gw.gateway_id), "--gateway-id", gw.gateway_id,
                          "--region", lab.region, "--no-iam")
    assert (code, report["iam"]) == (21, None)


def test_expect_turns_the_run_into_an_assertion(lab, gateways, capsys) -> None:
    url = lab.gateway_url(gateways["incident"].gateway_id)
    code, report, _ = run(capsys, url, "--no-iam", "--expect", "policy_internal_failure")
    assert (code, report["expectation_met"]) == (0, True)
    code, report, _ = run(capsys, url, "--no-iam", "--expect", "ok")
    assert (code, report["expectation_met"], report["outcome"]) == (1, False, "policy_internal_failure")


def test_unknown_gateway_is_protocol_error(lab, capsys) -> None:
    code, report, _ = run(capsys, lab.gateway_url("nosuch-gateway1"))
    assert (code, report["outcome"]) == (61, "protocol_error")
    assert report["steps"][0]["http_status"] == 404


def test_stopped_lab_is_transport_error(capsys) -> None:
    from probe.lab.server import Lab

    with Lab() as other:
        url = other.gateway_url("gone-gateway")
    code, report, _ = run(capsys, url)
    assert (code, report["outcome"]) == (62, "transport_error")


# -- auth -------------------------------------------------------------------------------


def test_jwt_gateway_without_token_is_auth_failed(lab, gateways, capsys) -> None:
    code, report, _ = run(capsys, lab.gateway_url(gateways["jwt"].gateway_id))
    assert (code, report["outcome"]) == (30, "auth_failed")
    assert report["steps"][0]["http_status"] == 401
    assert "Missing Authentication Token" in report["steps"][0]["message"]


def test_bearer_token_from_env_and_file(lab, gateways, capsys, monkeypatch, tmp_path) -> None:
    token = lab.issuer.issue(lab.issuer.default_client.client_id)
    url = lab.gateway_url(gateways["jwt"].gateway_id)
    monkeypatch.setenv("PROBE_TEST_TOKEN", token)
    code, report, _ = run(capsys, url, "--bearer-token-env", "PROBE_TEST_TOKEN")
    assert (code, report["outcome"]) == (0, "ok")
    path = tmp_path / "token"
    path.write_text(token + "\n")
    code, report, _ = run(capsys, url, "--bearer-token-file", str(path))
    assert (code, report["outcome"]) == (0, "ok")
    monkeypatch.setenv("PROBE_TEST_TOKEN", token[:-4] + "AAAA")
    code, report, _ = run(capsys, url, "--bearer-token-env", "PROBE_TEST_TOKEN")
    assert (code, report["outcome"], report["steps"][0]["message"]) == (30, "auth_failed", "Invalid Bearer token")


def test_oauth_client_credentials(lab, gateways, capsys, monkeypatch) -> None:
    client = lab.issuer.add_client("probe-ci", "s3cr3t-client-value-42")
    url = lab.gateway_url(gateways["jwt"].gateway_id)
    monkeypatch.setenv("PROBE_TEST_SECRET", "s3cr3t-client-value-42")
    args = ("--oauth-token-url", lab.token_url, "--oauth-client-id", client.client_id,
            "--oauth-client-secret-env", "PROBE_TEST_SECRET")
    code, report, _ = run(capsys, url, *args, "--call", "RefundTarget___get_order", "--args", '{"order_id":"1"}')
    assert (code, report["outcome"]) == (0, "ok")
    assert [s["method"] for s in report["steps"]] == ["oauth2/token", "initialize", "tools/list", "tools/call"]
    monkeypatch.setenv("PROBE_TEST_SECRET", "wrong-secret-value")
    code, report, _ = run(capsys, url, *args)
    assert (code, report["outcome"], report["steps"][0]["method"]) == (30, "auth_failed", "oauth2/token")
    assert "invalid_client" in report["steps"][0]["message"]


def test_sigv4_verified_by_the_gateway(lab, gateways, capsys, monkeypatch) -> None:
    url = lab.gateway_url(gateways["iam"].gateway_id)
    code, report, _ = run(capsys, url)
    assert (code, report["outcome"]) == (30, "auth_failed")
    iam = lab.client("iam")
    iam.create_user(UserName="probe-runner")
    key = iam.create_access_key(UserName="probe-runner")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    code, report, _ = run(capsys, url, "--sigv4", "--region", lab.region)
    assert (code, report["outcome"]) == (0, "ok")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-" + "x" * 25)
    code, report, _ = run(capsys, url, "--sigv4", "--region", lab.region)
    assert (code, report["outcome"]) == (30, "auth_failed")


def test_no_secret_in_any_output(lab, gateways, capsys, monkeypatch) -> None:
    """Text, JSON and -v transcripts, for every auth mode: no token, secret, key or signature."""
    iam = lab.client("iam")
    iam.create_user(UserName="secret-keeper")
    key = iam.create_access_key(UserName="secret-keeper")["AccessKey"]
    client = lab.issuer.add_client("leaky", "client-secret-never-shown-123")
    token = lab.issuer.issue(lab.issuer.default_client.client_id)
    monkeypatch.setenv("PROBE_TEST_TOKEN", token)
    monkeypatch.setenv("PROBE_TEST_SECRET", "client-secret-never-shown-123")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    jwt_url = lab.gateway_url(gateways["jwt"].gateway_id)
    modes = [
        (jwt_url, ["--bearer-token-env", "PROBE_TEST_TOKEN"]),
        (jwt_url, ["--oauth-token-url", lab.token_url, "--oauth-client-id", client.client_id,
                   "--oauth-client-secret-env", "PROBE_TEST_SECRET"]),
        (lab.gateway_url(gateways["iam"].gateway_id), ["--sigv4", "--region", lab.region]),
    ]
    secrets = [token, "client-secret-never-shown-123", key["SecretAccessKey"], key["AccessKeyId"]]
    for url, auth in modes:
        for fmt in ("text", "json"):
            code = main(["run", url, "--format", fmt, "-v", "--call", "RefundTarget___get_order",
                         "--args", '{"order_id": "1"}', *auth])
            out, err = capsys.readouterr()
            assert code == 0, out
            text = out + err
            for secret in secrets:
                assert secret not in text
            assert "[REDACTED]" in text  # the Authorization header was there, and hidden
            assert "Signature=" not in text or "Signature=[REDACTED]" in text
            assert "eyJ" not in text  # no JWT of any kind (the OAuth-issued one included)
