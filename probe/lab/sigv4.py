"""Server-side SigV4 verification for the lab's AWS_IAM gateways.

Written from the SigV4 specification with hashlib/hmac only, never with botocore: the
probe signs with botocore, and a verifier built from the same code would agree with any
bug in it. Only what the signer declared in `SignedHeaders` is checked, as on AWS, so
headers a client or proxy adds after signing do not matter.

The verdict's `reason` is meant for the lab's logs and tests; what the lab answers on
the wire is its own business (AWS itself says little more than "signature mismatch").
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_UNRESERVED = "-_.~"
_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]*)\s*")


@dataclass(frozen=True)
class SigV4Verdict:
    ok: bool
    access_key_id: str | None
    reason: str


def verify_sigv4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_for: Callable[[str], str | None],
    service: str = "bedrock-agentcore",
    region: str | None = None,
    now: datetime | None = None,
    max_skew_s: int = 300,
) -> SigV4Verdict:
    """Is this request signed by the holder of the secret key its Credential names?

    `url` is the request target as received (path and query exactly as on the wire);
    `headers` are the received headers, any case. `region=None` accepts any region.
    """
    h = {k.lower(): v for k, v in headers.items()}
    auth = h.get("authorization")
    if not auth or not auth.strip():
        return SigV4Verdict(False, None, "missing Authorization")
    scheme, _, params = auth.strip().partition(" ")
    if scheme != ALGORITHM:
        return SigV4Verdict(False, None, "unsupported authorization scheme")
    fields = _parse_fields(params)
    if fields is None:
        return SigV4Verdict(False, None, "malformed Authorization")
    credential, signed_headers, signature = fields
    scope = credential.split("/")
    if len(scope) != 5 or not all(scope) or scope[4] != "aws4_request":
        return SigV4Verdict(False, None, "malformed credential scope")
    access_key_id, scope_date, scope_region, scope_service, _ = scope

    def deny(reason: str) -> SigV4Verdict:
        return SigV4Verdict(False, access_key_id, reason)

    if scope_service != service:
        return deny("wrong service")
    if region is not None and scope_region != region:
        return deny("wrong region")

    amz_date = h.get("x-amz-date")
    if amz_date is None:
        return deny("missing X-Amz-Date")
    try:
        signed_at = datetime.strptime(amz_date.strip(), _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        return deny("malformed X-Amz-Date")
    if amz_date.strip()[:8] != scope_date:
        return deny("credential date does not match X-Amz-Date")
    current = now if now is not None else datetime.now(UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    skew = timedelta(seconds=max_skew_s)
    if signed_at < current - skew:
        return deny("request expired")
    if signed_at > current + skew:
        return deny("request not yet valid")

    names = signed_headers.split(";")
    if names != sorted(names) or any(n != n.lower() or not n for n in names):
        return deny("malformed SignedHeaders")
    if "host" not in names:
        return deny("host not signed")
    if "x-amz-date" not in names:
        return deny("x-amz-date not signed")
    missing = [n for n in names if n not in h]
    if missing:
        return deny(f"signed header missing: {missing[0]}")

    payload_hash = hashlib.sha256(body).hexdigest()
    claimed = h.get("x-amz-content-sha256")
    if claimed is not None and claimed.strip() != payload_hash:
        return deny("payload hash mismatch")

    secret = secret_for(access_key_id)
    if secret is None:
        return deny("unknown access key")

    canonical = canonical_request(method, url, h, names, payload_hash)
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date.strip(), "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()]
    )
    expected = signature_for(secret, scope_date, scope_region, scope_service, string_to_sign)
    if not hmac.compare_digest(expected, signature.lower()):
        return deny("signature mismatch")
    return SigV4Verdict(True, access_key_id, "ok")


def _parse_fields(params: str) -> tuple[str, str, str] | None:
    found: dict[str, str] = {}
    for part in params.split(","):
        m = _FIELD.fullmatch(part)
        if m is None or m[1] in found or not m[2]:
            return None
        found[m[1]] = m[2]
    if set(found) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    return found["Credential"], found["SignedHeaders"], found["Signature"]


def canonical_request(
    method: str, url: str, headers: Mapping[str, str], signed: list[str], payload_hash: str
) -> str:
    """The SigV4 canonical request for a non-S3 service (path segments encoded twice)."""
    parts = urlsplit(url)
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in signed)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query(parts.query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )


def canonical_uri(raw_path: str) -> str:
    """Normalise the path as sent (dot segments, duplicate slashes), then encode it again.

    The path on the wire is already percent-encoded once; non-S3 services encode each
    segment a second time, so `%20` becomes `%2520`.
    """
    segments: list[str] = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def canonical_query(raw_query: str) -> str:
    """Decode each name and value, re-encode them strictly (RFC 3986 unreserved), sort."""
    if not raw_query:
        return ""
    pairs = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe=_UNRESERVED), quote(unquote(value), safe=_UNRESERVED)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def signature_for(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()
