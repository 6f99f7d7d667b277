"""The redactor: known values in every form they travel in, secret shapes by pattern, and
nothing else touched (a report that hides too much is as useless as one that leaks)."""

from __future__ import annotations

import base64
import contextlib
import json
import random
import signal
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from probe.classify import classify
from probe.outcome import Exchange, Outcome
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


# -- issue 13: URL secrets, escaped echoes, JSON kept valid, linear time -----------------------

QUERY_URL = "https://u53r-name:pa%40ss-w0rd@gw.example/mcp?api_key=query-secret-123&sig=a%2Fb%2Bc%3D%3D&v=1"


def test_url_query_values_and_userinfo_are_secrets_of_the_run() -> None:
    r = Redactor()
    r.add_url_secrets(QUERY_URL)
    location = "https://gw.example/login?next=%2Fmcp%3Fapi_key%3Dquery-secret-123"  # echoed, encoded again
    assert r.headers({"Location": location}) == {"Location": f"https://gw.example/login?next=%2Fmcp%3Fapi_key%3D{MARK}"}
    page = "<h1>404</h1><p>Cannot POST /mcp?api_key=query-secret-123&amp;sig=a%2Fb%2Bc%3D%3D</p>"
    assert r.text(page) == f"<h1>404</h1><p>Cannot POST /mcp?api_key={MARK}&amp;sig={MARK}</p>"
    assert r.text("sig a/b+c== and user u53r-name and pa@ss-w0rd") == f"sig {MARK} and user {MARK} and {MARK}"
    # too short to be told apart from text (and to be worth stealing): still off the displayed URL
    assert r.text('{"id":1,"v":1}') == '{"id":1,"v":1}'
    assert r.url(QUERY_URL) == f"https://gw.example/mcp?api_key={MARK}&sig={MARK}&v={MARK}"


def test_malformed_url_adds_nothing_and_does_not_raise() -> None:
    r = Redactor()
    r.add_url_secrets("http://[::1/mcp?k=abcdef")
    assert repr(r) == "Redactor(0 known secrets)"


def _escape_each(secret: str, rnd: random.Random) -> str:
    """The secret as some JSON encoder might write it: each character raw, `\\uXXXX` (either case) or short."""
    out = []
    for c in secret:
        forms = [f"\\u{ord(c):04x}", f"\\u{ord(c):04X}"] if ord(c) <= 0xFFFF else [json.dumps(c)[1:-1]]
        if c == "/":
            forms.append("\\/")
        if c not in '"\\' and ord(c) >= 0x20:
            forms.append(c)
        if c in '"\\':
            forms.append("\\" + c)
        out.append(rnd.choice(forms))
    return "".join(out)


@pytest.mark.parametrize("secret", ["AbCdEf/GhIjKl+MnOp==", 'p@ss w/rd"&=+\\', "tök€n-😀-ünïcode", "x/y/z/w"])
def test_known_values_in_every_json_escape(secret: str) -> None:
    r = Redactor([secret])
    rnd = random.Random(13)
    forms = {
        json.dumps(secret, ensure_ascii=True)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1].replace("/", "\\/"),  # PHP's json_encode
        "".join(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else json.dumps(c)[1:-1] for c in secret),
    }
    forms |= {_escape_each(secret, rnd) for _ in range(40)}
    for form in forms:
        body = f'{{"error":{{"code":-32600,"message":"bad token {form} given"}}}}'
        out = r.text(body)
        assert out == f'{{"error":{{"code":-32600,"message":"bad token {MARK} given"}}}}', form
        assert json.loads(out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"key \\u0041KIAIOSFODNN7EXAMPLE"', f'"key {MARK}"'),
        ('"t \\u0065yJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"', f'"t {MARK}"'),
        ('"failed: Bearer abcdefgh\\/ijklmnop+q"', f'"failed: Bearer {MARK}"'),
        ('{"access\\u005ftoken":"at-1\\/2"}', f'{{"access\\u005ftoken":"{MARK}"}}'),
        ('"Credential=AKID\\u0031234\\/20260101\\/us-east-1"', f'"Credential={MARK}\\/20260101\\/us-east-1"'),
    ],
)
def test_secret_shapes_written_with_escapes(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


HEALTHY_LIST = json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"tools": [
    {"name": "Api___get", "description": 'Send authorization: "Bearer <your token>" on every call',
     "inputSchema": {"type": "object"}},
    {"name": "Api___put", "description": "Header example: Authorization: Bearer abcdefgh12345\" end",
     "inputSchema": {"type": "object"}},
]}})


def test_redaction_of_a_healthy_list_keeps_it_valid_and_judged_ok() -> None:
    out = Redactor().text(HEALTHY_LIST)
    doc = json.loads(out)
    assert doc["result"]["tools"][0]["description"] == f'Send authorization: "Bearer {MARK}" on every call'
    assert doc["result"]["tools"][1]["description"] == f'Header example: Authorization: Bearer {MARK}" end'
    for body, ctype in ((out, "application/json"), (f"event: message\ndata: {out}\n\n", "text/event-stream")):
        ex = Exchange(rpc_method="tools/list", rpc_id=2, url="https://gw/mcp", http_method="POST",
                      request_headers={}, request_body="{}", status=200, headers={"content-type": ctype},
                      body=body, body_bytes=len(body), body_truncated=False, duration_ms=1.0)
        assert classify("tools/list", ex).outcome is Outcome.OK


SECRETS = ["tok-secret-value-77", "123456", "n0secret", "u1234567", 'q"uote\\d', "tök€n😀"]
FRAGMENTS = ["Authorization: Bearer ", "authorization: \"Bearer ", "Cookie: a=", "\\", "\"", "\n", "\t", "/",
             "access_token=", "Credential=", "Signature=", "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln", "AKIA", " ", ","]


def _hostile_value(rnd: random.Random, depth: int = 0) -> object:
    kind = rnd.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return int(rnd.choice(["123456", "1234567", "7"]))
    if kind in (1, 2):
        return "".join(rnd.choice(FRAGMENTS + SECRETS) for _ in range(rnd.randrange(1, 6)))
    if kind == 3:
        return [_hostile_value(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {_hostile_value(rnd, 3) if rnd.random() < 0.5 else "k": _hostile_value(rnd, depth + 1)  # type: ignore[misc]
            for _ in range(rnd.randrange(4))}


def _strings(v: object) -> Iterator[str]:
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
    elif isinstance(v, int):
        yield str(v)


def test_redacted_json_always_parses_and_holds_no_known_secret() -> None:
    r = Redactor(SECRETS)
    rnd = random.Random(2026)
    for case in range(250):
        doc = {"jsonrpc": "2.0", "id": 1, "result": _hostile_value(rnd)}
        text = json.dumps(doc, ensure_ascii=rnd.random() < 0.5, separators=(",", ":") if case % 2 else None)
        if rnd.random() < 0.3:
            text = text.replace("/", "\\/")
        sse = rnd.random() < 0.3
        out = r.text(f"event: message\r\ndata: {text}\r\n\r\n" if sse else text)
        data = out.split("data: ", 1)[1].split("\r\n")[0] if sse else out
        decoded = json.loads(data)  # valid JSON, whatever was redacted
        for s in _strings(decoded):
            for secret in SECRETS:
                assert secret not in s, (case, text)


@contextlib.contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Fail, rather than hang, if the block runs for minutes (a quadratic pattern would)."""
    def expire(_signum: int, _frame: object) -> None:
        raise AssertionError(f"redaction did not finish within {seconds} s: a pattern is not linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


ADVERSARIAL = ["Credential=", "Credential=a.", "authorization: \"", "authorization:\\\"x", "Bearer ", "Basic \t",
               "\"access_token\": \"", "eyJabcd.", "Signature=", "Cookie: a", "\\/", "\\u0041", "+", "%41",
               "tok-secret-value-7"]


@pytest.mark.parametrize("fragment", ADVERSARIAL)
def test_a_megabyte_of_near_misses_is_redacted_in_linear_time(fragment: str) -> None:
    """A quadratic pattern takes minutes on one megabyte of these (bench/redact.py prints the times)."""
    r = Redactor(["tok-secret-value-77"])
    text = fragment * (1_000_000 // len(fragment) + 1)
    with hang_guard(20):
        out = r.text(text)
    assert "tok-secret-value-77" not in out


@pytest.mark.parametrize("wrap", [
    lambda s: json.dumps({"text": '{"t":"' + s.replace("/", "\\/") + '"}'}),  # PHP's json_encode, inside JSON
    lambda s: json.dumps({"text": "".join(f"\\u{ord(c):04x}" for c in s)}),
    lambda s: json.dumps({"text": "".join(f"\\u{ord(c):04X}" for c in s)}),
    lambda s: json.dumps({"body": json.dumps({"token": s}, ensure_ascii=True).replace("/", "\\/")}),
])
def test_a_secret_escaped_as_json_inside_json(wrap):
    secret = "s3cr3t/T0KEN+abcdef123456"
    out = Redactor([secret]).text(wrap(secret))
    assert "s3cr3t" not in out and "\\u0073\\u0033" not in out.lower()
    assert "[REDACTED]" in out and json.loads(out)
