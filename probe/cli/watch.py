"""`agentcore-probe watch -f SCENARIO... --every 60s`: the scenarios on a schedule until SIGINT/SIGTERM.

One line per probe per cycle on stderr; with `--emf`, CloudWatch EMF lines on stdout (stdout
then carries nothing else, so every line of it parses). Exit 0 when stopped by a signal,
2 for a usage error (a bad duration, a scenario that does not load).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from probe.outcome import EXIT_CODES, Outcome
from probe.spec import Probe


def error(message: str) -> int:
    sys.stderr.write(f"agentcore-probe: error: {message}\n")
    return EXIT_CODES[Outcome.PROBE_ERROR]


def load_probes(paths: Sequence[str]) -> list[Probe]:
    """The scenario files' probes (probe.scenario); ValueError with a one-line reason."""
    try:
        from probe import scenario  # type: ignore[attr-defined]
    except ImportError:
        raise ValueError("scenario files are not supported by this build (probe.scenario is missing)") from None
    try:
        loaded = scenario.load(list(paths), env=dict(os.environ))
    except Exception as exc:  # the scenario loader's own errors are one line each
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    probes = list(loaded.probes)
    if not probes:
        raise ValueError("the scenario files define no probe")
    return probes


def schedule_from_args(ns: argparse.Namespace) -> tuple[float, float]:
    """(every, jitter) in seconds from --every and --jitter; ValueError with a one-line reason."""
    from probe.monitor.watch import parse_duration, parse_jitter

    every = parse_duration(ns.every, what="--every")
    jitter = parse_jitter(ns.jitter, every) if ns.jitter else 0.0
    return every, jitter


def emf_sink(namespace: str) -> object:
    """The EMF writer, its library imported now so a missing extra is a clear error at start."""
    try:
        import aws_embedded_metrics  # noqa: F401
    except ImportError:
        raise ValueError("--emf needs aws-embedded-metrics: pip install 'agentcore-probe[monitor]'") from None
    from probe.monitor.emf import write_emf

    return lambda labels, result: write_emf(sys.stdout, labels, result, namespace=namespace)


def main(ns: argparse.Namespace) -> int:
    try:
        every, jitter = schedule_from_args(ns)
        if every <= 0:
            raise ValueError("--every must be more than 0")
        grace = _grace(ns)
        sinks = [emf_sink(ns.emf_namespace)] if ns.emf else []
        probes = load_probes(ns.scenario)
    except ValueError as exc:
        return error(str(exc))
    return run_watch(probes, every=every, jitter=jitter, sinks=sinks, concurrency=ns.concurrency, grace=grace)


def _grace(ns: argparse.Namespace) -> float:
    from probe.monitor.watch import parse_duration

    return parse_duration(ns.grace, what="--grace")


def run_watch(probes: Sequence[Probe], *, every: float, jitter: float = 0.0, sinks: Sequence[object] = (),
              concurrency: int = 20, grace: float = 5.0) -> int:
    """Watch until SIGINT/SIGTERM; 0 when stopped that way."""
    from probe.cli.run import run_until_signal
    from probe.monitor.watch import watch

    fixed = list(probes)
    sys.stderr.write(f"agentcore-probe: watching {len(fixed)} probe(s) every {every:g}s; stop with Ctrl-C\n")
    sys.stderr.flush()
    stats, _ = run_until_signal(lambda stop: watch(lambda: fixed, every=every, jitter=jitter, stop=stop,
                                                   sinks=sinks, concurrency=concurrency, grace=grace))  # type: ignore[arg-type]
    sys.stderr.write(f"agentcore-probe: stopped after {stats.cycles} cycle(s)\n")
    return 0
