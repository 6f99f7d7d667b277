"""The watch loop: run the scenario's probes every interval, forever, until told to stop.

One `Context` lives as long as the loop, so each gateway's connections and each OAuth token
are reused from cycle to cycle (a token until shortly before it expires). Nothing a gateway,
the network, an identity provider or the disk does stops the loop: the engine turns the
first three into outcomes, and a failure of the loop's own work in one cycle (loading the
scenario, a bug, an output that cannot be written) is one line on stderr and a counted
cycle error; the next cycle runs on time. Nothing accumulates across cycles: each cycle's
results are handed to the sinks and dropped, the metrics store keeps one entry per probe.

Stopping: when `stop` is set, the cycle in flight gets `grace` seconds to finish, then its
runs are cut (the engine returns them marked interrupted; they are not reported as
observations, since they say nothing about the gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from probe.monitor.labels import Labels, labels_for, succeeded
from probe.outcome import RunResult
from probe.report.escape import terminal_safe
from probe.spec import Probe

if TYPE_CHECKING:  # prometheus-client is needed only by the callers that keep a store (serve)
    from probe.monitor.metrics import MetricsStore

ProbesProvider = Callable[[], Sequence[Probe]]
Sink = Callable[[Labels, RunResult], None]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "ms": 0.001}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str, *, what: str = "duration") -> float:
    """`60s`, `5m`, `1h`, `250ms` or plain seconds (`90`, `1.5`) -> seconds; ValueError with a one-line reason."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{what} {text!r} is not a duration: use e.g. 60s, 5m, 1h or plain seconds")
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def parse_jitter(text: str, every: float) -> float:
    """`10%` of the interval, or a duration; never more than the interval itself."""
    raw = str(text).strip()
    if raw.endswith("%"):
        try:
            pct = float(raw[:-1])
        except ValueError:
            raise ValueError(f"jitter {text!r} is not a percentage: use e.g. 10%") from None
        if not 0 <= pct <= 100:
            raise ValueError(f"jitter {text!r} must be between 0% and 100%")
        return every * pct / 100.0
    seconds = parse_duration(raw, what="jitter")
    if seconds > every:
        raise ValueError(f"jitter {text!r} is longer than the interval ({every:g}s)")
    return seconds


@dataclass
class WatchStats:
    cycles: int = 0
    cycle_errors: int = 0
    last_cycle_s: float = 0.0
    # The last cycle's outcome per probe name (bounded by the scenario), for tests and /metrics.
    last: dict[str, str] = field(default_factory=dict)


def log_line(labels: Labels, result: RunResult) -> str:
    """One line per probe per cycle: bounded fields only, safe to grep and to ship."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.started_at))
    verdict = "pass" if succeeded(result) else "FAIL"
    return (f"{stamp} {verdict} probe={labels.probe} gateway={labels.gateway} outcome={result.outcome.value} "
            f"duration_ms={result.duration_ms:.0f}")


async def watch(
    probes: ProbesProvider,
    *,
    every: float,
    jitter: float = 0.0,
    stop: asyncio.Event,
    sinks: Sequence[Sink] = (),
    store: MetricsStore | None = None,
    log: IO[str] | None = None,
    concurrency: int = 20,
    grace: float = 5.0,
    max_cycles: int | None = None,
    stats: WatchStats | None = None,
    context: object | None = None,
) -> WatchStats:
    """Run cycles until `stop` is set (or `max_cycles`, for tests and benchmarks); returns the stats.

    `context` (a `probe.engine.Context`) is shared with the caller (serve's on-demand probes) and left
    open; without one, the loop makes its own and closes it when it ends.
    """
    from probe.engine import Context

    if context is None:
        async with Context(concurrency=concurrency) as own:
            return await watch(probes, every=every, jitter=jitter, stop=stop, sinks=sinks, store=store, log=log,
                               concurrency=concurrency, grace=grace, max_cycles=max_cycles, stats=stats, context=own)
    ctx = context
    stats = stats if stats is not None else WatchStats()
    log = log if log is not None else sys.stderr
    rng = random.Random()
    next_start = time.monotonic()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            await _cycle(probes, ctx, stop=stop, sinks=sinks, store=store, log=log, concurrency=concurrency,
                         grace=grace, stats=stats)
        except Exception as exc:  # a bug in our own work: one line, and the loop goes on
            stats.cycle_errors += 1
            if store is not None:
                store.cycle_errors += 1
            _say(log, f"agentcore-probe: cycle {stats.cycles + 1} failed: {type(exc).__name__}: {exc}")
        stats.cycles += 1
        if store is not None:
            store.cycles += 1
        stats.last_cycle_s = time.monotonic() - t0
        if max_cycles is not None and stats.cycles >= max_cycles:
            break
        # The schedule is kept from the first cycle (no drift); a cycle longer than the interval
        # is followed at once by the next rather than by a burst of missed ones.
        next_start = max(next_start + every, time.monotonic())
        delay = next_start - time.monotonic() + (rng.uniform(-jitter, jitter) if jitter else 0.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, delay))
    return stats


async def _cycle(probes: ProbesProvider, ctx: object, *, stop: asyncio.Event, sinks: Sequence[Sink],
                 store: MetricsStore | None, log: IO[str], concurrency: int, grace: float, stats: WatchStats) -> None:
    from probe.engine import run_many

    batch = list(probes())
    labels = [labels_for(p) for p in batch]
    if store is not None:
        store.retain(labels)
    cut = asyncio.Event()
    cutter = asyncio.ensure_future(_cut_after_grace(stop, cut, grace))
    try:
        results = await run_many(batch, concurrency=concurrency, stop=cut, context=ctx)  # type: ignore[arg-type]
    finally:
        cutter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cutter
    stats.last = {}
    failures: list[str] = []
    for lab, result in zip(labels, results, strict=True):
        if result.interrupted:
            _say(log, f"{log_line(lab, result)} interrupted")
            continue
        stats.last[lab.probe] = result.outcome.value
        if store is not None:
            store.record(lab, result)
        _say(log, log_line(lab, result))
        for sink in sinks:
            try:
                sink(lab, result)
            except Exception as exc:  # e.g. stdout on a full disk: that output is lost, the loop is not
                failures.append(f"{type(exc).__name__}: {exc}")
    if failures:
        raise OutputError(f"{len(failures)} output(s) could not be written; first: {failures[0]}")


class OutputError(Exception):
    """A sink failed (a full disk, a closed pipe): reported as one cycle error."""


async def _cut_after_grace(stop: asyncio.Event, cut: asyncio.Event, grace: float) -> None:
    await stop.wait()
    await asyncio.sleep(grace)
    cut.set()


def _say(log: IO[str], line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a log we cannot write must not stop the loop either
        log.write(terminal_safe(line) + "\n")  # one line, whatever a name or a server put in it
        log.flush()
