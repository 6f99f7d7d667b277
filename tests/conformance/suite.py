"""Install the official MCP conformance suite once, and run its client scenarios (helpers for conftest and tests).

The suite (`@modelcontextprotocol/conformance` on npm) needs Node.js 22 or newer, which a
machine may not have; npm can install Node itself as the `node` package. So the session
fixture `conformance` runs `npm ci` on tests/conformance/package.json and package-lock.json
(the suite and `node` pinned exactly, every transitive package locked) into
`.cache/conformance/<hash of the lock>/` at the repository's root (git-ignored). A second run,
or a run after another session filled the cache, reuses it; changing a pin changes the hash
and installs afresh. Only a machine without `npm` skips these tests: anything else that goes
wrong (registry unreachable, install too slow, a broken Node) fails them, saying why.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE_ROOT = REPO / ".cache" / "conformance"
INSTALL_TIMEOUT_S = 300  # a cold install takes about 15 s: the Node binary (~30 MB) and 124 small packages
SCENARIO_TIMEOUT_MS = 30_000  # the suite kills the client after this
RUN_TIMEOUT_S = 120  # and this test kills the suite after this
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ScenarioRun:
    """What one `conformance client --scenario NAME` run left behind."""

    scenario: str
    exit_code: int
    output: str  # the suite's own stdout and stderr (the client's output included when it failed)
    checks: list[dict[str, object]]
    client_stdout: str
    client_stderr: str

    def failing(self) -> list[dict[str, object]]:
        """The checks the suite counts against the client (it fails a run on FAILURE and on WARNING)."""
        return [c for c in self.checks if c.get("status") in ("FAILURE", "WARNING")]

    def status_of(self, check_id: str) -> list[object]:
        """The statuses the suite gave to checks with this id, in order."""
        return [c.get("status") for c in self.checks if c.get("id") == check_id]

    def explain(self, masked: tuple[str, ...] = ()) -> str:
        """A readable account for a failed assertion: failing checks first, then the suite's output."""
        lines = [f"conformance scenario {self.scenario}: suite exit {self.exit_code}"]
        for check in self.failing():
            message = check.get("errorMessage") or ""
            lines.append(f"  {check.get('status')} {check.get('id')}: {check.get('description')} {message}".rstrip())
        lines += ["--- suite output ---", self.output]
        text = "\n".join(lines)
        for secret in masked:
            text = text.replace(secret, "[MASKED]")
        return text


@dataclass(frozen=True)
class Conformance:
    """The installed suite: a Node 22 binary and the suite's entry point."""

    node: Path
    entry: Path

    def run_client_scenario(self, scenario: str, out_dir: Path) -> ScenarioRun:
        """Run one client scenario with tests/conformance/client.py (hence the probe) as the client."""
        env = dict(os.environ)
        env.update(
            PROBE_CONFORMANCE_PYTHON=sys.executable,
            PROBE_CONFORMANCE_CLIENT=str(HERE / "client.py"),
            NO_COLOR="1",
            FORCE_COLOR="0",
        )
        # The suite splits --command on spaces and runs it through a shell with the server URL
        # appended; quoted variables keep paths with spaces intact.
        command = '"$PROBE_CONFORMANCE_PYTHON" "$PROBE_CONFORMANCE_CLIENT"'
        argv = [str(self.node), str(self.entry), "client", "--command", command, "--scenario", scenario,
                "--timeout", str(SCENARIO_TIMEOUT_MS), "--output-dir", str(out_dir)]
        try:
            done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"conformance scenario {scenario} did not finish in {RUN_TIMEOUT_S} s: {exc.stderr!r}")
        results = sorted(out_dir.rglob("checks.json"))
        checks: list[dict[str, object]] = json.loads(results[-1].read_text()) if results else []
        result_dir = results[-1].parent if results else out_dir
        return ScenarioRun(
            scenario=scenario,
            exit_code=done.returncode,
            output=_ANSI.sub("", done.stdout + done.stderr),
            checks=checks,
            client_stdout=_read(result_dir / "stdout.txt"),
            client_stderr=_read(result_dir / "stderr.txt"),
        )


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _lock_key() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def _node_major(node: Path) -> int | None:
    try:
        done = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = re.fullmatch(r"v(\d+)\.\d+\.\d+\s*", done.stdout)
    return int(match.group(1)) if done.returncode == 0 and match else None


def _installed(target: Path) -> Conformance | None:
    """The suite in `target` when a previous install completed there, else None."""
    found = Conformance(
        node=target / "node_modules" / "node" / "bin" / "node",
        entry=target / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js",
    )
    if not (target / "installed").exists() or not found.entry.exists():
        return None
    return found if (_node_major(found.node) or 0) >= 22 else None


def _prune_other_installs(keep: Path) -> None:
    """Remove installs of earlier pins (about 240 MB each) once the current one is in place."""
    for other in CACHE_ROOT.iterdir():
        if other != keep and other.is_dir() and re.fullmatch(r"[0-9a-f]{16}", other.name):
            shutil.rmtree(other, ignore_errors=True)


def install(npm: str) -> Conformance:
    """Install the pinned suite and Node into the cache (once; concurrent sessions wait on a lock)."""
    target = CACHE_ROOT / _lock_key()
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = _installed(target)
        if ready:
            return ready
        (target / "installed").unlink(missing_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(HERE / name, target / name)
        try:
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                                  capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm ci of the conformance suite took more than {INSTALL_TIMEOUT_S} s (in {target})")
        if done.returncode != 0:
            pytest.fail(f"npm ci of the conformance suite failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        (target / "installed").write_text("")
        _prune_other_installs(keep=target)
        ready = _installed(target)
        if ready is None:
            pytest.fail(f"npm ci finished but left no Node 22 and suite in {target}: is ignore-scripts set? "
                        "The `node` package installs its binary from a preinstall script.")
        return ready
