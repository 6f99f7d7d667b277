"""Metrics of real runs: EMF lines parsed back against the EMF specification's structure, and the
Prometheus exposition parsed with prometheus_client's own parser. Runs are real MCP sessions
against a loopback server (and one against a closed port, for a failing outcome)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from probe import Outcome, Probe, Target, run_many
from probe.monitor.emf import METRIC_NAMES, emf_lines, write_emf
from probe.monitor.labels import OUTCOMES, labels_for
from probe.monitor.metrics import MetricsStore, exposition, registry_for, results_exposition
from probe.monitor.watch import parse_duration, parse_jitter
from probe.spec import Call
from tests.support.latency_server import LatencyServer


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def results():
    with LatencyServer(latency_s=0.0) as url:
        probes = [Probe(Target(url, name="bench"), Call("Bench___echo"), name="echo", retries=0),
                  Probe(Target(closed_port_url(), name="down"), name="down", retries=0, timeout=2)]
        got = asyncio.run(run_many(probes))
    return list(zip(probes, got, strict=True))


def test_real_runs_have_the_outcomes_the_metrics_describe(results) -> None:
    assert [r.outcome for _, r in results] == [Outcome.OK, Outcome.TRANSPORT_ERROR]


def test_emf_lines_follow_the_specification(results, capsys) -> None:
    import sys

    for probe, result in results:
        write_emf(sys.stdout, labels_for(probe), result, namespace="Probe/Test")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    docs = [json.loads(line) for line in lines]
    for doc, (probe, result) in zip(docs, results, strict=True):
        aws = doc["_aws"]
        assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_600_000_000_000
        (directive,) = aws["CloudWatchMetrics"]
        assert directive["Namespace"] == "Probe/Test"
        assert directive["Dimensions"] == [["gateway", "probe"]]
        # Every dimension named in the directive is a top-level string member.
        assert (doc["gateway"], doc["probe"]) == (probe.target.name, probe.name)
        names = [m["Name"] for m in directive["Metrics"]]
        assert len(names) == len(set(names)) <= 100
        for m in directive["Metrics"]:  # each metric is a top-level number member
            assert isinstance(doc[m["Name"]], float | int)
            assert m["Unit"] in ("None", "Count", "Milliseconds")
        assert set(names) <= set(METRIC_NAMES)
        assert {f"Outcome_{o}" for o in OUTCOMES} | {"Success", "Duration"} <= set(names)
        assert sum(doc[f"Outcome_{o}"] for o in OUTCOMES) == 1
        assert doc[f"Outcome_{result.outcome.value}"] == 1
        assert doc["outcome"] == result.outcome.value
    ok, down = docs
    assert ok["Success"] == 1 and down["Success"] == 0
    assert {"InitializeDuration", "ToolsListDuration", "ToolsCallDuration"} <= set(ok)
    assert ok["Duration"] >= ok["InitializeDuration"] > 0
    assert "ToolsCallDuration" not in down


def test_emf_carries_no_free_text(results) -> None:
    _, down = results[1]
    message = down.steps[-1].detail.message
    assert message and message not in emf_lines(labels_for(results[1][0]), down)[0]


def families(payload: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(payload.decode())}


def test_prometheus_exposition_parses_with_one_hot_outcome(results) -> None:
    store = MetricsStore()
    for probe, result in results:
        store.record(labels_for(probe), result)
    store.record(labels_for(results[1][0]), results[1][1])  # a second failed run of "down"
    fams = families(exposition(registry_for(store)))
    success = {s.labels["probe"]: s.value for s in fams["agentcore_probe_success"].samples}
    assert success == {"echo": 1.0, "down": 0.0}
    onehot = [s for s in fams["agentcore_probe_outcome"].samples if s.labels["probe"] == "down"]
    assert {s.labels["outcome"] for s in onehot} == set(OUTCOMES)
    assert [s.labels["outcome"] for s in onehot if s.value == 1.0] == ["transport_error"]
    steps = {s.labels["step"] for s in fams["agentcore_probe_step_duration_seconds"].samples
             if s.labels["probe"] == "echo"}
    assert steps == {"initialize", "tools/list", "tools/call"}
    runs = {s.labels["probe"]: s.value for s in fams["agentcore_probe_runs"].samples if s.name.endswith("_total")}
    assert runs == {"echo": 1.0, "down": 2.0}
    failures = {(s.labels["probe"], s.labels["outcome"]): s.value
                for s in fams["agentcore_probe_failures"].samples if s.name.endswith("_total") and s.value}
    assert failures == {("down", "transport_error"): 2.0}
    assert all(s.value > 1_600_000_000 for s in fams["agentcore_probe_last_run_timestamp_seconds"].samples)
    assert all(0 < s.value < 10 for s in fams["agentcore_probe_duration_seconds"].samples)
    # No label carries anything but scenario names and the fixed vocabularies.
    for fam in fams.values():
        for s in fam.samples:
            assert set(s.labels) <= {"probe", "gateway", "outcome", "step"}


def test_no_global_registry_pollution(results) -> None:
    before = {m.name for m in REGISTRY.collect()}
    results_exposition([(labels_for(p), r) for p, r in results])
    assert not any(n.startswith("agentcore_probe") for n in before | {m.name for m in REGISTRY.collect()})


def test_store_forgets_probes_removed_from_the_scenario(results) -> None:
    store = MetricsStore()
    for probe, result in results:
        store.record(labels_for(probe), result)
    store.retain([labels_for(results[0][0])])
    assert len(store) == 1


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("5m", 300), ("1h", 3600), ("90", 90), ("1.5", 1.5),
                                               ("250ms", 0.25)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5q", "-3s", "1h30m", "s"])
def test_bad_durations_are_one_line_errors(text) -> None:
    with pytest.raises(ValueError, match="not a duration") as info:
        parse_duration(text, what="--every")
    assert "\n" not in str(info.value)


def test_jitter() -> None:
    assert parse_jitter("10%", 60) == 6
    assert parse_jitter("5s", 60) == 5
    for bad in ("120%", "2m", "x%"):
        with pytest.raises(ValueError):
            parse_jitter(bad, 60)
