"""Scenario files: every valid form builds the probes it says; every invalid file names its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from probe import scenario
from probe.outcome import Outcome

URL = "https://gw-1.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


CONTRACT = """
version: 1
defaults: {timeout: 7, retries: 1}
gateways:
  refunds:
    url: ${REFUNDS_GATEWAY_URL}
    auth: {bearer_token_env: GW_TOKEN}
    gateway_id: refunds-abc123
    region: us-west-2
probes:
  - name: refund-tools-listed
    gateway: refunds
    expect: ok
    tools: {include: [RefundTarget___get_order], exclude: [RefundTarget___delete_all]}
  - name: small-refund-allowed
    gateway: refunds
    call: {tool: RefundTarget___process_refund, args: {order_id: o-1, amount: 120}}
    expect: ok
    result_contains: PROCESSED
  - name: big-refund-denied
    gateway: refunds
    call: {tool: RefundTarget___process_refund, args: {order_id: o-1, amount: 900}}
    expect: policy_denied
  - name: auth-enforced
    gateway: refunds
    auth: none
    expect: auth_failed
"""


def test_the_issue_contract_builds_its_probes(tmp_path):
    path = write(tmp_path, CONTRACT)
    loaded = scenario.load([path], env={"REFUNDS_GATEWAY_URL": "https://refunds.example.com/mcp"})
    by = {p.name: p for p in loaded.probes}
    assert list(by) == ["refund-tools-listed", "small-refund-allowed", "big-refund-denied", "auth-enforced"]
    listed = by["refund-tools-listed"]
    assert listed.target.url == "https://refunds.example.com/mcp"
    assert (listed.target.gateway_id, listed.target.region, listed.target.name) == ("refunds-abc123", "us-west-2",
                                                                                     "refunds")
    assert listed.target.auth.bearer_token_env == "GW_TOKEN"
    assert (listed.timeout, listed.retries) == (7, 1)
    assert listed.expect.outcomes == (Outcome.OK,)
    assert listed.expect.tools_include == ("RefundTarget___get_order",)
    assert listed.expect.tools_exclude == ("RefundTarget___delete_all",)
    small = by["small-refund-allowed"]
    assert small.call.tool == "RefundTarget___process_refund"
    assert dict(small.call.arguments) == {"order_id": "o-1", "amount": 120}
    assert small.expect.result_contains == "PROCESSED"
    assert by["big-refund-denied"].expect.outcomes == (Outcome.POLICY_DENIED,)
    assert by["auth-enforced"].target.auth.mode == "none"
    assert by["auth-enforced"].expect.outcomes == (Outcome.AUTH_FAILED,)
    assert loaded.gateways["refunds"].gateway_id == "refunds-abc123"
    assert loaded.where(by["big-refund-denied"]) == (str(path), 19)


def test_extensions_and_every_auth_form(tmp_path):
    path = write(tmp_path, f"""
    version: 1
    defaults: {{latency: {{degraded_ms: 800, fail_ms: 3000}}}}
    gateways:
      bearer-file: {{url: {URL}, auth: {{bearer_token_file: /run/secrets/token}}}}
      oauth:
        url: {URL}
        auth: {{oauth: {{token_url: https://auth.example.com/token, client_id: agent, client_secret_env: SECRET,
                        scope: gw/invoke}}}}
      discovered: {{url: {URL}, auth: {{oauth: {{discover: true, client_id: agent, client_secret_env: SECRET}}}}}}
      iam: {{url: {URL}, auth: {{sigv4: {{profile: deploy}}}}}}
      iam-short: {{url: {URL}, auth: sigv4}}
      open: {{url: {URL}, auth: none}}
    probes:
      - {{name: a, gateway: bearer-file, expect: [ok, empty_tools], tools: {{exact: [T___a, T___b]}}}}
      - {{name: b, gateway: oauth, policy_engine: {{mode: LOG_ONLY}}}}
      - {{name: c, gateway: discovered, policy_engine: {{mode: none}}, protocol_versions: [2025-06-18, 2026-07-28]}}
      - {{name: d, gateway: iam, protocol_version: 2025-03-26, latency: {{fail_ms: 100}}}}
      - {{name: e, gateway: iam-short}}
      - {{name: f, gateway: open, policy_engine: {{mode: enforce}}}}
    """)
    loaded = scenario.load(path, env={})
    by = {p.name: p for p in loaded.probes}
    assert list(by) == ["a", "b", "c[2025-06-18]", "c[2026-07-28]", "d", "e", "f"]
    assert by["a"].expect.outcomes == (Outcome.OK, Outcome.EMPTY_TOOLS)
    assert by["a"].expect.tools_exact == ("T___a", "T___b")
    assert by["a"].target.auth.bearer_token_file == "/run/secrets/token"
    assert (by["a"].expect.latency_degraded_ms, by["a"].expect.latency_fail_ms) == (800, 3000)
    oauth = by["b"].target.auth
    assert (oauth.mode, oauth.oauth_token_url, oauth.oauth_client_id, oauth.oauth_client_secret_env,
            oauth.oauth_scope) == ("oauth", "https://auth.example.com/token", "agent", "SECRET", "gw/invoke")
    assert by["b"].expect.policy_engine_mode == "LOG_ONLY"
    assert by["c[2025-06-18]"].target.auth.oauth_discover is True
    assert by["c[2026-07-28]"].protocol_version == "2026-07-28"
    assert by["c[2025-06-18]"].expect.policy_engine_mode == "NONE"
    assert (by["d"].target.auth.sigv4, by["d"].target.auth.profile) == (True, "deploy")
    assert by["d"].protocol_version == "2025-03-26"
    assert (by["d"].expect.latency_degraded_ms, by["d"].expect.latency_fail_ms) == (None, 100)
    assert by["e"].target.auth.sigv4 is True
    assert by["e"].expect.outcomes == (Outcome.OK,)  # no expect: a smoke test expects ok
    assert by["f"].expect.policy_engine_mode == "ENFORCE"


def test_one_gateway_needs_no_gateway_key_and_args_expand(tmp_path):
    path = write(tmp_path, f"""
    version: 1
    gateways:
      only: {{url: {URL}}}
    probes:
      - name: call
        call: {{tool: T___x, args: {{order: "${{ORDER_ID}}", nested: [{{k: "v-${{ORDER_ID}}"}}]}}}}
    """)
    probe = scenario.load(path, env={"ORDER_ID": "o-9"}).probes[0]
    assert probe.target.name == "only"
    assert dict(probe.call.arguments) == {"order": "o-9", "nested": [{"k": "v-o-9"}]}


def test_files_merge_and_names_must_be_unique_across_them(tmp_path):
    one = write(tmp_path, f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: p}}]\n", "one.yaml")
    two = write(tmp_path, f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: q}}, {{name: p}}]\n",
                "two.yaml")
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.load([one, two], env={})
    assert str(err.value) == f"{two}:3: probe 'p' is also defined in {one}; probe names must be unique across " \
                             "the files run together"


INVALID = [
    ("not yaml", "version: 1\nprobes: [a\n", 3, "not valid YAML"),
    ("not a mapping", "- a\n- b\n", 1, "a scenario file is a mapping with version, gateways and probes, got a list"),
    ("no version", f"gateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: p}}]\n", 1, "version is missing"),
    ("wrong version", f"version: 2\ngateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: p}}]\n", 1,
     "version must be 1, got 2"),
    ("unknown top key", f"version: 1\ngateway:\n  g: {{url: {URL}}}\nprobes: [{{name: p}}]\n", 2,
     "unknown key 'gateway' in the file (did you mean 'gateways'?)"),
    ("unknown probe key", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n    expct: ok\n", 5,
     "unknown key 'expct' in probe 'p' (did you mean 'expect'?)"),
    ("probes not a list", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes: {{name: p}}\n", 3,
     "probes must be a list, got a mapping"),
    ("timeout a string", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n    timeout: soon\n",
     5, "probe 'p': timeout must be a number, got str"),
    ("unknown outcome", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    expect: [ok, denied]\n", 5, "probe 'p': expect: 'denied' is not an outcome"),
    ("undefined gateway", f"version: 1\ngateways: {{refunds: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    gateway: refund\n", 5, "probe 'p' names gateway 'refund', which is not defined (did you mean 'refunds'?)"),
    ("inline secret", "version: 1\ngateways:\n  g:\n    url: https://x.example.com/mcp\n    auth:\n"
     "      bearer_token: eyJhbGciOiJIUzI1NiJ9.e30.sig\nprobes: [{name: p}]\n", 6,
     "inline secret: 'bearer_token' holds a literal value"),
    ("inline secret in args", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    call:\n      tool: T___login\n      args: {user: a, password: hunter2}\n", 7,
     "inline secret: 'password' holds a literal value"),
    ("token in an env-name field", "version: 1\ngateways:\n  g:\n    url: https://x.example.com/mcp\n"
     "    auth: {bearer_token_env: eyJhbGciOiJIUzI1NiJ9.e30.sig}\nprobes: [{name: p}]\n", 5,
     "bearer_token_env must name an environment variable"),
    ("two auth modes", "version: 1\ngateways:\n  g:\n    url: https://x.example.com/mcp\n"
     "    auth: {bearer_token_env: A, sigv4: true}\nprobes: [{name: p}]\n", 5,
     "auth must choose one mode, got bearer_token_env, sigv4"),
    ("duplicate key", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n    expect: ok\n"
     "    expect: auth_failed\n", 6, "key 'expect' is given twice in probe 'p'"),
    ("duplicate probe", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n  - name: p\n", 5,
     "probe 'p' is defined twice"),
    ("result_contains without call", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    result_contains: OK\n", 5, "result_contains needs a call"),
    ("bad protocol version", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    protocol_versions: [2024-01-01]\n", 5, "protocol version '2024-01-01' is not supported"),
    ("latency bounds crossed", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    latency:\n      degraded_ms: 900\n      fail_ms: 100\n", 6, "latency.degraded_ms (900) must not be above"),
    ("bad engine mode", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes:\n  - name: p\n"
     "    policy_engine: {mode: STRICT}\n", 5, "policy_engine.mode must be ENFORCE, LOG_ONLY or none"),
    ("engine mode on a custom URL", "version: 1\ngateways: {g: {url: 'https://x.example.com/mcp'}}\nprobes:\n"
     "  - name: p\n    policy_engine: {mode: ENFORCE}\n", 5, "needs the gateway's gateway_id and region"),
    ("bad url", "version: 1\ngateways:\n  g:\n    url: ftp://x.example.com/mcp\nprobes: [{name: p}]\n", 4,
     "gateway 'g': url is not an http(s) URL"),
    ("bad region", f"version: 1\ngateways:\n  g:\n    url: {URL}\n    region: mars\nprobes: [{{name: p}}]\n", 5,
     "gateway 'g': region 'mars' is not an AWS region name"),
    ("lab section", f"version: 1\ngateways: {{g: {{url: {URL}}}}}\nprobes: [{{name: p}}]\nlab:\n  gateways:\n"
     "    - name: g\n      mode: STRICT\n", 7, "lab.gateways[0].mode: must be one of"),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_every_invalid_file_names_its_line(tmp_path, text, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    problems = scenario.validate([path], env={})
    assert problems, "the file must be refused"
    first = str(problems[0])
    assert first.startswith(f"{path}:{line}: "), first
    assert message in first
    assert "\n" not in first
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.load([path], env={})
    assert str(err.value).splitlines()[0] == first


def test_an_unset_variable_is_an_error_only_when_asked(tmp_path):
    path = write(tmp_path, CONTRACT)
    assert scenario.validate([path], env={}) == []
    problems = scenario.validate([path], env={}, require_env=True)
    assert [str(p) for p in problems] == [f"{path}:5: ${{REFUNDS_GATEWAY_URL}} is not set: export "
                                          "REFUNDS_GATEWAY_URL before running (the file reads it from the environment)"]
    with pytest.raises(scenario.ScenarioError, match=r":5: \$\{REFUNDS_GATEWAY_URL\} is not set"):
        scenario.load([path], env={})


def test_a_missing_file_is_one_line(tmp_path):
    problems = scenario.validate([tmp_path / "nope.yaml"])
    assert [str(p) for p in problems] == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_the_examples_are_valid(monkeypatch):
    env = {"REFUNDS_GATEWAY_URL": URL, "OAUTH_TOKEN_URL": "https://auth.example.com/oauth2/token",
           "OAUTH_CLIENT_ID": "agent", "OAUTH_SCOPE": "gw/invoke",
           "INCIDENT_GATEWAY_URL": "https://gw-a.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
           "FIXED_GATEWAY_URL": "https://gw-b.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"}
    root = Path(__file__).resolve().parents[2] / "scenarios"
    files = sorted(root.glob("*.yaml"))
    assert [f.name for f in files] == ["incident.yaml", "monitoring.yaml", "smoke-test.yaml"]
    assert scenario.validate(files, env=env, require_env=True) == []
    assert scenario.validate(files, env={}) == []
