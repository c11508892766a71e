"""Time ``redact_text`` on 10 MB of text: the goal is 10 MB in under a second.

Usage: ``python benchmarks/redaction.py [--size MB] [--rounds N]``

Prints, per kind of text, the best of N rounds (the least disturbed by other users of
the machine), the secrets found and the throughput. The kinds: config-like text with a
secret every 4 lines (a patch of config files, a stage's log), code and logs, and
pathological texts, each built to make a matcher do the most work per character (a
credential, or an almost-credential, every few characters). A measurement, not a test:
the exit code is 0 whatever the times.
"""

from __future__ import annotations

import argparse
import os
import random
import string
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dvflow.snapshot.redact import REDACTED, redact_text

GOAL_S = 1.0


def _repeat(block: str, size: int) -> str:
    return block * (size // len(block) + 1)


def config_text(size: int) -> str:
    """INI/YAML/.env-like lines, a secret on every fourth, all different."""
    rnd = random.Random(0)
    lines, total, number = [], 0, 0
    while total < size:
        secret = "".join(rnd.choices(string.ascii_letters + string.digits, k=20))
        line = (
            f"+    db_password = {secret}",
            f"url: https://storage.example.com/bucket/{number}?page=2",
            f"  batch_size: {number}  # the key to speed",
            f"export TOKENIZER=bert-{number}",
        )[number % 4]
        lines.append(line)
        total += len(line) + 1
        number += 1
    return "\n".join(lines)


def code_and_logs(size: int) -> str:
    return _repeat(
        "def train(lr, tokenizer, max_tokens=5):\n"
        "    key = hash(lr)  # a key, not a secret\n"
        "INFO connecting to https://db.example.com/x?page=2 with password=hunter2\n"
        "+    aws_secret_access_key = abcDEF123/xyz\n",
        size,
    )


def letters_and_digits(size: int) -> str:
    rnd = random.Random(1)
    return "".join(rnd.choices(string.ascii_letters + string.digits + " ", k=size))


PATHOLOGICAL = {
    "near misses (key key ...)": "key tokens pass_ auth secrets ",
    "keys without values (password=password=...)": "password=",
    'quoted keys ("secret": "...)': '"secret": "',
    "url credentials (a://b@a://b@...)": "a://b@",
    "separators (x_token = x_token = ...)": "x_token = ",
    "authorization headers": "authorization:authorization:",
    "shape prefixes (sk-sk-...)": "sk-",
}


def measure(text: str, rounds: int) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(rounds):
        started = time.perf_counter()
        out = redact_text(text, ())
        best = min(best, time.perf_counter() - started)
        found = out.count(REDACTED)
    return best, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=10, help="MB of text per kind")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = int(args.size * 1_000_000)
    kinds: dict[str, Callable[[int], str]] = {
        "config-like, a secret every 4 lines": config_text,
        "code and logs": code_and_logs,
        "random letters and digits": letters_and_digits,
        **{name: lambda n, b=block: _repeat(b, n) for name, block in PATHOLOGICAL.items()},
    }
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"redact_text on {args.size:g} MB per kind, best of {args.rounds} (load {load})")
    print(f"{'text':46} {'seconds':>8} {'MB/s':>7} {'secrets':>9}")
    for name, make in kinds.items():
        text = make(size)[:size]
        seconds, found = measure(text, args.rounds)
        per_10_mb = seconds * 10_000_000 / size
        mark = "" if per_10_mb < GOAL_S else f"  ({per_10_mb:.1f} s per 10 MB)"
        print(f"{name:46} {seconds:8.3f} {size / 1e6 / seconds:7.1f} {found:9d}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
