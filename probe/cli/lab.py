"""`agentcore-probe lab`: start the lab, seed it, print how to reach it, run until Ctrl-C.

The command-line half of the lab (argparse namespace in, text out); the lab itself is
`probe.lab.server.Lab`, which knows nothing of printing. Everything heavy is imported
inside `lab_main`, so the CLI stays fast to start.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from probe.lab.server import DEFAULT_SEED, HOST, Lab, LabError

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
    from probe.cedar.model import EnginePolicy, enforced_statements
    from probe.lab import role_check
    from probe.lab.examples import examples

    spec = seeded.specs[name]
    with lab.state.lock:
        gateway = copy.deepcopy(lab.state.gateway(gateway_id))
        engine = lab.state.engine(gateway.policy_engine_arn) if gateway and gateway.policy_engine_arn else None
        policies = enforced_statements([EnginePolicy(p.policy_id, p.name, p.statement, p.status, p.enforcement_mode)
                                        for p in engine.policies.values()]) if engine else None
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
    lambda_denied = frozenset(t.name for t in gateway.targets if t.lambda_arn and not role_check.role_allows(
        gateway.role_arn, "lambda:InvokeFunction", t.lambda_arn))
    # What the probe's own diagnosis knows of its principal: nothing when the command sends no credentials.
    probe_principal = None if spec.authorizer == "NONE" else principal
    for ex in examples(gateway, policies, principal, role_ok=not missing, page_size=lab.page_size or 1,
                       lambda_denied=lambda_denied, probe_principal=probe_principal):
        call = f" --call {ex.tool} --args {shlex.quote(json.dumps(dict(ex.arguments)))}" if ex.tool else ""
        lines.append(f"{base}{auth}{call}   # {ex.expect}: {ex.why}")
    if policies is not None:
        verdict = (f"missing: {len(missing)} permissions the role needs to evaluate policies" if missing
                   else "ok: the role may evaluate policies")
        lines.append(f"    agentcore-probe iam check {where}   # {verdict}")
    return lines


def _auth(lab: Lab, spec: Any, seeded: Any) -> tuple[str, Any]:
    """The printed auth options, and the Cedar principal they make the caller (None: they cannot work)."""
    from probe.cedar.model import Principal
    from probe.lab.gateway import ANONYMOUS, LAB_OPERATOR_ARN

    if spec.authorizer == "AWS_IAM":
        return " --sigv4", Principal.iam_entity(LAB_OPERATOR_ARN)  # the placeholder key is the lab operator
    if spec.authorizer not in ("CUSTOM_JWT", "AUTHENTICATE_ONLY"):
        return "", ANONYMOUS
    clients = [c for c in seeded.clients if not spec.allowed_clients or c.client_id in spec.allowed_clients]
    if not clients:
        return f" --oauth-token-url {lab.token_url}   # needs an OAuth client: add one to the seed", None
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
    """`agentcore-probe lab [--port N] [--seed FILE]`: start, seed, print, run until Ctrl-C.

    Exit 0 after an interrupt (SIGINT or SIGTERM), 2 when the lab's extras are missing, a
    port is taken, the seed file is bad or AWS tooling fails to set up (one line on stderr).
    `--scenario FILE`, the deprecated spelling of `--seed FILE`, lands in `ns.seed` too.
    """
    from probe.lab import LabExtrasMissing, require_lab_extras

    port = int(getattr(ns, "port", 0) or 0)
    path = getattr(ns, "seed", None)
    if port < 0 or port > 65533:
        return _fail(f"--port must be 0 (any free ports) or 1-65533, not {port}")
    try:
        require_lab_extras()
    except LabExtrasMissing as exc:
        return _fail(str(exc))
    from botocore.exceptions import BotoCoreError

    from probe.lab.seed import SeedError, load_seed

    path = path or str(DEFAULT_SEED)
    try:
        spec = load_seed(path)
    except SeedError as exc:
        return _fail(str(exc))
    from probe.lab.aws_session import lab_process_environment

    lab = Lab(port=port)
    try:
        with lab_process_environment(), tempfile.TemporaryDirectory(prefix="agentcore-lab-") as tmp:
            try:
                lab.start()
                seeded = lab.seed(spec)
                _write_secrets(seeded, Path(tmp))
                text = describe(lab, seeded, path, Path(tmp))
            except (LabError, SeedError) as exc:
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
