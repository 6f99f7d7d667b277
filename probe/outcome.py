"""The probe's bounded vocabulary and the result types every step returns.

Like blackbox_exporter's `probe_success` plus a reason label, an operator (or an alert
rule) keys on a small fixed set of outcomes; everything specific (the gateway's text,
the policy id, the request id) lives in `Detail`, apart from the outcome. Exit codes are
part of the public contract: scripts and schedulers branch on them, so they never change
meaning once released.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    """What happened, in one word. Ordered roughly from the probe outwards."""

    OK = "ok"
    PROBE_ERROR = "probe_error"
    EMPTY_TOOLS = "empty_tools"
    TOOL_MISSING = "tool_missing"
    POLICY_DENIED = "policy_denied"
    POLICY_INTERNAL_FAILURE = "policy_internal_failure"
    AUTH_FAILED = "auth_failed"
    TOOL_ERROR = "tool_error"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    PROTOCOL_ERROR = "protocol_error"
    TRANSPORT_ERROR = "transport_error"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]

    @property
    def meaning(self) -> str:
        return MEANINGS[self]


EXIT_CODES: dict[Outcome, int] = {
    Outcome.OK: 0,
    Outcome.PROBE_ERROR: 2,
    Outcome.EMPTY_TOOLS: 10,
    Outcome.TOOL_MISSING: 11,
    Outcome.POLICY_DENIED: 20,
    Outcome.POLICY_INTERNAL_FAILURE: 21,
    Outcome.AUTH_FAILED: 30,
    Outcome.TOOL_ERROR: 40,
    Outcome.THROTTLED: 50,
    Outcome.SERVER_ERROR: 60,
    Outcome.PROTOCOL_ERROR: 61,
    Outcome.TRANSPORT_ERROR: 62,
}

# `--expect` turns a run into an assertion; these two are the only codes it produces.
EXIT_EXPECTATION_MET = 0
EXIT_EXPECTATION_MISSED = 1
# Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it): the report is partial.
EXIT_INTERRUPTED = 130

MEANINGS: dict[Outcome, str] = {
    Outcome.OK: "listed tools, and the call (if asked) succeeded",
    Outcome.PROBE_ERROR: "the probe's own usage or configuration is wrong",
    Outcome.EMPTY_TOOLS: "tools/list succeeded with no tools",
    Outcome.TOOL_MISSING: "the tool to call is not in the complete tool list",
    Outcome.POLICY_DENIED: "the policy engine denied the call",
    Outcome.POLICY_INTERNAL_FAILURE: "policy evaluation itself failed (an IAM fault of the gateway's role)",
    Outcome.AUTH_FAILED: "inbound authentication was rejected",
    Outcome.TOOL_ERROR: "the call returned an error for a non-policy reason",
    Outcome.THROTTLED: "the gateway throttled the request",
    Outcome.SERVER_ERROR: "the server failed (HTTP 5xx or JSON-RPC internal error)",
    Outcome.PROTOCOL_ERROR: "the answer is not MCP/JSON-RPC",
    Outcome.TRANSPORT_ERROR: "no HTTP answer (DNS, refused, TLS, timeout)",
}

# Outcomes worth another attempt: transient by nature. Everything else is a verdict.
RETRYABLE: frozenset[Outcome] = frozenset({Outcome.THROTTLED, Outcome.SERVER_ERROR, Outcome.TRANSPORT_ERROR})

# Outcomes the control plane can explain (the diagnose stage): the IAM fault, the engine's state,
# the Cedar policies. The others are explained by the wire alone.
DIAGNOSED: frozenset[Outcome] = frozenset({Outcome.POLICY_INTERNAL_FAILURE, Outcome.EMPTY_TOOLS,
                                           Outcome.POLICY_DENIED, Outcome.TOOL_MISSING})


SCHEMA_VERSION = 1  # of the JSON report; bumped only when a key changes meaning or disappears


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `cls`: a report may carry more (computed keys, newer fields)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer (or the lack of one), as recorded on the wire.

    A recorded Exchange is redacted (it may be printed, saved and shared); the engine also
    builds an unredacted twin that only the classifier and the protocol state ever read.
    """

    rpc_method: str | None  # JSON-RPC method sent; None for non-RPC requests (e.g. a token fetch)
    rpc_id: int | str | None
    url: str
    http_method: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None  # None: no HTTP answer at all
    headers: dict[str, str]  # the headers that matter, lower-cased names
    body: str  # decoded text, capped
    body_bytes: int  # bytes actually received (may exceed len(body) when capped)
    body_truncated: bool
    duration_ms: float
    attempt: int = 1
    error: str | None = None  # transport error kind ("timeout", "refused", ...) when status is None
    error_message: str | None = None
    started_at: float = 0.0  # epoch seconds

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Detail:
    """The evidence behind an outcome, kept apart from the outcome itself."""

    message: str | None = None  # the gateway's own words (error text, reason)
    policy_id: str | None = None  # named in a denial's bracket
    reason: str | None = None  # the denial's bracket text
    request_id: str | None = None  # x-amzn-requestid, for a support case
    trace_id: str | None = None
    rpc_error_code: int | None = None
    debug: str | None = None  # result._meta.debug when the gateway's exceptionLevel is DEBUG
    retry_after_s: float | None = None
    www_authenticate: str | None = None  # where an OAuth client should look for the authorization server
    rule: str | None = None  # the classifier rule that decided

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detail:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Judgement:
    """What the classifier says of one answer: pure data, no I/O."""

    outcome: Outcome
    detail: Detail = field(default_factory=Detail)
    hint: str | None = None


@dataclass
class Step:
    """One protocol step (token, initialize, a tools/list page walk, a tools/call) and its verdict.

    A step owns every HTTP exchange it made, retries included, so the record explains the
    verdict on its own. `elapsed_ms` is the step's wall time (backoff waits included);
    `wire_ms` the time its requests spent on the wire.
    """

    method: str
    outcome: Outcome
    exchanges: list[Exchange] = field(default_factory=list)
    detail: Detail = field(default_factory=Detail)
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # step-specific facts: tools, pages, call result
    elapsed_ms: float = 0.0

    @property
    def attempts(self) -> int:
        """Attempts of the step's most-retried request (a list walk is several requests)."""
        return max((e.attempt for e in self.exchanges), default=0)

    @property
    def primary(self) -> Exchange | None:
        """The exchange that decided the step: the last request, not a trailing notification."""
        if not self.exchanges:
            return None
        last = self.exchanges[-1]
        failed_notification = last.rpc_id is not None or last.error or (last.status or 0) >= 300
        if last.rpc_method is None or failed_notification:
            return last
        requests = [e for e in self.exchanges if e.rpc_id is not None]
        return (requests or self.exchanges)[-1]

    @property
    def http_status(self) -> int | None:
        return self.primary.status if self.primary else None

    @property
    def wire_ms(self) -> float:
        return round(sum(e.duration_ms for e in self.exchanges), 1)

    @property
    def duration_ms(self) -> float:
        return self.elapsed_ms or self.wire_ms

    def to_dict(self, *, exchanges: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "outcome": self.outcome.value,
            "http_status": self.http_status,
            "duration_ms": self.duration_ms,
            "wire_ms": self.wire_ms,
            "message": self.detail.message,
            "request_id": self.detail.request_id,
            "attempts": self.attempts,
            "hint": self.hint,
            "detail": self.detail.to_dict(),
            "data": dict(self.data),
            "elapsed_ms": self.elapsed_ms,
        }
        if exchanges:
            out["exchanges"] = [e.to_dict() for e in self.exchanges]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            method=data["method"],
            outcome=Outcome(data["outcome"]),
            exchanges=[Exchange.from_dict(e) for e in data.get("exchanges") or []],
            detail=Detail.from_dict(data.get("detail") or {}),
            hint=data.get("hint"),
            data=dict(data.get("data") or {}),
            elapsed_ms=float(data.get("elapsed_ms") or 0.0),
        )


@dataclass(frozen=True)
class Diagnosis:
    """What the diagnose stage found out about an outcome, beyond the wire: typed, rendered by reporters.

    `kind` names the finding (`iam_check`, `engine_state`, `target_unknown`, `policy_explanation`);
    `lines` are sentences an operator reads; `data` is the finding's own record (an IAM
    check's `to_dict()`), kept whole so a report can be re-rendered without AWS.
    """

    kind: str
    summary: str
    lines: tuple[str, ...] = ()
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "lines": list(self.lines), "data": self.data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnosis:
        return cls(kind=data["kind"], summary=data.get("summary") or "", lines=tuple(data.get("lines") or ()),
                   data=data.get("data"))


@dataclass(frozen=True)
class Check:
    """One expectation of a probe, judged against its result. `level` is `fail` or `warn`."""

    name: str
    passed: bool
    message: str
    level: str = "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "message": self.message, "level": self.level}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(**_known(cls, data))


@dataclass
class RunResult:
    """Everything a run produced. Reporters render it; they never decide anything."""

    url: str
    protocol_version: str
    outcome: Outcome
    steps: list[Step] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    expect: tuple[Outcome, ...] = ()
    checks: list[Check] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    duration_ms: float = 0.0
    started_at: float = 0.0
    name: str | None = None  # the probe's name (scenario files)
    gateway: str | None = None  # the gateway's name (scenario files)
    tools_partial: bool = False  # the tool list is incomplete (the page walk failed or was cut)
    interrupted: bool = False  # the run was cut short (Ctrl-C, SIGTERM, --max-run-time)

    @property
    def failing_step(self) -> Step | None:
        return next((s for s in self.steps if s.outcome is not Outcome.OK), None)

    @property
    def iam(self) -> dict[str, Any] | None:
        """The IAM check, when the diagnose stage ran one."""
        return next((d.data for d in self.diagnoses if d.kind == "iam_check"), None)

    @property
    def notes(self) -> list[str]:
        """Context an operator should read: every diagnosis' sentences except the IAM check's own table."""
        return [line for d in self.diagnoses if d.kind != "iam_check" for line in d.lines]

    @property
    def expectation_met(self) -> bool | None:
        """None without expectations; else whether every `fail`-level check passed."""
        if not self.expect and not self.checks:
            return None
        if self.outcome is Outcome.PROBE_ERROR:
            return False  # nothing was judged: the probe's own configuration is wrong
        return all(c.passed for c in self.checks if c.level == "fail")

    @property
    def exit_code(self) -> int:
        """The process's exit code for this result (scripts branch on it: see EXIT_CODES)."""
        if self.outcome is Outcome.PROBE_ERROR:
            return EXIT_CODES[Outcome.PROBE_ERROR]  # a usage error is never an expectation met or missed
        if self.interrupted:
            return EXIT_INTERRUPTED
        met = self.expectation_met
        if met is not None:
            return EXIT_EXPECTATION_MET if met else EXIT_EXPECTATION_MISSED
        return self.outcome.exit_code

    def to_dict(self, *, verbose: bool = True) -> dict[str, Any]:
        """The JSON report's object. `verbose` adds every exchange (the transcript)."""
        from probe import __version__

        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "url": self.url,
            "protocol_version": self.protocol_version or None,
            "tools": list(self.tools),
            "steps": [s.to_dict(exchanges=verbose) for s in self.steps],
            "duration_ms": self.duration_ms,
            "notes": self.notes,
            "iam": self.iam,
            "diagnoses": [d.to_dict() for d in self.diagnoses],
            "probe_version": __version__,
            "started_at": self.started_at,
        }
        for key in ("name", "gateway"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.tools_partial:
            data["tools_partial"] = True
        if self.interrupted:
            data["interrupted"] = True
        if self.expect:
            data["expect"] = self.expect[0].value if len(self.expect) == 1 else [o.value for o in self.expect]
        if self.expect or self.checks:
            data["expectation_met"] = self.expectation_met
            data["checks"] = [c.to_dict() for c in self.checks]
        if verbose:
            data["transcript"] = [
                {"step": s.method, "step_index": i, **ex.to_dict()}
                for i, s in enumerate(self.steps) for ex in s.exchanges
            ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Read a report back (any `schema_version` up to ours); computed keys are ignored."""
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(f"report schema_version {version!r} is newer than this probe reads ({SCHEMA_VERSION})")
        steps = [Step.from_dict(s) for s in data.get("steps") or []]
        if data.get("transcript") and not any(s.exchanges for s in steps):
            for entry in data["transcript"]:  # a report written before steps carried their exchanges
                index = entry.get("step_index")
                if not isinstance(index, int):
                    index = next((i for i, s in enumerate(steps) if s.method == entry.get("step")), None)
                if isinstance(index, int) and 0 <= index < len(steps):
                    steps[index].exchanges.append(Exchange.from_dict(entry))
        expect = data.get("expect")
        expected = (expect,) if isinstance(expect, str) else tuple(expect or ())
        diagnoses = [Diagnosis.from_dict(d) for d in data.get("diagnoses") or []]
        if not diagnoses:  # reports from before the diagnose stage
            if data.get("iam"):
                diagnoses.append(Diagnosis("iam_check", str(data["iam"].get("verdict")), (), data["iam"]))
            if data.get("notes"):
                diagnoses.append(Diagnosis("note", "notes", tuple(data["notes"])))
        return cls(
            url=data["url"],
            protocol_version=data.get("protocol_version") or "",
            outcome=Outcome(data["outcome"]),
            steps=steps,
            tools=list(data.get("tools") or []),
            expect=tuple(Outcome(o) for o in expected),
            checks=[Check.from_dict(c) for c in data.get("checks") or []],
            diagnoses=diagnoses,
            duration_ms=float(data.get("duration_ms") or 0.0),
            started_at=float(data.get("started_at") or 0.0),
            name=data.get("name"),
            gateway=data.get("gateway"),
            tools_partial=bool(data.get("tools_partial")),
            interrupted=bool(data.get("interrupted")),
        )


def first_failure(steps: list[Step]) -> Outcome:
    """The run's outcome is that of the first step that was not ok."""
    for step in steps:
        if step.outcome is not Outcome.OK:
            return step.outcome
    return Outcome.OK
