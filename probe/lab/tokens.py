"""The lab's OAuth2 authorization server: client credentials in, short-lived JWTs out.

Stands in for the Cognito user pool a CUSTOM_JWT gateway trusts. Tokens are RS256 so a
verifier needs only the public JWKS (as with a real IdP); the key is generated per
issuer, so tokens never outlive the lab that minted them. The token endpoint follows
RFC 6749 section 4.4 (client_secret_basic and client_secret_post) and answers its
errors in the RFC's JSON shape.

Secrets never leave this module: error messages name what was wrong, never the value.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEFAULT_AUDIENCE = "agentcore-lab"
DEFAULT_SCOPES: tuple[str, ...] = ("lab/invoke",)
DEFAULT_CLIENT_ID = "lab-client"
TOKEN_PATH = "/oauth2/token"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/.well-known/jwks.json"


class TokenError(Exception):
    """A token failed verification; `reason` is safe to log (never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    audience: str = DEFAULT_AUDIENCE
    claims: Mapping[str, Any] = field(default_factory=dict)


class TokenIssuer:
    """Registers OAuth clients, mints JWTs for them and verifies JWTs it minted.

    `issuer_url` is the base URL the lab app is served at (the token endpoint is
    `{issuer_url}/oauth2/token`); it may be assigned after construction, once the
    lab knows its port, but tokens minted before carry the old `iss`.
    """

    def __init__(self, issuer_url: str, *, ttl_s: int = 3600, kid: str | None = None) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.ttl_s = ttl_s
        self.kid = kid or uuid.uuid4().hex[:16]
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._clients: dict[str, OAuthClient] = {}
        self.default_client = self.add_client(DEFAULT_CLIENT_ID, secrets.token_urlsafe(24))

    @property
    def token_url(self) -> str:
        return f"{self.issuer_url}{TOKEN_PATH}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer_url}{DISCOVERY_PATH}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer_url}{JWKS_PATH}"

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        audience: str = DEFAULT_AUDIENCE,
    ) -> OAuthClient:
        """Register (or replace) a confidential client; `claims` are added to its tokens."""
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret must be non-empty")
        client = OAuthClient(client_id, client_secret, tuple(scopes), audience, dict(claims or {}))
        self._clients[client_id] = client
        return client

    def client(self, client_id: str) -> OAuthClient | None:
        return self._clients.get(client_id)

    def issue(
        self,
        client_id: str,
        *,
        scopes: Iterable[str] | None = None,
        audience: str | None = None,
        ttl_s: int | None = None,
        now: float | None = None,
    ) -> str:
        """Mint a token for a registered client (tests use `ttl_s`/`now` for expired tokens)."""
        client = self._clients.get(client_id)
        if client is None:
            raise KeyError(f"unknown OAuth client {client_id!r}")
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = dict(client.claims)
        claims.update(
            {
                "iss": self.issuer_url,
                "sub": client.client_id,
                "client_id": client.client_id,
                "aud": audience or client.audience,
                "scope": " ".join(client.scopes if scopes is None else scopes),
                "token_use": "access",
                "iat": issued,
                "exp": issued + (self.ttl_s if ttl_s is None else ttl_s),
                "jti": uuid.uuid4().hex,
            }
        )
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The token's claims if its signature, issuer and expiry hold; else TokenError.

        Audience and client checks are the gateway's (they depend on its authorizer
        configuration), so they are not done here.
        """
        options: dict[str, Any] = {"verify_aud": False, "require": ["exp", "iss", "sub"]}
        if now is not None:
            options["verify_exp"] = False
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], issuer=self.issuer_url, options=options
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token issuer not trusted") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise TokenError("token malformed") from None
        if now is not None and float(claims["exp"]) <= now:
            raise TokenError("token expired")
        return claims

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_url,
            "token_endpoint": self.token_url,
            "jwks_uri": self.jwks_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "scopes_supported": sorted({s for c in self._clients.values() for s in c.scopes}),
        }

    def routes(self) -> list[Route]:
        return [
            Route(TOKEN_PATH, self.token_endpoint, methods=["POST"]),
            Route(DISCOVERY_PATH, self._discovery_endpoint, methods=["GET"]),
            Route(JWKS_PATH, self._jwks_endpoint, methods=["GET"]),
        ]

    async def token_endpoint(self, request: Request) -> Response:
        """RFC 6749 4.4: `grant_type=client_credentials`, client authenticated by secret."""
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        basic = _basic_credentials(request.headers.get("authorization"))
        client_id, client_secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        client = self._clients.get(client_id or "")
        if client is None or not client_secret or not hmac.compare_digest(client.client_secret, client_secret):
            headers = {"WWW-Authenticate": 'Basic realm="agentcore-lab"'} if basic else {}
            return _oauth_error(401, "invalid_client", "client authentication failed", headers)
        grant_type = form.get("grant_type")
        if not grant_type:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
        requested = form.get("scope", "").split()
        if any(s not in client.scopes for s in requested):
            return _oauth_error(400, "invalid_scope", "a requested scope is not allowed for this client")
        scopes = requested or list(client.scopes)
        token = self.issue(client.client_id, scopes=scopes, audience=form.get("audience") or None)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_s, "scope": " ".join(scopes)}
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _discovery_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.openid_configuration())

    async def _jwks_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.jwks())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """client_secret_basic: RFC 6749 2.3.1 form-urlencodes id and secret before base64."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id.replace("+", " ")), unquote(client_secret.replace("+", " "))


def _oauth_error(status: int, error: str, description: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})
