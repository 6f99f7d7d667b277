"""The probe's bounded vocabulary and the result types every step returns.

Like blackbox_exporter's `probe_success` plus a reason label, an operator (or an alert
rule) keys on a small fixed set of outcomes; everything specific (the gateway's text,
the policy id, the request id) lives in `Detail`, apart from the outcome. Exit codes are
part of the public contract: scripts and schedulers branch on them, so they never change
meaning once released.
"""

from __future__ import annotations

import enum
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


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and its answer (or the lack of one), as recorded on the wire.

    Headers and bodies are already redacted when an Exchange is built: a record may be
    printed, saved and shared, so it must never hold a secret.
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
        return {
            "rpc_method": self.rpc_method,
            "rpc_id": self.rpc_id,
            "url": self.url,
            "http_method": self.http_method,
            "request_headers": dict(self.request_headers),
            "request_body": self.request_body,
            "status": self.status,
            "headers": dict(self.headers),
            "body": self.body,
            "body_bytes": self.body_bytes,
            "body_truncated": self.body_truncated,
            "duration_ms": round(self.duration_ms, 1),
            "attempt": self.attempt,
            "error": self.error,
            "error_message": self.error_message,
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(**data)


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

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Judgement:
    """What the classifier says of one answer: pure data, no I/O."""

    outcome: Outcome
    detail: Detail = field(default_factory=Detail)
    hint: str | None = None


@dataclass
class Step:
    """One protocol step (initialize, a tools/list page walk, a tools/call) and its verdict.

    A step owns every HTTP exchange it made, retries included, so the record explains
    the verdict on its own.
    """

    method: str
    outcome: Outcome
    exchanges: list[Exchange] = field(default_factory=list)
    detail: Detail = field(default_factory=Detail)
    hint: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # step-specific facts: tools, pages, call result

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
    def duration_ms(self) -> float:
        return sum(e.duration_ms for e in self.exchanges)


@dataclass
class RunResult:
    """Everything a run produced. Reporters render it; they never decide anything."""

    url: str
    protocol_version: str
    outcome: Outcome
    steps: list[Step] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    expect: Outcome | None = None
    iam: dict[str, Any] | None = None  # the IAM check, when the run performed one
    notes: list[str] = field(default_factory=list)  # context the operator should read (e.g. default deny)
    duration_ms: float = 0.0

    @property
    def failing_step(self) -> Step | None:
        return next((s for s in self.steps if s.outcome is not Outcome.OK), None)

    @property
    def exit_code(self) -> int:
        if self.outcome is Outcome.PROBE_ERROR:
            return EXIT_CODES[Outcome.PROBE_ERROR]  # a usage error is never an expectation met or missed
        if self.expect is not None:
            return EXIT_EXPECTATION_MET if self.outcome is self.expect else EXIT_EXPECTATION_MISSED
        return self.outcome.exit_code


def first_failure(steps: list[Step]) -> Outcome:
    """The run's outcome is that of the first step that was not ok."""
    for step in steps:
        if step.outcome is not Outcome.OK:
            return step.outcome
    return Outcome.OK
