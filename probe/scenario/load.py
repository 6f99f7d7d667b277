"""Scenario files -> checked `Probe`s, every problem as `FILE:LINE: what is wrong and what is expected`.

The file is the contract of issue 8 (version, defaults, gateways, probes, lab); this module
reads it with line numbers (`probe.scenario.yamlread`), checks every key it knows and
refuses the rest (with the nearest valid key), refuses inline secrets, expands `${VAR}`
from the given environment, and builds `probe.spec` objects. Problems are collected, not
raised one at a time, so `validate` can list them all; `load` raises `ScenarioError`
whose first line is the first problem.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe.outcome import Outcome
from probe.scenario.yamlread import LList, LMap, ReadError, read_file
from probe.spec import (
    LIMIT_KEYS,
    SUPPORTED_VERSIONS,
    AuthConfig,
    Call,
    Expect,
    Probe,
    SpecError,
    Target,
    parse_outcomes,
)

TOP_KEYS = ("version", "defaults", "gateways", "probes", "lab")
DEFAULT_KEYS = (*LIMIT_KEYS, "latency", "protocol_versions")
GATEWAY_KEYS = ("url", "auth", "gateway_id", "region", "profile", "connect_to")
AUTH_KEYS = ("bearer_token_env", "bearer_token_file", "oauth", "sigv4")
OAUTH_KEYS = ("token_url", "client_id", "client_secret_env", "scope", "resource", "discover")
SIGV4_KEYS = ("profile", "region")
PROBE_KEYS = ("name", "gateway", "expect", "tools", "call", "result_contains", "auth", "policy_engine", "latency",
              "protocol_versions", *LIMIT_KEYS)
TOOLS_KEYS = ("include", "exclude", "exact")
CALL_KEYS = ("tool", "args")
LATENCY_KEYS = ("degraded_ms", "fail_ms")
ENGINE_KEYS = ("mode",)
ENGINE_MODES = ("ENFORCE", "LOG_ONLY", "NONE")
VERSION = 1

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_LABEL = 200
_NOT_PRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def label_problem(name: str) -> str | None:
    """Probe and gateway names become metric labels, EMF dimensions, log fields and test ids: printable
    text of a sane length, or the metrics, logs and terminals that show them break."""
    if len(name) > MAX_LABEL:
        return f"longer than {MAX_LABEL} characters"
    if _NOT_PRINTABLE.search(name):
        return "holds control, line-separator or bidi characters; use printable text"
    return None
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRETISH = re.compile(r"(?i)(token|secret|passw(or)?d|passphrase|api[_-]?key|apikey|credential|private[_-]?key)")
_REFERENCE = re.compile(r"(?i)(_env|_file|_url|_uri|_id|_arn|_path|_name|_ms|_s|_count|_type)$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, at a line (0: the file as a whole)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class ScenarioError(ValueError):
    """One or more problems; `str()` is one line per problem, the first the most useful."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class ScenarioFile:
    """One file, checked: its gateways (None where the URL could not be resolved), probes and lab section."""

    path: str
    gateways: dict[str, Target | None] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    lab: Mapping[str, Any] | None = None
    lab_line: int = 0
    lines: dict[str, int] = field(default_factory=dict)  # probe label -> the line of its entry


@dataclass
class Scenario:
    """Every file's probes in file order; `gateways` by name; `lab` the merged `lab:` sections (or None)."""

    files: list[ScenarioFile]
    probes: list[Probe]
    gateways: dict[str, Target]
    lab: dict[str, Any] | None

    def where(self, probe: Probe) -> tuple[str, int]:
        """(file, line) of the entry a probe came from."""
        for f in self.files:
            if probe.label in f.lines:
                return f.path, f.lines[probe.label]
        return "", 0


def load(paths: str | Path | Iterable[str | Path], env: Mapping[str, str] | None = None, *,
         overrides: Mapping[str, Mapping[str, Any]] | None = None, require_env: bool = True) -> Scenario:
    """Read, check and build every file's probes; ScenarioError lists every problem.

    `env` expands `${VAR}` (an unset one is an error); `overrides` replaces fields of named
    gateways (`url`, `gateway_id`, `region`, `auth`: an AuthConfig): the lab points the
    file's gateways at its own, and then their own URL and auth are not read.
    `require_env=False` leaves out, silently, the probes of gateways an unset variable
    leaves without a URL (to read the `lab:` section before the lab exists).
    """
    return _collect(paths, env, require_env=require_env, overrides=overrides)


def validate(paths: str | Path | Iterable[str | Path], env: Mapping[str, str] | None = None, *,
             require_env: bool = False) -> list[Problem]:
    """Every problem of the files ([] when valid); an unset `${VAR}` counts only with `require_env`."""
    try:
        _collect(paths, env, require_env=require_env, overrides=None)
    except ScenarioError as exc:
        return exc.problems
    return []


def is_scenario_document(doc: Any) -> bool:
    """A top-level mapping with `version` and `probes`: what the pytest plugin collects."""
    return isinstance(doc, dict) and "version" in doc and "probes" in doc


def _collect(paths: str | Path | Iterable[str | Path], env: Mapping[str, str] | None, *, require_env: bool,
             overrides: Mapping[str, Mapping[str, Any]] | None) -> Scenario:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise ScenarioError([Problem("agentcore-probe", 0, "no scenario file given")])
    problems: list[Problem] = []
    files: list[ScenarioFile] = []
    for path in items:
        reader = _FileReader(str(path), dict(env or {}), require_env=require_env, overrides=overrides or {})
        files.append(reader.read())
        problems += sorted(reader.problems, key=lambda p: p.line)
    seen: dict[str, str] = {}
    for f in files:
        for label, line in f.lines.items():
            if label in seen and seen[label] != f.path:
                problems.append(Problem(f.path, line, f"probe {label!r} is also defined in {seen[label]}; "
                                                      "probe names must be unique across the files run together"))
            seen.setdefault(label, f.path)
    if problems:
        raise ScenarioError(problems)
    gateways: dict[str, Target] = {}
    for f in files:
        for name, target in f.gateways.items():
            if target is not None:
                gateways.setdefault(name, target)
    return Scenario(files=files, probes=[p for f in files for p in f.probes], gateways=gateways,
                    lab=_merge_labs([f.lab for f in files if f.lab is not None]))


def _merge_labs(sections: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Several files' `lab:` sections as one seed: their lists joined, the first page_size wins."""
    if not sections:
        return None
    merged: dict[str, Any] = {}
    for section in sections:
        for key, value in section.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged.setdefault(key, value)
    return merged


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "a mapping", LMap: "a mapping", list: "a list", LList: "a list", str: "a string", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


class _FileReader:
    def __init__(self, path: str, env: dict[str, str], *, require_env: bool,
                 overrides: Mapping[str, Mapping[str, Any]]) -> None:
        self.path = path
        self.env = env
        self.require_env = require_env
        self.overrides = overrides
        self.problems: list[Problem] = []
        self.secret_lines: set[tuple[int, str]] = set()
        self.secret_vars: set[str] = set()  # variables named where a secret goes: their values are redacted

    def err(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message))

    # -- generic checks -------------------------------------------------------------------------

    def keys(self, m: LMap, allowed: Sequence[str], where: str) -> None:
        for key in m:
            if key in allowed or (m.line_of(key), str(key)) in self.secret_lines:
                continue
            near = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.err(m.line_of(key), f"unknown key {key!r} in {where}{hint}; expected one of: {', '.join(allowed)}")
        for key, line in m.duplicates:
            self.err(line, f"key {key!r} is given twice in {where}; give it once")

    def mapping(self, value: Any, line: int, what: str) -> LMap | None:
        if isinstance(value, LMap):
            return value
        self.err(line, f"{what} must be a mapping, got {_kind(value)}")
        return None

    def text(self, m: LMap, key: str, what: str, *, expand: bool = True) -> str | None:
        """A string value, `${VAR}` expanded; None when absent, wrong, or unresolved (reported or deferred)."""
        if key not in m or m[key] is None:
            return None
        value = m[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err(m.vline(key), f"{what} must be a string, got {_kind(value)}")
            return None
        return self.expand(str(value), m.vline(key)) if expand else str(value)

    def expand(self, value: str, line: int) -> str | None:
        names = _VAR.findall(value)
        if value.count("${") != len(names):
            self.err(line, f"malformed ${{...}} in {value[:80]!r}: write ${{NAME}} with a variable name "
                           "(letters, digits, _), one per placeholder; there is no escape or default syntax")
            return None
        missing = [n for n in names if n not in self.env]
        if missing:
            if self.require_env:
                self.err(line, f"${{{missing[0]}}} is not set: export {missing[0]} before running "
                               "(the file reads it from the environment)")
            return None
        return _VAR.sub(lambda mt: self.env[mt[1]], value)

    def expand_deep(self, value: Any, line: int) -> tuple[Any, bool]:
        """(value with every string expanded, whether all resolved)."""
        if isinstance(value, str):
            out = self.expand(value, line)
            return (value, False) if out is None else (out, True)
        if isinstance(value, LMap):
            done: dict[str, Any] = {}
            ok = True
            for k, v in value.items():
                done[k], resolved = self.expand_deep(v, value.vline(k))
                ok = ok and resolved
            return done, ok
        if isinstance(value, LList):
            items = []
            ok = True
            for i, v in enumerate(value):
                item, resolved = self.expand_deep(v, value.line_of(i))
                items.append(item)
                ok = ok and resolved
            return items, ok
        if isinstance(value, datetime.date):
            return value.isoformat(), True  # YAML reads 2025-06-18 as a date; a tool argument is JSON
        return value, True

    def strings(self, m: LMap, key: str, what: str) -> tuple[str, ...] | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        elif not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.err(m.vline(key), f"{what} must be a list of names, got {_kind(value)}")
            return None
        return tuple(value)

    def number(self, m: LMap, key: str, what: str) -> float | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.err(m.vline(key), f"{what} must be a number of milliseconds above 0, got {value!r}")
            return None
        return float(value)

    def scan_secrets(self, value: Any, parent: LMap | LList | None = None) -> None:
        """Refuse a key that looks like a token, secret, password or API key holding a literal value."""
        if isinstance(value, LMap):
            for key, item in value.items():
                skey = str(key)
                if isinstance(item, str) and _SECRETISH.search(skey) and not _REFERENCE.search(skey):
                    self.secret_vars.update(_VAR.findall(item))
                if (isinstance(item, str) and item.strip() and _SECRETISH.search(skey)
                        and not _REFERENCE.search(skey) and not _VAR.fullmatch(item.strip())):
                    line = value.line_of(key)
                    self.secret_lines.add((line, skey))
                    self.err(line, f"inline secret: {skey!r} holds a literal value; a secret never goes in the file: "
                                   "put it in an environment variable and name the variable (bearer_token_env, "
                                   "client_secret_env) or write ${VAR}")
                    continue
                self.scan_secrets(item, value)
        elif isinstance(value, LList):
            for item in value:
                self.scan_secrets(item, value)

    # -- the file ----------------------------------------------------------------------------------

    def read(self) -> ScenarioFile:
        out = ScenarioFile(self.path)
        try:
            doc = read_file(self.path)
        except ReadError as exc:
            self.err(exc.line, str(exc))
            return out
        if not isinstance(doc, LMap):
            self.err(getattr(doc, "line", 1) or 1,
                     f"a scenario file is a mapping with version, gateways and probes, got {_kind(doc)}")
            return out
        self.scan_secrets(doc)
        self.keys(doc, TOP_KEYS, "the file")
        version = doc.get("version")
        if "version" not in doc:
            self.err(doc.line, f"version is missing; expected version: {VERSION}")
        elif isinstance(version, bool) or version != VERSION:
            self.err(doc.vline("version"), f"version must be {VERSION}, got {version!r}")
        defaults = self.defaults(doc)
        if "gateways" in doc:
            gws = self.mapping(doc["gateways"], doc.vline("gateways"), "gateways")
            if gws is not None:
                for name, gdoc in gws.items():
                    out.gateways[str(name)] = self.gateway(str(name), gdoc, gws.vline(name))
                for key, line in gws.duplicates:
                    self.err(line, f"gateway {key!r} is defined twice")
        probes = doc.get("probes")
        if "probes" not in doc:
            self.err(doc.line, "probes is missing; expected a list of probes (name, gateway, expect, ...)")
        elif not isinstance(probes, LList):
            self.err(doc.vline("probes"), f"probes must be a list, got {_kind(probes)}")
        else:
            if not probes:
                self.err(doc.vline("probes"), "probes is empty; expected at least one probe")
            for i, pdoc in enumerate(probes):
                self.probe(pdoc, probes.line_of(i), defaults, out)
        if "lab" in doc and doc["lab"] is not None:
            out.lab_line = doc.line_of("lab")
            lab = self.mapping(doc["lab"], doc.vline("lab"), "lab")
            if lab is not None:
                self.lab(lab)
                out.lab = lab
        return out

    def defaults(self, doc: LMap) -> LMap:
        if "defaults" not in doc or doc["defaults"] is None:
            return LMap()
        d = self.mapping(doc["defaults"], doc.vline("defaults"), "defaults")
        if d is None:
            return LMap()
        self.keys(d, DEFAULT_KEYS, "defaults")
        return d

    def lab(self, lab: LMap) -> None:
        from probe.lab.seed import SeedError, parse_seed

        try:
            parse_seed(lab, "lab")
        except SeedError as exc:
            message = str(exc).removeprefix("lab: ")
            path, _, what = message.partition(": ")
            self.err(_line_at(lab, path), f"lab.{path}: {what}" if what else f"lab: {message}")

    # -- gateways ----------------------------------------------------------------------------------

    def gateway(self, name: str, gdoc: Any, line: int) -> Target | None:
        if (problem := label_problem(str(name))) is not None:
            self.err(line, f"gateway name {str(name)[:40]!r}: {problem}")
            return None
        g = self.mapping(gdoc, line, f"gateway {name!r}")
        if g is None:
            return None
        self.keys(g, GATEWAY_KEYS, f"gateway {name!r}")
        over = self.overrides.get(name, {})
        url = over.get("url")
        if url is None:
            if "url" not in g:
                self.err(g.line, f"gateway {name!r} has no url; expected url: https://ID.gateway.bedrock-agentcore."
                                 "REGION.amazonaws.com/mcp")
                return None
            url = self.text(g, "url", f"gateway {name!r} url")
        auth = over.get("auth")
        if auth is None:
            auth = self.auth(g["auth"], g.vline("auth"), f"gateway {name!r} auth") if "auth" in g else AuthConfig()
        fields = {k: over.get(k) or self.text(g, k, f"gateway {name!r} {k}")
                  for k in ("gateway_id", "region", "profile", "connect_to")}
        if url is None or auth is None:
            return None
        try:
            return Target(url=url, auth=auth, name=name, **fields)
        except SpecError as exc:
            key = exc.field if exc.field in g else "url"
            self.err(g.vline(key) if key in g else g.line, f"gateway {name!r}: {exc}")
            return None

    def auth(self, value: Any, line: int, what: str) -> AuthConfig | None:
        if isinstance(value, str):
            word = value.strip().lower()
            if word == "none":
                return AuthConfig()
            if word == "sigv4":
                return AuthConfig(sigv4=True)
            self.err(line, f"{what} must be none, sigv4 or a mapping with one of {', '.join(AUTH_KEYS)}; got {value!r}")
            return None
        a = self.mapping(value, line, what)
        if a is None:
            return None
        self.keys(a, AUTH_KEYS, what)
        if any((a.line_of(k), str(k)) in self.secret_lines for k in a):
            return None  # an inline secret, reported
        given = [k for k in AUTH_KEYS if k in a]
        if len(given) != 1:
            self.err(a.line, f"{what} must choose one mode, got {', '.join(given) or 'none'}; expected one of: "
                             f"{', '.join(AUTH_KEYS)} (or auth: none)")
            return None
        mode = given[0]
        if mode == "bearer_token_env":
            env_name = self.text(a, mode, f"{what} bearer_token_env", expand=False)
            if env_name is None or not _ENV_NAME.match(env_name):
                self.err(a.vline(mode), f"{what} bearer_token_env must name an environment variable (like GW_TOKEN), "
                                        "not hold the token")
                return None
            return AuthConfig(bearer_token_env=env_name)
        if mode == "bearer_token_file":
            path = self.text(a, mode, f"{what} bearer_token_file")
            return AuthConfig(bearer_token_file=path) if path else None
        if mode == "oauth":
            return self.oauth(a["oauth"], a.vline("oauth"), f"{what} oauth")
        sig = a["sigv4"]
        if sig is True or sig is None:
            return AuthConfig(sigv4=True)
        s = self.mapping(sig, a.vline("sigv4"), f"{what} sigv4")
        if s is None:
            return None
        self.keys(s, SIGV4_KEYS, f"{what} sigv4")
        return AuthConfig(sigv4=True, profile=self.text(s, "profile", f"{what} sigv4 profile"),
                          region=self.text(s, "region", f"{what} sigv4 region"))

    def oauth(self, value: Any, line: int, what: str) -> AuthConfig | None:
        o = self.mapping(value, line, what)
        if o is None:
            return None
        self.keys(o, OAUTH_KEYS, what)
        discover = o.get("discover", False)
        if not isinstance(discover, bool):
            self.err(o.vline("discover"), f"{what} discover must be true or false, got {_kind(discover)}")
            return None
        ok = True
        for key in ("client_id", "client_secret_env") + (() if discover else ("token_url",)):
            if key not in o:
                self.err(o.line, f"{what} needs {key}" + (" (or discover: true)" if key == "token_url" else ""))
                ok = False
        secret_env = self.text(o, "client_secret_env", f"{what} client_secret_env", expand=False)
        if secret_env is not None and not _ENV_NAME.match(secret_env):
            self.err(o.vline("client_secret_env"), f"{what} client_secret_env must name an environment variable "
                                                   "(like OAUTH_CLIENT_SECRET), not hold the secret")
            ok = False
        values = {k: self.text(o, k, f"{what} {k}") for k in ("token_url", "client_id", "scope", "resource")}
        if not ok or secret_env is None or values["client_id"] is None or (
                not discover and values["token_url"] is None):
            return None
        return AuthConfig(oauth_token_url=values["token_url"], oauth_client_id=values["client_id"],
                          oauth_client_secret_env=secret_env, oauth_scope=values["scope"],
                          oauth_resource=values["resource"], oauth_discover=discover)

    # -- probes ------------------------------------------------------------------------------------

    def probe(self, pdoc: Any, line: int, defaults: LMap, out: ScenarioFile) -> None:
        p = self.mapping(pdoc, line, "a probe")
        if p is None:
            return
        name = p.get("name")
        if not isinstance(name, str) or not name.strip():
            self.keys(p, PROBE_KEYS, "a probe")
            self.err(p.vline("name") if "name" in p else p.line, "a probe needs a name (name: refund-tools-listed)")
            return
        if (problem := label_problem(name)) is not None:
            self.err(p.vline("name"), f"probe name {name[:40]!r}: {problem}")
            return
        where = f"probe {name!r}"
        self.keys(p, PROBE_KEYS, where)
        if name in out.lines or any(f"{name}[{v}]" in out.lines for v in SUPPORTED_VERSIONS):
            self.err(p.line_of("name"), f"{where} is defined twice; probe names must be unique")
            return
        gateway = p.get("gateway")
        if gateway is None and len(out.gateways) == 1:
            gateway = next(iter(out.gateways))
        known = True
        if gateway is None:
            self.err(p.line, f"{where} needs a gateway (one of: {', '.join(out.gateways) or 'none defined'})")
            known = False
        elif not isinstance(gateway, str) or gateway not in out.gateways:
            near = difflib.get_close_matches(str(gateway), list(out.gateways), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            self.err(p.vline("gateway"), f"{where} names gateway {gateway!r}, which is not defined{hint}; "
                                         f"defined: {', '.join(out.gateways) or 'none'}")
            known = False
        target = out.gateways.get(gateway) if known and isinstance(gateway, str) else None
        merged = LMap()
        for source in (defaults, p):
            for key, value in source.items():
                merged[key] = value
                merged.key_line[key] = source.line_of(key)
                merged.value_line[key] = source.vline(key)
        expect = self.expect(merged, where)
        call = self.call(p, where)
        versions = self.versions(merged, where)
        auth = None
        if ("auth" in p and gateway not in self.overrides) or ("auth" in p and p.get("auth") == "none"):
            auth = self.auth(p["auth"], p.vline("auth"), f"{where} auth")
            if auth is None:
                return
        if expect is None or call is False or versions is None or not known:
            return
        if "result_contains" in p and call is None:
            self.err(p.line_of("result_contains"), f"{where}: result_contains needs a call (call: {{tool, args}})")
            return
        if expect.policy_engine_mode and target is not None and not (target.gateway_id and target.region):
            self.err(p.line_of("policy_engine"), f"{where}: policy_engine is read through the control plane and "
                                                 f"needs the gateway's gateway_id and region")
            return
        limits = {k: merged[k] for k in LIMIT_KEYS if k in merged and k != "protocol_version"}
        labels = [f"{name}[{v}]" if "protocol_versions" in merged else name for v in versions]
        for label in labels:
            out.lines[label] = p.line  # named even when its gateway is unresolved (the pytest plugin's items)
        if target is None:
            # The gateway could not be built (reported there, or an unset ${VAR} when only validating):
            # still check the probe's own limits against a stand-in target.
            try:
                Probe(target=Target(url="https://gateway.invalid/mcp"), **limits)
            except (SpecError, TypeError) as exc:
                key = getattr(exc, "field", None)
                self.err(merged.line_of(key) if key in merged else p.line, f"{where}: {exc}")
            return
        if auth is not None:
            target = dataclasses.replace(target, auth=auth)
        for version, label in zip(versions, labels, strict=True):
            try:
                probe = Probe(target=target, call=call or None, expect=expect, name=label, protocol_version=version,
                              secret_env=tuple(sorted(self.secret_vars)), **limits)
            except (SpecError, TypeError) as exc:
                key = getattr(exc, "field", None)
                self.err(merged.line_of(key) if key in merged else p.line, f"{where}: {exc}")
                return
            out.probes.append(probe)

    def expect(self, m: LMap, where: str) -> Expect | None:
        ok = True
        outcomes: tuple[Outcome, ...] = (Outcome.OK,)
        if "expect" in m:
            try:
                outcomes = parse_outcomes(m["expect"], "expect")
            except SpecError as exc:
                self.err(m.vline("expect"), f"{where}: {exc}")
                ok = False
        kw: dict[str, Any] = {}
        if "tools" in m:
            t = self.mapping(m["tools"], m.vline("tools"), f"{where} tools")
            if t is None:
                ok = False
            else:
                self.keys(t, TOOLS_KEYS, f"{where} tools")
                for key in TOOLS_KEYS:
                    names = self.strings(t, key, f"{where} tools.{key}")
                    if key in t and names is None:
                        ok = False
                    elif names is not None:
                        kw[f"tools_{key}"] = names
        if "result_contains" in m:
            text = self.text(m, "result_contains", f"{where} result_contains")
            if text is None:
                ok = False
            kw["result_contains"] = text
        if "latency" in m:
            lat = self.mapping(m["latency"], m.vline("latency"), f"{where} latency")
            if lat is None:
                ok = False
            else:
                self.keys(lat, LATENCY_KEYS, f"{where} latency")
                degraded = self.number(lat, "degraded_ms", f"{where} latency.degraded_ms")
                fail = self.number(lat, "fail_ms", f"{where} latency.fail_ms")
                if (degraded is None and "degraded_ms" in lat) or (fail is None and "fail_ms" in lat):
                    ok = False
                elif degraded is not None and fail is not None and degraded > fail:
                    self.err(lat.vline("degraded_ms"), f"{where} latency.degraded_ms ({degraded:g}) must not be "
                                                       f"above fail_ms ({fail:g})")
                    ok = False
                kw["latency_degraded_ms"], kw["latency_fail_ms"] = degraded, fail
        if "policy_engine" in m:
            e = self.mapping(m["policy_engine"], m.vline("policy_engine"), f"{where} policy_engine")
            if e is None:
                ok = False
            else:
                self.keys(e, ENGINE_KEYS, f"{where} policy_engine")
                mode = e.get("mode")
                word = "NONE" if mode is None and "mode" in e else str(mode).upper() if mode is not None else None
                if word not in ENGINE_MODES:
                    self.err(e.vline("mode") if "mode" in e else e.line,
                             f"{where} policy_engine.mode must be ENFORCE, LOG_ONLY or none, got {mode!r}")
                    ok = False
                kw["policy_engine_mode"] = word
        if not ok:
            return None
        return Expect(outcomes=outcomes, **kw)

    def call(self, p: LMap, where: str) -> Call | bool | None:
        """The call, None without one, False when it is wrong (reported)."""
        if "call" not in p:
            return None
        c = self.mapping(p["call"], p.vline("call"), f"{where} call")
        if c is None:
            return False
        self.keys(c, CALL_KEYS, f"{where} call")
        tool = c.get("tool")
        if not isinstance(tool, str) or not tool.strip():
            self.err(c.vline("tool") if "tool" in c else c.line,
                     f"{where} call needs a tool name (tool: Target___tool)")
            return False
        args: Any = c.get("args") or LMap()
        if not isinstance(args, LMap):
            self.err(c.vline("args"), f"{where} call args must be a mapping of argument names to values, "
                                      f"got {_kind(args)}")
            return False
        expanded, _ = self.expand_deep(args, c.vline("args"))
        return Call(tool, expanded)

    def versions(self, m: LMap, where: str) -> list[str | None] | None:
        for key in ("protocol_version", "protocol_versions"):  # YAML reads 2025-06-18 as a date
            value = m.get(key)
            if isinstance(value, datetime.date):
                m[key] = value.isoformat()
            elif isinstance(value, list):
                m[key] = [v.isoformat() if isinstance(v, datetime.date) else v for v in value]
        if "protocol_versions" in m and "protocol_version" in m:
            self.err(m.line_of("protocol_versions"), f"{where}: give protocol_version or protocol_versions, not both")
            return None
        if "protocol_versions" not in m:
            single = m.get("protocol_version")
            if single is not None and single not in SUPPORTED_VERSIONS:
                self.err(m.vline("protocol_version"), f"{where}: protocol_version must be one of "
                                                      f"{', '.join(SUPPORTED_VERSIONS)}, got {single!r}")
                return None
            return [single]
        value = m["protocol_versions"]
        if not isinstance(value, list) or not value:
            self.err(m.vline("protocol_versions"), f"{where}: protocol_versions must be a list of versions "
                                                   f"({', '.join(SUPPORTED_VERSIONS)})")
            return None
        bad = [v for v in value if str(v) not in SUPPORTED_VERSIONS]
        if bad:
            self.err(m.vline("protocol_versions"), f"{where}: protocol version {bad[0]!r} is not supported; "
                                                   f"expected one of {', '.join(SUPPORTED_VERSIONS)}")
            return None
        return list(dict.fromkeys(str(v) for v in value))


def _line_at(doc: Any, path: str) -> int:
    """The line of `gateways[0].policy_engine` in a line-aware document (the deepest part found)."""
    line = getattr(doc, "line", 0)
    node = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, LList):
            index = int(part[1:-1])
            if index >= len(node):
                break
            line, node = node.line_of(index), node[index]
        elif isinstance(node, LMap) and part in node:
            line, node = node.line_of(part), node[part]
        else:
            break
    return line
