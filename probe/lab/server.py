"""The lab's servers on 127.0.0.1, in background threads of this process (`agentcore-probe lab` is `probe.cli.lab`).

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

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from probe.lab.state import LabState

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
FAKE_ACCESS_KEY_ID = "testing"  # placeholders: the lab verifies no signature, moto maps them to LAB_ACCOUNT
FAKE_SECRET_ACCESS_KEY = "testing"
SEEDS_DIR = Path(__file__).resolve().parent / "seeds"  # the seed files shipped with the lab
DEFAULT_SEED = SEEDS_DIR / "default.yaml"
_START_TIMEOUT_S = 10.0
# How long create/update/delete stay CREATING/UPDATING/DELETING (AWS takes seconds to minutes; the
# lab keeps the intermediate statuses but only for long enough that code which does not wait meets them).
DEFAULT_SETTLE_S = 0.05


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
    settable while the lab runs. `settle_s` is how long resources stay in CREATING, UPDATING
    or DELETING (`LabState.begin`); `iam_simulation=False` makes the IAM endpoint answer
    `SimulatePrincipalPolicy` as moto does (HTML 500), so the probe takes its offline path.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        state: LabState | None = None,
        gateway_app_factory: Callable[[LabState, Any], Any] | None = None,
        page_size: int | None = None,
        settle_s: float | None = None,
        iam_simulation: bool = True,
    ) -> None:
        self.state = state or LabState(settle_s=DEFAULT_SETTLE_S)
        if settle_s is not None:
            self.state.settle_s = settle_s
        self.state.iam_simulation = iam_simulation
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
        state = self.state
        self._iam = IamServer(socks[2], simulation_enabled=lambda: state.iam_simulation)
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

    def seed(self, spec: Any, *, environ: dict[str, str] | None = None) -> Any:
        """Seed from a `probe.lab.seed.Seed` or a seed file path; returns `probe.lab.seed.Seeded`.

        A seed's `page_size` and `iam_simulation`, when it sets them, become the lab's.
        """
        from probe.lab.seed import Seed, load_seed, seed

        if not isinstance(spec, Seed):
            spec = load_seed(spec)
        if spec.page_size is not None:
            self.page_size = spec.page_size
        if spec.iam_simulation is not None:
            self.state.iam_simulation = spec.iam_simulation
        return seed(spec, self.console, add_client=self.issuer.add_client, environ=environ)


def _checked_page_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"page_size must be a whole number of at least 1, not {size!r}")
    return size
