"""Prometheus metrics of the probe's last results, with bounded labels only.

`MetricsStore` keeps, per probe, the last observation and the probe's own counters (runs,
failures by outcome). `StoreCollector` turns the store into metric families at scrape time,
so each store has its own `CollectorRegistry` (`registry_for`) and nothing is registered
in prometheus_client's global registry: two stores (the watch loop's, an on-demand
`/probe` answer) never see each other's series, and tests can make as many as they like.

Memory is bounded by the scenario: one entry per probe name, one counter per outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from probe.monitor.labels import OUTCOMES, STEPS, Labels, step_seconds, succeeded
from probe.outcome import RunResult

PREFIX = "agentcore_probe"
LABELS = ["probe", "gateway"]


@dataclass
class Observation:
    """What a probe's last run says, reduced to numbers and bounded names."""

    success: bool
    outcome: str
    duration_s: float
    steps: dict[str, float]
    timestamp: float

    @classmethod
    def of(cls, result: RunResult) -> Observation:
        return cls(success=succeeded(result), outcome=result.outcome.value, duration_s=result.duration_ms / 1000.0,
                   steps=step_seconds(result), timestamp=result.started_at + result.duration_ms / 1000.0)


@dataclass
class _Series:
    last: Observation
    runs: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class MetricsStore:
    """The last observation and the counters of every probe; safe to read while a cycle writes."""

    def __init__(self) -> None:
        self._series: dict[Labels, _Series] = {}
        self._lock = threading.Lock()
        self.cycles = 0
        self.cycle_errors = 0

    def record(self, labels: Labels, result: RunResult) -> None:
        obs = Observation.of(result)
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = _Series(last=obs)
            series.last = obs
            series.runs += 1
            if not obs.success:
                series.failures[obs.outcome] = series.failures.get(obs.outcome, 0) + 1

    def retain(self, keep: Iterable[Labels]) -> None:
        """Forget probes no longer in the scenario, so a reloaded scenario cannot grow the store."""
        wanted = set(keep)
        with self._lock:
            for key in [k for k in self._series if k not in wanted]:
                del self._series[key]

    def snapshot(self) -> list[tuple[Labels, Observation, int, dict[str, int]]]:
        with self._lock:
            return [(k, s.last, s.runs, dict(s.failures)) for k, s in self._series.items()]

    def __len__(self) -> int:
        return len(self._series)


class StoreCollector(Collector):
    """Metric families built from a `MetricsStore` at each scrape."""

    def __init__(self, store: MetricsStore, *, own_counters: bool = True) -> None:
        self.store = store
        self.own_counters = own_counters

    def collect(self) -> Iterator[Metric]:
        rows = self.store.snapshot()
        success = GaugeMetricFamily(f"{PREFIX}_success", "1 when the probe's last run succeeded (its expectation "
                                    "met, or outcome ok without one), else 0", labels=LABELS)
        duration = GaugeMetricFamily(f"{PREFIX}_duration_seconds", "Wall time of the probe's last run", labels=LABELS)
        steps = GaugeMetricFamily(f"{PREFIX}_step_duration_seconds", "Wall time of each step of the last run",
                                  labels=[*LABELS, "step"])
        outcome = GaugeMetricFamily(f"{PREFIX}_outcome", "The last run's outcome, one-hot over the fixed vocabulary",
                                    labels=[*LABELS, "outcome"])
        last = GaugeMetricFamily(f"{PREFIX}_last_run_timestamp_seconds", "When the probe's last run ended (Unix time)",
                                 labels=LABELS)
        runs = CounterMetricFamily(f"{PREFIX}_runs", "Runs of the probe since this process started", labels=LABELS)
        failures = CounterMetricFamily(f"{PREFIX}_failures", "Failed runs of the probe by outcome since this process "
                                       "started", labels=[*LABELS, "outcome"])
        for key, obs, n, failed in rows:
            base = [key.probe, key.gateway]
            success.add_metric(base, 1.0 if obs.success else 0.0)
            duration.add_metric(base, obs.duration_s)
            for step in STEPS:
                if step in obs.steps:
                    steps.add_metric([*base, step], obs.steps[step])
            for value in OUTCOMES:
                outcome.add_metric([*base, value], 1.0 if value == obs.outcome else 0.0)
            last.add_metric(base, obs.timestamp)
            if self.own_counters:
                runs.add_metric(base, n)
                for value in OUTCOMES:
                    failures.add_metric([*base, value], failed.get(value, 0))
        yield from (success, duration, steps, outcome, last)
        if self.own_counters:
            yield runs
            yield failures
            cycles = CounterMetricFamily(f"{PREFIX}_cycles", "Completed watch cycles since this process started")
            cycles.add_metric([], self.store.cycles)
            yield cycles
            errors = CounterMetricFamily(f"{PREFIX}_cycle_errors", "Cycles in which the probe itself failed (a bug or "
                                         "an unwritable output), logged on stderr")
            errors.add_metric([], self.store.cycle_errors)
            yield errors


def registry_for(store: MetricsStore, *, own_counters: bool = True) -> CollectorRegistry:
    """A registry of its own for this store (never prometheus_client's global REGISTRY)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, own_counters=own_counters))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of a registry (prometheus_client's own encoder)."""
    return generate_latest(registry)


def results_exposition(pairs: Iterable[tuple[Labels, RunResult]]) -> bytes:
    """One-off metrics for some results (blackbox-exporter style `/probe`): no counters, no history."""
    store = MetricsStore()
    for labels, result in pairs:
        store.record(labels, result)
    return exposition(registry_for(store, own_counters=False))
