"""The one entry point: `run_probe(probe) -> RunResult`, and `run_many` for many at once.

Like blackbox_exporter's `ProbeFn`, every front end (the command line, scenario files, the
pytest plugin, watch and serve, the Lambda handler, the demo) builds `Probe`s and calls
these; nothing else runs a probe. The order of steps is the protocol's (token,
handshake, list, call) and a run stops at the first step that is not ok: later steps
would only repeat the same failure. Then the diagnose stage asks AWS why, where the
outcome calls for it, and the expectations are judged.

Bounds: each request has its whole-request deadline (`timeout`), each request's retries a
budget (`max_retry_time`), and the whole run `max_run_time`; a run cut by that bound, or
stopped by the caller (Ctrl-C, SIGTERM), still returns the steps it made, marked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import httpx2

from probe.auth import AuthConfigError, AuthPlan, build_auth
from probe.exchange import Recorder, new_client
from probe.expect import judge
from probe.outcome import DIAGNOSED, Detail, Diagnosis, Judgement, Outcome, RunResult, Step, first_failure
from probe.redact import Redactor
from probe.retry import RetryPolicy, run_with_retries
from probe.session import McpSession
from probe.spec import Probe, origin

T = TypeVar("T")
DEFAULT_CONCURRENCY = 20
TOKEN_REUSE_MARGIN_S = 60.0  # a cached token is not used within this long of its expiry
TOKEN_DEFAULT_LIFETIME_S = 300.0  # reuse for this long when the endpoint does not say (`expires_in`)


class Context:
    """What the probes of one `run_many` (or one watch loop) share: an HTTP client per target, and
    OAuth tokens until shortly before they expire. Close it with `aclose()` (or `async with`)."""

    def __init__(self, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.concurrency = max(1, concurrency)
        self._clients: dict[tuple[str, str, int | None], httpx2.AsyncClient] = {}
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._token_locks: dict[tuple[str, ...], asyncio.Lock] = {}

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def client(self, url: str) -> httpx2.AsyncClient:
        """One client per origin: the probes of a gateway reuse its connections, and a plain-http origin
        (the lab, a tunnel) never pays for loading the CA bundle, which only TLS needs."""
        scheme, host, port = origin(url)
        key = (scheme, host, port)
        if key not in self._clients:
            self._clients[key] = new_client(max_connections=self.concurrency, verify=scheme != "http")
        return self._clients[key]

    def cached_token(self, key: tuple[str, ...]) -> str | None:
        hit = self._tokens.get(key)
        if hit is None or time.monotonic() >= hit[1]:
            return None
        return hit[0]

    def keep_token(self, key: tuple[str, ...], token: str, expires_in: float | None) -> None:
        lifetime = expires_in if expires_in is not None else TOKEN_DEFAULT_LIFETIME_S
        reuse = lifetime - min(TOKEN_REUSE_MARGIN_S, lifetime * 0.1)
        if reuse > 0:
            self._tokens[key] = (token, time.monotonic() + reuse)

    def drop_token(self, key: tuple[str, ...]) -> None:
        self._tokens.pop(key, None)

    def token_lock(self, key: tuple[str, ...]) -> asyncio.Lock:
        """Probes sharing a grant wait for one fetch instead of each asking the identity provider."""
        return self._token_locks.setdefault(key, asyncio.Lock())

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


async def run_probe(probe: Probe, *, stop: asyncio.Event | None = None, context: Context | None = None) -> RunResult:
    """Run one probe; never raises for anything the target, the network or AWS does.

    `stop`, when set by the caller, cuts the run short (the result is marked interrupted);
    `context` shares clients and tokens with other probes (`run_many` makes one).
    """
    if context is None:
        async with Context(concurrency=1) as own:
            return await run_probe(probe, stop=stop, context=own)
    run = _Run(probe, context)
    return await run.execute(stop)


async def run_many(
    probes: Iterable[Probe],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: asyncio.Event | None = None,
    context: Context | None = None,
) -> list[RunResult]:
    """Run probes concurrently, at most `concurrency` at a time; results in the order given."""
    items = list(probes)
    if context is None:
        async with Context(concurrency=concurrency) as own:
            return await run_many(items, concurrency=concurrency, stop=stop, context=own)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(p: Probe) -> RunResult:
        async with gate:
            return await run_probe(p, stop=stop, context=context)

    return list(await asyncio.gather(*(one(p) for p in items)))


class _Run:
    """The state of one run in progress: so that a run cut short can still say what it did."""

    def __init__(self, probe: Probe, context: Context) -> None:
        self.probe = probe
        self.context = context
        self.redactor = Redactor()
        self.redactor.add_url_secrets(probe.target.url)  # an echoed ?api_key=... is a secret like a token
        for name in probe.secret_env:  # e.g. `password: ${PW}` in a scenario file's call arguments
            self.redactor.add(os.environ.get(name))
        self.steps: list[Step] = []
        self.tools: list[str] = []
        self.tools_partial = False
        self.session: McpSession | None = None
        self.current = "start"  # the step in progress, named for a cut run
        self.interrupted = False
        # Who the probe is to the gateway (auth mode, its token's claims decoded without verification), for the
        # policy explanation of the diagnose stage. Never the token itself, and not part of the result.
        self.caller_mode = "none"
        self.caller_claims: dict[str, Any] | None = None
        self.started = time.time()
        self.t0 = time.perf_counter()

    async def execute(self, stop: asyncio.Event | None) -> RunResult:
        finished, value, interrupted = await _bounded(self._steps(), stop, self.probe.max_run_time)
        if finished:
            if value is not None and value.outcome is Outcome.PROBE_ERROR:
                return value
        else:
            self._cut(interrupted)
        result = self._result()
        if not result.interrupted:
            await self._diagnose_within_bounds(result, stop)
        result.checks = judge(self.probe.expect, result)
        return result

    async def _diagnose_within_bounds(self, result: RunResult, stop: asyncio.Event | None) -> None:
        """The diagnose stage under the same bounds as the wire steps: what is left of --max-run-time, and stop."""
        left = self.probe.max_run_time - (time.perf_counter() - self.t0)
        finished, corrected, interrupted = await _bounded(self._diagnose(result), stop, max(left, 0.0))
        if finished:
            if corrected is not None:
                result.outcome = corrected
            return
        why = ("interrupted" if interrupted else
               f"cut at --max-run-time {self.probe.max_run_time:g}s") + " before AWS answered"
        result.diagnoses.append(Diagnosis("diagnosis_cut", f"the diagnosis was {why}", (
            f"The diagnosis (IAM check, policy explanation) was {why}: the outcome is the wire's alone. "
            "Run `agentcore-probe iam check` for the role, or raise --max-run-time.",)))
        result.interrupted = result.interrupted or interrupted

    async def _steps(self) -> RunResult | None:
        probe, target = self.probe, self.probe.target
        auth_cfg = target.auth
        if auth_cfg.sigv4 and not auth_cfg.region and target.region:
            auth_cfg = dataclasses.replace(auth_cfg, region=target.region)
        if auth_cfg.sigv4 and not auth_cfg.profile and target.profile:
            auth_cfg = dataclasses.replace(auth_cfg, profile=target.profile)
        try:
            plan = build_auth(auth_cfg, self.redactor, url=target.url, connect_to=target.connect_to)
        except AuthConfigError as exc:
            return probe_error_result(target.url, str(exc), probe)
        self.caller_mode = plan.mode
        if plan.mode == "bearer" and probe.diagnose:
            from probe.cedar.principal import bearer_claims

            self.caller_claims = bearer_claims(auth_cfg.bearer_token_env, auth_cfg.bearer_token_file)
        recorder = Recorder(self.context.client, self.redactor, connect_to=target.connect_to,
                            target_url=target.url)
        retry = RetryPolicy(retries=probe.retries, max_time_s=probe.max_retry_time, idempotent=probe.idempotent,
                            attempt_timeout_s=probe.timeout)
        session = self.session = McpSession(recorder, target.url, protocol_version=probe.protocol_version,
                                            retry=retry, timeout=probe.timeout, auth=plan.httpx_auth)
        try:
            if plan.needs_token:
                self.current = "oauth2/token"
                token_step = await self._token(plan, recorder, retry)
                if token_step is not None:
                    self.steps.append(token_step)
                if probe.diagnose and plan.grant is not None and plan.grant.token:
                    from probe.cedar.principal import unverified_claims

                    self.caller_claims = unverified_claims(plan.grant.token)
            if first_failure(self.steps) is Outcome.OK and not session.stateless:
                self.current = "initialize"
                self.steps.append(await session.initialize())
            if first_failure(self.steps) is Outcome.OK:
                self.current = "tools/list"
                listed = await session.list_tools(probe.max_pages, probe.call.tool if probe.call else None)
                self.tools = list(listed.data.get("tools", []))
                self.tools_partial = bool(listed.data.get("partial"))
                self.steps.append(listed)
            if first_failure(self.steps) is Outcome.OK and probe.call:
                self.current = "tools/call"
                self.steps.append(await self._call(session))
        except AuthConfigError as exc:  # e.g. SigV4 credentials that fail to refresh mid-run
            return probe_error_result(target.url, str(exc), probe)
        if plan.cache_key and first_failure(self.steps) is Outcome.AUTH_FAILED:
            self.context.drop_token(plan.cache_key)  # a token the gateway refuses is not reused
        self.current = "done"
        return None

    async def _call(self, session: McpSession) -> Step:
        call = self.probe.call
        assert call is not None
        if call.tool not in session.raw_tools:
            shown = [self.redactor.text(t) for t in session.raw_tools]
            return Step(
                method="tools/call", outcome=Outcome.TOOL_MISSING,
                detail=Detail(message=f"{call.tool!r} is not among the {len(shown)} listed tools", rule="tool_missing"),
                hint=_missing_hint(call.tool, shown), data={"tool": call.tool},
            )
        return await session.call_tool(call.tool, dict(call.arguments))

    async def _token(self, plan: AuthPlan, recorder: Recorder, retry: RetryPolicy) -> Step | None:
        """The OAuth token: from the context's cache, or fetched under the same deadline and retry rules."""
        assert plan.grant is not None
        grant = plan.grant
        if not grant.token_url:
            discovery = await self._discover(grant, recorder)
            if discovery is not None:
                return discovery
        key = plan.cache_key
        assert key is not None
        async with self.context.token_lock(key):
            cached = self.context.cached_token(key)
            if cached is not None:
                grant.use(cached)
                return None
            started = time.perf_counter()
            fetched: list[Any] = []

            async def attempt(n: int) -> tuple[Any, Judgement]:
                fetch = await grant.fetch(recorder, self.probe.timeout, n)
                fetched[:] = [fetch]
                detail = Detail(message=fetch.message, request_id=fetch.exchange.headers.get("x-amzn-requestid"),
                                rule="oauth_token")
                return fetch.exchange, Judgement(fetch.outcome, detail, _token_hint(fetch.outcome, grant.token_url,
                                                                                     self.redactor))

            attempts = await run_with_retries("oauth2/token", attempt, retry)
            last = attempts[-1][1]
            fetch = fetched[0]
            if fetch.ok and fetch.token:
                self.context.keep_token(key, fetch.token, fetch.expires_in)
        return Step(method="oauth2/token", outcome=last.outcome, exchanges=[ex for ex, _ in attempts],
                    detail=last.detail, hint=last.hint,
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 1))

    async def _discover(self, grant: Any, recorder: Recorder) -> Step | None:
        """--oauth-discover: find the token endpoint (RFC 9728, RFC 8414); a Step only when that failed."""
        import json

        from probe.auth import check_token_url
        from probe.oauth_discovery import discover
        from probe.session import CLIENT_INFO
        from probe.spec import DEFAULT_VERSION

        hello = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": self.probe.protocol_version or DEFAULT_VERSION, "capabilities": {},
            "clientInfo": CLIENT_INFO}}
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        step, found = await discover(recorder, self.probe.target.url, (json.dumps(hello), headers),
                                     timeout=self.probe.timeout)
        if found is None:
            return step
        try:
            check_token_url(found.token_endpoint, "the discovered token endpoint",
                            (self.probe.target.url, self.probe.target.connect_to))
        except AuthConfigError as exc:
            step.outcome, step.detail = Outcome.PROTOCOL_ERROR, Detail(message=str(exc), rule="oauth_discovery")
            return step
        grant.token_url = found.token_endpoint
        self.redactor.add_url_secrets(found.token_endpoint)
        if grant.resource is None and found.resource:
            grant.resource = found.resource  # MCP clients send the resource indicator (RFC 8707)
        self.steps.append(step)
        return None

    def _cut(self, interrupted: bool) -> None:
        """Record the step that was in progress when the run was cut, with what it had exchanged."""
        if self.current == "done":
            return
        why = "the run was interrupted" if interrupted else \
            f"the run exceeded --max-run-time {self.probe.max_run_time:g}s"
        exchanges = list(self.session.current) if self.session is not None else []
        if self.current == "tools/list" and self.session is not None and self.session.listing:
            self.tools = list(dict.fromkeys(self.redactor.text(n) for n in self.session.listing))
            self.tools_partial = True  # what the pages before the cut listed
        hint = None if interrupted else ("Raise --max-run-time, or lower --max-pages, --retries or --timeout: "
                                         "the run as a whole took too long.")
        self.steps.append(Step(method=self.current if self.current != "start" else "run",
                               outcome=Outcome.TRANSPORT_ERROR, exchanges=exchanges,
                               detail=Detail(message=f"{why} during {self.current}", rule="run_cut"), hint=hint,
                               elapsed_ms=0.0))
        self.interrupted = interrupted

    def _result(self) -> RunResult:
        session = self.session
        handshake_done = session is not None and (
            session.stateless or any(s.method == "initialize" and s.outcome is Outcome.OK for s in self.steps))
        return RunResult(
            url=self.probe.target.display_url,
            protocol_version=session.protocol_version if session is not None and handshake_done else "",
            outcome=first_failure(self.steps),
            steps=self.steps,
            tools=self.tools,
            expect=self.probe.expect.outcomes,
            duration_ms=round((time.perf_counter() - self.t0) * 1000, 1),
            started_at=self.started,
            name=self.probe.name,
            gateway=self.probe.target.name,
            tools_partial=self.tools_partial,
            interrupted=self.interrupted,
        )

    async def _diagnose(self, result: RunResult) -> Outcome | None:
        if result.outcome not in DIAGNOSED or not self.probe.diagnose or result.interrupted:
            return None  # the wire explains it: nothing to ask AWS (and nothing more to import)
        from probe.diagnose import diagnose
        from probe.diagnose_policy import Caller

        findings = await diagnose(self.probe, result, Caller(self.caller_mode, self.caller_claims))
        result.diagnoses.extend(findings.diagnoses)
        return findings.outcome


async def _bounded(work: Coroutine[Any, Any, T], stop: asyncio.Event | None,
                   timeout: float) -> tuple[bool, T | None, bool]:
    """Run `work` until it ends, `timeout` passes or `stop` is set: (finished, its value, stopped).

    A bug in the probe (an exception from `work`) is raised, not hidden as a cut.
    """
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    both = [f for f in (task, stopper) if f is not None]
    try:
        done, _ = await asyncio.wait(both, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for fut in both:
            if not fut.done():
                fut.cancel()
        await asyncio.gather(*both, return_exceptions=True)
    if task in done and not task.cancelled():
        if (error := task.exception()) is not None:
            raise error
        return True, task.result(), False
    return False, None, stopper is not None and stopper in done


def probe_error_result(url: str, message: str, probe: Probe | None = None) -> RunResult:
    """The result of a probe that could not start: the operator's configuration is wrong."""
    from probe.spec import display_url

    step = Step(method="config", outcome=Outcome.PROBE_ERROR, detail=Detail(message=message, rule="config"))
    return RunResult(url=display_url(url), protocol_version="", outcome=Outcome.PROBE_ERROR, steps=[step],
                     expect=probe.expect.outcomes if probe else (), name=probe.name if probe else None,
                     gateway=probe.target.name if probe else None, started_at=time.time())


def _token_hint(outcome: Outcome, token_url: str, redactor: Redactor) -> str | None:
    if outcome is Outcome.OK:
        return None
    if outcome is Outcome.AUTH_FAILED:
        return "The token endpoint refused the client: check the client id, the secret's variable and the scope."
    if outcome is Outcome.PROTOCOL_ERROR:
        return (f"{redactor.url(token_url)} does not behave like an OAuth token endpoint: check --oauth-token-url "
                "(or use --oauth-discover).")
    return f"The OAuth token endpoint {redactor.url(token_url)} did not answer usefully: check --oauth-token-url."


def _missing_hint(tool: str, tools: Sequence[str]) -> str:
    suffix = tool.split("___")[-1]
    near = [t for t in tools if t.endswith(f"___{suffix}") or t == suffix]
    if near:
        return f"Did you mean {', '.join(near[:3])}? Gateway tool names are Target___tool."
    if tools:
        return ("Check the name and the gateway's targets; if a policy engine is attached in ENFORCE, tools/list "
                "shows only tools some policy could permit for this caller.")
    return "The list is empty."
