"""Bearer and OAuth client credentials against real loopback servers, and the operator errors.

Every test that handles a secret also checks that the secret is absent from what the
probe would print: error messages, recorded exchanges, reprs.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx2
import pytest

from probe.auth import AuthConfigError, TokenFetch, build_auth
from probe.cli import build_parser
from probe.cli.run import auth_config_from_args
from probe.engine import run_many
from probe.exchange import Recorder
from probe.outcome import Outcome
from probe.redact import Redactor
from probe.spec import AuthConfig, Probe, Target

BEARER = "bearer-tok-0123456789abcdef"
CLIENT_ID = "probe-client"
CLIENT_SECRET = "cl!ent/secret+value"
ISSUED = "issued-access-token-9f8e7d6c5b4a"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Callable[[Seen], tuple[int, dict[str, str], bytes]]


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    seen: list[Seen] = field(default_factory=list)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path.split("?")[0] == path)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="", routes={})

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            state.seen.append(seen)
            route = state.routes.get(self.path.split("?")[0])
            status, headers, out = route(seen) if route else (404, {}, b"not found")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _json(status: int, payload: object) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(payload).encode()


def _mcp_expecting(token: str) -> Route:
    """An MCP endpoint that answers only the expected bearer token."""

    def route(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.headers.get("authorization") != f"Bearer {token}":
            return _json(401, {"jsonrpc": "2.0", "id": 0, "error": {"code": -32001, "message": "Invalid Bearer token"}})
        return _json(200, {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}})

    return route


def _mcp_post(client: httpx2.Client, url: str) -> httpx2.Response:
    return client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})


def fetch_token(plan: object, redactor: Redactor | None = None, timeout: float = 5.0) -> TokenFetch:
    """One token request through the engine's recorder, as a run makes it."""

    async def go() -> TokenFetch:
        async with httpx2.AsyncClient() as client:
            return await plan.grant.fetch(Recorder(client, redactor or Redactor()), timeout)  # type: ignore[attr-defined]

    return asyncio.run(go())


def _no_secret_in(text: str, *secrets: str) -> None:
    for s in secrets:
        assert s not in text


# --- config from the command line --------------------------------------------------------


def test_config_from_the_run_parser():
    ns = build_parser().parse_args([
        "run", "https://gw.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
        "--oauth-token-url", "https://idp.example/oauth2/token", "--oauth-client-id", CLIENT_ID,
        "--oauth-client-secret-env", "PROBE_SECRET", "--oauth-scope", "mcp/invoke", "--profile", "p",
    ])
    assert auth_config_from_args(ns) == AuthConfig(
        oauth_token_url="https://idp.example/oauth2/token", oauth_client_id=CLIENT_ID,
        oauth_client_secret_env="PROBE_SECRET", oauth_scope="mcp/invoke", profile="p",
    )
    ns = build_parser().parse_args(["run", "http://127.0.0.1:1/mcp", "--sigv4", "--region", "eu-west-1"])
    assert auth_config_from_args(ns) == AuthConfig(sigv4=True, region="eu-west-1")


# --- bearer ------------------------------------------------------------------------------


def test_bearer_from_env_reaches_the_server(server, monkeypatch):
    monkeypatch.setenv("PROBE_TOKEN", f"  {BEARER}\n")
    server.routes["/mcp"] = _mcp_expecting(BEARER)
    redactor = Redactor()
    plan = build_auth(AuthConfig(bearer_token_env="PROBE_TOKEN"), redactor, url=f"{server.base}/mcp")
    assert plan.mode == "bearer" and not plan.needs_token
    with httpx2.Client(auth=plan.httpx_auth, timeout=5) as client:
        r = _mcp_post(client, f"{server.base}/mcp")
    assert r.status_code == 200
    assert server.seen[-1].headers["authorization"] == f"Bearer {BEARER}"
    assert redactor.text(f"echo {BEARER}") == "echo [REDACTED]"


def test_bearer_from_file_strips_whitespace(server, tmp_path):
    path = tmp_path / "token"
    path.write_text(f"\n{BEARER}\n\n")
    server.routes["/mcp"] = _mcp_expecting(BEARER)
    plan = build_auth(AuthConfig(bearer_token_file=str(path)), Redactor(), url=f"{server.base}/mcp")
    with httpx2.Client(auth=plan.httpx_auth, timeout=5) as client:
        assert _mcp_post(client, f"{server.base}/mcp").status_code == 200
    # A wrong token is refused by the same server: the check above is not vacuous.
    path.write_text("some-other-token")
    plan = build_auth(AuthConfig(bearer_token_file=str(path)), Redactor(), url=f"{server.base}/mcp")
    with httpx2.Client(auth=plan.httpx_auth, timeout=5) as client:
        assert _mcp_post(client, f"{server.base}/mcp").status_code == 401


@pytest.mark.parametrize(
    ("cfg", "env", "expected"),
    [
        (AuthConfig(bearer_token_env="PROBE_UNSET"), {},
         "environment variable PROBE_UNSET (from --bearer-token-env) is not set"),
        (AuthConfig(bearer_token_env="PROBE_EMPTY"), {"PROBE_EMPTY": "  \n"},
         "environment variable PROBE_EMPTY (from --bearer-token-env) is empty"),
        (AuthConfig(bearer_token_env="PROBE_T"), {"PROBE_T": f"{BEARER} extra"},
         "the token in environment variable PROBE_T contains spaces or characters a header cannot carry"),
        (AuthConfig(bearer_token_env="PROBE_T", sigv4=True), {"PROBE_T": BEARER},
         "choose one inbound auth mode: got --bearer-token-env and --sigv4"),
        (AuthConfig(bearer_token_env="PROBE_T", bearer_token_file="/x"), {"PROBE_T": BEARER},
         "choose one inbound auth mode: got --bearer-token-env and --bearer-token-file"),
        (AuthConfig(bearer_token_file="/x", oauth_token_url="https://idp/t"), {},
         "choose one inbound auth mode: got --bearer-token-file and --oauth-token-url"),
        (AuthConfig(oauth_token_url="https://idp.example/token", oauth_scope="s"), {},
         "OAuth client credentials also need --oauth-client-id, --oauth-client-secret-env"),
        (AuthConfig(oauth_token_url="ftp://idp/x", oauth_client_id="c", oauth_client_secret_env="PROBE_S"),
         {"PROBE_S": CLIENT_SECRET}, "--oauth-token-url must be an http(s) URL"),
        (AuthConfig(oauth_token_url="http://idp.example/token", oauth_client_id="c",
                    oauth_client_secret_env="PROBE_S"),
         {"PROBE_S": CLIENT_SECRET}, "--oauth-token-url is plain http to idp.example: credentials need https"),
        (AuthConfig(oauth_token_url="https://idp.example/token", oauth_client_id="c",
                    oauth_client_secret_env="PROBE_S"),
         {}, "environment variable PROBE_S (from --oauth-client-secret-env) is not set"),
    ],
)
def test_config_errors_are_one_line(cfg, env, expected, monkeypatch):
    for name in ("PROBE_UNSET", "PROBE_S"):
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(AuthConfigError) as e:
        build_auth(cfg, Redactor(), url="http://127.0.0.1:9/mcp")
    assert str(e.value) == expected
    _no_secret_in(str(e.value), BEARER, CLIENT_SECRET)


def test_bearer_file_errors(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(bearer_token_file=str(missing)), Redactor(), url="http://127.0.0.1:9/mcp")
    assert str(e.value) == f"cannot read bearer token file {missing}: No such file or directory"
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(bearer_token_file=str(empty)), Redactor(), url="http://127.0.0.1:9/mcp")
    assert str(e.value) == f"bearer token file {empty} is empty"


def test_bearer_is_never_sent_in_clear_to_another_host(monkeypatch):
    monkeypatch.setenv("PROBE_TOKEN", BEARER)
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(bearer_token_env="PROBE_TOKEN"), Redactor(), url="http://gw.example.com/mcp")
    assert str(e.value) == "the MCP URL is plain http to gw.example.com: credentials need https"
    for url in ("https://gw.example.com/mcp", "http://localhost:8080/mcp", "http://[::1]:8080/mcp"):
        assert build_auth(AuthConfig(bearer_token_env="PROBE_TOKEN"), Redactor(), url=url).mode == "bearer"


def test_no_auth_options_means_no_auth():
    plan = build_auth(AuthConfig(), Redactor(), url="https://gw.example.com/mcp")
    assert (plan.mode, plan.httpx_auth, plan.needs_token, plan.grant) == ("none", None, False, None)


# --- OAuth client credentials ------------------------------------------------------------


def _oauth(server: Server, monkeypatch: pytest.MonkeyPatch, scope: str | None = "mcp/invoke",
           token_url: str | None = None) -> tuple[object, Redactor]:
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    redactor = Redactor()
    cfg = AuthConfig(
        oauth_token_url=token_url or f"{server.base}/token", oauth_client_id=CLIENT_ID,
        oauth_client_secret_env="PROBE_CLIENT_SECRET", oauth_scope=scope,
    )
    return build_auth(cfg, redactor, url=f"{server.base}/mcp"), redactor


def _token_endpoint(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    """A client-credentials endpoint that checks client_secret_basic for real."""
    expected = base64.b64encode(b"probe-client:cl%21ent%2Fsecret%2Bvalue").decode()
    form = parse_qs(seen.body.decode())
    if seen.headers.get("authorization") != f"Basic {expected}":
        return _json(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    if form.get("grant_type") != ["client_credentials"]:
        return _json(400, {"error": "unsupported_grant_type"})
    return _json(200, {"access_token": ISSUED, "token_type": "Bearer", "expires_in": 3600,
                       "scope": form.get("scope", [""])[0]})


def _recorded(fetch: object) -> str:
    return json.dumps(fetch.exchange.to_dict())  # type: ignore[attr-defined]


def test_client_credentials_fetch_then_bearer(server, monkeypatch):
    server.routes["/token"] = _token_endpoint
    server.routes["/mcp"] = _mcp_expecting(ISSUED)
    plan, redactor = _oauth(server, monkeypatch)
    assert plan.mode == "oauth2_client_credentials" and plan.needs_token
    fetch = fetch_token(plan, redactor)
    assert (fetch.ok, fetch.outcome, fetch.message) == (True, Outcome.OK, None)
    assert fetch.expires_in == 3600
    with httpx2.Client(auth=plan.httpx_auth, timeout=5) as client:
        assert _mcp_post(client, f"{server.base}/mcp").status_code == 200
        assert _mcp_post(client, f"{server.base}/mcp").status_code == 200
    assert server.hits("/token") == 1
    assert server.hits("/mcp") == 2
    assert parse_qs(server.seen[0].body.decode()) == {"grant_type": ["client_credentials"], "scope": ["mcp/invoke"]}
    ex = fetch.exchange
    assert (ex.rpc_method, ex.http_method, ex.status, ex.url) == (None, "POST", 200, f"{server.base}/token")
    assert ex.request_headers["authorization"] == "Basic [REDACTED]"
    assert json.loads(ex.body)["access_token"] == "[REDACTED]"
    basic = server.seen[0].headers["authorization"].split()[1]
    _no_secret_in(_recorded(fetch), CLIENT_SECRET, ISSUED, basic)
    assert redactor.text(f"{ISSUED} {CLIENT_SECRET} {basic}") == "[REDACTED] [REDACTED] [REDACTED]"


def test_probes_sharing_a_client_fetch_one_token(server, monkeypatch):
    """run_many shares the grant's token between the probes of a target: the identity provider is asked once."""
    server.routes["/token"] = _token_endpoint
    server.routes["/mcp"] = _mcp_expecting(ISSUED)
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    auth = AuthConfig(oauth_token_url=f"{server.base}/token", oauth_client_id=CLIENT_ID,
                      oauth_client_secret_env="PROBE_CLIENT_SECRET")
    probes = [Probe(Target(f"{server.base}/mcp", auth=auth), protocol_version="2026-07-28", name=f"p{i}")
              for i in range(3)]
    results = asyncio.run(run_many(probes, concurrency=3))
    # The endpoint lists no tools: every probe got past auth with the one token.
    assert [r.outcome for r in results] == [Outcome.EMPTY_TOOLS] * 3
    assert server.hits("/token") == 1 and server.hits("/mcp") == 3
    assert sum(1 for r in results for s in r.steps if s.method == "oauth2/token") == 1
    for r in results:
        _no_secret_in(json.dumps(r.to_dict()), CLIENT_SECRET, ISSUED)


def test_client_credentials_sends_the_resource_indicator(server, monkeypatch):
    server.routes["/token"] = _token_endpoint
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    cfg = AuthConfig(oauth_token_url=f"{server.base}/token", oauth_client_id=CLIENT_ID,
                     oauth_client_secret_env="PROBE_CLIENT_SECRET", oauth_resource=f"{server.base}/mcp")
    assert fetch_token(build_auth(cfg, Redactor(), url=f"{server.base}/mcp")).ok
    assert parse_qs(server.seen[0].body.decode())["resource"] == [f"{server.base}/mcp"]


def test_client_credentials_without_scope_sends_none(server, monkeypatch):
    server.routes["/token"] = _token_endpoint
    plan, _ = _oauth(server, monkeypatch, scope=None)
    assert fetch_token(plan).ok
    assert parse_qs(server.seen[0].body.decode()) == {"grant_type": ["client_credentials"]}


def test_oauth_request_before_the_fetch_is_a_bug(server, monkeypatch):
    server.routes["/mcp"] = _mcp_expecting(ISSUED)
    plan, _ = _oauth(server, monkeypatch)
    with httpx2.Client(auth=plan.httpx_auth, timeout=5) as client, pytest.raises(RuntimeError):
        _mcp_post(client, f"{server.base}/mcp")
    assert server.hits("/mcp") == 0


def test_invalid_client_is_auth_failed_with_the_description(server, monkeypatch):
    server.routes["/token"] = lambda seen: _json(
        401, {"error": "invalid_client", "error_description": "Client authentication failed"}
    )
    plan, _ = _oauth(server, monkeypatch)
    fetch = fetch_token(plan)
    assert not fetch.ok and fetch.outcome is Outcome.AUTH_FAILED
    assert fetch.message == "token endpoint answered HTTP 401: invalid_client: Client authentication failed"
    assert fetch.exchange.status == 401
    _no_secret_in(_recorded(fetch), CLIENT_SECRET)
    # A failed fetch is not kept: a retry asks again.
    fetch_token(plan)
    assert server.hits("/token") == 2


def test_wrong_secret_is_rejected_by_the_checking_endpoint(server, monkeypatch):
    server.routes["/token"] = _token_endpoint
    plan, _ = _oauth(server, monkeypatch)
    monkeypatch.setenv("PROBE_CLIENT_SECRET", "another-secret")  # read at build time, as the real run does
    cfg = AuthConfig(oauth_token_url=f"{server.base}/token", oauth_client_id=CLIENT_ID,
                     oauth_client_secret_env="PROBE_CLIENT_SECRET")
    wrong = build_auth(cfg, Redactor(), url=f"{server.base}/mcp")
    assert fetch_token(wrong).outcome is Outcome.AUTH_FAILED
    assert fetch_token(plan).outcome is Outcome.OK


def test_html_500_is_server_error(server, monkeypatch):
    server.routes["/token"] = lambda seen: (500, {"content-type": "text/html"}, b"<html><h1>Oops</h1></html>")
    plan, _ = _oauth(server, monkeypatch)
    fetch = fetch_token(plan)
    assert (fetch.ok, fetch.outcome, fetch.message) == (False, Outcome.SERVER_ERROR, "token endpoint answered HTTP 500")
    assert fetch.exchange.body == "<html><h1>Oops</h1></html>"
    assert fetch.exchange.headers["content-type"] == "text/html"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, {"content-type": "text/html"}, b"<html>login</html>"),
         "token endpoint answered HTTP 200 without a JSON object"),
        (_json(200, {"token_type": "Bearer"}), "token endpoint answered HTTP 200 without an access_token"),
        (_json(200, {"access_token": ISSUED, "token_type": "DPoP"}),
         "token endpoint issued a 'DPoP' token; only bearer tokens are supported"),
    ],
)
def test_unusable_success_is_protocol_error(server, monkeypatch, answer, message):
    server.routes["/token"] = lambda seen: answer
    plan, _ = _oauth(server, monkeypatch)
    fetch = fetch_token(plan)
    assert (fetch.ok, fetch.outcome, fetch.message) == (False, Outcome.PROTOCOL_ERROR, message)
    _no_secret_in(_recorded(fetch), CLIENT_SECRET, ISSUED)


def test_throttled_token_endpoint(server, monkeypatch):
    server.routes["/token"] = lambda seen: (429, {"retry-after": "2"}, b"slow down")
    plan, _ = _oauth(server, monkeypatch)
    fetch = fetch_token(plan)
    assert fetch.outcome is Outcome.THROTTLED
    assert fetch.exchange.headers["retry-after"] == "2"


def test_refused_port_is_transport_error(server, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        plan, _ = _oauth(server, monkeypatch, token_url=f"http://127.0.0.1:{port}/token")
        fetch = fetch_token(plan, timeout=2.0)
    assert (fetch.ok, fetch.outcome) == (False, Outcome.TRANSPORT_ERROR)
    assert fetch.exchange.status is None and fetch.exchange.error == "refused"
    assert fetch.message is not None and fetch.message.startswith("token endpoint unreachable (refused)")
    _no_secret_in(_recorded(fetch), CLIENT_SECRET)


# --- nothing secret in a repr --------------------------------------------------------------


def test_reprs_hold_no_secret(server, monkeypatch, tmp_path):
    server.routes["/token"] = _token_endpoint
    monkeypatch.setenv("PROBE_TOKEN", BEARER)
    token_file = tmp_path / "t"
    token_file.write_text(BEARER)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)

    oauth_plan, _ = _oauth(server, monkeypatch)
    fetch = fetch_token(oauth_plan)
    configs = [
        AuthConfig(bearer_token_env="PROBE_TOKEN"),
        AuthConfig(bearer_token_file=str(token_file)),
        AuthConfig(sigv4=True, region="us-east-1"),
    ]
    plans = [build_auth(cfg, Redactor(), url=f"{server.base}/mcp") for cfg in configs] + [oauth_plan]
    rendered = " ".join(
        f"{x!r} {x!s}" for x in [*configs, *plans, *(p.httpx_auth for p in plans), fetch]  # type: ignore[attr-defined]
    )
    assert "mode='bearer'" in rendered and "mode='sigv4'" in rendered
    _no_secret_in(rendered, BEARER, CLIENT_SECRET, ISSUED, "AKIAIOSFODNN7EXAMPLE",
                  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-value")


# --- --oauth-discover: RFC 9728 and RFC 8414 ------------------------------------------------


def _discoverable(server: Server, *, issuer_path: str = "") -> None:
    """A protected MCP endpoint that advertises its metadata, and an authorization server with a path."""
    prm = f"{server.base}/.well-known/oauth-protected-resource/mcp"
    issuer = f"{server.base}{issuer_path}"
    inner = _mcp_expecting(ISSUED)

    def mcp(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = inner(seen)
        if status == 401:
            headers = {**headers, "www-authenticate": f'Bearer error="invalid_token", resource_metadata="{prm}"'}
        return status, headers, body

    server.routes["/mcp"] = mcp
    server.routes["/.well-known/oauth-protected-resource/mcp"] = lambda seen: _json(
        200, {"resource": f"{server.base}/mcp", "authorization_servers": [issuer]})
    server.routes[f"/.well-known/oauth-authorization-server{issuer_path}"] = lambda seen: _json(
        200, {"issuer": issuer, "token_endpoint": f"{server.base}/token"})
    server.routes["/token"] = _token_endpoint


def test_oauth_discover_finds_the_token_endpoint(server, monkeypatch):
    _discoverable(server, issuer_path="/tenant1")
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    auth = AuthConfig(oauth_discover=True, oauth_client_id=CLIENT_ID, oauth_client_secret_env="PROBE_CLIENT_SECRET")
    [result] = asyncio.run(run_many([Probe(Target(f"{server.base}/mcp", auth=auth), protocol_version="2026-07-28")]))
    assert [s.method for s in result.steps] == ["oauth2/discover", "oauth2/token", "tools/list"]
    assert result.outcome is Outcome.EMPTY_TOOLS  # got past auth: the endpoint lists nothing
    discovery = result.steps[0]
    assert discovery.data["token_endpoint"] == f"{server.base}/token"
    paths = [s.path for s in server.seen]
    assert paths[:4] == ["/mcp", "/.well-known/oauth-protected-resource/mcp",
                         "/.well-known/oauth-authorization-server/tenant1", "/token"]
    # MCP clients send the resource indicator (RFC 8707): the metadata's own resource.
    assert parse_qs(server.seen[3].body.decode())["resource"] == [f"{server.base}/mcp"]
    _no_secret_in(json.dumps(result.to_dict()), CLIENT_SECRET, ISSUED)


def test_oauth_discover_without_metadata_says_what_to_pass(server, monkeypatch):
    server.routes["/mcp"] = _mcp_expecting(ISSUED)  # 401 with no challenge, no well-known documents
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    auth = AuthConfig(oauth_discover=True, oauth_client_id=CLIENT_ID, oauth_client_secret_env="PROBE_CLIENT_SECRET")
    [result] = asyncio.run(run_many([Probe(Target(f"{server.base}/mcp", auth=auth))]))
    assert result.outcome is Outcome.PROTOCOL_ERROR and result.exit_code == 61
    step = result.steps[0]
    assert step.method == "oauth2/discover" and "RFC 9728" in step.detail.message
    assert "--oauth-token-url" in step.hint
    assert server.hits("/token") == 0


@pytest.mark.parametrize("status", [404, 405])
def test_a_token_url_where_nothing_issues_tokens_is_the_probes_configuration(server, monkeypatch, capsys, status):
    """Not "the endpoint refused the client": nothing at that URL issues tokens (a wrong --oauth-token-url)."""
    from probe.cli import main

    server.routes["/token"] = lambda seen: (status, {"content-type": "text/html"}, b"<h1>Not Found</h1>")
    monkeypatch.setenv("PROBE_CLIENT_SECRET", CLIENT_SECRET)
    code = main(["run", f"{server.base}/mcp", "--oauth-token-url", f"{server.base}/token", "--oauth-client-id",
                 CLIENT_ID, "--oauth-client-secret-env", "PROBE_CLIENT_SECRET", "--format", "json", "--retries", "0"])
    report = json.loads(capsys.readouterr().out)
    step = report["steps"][0]
    assert (code, report["outcome"], step["method"]) == (61, "protocol_error", "oauth2/token")
    assert f"no token endpoint at {server.base}/token" in step["message"]
    assert f"{server.base}/token" in step["hint"] and "--oauth-token-url" in step["hint"]
    assert "refused the client" not in json.dumps(report)
