"""Seed files: a small YAML that seeds the lab with engines, gateways and OAuth clients.

Parsing is pure (`parse_seed`) and strict: an unknown key or a wrong type is a
`SeedError` whose one-line message names the file and the field, so a typo never
seeds a lab that silently differs from what the file says. Seeding (`seed`) goes
through the lab's console, so a seed makes exactly what an operator clicking
through the console would, roles included.

    page_size: 5                      # optional: tools/list page size of every gateway (default 50)
    iam_simulation: true              # optional: false makes IAM's SimulatePrincipalPolicy fail as moto's does
    oauth_clients:                    # optional
      - client_id: refunds-agent
        secret_env: LAB_OAUTH_SECRET  # where the secret comes from (generated when unset)
        scopes: [lab/invoke]
        claims: {department: support}
    policy_engines:
      - name: RefundPolicies
        policies:
          - name: small_refunds
            cedar: |                  # ${gateway_arn:NAME} / ${gateway_id:NAME} name a gateway below
              permit(principal, action == AgentCore::Action::"RefundTarget___process_refund",
                     resource == AgentCore::Gateway::"${gateway_arn:walkthrough}")
              when { context.input.amount.lessThan(decimal("500.0")) };
            validation_mode: IGNORE_ALL_FINDINGS  # optional: keep a policy AWS validation would fail
            enforcement_mode: LOG_ONLY        # optional: evaluated, never enforced (default ACTIVE)
    gateways:
      - name: walkthrough
        authorizer: CUSTOM_JWT        # NONE (default) | CUSTOM_JWT | AWS_IAM | AUTHENTICATE_ONLY
        allowed_clients: [refunds-agent]
        policy_engine: RefundPolicies # optional
        attach_from: gateway          # gateway (default) | policy: the incident
        mode: ENFORCE                 # ENFORCE (default) | LOG_ONLY
        exception_level: DEBUG        # optional
        search: false
        targets: default              # default | none | a list (below)
        faults: {latency_ms: 0, failing_tools: [], throttle: false}

A listed target is `{name, lambda_arn (optional), tools: [{name, description,
args: {arg: json-type}, required: [arg]}]}`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from probe.lab.state import (
    AuthorizerType,
    DenialShape,
    Faults,
    Gateway,
    PermissionFaultForm,
    PolicyMode,
    Target,
    ToolSpec,
)

if TYPE_CHECKING:
    from probe.lab.console import Console

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array")
_PLACEHOLDER = re.compile(r"\$\{(gateway_arn|gateway_id):([^}]+)\}")


class SeedError(ValueError):
    """A bad seed file; the message is one line naming the file and the field."""


@dataclass(frozen=True)
class ClientSpec:
    client_id: str
    secret_env: str
    scopes: tuple[str, ...] | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySpec:
    name: str
    cedar: str
    description: str | None = None
    validation_mode: str | None = None  # CreatePolicy's validationMode (None: the service default)
    enforcement_mode: str | None = None  # CreatePolicy's enforcementMode (None: ACTIVE)


@dataclass(frozen=True)
class EngineSpec:
    name: str
    policies: tuple[PolicySpec, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class GatewaySpec:
    name: str
    authorizer: AuthorizerType = "NONE"
    allowed_clients: tuple[str, ...] = ()
    policy_engine: str | None = None
    attach_from: str = "gateway"
    mode: PolicyMode = "ENFORCE"
    exception_level: str | None = None
    search: bool = False
    description: str | None = None
    targets: tuple[Target, ...] | None = None  # None: the console's default targets
    faults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Seed:
    source: str
    clients: tuple[ClientSpec, ...] = ()
    engines: tuple[EngineSpec, ...] = ()
    gateways: tuple[GatewaySpec, ...] = ()
    page_size: int | None = None  # None: the lab's default
    iam_simulation: bool | None = None  # None: the lab's setting


@dataclass
class SeededClient:
    client_id: str
    secret_env: str
    secret: str = field(repr=False)
    generated: bool  # True: the secret env var was unset, so the lab made one up


@dataclass
class Seeded:
    """What seeding made, for printing and for tests."""

    gateways: dict[str, Gateway] = field(default_factory=dict)  # by seed name
    engines: dict[str, str] = field(default_factory=dict)  # seed name -> engine id
    clients: list[SeededClient] = field(default_factory=list)
    specs: dict[str, GatewaySpec] = field(default_factory=dict)


# --- parsing (pure) -------------------------------------------------------------------------------


class _Reader:
    """Typed access to one mapping of the document, with errors that name the field."""

    def __init__(self, source: str, where: str, doc: Any, allowed: tuple[str, ...]) -> None:
        self.source, self.where = source, where
        if not isinstance(doc, dict):
            self.fail(f"must be a mapping, not {_kind(doc)}")
        unknown = sorted(str(k) for k in doc if k not in allowed)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
        self.doc: dict[str, Any] = doc

    def fail(self, message: str, key: str | None = None) -> None:
        path = f"{self.where}.{key}" if key and self.where else (key or self.where or "(top)")
        raise SeedError(f"{self.source}: {path}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        if key not in self.doc or self.doc[key] is None:
            if required:
                self.fail("is required", key)
            return default
        value = self.doc[key]
        if isinstance(value, bool) and kind in (int, float):
            self.fail(f"must be a number, not {_kind(value)}", key)
        if not isinstance(value, kind):
            self.fail(f"must be {_kind_name(kind)}, not {_kind(value)}", key)
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.get(key, str, required=required)
        if required and not str(value).strip():
            self.fail("must not be empty", key)
        return value  # type: ignore[no-any-return]

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> Any:
        value = self.get(key, str, default)
        if value is not None and value not in choices:
            self.fail(f"must be one of {', '.join(choices)}, not {value!r}", key)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) and v for v in value):
            self.fail("must be a list of non-empty strings", key)
        return tuple(value)

    def items(self, key: str) -> list[tuple[str, Any]]:
        value = self.get(key, list, [])
        return [(f"{self.where + '.' if self.where else ''}{key}[{i}]", v) for i, v in enumerate(value)]


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_kind(k()) for k in kinds)


def _unique(source: str, where: str, names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SeedError(f"{source}: {where}: {what} {name!r} is defined twice")
        seen.add(name)


def parse_seed(doc: Any, source: str = "<seed>") -> Seed:
    """A checked Seed from a loaded YAML document; SeedError names file and field."""
    top = _Reader(source, "", {} if doc is None else doc, ("page_size", "iam_simulation", "oauth_clients",
                                                           "policy_engines", "gateways"))
    page_size = top.get("page_size", int)
    if page_size is not None and page_size < 1:
        top.fail(f"must be at least 1, not {page_size}", "page_size")
    clients = tuple(_client(source, w, d) for w, d in top.items("oauth_clients"))
    engines = tuple(_engine(source, w, d) for w, d in top.items("policy_engines"))
    gateways = tuple(_gateway(source, w, d) for w, d in top.items("gateways"))
    _unique(source, "oauth_clients", [c.client_id for c in clients], "client")
    _unique(source, "policy_engines", [e.name for e in engines], "policy engine")
    _unique(source, "gateways", [g.name for g in gateways], "gateway")
    engine_names = {e.name for e in engines}
    client_ids = {c.client_id for c in clients}
    gateway_names = {g.name for g in gateways}
    for i, g in enumerate(gateways):
        if g.policy_engine and g.policy_engine not in engine_names:
            raise SeedError(f"{source}: gateways[{i}].policy_engine: no policy engine named {g.policy_engine!r}")
        for client in g.allowed_clients:
            if client not in client_ids:
                raise SeedError(f"{source}: gateways[{i}].allowed_clients: no OAuth client {client!r}")
    for i, e in enumerate(engines):
        for j, p in enumerate(e.policies):
            for m in _PLACEHOLDER.finditer(p.cedar):
                name = m.group(2)
                if name not in gateway_names:
                    raise SeedError(
                        f"{source}: policy_engines[{i}].policies[{j}].cedar: no gateway named {name!r}")
    return Seed(source=source, clients=clients, engines=engines, gateways=gateways, page_size=page_size,
                iam_simulation=top.get("iam_simulation", bool))


def _client(source: str, where: str, doc: Any) -> ClientSpec:
    r = _Reader(source, where, doc, ("client_id", "secret_env", "scopes", "claims"))
    client_id = r.text("client_id", required=True) or ""
    default_env = "LAB_OAUTH_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", client_id).upper()
    secret_env = r.text("secret_env") or default_env
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
        r.fail("must be an environment variable name", "secret_env")
    scopes = r.strings("scopes") if "scopes" in r.doc else None
    return ClientSpec(client_id, secret_env, scopes, dict(r.get("claims", dict, {})))


def _engine(source: str, where: str, doc: Any) -> EngineSpec:
    r = _Reader(source, where, doc, ("name", "description", "policies"))
    name = r.text("name", required=True) or ""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", name):
        r.fail("must start with a letter and hold only letters, digits and _ (at most 48)", "name")
    policies = []
    for pw, pd in r.items("policies"):
        pr = _Reader(source, pw, pd, ("name", "cedar", "description", "validation_mode", "enforcement_mode"))
        pname = pr.text("name", required=True) or ""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", pname):
            pr.fail("must start with a letter and hold only letters, digits and _ (at most 48)", "name")
        policies.append(PolicySpec(
            pname, pr.text("cedar", required=True) or "", pr.text("description"),
            validation_mode=pr.choice("validation_mode", ("FAIL_ON_ANY_FINDINGS", "IGNORE_ALL_FINDINGS"), None),
            enforcement_mode=pr.choice("enforcement_mode", ("ACTIVE", "LOG_ONLY"), None),
        ))
    _unique(source, f"{where}.policies", [p.name for p in policies], "policy")
    return EngineSpec(name, tuple(policies), r.text("description"))


def _gateway(source: str, where: str, doc: Any) -> GatewaySpec:
    r = _Reader(source, where, doc, ("name", "description", "authorizer", "allowed_clients", "policy_engine",
                                     "attach_from", "mode", "exception_level", "search", "targets", "faults"))
    name = r.text("name", required=True) or ""
    if not re.fullmatch(r"([0-9a-zA-Z]-?){1,48}", name):
        r.fail("must be letters, digits and single hyphens (at most 48)", "name")
    attach_from = r.choice("attach_from", ("gateway", "policy"), "gateway")
    if "attach_from" in r.doc and "policy_engine" not in r.doc:
        r.fail("needs policy_engine", "attach_from")
    return GatewaySpec(
        name=name,
        authorizer=r.choice("authorizer", get_args(AuthorizerType), "NONE"),
        allowed_clients=r.strings("allowed_clients"),
        policy_engine=r.text("policy_engine"),
        attach_from=attach_from,
        mode=r.choice("mode", get_args(PolicyMode), "ENFORCE"),
        exception_level=r.choice("exception_level", ("DEBUG",), None),
        search=bool(r.get("search", bool, False)),
        description=r.text("description"),
        targets=_targets(source, f"{where}.targets", r.doc.get("targets", "default")),
        faults=_faults(source, f"{where}.faults", r.get("faults", dict, {})),
    )


def _targets(source: str, where: str, doc: Any) -> tuple[Target, ...] | None:
    if doc == "default":
        return None
    if doc == "none" or doc == []:
        return ()
    if not isinstance(doc, list):
        raise SeedError(f"{source}: {where}: must be 'default', 'none' or a list of targets")
    targets = []
    for i, td in enumerate(doc):
        r = _Reader(source, f"{where}[{i}]", td, ("name", "lambda_arn", "tools"))
        name = r.text("name", required=True) or ""
        if not re.fullmatch(r"([0-9a-zA-Z]-?){1,100}", name):
            r.fail("must be letters, digits and single hyphens", "name")
        tools = []
        for tw, tdoc in r.items("tools"):
            tr = _Reader(source, tw, tdoc, ("name", "description", "args", "required"))
            args = tr.get("args", dict, {})
            for arg, kind in args.items():
                if kind not in JSON_TYPES:
                    tr.fail(f"type of {arg!r} must be one of {', '.join(JSON_TYPES)}", "args")
            required = tr.strings("required") if "required" in tr.doc else tuple(args)
            missing = [a for a in required if a not in args]
            if missing:
                tr.fail(f"names an argument not in args: {missing[0]!r}", "required")
            schema = {"type": "object", "properties": {a: {"type": k} for a, k in args.items()},
                      "required": list(required)}
            tools.append(ToolSpec(tr.text("name", required=True) or "", tr.text("description") or "", schema))
        if not tools:
            r.fail("needs at least one tool", "tools")
        _unique(source, f"{where}[{i}].tools", [t.name for t in tools], "tool")
        targets.append(Target(target_id="", name=name, tools=tools, lambda_arn=r.text("lambda_arn")))
    _unique(source, where, [t.name for t in targets], "target")
    return tuple(targets)


def _faults(source: str, where: str, doc: dict[str, Any]) -> dict[str, Any]:
    kinds: dict[str, Callable[[Any], bool]] = {
        "throttle": lambda v: isinstance(v, bool),
        "throttle_retry_after_s": lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
        "latency_ms": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "failing_tools": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "target_failure_text": lambda v: isinstance(v, str),
        "denial_shape": lambda v: v in get_args(DenialShape),
        "permission_fault_form": lambda v: v in get_args(PermissionFaultForm),
    }
    known = {f.name for f in dataclasses.fields(Faults)}
    for key, value in doc.items():
        if key not in known:
            raise SeedError(f"{source}: {where}: unknown fault {key!r} (known: {', '.join(sorted(known))})")
        check = kinds.get(key)
        if check is not None and not check(value):
            raise SeedError(f"{source}: {where}.{key}: invalid value {value!r}")
    return dict(doc)


def load_seed(path: str | os.PathLike[str]) -> Seed:
    """Read and check a seed file; every failure is a one-line SeedError."""
    import yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"{source}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(document)"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SeedError(f"{source}: {where}: {problem}") from None
    return parse_seed(doc, source)


# --- seeding (through the console) ------------------------------------------------------------------


def seed(
    spec: Seed,
    console: Console,
    *,
    add_client: Callable[..., Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Seeded:
    """Make what the seed describes: clients, engines, gateways (attached as the file says), policies.

    Policies come last so that `${gateway_arn:NAME}` can name gateways made here.
    `add_client(client_id, secret, scopes=..., claims=...)` registers an OAuth client
    (the lab's `TokenIssuer.add_client`). A failure names the file and the entry.
    """
    from botocore.exceptions import ClientError

    from probe.lab.console import ConsoleError

    env = os.environ if environ is None else environ
    out = Seeded()
    where = ""
    try:
        for i, c in enumerate(spec.clients):
            where = f"oauth_clients[{i}]"
            if add_client is None:
                raise SeedError(f"{spec.source}: {where}: this lab has no token issuer")
            given = env.get(c.secret_env)
            secret = given or secrets.token_urlsafe(24)
            kwargs: dict[str, Any] = {"claims": c.claims}
            if c.scopes is not None:
                kwargs["scopes"] = c.scopes
            add_client(c.client_id, secret, **kwargs)
            out.clients.append(SeededClient(c.client_id, c.secret_env, secret, generated=not given))
        for i, e in enumerate(spec.engines):
            where = f"policy_engines[{i}]"
            out.engines[e.name] = console.create_policy_engine(e.name, e.description).engine_id
        for i, g in enumerate(spec.gateways):
            where = f"gateways[{i}]"
            out.gateways[g.name] = _make_gateway(console, g, out.engines)
            out.specs[g.name] = g
        for i, e in enumerate(spec.engines):
            for j, p in enumerate(e.policies):
                where = f"policy_engines[{i}].policies[{j}]"
                cedar = _PLACEHOLDER.sub(lambda m: _resolve(m, out.gateways), p.cedar)
                pol = console.add_policy(out.engines[e.name], p.name, cedar, p.description,
                                         validation_mode=p.validation_mode, enforcement_mode=p.enforcement_mode)
                if pol.status_reasons and p.validation_mode != "IGNORE_ALL_FINDINGS":
                    raise SeedError(f"{spec.source}: {where}: policy {p.name} failed validation: "
                                    f"{'; '.join(pol.status_reasons)} (validation_mode: IGNORE_ALL_FINDINGS "
                                    "keeps it, as AWS would)")
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise SeedError(f"{spec.source}: {where}: {err.get('Code')}: {err.get('Message')}") from None
    except ConsoleError as exc:
        raise SeedError(f"{spec.source}: {where}: {exc}") from None
    return out


def _resolve(m: re.Match[str], gateways: Mapping[str, Gateway]) -> str:
    g = gateways[m.group(2)]
    return g.arn if m.group(1) == "gateway_arn" else g.gateway_id


def _make_gateway(console: Console, g: GatewaySpec, engines: Mapping[str, str]) -> Gateway:
    engine_id = engines[g.policy_engine] if g.policy_engine else None
    at_creation = engine_id if g.attach_from == "gateway" else None
    gateway = console.create_gateway(
        g.name, authorizer_type=g.authorizer, policy_engine_id=at_creation, mode=g.mode,
        targets=None if g.targets is None else [dataclasses.replace(t) for t in g.targets],
        exception_level=g.exception_level, search=g.search, allowed_clients=g.allowed_clients or None,
        description=g.description,
    )  # fmt: skip
    if engine_id and g.attach_from == "policy":
        gateway = console.attach_engine_from_policy_side(gateway.gateway_id, engine_id, g.mode)
    if g.faults:
        console.set_faults(gateway.gateway_id, **g.faults)
    return gateway
