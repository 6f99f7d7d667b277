"""The pytest plugin through pytest's own pytester: collection, -k, -x, --junitxml, a failing item's report."""

from __future__ import annotations

import textwrap

pytest_plugins = ["pytester"]

URL = "https://gw-1.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp"

SCENARIO = f"""
version: 1
gateways:
  refunds: {{url: {URL}}}
probes:
  - {{name: listed, gateway: refunds}}
  - {{name: denied, gateway: refunds, expect: policy_denied}}
  - {{name: matrix, gateway: refunds, protocol_versions: [2025-06-18, 2025-11-25]}}
"""

NOT_A_SCENARIO = """
page_size: 5
gateways:
  - name: open
"""

LAB_SCENARIO = """
version: 1
gateways:
  open: {url: "${OPEN_GATEWAY_URL}"}
probes:
  - {name: wrong-expectation, gateway: open, expect: auth_failed}
  - {name: lists-tools, gateway: open, expect: ok}
lab:
  gateways:
    - name: open
"""


def test_collects_one_item_per_probe_and_version(pytester):
    pytester.makefile(".yaml", smoke=SCENARIO, seed=NOT_A_SCENARIO)
    pytester.mkdir("sub").joinpath("ci.yml").write_text("version: 2\njobs: {}\n")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    items = [line for line in result.outlines if "::" in line]
    assert items == ["smoke.yaml::listed", "smoke.yaml::denied", "smoke.yaml::matrix[2025-06-18]",
                     "smoke.yaml::matrix[2025-11-25]"]
    assert result.ret == 0


def test_dash_k_selects_probes(pytester):
    pytester.makefile(".yaml", smoke=SCENARIO)
    result = pytester.runpytest("--collect-only", "-q", "-k", "matrix and 2025-06", "-p", "no:cacheprovider")
    assert [line for line in result.outlines if "::" in line] == ["smoke.yaml::matrix[2025-06-18]"]


def test_a_bad_file_is_a_collection_error_with_its_line(pytester):
    pytester.makefile(".yaml", smoke="version: 1\ngateways: {g: {url: https://x.example.com/mcp}}\n"
                                     "probes:\n  - name: p\n    expect: okay\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*smoke.yaml:5: probe 'p': expect: 'okay' is not an outcome*"])
    assert "Traceback" not in result.stdout.str()


def test_a_failing_item_reports_the_evidence_not_a_traceback(pytester):
    pytester.makefile(".yaml", lab_smoke=LAB_SCENARIO)
    result = pytester.runpytest("--probe-lab", "-x", "--junitxml=out.xml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # -x: the first failure stops the run
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ probe wrong-expectation _*",
        "expected auth_failed, got ok",
        "*RESULT ok*",
        "expectation NOT met: expected auth_failed, got ok (exit 1)",
    ])
    assert "Traceback" not in out and "def runtest" not in out
    from junitparser import JUnitXml

    suite = next(iter(JUnitXml.fromfile(str(pytester.path / "out.xml"))))
    case = next(iter(suite))
    assert case.name == "wrong-expectation"
    assert case.result[0].message.startswith("expected auth_failed, got ok")


def test_passing_items_and_a_missing_variable(pytester, monkeypatch):
    monkeypatch.delenv("OPEN_GATEWAY_URL", raising=False)
    pytester.makefile(".yaml", lab_smoke=LAB_SCENARIO.replace("expect: auth_failed", "expect: ok"))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "lists")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*lab_smoke.yaml:3: ${OPEN_GATEWAY_URL} is not set*"])
    result = pytester.runpytest("--probe-lab", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_project_suite_is_not_affected(pytester):
    """A lab seed or any YAML without version + probes is never collected."""
    pytester.makefile(".yaml", default=textwrap.dedent(NOT_A_SCENARIO))
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == 5  # no tests collected
