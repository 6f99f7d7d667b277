"""SigV4 end to end: the probe's signer (botocore through httpx2) against the lab's verifier.

The verifier is checked twice over: against AWS's published `get-vanilla` vector (so it is
right on its own, not merely in agreement with botocore) and against real signed requests
crossing a loopback socket.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from probe.auth import AuthConfig, AuthConfigError, build_auth
from probe.lab.sigv4 import SigV4Verdict, verify_sigv4
from probe.redact import Redactor

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE//session+token=="
BODY = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'


@dataclass
class Verifier:
    """A loopback gateway that only verifies SigV4 and answers with the verdict."""

    secrets: dict[str, str]
    region: str | None = "us-east-1"
    clock_offset: timedelta = timedelta(0)
    verdicts: list[SigV4Verdict] = field(default_factory=list)
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def verdict(self, method: str, target: str, headers: dict[str, str], body: bytes) -> SigV4Verdict:
        v = verify_sigv4(
            method, target, headers, body,
            secret_for=self.secrets.get,
            region=self.region,
            now=datetime.now(UTC) + self.clock_offset,
        )
        self.verdicts.append(v)
        self.seen_headers.append(headers)
        return v


@pytest.fixture
def gateway() -> Iterator[tuple[Verifier, str]]:
    verifier = Verifier(secrets={KEY_ID: SECRET})

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            v = verifier.verdict(self.command, self.path, dict(self.headers.items()), body)
            out = json.dumps({"ok": v.ok, "reason": v.reason}).encode()
            self.send_response(200 if v.ok else 403)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield verifier, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Fake credentials only, and no way for boto3 to reach a real credential source."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _client(redactor: Redactor, url: str = "http://127.0.0.1/mcp", **kw: object) -> httpx2.Client:
    plan = build_auth(AuthConfig(sigv4=True, **kw), redactor, url=url)  # type: ignore[arg-type]
    assert plan.mode == "sigv4"
    return httpx2.Client(auth=plan.httpx_auth, timeout=5)


def _post(client: httpx2.Client, base: str, body: bytes = BODY) -> httpx2.Response:
    return client.post(
        f"{base}/mcp", content=body,
        headers={"content-type": "application/json", "accept": "application/json, text/event-stream",
                 "mcp-protocol-version": "2025-06-18"},
    )


# --- the verifier on its own -------------------------------------------------------------


def test_aws_published_get_vanilla_vector_verifies():
    headers = {
        "Host": "example.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    }
    when = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
    secrets = {"AKIDEXAMPLE": SECRET}.get
    v = verify_sigv4("GET", "/", headers, b"", secret_for=secrets, service="service", now=when)
    assert v == SigV4Verdict(True, "AKIDEXAMPLE", "ok")
    # One byte of the body, or another path, and the published signature no longer holds.
    assert verify_sigv4("GET", "/", headers, b"x", secret_for=secrets, service="service", now=when).reason \
        == "signature mismatch"
    assert verify_sigv4("GET", "/other", headers, b"", secret_for=secrets, service="service", now=when).reason \
        == "signature mismatch"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: h.pop("Authorization"), "missing Authorization"),
        (lambda h: h.update(Authorization="Bearer abc"), "unsupported authorization scheme"),
        (lambda h: h.update(Authorization="AWS4-HMAC-SHA256 Credential=x"), "malformed Authorization"),
        (lambda h: h.update(Authorization=h["Authorization"].replace("/service/", "/s3/")), "wrong service"),
        (lambda h: h.update(Authorization=h["Authorization"].replace("us-east-1", "eu-west-1")), "wrong region"),
        (lambda h: h.update(Authorization=h["Authorization"].replace("AKIDEXAMPLE", "AKIDOTHER")),
         "unknown access key"),
        (lambda h: h.pop("X-Amz-Date"), "missing X-Amz-Date"),
        (lambda h: h.update(Authorization=h["Authorization"].replace("host;x-amz-date", "x-amz-date")),
         "host not signed"),
        (lambda h: h.pop("Host"), "signed header missing: host"),
        (lambda h: h.update({"X-Amz-Content-SHA256": "0" * 64}), "payload hash mismatch"),
    ],
)
def test_verifier_names_what_is_wrong(mutate: Callable[[dict[str, str]], object], reason: str):
    headers = {
        "Host": "example.amazonaws.com",
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    }
    mutate(headers)
    v = verify_sigv4(
        "GET", "/", headers, b"",
        secret_for={"AKIDEXAMPLE": SECRET}.get, service="service", region="us-east-1",
        now=datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
    )
    assert not v.ok
    assert v.reason == reason


# --- end to end over loopback --------------------------------------------------------------


def test_signed_request_verifies_and_only_signed_headers_count(gateway):
    verifier, base = gateway
    redactor = Redactor()
    with _client(redactor) as client:
        r = _post(client, base)
    assert r.status_code == 200, r.text
    assert verifier.verdicts[-1] == SigV4Verdict(True, KEY_ID, "ok")
    sent = {k.lower(): v for k, v in verifier.seen_headers[-1].items()}
    signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    # The verdict rests on the headers that travel with the request, the body's among them.
    assert {"host", "x-amz-date", "content-type", "content-length"} <= set(signed)
    assert "user-agent" not in signed
    assert "/us-east-1/bedrock-agentcore/aws4_request" in sent["authorization"]
    # What the redactor makes of the header keeps the scope and hides key id and signature.
    shown = redactor.headers({"Authorization": sent["authorization"]})["Authorization"]
    assert KEY_ID not in shown
    assert sent["authorization"].rsplit("Signature=", 1)[1] not in shown
    assert shown.startswith("AWS4-HMAC-SHA256 Credential=[REDACTED]/")


def test_query_with_reserved_characters_and_dot_segments_verifies(gateway):
    verifier, base = gateway
    with _client(Redactor()) as client:
        r = client.get(f"{base}/x/../mcp?b=/slash:colon&a=%41 space&empty=")
    assert r.status_code == 200, r.text
    assert verifier.verdicts[-1].ok


def test_wrong_secret_is_a_signature_mismatch(gateway):
    verifier, base = gateway
    verifier.secrets[KEY_ID] = "not-the-secret-the-client-used"
    with _client(Redactor()) as client:
        r = _post(client, base)
    assert r.status_code == 403
    assert verifier.verdicts[-1] == SigV4Verdict(False, KEY_ID, "signature mismatch")


class _TamperingTransport(httpx2.BaseTransport):
    """A man in the middle: rewrites one byte of the body after signing, length unchanged."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read().replace(b'"id":1', b'"id":7')
        forged = httpx2.Request(request.method, request.url, headers=request.headers, content=body)
        return self._inner.handle_request(forged)

    def close(self) -> None:
        self._inner.close()


def test_tampered_body_is_a_signature_mismatch(gateway):
    verifier, base = gateway
    plan = build_auth(AuthConfig(sigv4=True), Redactor(), url="http://127.0.0.1/mcp")
    with httpx2.Client(auth=plan.httpx_auth, transport=_TamperingTransport(), timeout=5) as client:
        r = _post(client, base)
    assert r.status_code == 403
    assert verifier.verdicts[-1].reason == "signature mismatch"


def test_old_request_is_expired_and_future_one_not_yet_valid(gateway):
    verifier, base = gateway
    with _client(Redactor()) as client:
        verifier.clock_offset = timedelta(minutes=10)  # the request is ten minutes old on arrival
        assert _post(client, base).status_code == 403
        assert verifier.verdicts[-1].reason == "request expired"
        verifier.clock_offset = timedelta(minutes=-10)
        assert _post(client, base).status_code == 403
        assert verifier.verdicts[-1].reason == "request not yet valid"
        verifier.clock_offset = timedelta(minutes=4)  # inside the five-minute window
        assert _post(client, base).status_code == 200


def test_region_mismatch_and_region_from_gateway_url(gateway):
    verifier, base = gateway
    # No --region: the region comes from the AgentCore URL, and the lab expects us-east-1.
    with _client(Redactor(), url="https://gw-1.gateway.bedrock-agentcore.eu-west-1.amazonaws.com/mcp") as client:
        assert _post(client, base).status_code == 403
    assert verifier.verdicts[-1].reason == "wrong region"
    with _client(Redactor(), region="us-east-1",
                 url="https://gw-1.gateway.bedrock-agentcore.eu-west-1.amazonaws.com/mcp") as client:
        assert _post(client, base).status_code == 200


def test_session_token_is_sent_signed_and_redacted(gateway, monkeypatch):
    verifier, base = gateway
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    redactor = Redactor()
    with _client(redactor) as client:
        assert _post(client, base).status_code == 200
    sent = {k.lower(): v for k, v in verifier.seen_headers[-1].items()}
    assert sent["x-amz-security-token"] == SESSION_TOKEN
    assert "x-amz-security-token" in sent["authorization"].split("SignedHeaders=")[1].split(",")[0]
    transcript = redactor.text(json.dumps(sent))
    for secret in (SESSION_TOKEN, KEY_ID, SECRET):
        assert secret not in transcript


def test_forged_session_token_is_a_signature_mismatch(gateway, monkeypatch):
    verifier, base = gateway
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)

    class SwapToken(_TamperingTransport):
        def handle_request(self, request: httpx2.Request) -> httpx2.Response:
            request.headers["x-amz-security-token"] = "another-token"
            return self._inner.handle_request(request)

    plan = build_auth(AuthConfig(sigv4=True), Redactor(), url="http://127.0.0.1/mcp")
    with httpx2.Client(auth=plan.httpx_auth, transport=SwapToken(), timeout=5) as client:
        assert _post(client, base).status_code == 403
    assert verifier.verdicts[-1].reason == "signature mismatch"


def test_refreshing_credentials_from_a_profile(gateway, monkeypatch, tmp_path):
    """A credential_process profile whose credentials are always about to expire: boto3
    fetches fresh ones for every request, and each is used and redacted."""
    verifier, base = gateway
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    counter = tmp_path / "n"
    counter.write_text("0")
    script = tmp_path / "creds.py"
    script.write_text(
        "import json, pathlib, datetime\n"
        f"p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1; p.write_text(str(n))\n"
        "exp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'ASIAREFRESHED00000{n:02d}',\n"
        "  'SecretAccessKey': f'refreshed-secret-{n}', 'SessionToken': f'refreshed-token-{n}',\n"
        "  'Expiration': exp.isoformat()}))\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[profile lab]\ncredential_process = {sys.executable} {script}\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    verifier.secrets.update({f"ASIAREFRESHED00000{n:02d}": f"refreshed-secret-{n}" for n in range(1, 10)})

    redactor = Redactor()
    with _client(redactor, profile="lab") as client:
        assert _post(client, base).status_code == 200
        assert _post(client, base).status_code == 200
    used = [v.access_key_id for v in verifier.verdicts]
    assert len(set(used)) == 2, used  # two requests, two generations of credentials
    assert int(counter.read_text()) >= 3  # build time, then once per request
    for key in used:
        n = int(key[-2:])
        shown = redactor.text(f"{key} refreshed-secret-{n} refreshed-token-{n}")
        assert shown == "[REDACTED] [REDACTED] [REDACTED]"


def test_unknown_profile_and_missing_credentials_are_one_line_errors(monkeypatch):
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(sigv4=True, profile="nope"), Redactor(), url="http://127.0.0.1/mcp")
    assert str(e.value) == "AWS profile 'nope' not found"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(sigv4=True), Redactor(), url="http://127.0.0.1/mcp")
    assert "no AWS credentials found" in str(e.value)
    assert "\n" not in str(e.value)


def test_sigv4_without_region_is_an_error(monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AuthConfigError) as e:
        build_auth(AuthConfig(sigv4=True), Redactor(), url="http://127.0.0.1:9/mcp")
    assert "region" in str(e.value)
    assert SECRET not in str(e.value) and KEY_ID not in str(e.value)
