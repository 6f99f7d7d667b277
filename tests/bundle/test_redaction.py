"""No secret in any file of a bundle (nor in its zip), whatever kind, however encoded.

Real runs: bearer, OAuth and SigV4 against the lab's gateways, and a hostile server that
echoes every credential it receives back in its response body and headers.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from probe.cli import main
from tests.hostile.servers import respond, serve

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.")
SIGNATURE = re.compile(rb"Signature=([0-9a-f]{64})")


def forms(secret: str) -> set[str]:
    b = secret.encode()
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            base64.b64encode(b).decode().rstrip("="), base64.urlsafe_b64encode(b).decode().rstrip("=")}


def bundle_texts(directory: Path) -> dict[str, str]:
    texts = {p.name: p.read_text(encoding="utf-8") for p in directory.iterdir()}
    zipped = Path(f"{directory}.zip")
    if zipped.exists():
        with zipfile.ZipFile(zipped) as z:
            texts.update({f"zip:{n}": z.read(n).decode("utf-8") for n in z.namelist()})
    assert "report.json" in texts and "SUMMARY.md" in texts
    return texts


def assert_clean(directory: Path, secrets: dict[str, str]) -> None:
    texts = bundle_texts(directory)
    for kind, secret in secrets.items():
        assert len(secret) >= 8, kind
        for form in forms(secret):
            leaks = [name for name, text in texts.items() if form in text]
            assert not leaks, f"{kind} leaked into {leaks}"
    for name, text in texts.items():
        assert not JWT.search(text), f"a JWT in {name}"


@pytest.fixture(scope="module")
def gateways(lab):
    c = lab.console
    iam = lab.client("iam")
    iam.create_user(UserName="bundle-runner")
    key = iam.create_access_key(UserName="bundle-runner")["AccessKey"]
    client = lab.issuer.add_client("bundle-client", "bundle-client-secret-0042")
    return {"jwt": c.create_gateway("bundlejwt", authorizer_type="CUSTOM_JWT"),
            "sigv4": c.create_gateway("bundlesigv4", authorizer_type="AWS_IAM"), "key": key, "client": client}


def run_bundle(tmp_path: Path, url: str, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "case"
    code = main(["run", url, "--retries", "0", "--format", "json", "-v", "--bundle", str(out), "--zip",
                 "--call", "RefundTarget___get_order", "--args", '{"order_id": "o-1"}', *extra])
    return code, out


def test_bearer_run_against_the_lab(lab, gateways, aws_to_lab, tmp_path, monkeypatch, capsys) -> None:
    token = lab.issuer.issue(lab.issuer.default_client.client_id)
    monkeypatch.setenv("BUNDLE_TOKEN", token)
    gw = gateways["jwt"]
    code, out = run_bundle(tmp_path, lab.gateway_url(gw.gateway_id), "--bearer-token-env", "BUNDLE_TOKEN",
                           "--gateway-id", gw.gateway_id, "--region", lab.region)
    capsys.readouterr()
    assert code == 0
    assert_clean(out, {"bearer token": token})


def test_oauth_run_against_the_lab(lab, gateways, aws_to_lab, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BUNDLE_SECRET", "bundle-client-secret-0042")
    gw = gateways["jwt"]
    code, out = run_bundle(tmp_path, lab.gateway_url(gw.gateway_id), "--oauth-token-url", lab.token_url,
                           "--oauth-client-id", gateways["client"].client_id, "--oauth-client-secret-env",
                           "BUNDLE_SECRET", "--gateway-id", gw.gateway_id, "--region", lab.region)
    capsys.readouterr()
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["steps"][0]["method"] == "oauth2/token"  # the token exchange is in the transcript ...
    assert_clean(out, {"OAuth client secret": "bundle-client-secret-0042"})  # ... and no JWT: the access token


def test_sigv4_run_against_the_lab(lab, gateways, aws_to_lab, tmp_path, monkeypatch, capsys) -> None:
    key = gateways["key"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    gw = gateways["sigv4"]
    code, out = run_bundle(tmp_path, lab.gateway_url(gw.gateway_id), "--sigv4", "--region", lab.region,
                           "--gateway-id", gw.gateway_id)
    capsys.readouterr()
    assert code == 0
    report = (out / "report.json").read_text()
    assert "AWS4-HMAC-SHA256" in report  # the header is there, its credential and signature are not
    assert_clean(out, {"AWS access key id": key["AccessKeyId"], "AWS secret key": key["SecretAccessKey"]})


def echo_server(requests: list[bytes]):
    """Answers every request with a 500 that echoes it: headers and body back in the body, credentials in
    response headers, and a JWT of its own."""
    jwt = ("eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(b'{"sub":"echo-user-0001"}').decode().rstrip("=")
           + ".c2lnbmF0dXJlLW9mLXRoZS1lY2hv")

    def behaviour(sock: socket.socket, request: bytes) -> None:
        requests.append(request)
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        body = json.dumps({"error": "echo", "request": head, "jwt": jwt, "escaped": json.dumps(head)}).encode()
        echoed = [v for n, v in headers.items() if n.lower() in ("authorization", "x-amz-security-token")]
        # headers the probe records: the credentials come back in them
        extra = "".join(f"WWW-Authenticate: Bearer error=\"invalid_token\", echo=\"{v}\"\r\n"
                        f"X-Amzn-ErrorType: Echo:{v}\r\nLocation: /echo?token={quote(v, safe='')}\r\n"
                        for v in echoed[-1:])
        sock.sendall(respond("500 Internal Server Error", "application/json", body, extra))

    return behaviour


def test_hostile_server_echoing_a_bearer_token_and_url_secrets(aws_nowhere, tmp_path, monkeypatch, capsys) -> None:
    token = "opaque-bearer-token-5f2a9c7e1d"
    monkeypatch.setenv("ECHO_TOKEN", token)
    requests: list[bytes] = []
    with serve(echo_server(requests)) as url:
        code, out = run_bundle(tmp_path, url + "?api_key=query-secret-9931&x=1", "--bearer-token-env", "ECHO_TOKEN")
        capsys.readouterr()
        # URL userinfo: the probe refuses the URL (a credential belongs in an auth option), so no bundle is
        # written and the password is not even printed
        refused = main(["run", url.replace("http://", "http://alice:userinfo-pass-77@"), "--bundle",
                        str(tmp_path / "refused"), "--zip"])
        printed = capsys.readouterr()
    assert refused == 2 and not (tmp_path / "refused").exists() and not (tmp_path / "refused.zip").exists()
    assert "userinfo-pass-77" not in printed.out + printed.err
    assert code == 60
    assert token.encode() in requests[0] and b"query-secret-9931" in requests[0]  # the server did get them
    report = json.loads((out / "report.json").read_text())
    echoed = report["steps"][0]["exchanges"][0]
    assert {"www-authenticate", "x-amzn-errortype", "location"} <= set(echoed["headers"])
    assert "[REDACTED]" in echoed["headers"]["x-amzn-errortype"] and '"jwt": "[REDACTED]"' in echoed["body"]
    assert_clean(out, {"bearer token": token, "URL query value": "query-secret-9931"})


def test_hostile_server_echoing_sigv4_credentials(aws_nowhere, tmp_path, monkeypatch, capsys) -> None:
    secrets = {"AWS access key id": "AKIAECHOECHOECHO1234", "AWS secret key": "echo/secret+key/0123456789abcdefABCDEF",
               "AWS session token": "IQoJb3JpZ2luX2VjEchoSessionToken0123456789+/="}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", secrets["AWS access key id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secrets["AWS secret key"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", secrets["AWS session token"])
    requests: list[bytes] = []
    with serve(echo_server(requests)) as url:
        code, out = run_bundle(tmp_path, url, "--sigv4", "--region", "us-east-1")
    capsys.readouterr()
    assert code == 60
    signature = SIGNATURE.search(requests[0])
    assert signature and secrets["AWS session token"].encode() in requests[0]
    secrets["SigV4 signature"] = signature.group(1).decode()
    assert_clean(out, secrets)
