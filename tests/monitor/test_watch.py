"""The watch loop against real servers: it outlives a gateway outage, reuses OAuth tokens across
cycles, survives an output that cannot be written and a bug in one cycle, and stops on a signal."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from probe import Probe, Target
from probe.lab.server import Lab, LabError
from probe.lab.state import LabState
from probe.monitor.metrics import MetricsStore
from probe.monitor.watch import WatchStats, watch
from probe.spec import AuthConfig
from tests.support.latency_server import LatencyServer

ROOT = Path(__file__).resolve().parents[2]


def free_port_run(n: int = 3) -> int:
    """A first port N such that N..N+n-1 are free right now (Lab(port=N) takes N, N+1, N+2)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + n > 65535:
            continue
        try:
            for k in range(n):
                with socket.socket() as t:
                    t.bind(("127.0.0.1", first + k))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports")


def start_lab_on(port: int, state: LabState) -> Lab:
    for _ in range(40):
        try:
            return Lab(port=port, state=state).start()
        except LabError:
            time.sleep(0.25)
    raise RuntimeError(f"could not restart the lab on {port}")


def test_watch_outlives_a_lab_outage_and_recovers() -> None:
    from probe.lab.iam import reset_iam

    reset_iam()
    port = free_port_run()
    state = LabState()
    lab = Lab(port=port, state=state).start()
    try:
        gw = lab.console.create_gateway("watched")
        probe = Probe(Target(lab.gateway_url(gw.gateway_id), name="watched"), name="list", retries=0, timeout=2,
                      diagnose=False)
        seen: list[str] = []
        phase = {"n": 0}
        log = io.StringIO()

        def sink(labels, result) -> None:
            seen.append(result.outcome.value)

        async def drive(stop: asyncio.Event) -> None:
            # Cycle 1..2 with the lab up; then down for 2 cycles; then a new lab on the same ports.
            while not stop.is_set():
                await asyncio.sleep(0.02)
                if len(seen) >= 2 and phase["n"] == 0:
                    phase["n"] = 1
                    seen.append("--stopped--")
                    await asyncio.to_thread(lab.stop)
                elif phase["n"] == 1 and seen[-2:] == ["transport_error", "transport_error"]:
                    phase["n"] = 2
                    phase["lab"] = await asyncio.to_thread(start_lab_on, port, state)
                    seen.append("--restarted--")
                elif phase["n"] == 2 and seen[-1] == "ok":
                    stop.set()

        async def main() -> WatchStats:
            stop = asyncio.Event()
            driver = asyncio.ensure_future(drive(stop))
            stats = await asyncio.wait_for(watch(lambda: [probe], every=0.2, stop=stop, sinks=[sink], log=log), 60)
            await driver
            return stats

        stats = asyncio.run(main())
    finally:
        lab.stop()
        if "lab" in phase:
            phase["lab"].stop()
        reset_iam()
    stopped, restarted = seen.index("--stopped--"), seen.index("--restarted--")
    assert set(seen[:stopped]) == {"ok"}
    outage = seen[stopped + 1:restarted]
    # Cycles already in flight at the edges may still say ok; in between, the outage is an outcome.
    assert outage.count("transport_error") >= 2 and set(outage) <= {"ok", "transport_error"}
    first_error = outage.index("transport_error")
    assert "ok" not in outage[first_error:outage.index("transport_error", first_error + 1)]
    assert seen[-1] == "ok"
    assert stats.cycle_errors == 0
    lines = log.getvalue().splitlines()
    assert any("outcome=transport_error" in line and "FAIL probe=list gateway=watched" in line for line in lines)
    assert "Traceback" not in log.getvalue()


def test_oauth_token_is_reused_across_cycles(lab) -> None:
    gw = lab.console.create_gateway("oauthwatch", authorizer_type="CUSTOM_JWT")
    lab.issuer.add_client("watch-client", "watch-client-secret-0042")
    os.environ["WATCH_SECRET"] = "watch-client-secret-0042"
    try:
        auth = AuthConfig(oauth_token_url=lab.token_url, oauth_client_id="watch-client",
                          oauth_client_secret_env="WATCH_SECRET")
        probe = Probe(Target(lab.gateway_url(gw.gateway_id), auth=auth, name="oauthwatch"), name="jwt", retries=0,
                      diagnose=False)
        methods: list[list[str]] = []
        log = io.StringIO()

        async def main() -> WatchStats:
            return await watch(lambda: [probe], every=0.01, stop=asyncio.Event(), log=log, max_cycles=4,
                               sinks=[lambda _l, r: methods.append([s.method for s in r.steps])])

        stats = asyncio.run(main())
    finally:
        del os.environ["WATCH_SECRET"]
    assert stats.cycles == 4 and stats.last == {"jwt": "ok"}
    assert methods[0] == ["oauth2/token", "initialize", "tools/list"]
    assert methods[1:] == [["initialize", "tools/list"]] * 3  # the token came from the context's cache
    assert "watch-client-secret-0042" not in log.getvalue()


def test_unwritable_output_and_a_bug_are_one_line_each_and_the_loop_goes_on() -> None:
    calls = {"provider": 0}

    def full_disk(labels, result) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with LatencyServer(latency_s=0.0) as url:
        probe = Probe(Target(url, name="bench"), name="p", retries=0)

        def provider():
            calls["provider"] += 1
            if calls["provider"] == 2:
                raise RuntimeError("boom in cycle two")
            return [probe]

        log = io.StringIO()
        store = MetricsStore()
        stats = asyncio.run(watch(provider, every=0.01, stop=asyncio.Event(), sinks=[full_disk], log=log,
                                  store=store, max_cycles=4))
    lines = log.getvalue().splitlines()
    errors = [line for line in lines if "failed:" in line]
    assert stats.cycles == 4 and stats.cycle_errors == 4 and store.cycle_errors == 4
    assert sum("No space left on device" in e for e in errors) == 3
    assert sum("RuntimeError: boom in cycle two" in e for e in errors) == 1
    assert sum("pass probe=p gateway=bench outcome=ok" in line for line in lines) == 3
    assert store.snapshot()[0][2] == 3  # three observations recorded despite the failing output
    assert "Traceback" not in log.getvalue()


def test_memory_structures_stay_bounded_over_many_cycles() -> None:
    with LatencyServer(latency_s=0.0) as url:
        probes = [Probe(Target(url, name="bench"), name=f"p{i}", retries=0) for i in range(3)]
        store = MetricsStore()
        stats = asyncio.run(watch(lambda: probes, every=0.0, stop=asyncio.Event(), log=io.StringIO(), store=store,
                                  max_cycles=200))
    assert stats.cycles == 200 and len(stats.last) == 3 and len(store) == 3
    assert all(runs == 200 for _, _, runs, _ in store.snapshot())


SCENARIO = """\
version: 1
gateways:
  slow:
    url: ${SLOW_GATEWAY_URL}
    auth: none
probes:
  - name: slow
    gateway: slow
    retries: 0
    timeout: 30
"""


@pytest.mark.parametrize("grace", [0.0, 30.0])
def test_sigterm_ends_watch_with_exit_0(grace, tmp_path) -> None:
    """`agentcore-probe watch -f FILE`: a cycle in flight is cut at once with no grace, and finishes
    when the grace allows it; either way SIGTERM ends the loop with exit 0."""
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(SCENARIO)
    with LatencyServer(latency_s=1.0) as url:
        env = {**os.environ, "SLOW_GATEWAY_URL": url}
        proc = subprocess.Popen([sys.executable, "-m", "probe", "watch", "-f", str(scenario), "--every", "0.2s",
                                 "--grace", str(grace)], cwd=ROOT, env=env, stderr=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        lines: list[str] = []
        started = threading.Event()

        def read() -> None:
            for line in proc.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if "watching" in line:
                    started.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert started.wait(30)
        time.sleep(0.5)  # the first cycle is in flight (each request waits 1 s)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        took = time.monotonic() - t0
        reader.join(5)
    assert code == 0
    text = "".join(lines)
    assert "Traceback" not in text and "stopped after 1 cycle(s)" in text
    if grace == 0.0:
        assert took < 2.5 and "interrupted" in text
    else:
        assert "pass probe=slow gateway=slow outcome=ok" in text  # the cycle in flight finished
