"""Inbound auth for the probe's MCP requests: bearer, OAuth2 client credentials, SigV4.

Secrets never come from the command line (it lands in shell history and `ps`): the
options name an environment variable or a file, and every secret the probe reads or
receives is registered with the run's `Redactor` the moment it is known. A bad option
is an operator error, reported as one `AuthConfigError` line without the secret.

boto3/botocore are imported only when SigV4 is chosen: they cost a noticeable share of
a bearer-token run's start-up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote, urlencode, urlsplit

import httpx2

from probe.exchange import Recorder
from probe.outcome import Exchange, Outcome
from probe.redact import Redactor
from probe.spec import AuthConfig, connected_host, is_loopback_host, origin, parse_gateway_url

SIGV4_SERVICE = "bedrock-agentcore"
TOKEN_BODY_CAP = 64 * 1024  # a token response is a few hundred bytes; more is not a token response
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: anything else breaks or smuggles a header
# Headers the signer sets itself; stale copies from an earlier attempt must not be signed.
_SIGV4_OWN = ("authorization", "x-amz-date", "x-amz-security-token")


class AuthConfigError(Exception):
    """The auth options cannot work; the message is one line, safe to print."""


@dataclass(frozen=True)
class TokenFetch:
    """The token request's verdict and its record (redacted: neither secret nor token)."""

    ok: bool
    exchange: Exchange
    outcome: Outcome
    message: str | None = None
    token: str | None = field(default=None, repr=False)  # never printed: handed to the auth object
    expires_in: float | None = None


class BearerAuth(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth(token=[REDACTED])"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentials:
    """The OAuth2 client-credentials grant (RFC 6749 4.4), client_secret_basic.

    A token is fetched once and reused by every request of the probes that share it (the
    engine caches it per grant until shortly before `expires_in`): a fetch per request or
    per watch cycle would load the identity provider for nothing. A failed fetch may be
    repeated (the retry policy decides).
    """

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, scope: str | None, redactor: Redactor,
        resource: str | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self.resource = resource
        self._redactor = redactor
        # RFC 6749 2.3.1: both parts are form-encoded before they are joined and base64-encoded.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        self._basic = base64.b64encode(pair).decode()
        self.basic_digest = hashlib.sha256(pair).hexdigest()  # tells grants apart without holding the secret
        redactor.add(client_secret)
        redactor.add(self._basic)
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    @property
    def token(self) -> str | None:
        return self._token

    async def fetch(self, recorder: Recorder, timeout: float, attempt: int = 1) -> TokenFetch:
        """One token request through the run's recorder (bounded, recorded, redacted like any other)."""
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.resource:
            form["resource"] = self.resource
        headers = {
            "authorization": f"Basic {self._basic}",
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        }
        posted = await recorder.send(self.token_url, content=urlencode(form), headers=headers, timeout=timeout,
                                     attempt=attempt, cap=TOKEN_BODY_CAP)
        raw = posted.raw
        outcome, message, token, expires_in = self._judge(raw.status, raw.body, raw.error, raw.error_message)
        record = recorder.redact(raw)  # after _judge: the issued token is now a known secret
        if outcome is Outcome.OK:
            self._token = token
        return TokenFetch(outcome is Outcome.OK, record, outcome, message, token, expires_in)

    def use(self, token: str) -> None:
        """Take a token fetched earlier (a cache shared by the probes of one target, or watch cycles)."""
        self._redactor.add(token)
        self._token = token

    def _judge(
        self, status: int | None, text: str, error: str | None, error_message: str | None
    ) -> tuple[Outcome, str | None, str | None, float | None]:
        """Decide the fetch, registering any token with the redactor before it is recorded."""
        if status is None:
            return Outcome.TRANSPORT_ERROR, f"token endpoint unreachable ({error}): {error_message}", None, None
        data = _json_object(text)
        if 200 <= status < 300:
            if data is None:
                return (Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status} without a JSON object",
                        None, None)
            for name in ("access_token", "refresh_token", "id_token"):
                if isinstance(data.get(name), str):
                    self._redactor.add(data[name])
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                return (Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status} without an access_token",
                        None, None)
            if not _TOKEN_CHARS.fullmatch(token):
                return Outcome.PROTOCOL_ERROR, "the access_token holds characters a header cannot carry", None, None
            token_type = data.get("token_type")
            if isinstance(token_type, str) and token_type.lower() != "bearer":
                return Outcome.PROTOCOL_ERROR, (
                    f"token endpoint issued a {_one_line(token_type)[:40]!r} token; only bearer tokens are supported"
                ), None, None
            expires = data.get("expires_in")
            lifetime = float(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) \
                and 0 < expires < 10**9 else None
            return Outcome.OK, None, token, lifetime
        if status == 429:
            return Outcome.THROTTLED, "token endpoint throttled the request (HTTP 429)", None, None
        if status in (404, 405) or (300 <= status < 400):
            # Not the client being refused: nothing that issues tokens answers at that URL.
            return (Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status}: no token endpoint at "
                    f"{self._redactor.url(self.token_url)}", None, None)
        if 400 <= status < 500:
            if data is None or not isinstance(data.get("error"), str):
                return (Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status} without an OAuth error: "
                        f"is {self._redactor.url(self.token_url)} a token endpoint?", None, None)
            return Outcome.AUTH_FAILED, self._oauth_error(status, data), None, None
        if status >= 500:
            return Outcome.SERVER_ERROR, f"token endpoint answered HTTP {status}", None, None
        return Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status}, not a token response", None, None

    def _oauth_error(self, status: int, data: dict[str, Any] | None) -> str:
        """The endpoint's own words (RFC 6749 5.2), which usually name the fix."""
        words = [
            _one_line(self._redactor.text(v))
            for k in ("error", "error_description")
            if data is not None and isinstance(v := data.get(k), str) and v.strip()
        ]
        if not words:
            return f"token endpoint answered HTTP {status}"
        return f"token endpoint answered HTTP {status}: " + ": ".join(words)[:300]


class ClientCredentialsAuth(httpx2.Auth):
    """Bearer auth with the token the grant fetched; using it before the fetch is a bug."""

    def __init__(self, grant: ClientCredentials) -> None:
        self._grant = grant

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth({self._grant!r})"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        token = self._grant.token
        if token is None:
            raise RuntimeError("fetch_token() must succeed before an OAuth-authenticated request")
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class SigV4Auth(httpx2.Auth):
    """Signs each request with botocore's SigV4 signer, after httpx2 set every header.

    httpx2 adds nothing between the auth flow and the wire (host, content-length and the
    rest are already on the request), so what is signed is what is sent. Credentials are
    frozen per request: refreshable ones (SSO, assume-role, credential_process) renew
    themselves, and each new secret is registered with the redactor before it is used.
    """

    requires_request_body = True

    def __init__(self, credentials: Any, region: str, redactor: Redactor, service: str = SIGV4_SERVICE) -> None:
        self._credentials = credentials
        self.region = region
        self.service = service
        self._redactor = redactor

    def __repr__(self) -> str:
        return f"SigV4Auth(service={self.service!r}, region={self.region!r})"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx2.Request) -> None:
        from botocore.auth import SigV4Auth as BotocoreSigV4
        from botocore.awsrequest import AWSRequest

        frozen = _frozen_credentials(self._credentials, self._redactor)
        for name in _SIGV4_OWN:
            if name in request.headers:
                del request.headers[name]
        # The canonical query is built from decoded pairs (botocore re-encodes them
        # strictly); the raw query as httpx2 wrote it may leave `/` or `:` unencoded.
        query = request.url.query.decode("ascii")
        params = [_query_pair(item) for item in query.split("&") if item]
        aws = AWSRequest(
            method=request.method,
            url=str(request.url.copy_with(query=None)),
            headers=dict(request.headers.items()),
            data=request.content,
            params=params,
        )
        BotocoreSigV4(frozen, self.service, self.region).add_auth(aws)
        for name in _SIGV4_OWN:
            value = aws.headers.get(name)
            if value is not None:
                request.headers[name] = value


class AuthPlan:
    """How the run authenticates its MCP requests; its repr names the mode, never a secret."""

    def __init__(self, mode: str, httpx_auth: httpx2.Auth | None, grant: ClientCredentials | None = None) -> None:
        self.mode = mode
        self.httpx_auth = httpx_auth
        self.grant = grant

    def __repr__(self) -> str:
        return f"AuthPlan(mode={self.mode!r}, httpx_auth={self.httpx_auth!r})"

    @property
    def needs_token(self) -> bool:
        """True when a token must be fetched (or taken from the cache) before the first MCP request."""
        return self.grant is not None

    @property
    def cache_key(self) -> tuple[str, ...] | None:
        """What identifies the grant's token across probes: endpoint, client, scope, resource."""
        g = self.grant
        return None if g is None else (g.token_url, g.client_id, g.scope or "", g.resource or "", g.basic_digest)


def build_auth(cfg: AuthConfig, redactor: Redactor, *, url: str, connect_to: str | None = None) -> AuthPlan:
    """Read the secrets the config names and build the plan, or say in one line why not.

    `url` is the MCP endpoint: a secret is never sent in clear text to a host that is not
    this machine (the host really connected to: `connect_to` reroutes the endpoint's own
    origin), and a SigV4 region is read from an AgentCore gateway URL when not given.
    """
    route = (url, connect_to)
    _one_mode(cfg)
    if cfg.bearer_token_env or cfg.bearer_token_file:
        _require_private_channel(url, "the MCP URL", route)
        token = _bearer_token(cfg)
        redactor.add(token)
        return AuthPlan("bearer", BearerAuth(token))
    if _oauth_options(cfg):
        return _build_oauth(cfg, redactor, route)
    if cfg.sigv4:
        return _build_sigv4(cfg, redactor, url)
    return AuthPlan("none", None)


def region_from_url(url: str) -> str | None:
    """`us-east-1` from `https://ID.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp`."""
    parsed = parse_gateway_url(url)
    return parsed[1] if parsed else None


def _oauth_options(cfg: AuthConfig) -> list[str]:
    pairs = [
        ("--oauth-token-url", cfg.oauth_token_url),
        ("--oauth-client-id", cfg.oauth_client_id),
        ("--oauth-client-secret-env", cfg.oauth_client_secret_env),
        ("--oauth-scope", cfg.oauth_scope),
        ("--oauth-resource", cfg.oauth_resource),
        ("--oauth-discover", cfg.oauth_discover),
    ]
    return [flag for flag, value in pairs if value]


def _one_mode(cfg: AuthConfig) -> None:
    chosen = [flag for flag, on in (("--bearer-token-env", cfg.bearer_token_env),
                                    ("--bearer-token-file", cfg.bearer_token_file)) if on]
    chosen += _oauth_options(cfg)[:1]
    if cfg.sigv4:
        chosen.append("--sigv4")
    if len(chosen) > 1:
        raise AuthConfigError(f"choose one inbound auth mode: got {' and '.join(chosen)}")


def _bearer_token(cfg: AuthConfig) -> str:
    if cfg.bearer_token_env:
        token = _env_secret(cfg.bearer_token_env, "--bearer-token-env")
        where = f"environment variable {cfg.bearer_token_env}"
    else:
        path = cfg.bearer_token_file or ""
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise AuthConfigError(
                f"cannot read bearer token file {path}: {exc.strerror or type(exc).__name__}"
            ) from None
        except UnicodeDecodeError:
            raise AuthConfigError(f"bearer token file {path} is not UTF-8 text") from None
        if not token:
            raise AuthConfigError(f"bearer token file {path} is empty")
        where = f"bearer token file {path}"
    if token.lower().startswith("bearer "):
        token = token[7:].strip()  # a pasted header value: the scheme is ours to add
    if not _TOKEN_CHARS.fullmatch(token):
        raise AuthConfigError(f"the token in {where} contains spaces or characters a header cannot carry")
    return token


def _env_secret(name: str, flag: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise AuthConfigError(f"environment variable {name} (from {flag}) is not set")
    value = value.strip()
    if not value:
        raise AuthConfigError(f"environment variable {name} (from {flag}) is empty")
    return value


def _build_oauth(cfg: AuthConfig, redactor: Redactor, route: tuple[str, str | None]) -> AuthPlan:
    missing = [
        flag for flag, value in (
            ("--oauth-token-url", cfg.oauth_token_url or cfg.oauth_discover),
            ("--oauth-client-id", cfg.oauth_client_id),
            ("--oauth-client-secret-env", cfg.oauth_client_secret_env),
        ) if not value
    ]
    if missing:
        raise AuthConfigError(f"OAuth client credentials also need {', '.join(missing)}")
    url = route[0]
    token_url = cfg.oauth_token_url or ""
    if token_url:
        check_token_url(token_url, "--oauth-token-url", route)
        redactor.add_url_secrets(token_url)  # its query values are secrets of the run too
    _require_private_channel(url, "the MCP URL", route)
    secret = _env_secret(cfg.oauth_client_secret_env or "", "--oauth-client-secret-env")
    grant = ClientCredentials(token_url, cfg.oauth_client_id or "", secret, cfg.oauth_scope, redactor,
                              resource=cfg.oauth_resource)
    return AuthPlan("oauth2_client_credentials", ClientCredentialsAuth(grant), grant)


def check_token_url(token_url: str, what: str, route: tuple[str, str | None] = ("", None)) -> None:
    """An http(s) token endpoint, and never one that would carry the client secret in clear text."""
    parts = urlsplit(token_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthConfigError(f"{what} must be an http(s) URL")
    _require_private_channel(token_url, what, route)


def _build_sigv4(cfg: AuthConfig, redactor: Redactor, url: str) -> AuthPlan:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
    except ImportError:
        raise AuthConfigError("--sigv4 needs boto3, which is not installed") from None
    try:
        session = boto3.Session(profile_name=cfg.profile)
        credentials = session.get_credentials()
    except ProfileNotFound:
        raise AuthConfigError(f"AWS profile {cfg.profile!r} not found") from None
    except (BotoCoreError, ClientError) as exc:
        raise AuthConfigError(f"cannot load AWS credentials: {_one_line(redactor.text(str(exc)))}") from None
    if credentials is None:
        where = f"profile {cfg.profile!r}" if cfg.profile else "the standard chain"
        raise AuthConfigError(
            f"--sigv4: no AWS credentials found in {where} (environment, config files, SSO, role)"
        )
    _frozen_credentials(credentials, redactor)  # fail now, not on the first request
    region = cfg.region or region_from_url(url) or session.region_name
    if not region:
        raise AuthConfigError("--sigv4 needs a region: pass --region (none could be read from the URL)")
    return AuthPlan("sigv4", SigV4Auth(credentials, region, redactor))


def _frozen_credentials(credentials: Any, redactor: Redactor) -> Any:
    """A consistent (key, secret, token) triple, registered as secret before any use."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        frozen = credentials.get_frozen_credentials()
    except (BotoCoreError, ClientError) as exc:
        raise AuthConfigError(f"cannot load AWS credentials: {_one_line(redactor.text(str(exc)))}") from None
    for value in (frozen.access_key, frozen.secret_key, frozen.token):
        redactor.add(value)
    if not frozen.access_key or not frozen.secret_key:
        raise AuthConfigError("--sigv4: the AWS credentials found are incomplete")
    return frozen


def _require_private_channel(url: str, what: str, route: tuple[str, str | None] = ("", None)) -> None:
    """Refuse to send a credential in clear text anywhere but this machine: judged on the host really
    connected to (`--connect-to` reroutes the MCP endpoint's origin, and only that)."""
    if urlsplit(url).scheme.lower() != "http":
        return
    host = connected_host(url, route[0] or url, route[1])
    if is_loopback_host(host):
        return
    via = f" (through --connect-to {route[1]})" if host != origin(url)[1] else ""
    raise AuthConfigError(f"{what} is plain http to {host or 'an unknown host'}{via}: credentials need https")


def _query_pair(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return unquote(name), unquote(value)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
