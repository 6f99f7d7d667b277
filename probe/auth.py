"""Inbound auth for the probe's MCP requests: bearer, OAuth2 client credentials, SigV4.

Secrets never come from the command line (it lands in shell history and `ps`): the
options name an environment variable or a file, and every secret the probe reads or
receives is registered with the run's `Redactor` the moment it is known. A bad option
is an operator error, reported as one `AuthConfigError` line without the secret.

boto3/botocore are imported only when SigV4 is chosen: they cost a noticeable share of
a bearer-token run's start-up.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import re
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote, urlencode, urlsplit

import httpx2

from probe.exchange import KEPT_HEADERS, _error_kind
from probe.outcome import Exchange, Outcome
from probe.redact import Redactor

SIGV4_SERVICE = "bedrock-agentcore"
TOKEN_BODY_CAP = 64 * 1024  # a token response is a few hundred bytes; more is not a token response
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: anything else breaks or smuggles a header
_GATEWAY_REGION = re.compile(r"\.bedrock-agentcore\.([a-z0-9-]+)\.amazonaws\.com$")
# Headers the signer sets itself; stale copies from an earlier attempt must not be signed.
_SIGV4_OWN = ("authorization", "x-amz-date", "x-amz-security-token")


class AuthConfigError(Exception):
    """The auth options cannot work; the message is one line, safe to print."""


@dataclass(frozen=True)
class AuthConfig:
    """What the operator asked for. Holds names and paths only, never a secret value."""

    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret_env: str | None = None
    oauth_scope: str | None = None
    sigv4: bool = False
    region: str | None = None
    profile: str | None = None


def auth_config_from_args(ns: argparse.Namespace) -> AuthConfig:
    def opt(name: str) -> str | None:
        value = getattr(ns, name, None)
        return value if value not in ("", None) else None

    return AuthConfig(
        bearer_token_env=opt("bearer_token_env"),
        bearer_token_file=opt("bearer_token_file"),
        oauth_token_url=opt("oauth_token_url"),
        oauth_client_id=opt("oauth_client_id"),
        oauth_client_secret_env=opt("oauth_client_secret_env"),
        oauth_scope=opt("oauth_scope"),
        sigv4=bool(getattr(ns, "sigv4", False)),
        region=opt("region"),
        profile=opt("profile"),
    )


@dataclass(frozen=True)
class TokenFetch:
    """The token request's verdict and its record (redacted: neither secret nor token)."""

    ok: bool
    exchange: Exchange
    outcome: Outcome
    message: str | None = None


class BearerAuth(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth(token=[REDACTED])"

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentials:
    """The OAuth2 client-credentials grant, fetched once per run and then reused.

    One token per run: a probe run lasts seconds, far below any sane token lifetime, and
    a second fetch would double the load on the identity provider for nothing. A failed
    fetch may be repeated (a retry policy decides), a successful one never is.
    """

    def __init__(
        self, token_url: str, client_id: str, client_secret: str, scope: str | None, redactor: Redactor
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self._redactor = redactor
        # RFC 6749 2.3.1: both parts are form-encoded before they are joined and base64-encoded.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        self._basic = base64.b64encode(pair).decode()
        redactor.add(client_secret)
        redactor.add(self._basic)
        self._token: str | None = None
        self._result: TokenFetch | None = None
        self._attempts = 0

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    @property
    def token(self) -> str | None:
        return self._token

    def fetch(self, client: httpx2.Client, timeout: float) -> TokenFetch:
        if self._result is not None and self._result.ok:
            return self._result
        self._attempts += 1
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        body = urlencode(form)
        headers = {
            "authorization": f"Basic {self._basic}",
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
        }
        started = time.time()
        t0 = time.perf_counter()
        status: int | None = None
        resp_headers: dict[str, str] = {}
        sent: dict[str, str] = headers
        raw = bytearray()
        received = 0
        error: str | None = None
        error_message: str | None = None
        try:
            with client.stream(
                "POST", self.token_url, content=body, headers=headers, timeout=timeout,
                auth=httpx2.Auth(), follow_redirects=False,
            ) as resp:
                sent = dict(resp.request.headers)
                status = resp.status_code
                resp_headers = {k: v for k in KEPT_HEADERS if (v := resp.headers.get(k)) is not None}
                for chunk in resp.iter_bytes():
                    received += len(chunk)
                    raw.extend(chunk[: max(TOKEN_BODY_CAP - len(raw), 0)])
                    if received > TOKEN_BODY_CAP:
                        break
        except httpx2.HTTPError as exc:
            error = _error_kind(exc)
            error_message = _one_line(str(exc)) or type(exc).__name__
        except (OSError, ValueError) as exc:
            error = "transport"
            error_message = _one_line(str(exc)) or type(exc).__name__
        duration_ms = (time.perf_counter() - t0) * 1000
        text = raw.decode("utf-8", errors="replace")

        outcome, message = self._judge(status, text, error, error_message)
        exchange = Exchange(
            rpc_method=None,
            rpc_id=None,
            url=self._redactor.text(self.token_url),
            http_method="POST",
            request_headers=self._redactor.headers(sent),
            request_body=self._redactor.text(body),
            status=status,
            headers=self._redactor.headers(resp_headers),
            body=self._redactor.text(text),
            body_bytes=received,
            body_truncated=received > TOKEN_BODY_CAP,
            duration_ms=duration_ms,
            attempt=self._attempts,
            error=error,
            error_message=self._redactor.text(error_message) if error_message else None,
            started_at=started,
        )
        self._result = TokenFetch(outcome is Outcome.OK, exchange, outcome, message)
        return self._result

    def _judge(
        self, status: int | None, text: str, error: str | None, error_message: str | None
    ) -> tuple[Outcome, str | None]:
        """Decide the fetch, registering any token with the redactor before it is recorded."""
        if status is None:
            return Outcome.TRANSPORT_ERROR, f"token endpoint unreachable ({error}): {error_message}"
        data = _json_object(text)
        if 200 <= status < 300:
            if data is None:
                return Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status} without a JSON object"
            for name in ("access_token", "refresh_token", "id_token"):
                if isinstance(data.get(name), str):
                    self._redactor.add(data[name])
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                return Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status} without an access_token"
            if not _TOKEN_CHARS.fullmatch(token):
                return Outcome.PROTOCOL_ERROR, "the access_token holds characters a header cannot carry"
            token_type = data.get("token_type")
            if isinstance(token_type, str) and token_type.lower() != "bearer":
                return Outcome.PROTOCOL_ERROR, (
                    f"token endpoint issued a {_one_line(token_type)[:40]!r} token; only bearer tokens are supported"
                )
            self._token = token
            return Outcome.OK, None
        if status == 429:
            return Outcome.THROTTLED, "token endpoint throttled the request (HTTP 429)"
        if 400 <= status < 500:
            return Outcome.AUTH_FAILED, self._oauth_error(status, data)
        if status >= 500:
            return Outcome.SERVER_ERROR, f"token endpoint answered HTTP {status}"
        return Outcome.PROTOCOL_ERROR, f"token endpoint answered HTTP {status}, not a token response"

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
        self._grant = grant

    def __repr__(self) -> str:
        return f"AuthPlan(mode={self.mode!r}, httpx_auth={self.httpx_auth!r})"

    @property
    def needs_token(self) -> bool:
        """True when `fetch_token` must succeed before the first MCP request."""
        return self._grant is not None

    def fetch_token(self, client: httpx2.Client, timeout: float) -> TokenFetch:
        if self._grant is None:
            raise RuntimeError(f"auth mode {self.mode!r} fetches no token")
        return self._grant.fetch(client, timeout)


def build_auth(cfg: AuthConfig, redactor: Redactor, *, url: str) -> AuthPlan:
    """Read the secrets the config names and build the plan, or say in one line why not.

    `url` is the MCP endpoint: a secret is never sent in clear text to a host that is not
    this machine, and a SigV4 region is read from an AgentCore gateway URL when not given.
    """
    _one_mode(cfg)
    if cfg.bearer_token_env or cfg.bearer_token_file:
        _require_private_channel(url, "the MCP URL")
        token = _bearer_token(cfg)
        redactor.add(token)
        return AuthPlan("bearer", BearerAuth(token))
    if _oauth_options(cfg):
        return _build_oauth(cfg, redactor, url)
    if cfg.sigv4:
        return _build_sigv4(cfg, redactor, url)
    return AuthPlan("none", None)


def region_from_url(url: str) -> str | None:
    """`us-east-1` from `https://ID.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp`."""
    m = _GATEWAY_REGION.search((urlsplit(url).hostname or "").lower())
    return m[1] if m else None


def _oauth_options(cfg: AuthConfig) -> list[str]:
    pairs = [
        ("--oauth-token-url", cfg.oauth_token_url),
        ("--oauth-client-id", cfg.oauth_client_id),
        ("--oauth-client-secret-env", cfg.oauth_client_secret_env),
        ("--oauth-scope", cfg.oauth_scope),
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


def _build_oauth(cfg: AuthConfig, redactor: Redactor, url: str) -> AuthPlan:
    missing = [
        flag for flag, value in (
            ("--oauth-token-url", cfg.oauth_token_url),
            ("--oauth-client-id", cfg.oauth_client_id),
            ("--oauth-client-secret-env", cfg.oauth_client_secret_env),
        ) if not value
    ]
    if missing:
        raise AuthConfigError(f"OAuth client credentials also need {', '.join(missing)}")
    token_url = cfg.oauth_token_url or ""
    parts = urlsplit(token_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AuthConfigError("--oauth-token-url must be an http(s) URL")
    _require_private_channel(token_url, "--oauth-token-url")
    _require_private_channel(url, "the MCP URL")
    secret = _env_secret(cfg.oauth_client_secret_env or "", "--oauth-client-secret-env")
    grant = ClientCredentials(token_url, cfg.oauth_client_id or "", secret, cfg.oauth_scope, redactor)
    return AuthPlan("oauth2_client_credentials", ClientCredentialsAuth(grant), grant)


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


def _require_private_channel(url: str, what: str) -> None:
    """Refuse to send a credential in clear text anywhere but this machine."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise AuthConfigError(f"{what} is plain http to {host or 'an unknown host'}: credentials need https")


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
