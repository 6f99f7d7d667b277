"""IAM and STS for the lab: moto's server, in this process, on a loopback socket.

Roles and their policies are read and edited with boto3 or the AWS CLI exactly as on
AWS (`AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_STS`). moto's server-mode backends are
the module-level `BackendDict`s of this very process, so `iam_backend()` hands other lab
code (the gateways' role check) the same objects the HTTP API writes: an inline policy
put with boto3 is visible to the next `tools/call` with no copy and no delay.

What moto does NOT do (checked with moto 5.2.5): `SimulatePrincipalPolicy` and
`SimulateCustomPolicy` are unimplemented; its server answers HTTP 500 with an HTML page
(werkzeug's "Internal Server Error"), which boto3 surfaces as
`botocore.parsers.ResponseParserError`. The lab answers `SimulatePrincipalPolicy` itself
(`probe.lab.simulate`, from moto's IAM state) in front of moto, so a probe takes its
simulate path as on AWS. With the simulation switched off (`simulation_enabled()`
false: `Lab(iam_simulation=False)` or a seed's `iam_simulation: false`) moto's HTML 500
comes back, which is what a probe meets on AWS when the caller lacks
`iam:SimulatePrincipalPolicy` and must fall back to evaluating the documents itself.

Caveat for tests: `moto.mock_aws()` resets these same backends when it starts and stops
and, while active, intercepts every botocore request (the lab's control plane
included). Do not combine it with a running lab in one test.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from probe.lab.state import LAB_ACCOUNT

log = logging.getLogger(__name__)


def iam_backend(account: str = LAB_ACCOUNT) -> Any:
    """moto's IAM backend for `account` (IAM is global: one backend per account).

    Returns `moto.iam.models.IAMBackend`; its `roles` map role ids to `Role` objects whose
    `name`, `arn`, `policies` (inline: name -> JSON text), `managed_policies` (ARN ->
    `ManagedPolicy`: the version in `versions` whose `version_id` is `default_version_id`
    holds the `document`) and
    `permissions_boundary_arn` are what a role check reads. Call it each time rather than
    keeping the result: `reset_iam()` replaces the backend objects.
    """
    from moto.iam.models import iam_backends

    return iam_backends[account]["global"]


def find_role(name_or_arn: str, account: str = LAB_ACCOUNT) -> Any | None:
    """The moto `Role` with this name or ARN, or None."""
    name = name_or_arn.rsplit("/", 1)[-1]
    for role in list(iam_backend(account).roles.values()):
        if role.name == name:
            return role
    return None


def reset_iam() -> None:
    """Forget every IAM and STS resource, as a fresh AWS account would have none.

    moto resets all its backends at once (`BackendDict.reset` is class-wide), so any other
    moto state in this process goes too.
    """
    from moto.iam.models import iam_backends

    iam_backends.reset()


def _quiet_handler() -> type:
    """moto's request handler with werkzeug's per-request and traceback logging sent to DEBUG."""
    from moto.server import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc,valid-type]
        def log(self, type: str, message: str, *args: Any) -> None:
            log.debug("moto %s: " + message, type, *args)

    return QuietHandler


class IamServer:
    """moto's server app (IAM, STS and the rest) on an already-bound listening socket.

    The caller binds the socket, so a port in use fails at bind time in the caller's
    thread with a plain OSError, instead of werkzeug's `sys.exit(1)` inside a thread.
    """

    def __init__(self, sock: socket.socket, simulation_enabled: Callable[[], bool] = lambda: True) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self._sock = sock
        app = _Simulation(DomainDispatcherApplication(create_backend_app), simulation_enabled)
        self._server = make_server(
            "127.0.0.1", sock.getsockname()[1], app, threaded=True, request_handler=_quiet_handler(),
            fd=sock.fileno(),
        )
        self._server.daemon_threads = True
        # werkzeug reports an unimplemented action (SimulatePrincipalPolicy) with a traceback through
        # the server's own log, not the handler's: the lab answers 500 as moto does, quietly.
        self._server.log = lambda type, message, *args: log.debug("moto %s: " + message, type, *args)  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="lab-iam", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._sock.close()


class _Simulation:
    """WSGI in front of moto: `Action=SimulatePrincipalPolicy` is answered by the lab, the rest by moto."""

    def __init__(self, moto_app: Any, enabled: Callable[[], bool]) -> None:
        self.moto_app = moto_app
        self.enabled = enabled

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and self.enabled():
            try:
                size = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                size = 0
            body = environ["wsgi.input"].read(size) if size > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again when the call is not ours
            params = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            if params.get("Action", [""])[-1] == "SimulatePrincipalPolicy":
                from probe.lab.simulate import handle_query

                status, xml = handle_query(params, iam_backend())
                payload = xml.encode()
                reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
                start_response(f"{status} {reason}", [("Content-Type", "text/xml"),
                                                      ("Content-Length", str(len(payload)))])
                return [payload]
        return self.moto_app(environ, start_response)  # type: ignore[no-any-return]
