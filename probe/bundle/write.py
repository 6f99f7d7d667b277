"""Write a support bundle: one directory (and, with `--zip`, `DIR.zip`) that holds the whole case.

Layout (every file is text; every file passes one last redaction before it is written):

- `bundle.json`      what this is (format, version, files, when)
- `report.json`      the full report with every exchange (`RunResult.to_dict(verbose=True)`; several
                     probes: the `probes[]` form), what `replay` re-judges
- `outcome.json`     per probe: the outcome, the classifier rule that decided it, the evidence, the hint
- `control_plane.json` per gateway: the gateway, its targets, its engine and policies (Cedar text)
- `iam.json`         per probe: the IAM check with the statements that decided each pair
- `telemetry.json`   per probe: the gateway's spans and policy metrics (see telemetry.py)
- `ids.json`         AWS request ids and trace ids, of the gateway's answers and of every control-plane read
- `timeline.json`    steps and exchanges with their start offsets and durations
- `environment.json` the probe's version, its dependencies', the platform, the commands
- `unavailable.json` what could not be read, and why (never fatal)
- `SUMMARY.md`       what failed, why, what to do (summary.py)

The run's records are already redacted by the engine; the last pass here is the second
net: it knows the secrets the probe was configured with (token environment variables and
files, the OAuth client secret, the AWS credentials, the URL's query and userinfo) and the
shapes of secrets nobody told it about.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from probe.outcome import RunResult
from probe.redact import Redactor
from probe.report.escape import dumps_safe
from probe.spec import Probe

FORMAT = "agentcore-probe-bundle"
FORMAT_VERSION = 1


class BundleError(Exception):
    """The bundle could not be written (a full disk, an unwritable directory): one line for the operator."""


def write_bundle(
    results: list[RunResult],
    probes: list[Probe],
    directory: str | os.PathLike[str],
    *,
    zip_: bool = False,
    telemetry_wait: float = 0.0,
    session: Any = None,
) -> Path:
    """Gather everything about these results and write the bundle; returns its directory (or the zip).

    AWS reads (control plane, IAM check, telemetry) are made only for probes that may make them
    (not `--no-iam`) and whose gateway id and region are known; whatever cannot be read is listed
    in `unavailable.json`. Raises BundleError, one line, when the files cannot be written.
    """
    if len(results) != len(probes):
        raise ValueError("write_bundle needs one probe per result")
    created = time.time()
    redactor = _redactor(probes, session)
    files = gather(results, probes, telemetry_wait=telemetry_wait, session=session, created=created)
    texts = {name: redactor.text(text) for name, text in files.items()}
    target = Path(directory)
    where = target
    try:
        target.mkdir(parents=True, exist_ok=True)
        if any(target.iterdir()) and not (target / "bundle.json").is_file():
            raise BundleError(f"{target} exists and holds other files: name a new or empty directory "
                              "(an earlier bundle is overwritten)")
        for name, text in texts.items():
            _write_new(target / name, text.encode("utf-8"))
        if zip_:
            archive = where = target.with_name(target.name + ".zip")
            if archive.is_symlink() or (archive.exists() and not archive.is_file()):
                raise BundleError(f"{archive} exists and is not a file")
            partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
                for name, text in texts.items():
                    z.writestr(f"{target.name}/{name}", text)
            os.replace(partial, archive)
            return archive
    except OSError as exc:
        raise BundleError(f"cannot write the bundle to {where}: {exc.strerror or type(exc).__name__}") from None
    return target


def _write_new(path: Path, data: bytes) -> None:
    """Write through a fresh file then rename it into place: a link planted at `path` is replaced, never
    followed, so nothing outside the bundle directory is written."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _redactor(probes: Sequence[Probe], session: Any) -> Redactor:
    """A Redactor that knows every secret these probes were configured with."""
    r = Redactor()
    need_aws = False
    for p in probes:
        r.add_url_secrets(p.target.url)
        a = p.target.auth
        for env in (a.bearer_token_env, a.oauth_client_secret_env):
            if env:
                r.add(os.environ.get(env))
        if a.bearer_token_file:
            with contextlib.suppress(OSError):
                r.add(Path(a.bearer_token_file).read_text(encoding="utf-8", errors="replace").strip())
        need_aws = need_aws or a.sigv4 or p.diagnose
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID"):
        value = os.environ.get(name)
        if value and len(value) >= 8:  # the placeholder `testing` of a test run is no secret worth hunting
            r.add(value)
    if need_aws:
        _add_session_credentials(r, session, probes)
    return r


def _add_session_credentials(r: Redactor, session: Any, probes: Sequence[Probe]) -> None:
    from probe.iam.gateway import aws_failures, make_session

    try:
        s = session or make_session(next((p.target.profile for p in probes if p.target.profile), None))
        creds = s.get_credentials()
        frozen = creds.get_frozen_credentials() if creds is not None else None
    except (*aws_failures(), OSError, ValueError):
        return
    if frozen is not None:
        for value in (frozen.access_key, frozen.secret_key, frozen.token):
            if value and len(value) >= 8:
                r.add(value)


def gather(
    results: Sequence[RunResult],
    probes: Sequence[Probe],
    *,
    telemetry_wait: float = 0.0,
    session: Any = None,
    created: float | None = None,
) -> dict[str, str]:
    """Every file of the bundle as text (not yet redacted by the last pass)."""
    from probe.bundle.summary import render_summary
    from probe.cli.run import command_for
    from probe.report.json import many_dict

    created = created or time.time()
    unavailable: list[dict[str, str]] = []
    entries: list[dict[str, Any]] = []
    control: dict[str, Any] = {}
    aws_ids: list[dict[str, str]] = []
    for index, (result, probe) in enumerate(zip(results, probes, strict=True)):
        label = result.name or (f"probe {index + 1}" if len(results) > 1 else "the probe")
        entry: dict[str, Any] = {"result": result, "command": command_for(probe), "label": label}
        gateway_id, region = _gateway_of(result, probe)
        entry["gateway_id"], entry["region"] = gateway_id, region
        if not probe.diagnose:
            unavailable.append({"what": f"{label}: control plane, IAM check, telemetry",
                                "why": "not read: the probe was run with --no-iam (no AWS calls)"})
        elif not (gateway_id and region):
            unavailable.append({"what": f"{label}: control plane, IAM check, telemetry",
                                "why": "the gateway id and region are not known (pass --gateway-id and --region)"})
        else:
            _read_aws(entry, control, aws_ids, unavailable, probe, session=session, telemetry_wait=telemetry_wait)
        if entry.get("iam") is None and result.iam is not None:
            entry["iam"] = result.iam
        entries.append(entry)

    environment = _environment(created, entries)
    report = results[0].to_dict(verbose=True) if len(results) == 1 else many_dict(list(results), verbose=True)
    docs: dict[str, Any] = {
        "report.json": report,
        "outcome.json": [_outcome(e) for e in entries],
        "control_plane.json": control,
        "iam.json": [{"probe": e["label"], "source": e.get("iam_source", "run" if e.get("iam") else None),
                      "check": e.get("iam")} for e in entries],
        "telemetry.json": [{"probe": e["label"], **(e.get("telemetry") or {"status": "not read"})} for e in entries],
        "ids.json": {"gateway": [i for e in entries for i in _ids(e)], "control_plane": aws_ids},
        "timeline.json": [_timeline(e) for e in entries],
        "environment.json": environment,
        "unavailable.json": unavailable,
    }
    for e in entries:
        e["spans"] = ((e.get("telemetry") or {}).get("spans") or {}).get("spans") or []
    files = {name: dumps_safe(doc, indent=2) + "\n" for name, doc in docs.items()}
    files["SUMMARY.md"] = render_summary(entries, environment, unavailable)
    files["bundle.json"] = dumps_safe({"format": FORMAT, "version": FORMAT_VERSION, "created_at": created,
                                       "probes": len(entries), "files": sorted([*files, "bundle.json"])},
                                      indent=2) + "\n"
    return files


def _gateway_of(result: RunResult, probe: Probe) -> tuple[str | None, str | None]:
    iam = result.iam or {}
    gateway_id = probe.target.gateway_id or iam.get("gateway_id")
    region = probe.target.region or probe.target.auth.region or iam.get("region")
    return gateway_id, region


def _read_aws(entry: dict[str, Any], control: dict[str, Any], aws_ids: list[dict[str, str]],
              unavailable: list[dict[str, str]], probe: Probe, *, session: Any, telemetry_wait: float) -> None:
    from probe.bundle.control import read_control_plane
    from probe.iam.gateway import aws_failures, describe_error, make_session

    result: RunResult = entry["result"]
    gateway_id, region, label = entry["gateway_id"], entry["region"], entry["label"]
    try:
        session = session or make_session(probe.target.profile)
    except aws_failures() as exc:
        unavailable.append({"what": f"{label}: AWS", "why": describe_error("session", exc)})
        return
    key = f"{gateway_id}@{region}"
    if key not in control:
        facts, missing, ids = read_control_plane(gateway_id=gateway_id, region=region, session=session)
        control[key] = facts
        unavailable.extend({"what": f"{label}: {u['what']}", "why": u["why"]} for u in missing)
        aws_ids.extend(ids)
    facts = control[key]
    engine = ((facts.get("gateway") or {}).get("policyEngineConfiguration") or {}).get("arn")
    if result.iam is None and (engine or "gateway" not in facts):
        from probe.iam.check import check_gateway

        check = check_gateway(gateway_id=gateway_id, region=region, session=session).to_dict()
        entry["iam"], entry["iam_source"] = check, "bundle"
    trace_ids = _trace_ids(result)
    if trace_ids:
        from probe.bundle.telemetry import collect

        start = result.started_at or time.time()
        window = (start, start + result.duration_ms / 1000.0)
        entry["telemetry"] = collect(session, region=region, gateway_id=gateway_id, trace_ids=trace_ids,
                                     window=window, wait_s=telemetry_wait)
        for part in ("spans", "metrics"):
            got = entry["telemetry"].get(part) or {}
            if got.get("status") not in ("found", None):
                unavailable.append({"what": f"{label}: telemetry {part}",
                                    "why": f"{got.get('status')}: {got.get('message') or ''}".rstrip(": ")})
    else:
        unavailable.append({"what": f"{label}: telemetry", "why": "the gateway's answers carried no trace id"})


def _trace_ids(result: RunResult) -> list[str]:
    """The failing step's trace ids first (that is the request to explain), else every one of the run."""
    step = result.failing_step
    steps = [step] if step is not None else result.steps
    ids = [ex.headers.get("x-amzn-trace-id") for s in steps for ex in s.exchanges]
    found = list(dict.fromkeys(i for i in ids if i))
    if not found and step is not None:
        found = [step.detail.trace_id] if step.detail.trace_id else []
    return found


def _outcome(e: dict[str, Any]) -> dict[str, Any]:
    r: RunResult = e["result"]
    step = r.failing_step
    out: dict[str, Any] = {"probe": e["label"], "outcome": r.outcome.value, "meaning": r.outcome.meaning,
                           "exit_code": r.exit_code, "expectation_met": r.expectation_met,
                           "checks": [c.to_dict() for c in r.checks]}
    if step is not None:
        out.update({"step": step.method, "rule": step.detail.rule, "hint": step.hint, "http_status": step.http_status,
                    "evidence": step.detail.to_dict(),
                    "response": (step.primary.body[:4000] if step.primary else None)})
    else:
        out.update({"step": None, "rule": None, "hint": None, "evidence": {}})
    out["diagnoses"] = [{"kind": d.kind, "summary": d.summary, "lines": list(d.lines)} for d in r.diagnoses]
    return out


def _ids(e: dict[str, Any]) -> list[dict[str, Any]]:
    r: RunResult = e["result"]
    return [{"probe": e["label"], "step": s.method, "rpc_method": ex.rpc_method, "attempt": ex.attempt,
             "status": ex.status, "request_id": ex.headers.get("x-amzn-requestid"),
             "trace_id": ex.headers.get("x-amzn-trace-id"), "started_at": ex.started_at}
            for s in r.steps for ex in s.exchanges]


def _timeline(e: dict[str, Any]) -> dict[str, Any]:
    r: RunResult = e["result"]
    t0 = r.started_at
    steps = []
    for s in r.steps:
        first = min((ex.started_at for ex in s.exchanges if ex.started_at), default=0.0)
        steps.append({
            "method": s.method, "outcome": s.outcome.value, "duration_ms": s.duration_ms, "wire_ms": s.wire_ms,
            "attempts": s.attempts, "http_status": s.http_status,
            "start_ms": round((first - t0) * 1000, 1) if first and t0 else None,
            "exchanges": [{"rpc_method": ex.rpc_method, "attempt": ex.attempt, "status": ex.status,
                           "error": ex.error, "duration_ms": ex.duration_ms,
                           "start_ms": round((ex.started_at - t0) * 1000, 1) if ex.started_at and t0 else None}
                          for ex in s.exchanges],
        })
    return {"probe": e["label"], "started_at": t0, "duration_ms": r.duration_ms, "interrupted": r.interrupted,
            "steps": steps}


def _environment(created: float, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from probe import __version__

    return {"probe_version": __version__, "created_at": created, "python": sys.version.split()[0],
            "platform": platform.platform(), "machine": platform.machine(),
            "dependencies": dependency_versions(),
            "commands": [["agentcore-probe", *e["command"]] for e in entries]}


def dependency_versions() -> dict[str, str | None]:
    """The installed versions of the probe's dependencies (None: not installed)."""
    import re
    from importlib import metadata

    try:
        requires = metadata.requires("agentcore-probe") or []
    except metadata.PackageNotFoundError:
        requires = []
    names = [m.group() for req in requires if "extra ==" not in req
             if (m := re.match(r"[A-Za-z0-9._-]+", req))]
    for extra in ("cedarpy", "moto", "botocore", "PyYAML"):
        if extra not in names:
            names.append(extra)
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
