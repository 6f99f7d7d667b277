"""The lab's servers on 127.0.0.1, in background threads of this process, and `agentcore-probe lab`.

Three listeners, bound before anything starts so that every URL is known up front and a
port in use fails at once with a plain error:

- the control plane (`bedrock-agentcore-control`, uvicorn),
- the gateways' MCP endpoints and the OAuth2 token endpoint (uvicorn), and
- moto's IAM/STS (werkzeug).

With `--port N` they take N, N+1 and N+2; by default any free ports.

moto's backends are process-wide: Labs in one process share IAM (the console names
each role uniquely, so they do not collide), and `probe.lab.iam.reset_iam()` empties it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import shlex
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from probe.lab.state import LabState

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
FAKE_ACCESS_KEY_ID = "testing"  # placeholders: the lab verifies no signature, moto maps them to LAB_ACCOUNT
FAKE_SECRET_ACCESS_KEY = "testing"
DEFAULT_SCENARIO = Path(__file__).resolve().parent / "default_scenario.yaml"  # scenarios/lab-incident.yaml links here
_START_TIMEOUT_S = 10.0


class LabError(Exception):
    """The lab could not start as asked; the message is one line."""


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (`port` 0: any free port); LabError when taken."""
    # IPPROTO_TCP (not 0): asyncio turns Nagle off only on connections of a socket that says it is TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # As every server does: a restart must not wait out TIME_WAIT, and Linux still refuses a port
    # that another socket listens on.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise LabError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    return sock


class _AsgiThread:
    """One uvicorn server on a pre-bound socket, in a daemon thread."""

    def __init__(self, app: Any, sock: socket.socket, name: str, *, lifespan: str) -> None:
        import uvicorn

        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan=lifespan,  # type: ignore[arg-type]
            timeout_graceful_shutdown=1, timeout_keep_alive=5,
        )  # fmt: skip
        # uvicorn writes a response's head and body in two writes. asyncio turns Nagle off on each
        # accepted connection only when the listener's `proto` is IPPROTO_TCP, and `bind` made it 0:
        # without this, every answer after a connection's first waited ~40 ms for the client's
        # delayed ACK. Accepted sockets inherit TCP_NODELAY from the listener.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wait_started(self, deadline: float) -> None:
        while not self.server.started:
            if not self.thread.is_alive():
                raise LabError(f"{self.thread.name} stopped while starting")
            if time.monotonic() > deadline:
                raise LabError(f"{self.thread.name} did not start in {_START_TIMEOUT_S:.0f}s")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.sock.close()


def _gateway_app(state: LabState, issuer: Any) -> Any:
    from probe.lab.gateway import build_gateway_app

    return build_gateway_app(state, issuer=issuer)


class Lab:
    """An emulated AgentCore on loopback: control plane, gateways, token endpoint, IAM.

    Use as a context manager (or call start/stop). `state` is the store both APIs share;
    `console` makes things the way the AWS console does; `issuer` is the token issuer
    (`probe.lab.tokens.TokenIssuer`) behind `token_url`; `env()` points boto3, the AWS
    CLI and the probe at the lab. `port` N takes N, N+1, N+2 (0: any free ports);
    `gateway_app_factory(state, issuer)` replaces `probe.lab.gateway.build_gateway_app`;
    `page_size` is the gateways' `tools/list` page size (None: the app's default), also
    settable while the lab runs.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        state: LabState | None = None,
        gateway_app_factory: Callable[[LabState, Any], Any] | None = None,
        page_size: int | None = None,
    ) -> None:
        self.state = state or LabState()
        self.region = self.state.region
        self.account = self.state.account
        self._first_port = port
        self._gateway_app_factory = gateway_app_factory or _gateway_app
        self._gateway_app: Any = None
        self._page_size = _checked_page_size(page_size) if page_size is not None else None
        self._servers: list[_AsgiThread] = []
        self._iam: Any = None
        self._session: Any = None
        self.console: Any = None
        self.issuer: Any = None
        self.control_url = self.gateway_base_url = self.iam_url = self.token_url = ""
        self.startup_s: float | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Lab:
        """Bind, start every server, and wait until all answer; LabError (all released) on failure."""
        t0 = time.monotonic()
        socks: list[socket.socket] = []
        try:
            for offset in range(3):
                socks.append(bind(self._first_port + offset if self._first_port else 0))
            ports = [s.getsockname()[1] for s in socks]
            self.control_url, self.gateway_base_url, self.iam_url = (f"http://{HOST}:{p}" for p in ports)
            self._start_servers(socks)
        except BaseException:
            self.stop()
            for s in socks:
                s.close()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _start_servers(self, socks: list[socket.socket]) -> None:
        from probe.lab.controlplane import build_controlplane_app
        from probe.lab.iam import IamServer
        from probe.lab.tokens import DEFAULT_AUDIENCE, TokenIssuer

        self.issuer = TokenIssuer(issuer_url=self.gateway_base_url)
        self.token_url = self.issuer.token_url
        control_app = build_controlplane_app(self.state, gateway_url=self.gateway_url)
        self._gateway_app = self._gateway_app_factory(self.state, self.issuer)
        if self._page_size is not None:
            self.page_size = self._page_size
        self._servers = [
            _AsgiThread(control_app, socks[0], "lab-control-plane", lifespan="off"),
            _AsgiThread(self._gateway_app, socks[1], "lab-gateways", lifespan="on"),
        ]
        self._iam = IamServer(socks[2])
        for server in self._servers:
            server.start()
        self._iam.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        for server in self._servers:
            server.wait_started(deadline)
        self._session = self.boto3_session()
        from probe.lab.console import Console

        self.console = Console(
            self.state, control=self.client("bedrock-agentcore-control"), iam=self.client("iam"),
            discovery_url=self.issuer.discovery_url, default_audience=DEFAULT_AUDIENCE,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop every server and release its port; safe to call twice."""
        for server in self._servers:
            server.stop()
        self._servers = []
        if self._iam is not None:
            self._iam.stop()
            self._iam = None

    @property
    def page_size(self) -> int | None:
        """The gateways' `tools/list` page size (None before start, when left to the app's default)."""
        handlers = self._mcp_handlers()
        return int(handlers.page_size) if handlers is not None else self._page_size

    @page_size.setter
    def page_size(self, size: int) -> None:
        self._page_size = _checked_page_size(size)
        handlers = self._mcp_handlers()
        if handlers is not None:
            handlers.page_size = self._page_size
        elif self._gateway_app is not None:
            raise LabError("this lab's gateway app has no adjustable page size")

    def _mcp_handlers(self) -> Any:
        return getattr(getattr(self._gateway_app, "state", None), "mcp_handlers", None)

    # --- how to reach it ---------------------------------------------------------------------------

    def gateway_url(self, gateway_id: str) -> str:
        """The gateway's MCP endpoint; GetGateway's `gatewayUrl` is this too."""
        return f"{self.gateway_base_url}/{gateway_id}/mcp"

    def endpoint(self, service: str) -> str:
        """The lab URL for a boto3 service name; ValueError for a service the lab does not serve."""
        urls = {"bedrock-agentcore-control": self.control_url, "iam": self.iam_url, "sts": self.iam_url}
        if service not in urls:
            raise ValueError(f"the lab does not serve {service!r} (it serves {', '.join(urls)})")
        return urls[service]

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI and the probe at this lab."""
        return {
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL": self.control_url,
            "AWS_ENDPOINT_URL_IAM": self.iam_url,
            "AWS_ENDPOINT_URL_STS": self.iam_url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def boto3_session(self) -> Any:
        """A boto3 Session with the lab's placeholder credentials and region, blind to the caller's
        profile and config files (see `probe.lab.aws_session`)."""
        from probe.lab.aws_session import isolated_boto3_session

        return isolated_boto3_session(FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, self.region)

    def client(self, service: str) -> Any:
        """A boto3 client for one of the lab's services, already pointed at it."""
        session = self._session or self.boto3_session()
        return session.client(service, endpoint_url=self.endpoint(service), region_name=self.region)

    def seed(self, scenario: Any, *, environ: dict[str, str] | None = None) -> Any:
        """Seed from a `Scenario` or a scenario file path; returns `scenario.Seeded`.

        A scenario's `page_size`, when it sets one, becomes the lab's page size.
        """
        from probe.lab.scenario import Scenario, load_scenario, seed

        if not isinstance(scenario, Scenario):
            scenario = load_scenario(scenario)
        if scenario.page_size is not None:
            self.page_size = scenario.page_size
        return seed(scenario, self.console, add_client=self.issuer.add_client, environ=environ)


def _checked_page_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"page_size must be a whole number of at least 1, not {size!r}")
    return size


# --- agentcore-probe lab ------------------------------------------------------------------------------


READY = "Ready: run the commands above in a shell with the exports; Ctrl-C here stops the lab."
# The variables that would make boto3 (and so the probe's IAM check) use the caller's own identity.
CALLER_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def describe(lab: Lab, seeded: Any, source: str, secrets_dir: Path | None) -> str:
    """What `agentcore-probe lab` prints: where each part is and how to point tools at it (no secrets).

    Every gateway gets runnable commands: a `run` that lists its tools, calls that show its
    feature (a failing target, a permitted and a denied call, LOG_ONLY letting one through),
    each with the outcome it should show, and for a gateway with a policy engine the `iam
    check` of its role. All carry `--gateway-id` and `--region`: a lab URL is not an AWS
    gateway URL, so neither the IAM tie-in of `run` nor `iam check` could read them from it.
    """
    lines = [
        f"AgentCore lab on {HOST} (region {lab.region}, account {lab.account}); Ctrl-C stops it.",
        f"  control plane     {lab.control_url}",
        f"  gateways (MCP)    {lab.gateway_base_url}/<gatewayId>/mcp   (tools/list pages of {lab.page_size})",
        f"  OAuth2 tokens     {lab.token_url}",
        f"  IAM and STS       {lab.iam_url}",
        "",
        "Point boto3, the AWS CLI and agentcore-probe at it (placeholder credentials: no signature is checked):",
    ]
    lines += [f"  export {k}={shlex.quote(v)}" for k, v in lab.env().items()]
    lines.append(f"  unset {' '.join(CALLER_VARIABLES)}   # a profile would win over the placeholder keys")
    for client in seeded.clients:
        if client.generated and secrets_dir is not None:
            path = secrets_dir / f"{client.client_id}.secret"
            lines.append(f"  export {client.secret_env}=\"$(cat {shlex.quote(str(path))})\""
                         f"   # OAuth client {client.client_id}")
        else:
            lines.append(f"  # OAuth client {client.client_id}: secret from ${client.secret_env}")
    lines += ["", f"Seeded from {source} (each command ends with the outcome it shows):"]
    for name, g in seeded.gateways.items():
        lines += _gateway_lines(lab, name, g.gateway_id, seeded)
    lines += ["", READY]
    return "\n".join(lines)


def _gateway_lines(lab: Lab, name: str, gateway_id: str, seeded: Any) -> list[str]:
    from probe.lab import role_check
    from probe.lab.examples import examples

    spec = seeded.specs[name]
    with lab.state.lock:
        gateway = copy.deepcopy(lab.state.gateway(gateway_id))
        engine = lab.state.engine(gateway.policy_engine_arn) if gateway and gateway.policy_engine_arn else None
        policies = {p.policy_id: p.statement for p in engine.policies.values() if p.status == "ACTIVE"} \
            if engine else None
    if gateway is None:
        return [f"  {name}  ({gateway_id}: deleted since seeding)"]
    if spec.policy_engine:
        how = (f"engine {spec.policy_engine} attached from the {spec.attach_from} side, {spec.mode}"
               + ("; the console left its role as it was" if spec.attach_from == "policy" else ""))
    else:
        how = "no policy engine"
    where = f"--gateway-id {gateway_id} --region {lab.region}"
    lines = [f"  {name}  ({gateway_id}; {spec.authorizer}; {how})"]
    base = f"    agentcore-probe run {lab.gateway_url(gateway_id)} {where}"
    auth, principal = _auth(lab, spec, seeded)
    if principal is None:
        return [*lines, base + auth]
    missing = role_check.missing_for_gateway(gateway) if policies is not None else []
    for ex in examples(gateway, policies, principal, role_ok=not missing, page_size=lab.page_size or 1):
        call = f" --call {ex.tool} --args {shlex.quote(json.dumps(dict(ex.arguments)))}" if ex.tool else ""
        lines.append(f"{base}{auth}{call}   # {ex.expect}: {ex.why}")
    if policies is not None:
        verdict = (f"missing: {len(missing)} permissions the role needs to evaluate policies" if missing
                   else "ok: the role may evaluate policies")
        lines.append(f"    agentcore-probe iam check {where}   # {verdict}")
    return lines


def _auth(lab: Lab, spec: Any, seeded: Any) -> tuple[str, Any]:
    """The printed auth options, and the Cedar principal they make the caller (None: they cannot work)."""
    from probe.lab.cedar_model import Principal
    from probe.lab.gateway import ANONYMOUS, LAB_OPERATOR_ARN

    if spec.authorizer == "AWS_IAM":
        return " --sigv4", Principal.iam_entity(LAB_OPERATOR_ARN)  # the placeholder key is the lab operator
    if spec.authorizer not in ("CUSTOM_JWT", "AUTHENTICATE_ONLY"):
        return "", ANONYMOUS
    clients = [c for c in seeded.clients if not spec.allowed_clients or c.client_id in spec.allowed_clients]
    if not clients:
        return f" --oauth-token-url {lab.token_url}   # needs an OAuth client: add one to the scenario", None
    c = clients[0]
    claims = lab.issuer.verify(lab.issuer.issue(c.client_id))  # what the token endpoint will hand the probe
    return (f" --oauth-token-url {lab.token_url} --oauth-client-id {c.client_id}"
            f" --oauth-client-secret-env {c.secret_env}", Principal.oauth_user(claims))


def _write_secrets(seeded: Any, directory: Path) -> None:
    for client in seeded.clients:
        if client.generated:
            path = directory / f"{client.client_id}.secret"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(client.secret)


def lab_main(ns: argparse.Namespace) -> int:
    """`agentcore-probe lab [--port N] [--scenario FILE]`: start, seed, print, run until Ctrl-C.

    Exit 0 after an interrupt (SIGINT or SIGTERM), 2 when the lab's extras are missing, a
    port is taken, the scenario is bad or AWS tooling fails to set up (one line on stderr).
    """
    from probe.lab import LabExtrasMissing, require_lab_extras

    port = int(getattr(ns, "port", 0) or 0)
    path = getattr(ns, "scenario", None) or str(DEFAULT_SCENARIO)
    if port < 0 or port > 65533:
        return _fail(f"--port must be 0 (any free ports) or 1-65533, not {port}")
    try:
        require_lab_extras()
    except LabExtrasMissing as exc:
        return _fail(str(exc))
    from botocore.exceptions import BotoCoreError

    from probe.lab.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        return _fail(str(exc))
    from probe.lab.aws_session import lab_process_environment

    lab = Lab(port=port)
    try:
        with lab_process_environment(), tempfile.TemporaryDirectory(prefix="agentcore-lab-") as tmp:
            try:
                lab.start()
                seeded = lab.seed(scenario)
                _write_secrets(seeded, Path(tmp))
                text = describe(lab, seeded, path, Path(tmp))
            except (LabError, ScenarioError) as exc:
                return _fail(str(exc))
            except BotoCoreError as exc:
                return _fail(f"the lab's AWS clients failed: {_one_line(exc)}")
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            with contextlib.suppress(KeyboardInterrupt), _sigterm_as_interrupt():
                while True:
                    time.sleep(3600)
            sys.stdout.write("lab stopped\n")
            return 0
    finally:
        lab.stop()


def _fail(message: str) -> int:
    sys.stderr.write(f"agentcore-probe: error: {_one_line(message)}\n")
    return 2


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager, `kill`) stops the lab as cleanly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
