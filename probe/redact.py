"""The one place that knows what a secret looks like.

Everything the probe prints, saves or attaches to a report passes through a `Redactor`
first, so a transcript can be pasted into a ticket as is. Two nets, because either alone
leaks: the values the probe itself handled (tokens it read, secrets it sent, credentials
it signed with) are removed wherever they appear, in the encodings a transcript can hold
them in; and shapes that are secret whoever made them (an `Authorization` value, a JWT,
an AWS access key id, an OAuth token field) are removed even when the probe never saw the
value, e.g. a token echoed back by a misbehaving server.

Patterns are compiled once at import time: bodies can reach megabytes and every one of
them goes through here.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, quote_plus

MARK = "[REDACTED]"

# Header names whose whole value is a credential (beyond the structured ones below).
_SECRET_HEADER_NAME = re.compile(r"(?i)(?:token|secret|password|api[-_]?key)")

_SIGV4_CREDENTIAL = re.compile(r"(Credential=)([^/,\s]*)(/?)")
_SIGV4_SIGNATURE = re.compile(r"(Signature=)([^,\s]*)")
_COOKIE_PAIR = re.compile(r"(^|;)(\s*[^=;\s]+\s*=)([^;]*)")

# `Authorization: Bearer x` as a header line, `"authorization": "Bearer x"` in JSON or a
# Python repr: the name, then the value up to its closing quote or, unquoted, as far as
# the value's own syntax goes (a transcript may be one long line; the rest must survive).
def _header_in_text(names: str, bare: str) -> re.Pattern[str]:
    return re.compile(
        rf"""(?ix)
        (?<![\w-])
        (?P<q>["']?)
        (?P<name>{names})
        (?P=q)
        (?P<sep>\s*:\s*)
        (?:
            "(?P<dq>[^"\r\n]*)"
          | '(?P<sq>[^'\r\n]*)'
          | (?P<bare>{bare})
        )
        """
    )


# Unquoted, a word after the name is a scheme only if it is a known one; otherwise it is
# the credential itself and whatever follows is ordinary text.
_SCHEMES = r"(?:Bearer|Basic|Digest|Negotiate|NTLM|Token|DPoP|MAC|HOBA|Mutual|ApiKey)"
_SIGV4_FIELDS = r"(?:Credential|SignedHeaders|Signature)=[^,\s\"']*"
_AUTH_IN_TEXT = _header_in_text(
    "proxy-authorization|authorization",
    rf"AWS4-[A-Za-z0-9-]+[ \t]+{_SIGV4_FIELDS}(?:[ \t]*,[ \t]*{_SIGV4_FIELDS})*"
    rf"|(?:{_SCHEMES}[ \t]+)?[^\s\"',;]+",
)
_COOKIE_IN_TEXT = _header_in_text("set-cookie|cookie", r"[^\r\n\"']*")
_TOKEN_IN_TEXT = _header_in_text("x-amz-security-token", r"[^\s\"',;]*")

# A credential in a query string or form body: the value runs to the next `&`.
_PARAM_IN_TEXT = re.compile(
    r"(?i)(?<![\w-])"
    r"(x-amz-security-token|x-amz-signature|x-amz-credential|client_secret|access_token|refresh_token|id_token)"
    r"(=)([^&\s\"'#]*)"
)

# OAuth token fields in JSON (or a Python repr of a dict).
_JSON_FIELD = re.compile(
    r"""(?P<k>(?P<q>["'])(?:access_token|refresh_token|id_token|client_secret)(?P=q)\s*:\s*)"""
    r"""(?:"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*')"""
)

# A JWS/JWE compact serialization: base64url JSON header (`{"` -> `eyJ`), then 2 to 4 parts.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){2,4}")

_AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")

# SigV4 fragments outside a recognisable header (a repr of a header list, a log line).
_LOOSE_CREDENTIAL = re.compile(r"(?<![\w-])(Credential=)(?!\[)([^/,\s\"']+)(/)")
_LOOSE_SIGNATURE = re.compile(r"(?<![\w-])(Signature=)([0-9a-fA-F]{16,})")

# `Bearer <token68>` wherever it stands; an auth-param list (`Bearer realm="x"`, as in
# WWW-Authenticate) is not a credential and is left alone.
_LOOSE_SCHEME = re.compile(
    r"(?<![\w-])(Bearer|Basic)(\s+)(?![A-Za-z0-9._~+/-]+=\s*[\"A-Za-z0-9])([A-Za-z0-9._~+/-]{8,}=*)"
)


def redact_authorization(value: str) -> str:
    """An Authorization value with its scheme kept, so a transcript still says what was sent.

    SigV4 keeps its scope and signed-header list (they explain a signature mismatch) and
    loses the access key id and the signature.
    """
    stripped = value.strip()
    if not stripped:
        return value
    scheme, sep, rest = stripped.partition(" ")
    if not sep:
        return MARK
    if scheme.upper().startswith("AWS4-"):
        rest = _SIGV4_CREDENTIAL.sub(lambda m: f"{m[1]}{MARK}{m[3]}", rest)
        rest = _SIGV4_SIGNATURE.sub(lambda m: f"{m[1]}{MARK}", rest)
        return f"{scheme} {rest.strip()}"
    return f"{scheme} {MARK}"


def _redact_cookie(value: str) -> str:
    """Cookie names stay (they tell which session was sent); their values go."""
    redacted, pairs = _COOKIE_PAIR.subn(lambda m: f"{m[1]}{m[2]}{MARK}", value)
    return redacted if pairs or not value.strip() else MARK


def _redact_set_cookie(value: str) -> str:
    """Only the first pair of a Set-Cookie is the cookie; the rest are attributes."""
    name, eq, rest = value.partition("=")
    if not eq:
        return MARK
    _, semi, attributes = rest.partition(";")
    return f"{name}={MARK}{semi}{attributes}"


def _redact_whole(_: str) -> str:
    return MARK


_BY_HEADER: dict[str, Callable[[str], str]] = {
    "authorization": redact_authorization,
    "proxy-authorization": redact_authorization,
    "cookie": _redact_cookie,
    "set-cookie": _redact_set_cookie,
    "x-amz-security-token": _redact_whole,
}


def _forms(secret: str) -> set[str]:
    """The encodings a known secret shows up in: raw, URL-encoded, JSON-escaped, base64."""
    raw = secret.encode("utf-8")
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret, ensure_ascii=True)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.add(b64)
        forms.add(b64.rstrip("="))
    forms.discard("")
    return forms


class Redactor:
    """Removes known secret values and secret-shaped text.

    Mutable on purpose: secrets become known while the run proceeds (a token fetched,
    credentials refreshed), and every component shares the one instance.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._known: re.Pattern[str] | None = None
        for s in secrets:
            self.add(s)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} known secrets)"

    def add(self, secret: str | None) -> None:
        """Remember a secret value; empty and already known values cost nothing."""
        if not secret or secret in self._secrets:
            return
        with self._lock:
            self._secrets.add(secret)
            forms: set[str] = set()
            for s in self._secrets:
                forms |= _forms(s)
            # Longest first, so a secret that contains another is removed whole.
            alternation = "|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f)))
            self._known = re.compile(alternation)

    def text(self, s: str) -> str:
        """Redact free text: bodies, transcripts, error messages."""
        if not s:
            return s
        for pattern in (_AUTH_IN_TEXT, _COOKIE_IN_TEXT, _TOKEN_IN_TEXT):
            s = pattern.sub(_redact_header_in_text, s)
        s = _JSON_FIELD.sub(lambda m: f'{m["k"]}"{MARK}"', s)
        s = _PARAM_IN_TEXT.sub(lambda m: f"{m[1]}{m[2]}{MARK}" if m[3] else m[0], s)
        s = _JWT.sub(MARK, s)
        s = _AWS_ACCESS_KEY_ID.sub(MARK, s)
        s = _LOOSE_CREDENTIAL.sub(lambda m: f"{m[1]}{MARK}{m[3]}", s)
        s = _LOOSE_SIGNATURE.sub(lambda m: f"{m[1]}{MARK}", s)
        s = _LOOSE_SCHEME.sub(lambda m: f"{m[1]}{m[2]}{MARK}", s)
        # Known values last: replacing one first could split a token or a signature so
        # that its shape no longer matches and the rest of it would leak.
        known = self._known
        if known is not None:
            s = known.sub(MARK, s)
        return s

    def url(self, u: str) -> str:
        """Redact a URL for display: no userinfo, no query values (API keys ride there)."""
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        try:
            parts = urlsplit(u)
            netloc = parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
            query = urlencode([(k, MARK) for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="[]")
            return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, "")))
        except ValueError:
            return self.text(u.split("?", 1)[0].rpartition("@")[2])

    def headers(self, h: Mapping[str, str]) -> dict[str, str]:
        """Redact a header mapping; names are kept as given."""
        out: dict[str, str] = {}
        for name, value in h.items():
            lname = name.lower()
            rule = _BY_HEADER.get(lname)
            if rule is not None:
                value = rule(value)
            elif _SECRET_HEADER_NAME.search(lname):
                value = MARK
            out[name] = self.text(value)
        return out


def _redact_header_in_text(m: re.Match[str]) -> str:
    rule = _BY_HEADER[m["name"].lower()]
    prefix = f'{m["q"]}{m["name"]}{m["q"]}{m["sep"]}'
    if m["dq"] is not None:
        return f'{prefix}"{rule(m["dq"])}"'
    if m["sq"] is not None:
        return f"{prefix}'{rule(m['sq'])}'"
    return prefix + rule(m["bare"])
