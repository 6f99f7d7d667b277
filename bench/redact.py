"""Redaction time on one megabyte of near misses, as a ratio to one megabyte of plain text.

Usage:  python bench/redact.py [--size BYTES] [--runs N] [--scaling]

Every shape the redactor looks for, repeated until the text is `--size` long (default
1 MB): prefixes of its patterns with nothing after them, escapes in every form, a known
secret missing its last character, and bodies full of real secrets (every one a span to
replace). Each is timed against a plain body of the same size (a healthy tool list);
the best of `--runs` is kept, interleaved so machine noise hits every input alike.
`--scaling` also times n and 4n for every input: a linear redactor stays near 4x, a
quadratic one near 16x. Prints the numbers; asserts nothing (tests/core/test_redact.py
guards against a hang instead).
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probe.redact import Redactor

KNOWN = "tok-" + "".join(random.Random(13).choice(string.ascii_letters + string.digits) for _ in range(36))

FRAGMENTS: dict[str, str] = {
    "Credential= (no slash)": "Credential=",
    "Credential=a.": "Credential=a.",
    "Signature=": "Signature=",
    "Bearer ": "Bearer ",
    "Basic + tab": "Basic \t",
    'authorization: "': 'authorization: "',
    'authorization:\\"x': 'authorization:\\"x',
    "cookie: a": "Cookie: a",
    '"access_token": "': '"access_token": "',
    "access_token=": "access_token=",
    "eyJ segments": "eyJabcd.",
    "AKIA": "AKIA",
    "\\/ escapes": "\\/",
    "\\u0041 escapes": "\\u0041",
    "backslashes": "\\",
    "%41 percent": "%41",
    "+ pluses": "+",
    "known secret, last char off": KNOWN[:-1] + "?",
    "known secret, \\/-escaped": KNOWN[:10] + "\\/" + KNOWN[10:-1] + "?",
    "many Bearer tokens": "Bearer abcdefgh12345 ",
    "many AWS key ids": "AKIAIOSFODNN7EXAMPLE ",
    "many known secrets": KNOWN + ",",
    "many auth headers": "authorization: Bearer abcdefgh\n",
}
PLAIN = '{"name":"Api___tool","description":"lorem ipsum dolor sit amet","inputSchema":{"type":"object"}},'


def body(fragment: str, size: int) -> str:
    return (fragment * (size // len(fragment) + 1))[:size]


def best(redactor: Redactor, text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        redactor.text(text)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scaling", action="store_true", help="also time n and 4n for every input")
    args = parser.parse_args()
    redactor = Redactor([KNOWN, "AbCdEf/GhIjKl+MnOp=="])
    plain = body(PLAIN, args.size)
    texts = {name: body(f, args.size) for name, f in FRAGMENTS.items()}
    base = best(redactor, plain, args.runs)
    print(f"plain body, {args.size:,} chars: {base * 1000:.1f} ms (= 1.0x)")
    print(f"{'input':<30} {'ms':>9} {'x plain':>8}" + (f" {'4n / n':>7}" if args.scaling else ""))
    worst = 0.0
    for name, text in texts.items():
        t = best(redactor, text, args.runs)
        worst = max(worst, t)
        line = f"{name:<30} {t * 1000:>9.1f} {t / base:>8.1f}"
        if args.scaling:
            quarter = best(redactor, body(FRAGMENTS[name], args.size // 4), args.runs)
            line += f" {t / quarter:>7.1f}"
        print(line)
    print(f"slowest input: {worst * 1000:.0f} ms for {args.size:,} chars")


if __name__ == "__main__":
    main()
