"""Pure rules from a recorded HTTP exchange to one outcome, its evidence and a hint.

One rule per wire shape, tried in order; the first that recognises the answer wins.
Strings are matched tolerantly (case-insensitive fragments, not whole messages)
because AgentCore has reworded them between releases. Nothing here does I/O, so a
saved exchange log is re-judged exactly as the live run judged it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probe.outcome import Detail, Exchange, Judgement, Outcome
from probe.wire import Decoded, decode_body

SEARCH_TOOL = "x_amz_bedrock_agentcore_search"

# -- the gateway's words, matched loosely ------------------------------------------------

POLICY_INTERNAL = re.compile(r"policy\s+evaluation\s+failed|internalserverexception\s*-\s*policy", re.I)
POLICY_DENIED = re.compile(
    r"tool\s+execution\s+denied|authorizeactionexception|not\s+allowed\s+due\s+to\s+policy|"
    r"policy\s+evaluation\s+denied",
    re.I,
)
THROTTLING = re.compile(r"throttl|rate\s+exceeded|too\s+many\s+requests|slow\s+down", re.I)
AUTH = re.compile(
    r"invalid\s+bearer|missing\s+authentication\s+token|unauthori[sz]ed|token\s+(has\s+)?expired|"
    r"expired\s+token|invalid\s+token|authentication\s+(failed|required)|not\s+authenticated|"
    r"signature\s+(does\s+not\s+match|expired)|invalid\s+signature|security\s+token",
    re.I,
)
VERSION_WORDS = re.compile(r"protocol\s+version", re.I)
GENERIC_INTERNAL = re.compile(r"an\s+internal\s+error\s+occurred", re.I)
UNKNOWN_TOOL = re.compile(r"unknown\s+tool|no\s+such\s+tool|tool\s+['\"]?[\w.-]*['\"]?\s*(is\s+)?not\s+found|"
                          r"tool\s+['\"]?[\w.-]*['\"]?\s*does\s+not\s+exist", re.I)
BRACKET = re.compile(r"\[([^\[\]]*)\]")
DENIED_DUE_TO = re.compile(r"denied\s+due\s+to\s+(?:policy\s+)?['\"]?([A-Za-z0-9][\w.:/-]*)", re.I)
NOT_A_POLICY_ID = {"no", "default", "the", "a"}

ANSWER_ERRORS = frozenset({"decoding", "bad_header_value"})  # error kinds probe.exchange names for unreadable answers
JSONRPC_AUTH_CODE = -32001
JSONRPC_DENIED_CODE = -32002
REQUEST_SHAPE_CODES = frozenset({-32700, -32600, -32601, -32602})
JSONRPC_INVALID_PARAMS = -32602

# -- hints: one line an operator can act on ---------------------------------------------

HINTS: dict[str, str] = {
    "policy_internal_failure": (
        "Not a denial: the gateway's execution role cannot evaluate policies. It needs "
        "bedrock-agentcore:AuthorizeAction and PartiallyAuthorizeActions on the gateway and policy-engine "
        "ARNs and GetPolicyEngine on the engine: run `agentcore-probe iam check`."
    ),
    "policy_denied": (
        "The policy engine denied this call: no permit policy matched (default deny) or a forbid applied; "
        "review the engine's Cedar policies for this principal, tool and input."
    ),
    "policy_denied_forbid": "A forbid (or the named policy) decided the denial: review policy {policy_id}.",
    "auth_failed": (
        "The gateway rejected the inbound credentials: check the token's issuer, audience and client id "
        "against the gateway's CUSTOM_JWT authorizer, or the SigV4 credentials and "
        "bedrock-agentcore:InvokeGateway for an AWS_IAM gateway."
    ),
    "auth_sigv4": (
        "This gateway expects AWS SigV4 (an AWS_IAM authorizer): add --sigv4 (with --profile or the standard "
        "credential chain); the caller needs bedrock-agentcore:InvokeGateway."
    ),
    "auth_bearer_wanted": (
        "The gateway wants a bearer token (CUSTOM_JWT) and none was sent: pass --bearer-token-env or "
        "--bearer-token-file, or the --oauth-* options (--oauth-discover finds the token endpoint it advertises)."
    ),
    "auth_none_sent": (
        "The request carried no credentials: a CUSTOM_JWT gateway needs a token (--bearer-token-env, "
        "--bearer-token-file or the --oauth-* options); an AWS_IAM gateway needs --sigv4."
    ),
    "auth_sigv4_params": (
        "AWS_IAM gateways have answered expired or wrong SigV4 credentials with -32602: refresh the "
        "credentials before suspecting the request."
    ),
    "throttled": "The gateway throttled the request: back off, spread scheduled probes, or raise the quota.",
    "tool_error_generic": (
        "The target failed and the gateway hides why: set the gateway's exceptionLevel to DEBUG to see "
        "the target's own error (e.g. a missing lambda:InvokeFunction permission)."
    ),
    "tool_error": "The target behind the gateway failed; the gateway's text says why.",
    "server_error": "The server failed; retry later, and quote the request id in a support case.",
    "version": "The server does not accept this protocol version: try another --protocol-version.",
    "redirect": "The server redirects ({location}): probe the final URL directly (the probe does not follow).",
    "protocol_error": "The answer is not MCP: check that the URL is the gateway's MCP endpoint (…/mcp).",
    "not_found": "Nothing answers MCP at this URL (HTTP 404): check the gateway id, region and the /mcp path.",
    "session_expired": "The server forgot the MCP session (HTTP 404 with a session id): it restarted or expired it.",
    "refused": "Nothing listens at that host and port: check the URL.",
    "dns": "The host name does not resolve: check the gateway id and region in the URL.",
    "tls": "The TLS handshake failed: check the URL's scheme and host, or a proxy intercepting TLS.",
    "timeout": "No complete answer in time: raise --timeout, or check the gateway's and target's latency.",
    "transport": "The connection failed before an answer arrived.",
    "too_large": "The answer exceeded the probe's size cap: this is not a tools/list or tools/call answer.",
    "empty_tools": (
        "No tools listed: with a policy engine in ENFORCE, tools/list shows only tools some policy could "
        "permit (default deny hides all); otherwise check the gateway's targets."
    ),
}

TRANSPORT_HINTS = {
    "refused": "refused",
    "dns": "dns",
    "tls": "tls",
    "connect_timeout": "timeout",
    "read_timeout": "timeout",
    "write_timeout": "timeout",
    "pool_timeout": "timeout",
    "timeout": "timeout",
}


@dataclass(frozen=True)
class Answer:
    """An exchange seen through MCP eyes: the response to our request, if one is there."""

    method: str
    exchange: Exchange
    decoded: Decoded
    response: dict[str, Any] | None

    @property
    def error(self) -> dict[str, Any] | None:
        err = self.response.get("error") if self.response else None
        return err if isinstance(err, dict) else None

    @property
    def result(self) -> Any:
        return self.response.get("result") if self.response else None

    @property
    def result_is_error(self) -> bool:
        r = self.result
        return isinstance(r, dict) and r.get("isError") in (True, "true", "True")

    @property
    def status(self) -> int | None:
        return self.exchange.status


def answer_of(method: str, ex: Exchange) -> Answer:
    decoded = decode_body(ex.headers.get("content-type"), ex.body)
    return Answer(method, ex, decoded, decoded.response_for(ex.rpc_id))


def result_text(result: Any) -> str:
    """All text content of a tool-call style result, joined: what the gateway said."""
    if not isinstance(result, dict):
        return ""
    content = result.get("content")
    if not isinstance(content, list):
        return ""
    parts = [c.get("text") for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
    return "\n".join(p for p in parts if p)


def _debug_text(result: Any) -> str | None:
    meta = result.get("_meta") if isinstance(result, dict) else None
    debug = meta.get("debug") if isinstance(meta, dict) else None
    if debug is None:
        return None
    return debug if isinstance(debug, str) else brief(debug, 2000)


def brief(value: Any, limit: int = 80) -> str:
    """A value from the answer as JSON text, for a message; never raises.

    Whatever the server sent: nested past any recursion limit, an integer too long to
    print, a lone surrogate. At most `limit` characters (cut where no secret can be cut
    in half: see `_snippet`).
    """
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = f"<{type(value).__name__}>"
    return _snippet(text, limit)


def _base_detail(a: Answer, **kw: Any) -> Detail:
    headers = a.exchange.headers
    received = a.exchange.started_at + a.exchange.duration_ms / 1000 if a.exchange.started_at else None
    retry_after = _retry_after(headers.get("retry-after"), received)
    return Detail(
        request_id=headers.get("x-amzn-requestid"),
        trace_id=headers.get("x-amzn-trace-id"),
        retry_after_s=retry_after,
        **kw,
    )


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds, or an HTTP-date relative to the answer's own Date-less receipt time."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        try:
            seconds = when.timestamp() - (now if now is not None else time.time())
        except (OverflowError, ValueError, OSError):
            return None
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return min(max(0.0, seconds), 24 * 3600.0)


# Characters a token can be made of (token68, JWT, base64, hex): a cut never falls among them.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]*\Z")


def _snippet(text: str, limit: int = 200) -> str:
    """At most `limit` characters of server text on one line.

    The cut falls before a run of token characters, never inside one: the redactor
    recognises a secret it knows whole, and half of one cut off here would be printed.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[: limit - 1]
    run = _TOKEN_CHARS.search(head)
    if run is not None and run.start() < len(head):
        head = head[: run.start()]
    return f"{head}…" if head else f"… ({len(flat)} chars)"


def denial_detail(a: Answer, message: str, code: int | None = None) -> Judgement:
    """Pull the bracketed reason and a policy id out of a denial, in either wire shape."""
    brackets = BRACKET.findall(message)
    reason = brackets[-1].strip() if brackets else None
    policy_id = None
    if reason and (d := DENIED_DUE_TO.search(reason)) and d.group(1).lower() not in NOT_A_POLICY_ID:
        policy_id = d.group(1)
    detail = _base_detail(a, message=message, reason=reason, policy_id=policy_id, rpc_error_code=code)
    hint = HINTS["policy_denied_forbid"].format(policy_id=policy_id) if policy_id else HINTS["policy_denied"]
    return Judgement(Outcome.POLICY_DENIED, detail, hint)


# -- the rules ---------------------------------------------------------------------------

Rule = Callable[[Answer], Judgement | None]


def rule_transport(a: Answer) -> Judgement | None:
    ex = a.exchange
    if ex.error is None:
        return None
    if ex.error in ANSWER_ERRORS:  # an answer came, but it could not be read as HTTP content
        return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=f"{ex.error}: {ex.error_message}"),
                         HINTS["protocol_error"])
    hint = HINTS[TRANSPORT_HINTS.get(ex.error, "transport")]
    return Judgement(Outcome.TRANSPORT_ERROR, _base_detail(a, message=f"{ex.error}: {ex.error_message}"), hint)


def rule_redirect(a: Answer) -> Judgement | None:
    if a.status is None or not 300 <= a.status < 400:
        return None
    location = a.exchange.headers.get("location") or "no Location header"
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=f"HTTP {a.status} redirect to {location}"),
                     HINTS["redirect"].format(location=location))


def rule_too_large(a: Answer) -> Judgement | None:
    if not a.exchange.body_truncated:
        return None
    size = len(a.exchange.body.encode("utf-8", "replace"))
    msg = f"answer of more than {size} bytes (HTTP {a.status}); reading stopped"
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=msg), HINTS["too_large"])


def _message_of(a: Answer) -> str:
    """The most specific human text in an answer: JSON-RPC error, result text, AWS error, body."""
    if a.error is not None and isinstance(a.error.get("message"), str):
        return a.error["message"]
    if text := result_text(a.result):
        return text
    for m in a.decoded.messages:
        if isinstance(m, dict):
            for key in ("message", "Message", "error_description", "error"):
                if isinstance(m.get(key), str):
                    return m[key]
    return _snippet(a.exchange.body) if a.exchange.body else ""


def rule_policy_words(a: Answer) -> Judgement | None:
    """The policy engine's words decide, whatever status or envelope carries them.

    A verdict must never be mistaken for a transient failure (and retried) because it came
    with a 5xx, nor lost because `isError` was missing or a string: the gateway's text is
    the evidence. A successful call's own output is not searched: a tool may talk about policy.
    """
    texts: list[tuple[str, int | None]] = []
    if a.error is not None:
        data = a.error.get("data")
        message = a.error.get("message") if isinstance(a.error.get("message"), str) else ""
        code = a.error.get("code") if isinstance(a.error.get("code"), int) else None
        texts.append((f"{message} {data}" if isinstance(data, str) else message, code))
        if code == JSONRPC_DENIED_CODE and "polic" in message.lower():
            return denial_detail(a, message, code)
    result = a.result
    if isinstance(result, dict) and (a.result_is_error or (a.method == "tools/list" and "tools" not in result)):
        texts.append((result_text(result), None))
    if a.response is None and a.status is not None and a.status >= 400 and a.exchange.body:
        texts.append((_message_of(a), None))
    for text, code in texts:
        if POLICY_INTERNAL.search(text):
            detail = _base_detail(a, message=text.strip(), rpc_error_code=code, debug=_debug_text(result))
            return Judgement(Outcome.POLICY_INTERNAL_FAILURE, detail, HINTS["policy_internal_failure"])
        if POLICY_DENIED.search(text):
            return denial_detail(a, text.strip(), code)
    return None


def rule_http_throttled(a: Answer) -> Judgement | None:
    if a.status != 429:
        return None
    return Judgement(Outcome.THROTTLED, _base_detail(a, message=_message_of(a) or "HTTP 429"), HINTS["throttled"])


_SIGV4_WORDS = re.compile(r"aws4-hmac-sha256|sigv4|signature\s+version\s+4|x-amz-date", re.I)


def auth_hint(a: Answer, message: str) -> str:
    """Which credentials the gateway wanted, as far as its answer and our request tell."""
    sent = {k.lower() for k in a.exchange.request_headers}
    www = a.exchange.headers.get("www-authenticate") or ""
    signed = "x-amz-date" in sent
    if not signed and (_SIGV4_WORDS.search(www) or _SIGV4_WORDS.search(message)):
        return HINTS["auth_sigv4"]
    if "authorization" not in sent:
        return HINTS["auth_bearer_wanted"] if www.lower().startswith("bearer") else HINTS["auth_none_sent"]
    return HINTS["auth_failed"]


def rule_http_auth(a: Answer) -> Judgement | None:
    if a.status not in (401, 403):
        return None
    msg = _message_of(a) or f"HTTP {a.status}"
    code = a.error.get("code") if a.error else None
    www = a.exchange.headers.get("www-authenticate")
    detail = _base_detail(a, message=msg, rpc_error_code=code, www_authenticate=www)
    return Judgement(Outcome.AUTH_FAILED, detail, auth_hint(a, msg))


def rule_http_server(a: Answer) -> Judgement | None:
    if a.status is None or a.status < 500:
        return None
    msg = _message_of(a) or f"HTTP {a.status}"
    if THROTTLING.search(msg) or a.exchange.headers.get("x-amzn-errortype", "").startswith("Throttling"):
        return Judgement(Outcome.THROTTLED, _base_detail(a, message=msg), HINTS["throttled"])
    return Judgement(Outcome.SERVER_ERROR, _base_detail(a, message=f"HTTP {a.status}: {_snippet(msg)}"),
                     HINTS["server_error"])


def rule_http_not_found(a: Answer) -> Judgement | None:
    if a.status != 404:
        return None
    had_session = "mcp-session-id" in {k.lower() for k in a.exchange.request_headers}
    hint = HINTS["session_expired"] if had_session else HINTS["not_found"]
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=f"HTTP 404: {_snippet(_message_of(a))}"), hint)


def rule_jsonrpc_version(a: Answer) -> Judgement | None:
    """A 2xx answer must be JSON-RPC 2.0: `"jsonrpc": "2.0"`, nothing else, as the MCP SDK requires.

    Only where the HTTP status let the answer through: an error status decides by itself.
    """
    if a.response is None or a.status is None or not 200 <= a.status < 300:
        return None
    if "jsonrpc" not in a.response:
        said = "has no jsonrpc member"
    elif a.response["jsonrpc"] != "2.0":
        said = f"says \"jsonrpc\": {brief(a.response['jsonrpc'], 40)}"
    elif "result" in a.response and "error" in a.response:
        said = "carries both a result and an error"  # a response is one or the other (JSON-RPC 2.0, 5)
    else:
        return None
    message = f"the answer {said}; JSON-RPC 2.0 requires \"jsonrpc\": \"2.0\" and one of result or error"
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=message), HINTS["protocol_error"])


def rule_jsonrpc_error(a: Answer) -> Judgement | None:
    """A JSON-RPC error object, at any HTTP status the rules above left alone."""
    err = a.error
    if err is None:
        return None
    code = err.get("code") if isinstance(err.get("code"), int) else None
    message = err.get("message") if isinstance(err.get("message"), str) else ""
    data = err.get("data")
    full = f"{message} {data}" if isinstance(data, str) else message
    # -32001 is AgentCore's auth code but the SDKs' request-timeout code: the words decide.
    # A tools/call error may be the target's own outbound auth failing: not the probe's credentials.
    if AUTH.search(full) and (a.method != "tools/call" or code == JSONRPC_AUTH_CODE):
        return Judgement(Outcome.AUTH_FAILED, _base_detail(a, message=message, rpc_error_code=code),
                         auth_hint(a, full))
    if THROTTLING.search(full):
        return Judgement(Outcome.THROTTLED, _base_detail(a, message=message, rpc_error_code=code), HINTS["throttled"])
    if a.method == "tools/call" and UNKNOWN_TOOL.search(full):
        return Judgement(Outcome.TOOL_MISSING, _base_detail(a, message=message, rpc_error_code=code),
                         "The gateway does not know this tool: check the name (Target___tool).")
    detail = _base_detail(a, message=f"JSON-RPC error {code}: {message}", rpc_error_code=code)
    # The request-shape codes say the server did not take our request as valid MCP; any other code
    # (internal, server-defined, or an application code such as the Python SDK's 0 for an exception
    # in a handler) says the server failed to do what was asked.
    client_error = a.status is not None and 400 <= a.status < 500
    if not client_error and code not in REQUEST_SHAPE_CODES:
        return Judgement(Outcome.SERVER_ERROR, detail, HINTS["server_error"])
    if VERSION_WORDS.search(full):
        hint = HINTS["version"]
    elif code == JSONRPC_INVALID_PARAMS:
        hint = HINTS["auth_sigv4_params"]
    else:
        hint = HINTS["protocol_error"]
    return Judgement(Outcome.PROTOCOL_ERROR, detail, hint)


def rule_other_http(a: Answer) -> Judgement | None:
    """Any other non-2xx status: the server did not take the request as MCP."""
    if a.status is None or 200 <= a.status < 300:
        return None
    return Judgement(Outcome.PROTOCOL_ERROR,
                     _base_detail(a, message=f"HTTP {a.status}: {_snippet(_message_of(a))}"), HINTS["protocol_error"])


def rule_notification(a: Answer) -> Judgement | None:
    """A notification is acknowledged with 202 (or an empty 200); there is nothing else to read."""
    if a.exchange.rpc_id is not None:
        return None
    return Judgement(Outcome.OK, _base_detail(a))


def rule_undecodable(a: Answer) -> Judgement | None:
    if a.response is not None:
        return None
    if a.decoded.problem:
        msg = a.decoded.problem
    elif a.decoded.framing == "empty":
        msg = f"HTTP {a.status} with an empty body where a JSON-RPC response was due"
    elif a.decoded.framing == "sse":
        msg = "the event stream carried no response to the request"
    else:
        ids = [m.get("id") for m in a.decoded.messages if isinstance(m, dict) and ("result" in m or "error" in m)]
        msg = (f"the body answers id(s) {brief(ids)}, not the request's id {a.exchange.rpc_id!r}" if ids
               else "the body holds no JSON-RPC response to the request")
    if a.decoded.framing == "other" and a.exchange.body:
        msg = f"{msg}: {_snippet(a.exchange.body, 120)}"
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=msg), HINTS["protocol_error"])


def rule_error_result(a: Answer) -> Judgement | None:
    """`result.isError: true`: how AgentCore reports policy, target and even list failures."""
    if not a.result_is_error:
        return None
    text = result_text(a.result)
    debug = _debug_text(a.result)
    if THROTTLING.search(text):
        return Judgement(Outcome.THROTTLED, _base_detail(a, message=text), HINTS["throttled"])
    if a.method != "tools/call":
        # An error result where a list or handshake was due: the gateway failed to answer it.
        return Judgement(Outcome.SERVER_ERROR, _base_detail(a, message=text or "error result", debug=debug),
                         HINTS["server_error"])
    hint = HINTS["tool_error_generic"] if GENERIC_INTERNAL.search(text) and not debug else HINTS["tool_error"]
    return Judgement(Outcome.TOOL_ERROR, _base_detail(a, message=text or "isError without text", debug=debug), hint)


def rule_result_shape(a: Answer) -> Judgement | None:
    """The result must have the shape its method promises; anything else is a protocol error."""
    result = a.result
    problem: str | None = None
    if not isinstance(result, dict):
        problem = "the result is not an object"
    elif a.method == "initialize":
        if not isinstance(result.get("protocolVersion"), str):
            problem = "initialize result has no protocolVersion"
        elif not isinstance(result.get("capabilities", {}), dict):
            problem = "initialize result has malformed capabilities"
    elif a.method == "tools/list":
        tools = result.get("tools")
        if not isinstance(tools, list):
            problem = "tools/list result has no tools array"
        elif not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools):
            problem = "tools/list result has a tool without a name"
        elif "nextCursor" in result and result["nextCursor"] is not None and not isinstance(result["nextCursor"], str):
            problem = "tools/list nextCursor is not a string"
    elif a.method == "tools/call" and not isinstance(result.get("content", []), list):
        problem = "tools/call result content is not a list"
    if problem is None:
        return None
    return Judgement(Outcome.PROTOCOL_ERROR, _base_detail(a, message=problem), HINTS["protocol_error"])


def rule_ok(a: Answer) -> Judgement | None:
    return Judgement(Outcome.OK, _base_detail(a))


RULES: tuple[Rule, ...] = (
    rule_transport,
    rule_too_large,
    rule_redirect,
    rule_policy_words,
    rule_http_throttled,
    rule_http_auth,
    rule_http_server,
    rule_http_not_found,
    rule_jsonrpc_version,
    rule_jsonrpc_error,
    rule_other_http,
    rule_notification,
    rule_undecodable,
    rule_error_result,
    rule_result_shape,
    rule_ok,
)


def classify(method: str, exchange: Exchange) -> Judgement:
    """Judge one exchange made for `method` (initialize, tools/list, tools/call, a notification).

    Never raises, whatever the answer holds: a rule that failed on it would be a bug in
    the probe, and the run still ends with a report (`classifier_fault`, the exception
    named) rather than a traceback. The rule that decided is named in the detail.
    """
    try:
        a = answer_of(method, exchange)
        for rule in RULES:
            if (j := rule(a)) is not None:
                return _printable(j, rule.__name__.removeprefix("rule_"))
    except Exception as exc:  # the last net: a report, never a traceback
        detail = Detail(message=f"the probe failed to judge this answer ({type(exc).__name__}); please report it",
                        rule=CLASSIFIER_FAULT)
        return Judgement(Outcome.PROTOCOL_ERROR, detail, HINTS["protocol_error"])
    raise AssertionError("rule_ok always answers")  # pragma: no cover


CLASSIFIER_FAULT = "classifier_fault"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(j: Judgement, rule: str) -> Judgement:
    """The judgement with its rule named, and no lone surrogate (from a `\\ud800` escape) in its text.

    Such a string cannot be encoded as UTF-8: printed or saved, it would end the run in a
    UnicodeEncodeError. It is written as the escape the server sent instead.
    """
    def fix(v: Any) -> Any:
        if isinstance(v, str) and _LONE_SURROGATE.search(v):
            return v.encode("utf-8", "backslashreplace").decode("utf-8")
        return v

    changes = {f.name: fix(getattr(j.detail, f.name)) for f in dataclasses.fields(j.detail)}
    changes["rule"] = j.detail.rule or rule
    return Judgement(j.outcome, Detail(**changes), fix(j.hint))


def visible_tools(names: list[str]) -> list[str]:
    """The gateway's own tools: the built-in semantic search tool is not one of them."""
    return [n for n in names if n != SEARCH_TOOL]
