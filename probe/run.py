"""`agentcore-probe run`: wire a target, auth and session together and hand a RunResult to a reporter.

The order is the protocol's (token, handshake, list, call) and the run stops at the first
step that is not ok: later steps would only repeat the same failure. When the failure is
a policy internal failure, the run asks IAM why (the whole point of the tool), unless
told not to.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe.outcome import Detail, Outcome, RunResult, Step, first_failure


class UsageError(Exception):
    """The operator's input is wrong: one line, outcome probe_error, exit 2."""


@dataclass
class RunConfig:
    """Everything a run needs, validated; secrets are not here (only where to find them)."""

    url: str
    call: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    idempotent: bool = False
    timeout: float = 10.0
    retries: int = 2
    max_retry_time: float = 30.0
    max_pages: int = 100
    protocol_version: str | None = None
    expect: Outcome | None = None
    gateway_id: str | None = None
    region: str | None = None
    profile: str | None = None
    iam: bool = True


MAX_ARGS_FILE = 1024 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_arguments(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    text = raw
    if raw.startswith("@"):
        text = read_small_file(Path(raw[1:]), "--args", MAX_ARGS_FILE)
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        where = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise UsageError(f"--args is not valid JSON ({msg}{where})") from None
    except RecursionError:
        raise UsageError("--args is nested too deeply") from None
    if not isinstance(value, dict):
        raise UsageError(f"--args must be a JSON object, got {type(value).__name__}")
    return value


def read_small_file(path: Path, what: str, limit: int) -> str:
    """Read an operator's file: a regular file, bounded (never /dev/zero forever)."""
    try:
        if not path.is_file():
            raise UsageError(f"{what}: {path} is not a regular file")
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(f"{what}: {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what}: {path} is not UTF-8 text") from None


def display_url(url: str) -> str:
    """The URL as it may be printed: no userinfo, no query values."""
    from probe.redact import Redactor

    return Redactor().url(url)


def validate_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise UsageError(f"not a valid URL: {display_url(url)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {display_url(url)!r}")
    if parts.username or parts.password:
        raise UsageError("the URL carries credentials: pass them with --bearer-token-env or OAuth options")
    import httpx2

    try:
        httpx2.URL(url)
    except (httpx2.InvalidURL, ValueError) as exc:
        raise UsageError(f"not a valid URL: {display_url(url)!r} ({exc})") from None
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UsageError("the URL contains spaces or control characters")
    return url


def _finite(value: float, name: str, *, minimum: float, strict: bool) -> float:
    import math

    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        raise UsageError(f"{name} must be a finite number {bound}")
    return value


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    from probe.session import SUPPORTED_VERSIONS

    url = validate_url(ns.url)
    if ns.args is not None and not ns.call:
        raise UsageError("--args needs --call TOOL")
    _finite(ns.timeout, "--timeout", minimum=0, strict=True)
    _finite(ns.max_retry_time, "--max-retry-time", minimum=0, strict=False)
    if ns.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if not 1 <= ns.max_pages <= 10_000:
        raise UsageError("--max-pages must be between 1 and 10000")
    if ns.protocol_version is not None and ns.protocol_version not in SUPPORTED_VERSIONS:
        raise UsageError(f"--protocol-version must be one of {', '.join(SUPPORTED_VERSIONS)}")
    gateway_id, region = ns.gateway_id, ns.region
    if gateway_id is None or region is None:
        from probe.iam.gateway import parse_gateway_url

        parsed = parse_gateway_url(url)
        if parsed:
            gateway_id = gateway_id or parsed[0]
            region = region or parsed[1]
    return RunConfig(
        url=url,
        call=ns.call,
        arguments=parse_arguments(ns.args),
        idempotent=ns.idempotent,
        timeout=ns.timeout,
        retries=ns.retries,
        max_retry_time=ns.max_retry_time,
        max_pages=ns.max_pages,
        protocol_version=ns.protocol_version,
        expect=Outcome(ns.expect) if ns.expect else None,
        gateway_id=gateway_id,
        region=region,
        profile=ns.profile,
        iam=not ns.no_iam,
    )


def probe_error_result(url: str, message: str, expect: Outcome | None = None) -> RunResult:
    step = Step(method="config", outcome=Outcome.PROBE_ERROR, detail=Detail(message=message))
    return RunResult(url=display_url(url), protocol_version="", outcome=Outcome.PROBE_ERROR, steps=[step],
                     expect=expect)


def execute(cfg: RunConfig, auth_cfg: Any) -> RunResult:
    """Run the protocol steps against the target; never raises for what the target does."""
    from probe.auth import AuthConfigError, build_auth
    from probe.exchange import Transport
    from probe.redact import Redactor
    from probe.retry import RetryPolicy
    from probe.session import McpSession

    t0 = time.perf_counter()
    redactor = Redactor()
    try:
        plan = build_auth(auth_cfg, redactor, url=cfg.url)
    except AuthConfigError as exc:
        return probe_error_result(cfg.url, str(exc), cfg.expect)
    transport = Transport(cfg.url, timeout=cfg.timeout, redactor=redactor, auth=plan.httpx_auth)
    retry = RetryPolicy(retries=cfg.retries, max_time_s=cfg.max_retry_time, idempotent=cfg.idempotent,
                        attempt_timeout_s=cfg.timeout)
    session = McpSession(transport, protocol_version=cfg.protocol_version, retry=retry)
    steps: list[Step] = []
    tools: list[str] = []
    try:
        if plan.needs_token:
            steps.append(_fetch_token(plan, transport, cfg, retry))
        if first_failure(steps) is Outcome.OK and not session.stateless:
            steps.append(session.initialize())
        if first_failure(steps) is Outcome.OK:
            listed = session.list_tools(cfg.max_pages)
            tools = list(listed.data.get("tools", []))
            steps.append(listed)
        if first_failure(steps) is Outcome.OK and cfg.call:
            if cfg.call not in tools:
                steps.append(Step(
                    method="tools/call", outcome=Outcome.TOOL_MISSING,
                    detail=Detail(message=f"{cfg.call!r} is not among the {len(tools)} listed tools"),
                    hint=_missing_hint(cfg.call, tools), data={"tool": cfg.call},
                ))
            else:
                steps.append(session.call_tool(cfg.call, cfg.arguments))
    except AuthConfigError as exc:  # e.g. SigV4 credentials that fail to refresh mid-run
        return probe_error_result(cfg.url, str(exc), cfg.expect)
    finally:
        transport.close()
    handshake_done = session.stateless or any(s.method == "initialize" and s.outcome is Outcome.OK for s in steps)
    return RunResult(
        url=display_url(cfg.url),
        protocol_version=session.protocol_version if handshake_done else "",
        outcome=first_failure(steps),
        steps=steps,
        tools=tools,
        expect=cfg.expect,
        duration_ms=(time.perf_counter() - t0) * 1000,
    )


def _fetch_token(plan: Any, transport: Any, cfg: RunConfig, retry: Any) -> Step:
    """The OAuth token, once per run, under the same deadline and retry rules as any request."""
    from probe.deadline import deadline
    from probe.outcome import Judgement
    from probe.retry import run_with_retries

    def attempt(n: int) -> Any:
        with deadline(cfg.timeout):
            fetch = plan.fetch_token(transport.client, cfg.timeout)
        ex = dataclasses.replace(fetch.exchange, attempt=n)
        detail = Detail(message=fetch.message, request_id=ex.headers.get("x-amzn-requestid"))
        return ex, Judgement(fetch.outcome, detail, _token_hint(fetch.outcome))

    attempts = run_with_retries("oauth2/token", attempt, retry)
    last = attempts[-1][1]
    return Step(method="oauth2/token", outcome=last.outcome, exchanges=[ex for ex, _ in attempts],
                detail=last.detail, hint=last.hint)


def _token_hint(outcome: Outcome) -> str | None:
    if outcome is Outcome.OK:
        return None
    if outcome is Outcome.AUTH_FAILED:
        return "The token endpoint refused the client: check the client id, the secret's variable and the scope."
    return "The OAuth token endpoint did not answer usefully: check --oauth-token-url."


def _missing_hint(tool: str, tools: list[str]) -> str:
    suffix = tool.split("___")[-1]
    near = [t for t in tools if t.endswith(f"___{suffix}") or t == suffix]
    if near:
        return f"Did you mean {', '.join(near[:3])}? Gateway tool names are Target___tool."
    if tools:
        return ("Check the name and the gateway's targets; if a policy engine is attached in ENFORCE, tools/list "
                "shows only tools some policy could permit for this caller.")
    return "The list is empty."


def explain_with_iam(result: RunResult, cfg: RunConfig) -> None:
    """Attach the IAM check (policy internal failure) or the engine's state (empty list)."""
    if result.outcome not in (Outcome.POLICY_INTERNAL_FAILURE, Outcome.EMPTY_TOOLS):
        return
    if not cfg.gateway_id or not cfg.region:
        if result.outcome is Outcome.POLICY_INTERNAL_FAILURE:
            result.notes.append(
                "The gateway is not known, so its role was not checked: pass --gateway-id and --region "
                "(or use the gateway's own URL), or run `agentcore-probe iam check --gateway-id ID --region R`."
            )
        return
    if result.outcome is Outcome.POLICY_INTERNAL_FAILURE:
        from probe.iam.check import check_gateway

        check = check_gateway(gateway_id=cfg.gateway_id, region=cfg.region, profile=cfg.profile)
        result.iam = check.to_dict()
        return
    from probe.iam.check import policy_mode_notes
    from probe.iam.gateway import describe_gateway

    facts = describe_gateway(gateway_id=cfg.gateway_id, region=cfg.region, profile=cfg.profile)
    result.notes += [note[0].upper() + note[1:] + "." for note in policy_mode_notes(facts)]
    if facts.policy_engine_mode == "ENFORCE" and facts.policies_active:
        result.notes.append(f"The policy engine is in ENFORCE with {facts.policies_active} active policies; "
                            "none could permit any tool for this caller.")
    result.notes += [f"Could not read: {err}" for err in facts.read_errors]


def use_color(ns: argparse.Namespace) -> bool:
    return (not getattr(ns, "no_color", False) and "NO_COLOR" not in os.environ
            and sys.stdout.isatty() and os.environ.get("TERM") != "dumb")


def main(ns: argparse.Namespace) -> int:
    from probe.report import render

    try:
        cfg = config_from_args(ns)
        from probe.auth import auth_config_from_args

        auth_cfg = auth_config_from_args(ns)
    except UsageError as exc:
        sys.stderr.write(f"agentcore-probe: error: {exc}\n")
        result = probe_error_result(ns.url, str(exc), Outcome(ns.expect) if ns.expect else None)
        if ns.format == "json":
            sys.stdout.write(render(result, fmt="json", color=False, verbose=False))
        return result.exit_code
    result = execute(cfg, auth_cfg)
    if result.outcome is Outcome.PROBE_ERROR:
        sys.stderr.write(f"agentcore-probe: error: {result.steps[0].detail.message}\n")
    elif cfg.iam:
        explain_with_iam(result, cfg)
    sys.stdout.write(render(result, fmt=ns.format, color=use_color(ns), verbose=ns.verbose))
    return result.exit_code
