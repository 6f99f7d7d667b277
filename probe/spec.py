"""What to probe, declared once: `Target` (where and how to authenticate) and `Probe` (what to do and expect).

Every front end (the command line, a scenario file, the pytest plugin, the watch loop, the
`/probe` endpoint, the Lambda handler, the demo, Python code) builds these objects and
hands them to `probe.engine.run_probe`: like blackbox_exporter's module config, the spec is
data, apart from the code that probes. Auth is held as *references* (the name of an
environment variable, a file path, a profile), never as a value, so a spec can be printed,
logged and saved in a report without leaking anything.

Validation happens when the object is built, and every problem is a `SpecError` whose
message names the field in the caller's own words (`--timeout` on the command line,
`timeout` in a scenario file): one error type, one line, exit 2.

Standard library only: the command line imports this before deciding what else it needs.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe.outcome import Outcome

HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
STATELESS_VERSIONS = ("2026-07-28",)
SUPPORTED_VERSIONS = HANDSHAKE_VERSIONS + STATELESS_VERSIONS
DEFAULT_VERSION = "2025-11-25"

REGION_PATTERN = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
_GATEWAY_HOST = re.compile(
    r"^(?P<id>[a-z0-9][a-z0-9-]*)\.gateway\.bedrock-agentcore\."
    r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2})\.amazonaws\.com(?:\.cn)?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")

MAX_ARGS_FILE = 1024 * 1024
MAX_RUN_TIME_DEFAULT = 120.0  # a smoke test that takes two minutes has already failed


class SpecError(ValueError):
    """A spec cannot work. The message is one line that names the field and what is expected."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- the one parser of gateway URLs and regions ---------------------------------------------


def parse_gateway_url(url: str | None) -> tuple[str, str] | None:
    """(gateway id, region) from `https://ID.gateway.bedrock-agentcore.REGION.amazonaws.com/...`.

    The one place that reads AgentCore's host naming; any other URL (a custom domain, the
    lab on 127.0.0.1) gives None and the caller must be told the id and region.
    """
    try:
        parts = urlsplit((url or "").strip())
        host = (parts.hostname or "").lower()
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("https", "http"):
        return None  # plain http only reaches a gateway through --connect-to (the lab, a tunnel)
    m = _GATEWAY_HOST.match(host)
    return (m["id"], m["region"]) if m else None


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what `--connect-to` applies to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", None)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def connected_host(url: str, target_url: str, connect_to: str | None) -> str:
    """The host a request to `url` really goes to: `--connect-to` reroutes the target's own origin only."""
    if connect_to and origin(url) == origin(target_url):
        return connect_to.rpartition(":")[0].strip("[]").lower()
    return origin(url)[1]


def check_region(region: str, name: str = "--region") -> str:
    if not REGION_PATTERN.match(region):
        raise SpecError(f"{name} {region!r} is not an AWS region name (like us-east-1)", field=name)
    return region


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`. Not `*.localhost`: RFC 6761 asks resolvers to send it to
    loopback, but a resolver that does not (this machine's, for one) sends it to DNS."""
    host = host.lower().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, name: str = "url") -> str:
    """An http(s) URL with a host; userinfo is refused (credentials have their own options)."""
    if not isinstance(url, str) or not url:
        raise SpecError(f"{name} is missing", field=name)
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise SpecError(f"{name} contains spaces or control characters", field=name)
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise SpecError(f"{name} is not a valid URL: {display_url(url)!r}", field=name) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SpecError(f"{name} is not an http(s) URL: {display_url(url)!r}", field=name)
    if parts.username or parts.password:
        raise SpecError(f"{name} carries credentials: pass them with an auth option instead", field=name)
    host = parts.hostname or ""
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise SpecError(f"{name} is not a valid URL: {display_url(url)!r} (bad IPv4 address)", field=name) from None
    return url


def display_url(url: str) -> str:
    """The URL as it may be printed: no userinfo, no query values (API keys ride there)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = "&".join(f"{p.partition('=')[0]}=[REDACTED]" for p in parts.query.split("&") if p)
        out = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
        return out if parts.scheme else url.split("?", 1)[0].rpartition("@")[2]
    except ValueError:
        return url.split("?", 1)[0].rpartition("@")[2]


def _number(value: Any, name: str, *, minimum: float, strict: bool, integer: bool = False,
            maximum: float | None = None) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{name} must be a number, got {type(value).__name__}", field=name)
    try:
        float(value)
    except OverflowError:
        raise SpecError(f"{name} is far too large", field=name) from None
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        raise SpecError(f"{name} must be a whole number", field=name)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum) or (
            maximum is not None and value > maximum):
        bound = f"greater than {minimum:g}" if strict else f"at least {minimum:g}"
        if maximum is not None:
            bound = f"between {minimum:g} and {maximum:g}"
        raise SpecError(f"{name} must be a {'whole' if integer else 'finite'} number {bound}", field=name)
    return int(value) if integer else float(value)


def _kind(value: Any, kinds: type | tuple[type, ...], name: str, what: str) -> None:
    """Python callers get the same one-line error as a scenario file: the field, and what it should be."""
    if not isinstance(value, kinds):
        raise SpecError(f"{name} must be {what}, got {type(value).__name__}", field=name)


def _optional_strings(obj: Any, names: tuple[str, ...], prefix: str = "") -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            _kind(value, str, prefix + name, "a string")


def json_safe(value: Any, name: str) -> None:
    """Call arguments must be JSON as MCP sends it: no NaN or infinity (`1e999`), no Python-only objects."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{name} cannot be sent as JSON ({exc})", field=name) from None
    except RecursionError:
        raise SpecError(f"{name} is nested too deeply", field=name) from None


# -- auth, by reference ---------------------------------------------------------------------

@dataclass(frozen=True)
class AuthConfig:
    """How to authenticate, as references: variable names, file paths, a profile. Never a secret.

    Field names follow the command-line options (`bearer_token_env` is `--bearer-token-env`);
    a scenario file uses the same words. Whether the choice can work (one mode, the
    variables set, https for credentials) is settled by `probe.auth.build_auth`, which
    reads the secrets.
    """

    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret_env: str | None = None
    oauth_scope: str | None = None
    oauth_resource: str | None = None  # RFC 8707 resource indicator for the token request
    oauth_discover: bool = False  # find the token endpoint from the gateway (RFC 9728, RFC 8414)
    sigv4: bool = False
    region: str | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        _optional_strings(self, ("bearer_token_env", "bearer_token_file", "oauth_token_url", "oauth_client_id",
                                 "oauth_client_secret_env", "oauth_scope", "oauth_resource", "region", "profile"),
                          "auth.")
        for name in ("oauth_discover", "sigv4"):
            _kind(getattr(self, name), bool, f"auth.{name}", "true or false")
        if self.oauth_resource is not None:
            check_url(self.oauth_resource, "--oauth-resource")

    @property
    def mode(self) -> str:
        if self.bearer_token_env or self.bearer_token_file:
            return "bearer"
        if self.oauth_token_url or self.oauth_client_id or self.oauth_client_secret_env or self.oauth_discover:
            return "oauth"
        return "sigv4" if self.sigv4 else "none"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthConfig:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


# -- target and probe -----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A gateway endpoint: its URL, which gateway and region it is (for the AWS side), how to authenticate.

    The gateway id and region are read from an AgentCore URL once, here; given values win
    (a custom domain, the lab). `connect_to` sends the URL's requests to another address,
    like curl's `--connect-to`: the Host header and TLS name stay the URL's.
    """

    url: str
    gateway_id: str | None = None
    region: str | None = None
    auth: AuthConfig = field(default_factory=AuthConfig)
    profile: str | None = None  # AWS profile for the control plane and IAM reads
    connect_to: str | None = None  # "HOST:PORT"
    name: str | None = None  # the gateway's name in a scenario file

    def __post_init__(self) -> None:
        _kind(self.url, str, "url", "a string")
        check_url(self.url)
        _optional_strings(self, ("gateway_id", "region", "profile", "connect_to", "name"))
        _kind(self.auth, AuthConfig, "auth", "an AuthConfig (references to where the secrets are)")
        parsed = parse_gateway_url(self.url)
        if parsed:
            object.__setattr__(self, "gateway_id", self.gateway_id or parsed[0])
            object.__setattr__(self, "region", self.region or parsed[1])
        if self.gateway_id is not None and (not self.gateway_id.strip() or any(c.isspace() for c in self.gateway_id)):
            raise SpecError(f"gateway id {self.gateway_id!r} is not a gateway id", field="gateway_id")
        if self.region is not None:
            check_region(self.region, "region")
        if self.connect_to is not None:
            m = _HOST_PORT.match(self.connect_to) if isinstance(self.connect_to, str) else None
            if not m or not 0 < int(m["port"]) < 65536:
                raise SpecError(f"connect_to {self.connect_to!r} must be HOST:PORT (a port from 1 to 65535)",
                                field="connect_to")

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": display_url(self.url)}
        for key in ("gateway_id", "region", "profile", "connect_to", "name"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        out["auth"] = self.auth.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        return cls(url=data["url"], gateway_id=data.get("gateway_id"), region=data.get("region"),
                   auth=AuthConfig.from_dict(data.get("auth") or {}), profile=data.get("profile"),
                   connect_to=data.get("connect_to"), name=data.get("name"))


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tool, str) or not self.tool.strip():
            raise SpecError("the tool to call needs a name (Target___tool)", field="call.tool")
        if not isinstance(self.arguments, Mapping):
            raise SpecError(f"call arguments must be an object, got {type(self.arguments).__name__}",
                            field="call.args")
        json_safe(dict(self.arguments), "call.args")

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": dict(self.arguments)}


@dataclass(frozen=True)
class Expect:
    """What the probe's result must show to pass. Judged by `probe.expect`, after the run.

    `outcomes` empty means no assertion: the exit code is the outcome's own.
    """

    outcomes: tuple[Outcome, ...] = ()
    tools_include: tuple[str, ...] = ()
    tools_exclude: tuple[str, ...] = ()
    tools_exact: tuple[str, ...] | None = None
    result_contains: str | None = None
    latency_degraded_ms: float | None = None  # warn above this
    latency_fail_ms: float | None = None  # fail above this
    policy_engine_mode: str | None = None  # "ENFORCE", "LOG_ONLY" or "NONE" (no engine attached)

    def __post_init__(self) -> None:
        outcomes = self.outcomes
        if not (isinstance(outcomes, tuple) and all(isinstance(o, Outcome) for o in outcomes)):
            # Names are accepted as a convenience ("ok", ["ok", "empty_tools"]); anything else is refused.
            object.__setattr__(self, "outcomes", parse_outcomes(list(outcomes) if isinstance(outcomes, tuple)
                                                                else outcomes, "expect") if outcomes else ())
        if Outcome.PROBE_ERROR in self.outcomes:
            raise SpecError("probe_error cannot be expected: it is the probe's own usage error (exit 2)",
                            field="expect")
        for name in ("tools_include", "tools_exclude", "tools_exact"):
            value = getattr(self, name)
            if value is None and name == "tools_exact":
                continue
            if isinstance(value, str) or not isinstance(value, list | tuple) or not all(
                    isinstance(t, str) for t in value):
                raise SpecError(f"expect.{name} must be a list of tool names", field=f"expect.{name}")
            object.__setattr__(self, name, tuple(value))
        for name in ("latency_degraded_ms", "latency_fail_ms"):
            if getattr(self, name) is not None:
                _number(getattr(self, name), f"expect.{name}", minimum=0, strict=True)
        if self.result_contains is not None:
            _kind(self.result_contains, str, "expect.result_contains", "a string")
        if self.policy_engine_mode is not None and self.policy_engine_mode not in ("ENFORCE", "LOG_ONLY", "NONE"):
            raise SpecError("expect.policy_engine_mode must be ENFORCE, LOG_ONLY or NONE",
                            field="expect.policy_engine_mode")

    @property
    def empty(self) -> bool:
        return self == Expect()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value in (None, ()):
                continue
            out[f.name] = [o.value if isinstance(o, Outcome) else o for o in value] if isinstance(value, tuple) \
                else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Expect:
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name == "outcomes":
                value = tuple(Outcome(v) for v in value)
            elif isinstance(value, list):
                value = tuple(value)
            kw[f.name] = value
        return cls(**kw)


@dataclass(frozen=True)
class Probe:
    """One probe: a target, what to do there (list, and optionally call a tool), what to expect, and limits."""

    target: Target
    call: Call | None = None
    expect: Expect = field(default_factory=Expect)
    timeout: float = 10.0  # seconds, one whole request (connect, headers, body)
    retries: int = 2  # extra attempts for transient outcomes
    max_retry_time: float = 30.0  # the retry budget of one request
    max_pages: int = 100  # tools/list pages
    max_run_time: float = MAX_RUN_TIME_DEFAULT  # the whole run
    protocol_version: str | None = None  # None: the default, negotiated
    idempotent: bool = False  # the tool is safe to repeat
    diagnose: bool = True  # ask AWS why (IAM check, engine state) when the outcome calls for it
    name: str | None = None
    secret_env: tuple[str, ...] = ()  # environment variables whose values are secrets of the run (redacted)

    def __post_init__(self) -> None:
        _kind(self.target, Target, "target", "a Target")
        if self.call is not None:
            _kind(self.call, Call, "call", "a Call (tool and arguments)")
        _kind(self.expect, Expect, "expect", "an Expect")
        for name in ("idempotent", "diagnose"):
            _kind(getattr(self, name), bool, name, "true or false")
        if self.name is not None:
            _kind(self.name, str, "name", "a string")
        if not isinstance(self.secret_env, tuple) or not all(isinstance(v, str) for v in self.secret_env):
            raise SpecError("secret_env must be a tuple of environment variable names", field="secret_env")
        _number(self.timeout, "timeout", minimum=0, strict=True)
        _number(self.max_retry_time, "max_retry_time", minimum=0, strict=False)
        _number(self.max_run_time, "max_run_time", minimum=0, strict=True)
        _number(self.retries, "retries", minimum=0, strict=False, integer=True, maximum=100)
        _number(self.max_pages, "max_pages", minimum=1, strict=False, integer=True, maximum=10_000)
        if self.protocol_version is not None and self.protocol_version not in SUPPORTED_VERSIONS:
            raise SpecError(f"protocol_version must be one of {', '.join(SUPPORTED_VERSIONS)}",
                            field="protocol_version")

    @property
    def label(self) -> str:
        """How reports name this probe: its name, else the tool it calls, else the URL."""
        return self.name or (self.call.tool if self.call else self.target.display_url)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target.to_dict()}
        if self.name:
            out["name"] = self.name
        if self.call:
            out["call"] = self.call.to_dict()
        if not self.expect.empty:
            out["expect"] = self.expect.to_dict()
        for key in ("timeout", "retries", "max_retry_time", "max_pages", "max_run_time", "protocol_version",
                    "idempotent", "diagnose"):
            out[key] = getattr(self, key)
        return out


# -- building probes from a mapping (scenario files, events) ---------------------------------

LIMIT_KEYS = ("timeout", "retries", "max_retry_time", "max_pages", "max_run_time", "protocol_version",
              "idempotent", "diagnose")


def probe_from_mapping(data: Mapping[str, Any], target: Target, *, defaults: Mapping[str, Any] | None = None) -> Probe:
    """A Probe from plain data (what a scenario file or a Lambda event gives); keys as in `Probe`.

    `expect` is an outcome name or a list of them; the other expectation keys sit beside it
    (`tools`, `result_contains`, ...) in the scenario format, which `probe.scenario` maps.
    """
    merged = {**(defaults or {}), **data}
    kw: dict[str, Any] = {k: merged[k] for k in LIMIT_KEYS if k in merged}
    call = merged.get("call")
    if call is not None:
        if not isinstance(call, Mapping):
            raise SpecError("call must be a mapping with tool and args", field="call")
        kw["call"] = Call(call.get("tool"), call.get("args") or {})
    expect = merged.get("expect")
    if expect is not None:
        kw["expect"] = expect if isinstance(expect, Expect) else Expect(outcomes=parse_outcomes(expect, "expect"))
    return Probe(target=target, name=merged.get("name"), **kw)


def parse_outcomes(value: Any, name: str = "--expect") -> tuple[Outcome, ...]:
    """`ok`, `ok,empty_tools` or a list of names: the one parser of outcome lists."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise SpecError(f"{name} must name one or more outcomes", field=name)
    out: list[Outcome] = []
    for item in items:
        word = str(item).strip()
        try:
            outcome = Outcome(word)
        except ValueError:
            known = ", ".join(o.value for o in Outcome if o is not Outcome.PROBE_ERROR)
            raise SpecError(f"{name}: {word!r} is not an outcome (one of {known})", field=name) from None
        if outcome is Outcome.PROBE_ERROR:
            raise SpecError(f"{name}: probe_error cannot be expected: it is the probe's own usage error (exit 2)",
                            field=name)
        if outcome not in out:
            out.append(outcome)
    return tuple(out)


# -- call arguments ---------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_arguments(raw: str | None, name: str = "--args", *, stdin: Any = None) -> dict[str, Any]:
    """A JSON object, `@FILE`, or `@-` for standard input; a UTF-8 BOM is accepted."""
    if raw is None:
        return {}
    text = raw
    if raw == "@-":
        import sys

        text = (stdin or sys.stdin).read(MAX_ARGS_FILE + 1)
        if len(text) > MAX_ARGS_FILE:
            raise SpecError(f"{name}: standard input is larger than {MAX_ARGS_FILE} bytes", field=name)
    elif raw.startswith("@"):
        text = read_small_file(Path(raw[1:]), name, MAX_ARGS_FILE)
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        where = f" at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        hint = ""
        if not raw.startswith("@") and len(raw) < 4096 and Path(raw).is_file():
            hint = f"; to read the file, write @{raw}"
        raise SpecError(f"{name} is not valid JSON ({msg}{where}){hint}", field=name) from None
    except RecursionError:
        raise SpecError(f"{name} is nested too deeply", field=name) from None
    if not isinstance(value, dict):
        raise SpecError(f"{name} must be a JSON object, got {type(value).__name__}", field=name)
    return value


def read_small_file(path: Path, what: str, limit: int) -> str:
    """Read an operator's file: a regular file, bounded (never /dev/zero forever)."""
    try:
        if not path.is_file():
            raise SpecError(f"{what}: {path} is not a regular file", field=what)
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise SpecError(f"{what}: cannot read {path}: {exc.strerror or exc}", field=what) from None
    if len(data) > limit:
        raise SpecError(f"{what}: {path} is larger than {limit} bytes", field=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{what}: {path} is not UTF-8 text", field=what) from None
