"""`agentcore-probe policy explain|lint` through the CLI: offline files, and the lab over real boto3."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from probe.cli import main

REFUND = "RefundTarget___process_refund"
TOOLS = {"tools": [
    {"name": REFUND, "inputSchema": {"type": "object", "required": ["order_id", "amount"], "properties": {
        "order_id": {"type": "string"}, "amount": {"type": "number"}}}},
    {"name": "RefundTarget___get_order", "inputSchema": {"type": "object", "required": ["order_id"],
                                                         "properties": {"order_id": {"type": "string"}}}},
]}  # fmt: skip
GW = "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/refunds-abc123"
MISTAKE = f"""@id("small_refunds")
permit(principal, action == AgentCore::Action::"{REFUND}", resource == AgentCore::Gateway::"{GW}")
when {{ context.input.amount < 500 }};"""
CORRECTED = f"""@id("small_refunds")
permit(principal, action == AgentCore::Action::"{REFUND}", resource == AgentCore::Gateway::"{GW}")
when {{ context.input.amount.lessThan(decimal("500.0")) }};"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> Any:
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    write.tools = write("tools.json", json.dumps(TOOLS))  # type: ignore[attr-defined]
    return write


# --- lint, offline -------------------------------------------------------------------------------


def test_lint_finds_the_decimal_long_mismatch_and_passes_the_fix(capsys, files) -> None:
    code, out, _ = cli(capsys, "policy", "lint", "--file", files("bad.cedar", MISTAKE), "--tools", files.tools)
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("small_refunds: compares context.input.amount (a JSON Schema number, so a Cedar decimal)")
    assert first.endswith('fix: context.input.amount.lessThan(decimal("500.0"))')
    assert "1 finding in 1 policy (2 tools)" in out
    code, out, _ = cli(capsys, "policy", "lint", "--file", files("good.cedar", CORRECTED), "--tools", files.tools)
    assert (code, out.strip()) == (0, "0 findings in 1 policy (2 tools)")


@pytest.mark.parametrize(("kind", "cedar", "words"), [
    ("unknown_attribute", f'permit(principal, action == AgentCore::Action::"{REFUND}", resource == '
     f'AgentCore::Gateway::"{GW}") when {{ context.input.amout.lessThan(decimal("5.0")) }};', "did you mean `amount`"),
    ("unknown_action", f'permit(principal, action == AgentCore::Action::"RefundTarget___proces_refund", resource == '
     f'AgentCore::Gateway::"{GW}");', f'did you mean AgentCore::Action::"{REFUND}"'),
    ("unsatisfiable_principal", f'permit(principal is AgentCore::User, action == AgentCore::Action::"{REFUND}", '
     f'resource == AgentCore::Gateway::"{GW}");', "no principal is ever a AgentCore::User"),
    ("shadowed", f'@id("p")\npermit(principal, action == AgentCore::Action::"{REFUND}", resource == '
     f'AgentCore::Gateway::"{GW}");\n@id("f")\nforbid(principal, action, resource is AgentCore::Gateway);',
     "forbid f applies to every request this permit matches"),
    ("scope", f'permit(principal, action == AgentCore::Action::"{REFUND}", resource);', "wildcard resource"),
    ("other_gateway", f'permit(principal, action == AgentCore::Action::"{REFUND}", resource == '
     'AgentCore::Gateway::"arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/other-1");', "never applies"),
])
def test_lint_each_finding_kind(capsys, files, kind, cedar, words) -> None:
    code, out, _ = cli(capsys, "policy", "lint", "--file", files("p.cedar", cedar), "--tools", files.tools,
                       "--gateway-arn", GW, "--format", "json")
    doc = json.loads(out)
    assert code == doc["exit_code"] == 1
    assert kind in [f["kind"] for f in doc["findings"]]
    assert any(words in f["message"] + f["fix"] for f in doc["findings"] if f["kind"] == kind)


def test_lint_principal_of_the_other_authorizer(capsys, files) -> None:
    cedar = (f'permit(principal is AgentCore::IamEntity, action == AgentCore::Action::"{REFUND}", '
             f'resource == AgentCore::Gateway::"{GW}");')
    code, out, _ = cli(capsys, "policy", "lint", "--file", files("p.cedar", cedar), "--tools", files.tools,
                       "--authorizer", "CUSTOM_JWT")
    assert code == 1 and "a CUSTOM_JWT gateway's callers are AgentCore::OAuthUser" in out


def test_lint_usage_errors_are_one_line(capsys, files) -> None:
    for argv, words in [
        (["policy", "lint"], "give --gateway-id ID --region R, or --file"),
        (["policy", "lint", "--tools", files.tools], "--tools goes with --file"),
        (["policy", "lint", "--file", files("x.cedar", "permit(")], "does not parse"),
        (["policy", "lint", "--file", "/nonexistent.cedar"], "cannot read --file"),
        (["policy", "lint", "--file", files("ok.cedar", CORRECTED), "--tools", files("t.json", "[1")], "not JSON"),
    ]:
        code, out, err = cli(capsys, *argv)
        assert (code, out) == (2, ""), argv
        assert err.startswith("agentcore-probe: error: ") and err.count("\n") == 1 and words in err, (argv, err)


def test_missing_cedarpy_is_a_one_line_hint(capsys, files, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cedarpy", None)  # `import cedarpy` now raises ImportError
    code, _, err = cli(capsys, "policy", "lint", "--file", files("p.cedar", CORRECTED))
    assert code == 2 and "pip install 'agentcore-probe[cedar]'" in err and err.count("\n") == 1


# --- against the lab ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(lab: Any) -> dict[str, Any]:
    from probe.lab.server import SEEDS_DIR

    seeded = lab.seed(SEEDS_DIR / "policy.yaml")
    c = lab.console
    engine = c.create_policy_engine("clirefunds")
    g = c.create_gateway("clirefunds", policy_engine_id=engine.engine_id)
    arn = g.arn
    c.add_policy(engine.engine_id, "small_refunds", CORRECTED.replace(GW, arn).split("\n", 1)[1])
    c.add_policy(engine.engine_id, "no_big_refunds", f'forbid(principal, action == AgentCore::Action::"{REFUND}", '
                 f'resource == AgentCore::Gateway::"{arn}") when {{ context.input.amount.greaterThan('
                 'decimal("1000.0")) };')
    c.add_policy(engine.engine_id, "trial", 'permit(principal, action == AgentCore::Action::'
                 f'"RefundTarget___get_order", resource == AgentCore::Gateway::"{arn}");', enforcement_mode="LOG_ONLY")
    c.add_policy(engine.engine_id, "broken", f'permit(principal, action == AgentCore::Action::"{REFUND}", '
                 f'resource == AgentCore::Gateway::"{arn}") when {{ context.input.amount < 500 }};')
    jwt_engine = c.create_policy_engine("clijwt")
    jwt = c.create_gateway("clijwt", authorizer_type="CUSTOM_JWT", policy_engine_id=jwt_engine.engine_id)
    c.add_policy(jwt_engine.engine_id, "writers", f'permit(principal, action == AgentCore::Action::"{REFUND}", '
                 f'resource == AgentCore::Gateway::"{jwt.arn}") when {{ principal.hasTag("scope") && '
                 'principal.getTag("scope") like "*refunds/write*" };')
    lab.issuer.add_client("cli-writer", "cli-writer-secret-0042", scopes=("refunds/write",))
    return {"seeded": seeded, "refunds": g, "jwt": jwt}


def where(lab: Any, gateway_id: str) -> list[str]:
    return ["--gateway-id", gateway_id, "--region", lab.region]


def test_lint_the_lab_unvalidated_gateway(lab, lab_env, world, capsys) -> None:
    gid = world["seeded"].gateways["unvalidated"].gateway_id
    code, out, _ = cli(capsys, "policy", "lint", *where(lab, gid), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and [f["kind"] for f in doc["findings"]] == ["type_mismatch"]
    assert doc["findings"][0]["policy"].startswith("small_refunds_as_long")
    assert doc["findings"][0]["fix"] == 'context.input.amount.lessThan(decimal("500.0"))'


def test_lint_the_lab_flags_log_only_and_not_active(lab, lab_env, world, capsys) -> None:
    code, out, _ = cli(capsys, "policy", "lint", *where(lab, world["refunds"].gateway_id))
    assert code == 1
    assert any(line.startswith("trial (") and "enforcementMode LOG_ONLY" in line for line in out.splitlines())
    assert any(line.startswith("broken (") and "status CREATE_FAILED" in line for line in out.splitlines())
    assert not any(line.startswith("small_refunds (") for line in out.splitlines())


def test_explain_forbid_default_deny_permit_exit_codes(lab, lab_env, world, capsys) -> None:
    gid = world["refunds"].gateway_id
    base = ["policy", "explain", *where(lab, gid), "--tool", REFUND]
    code, out, _ = cli(capsys, *base, "--args", '{"order_id": "o", "amount": 5000}')
    assert code == 20 and out.startswith("forbidden by no_big_refunds (")
    assert 'greaterThan(decimal("1000.0"))' in out
    code, out, _ = cli(capsys, *base, "--args", '{"order_id": "o", "amount": 900}', "--format", "json")
    doc = json.loads(out)
    assert (code, doc["kind"], doc["exit_code"]) == (20, "default_deny", 20)
    assert [(p["name"], p["failed"]) for p in doc["policies"]] == [("small_refunds", ["when"])]
    assert any("trial" in n and "LOG_ONLY" in n for n in doc["not_enforced"])
    code, out, _ = cli(capsys, *base, "--args", '{"order_id": "o", "amount": 120}')
    assert code == 0 and out.startswith("the policies permit this call: small_refunds (")
    code, out, _ = cli(capsys, *base, "--listing")
    assert code == 0 and out.startswith("some permit could apply to this tool")


def test_explain_the_second_form_gateway_says_the_policies_permit(lab, lab_env, world, capsys) -> None:
    gid = world["seeded"].gateways["denies"].gateway_id
    code, out, _ = cli(capsys, "policy", "explain", *where(lab, gid), "--tool", REFUND, "--args",
                       '{"order_id": "o", "amount": 100}')
    assert code == 0 and "a denial from the gateway is not theirs" in out


def test_explain_principal_from_the_bearer_token_and_cannot_tell(lab, lab_env, world, capsys, monkeypatch) -> None:
    gid = world["jwt"].gateway_id
    base = ["policy", "explain", *where(lab, gid), "--tool", REFUND, "--args", '{"order_id": "o", "amount": 1}']
    token = lab.issuer.issue("cli-writer")
    monkeypatch.setenv("CLI_TOKEN", token)
    code, out, err = cli(capsys, *base, "--bearer-token-env", "CLI_TOKEN", "--format", "json")
    doc = json.loads(out)
    assert (code, doc["kind"], doc["principal"]["id"]) == (0, "permit", "cli-writer")
    assert token not in out + err
    # No claims known: a policy reading tags cannot be told.
    code, out, _ = cli(capsys, *base, "--principal", "oauth:cli-writer")
    assert code == 4 and out.startswith("cannot tell: a policy reads the token's claims")
    code, out, _ = cli(capsys, *base)
    assert code == 4 and "pass --bearer-token-env/--bearer-token-file or --principal" in out


def test_explain_usage_and_access_errors(lab, lab_env, world, capsys, monkeypatch) -> None:
    gid = world["refunds"].gateway_id
    for argv, words in [
        (["--tool", REFUND], "--gateway-id is required"),
        ([*where(lab, gid), "--tool", REFUND, "--principal", "someone"], "--principal must be"),
        ([*where(lab, gid), "--tool", REFUND, "--args", "{"], "--args is not valid JSON"),
        ([*where(lab, gid), "--tool", REFUND, "--principal", "iam:arn:aws:iam::1:user/x", "--sigv4"],
         "choose one principal"),
        ([*where(lab, "nosuch-abcdefghij"), "--tool", REFUND], "cannot read the gateway: GetGateway: "
         "ResourceNotFoundException"),
    ]:
        code, out, err = cli(capsys, "policy", "explain", *argv)
        assert (code, out) == (2, ""), argv
        assert err.startswith("agentcore-probe: error: ") and err.count("\n") == 1 and words in err, (argv, err)


def test_an_empty_tool_name_is_a_usage_error(capsys) -> None:
    from probe.cli import main

    with pytest.raises(SystemExit) as e:
        main(["policy", "explain", "--gateway-id", "g", "--region", "us-east-1", "--tool", " "])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--tool" in err
