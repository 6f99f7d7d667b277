"""One self-contained HTML page of a support bundle: readable offline, printable, safe to open.

Everything shown comes from a gateway that may be hostile (messages, headers, bodies, tool
names), so every value passes `html.escape` and none is ever placed in a URL, a script or
a style. No network: the styles are inline, there is no script at all; exchanges expand
with `<details>`, which works without script and prints.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from probe.outcome import RunResult

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;color:#1d2127;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5d9de;padding-bottom:4px}
.verdict{padding:14px 16px;border-radius:6px;border:1px solid #d5d9de;background:#f6f8fa;margin:12px 0}
.verdict.fail{border-color:#e5534b;background:#fff1f0}.verdict.ok{border-color:#3fb950;background:#effbf1}
.outcome{font-size:20px;font-weight:700;font-family:ui-monospace,Menlo,Consolas,monospace}
.hint{margin-top:8px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #d5d9de;padding:4px 8px;text-align:left;
vertical-align:top;font-size:13px}th{background:#f0f2f4}
td code,li code{word-break:break-all}
tr.missing td{background:#ffe3e0;font-weight:600}
.bar{background:#6e9bd1;height:10px;border-radius:2px;min-width:2px}
.bar.fail{background:#e5534b}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;border:1px solid #e1e4e8;padding:8px;border-radius:4px;
font-size:12px;max-height:none}
details{margin:4px 0;border:1px solid #e1e4e8;border-radius:4px;padding:4px 8px}
summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.muted{color:#59636e}
@media print{details{break-inside:avoid}details>*{display:block}body{margin:0;max-width:none}}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _pre(value: Any) -> str:
    return f"<pre>{_e(value)}</pre>"


def _json(value: Any) -> str:
    return _pre(json.dumps(value, indent=2, ensure_ascii=False))


def render_html(bundle: dict[str, Any]) -> str:
    """The page for a loaded bundle (`probe.bundle.read.load_bundle`)."""
    report = bundle.get("report.json") or {}
    raw = [p.get("result") or {} for p in report["probes"]] if isinstance(report.get("probes"), list) else [report]
    results = [RunResult.from_dict(r) for r in raw if isinstance(r, dict) and "outcome" in r]
    outcomes = bundle.get("outcome.json") or []
    iams = bundle.get("iam.json") or []
    telemetry = bundle.get("telemetry.json") or []
    env = bundle.get("environment.json") or {}
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
             "<title>agentcore-probe support bundle</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>agentcore-probe support bundle</h1>",
             f'<p class="muted">agentcore-probe {_e(env.get("probe_version"))} · {_e(env.get("platform"))} · '
             f'Python {_e(env.get("python"))}</p>']
    for i, result in enumerate(results):
        parts += _probe(result, _at(outcomes, i), _at(iams, i), _at(telemetry, i))
    parts += _control(bundle.get("control_plane.json") or {})
    parts += _unavailable(bundle.get("unavailable.json") or [])
    parts += ["<h2>Environment</h2>", _json(env), "</body></html>"]
    return "\n".join(parts) + "\n"


def _at(items: Any, i: int) -> dict[str, Any]:
    return items[i] if isinstance(items, list) and i < len(items) and isinstance(items[i], dict) else {}


def _probe(r: RunResult, outcome: dict[str, Any], iam_entry: dict[str, Any], telemetry: dict[str, Any]) -> list[str]:
    step = r.failing_step
    ok = r.exit_code == 0
    out = ['<section class="probe">']
    if r.name:
        out.append(f"<h2>Probe {_e(r.name)}</h2>")
    out.append(f'<div class="verdict {"ok" if ok else "fail"}" id="verdict">')
    out.append(f'<div class="outcome" id="outcome">{_e(r.outcome.value)} (exit {r.exit_code})</div>')
    out.append(f"<div>{_e(r.outcome.meaning)}</div>")
    if step is not None:
        out.append(f"<div>Step <code>{_e(step.method)}</code>, HTTP {_e(step.http_status)}, rule "
                   f"<code>{_e(step.detail.rule)}</code>: {_e(step.detail.message)}</div>")
        ids = [f"request id <code>{_e(step.detail.request_id)}</code>" if step.detail.request_id else "",
               f"trace id <code>{_e(step.detail.trace_id)}</code>" if step.detail.trace_id else ""]
        if any(ids):
            out.append(f"<div class=\"muted\">{' · '.join(i for i in ids if i)}</div>")
        if step.hint:
            out.append(f'<div class="hint" id="hint"><strong>What to do:</strong> {_e(step.hint)}</div>')
    for note in r.notes:
        out.append(f"<div class=\"muted\">{_e(note)}</div>")
    out.append("</div>")
    out.append(f"<p class=\"muted\">URL <code>{_e(r.url)}</code> · protocol {_e(r.protocol_version)} · "
               f"{r.duration_ms:.0f} ms</p>")
    out += _timeline(r)
    out += _iam(iam_entry.get("check") or r.iam)
    out += _spans(telemetry)
    if outcome.get("evidence"):
        out += ["<h2>Evidence</h2>", _json(outcome.get("evidence"))]
    out.append("</section>")
    return out


def _timeline(r: RunResult) -> list[str]:
    total = max((s.duration_ms for s in r.steps), default=0.0) or 1.0
    out = ["<h2>Timeline</h2>", "<table><tr><th>step</th><th>outcome</th><th>HTTP</th><th>attempts</th>"
           "<th>duration</th><th></th></tr>"]
    for s in r.steps:
        width = max(1.0, 100.0 * s.duration_ms / total)
        cls = "bar" if s.outcome.value == "ok" else "bar fail"
        out.append(f"<tr><td><code>{_e(s.method)}</code></td><td>{_e(s.outcome.value)}</td><td>{_e(s.http_status)}"
                   f"</td><td>{s.attempts}</td><td>{s.duration_ms:.1f} ms</td>"
                   f'<td style="width:40%"><div class="{cls}" style="width:{width:.1f}%"></div></td></tr>')
    out.append("</table>")
    out.append("<h2>Exchanges</h2>")
    for s in r.steps:
        for ex in s.exchanges:
            label = f"{s.method} · {ex.http_method} {ex.rpc_method or ''} · attempt {ex.attempt} · " + (
                f"HTTP {ex.status}" if ex.status is not None else f"no answer ({ex.error})") + f" · {ex.duration_ms} ms"
            out.append(f"<details><summary>{_e(label)}</summary>")
            out.append(f"<div><strong>{_e(ex.http_method)}</strong> <code>{_e(ex.url)}</code></div>")
            out.append("<div>Request headers</div>" + _json(ex.request_headers))
            out.append("<div>Request body</div>" + _pre(ex.request_body))
            out.append("<div>Response headers</div>" + _json(ex.headers))
            more = " (truncated)" if ex.body_truncated else ""
            out.append(f"<div>Response body, {ex.body_bytes} bytes{_e(more)}</div>" + _pre(ex.body))
            if ex.error_message:
                out.append(f"<div>Error: {_e(ex.error)}: {_e(ex.error_message)}</div>")
            out.append("</details>")
    return out


def _iam(iam: dict[str, Any] | None) -> list[str]:
    if not iam:
        return []
    out = ["<h2>IAM check</h2>",
           f"<p>Role <code>{_e(iam.get('role_arn'))}</code>: <strong>{_e(iam.get('verdict'))}</strong> "
           f"(by {_e(iam.get('method'))})</p>",
           '<table id="iam"><tr><th>action</th><th>resource</th><th>decision</th><th>statements</th></tr>']
    missing = {(m.get("action"), m.get("resource")) for m in iam.get("missing") or []}
    for d in iam.get("decisions") or []:
        is_missing = (d.get("action"), d.get("resource")) in missing
        statements = ", ".join(json.dumps(s, ensure_ascii=False) if not isinstance(s, str) else s
                               for s in d.get("statements") or [])
        out.append(f'<tr class="{"missing" if is_missing else ""}"><td><code>{_e(d.get("action"))}</code></td>'
                   f"<td><code>{_e(d.get('resource'))}</code></td><td>{_e(d.get('decision'))}"
                   f"{' (missing)' if is_missing else ''}</td><td>{_e(statements)}</td></tr>")
    out.append("</table>")
    if iam.get("remediation_command"):
        out.append("<p>Fix:</p>" + _pre(f"agentcore-probe iam fix --gateway-id {iam.get('gateway_id')} "
                                        f"--region {iam.get('region')} --apply\n{iam['remediation_command']}"))
    if iam.get("remediation_policy"):
        out.append("<details><summary>the policy</summary>" + _json(iam["remediation_policy"]) + "</details>")
    for err in iam.get("errors") or []:
        out.append(f"<div class=\"muted\">{_e(err)}</div>")
    return out


def _spans(t: dict[str, Any]) -> list[str]:
    if not t:
        return []
    spans = t.get("spans") or {}
    metrics = t.get("metrics") or {}
    out = ["<h2>Gateway telemetry</h2>",
           f"<p>Spans ({_e(t.get('log_group'))}): <strong>{_e(spans.get('status'))}</strong> "
           f"{_e(spans.get('message') or '')}</p>"]
    if spans.get("spans"):
        out.append("<table><tr><th>span</th><th>HTTP</th><th>status</th><th>duration</th></tr>")
        for s in spans["spans"]:
            out.append(f"<tr class=\"{'missing' if (s.get('http_status') or 0) >= 400 else ''}\">"
                       f"<td><code>{_e(s.get('name'))}</code></td><td>{_e(s.get('http_status'))}</td>"
                       f"<td>{_e(s.get('status'))}</td><td>{_e(s.get('duration_ms'))} ms</td></tr>")
        out.append("</table>")
    out.append(f"<p>Policy metrics ({_e(t.get('namespace'))}): <strong>{_e(metrics.get('status'))}</strong> "
               f"{_e(metrics.get('message') or '')}</p>")
    if metrics.get("metrics"):
        out.append(_json(metrics["metrics"]))
    return out


def _control(control: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, facts in control.items():
        if not isinstance(facts, dict):
            continue
        out.append(f"<h2>Control plane: {_e(key)}</h2>")
        gw = facts.get("gateway") or {}
        if gw:
            rows = [("status", gw.get("status")), ("role", gw.get("roleArn")),
                    ("authorizer", gw.get("authorizerType")),
                    ("policy engine", (gw.get("policyEngineConfiguration") or {}).get("arn")),
                    ("mode", (gw.get("policyEngineConfiguration") or {}).get("mode")),
                    ("exceptionLevel", gw.get("exceptionLevel"))]
            out.append("<table>" + "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in rows)
                       + "</table>")
            out.append("<details><summary>the gateway</summary>" + _json(gw) + "</details>")
        for t in facts.get("targets") or []:
            out.append(f"<details><summary>target {_e(t.get('name') or t.get('targetId'))}</summary>{_json(t)}"
                       "</details>")
        engine = facts.get("policy_engine") or {}
        if engine:
            e = engine.get("engine") or {}
            out.append(f"<p>Engine <code>{_e(engine.get('arn'))}</code>: {_e(e.get('status'))}</p>")
            for p in engine.get("policies") or []:
                cedar = ((p.get("definition") or {}).get("cedar") or {}).get("statement")
                out.append(f"<details><summary>policy {_e(p.get('name') or p.get('policyId'))} · "
                           f"{_e(p.get('status'))}</summary>{_pre(cedar or json.dumps(p, indent=2))}</details>")
    return out


def _unavailable(items: list[Any]) -> list[str]:
    if not items:
        return []
    out = ["<h2>Not captured</h2>", "<ul>"]
    out += [f"<li>{_e(u.get('what'))}: <code>{_e(u.get('why'))}</code></li>" for u in items if isinstance(u, dict)]
    out.append("</ul>")
    return out
