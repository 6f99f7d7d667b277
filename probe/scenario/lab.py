"""`--lab`: run a scenario against the embedded lab, seeded from the file's `lab:` section.

The section is the lab's own seed format (`probe.lab.seed`); without one the default seed
(the incident) is used. Every gateway of the file whose name is a seeded gateway is
pointed at it: its URL, id and region, and the auth the lab's gateway wants (the OAuth
client the seed made, SigV4 for AWS_IAM, none otherwise). The lab's OAuth client secrets
are put into this process's environment under the seed's `secret_env` names, so the
probe reads them as it would a real one; everything is restored when the lab stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from probe.spec import AuthConfig


class LabStartError(RuntimeError):
    """The lab cannot start or cannot be seeded; the message is one line."""


@contextlib.contextmanager
def scenario_lab(section: Mapping[str, Any] | None, source: str = "lab") -> Iterator[dict[str, dict[str, Any]]]:
    """Start and seed a lab; yields the gateway overrides for `probe.scenario.load(overrides=...)`."""
    from probe.lab import LabExtrasMissing, require_lab_extras

    try:
        require_lab_extras()
    except LabExtrasMissing as exc:
        raise LabStartError(str(exc)) from None
    from botocore.exceptions import BotoCoreError

    from probe.lab.aws_session import lab_process_environment
    from probe.lab.seed import SeedError, load_seed, parse_seed
    from probe.lab.server import DEFAULT_SEED, Lab, LabError

    try:
        spec = parse_seed(dict(section), source) if section is not None else load_seed(DEFAULT_SEED)
    except SeedError as exc:
        raise LabStartError(str(exc)) from None
    with lab_process_environment() as put:
        lab = Lab()
        try:
            try:
                lab.start()
                put(lab.env())
                seeded = lab.seed(spec)
            except (LabError, SeedError) as exc:
                raise LabStartError(" ".join(str(exc).split())) from None
            except BotoCoreError as exc:
                raise LabStartError(f"the lab's AWS clients failed: {' '.join(str(exc).split())}") from None
            put({c.secret_env: c.secret for c in seeded.clients})
            yield {name: {"url": lab.gateway_url(g.gateway_id), "gateway_id": g.gateway_id, "region": lab.region,
                          "auth": lab_auth(lab, seeded.specs[name], seeded)}
                   for name, g in seeded.gateways.items()}
        finally:
            lab.stop()


def lab_auth(lab: Any, spec: Any, seeded: Any) -> AuthConfig:
    """The auth a seeded gateway wants, as references (the secret is in the environment)."""
    if spec.authorizer == "AWS_IAM":
        return AuthConfig(sigv4=True, region=lab.region)
    if spec.authorizer not in ("CUSTOM_JWT", "AUTHENTICATE_ONLY"):
        return AuthConfig()
    clients = [c for c in seeded.clients if not spec.allowed_clients or c.client_id in spec.allowed_clients]
    if not clients:
        return AuthConfig()  # the gateway will refuse: the seed gave it no client (auth_failed shows it)
    c = clients[0]
    return AuthConfig(oauth_token_url=lab.token_url, oauth_client_id=c.client_id, oauth_client_secret_env=c.secret_env)
