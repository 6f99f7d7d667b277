"""When to try a request again, and how long to wait: tenacity, with a probe's scruples.

Only transient outcomes are retried (throttled, server error, transport error); a
verdict (policy, auth, protocol) is final on the first answer. A `tools/call` that may
have reached the tool is never repeated unless the operator says the tool is
idempotent: a probe must not refund an order twice. Every attempt stays in the record.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt, stop_before_delay

from probe.exchange import NOT_SENT_ERRORS
from probe.outcome import RETRYABLE, Exchange, Judgement, Outcome

Attempt = tuple[Exchange, Judgement]


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # extra attempts after the first
    max_time_s: float = 30.0  # no new attempt starts once this much time would have passed
    base_s: float = 0.5
    cap_s: float = 8.0
    idempotent: bool = False  # the operator vouches that repeating the call is harmless
    attempt_timeout_s: float = 0.0  # how long one more attempt may take (the request timeout)


def may_retry(method: str, attempt: Attempt, policy: RetryPolicy) -> bool:
    """Is another attempt both useful (transient outcome) and safe (no duplicate side effect)?"""
    exchange, judgement = attempt
    if judgement.outcome not in RETRYABLE:
        return False
    if method != "tools/call" or policy.idempotent:
        return True  # lists, handshakes, notifications and token fetches change nothing
    if judgement.outcome is Outcome.THROTTLED and exchange.status == 429:
        return True  # refused at the gateway's front door: the tool never ran
    # Only a connection that never carried the request is provably harmless to repeat.
    return exchange.status is None and exchange.error in NOT_SENT_ERRORS


def backoff_s(attempt_number: int, policy: RetryPolicy, retry_after_s: float | None, rng: random.Random) -> float:
    """Full-jitter exponential backoff (AWS's recommendation), never shorter than Retry-After."""
    ceiling = min(policy.cap_s, policy.base_s * (2 ** (attempt_number - 1)))
    wait = rng.uniform(0, ceiling)
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    return wait


async def run_with_retries(
    method: str,
    do_attempt: Callable[[int], Awaitable[Attempt]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> list[Attempt]:
    """Run `await do_attempt(attempt_number)` until its outcome is final; return every attempt."""
    attempts: list[Attempt] = []
    rand = rng or random.Random()

    async def attempt() -> Attempt:
        result = await do_attempt(len(attempts) + 1)
        attempts.append(result)
        return result

    def wait(state: RetryCallState) -> float:
        _, judgement = state.outcome.result()  # type: ignore[union-attr]
        return backoff_s(state.attempt_number, policy, judgement.detail.retry_after_s, rand)

    retrying = AsyncRetrying(
        # No attempt starts that could end past the budget: the wait before it and its own timeout count.
        stop=stop_after_attempt(policy.retries + 1)
        | stop_before_delay(max(0.0, policy.max_time_s - policy.attempt_timeout_s)),
        wait=wait,
        retry=retry_if_result(lambda a: may_retry(method, a, policy)),
        sleep=sleep,
        retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
    )
    await retrying(attempt)
    return attempts
