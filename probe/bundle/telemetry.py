"""The gateway's own account of the failing request: its spans and its policy metrics.

The probe sees the answer; the gateway's telemetry shows what happened inside (a 403 on
`AgentCore.Policy.PartiallyAuthorizeActions` next to the probe's `policy_internal_failure`
is the whole incident in one line). Spans land in the CloudWatch Logs group `aws/spans`,
often a minute or more after the request, so the lookup polls until the spans are there
or the operator's `--telemetry-wait` is spent. Every way the lookup can fail (no access,
no log group, no spans yet, throttling) is a status in the result, never an exception:
a bundle is written whatever the telemetry says.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from probe.iam.gateway import aws_failures, describe_error, error_code

LOG_GROUP = "aws/spans"
SPAN_NAMES = ("AgentCore.Policy.PartiallyAuthorizeActions", "AgentCore.Policy.AuthorizeAction",
              "AgentCore.Gateway.ListTools", "AgentCore.Gateway.InvokeTool")
NAMESPACE = "AWS/Bedrock-AgentCore"
METRICS = ("AllowDecisions", "DenyDecisions", "NoDeterminingPolicies")
POLL_INTERVAL_S = 2.0
MAX_PAGES = 20
MAX_SPANS = 200
_ROOT = re.compile(r"(?i)(?:Root=)?1-([0-9a-f]{8})-([0-9a-f]{24})")
_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
           "InvalidClientTokenId", "ExpiredTokenException")
_THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException",
              "RequestLimitExceeded")


def otel_trace_id(xray: str | None) -> str | None:
    """The OpenTelemetry trace id (32 hex) of an `x-amzn-trace-id` value (`Root=1-<8 hex>-<24 hex>;...`)."""
    m = _ROOT.search(xray or "")
    return (m.group(1) + m.group(2)).lower() if m else None


def status_of(exc: BaseException) -> str:
    code = error_code(exc)
    if code in _DENIED or "AccessDenied" in code:
        return "access_denied"
    if code in _THROTTLED or "Throttl" in code:
        return "throttled"
    if code == "ResourceNotFoundException":
        return "no_log_group"
    return "error"


def find_spans(
    logs: Any,
    trace_ids: Sequence[str],
    window: tuple[float, float],
    *,
    wait_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Spans of these traces (x-amzn-trace-id values) in `aws/spans`, polling up to `wait_s` seconds.

    Returns {"status": found|not_found|no_log_group|access_denied|throttled|error, "spans": [...],
    "message": ...}. Throttling is retried while the wait lasts; refused access is final at once.
    """
    wanted = {t for t in (otel_trace_id(x) for x in trace_ids) if t}
    if not wanted:
        return {"status": "no_trace_id", "spans": [], "message": "the gateway's answers carried no x-amzn-trace-id"}
    pattern = " ".join(f'?"{t}"' for t in sorted(wanted))
    start_ms, end_ms = int((window[0] - 60) * 1000), int((window[1] + 300) * 1000)
    deadline = clock() + max(0.0, wait_s)
    failures = aws_failures()
    attempts = 0
    while True:
        attempts += 1
        try:
            spans = _read(logs, pattern, start_ms, end_ms, wanted)
        except failures as exc:
            status = status_of(exc)
            last = {"status": status, "spans": [], "attempts": attempts,
                    "message": describe_error(f"FilterLogEvents({LOG_GROUP})", exc)}
            if status != "throttled" or clock() >= deadline:
                return last
        else:
            if spans:
                return {"status": "found", "spans": spans, "attempts": attempts, "message": None}
            if clock() >= deadline:
                return {"status": "not_found", "spans": [], "attempts": attempts,
                        "message": f"no span of trace {', '.join(sorted(wanted))} in {LOG_GROUP} after "
                                   f"{wait_s:g} s of waiting (spans arrive late: try --telemetry-wait 300)"}
        sleep(min(POLL_INTERVAL_S, max(0.0, deadline - clock())))


def _read(logs: Any, pattern: str, start_ms: int, end_ms: int, wanted: set[str]) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"logGroupName": LOG_GROUP, "startTime": start_ms, "endTime": end_ms,
                                  "filterPattern": pattern}
        if token:
            params["nextToken"] = token
        page = logs.filter_log_events(**params)
        for event in page.get("events") or []:
            span = parse_span(str(event.get("message") or ""), wanted)
            if span is not None and len(spans) < MAX_SPANS:
                spans.append(span)
        token = page.get("nextToken")
        if not token:
            break
    spans.sort(key=lambda s: (s.get("start_ns") or 0))
    return spans


def parse_span(message: str, wanted: set[str]) -> dict[str, Any] | None:
    """One span record (OpenTelemetry JSON) of a wanted trace, reduced to what a reader needs."""
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    trace = str(doc.get("traceId") or "").replace("-", "").lower()
    trace = trace[1:] if len(trace) == 33 and trace.startswith("1") else trace
    if trace not in wanted:
        return None
    attrs = doc.get("attributes") if isinstance(doc.get("attributes"), dict) else {}
    status = doc.get("status") if isinstance(doc.get("status"), dict) else {}
    http = attrs.get("http.response.status_code", attrs.get("http.status_code"))
    start, end = _int(doc.get("startTimeUnixNano")), _int(doc.get("endTimeUnixNano"))
    duration = _int(doc.get("durationNano")) or (end - start if start and end else None)
    name = str(doc.get("name") or "")
    return {
        "name": name,
        "of_interest": name in SPAN_NAMES,
        "trace_id": trace,
        "span_id": doc.get("spanId"),
        "parent_span_id": doc.get("parentSpanId"),
        "http_status": _int(http),
        "status": status.get("code"),
        "status_message": status.get("message"),
        "start_ns": start,
        "duration_ms": round(duration / 1e6, 1) if duration else None,
        "attributes": {str(k)[:200]: (v if isinstance(v, (int, float, bool)) or v is None else str(v)[:500])
                       for k, v in list(attrs.items())[:60]},
    }


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def policy_metrics(cloudwatch: Any, gateway_id: str, window: tuple[float, float]) -> dict[str, Any]:
    """Sums of the policy decision metrics of this gateway over the window (GetMetricData, SEARCH).

    A SEARCH by the gateway id finds the series whatever their dimension names are.
    """
    from datetime import UTC, datetime

    start = datetime.fromtimestamp(window[0] - 300, tz=UTC)
    end = datetime.fromtimestamp(window[1] + 300, tz=UTC)
    queries = [{"Id": f"m{i}", "ReturnData": True,
                "Expression": f"SEARCH('{{{NAMESPACE}}} MetricName=\"{name}\" \"{gateway_id}\"', 'Sum', 60)"}
               for i, name in enumerate(METRICS)]
    try:
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    except aws_failures() as exc:
        return {"status": status_of(exc) if status_of(exc) != "no_log_group" else "error", "metrics": {},
                "message": describe_error("GetMetricData", exc)}
    sums: dict[str, float] = {}
    for series in answer.get("MetricDataResults") or []:
        index = int(str(series.get("Id", "m-1"))[1:] or -1)
        name = METRICS[index] if 0 <= index < len(METRICS) else str(series.get("Label"))
        values = [float(v) for v in series.get("Values") or []]
        if values:
            sums[name] = sums.get(name, 0.0) + sum(values)
    return {"status": "found" if sums else "not_found", "metrics": sums,
            "message": None if sums else f"no {'/'.join(METRICS)} data for {gateway_id} in the window"}


def collect(
    session: Any,
    *,
    region: str,
    gateway_id: str | None,
    trace_ids: Sequence[str],
    window: tuple[float, float],
    wait_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Spans and metrics for a bundle; each part carries its own status."""
    from probe.iam.gateway import client

    out: dict[str, Any] = {"log_group": LOG_GROUP, "namespace": NAMESPACE, "wait_s": wait_s,
                           "window": list(window), "trace_ids": list(trace_ids)}
    failures = aws_failures()
    try:
        logs = client(session, "logs", region)
        out["spans"] = find_spans(logs, trace_ids, window, wait_s=wait_s, sleep=sleep)
    except failures as exc:
        out["spans"] = {"status": "error", "spans": [], "message": describe_error("logs", exc)}
    if gateway_id:
        try:
            out["metrics"] = policy_metrics(client(session, "cloudwatch", region), gateway_id, window)
        except failures as exc:
            out["metrics"] = {"status": "error", "metrics": {}, "message": describe_error("cloudwatch", exc)}
    else:
        out["metrics"] = {"status": "unavailable", "metrics": {}, "message": "the gateway id is not known"}
    return out
