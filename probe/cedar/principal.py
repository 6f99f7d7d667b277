"""Who the probe is, as the gateway's policy engine sees it: the Cedar principal of its own credentials.

The gateway turns the caller into a Cedar principal: a JWT caller is an
`AgentCore::OAuthUser` whose id is the token's `sub` and whose tags are its claims, a
SigV4 caller an `AgentCore::IamEntity` named by its ARN. The probe knows its own
credentials, so it can rebuild that principal without asking anyone: the claims of its
token decoded *without verification* (the gateway verifies; the probe only reads what
the token says about itself), or its IAM identity from STS (`probe.cedar.read`).

No secret leaves this module: a token is read, decoded and dropped; only the claims
(which anyone holding the token can read) are returned.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import Any

from probe.cedar.model import OAUTH_USER, Principal

PRINCIPAL_FORMS = "oauth:SUB, iam:ARN or claims:@FILE (a JSON object of JWT claims)"


def unverified_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT (header.payload.signature) as a dict; None when the token is not a JWT.

    Unverified on purpose: the probe explains what the gateway would do with *this* token,
    and the gateway has already accepted it (or the run says why not).
    """
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return None
    return dict(claims) if isinstance(claims, dict) else None


def bearer_claims(env: str | None, path: str | None) -> dict[str, Any] | None:
    """The claims of the bearer token named by `--bearer-token-env` / `--bearer-token-file`.

    None when the token cannot be read or is not a JWT: the run's own auth step reports
    an unreadable token; here it only means the principal is not known.
    """
    token: str | None = None
    if env:
        token = os.environ.get(env)
    elif path:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read()
        except (OSError, UnicodeDecodeError):
            return None
    if not token:
        return None
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return unverified_claims(token)


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal | None:
    """An OAuthUser from JWT claims; None without a `sub` (the gateway's principal id)."""
    if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        return None
    return Principal.oauth_user(claims)


def parse_principal(text: str) -> Principal:
    """`--principal`: `oauth:SUB` (no claims known), `iam:ARN`, or `claims:@FILE`; ValueError otherwise."""
    kind, sep, value = text.partition(":")
    if not sep or not value:
        raise ValueError(f"--principal must be {PRINCIPAL_FORMS}")
    kind = kind.lower()
    if kind == "iam":
        if not value.startswith("arn:"):
            raise ValueError(f"--principal iam:ARN needs an ARN, not {value!r}")
        return Principal.iam_entity(value)
    if kind == "oauth":
        return Principal(OAUTH_USER, value)  # no claims known: a policy reading tags cannot be told
    if kind == "claims":
        if not value.startswith("@"):
            raise ValueError("--principal claims:@FILE reads the claims from a file: write claims:@path.json")
        try:
            with open(value[1:], encoding="utf-8") as f:
                doc = json.load(f)
        except OSError as exc:
            raise ValueError(f"cannot read {value[1:]}: {exc.strerror or type(exc).__name__}") from None
        except ValueError as exc:
            raise ValueError(f"{value[1:]} is not JSON: {exc}") from None
        principal = principal_from_claims(doc if isinstance(doc, dict) else None)
        if principal is None:
            raise ValueError(f"{value[1:]} must hold a JSON object of JWT claims with a string `sub`")
        return principal
    raise ValueError(f"--principal must be {PRINCIPAL_FORMS}, not {kind}:...")
