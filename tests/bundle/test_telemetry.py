"""The gateway's spans and policy metrics, looked up with botocore's Stubber (fake credentials)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from probe.bundle.telemetry import find_spans, otel_trace_id, policy_metrics

TRACE = "Root=1-6b12e1a0-0197bab12de16b52199c1436;Parent=53995c3f42cd8ad8;Sampled=1"
OTEL = "6b12e1a00197bab12de16b52199c1436"
WINDOW = (1_700_000_000.0, 1_700_000_001.0)


def span(name: str, status: int, trace: str = OTEL) -> dict:
    return {"timestamp": 1_700_000_000_500, "ingestionTime": 1_700_000_060_000, "message": json.dumps({
        "traceId": trace, "spanId": "a1", "name": name, "startTimeUnixNano": 1_700_000_000_400_000_000,
        "endTimeUnixNano": 1_700_000_000_430_000_000, "attributes": {"http.response.status_code": status},
        "status": {"code": "ERROR" if status >= 400 else "OK"}})}


def logs_client():
    return boto3.Session(aws_access_key_id="AKIAFAKEFAKEFAKE", aws_secret_access_key="fake",
                         region_name="us-east-1").client("logs")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def expected_params() -> dict:
    return {"logGroupName": "aws/spans", "startTime": ANY, "endTime": ANY, "filterPattern": f'?"{OTEL}"'}


def test_otel_trace_id_from_the_header() -> None:
    assert otel_trace_id(TRACE) == OTEL
    assert otel_trace_id("garbage") is None


def test_spans_found_after_polling_with_their_http_status() -> None:
    logs, clock = logs_client(), Clock()
    with Stubber(logs) as stub:
        stub.add_response("filter_log_events", {"events": []}, expected_params())
        stub.add_response("filter_log_events", {"events": [
            span("AgentCore.Gateway.ListTools", 200),
            span("AgentCore.Policy.PartiallyAuthorizeActions", 403),
            span("Other.Trace", 200, trace="ffffffffffffffffffffffffffffffff"),  # another trace: ignored
        ]}, expected_params())
        got = find_spans(logs, [TRACE], WINDOW, wait_s=10, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()
    assert got["status"] == "found" and got["attempts"] == 2
    by_name = {s["name"]: s for s in got["spans"]}
    assert set(by_name) == {"AgentCore.Gateway.ListTools", "AgentCore.Policy.PartiallyAuthorizeActions"}
    assert by_name["AgentCore.Policy.PartiallyAuthorizeActions"]["http_status"] == 403
    assert by_name["AgentCore.Policy.PartiallyAuthorizeActions"]["of_interest"] is True
    assert by_name["AgentCore.Gateway.ListTools"]["duration_ms"] == 30.0
    assert clock.sleeps == [2.0]


def test_no_spans_within_the_wait_is_reported() -> None:
    logs, clock = logs_client(), Clock()
    with Stubber(logs) as stub:
        for _ in range(4):
            stub.add_response("filter_log_events", {"events": []}, expected_params())
        got = find_spans(logs, [TRACE], WINDOW, wait_s=5, sleep=clock.sleep, clock=clock)
    assert got["status"] == "not_found" and got["spans"] == []
    assert "after 5 s of waiting" in got["message"] and OTEL in got["message"]
    assert sum(clock.sleeps) == pytest.approx(5.0)


def test_access_denied_is_final_at_once() -> None:
    logs, clock = logs_client(), Clock()
    with Stubber(logs) as stub:
        stub.add_client_error("filter_log_events", service_error_code="AccessDeniedException",
                              service_message="User is not authorized to perform: logs:FilterLogEvents",
                              http_status_code=400)
        got = find_spans(logs, [TRACE], WINDOW, wait_s=60, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()
    assert got["status"] == "access_denied"
    assert got["message"].startswith("FilterLogEvents(aws/spans): AccessDeniedException")
    assert clock.sleeps == []


def test_throttling_is_retried_while_the_wait_lasts_then_reported() -> None:
    logs, clock = logs_client(), Clock()
    with Stubber(logs) as stub:
        for _ in range(3):
            stub.add_client_error("filter_log_events", service_error_code="ThrottlingException",
                                  service_message="Rate exceeded", http_status_code=400)
        got = find_spans(logs, [TRACE], WINDOW, wait_s=4, sleep=clock.sleep, clock=clock)
    assert got["status"] == "throttled" and got["attempts"] == 3
    assert "ThrottlingException: Rate exceeded" in got["message"]


def test_no_trace_id_means_no_lookup() -> None:
    logs = logs_client()
    with Stubber(logs):  # any call would fail: none is queued
        got = find_spans(logs, [], WINDOW)
    assert got["status"] == "no_trace_id"


def test_policy_metrics_for_the_window() -> None:
    cw = boto3.Session(aws_access_key_id="AKIAFAKEFAKEFAKE", aws_secret_access_key="fake",
                       region_name="us-east-1").client("cloudwatch")
    with Stubber(cw) as stub:
        stub.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "m0", "Label": "AllowDecisions", "Values": [], "StatusCode": "Complete"},
            {"Id": "m1", "Label": "DenyDecisions", "Values": [2.0, 1.0], "StatusCode": "Complete"},
            {"Id": "m2", "Label": "NoDeterminingPolicies", "Values": [3.0], "StatusCode": "Complete"},
        ]}, {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY})
        got = policy_metrics(cw, "gw-1", WINDOW)
    assert got == {"status": "found", "metrics": {"DenyDecisions": 3.0, "NoDeterminingPolicies": 3.0},
                   "message": None}
    with Stubber(cw) as stub:
        stub.add_client_error("get_metric_data", service_error_code="AccessDenied", http_status_code=403)
        got = policy_metrics(cw, "gw-1", WINDOW)
    assert got["status"] == "access_denied" and got["message"].startswith("GetMetricData: AccessDenied")
