"""The redactor: known values in every form they travel in, secret shapes by pattern, and
nothing else touched (a report that hides too much is as useless as one that leaks)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from probe.redact import MARK, Redactor

SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/us-east-1/bedrock-agentcore/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
)
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhZ2VudCIsInNjb3BlIjoibWNwIn0."
    "c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU"
)


def test_authorization_keeps_the_scheme_word():
    r = Redactor()
    assert r.headers({"Authorization": "Bearer opaque-token-123"}) == {"Authorization": "Bearer [REDACTED]"}
    assert r.headers({"authorization": "Basic dXNlcjpwYXNz"}) == {"authorization": "Basic [REDACTED]"}
    assert r.headers({"Proxy-Authorization": "Basic Zm9vOmJhcg=="}) == {"Proxy-Authorization": "Basic [REDACTED]"}
    assert r.headers({"Authorization": "justatoken"}) == {"Authorization": MARK}


def test_sigv4_authorization_keeps_scope_and_signed_headers_only():
    out = Redactor().headers({"Authorization": SIGV4})["Authorization"]
    assert out == (
        "AWS4-HMAC-SHA256 Credential=[REDACTED]/20261128/us-east-1/bedrock-agentcore/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=[REDACTED]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi\r\nHost: x", "Authorization: Bearer [REDACTED]\r\nHost: x"),
        ('{"Authorization": "Bearer tok_1234"}', '{"Authorization": "Bearer [REDACTED]"}'),
        ("{'authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "{'authorization': 'Basic [REDACTED]'}"),
        (f"authorization: {SIGV4}", "authorization: AWS4-HMAC-SHA256 Credential=[REDACTED]/20261128/us-east-1/"
         "bedrock-agentcore/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[REDACTED]"),
        (f"('authorization', '{SIGV4}')", "('authorization', 'AWS4-HMAC-SHA256 Credential=[REDACTED]/20261128/"
         "us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=content-type;host;x-amz-date, "
         "Signature=[REDACTED]')"),
        ("proxy-authorization: Basic Zm9v", "proxy-authorization: Basic [REDACTED]"),
        ("Cookie: session=abc123; theme=dark", "Cookie: session=[REDACTED]; theme=[REDACTED]"),
        ("set-cookie: sid=s3ss10n; Path=/; HttpOnly", "set-cookie: sid=[REDACTED]; Path=/; HttpOnly"),
        ("X-Amz-Security-Token: FwoGZXIvYXdzEBc", "X-Amz-Security-Token: [REDACTED]"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKID%2F2026&X-Amz-Signature=ab12cd&X-Amz-Expires=60",
         "https://b.s3.amazonaws.com/k?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Expires=60"),
        ("?X-Amz-Security-Token=FwoG%2Bxyz&a=1", "?X-Amz-Security-Token=[REDACTED]&a=1"),
        (f"token {JWT} end", "token [REDACTED] end"),
        ("keys AKIAIOSFODNN7EXAMPLE and ASIA1234567890ABCDEF.", "keys [REDACTED] and [REDACTED]."),
        ('{"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600}',
         '{"access_token": "[REDACTED]", "token_type": "Bearer", "expires_in": 3600}'),
        ('{"refresh_token":"rt\\"x","id_token":"it","client_secret":"cs"}',
         '{"refresh_token":"[REDACTED]","id_token":"[REDACTED]","client_secret":"[REDACTED]"}'),
        ("grant_type=client_credentials&client_secret=sh%21h&scope=mcp",
         "grant_type=client_credentials&client_secret=[REDACTED]&scope=mcp"),
        ("https://idp/cb?access_token=xyz&state=1", "https://idp/cb?access_token=[REDACTED]&state=1"),
        ("failed: Bearer c29tZS10b2tlbi12YWx1ZQ==", "failed: Bearer [REDACTED]"),
        ("Authorization: tok.en-1 was rejected", "Authorization: [REDACTED] was rejected"),
        ("Authorization: Bearer tok.en-1 was rejected", "Authorization: Bearer [REDACTED] was rejected"),
    ],
)
def test_secret_shapes_are_redacted_without_being_known(text: str, expected: str):
    r = Redactor()
    assert r.text(text) == expected
    assert r.text(expected) == expected  # redacting twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"InternalServerException - '
        'Policy evaluation failed for list tools"}],"isError":true}}',
        '{"jsonrpc":"2.0","id":0,"error":{"code":-32001,"message":"Invalid Bearer token"}}',
        'WWW-Authenticate: Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource"',
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/gw-abc123",
        '{"token_type": "Bearer", "expires_in": 3600, "scope": "mcp/invoke"}',
        "content-type: application/json",
    ],
)
def test_ordinary_text_is_left_alone(text: str):
    assert Redactor(["unrelated-secret"]).text(text) == text


def test_known_values_in_every_form():
    secret = 'p@ss w/rd"&=+'
    r = Redactor([secret])
    forms = [
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
    ]
    for form in forms:
        out = r.text(f"before {form} after")
        assert out == f"before {MARK} after", form


def test_short_known_secrets_are_redacted_and_later_additions_count():
    r = Redactor()
    assert r.text("pin=1234 ok") == "pin=1234 ok"
    r.add("1234")
    r.add("")  # nothing to learn from an empty value
    r.add(None)
    assert r.text("pin=1234 ok") == f"pin={MARK} ok"


def test_a_secret_containing_another_is_removed_whole():
    r = Redactor(["abcd", "abcdefghij"])
    assert r.text("x abcdefghij y") == f"x {MARK} y"


def test_short_known_secret_does_not_break_a_shape_into_leaking_pieces():
    # The short secret also occurs inside the signature and the token: the shapes must win.
    r = Redactor(["abc"])
    sig = "0123456789abcdef" * 4
    out = r.text(f"('authorization', 'Bearer abcdefghijklmnop') Signature={sig}")
    assert "defghijklmnop" not in out and "0123456789" not in out


def test_headers_redact_by_name_and_by_value():
    r = Redactor(["known-secret-value"])
    h = {
        "Authorization": "Bearer known-secret-value",
        "Cookie": "a=1",
        "X-Amz-Security-Token": "tok",
        "X-Api-Key": "k-123",
        "x-client-secret": "cs",
        "X-Echo": "value is known-secret-value",
        "Content-Type": "application/json",
        "Mcp-Session-Id": "sess-1",
    }
    assert r.headers(h) == {
        "Authorization": "Bearer [REDACTED]",
        "Cookie": "a=[REDACTED]",
        "X-Amz-Security-Token": MARK,
        "X-Api-Key": MARK,
        "x-client-secret": MARK,
        "X-Echo": f"value is {MARK}",
        "Content-Type": "application/json",
        "Mcp-Session-Id": "sess-1",
    }


def test_one_megabyte_string():
    r = Redactor(["s3cr3t-value"])
    filler = '{"type":"text","text":"lorem ipsum dolor sit amet"},' * 20000
    big = f"s3cr3t-value {filler} Authorization: Bearer tok-abcdefgh {filler} {JWT} {filler} s3cr3t-value"
    assert len(big) > 1_000_000
    out = r.text(big)
    assert "s3cr3t-value" not in out and "tok-abcdefgh" not in out and JWT not in out
    assert out.count(MARK) == 4
    assert out.count("lorem ipsum dolor sit amet") == 60000


def test_repr_tells_nothing():
    assert "hunter22" not in repr(Redactor(["hunter22"]))
