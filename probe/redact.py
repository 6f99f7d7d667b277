"""The one place that knows what a secret looks like.

Everything the probe prints, saves or attaches to a report passes through a `Redactor`
first, so a transcript can be pasted into a ticket as is. Two nets, because either alone
leaks: the values the probe itself handled (tokens it read, secrets it sent, credentials
it signed with, the values of the URL's query and userinfo) are removed wherever they
appear, in every encoding a transcript can hold them in; and shapes that are secret
whoever made them (an `Authorization` value, a JWT, an AWS access key id, an OAuth token
field) are removed even when the probe never saw the value, e.g. a token echoed back by a
misbehaving server.

How, and why this way:

- Every rule only finds *spans* of secret text; the spans are merged and each replaced by
  `MARK` once. No rule ever sees another's output, so the order of the rules does not
  matter and a known value inside a token can never split it into pieces that leak.
- A server may JSON-escape what it echoes (`\\/`, `\\u0041`, any character, mixed) or
  percent-encode it. Known values are looked up (with `str.find`) in the text and in
  decoded views of it (JSON escapes undone, percent-encoding undone); shapes are matched
  on a view where only the escapes that stand for ordinary characters are undone. The
  spans found in a view are mapped back to the text, widened to whole escapes.
- A span never cuts an escape sequence in half and never eats the backslash of an
  escaped quote, so redacting a JSON document leaves it valid JSON (a saved exchange is
  re-judged from its redacted record). If a value that is not a string was a known
  secret (a number), the document is redacted value by value instead.
- Every pattern is linear in the length of the text: no quantified run can overlap the
  start of the next candidate match (bench/redact.py measures it on 1 MB of near misses).
  Bodies reach megabytes and redaction runs after the request's deadline.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import accumulate
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

MARK = "[REDACTED]"

# A URL query value or userinfo shorter than this is still removed from the displayed URL,
# but not hunted in bodies: it cannot be told apart from ordinary text (`?v=1` would turn
# every `1` of a transcript into MARK) and is too short to be a credential worth stealing.
MIN_URL_SECRET = 4

Span = tuple[int, int]

SHORT_TEXT = 4096  # below this length, one regex search first tells whether a rule has anything to find

# Header names whose whole value is a credential (beyond the structured ones below).
_SECRET_HEADER_NAME = re.compile(r"(?i)(?:token|secret|password|api[-_]?key)")

# -- building blocks --------------------------------------------------------------------

# One character of an unquoted credential: not a space, quote or list separator, and not
# a backslash that escapes a quote or a JSON control letter (an escaped backslash `\\` is
# part of the value). Stopping there is what keeps `\"` (a quote inside a JSON string)
# whole, and with it the JSON valid.
_TOK = r"""(?:[^\s"',;\\]|\\\\|\\(?=[^\s"'\\/bfnrtu]))"""
# Quoted values: a JSON string (escapes taken in pairs), a quoted string inside a JSON
# string (`\"...\"`), or a single-quoted one (a Python repr).
_DQ = r'"(?P<dq>(?:[^"\\\r\n]|\\[^\r\n])*+)"'
_EDQ = r'\\"(?P<edq>(?:[^"\\\r\n]|\\[^"\r\n])*+)\\"'
_SQ = r"'(?P<sq>(?:[^'\\\r\n]|\\[^\r\n])*+)'"
_QUOTED_GROUPS = ("dq", "edq", "sq")

# `Authorization: Bearer x` as a header line, `"authorization": "Bearer x"` in JSON (also
# inside a JSON string, with escaped quotes) or a Python repr: the name, then the value
# up to its closing quote or, unquoted, as far as the value's own syntax goes (a
# transcript may be one long line; the rest must survive).
def _header_in_text(names: str, bare: str) -> re.Pattern[str]:
    return re.compile(
        rf"""(?i)(?<![\w-])(?P<q>\\?["']|)(?P<name>{names})(?P=q)\s*+:\s*+(?:{_DQ}|{_EDQ}|{_SQ}|(?P<bare>{bare}))"""
    )


# Unquoted, a word after the name is a scheme only if it is a known one; otherwise it is
# the credential itself and whatever follows is ordinary text.
_SCHEMES = r"(?:Bearer|Basic|Digest|Negotiate|NTLM|Token|DPoP|MAC|HOBA|Mutual|ApiKey)"
_SIGV4_FIELD = r"""(?:Credential|SignedHeaders|Signature)=[^,\s"'\\]*+"""
_AUTH_IN_TEXT = _header_in_text(
    "proxy-authorization|authorization",
    rf"AWS4-[A-Za-z0-9-]++[ \t]++{_SIGV4_FIELD}(?:[ \t]*+,[ \t]*+{_SIGV4_FIELD})*+|(?:{_SCHEMES}[ \t]+)?{_TOK}++",
)
_COOKIE_IN_TEXT = _header_in_text("set-cookie|cookie", r"""[^\r\n"'\\]*+""")
_TOKEN_IN_TEXT = _header_in_text("x-amz-security-token", rf"{_TOK}*+")

# Inside an Authorization value: what SigV4 keeps secret (the scope and the signed-header
# list stay: they explain a signature mismatch).
_SIGV4_SECRET = re.compile(r"""(Credential=|Signature=)([^/,\s"'\\]*+)""")
_COOKIE_PAIR = re.compile(r"(?:^|;)\s*+[^=;\s]++\s*+=([^;]*+)")

# A credential in a query string or form body: the value runs to the next `&`.
_PARAM_IN_TEXT = re.compile(
    r"(?i)(?<![\w-])"
    r"(?:x-amz-security-token|x-amz-signature|x-amz-credential|client_secret|access_token|refresh_token|id_token)"
    r"""=([^&\s"'#\\]*+)"""
)

# OAuth token fields in JSON (also inside a JSON string), or a Python repr of a dict.
_JSON_FIELD = re.compile(
    rf"""(?i)(?P<q>\\?["'])(?:access_token|refresh_token|id_token|client_secret)(?P=q)\s*+:\s*+(?:{_DQ}|{_EDQ}|{_SQ})"""
)

# A JWS/JWE compact serialization: base64url JSON header (`{"` -> `eyJ`), then 2 to 4 parts.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}+(?:\.[A-Za-z0-9_-]*+){2,4}")

_AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")

# SigV4 fragments outside a recognisable header (a repr of a header list, a log line). The
# key id stops at `=` too: otherwise every `Credential=` of a long run without a `/` would
# rescan the rest of the run (quadratic on a body full of them).
_LOOSE_CREDENTIAL = re.compile(r"""(?<![\w-])Credential=(?!\[)([^/,\s"'=\\]++)/""")
_LOOSE_SIGNATURE = re.compile(r"(?<![\w-])Signature=([0-9a-fA-F]{16,}+)")

# `Bearer <token68>` wherever it stands; an auth-param list (`Bearer realm="x"`, as in
# WWW-Authenticate) is not a credential and is left alone.
_LOOSE_SCHEME = re.compile(
    r"""(?<![\w-])(?:Bearer|Basic)\s++(?![A-Za-z0-9._~+/-]++=\s*+["A-Za-z0-9])([A-Za-z0-9._~+/-]{8,}+=*+)"""
)



# -- spans inside a header value ----------------------------------------------------------


def _authorization_spans(value: str, at: int = 0) -> Iterator[Span]:
    """The secret parts of an Authorization value: everything but the scheme word (and SigV4's scope)."""
    body = value.strip()
    if not body:
        return
    start = at + len(value) - len(value.lstrip())
    scheme, sep, rest = body.partition(" ")
    if not sep:
        yield start, start + len(body)
        return
    offset = start + len(scheme) + 1
    if scheme.upper().startswith("AWS4-"):
        for m in _SIGV4_SECRET.finditer(rest):
            yield offset + m.start(2), offset + m.end(2)
        return
    token = rest.strip()
    offset += len(rest) - len(rest.lstrip())
    yield offset, offset + len(token)


def _cookie_spans(value: str, at: int = 0) -> Iterator[Span]:
    """Cookie names stay (they tell which session was sent); their values go."""
    found = False
    for m in _COOKIE_PAIR.finditer(value):
        found = True
        yield at + m.start(1), at + m.end(1)
    if not found and value.strip():
        yield at, at + len(value)


def _set_cookie_spans(value: str, at: int = 0) -> Iterator[Span]:
    """Only the first pair of a Set-Cookie is the cookie; the rest are attributes."""
    name, eq, rest = value.partition("=")
    if not eq:
        if value.strip():
            yield at, at + len(value)
        return
    start = at + len(name) + 1
    yield start, start + len(rest.partition(";")[0])


def _whole_spans(value: str, at: int = 0) -> Iterator[Span]:
    if value.strip():
        yield at, at + len(value)


_BY_HEADER: dict[str, Callable[[str, int], Iterator[Span]]] = {
    "authorization": _authorization_spans,
    "proxy-authorization": _authorization_spans,
    "cookie": _cookie_spans,
    "set-cookie": _set_cookie_spans,
    "x-amz-security-token": _whole_spans,
}


def _replace(text: str, spans: Iterable[Span]) -> str:
    """`text` with every span (merged where they overlap or touch) replaced by MARK."""
    merged: list[list[int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text
    out: list[str] = []
    last = 0
    for start, end in merged:
        out.append(text[last:start])
        out.append(MARK)
        last = end
    out.append(text[last:])
    return "".join(out)


def redact_authorization(value: str) -> str:
    """An Authorization value with its scheme kept, so a transcript still says what was sent.

    SigV4 keeps its scope and signed-header list (they explain a signature mismatch) and
    loses the access key id and the signature.
    """
    return _replace(value, _authorization_spans(value))


# -- spans of shapes in text ------------------------------------------------------------------


def _group_spans(*groups: int) -> Callable[[re.Match[str]], Iterator[Span]]:
    def spans(m: re.Match[str]) -> Iterator[Span]:
        for g in groups:
            yield m.span(g)

    return spans


def _whole_match(m: re.Match[str]) -> Iterator[Span]:
    yield m.span()


def _quoted_span(m: re.Match[str]) -> Iterator[Span]:
    for g in _QUOTED_GROUPS:
        if m.group(g) is not None:
            yield m.span(g)


def _header_value_spans(m: re.Match[str]) -> Iterator[Span]:
    rule = _BY_HEADER[m["name"].lower()]
    for g in (*_QUOTED_GROUPS, "bare"):
        if m.group(g) is not None:
            yield from rule(m.group(g), m.start(g))
            return


# Each rule with the words one of which every match holds (compared in lower case): a rule
# whose words are absent is not run at all, which is most rules on most bodies.
_SHAPES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Iterable[Span]], tuple[str, ...]], ...] = (
    (_AUTH_IN_TEXT, _header_value_spans, ("authorization",)),
    (_COOKIE_IN_TEXT, _header_value_spans, ("cookie",)),
    (_TOKEN_IN_TEXT, _header_value_spans, ("x-amz-security-token",)),
    (_JSON_FIELD, _quoted_span, ("access_token", "refresh_token", "id_token", "client_secret")),
    (_PARAM_IN_TEXT, _group_spans(1), ("x-amz-", "client_secret", "access_token", "refresh_token", "id_token")),
    (_JWT, _whole_match, ("eyj",)),
    (_AWS_ACCESS_KEY_ID, _whole_match, ("akia", "asia")),
    (_LOOSE_CREDENTIAL, _group_spans(1), ("credential=",)),
    (_LOOSE_SIGNATURE, _group_spans(1), ("signature=",)),
    (_LOOSE_SCHEME, _group_spans(1), ("bearer", "basic")),
)


_ANY_WORD = re.compile("|".join(re.escape(w) for _, _, words in _SHAPES for w in words), re.IGNORECASE)


def _shape_spans(text: str) -> Iterator[Span]:
    if len(text) <= SHORT_TEXT and not _ANY_WORD.search(text):
        return
    lowered = text.lower()
    for pattern, spans_of, words in _SHAPES:
        if any(w in lowered for w in words):
            for m in pattern.finditer(text):
                yield from spans_of(m)


class _View:
    """A decoded copy of a text, and the way back: each decoded piece stands for its whole source.

    Built from `pattern.split(text)` (literal text and source pieces alternate), so the
    work per piece is done by C loops, not Python ones: a body can hold a million escapes.
    A span found in the view maps back so that it covers every source piece it touches
    whole (an escape is never cut in half).
    """

    def __init__(self, parts: list[str], offsets: list[int], decoded: list[str]) -> None:
        self._offsets = offsets
        view_parts = parts.copy()
        view_parts[1::2] = decoded
        self.text = "".join(view_parts)
        self._view_offsets = list(accumulate(map(len, view_parts), initial=0))

    @classmethod
    def of(cls, text: str, pattern: re.Pattern[str], decode: Callable[[str], str]) -> _View:
        parts = pattern.split(text)
        pieces = parts[1::2]
        table = {p: decode(p) for p in set(pieces)}
        return cls(parts, list(accumulate(map(len, parts), initial=0)), list(map(table.__getitem__, pieces)))

    def _position(self, v: int, *, end: bool) -> int:
        probe = v - 1 if end else v
        i = bisect.bisect_right(self._view_offsets, probe) - 1  # the part that holds the character
        if i % 2:  # a decoded piece: all of its source
            return self._offsets[i + 1] if end else self._offsets[i]
        return self._offsets[i] + (v - self._view_offsets[i])

    def to_text(self, span: Span) -> Span:
        return self._position(span[0], end=False), self._position(span[1], end=True)


_JSON_SHORT = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# A JSON escape, taken in pairs from the start: `\\u0041` is an escaped backslash and text, not `A`.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\s\S])")
_ESCAPE_RUN = re.compile(r"((?:\\(?:u[0-9a-fA-F]{4}|[\s\S]))++)")


def _unescape(esc: str) -> str:
    if len(esc) == 6:
        return chr(int(esc[2:], 16))
    return _JSON_SHORT.get(esc[1], esc)


def _unescape_ordinary(esc: str) -> str:
    c = _unescape(esc)
    return c if len(c) == 1 and c >= " " and c not in '"\\' else esc


class _Escapes:
    """The JSON escapes of a text: where they are, and two decoded views of it.

    `shapes` decodes only the escapes that stand for an ordinary character (`\\/`,
    `\\u0041`): a quote, a backslash or a control stays escaped, so the view keeps the
    text's structure and a rule that stops at `\\"` in the text stops there in the view
    too. `values` decodes every escape: a known secret is looked up there as it is.
    """

    def __init__(self, text: str) -> None:
        parts = _ESCAPE_RUN.split(text)  # runs of escapes: a piece is a whole run
        self._offsets = list(accumulate(map(len, parts), initial=0))
        runs = parts[1::2]
        distinct = set(runs)
        values: dict[str, str] = {}
        shapes: dict[str, str] = {}
        for r in distinct:
            try:  # the C decoder; the shapes view escapes again what is not ordinary text
                values[r] = json.loads(f'"{r}"')
                shapes[r] = json.dumps(values[r], ensure_ascii=False)[1:-1]
            except ValueError:  # an escape JSON does not know (`\\x`): one at a time
                values[r] = _ESCAPE.sub(lambda m: _unescape(m.group()), r)
                shapes[r] = _ESCAPE.sub(lambda m: _unescape_ordinary(m.group()), r)
        self.values = _View(parts, self._offsets, list(map(values.__getitem__, runs)))
        self.shapes = _View(parts, self._offsets, list(map(shapes.__getitem__, runs)))

    def align(self, span: Span) -> Span:
        """Widen a span found in the text itself so that it never starts or ends inside an escape."""
        start, end = span
        offsets = self._offsets
        i = bisect.bisect_right(offsets, start) - 1
        if i % 2 and offsets[i] < start:
            start = offsets[i]
        j = bisect.bisect_right(offsets, end - 1) - 1
        if j % 2 and end < offsets[j + 1]:
            end = offsets[j + 1]
        return start, end


_PERCENT_SPLIT = re.compile(r"((?:%[0-9a-fA-F]{2})++|\++)")


def _unpercent(run: str) -> str:
    if run[0] == "+":
        return " " * len(run)
    return bytes.fromhex(run.replace("%", "")).decode("utf-8", "surrogateescape")


# -- known values -----------------------------------------------------------------------------


def _known_forms(secret: str) -> tuple[str, ...]:
    """The literal forms of a secret, looked up in the text and in its decoded views.

    The views undo JSON escapes (any mix of `\\/`, `\\uXXXX`, `\\"`...) and percent-encoding;
    what is left to look for is the value itself, its UTF-16 halves (a JSON encoder writes
    a character beyond U+FFFF as two escapes, decoded one at a time), and base64 (a Basic
    header, a token inside a token).
    """
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {secret}
    units = secret.encode("utf-16-le", "surrogatepass")
    forms.add("".join(chr(int.from_bytes(units[i:i + 2], "little")) for i in range(0, len(units), 2)))
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.add(b64)
        forms.add(b64.rstrip("="))
    # JSON inside JSON: the views undo one level of escapes, so a secret a JSON encoder escaped
    # once more (PHP's `\/`, every character as `\uXXXX`, a quote or backslash) is looked up
    # in its once-escaped forms too.
    forms.add(json.dumps(secret, ensure_ascii=True)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=True)[1:-1].replace("/", "\\/"))
    every = "".join(f"\\u{u:04x}" for u in (int.from_bytes(units[i:i + 2], "little")
                                             for i in range(0, len(units), 2)))
    forms.update({every, every.upper().replace("\\U", "\\u")})
    forms.discard("")
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def _find_all(text: str, forms: Iterable[str], any_form: re.Pattern[str]) -> Iterator[Span]:
    """Every occurrence of every form: `str.find` is linear whatever the text and the form."""
    if len(text) <= SHORT_TEXT and not any_form.search(text):
        return
    for form in forms:
        i = text.find(form)
        while i >= 0:
            yield i, i + len(form)
            i = text.find(form, i + len(form))


# -- JSON kept valid ------------------------------------------------------------------------------


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


_DATA_PREFIX = re.compile(r"data: ?")


class Redactor:
    """Removes known secret values and secret-shaped text.

    Mutable on purpose: secrets become known while the run proceeds (a token fetched,
    credentials refreshed), and every component shares the one instance.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str, ...]] = {}
        self._forms: tuple[str, ...] = ()
        self._any_form = re.compile("(?!)")
        for s in secrets:
            self.add(s)

    def __repr__(self) -> str:
        return f"Redactor({len(self._known)} known secrets)"

    def add(self, secret: str | None) -> None:
        """Remember a secret value; empty and already known values cost nothing."""
        if not secret or secret in self._known:
            return
        with self._lock:
            self._known = {**self._known, secret: _known_forms(secret)}
            forms = tuple(sorted({f for fs in self._known.values() for f in fs}, key=lambda f: (-len(f), f)))
            self._forms, self._any_form = forms, re.compile("|".join(re.escape(f) for f in forms))

    def add_url_secrets(self, url: str) -> None:
        """Every value of `url`'s query and its userinfo become secrets of the run.

        A server echoes what it was sent (a redirect's `Location`, a 404 page that quotes
        the request), so an `?api_key=...` must be hunted in bodies and headers like a
        token, as sent and decoded. Names stay: `api_key` tells the reader what was sent.
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            return
        values: set[str] = set()
        for pair in parts.query.split("&"):
            _, _, value = pair.partition("=")
            values.update({value, unquote(value), unquote_plus(value)})
        values.update(v for _, v in parse_qsl(parts.query, keep_blank_values=True))
        userinfo, at, _ = parts.netloc.rpartition("@")
        if at:
            for value in userinfo.split(":", 1):
                values.update({value, unquote(value)})
        for value in values:
            if len(value) >= MIN_URL_SECRET:
                self.add(value)

    def spans(self, s: str) -> list[Span]:
        """Where the secrets in `s` are (merged by the caller): the shapes and the known values."""
        escapes = _Escapes(s) if "\\" in s else None
        if escapes is None:
            found = list(_shape_spans(s))
        else:
            found = [escapes.shapes.to_text(sp) for sp in _shape_spans(escapes.shapes.text)]
        forms, any_form = self._forms, self._any_form
        if forms:
            found.extend(_find_all(s, forms, any_form))
            views = [escapes.values] if escapes is not None else []
            if "%" in s or "+" in s:
                views.append(_View.of(s, _PERCENT_SPLIT, _unpercent))
            for view in views:
                found.extend(view.to_text(sp) for sp in _find_all(view.text, forms, any_form))
        if escapes is not None:
            found = [escapes.align(sp) for sp in found if sp[1] > sp[0]]
        return found

    def text(self, s: str) -> str:
        """Redact free text: bodies, transcripts, error messages. A JSON document stays valid JSON."""
        if not s:
            return s
        out = _replace(s, self.spans(s))
        if out == s:
            return s
        return self._keep_json(s, out)

    # -- JSON validity ------------------------------------------------------------------------

    def _keep_json(self, original: str, redacted: str) -> str:
        """If a JSON document (or an event stream's JSON data line) stopped parsing, redact it by value."""
        if _parses(redacted):
            return redacted
        if _parses(original):
            return self._json_by_value(original)
        before, after = original.split("\n"), redacted.split("\n")
        if len(before) != len(after):
            return redacted
        lines = []
        for b, a in zip(before, after, strict=True):
            if a != b:
                prefix = m.group() if (m := _DATA_PREFIX.match(b)) else ""
                cr = "\r" if b.endswith("\r") and a.endswith("\r") else ""
                b_json, a_json = b[len(prefix):len(b) - len(cr)], a[len(prefix):len(a) - len(cr)]
                if a.startswith(prefix) and not _parses(a_json) and _parses(b_json):
                    a = prefix + self._json_by_value(b_json) + cr
            lines.append(a)
        return "\n".join(lines)

    def _json_by_value(self, original: str) -> str:
        """Redact each string (keys too) and each number that holds a secret; the result is JSON again."""
        compact = '": ' not in original
        try:
            value = self._redact_value(json.loads(original))
            return json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)
        except (ValueError, RecursionError):
            return json.dumps(MARK)

    def _redact_value(self, v: object) -> object:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {self.text(k): self._redact_value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self._redact_value(x) for x in v]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            shown = json.dumps(v)
            return MARK if self.text(shown) != shown else v
        return v

    # -- structured values ----------------------------------------------------------------

    def url(self, u: str) -> str:
        """Redact a URL for display: no userinfo, no query values (API keys ride there)."""
        from probe.spec import display_url

        return self.text(display_url(u))

    def headers(self, h: Mapping[str, str]) -> dict[str, str]:
        """Redact a header mapping; names are kept as given."""
        out: dict[str, str] = {}
        for name, value in h.items():
            lname = name.lower()
            rule = _BY_HEADER.get(lname)
            if rule is not None:
                value = _replace(value, rule(value, 0))
            elif _SECRET_HEADER_NAME.search(lname):
                value = MARK
            out[name] = self.text(value)
        return out
