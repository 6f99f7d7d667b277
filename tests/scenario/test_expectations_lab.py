"""Each expectation kind, passing and failing, against the lab over real MCP; and the reports of that run."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from probe import scenario
from probe.lab.seed import parse_seed
from probe.report.junit import render_junit
from probe.report.markdown import render_markdown

SEED = {
    "policy_engines": [{"name": "Eng", "policies": [{"name": "small", "cedar": textwrap.dedent("""
        permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
               resource == AgentCore::Gateway::"${gateway_arn:guarded}")
        when { context.input.amount.lessThan(decimal("500.0")) };""")}]}],
    "gateways": [{"name": "open"}, {"name": "guarded", "policy_engine": "Eng", "attach_from": "gateway"}],
}

REFUND_120 = "{tool: RefundTarget___process_refund, args: {order_id: o-1, amount: 120}}"
REFUND_900 = "{tool: RefundTarget___process_refund, args: {order_id: o-2, amount: 900}}"


def scenario_text(lab, seeded, probes: str) -> str:
    gws = "\n".join(f"  {name}: {{url: '{lab.gateway_url(g.gateway_id)}', gateway_id: {g.gateway_id}, "
                    f"region: {lab.region}}}" for name, g in seeded.gateways.items())
    return f"version: 1\ndefaults: {{retries: 0}}\ngateways:\n{gws}\nprobes:\n{textwrap.dedent(probes)}"


PROBES = f"""
- {{name: outcome-pass, gateway: open, expect: ok}}
- {{name: outcome-fail, gateway: open, expect: auth_failed}}
- {{name: outcome-list-pass, gateway: open, expect: [auth_failed, ok]}}
- {{name: include-pass, gateway: open, tools: {{include: [RefundTarget___get_order]}}}}
- {{name: include-fail, gateway: open, tools: {{include: [Nope___missing]}}}}
- {{name: exclude-pass, gateway: open, tools: {{exclude: [Nope___missing]}}}}
- {{name: exclude-fail, gateway: open, tools: {{exclude: [RefundTarget___get_order]}}}}
- {{name: exact-fail, gateway: open, tools: {{exact: [RefundTarget___get_order, Gone___tool]}}}}
- {{name: contains-pass, gateway: open, call: {REFUND_120}, result_contains: PROCESSED}}
- {{name: contains-fail, gateway: open, call: {REFUND_120}, result_contains: REJECTED}}
- {{name: latency-degraded, gateway: open, latency: {{degraded_ms: 0.001}}}}
- {{name: latency-fail, gateway: open, latency: {{fail_ms: 0.001}}}}
- {{name: latency-pass, gateway: open, latency: {{degraded_ms: 60000, fail_ms: 120000}}}}
- {{name: engine-pass, gateway: guarded, policy_engine: {{mode: ENFORCE}}}}
- {{name: engine-fail, gateway: guarded, policy_engine: {{mode: LOG_ONLY}}}}
- {{name: engine-none-pass, gateway: open, policy_engine: {{mode: none}}}}
- {{name: engine-none-fail, gateway: open, policy_engine: {{mode: ENFORCE}}}}
- {{name: denied-pass, gateway: guarded, call: {REFUND_900}, expect: policy_denied}}
- {{name: denied-fail, gateway: guarded, call: {REFUND_120}, expect: policy_denied}}
- {{name: matrix, gateway: open, protocol_versions: [2025-06-18, 2025-11-25]}}
"""


@pytest.fixture(scope="module")
def seeded(lab):
    return lab.seed(parse_seed(SEED, "test"))


@pytest.fixture(scope="module")
def run_file(lab, seeded, tmp_path_factory):
    def run(probes: str):
        path = tmp_path_factory.mktemp("sc") / "s.yaml"
        path.write_text(scenario_text(lab, seeded, probes), encoding="utf-8")
        loaded = scenario.load([path], env={})
        with pytest.MonkeyPatch.context() as mp:
            for name, value in lab.env().items():
                mp.setenv(name, value)
            results = asyncio.run(scenario.run(loaded.probes, concurrency=8))
        return {r.name: r for r in results}

    return run


@pytest.fixture(scope="module")
def results(run_file):
    return run_file(PROBES)


def check(result, name):
    return next(c for c in result.checks if c.name == name)


@pytest.mark.parametrize(("probe", "met"), [
    ("outcome-pass", True), ("outcome-fail", False), ("outcome-list-pass", True), ("include-pass", True),
    ("include-fail", False), ("exclude-pass", True), ("exclude-fail", False), ("exact-fail", False),
    ("contains-pass", True), ("contains-fail", False), ("latency-degraded", True), ("latency-fail", False),
    ("latency-pass", True), ("engine-pass", True), ("engine-fail", False), ("engine-none-pass", True),
    ("engine-none-fail", False), ("denied-pass", True), ("denied-fail", False),
])
def test_each_expectation_passes_and_fails(results, probe, met):
    assert results[probe].expectation_met is met
    assert results[probe].exit_code == (0 if met else 1)


def test_what_each_failed_check_says(results):
    assert check(results["outcome-fail"], "outcome").message == "expected auth_failed, got ok"
    assert check(results["include-fail"], "tools.include").message == "not listed: Nope___missing"
    assert check(results["exclude-fail"], "tools.exclude").message == \
        "listed but must not be: RefundTarget___get_order"
    diff = check(results["exact-fail"], "tools.exact").message
    assert diff.startswith("the catalogue changed: + ") and "- Gone___tool" in diff
    assert "+ RefundTarget___process_refund" in diff
    assert check(results["contains-fail"], "result_contains").message == \
        "the call result does not contain 'REJECTED'"
    slow = check(results["latency-degraded"], "latency.degraded")
    assert (slow.passed, slow.level) == (False, "warn")
    assert not check(results["latency-fail"], "latency.fail").passed
    assert check(results["engine-pass"], "policy_engine").message == \
        "policy engine attached in ENFORCE mode (expected ENFORCE)"
    assert check(results["engine-fail"], "policy_engine").message == \
        "policy engine attached in ENFORCE mode (expected LOG_ONLY)"
    assert check(results["engine-none-fail"], "policy_engine").message == \
        "no policy engine attached (expected ENFORCE)"
    assert results["denied-pass"].outcome.value == "policy_denied"
    assert results["denied-fail"].outcome.value == "ok"


def test_a_protocol_matrix_gives_one_result_per_version(results):
    assert results["matrix[2025-06-18]"].protocol_version == "2025-06-18"
    assert results["matrix[2025-11-25]"].protocol_version == "2025-11-25"
    assert all(results[f"matrix[{v}]"].expectation_met for v in ("2025-06-18", "2025-11-25"))


def test_the_exact_catalogue_passes_when_unchanged(results, run_file):
    tools = results["outcome-pass"].tools
    again = run_file(f"- {{name: exact-pass, gateway: open, tools: {{exact: [{', '.join(tools)}]}}}}\n")
    assert check(again["exact-pass"], "tools.exact").message == "the catalogue is unchanged"
    assert again["exact-pass"].expectation_met is True


def test_junit_xml_parses_back(results):
    from junitparser import Error, Failure, JUnitXml

    ordered = list(results.values())
    xml = JUnitXml.fromstring(render_junit(ordered, classnames={r.name: "s" for r in ordered}))
    suite = next(iter(xml))
    cases = {c.name: c for c in suite}
    assert len(cases) == len(ordered) == suite.tests
    assert suite.failures == sum(1 for r in ordered if r.expectation_met is False)
    assert suite.errors == 0
    failed = cases["outcome-fail"]
    (failure,) = failed.result
    assert isinstance(failure, Failure) and not isinstance(failure, Error)
    assert failure.message == "expected auth_failed, got ok"
    assert failure.type == "ok"
    assert "expectation NOT met: expected auth_failed, got ok" in failure.text
    contains = cases["contains-fail"].result[0]
    assert contains.message == "expected ok, got ok; result_contains: the call result does not contain 'REJECTED'"
    assert cases["outcome-pass"].is_passed and cases["outcome-pass"].classname == "s"
    assert cases["latency-degraded"].is_passed
    assert "WARN latency.degraded" in cases["latency-degraded"].system_out


def test_markdown_summary(results):
    text = render_markdown(list(results.values()))
    lines = text.splitlines()
    assert lines[0] == "### agentcore-probe scenario: FAILED"
    assert "| Probe | Outcome | Expected | Met | Duration |" in lines
    row = next(line for line in lines if line.startswith("| outcome-fail |"))
    assert "`auth_failed`" not in row and "`ok`" in row and "❌ no" in row
    assert any(line.startswith("| latency-degraded |") and "⚠️ yes (slow)" in line for line in lines)
    assert "**outcome-fail**: expected auth_failed, got ok" in text
    assert "**denied-fail**: expected policy_denied, got ok" in text
    passed = render_markdown([results["outcome-pass"]])
    assert passed.startswith("### agentcore-probe scenario: passed") and "1 of 1 expectations met." in passed
