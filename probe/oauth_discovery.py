"""Find a gateway's OAuth token endpoint from the gateway itself: RFC 9728, then RFC 8414.

With `--oauth-discover` the operator gives only the client id and secret. The probe asks
the MCP endpoint without a token; a protected resource answers 401 with
`WWW-Authenticate: Bearer resource_metadata="..."` (RFC 9728 section 5.1), or publishes its
metadata at the well-known location. That document names the authorization server,
whose own metadata (RFC 8414, or OpenID Connect discovery) names the token endpoint.
Every request is made through the run's recorder, so the discovery is in the transcript.

The parsing is pure; `discover` is the I/O, returning a Step and the endpoint it found.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from probe.exchange import Posted, Recorder
from probe.outcome import Detail, Exchange, Outcome, Step

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
MAX_METADATA_BYTES = 256 * 1024


def challenge_params(www_authenticate: str | None) -> dict[str, str]:
    """The auth-params of a Bearer challenge (`resource_metadata`, `scope`, `error`, ...)."""
    if not www_authenticate:
        return {}
    _, _, rest = www_authenticate.strip().partition(" ")
    return {m[1].lower(): (m[2] if m[2] is not None else m[3]).replace('\\"', '"') for m in _PARAM.finditer(rest)}


def well_known(url: str, name: str) -> list[str]:
    """Where metadata for `url` may live: path-inserted first (RFC 9728 3.1, RFC 8414 3.1), then the root."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    candidates = []
    if path:
        candidates.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", "")))
    candidates.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}", "", "")))
    return candidates


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 (path-inserted), OpenID Connect discovery (path-inserted, then appended), as MCP clients try them."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = (parts.scheme, parts.netloc)
    if not path:
        return [urlunsplit((*origin, "/.well-known/oauth-authorization-server", "", "")),
                urlunsplit((*origin, "/.well-known/openid-configuration", "", ""))]
    return [urlunsplit((*origin, f"/.well-known/oauth-authorization-server{path}", "", "")),
            urlunsplit((*origin, f"/.well-known/openid-configuration{path}", "", "")),
            urlunsplit((*origin, f"{path}/.well-known/openid-configuration", "", ""))]


def _json(ex: Exchange) -> dict[str, Any] | None:
    if ex.status != 200:
        return None
    try:
        data = json.loads(ex.body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def same_resource(advertised: str, url: str) -> bool:
    """RFC 9728 3.3: the metadata's `resource` must be the URL the client asked about (scheme/host case-insensitive)."""
    a, b = urlsplit(advertised), urlsplit(url)
    return (a.scheme.lower(), a.netloc.lower(), a.path.rstrip("/")) == (b.scheme.lower(), b.netloc.lower(),
                                                                           b.path.rstrip("/"))


@dataclass(frozen=True)
class Discovered:
    token_endpoint: str
    resource: str | None
    issuer: str


async def discover(recorder: Recorder, url: str, first_request: tuple[str, dict[str, str]], *,
                   timeout: float) -> tuple[Step, Discovered | None]:
    """Ask the gateway where its tokens come from. The step is ok with the endpoint, or says what was missing."""
    import time

    started = time.perf_counter()
    exchanges: list[Exchange] = []

    async def get(u: str) -> Posted:
        posted = await recorder.send(u, method="GET", headers={"accept": "application/json"}, timeout=timeout,
                                     cap=MAX_METADATA_BYTES)
        exchanges.append(posted.record)
        return posted

    def step(outcome: Outcome, message: str | None, hint: str | None, **data: Any) -> Step:
        return Step("oauth2/discover", outcome, exchanges, Detail(message=message, rule="oauth_discovery"), hint,
                    data, round((time.perf_counter() - started) * 1000, 1))

    body, headers = first_request
    probe = await recorder.send(url, content=body, headers=headers, timeout=timeout, cap=MAX_METADATA_BYTES)
    exchanges.append(probe.record)
    if probe.raw.status is None:
        return step(Outcome.TRANSPORT_ERROR, f"{probe.raw.error}: {probe.record.error_message}",
                    "The gateway did not answer: check the URL."), None
    params = challenge_params(probe.raw.headers.get("www-authenticate"))
    candidates = ([params["resource_metadata"]] if params.get("resource_metadata") else []) + \
        well_known(url, "oauth-protected-resource")
    prm: dict[str, Any] | None = None
    for candidate in candidates:
        if urlsplit(candidate).scheme not in ("http", "https"):
            continue
        prm = _json((await get(candidate)).raw)
        if prm is not None:
            break
    no_prm_hint = "Pass --oauth-token-url: the gateway does not say where its tokens come from."
    if prm is None:
        return step(Outcome.PROTOCOL_ERROR, "no protected resource metadata (RFC 9728): the gateway answered HTTP "
                    f"{probe.raw.status} and no metadata document was found", no_prm_hint), None
    resource = prm.get("resource") if isinstance(prm.get("resource"), str) else None
    if resource is not None and not same_resource(resource, url):
        return step(Outcome.PROTOCOL_ERROR, f"the protected resource metadata is for {recorder.redactor.url(resource)}"
                    f", not this URL (RFC 9728 3.3)", no_prm_hint), None
    servers = [s for s in prm.get("authorization_servers") or [] if isinstance(s, str)]
    if not servers:
        return step(Outcome.PROTOCOL_ERROR, "the protected resource metadata names no authorization server",
                    no_prm_hint), None
    issuer = servers[0]
    for candidate in authorization_server_metadata_urls(issuer):
        meta = _json((await get(candidate)).raw)
        if meta is None:
            continue
        if isinstance(meta.get("issuer"), str) and meta["issuer"].rstrip("/") != issuer.rstrip("/"):
            said, asked = recorder.redactor.url(meta["issuer"]), recorder.redactor.url(issuer)
            return step(Outcome.PROTOCOL_ERROR, f"the authorization server metadata's issuer {said} is not "
                        f"{asked} (RFC 8414 3.3)", no_prm_hint), None
        endpoint = meta.get("token_endpoint")
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            return step(Outcome.PROTOCOL_ERROR, "the authorization server metadata has no token_endpoint",
                        no_prm_hint), None
        found = Discovered(endpoint, resource, issuer)
        return step(Outcome.OK, None, None, token_endpoint=recorder.redactor.url(endpoint),
                    authorization_server=recorder.redactor.url(issuer)), found
    return step(Outcome.PROTOCOL_ERROR, f"no authorization server metadata found for {recorder.redactor.url(issuer)}",
                no_prm_hint), None
