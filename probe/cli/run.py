"""`agentcore-probe run URL`: argv -> a `Probe` -> the engine -> a reporter -> an exit code.

Nothing here probes or decides: the spec validates, the engine runs, the reporter renders.
Ctrl-C and SIGTERM cut the run through the engine's `stop` event, so the partial report
is still printed (marked interrupted) before the process exits 130.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from probe.outcome import EXIT_INTERRUPTED, Outcome, RunResult
from probe.spec import (
    AuthConfig,
    Call,
    Expect,
    Probe,
    SpecError,
    Target,
    display_url,
    parse_arguments,
    parse_outcomes,
)

T = TypeVar("T")


def auth_config_from_args(ns: argparse.Namespace) -> AuthConfig:
    def opt(name: str) -> str | None:
        value = getattr(ns, name, None)
        return value if value not in ("", None) else None

    return AuthConfig(
        bearer_token_env=opt("bearer_token_env"),
        bearer_token_file=opt("bearer_token_file"),
        oauth_token_url=opt("oauth_token_url"),
        oauth_client_id=opt("oauth_client_id"),
        oauth_client_secret_env=opt("oauth_client_secret_env"),
        oauth_scope=opt("oauth_scope"),
        oauth_resource=opt("oauth_resource"),
        oauth_discover=bool(getattr(ns, "oauth_discover", False)),
        sigv4=bool(getattr(ns, "sigv4", False)),
        region=opt("region"),
        profile=opt("profile"),
    )


_FLAGS = {"timeout": "--timeout", "retries": "--retries", "max_retry_time": "--max-retry-time",
          "max_pages": "--max-pages", "max_run_time": "--max-run-time", "protocol_version": "--protocol-version",
          "region": "--region", "gateway_id": "--gateway-id", "connect_to": "--connect-to", "url": "the URL",
          "call.tool": "--call", "expect": "--expect"}


def probe_from_args(ns: argparse.Namespace) -> Probe:
    """The Probe the command line describes; a SpecError names the option in the operator's words."""
    try:
        if ns.args is not None and not ns.call:
            raise SpecError("--args needs --call TOOL", field="--args")
        target = Target(url=ns.url, gateway_id=ns.gateway_id, region=ns.region, auth=auth_config_from_args(ns),
                        profile=ns.profile, connect_to=getattr(ns, "connect_to", None))
        for problem in _stray_options(ns):
            raise SpecError(problem, field="options")
        call = Call(ns.call, parse_arguments(ns.args)) if ns.call is not None else None
        expect = Expect(outcomes=parse_outcomes(ns.expect)) if ns.expect is not None else Expect()
        return Probe(target=target, call=call, expect=expect, timeout=ns.timeout, retries=ns.retries,
                     max_retry_time=ns.max_retry_time, max_pages=ns.max_pages,
                     max_run_time=getattr(ns, "max_run_time", 120.0), protocol_version=ns.protocol_version,
                     idempotent=ns.idempotent, diagnose=not ns.no_iam)
    except SpecError as exc:
        raise SpecError(_in_flag_words(str(exc), exc.field), field=exc.field) from None


def _stray_options(ns: argparse.Namespace) -> list[str]:
    """Options that mean nothing with a single URL, or without the option they refine: said, not ignored."""
    problems = []
    for attr, flag in (("junit", "--junit"), ("only", "--only"), ("concurrency", "--concurrency"), ("lab", "--lab")):
        value = getattr(ns, attr, None)
        if value is not None and value is not False:
            problems.append(f"{flag} applies to scenario files (-f FILE), not to a single URL")
    if getattr(ns, "zip", False) and not getattr(ns, "bundle", None):
        problems.append("--zip needs --bundle DIR")
    wait = getattr(ns, "telemetry_wait", None)
    if wait not in (None, 0, 0.0) and not getattr(ns, "bundle", None):
        problems.append("--telemetry-wait needs --bundle DIR")
    if wait is not None and not (isinstance(wait, int | float) and 0 <= wait <= 3600):
        problems.append("--telemetry-wait must be between 0 and 3600 seconds")
    return problems


def _in_flag_words(message: str, field: str | None) -> str:
    """`timeout must be ...` from the spec reads `--timeout must be ...` on the command line."""
    flag = _FLAGS.get(field or "")
    if flag and field and message.startswith(field) and not message.startswith(flag):
        return flag + message[len(field):]
    return message


def run_until_signal(work: Callable[[asyncio.Event], Awaitable[T]]) -> tuple[T, bool]:
    """Run `work(stop)`; the first SIGINT or SIGTERM sets `stop` (the engine cuts the run and returns
    what it has); a second one interrupts at once. Returns the result and whether a signal came."""
    signalled: list[int] = []

    async def main() -> T:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            signalled.append(signum)
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)  # the next one is not so patient

        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not in the main thread, or no signals on this platform: Ctrl-C then interrupts at once.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal, sig)
        return await work(stop)

    return asyncio.run(main()), bool(signalled)


def command_for(probe: Probe) -> list[str]:
    """The `agentcore-probe run ...` argv that builds this probe (for the demo, summaries and bundles)."""
    import json

    t = probe.target
    argv = ["run", t.display_url]
    if t.gateway_id and t.region and not _from_url(t):
        argv += ["--gateway-id", t.gateway_id, "--region", t.region]
    if t.connect_to:
        argv += ["--connect-to", t.connect_to]
    for key, value in t.auth.to_dict().items():
        if key == "region" and value == t.region:
            continue
        shown = display_url(value) if key in ("oauth_token_url", "oauth_resource") else str(value)
        argv += [f"--{key.replace('_', '-')}"] + ([] if value is True else [shown])
    if probe.call:
        argv += ["--call", probe.call.tool]
        if probe.call.arguments:
            argv += ["--args", json.dumps(dict(probe.call.arguments), separators=(", ", ": "))]
    if probe.expect.outcomes:
        argv += ["--expect", ",".join(o.value for o in probe.expect.outcomes)]
    defaults = Probe(target=t)
    for key in ("timeout", "retries", "max_retry_time", "max_pages", "max_run_time", "protocol_version"):
        if getattr(probe, key) != getattr(defaults, key):
            argv += [f"--{key.replace('_', '-')}", str(getattr(probe, key))]
    if probe.idempotent:
        argv.append("--idempotent")
    if not probe.diagnose:
        argv.append("--no-iam")
    return argv


def _from_url(target: Target) -> bool:
    from probe.spec import parse_gateway_url

    return parse_gateway_url(target.url) == (target.gateway_id, target.region)


def main(ns: argparse.Namespace) -> int:
    from probe.report import render
    from probe.report.style import use_color

    if getattr(ns, "files", None) or ns.url is None:
        from probe.cli.scenario_run import main as scenario_main

        return scenario_main(ns)  # -f FILE...: the scenario runner (it refuses a URL given too)
    try:
        probe = probe_from_args(ns)
    except SpecError as exc:
        return usage_error(str(exc), ns, url=ns.url, expect=ns.expect)
    from probe.engine import run_probe

    result, interrupted = run_until_signal(lambda stop: run_probe(probe, stop=stop))
    if result.outcome is Outcome.PROBE_ERROR:
        sys.stderr.write(f"agentcore-probe: error: {result.steps[0].detail.message}\n")
    sys.stdout.write(render(result, fmt=ns.format, color=use_color(sys.stdout, no_color=ns.no_color),
                            verbose=ns.verbose))
    if getattr(ns, "bundle", None) and not write_bundle_for(ns, [result], [probe]):
        return 2
    return EXIT_INTERRUPTED if interrupted else result.exit_code


def write_bundle_for(ns: argparse.Namespace, results: list[RunResult], probes: list[Probe]) -> bool:
    """`--bundle DIR`: write the support bundle; False (after one line on stderr) when it cannot be written."""
    from probe.bundle.write import BundleError, write_bundle

    try:
        where = write_bundle(results, probes, ns.bundle, zip_=bool(getattr(ns, "zip", False)),
                             telemetry_wait=float(getattr(ns, "telemetry_wait", 0.0) or 0.0))
    except BundleError as exc:
        sys.stderr.write(f"agentcore-probe: error: {exc}\n")
        return False
    sys.stderr.write(f"agentcore-probe: support bundle written to {where}\n")
    return True


def usage_error(message: str, ns: argparse.Namespace, *, url: str, expect: str | None = None) -> int:
    """One line on stderr, exit 2; with --format json a probe_error report too (a scheduler reads stdout)."""
    from probe.engine import probe_error_result

    sys.stderr.write(f"agentcore-probe: error: {message}\n")
    if getattr(ns, "format", "text") == "json":
        from probe.report import render

        result: RunResult = probe_error_result(url, message)
        sys.stdout.write(render(result, fmt="json"))
    return 2
