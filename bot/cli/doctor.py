"""``ocop-bot doctor [--json]``: check a deployment; exit code 0 only when nothing needed fails.

Runs before settings are loaded by the CLI, so that a bad variable is itself a reported check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

from bot.doctor import FAIL, CheckResult, check_settings, run_checks

MARKS = {"ok": "✔", "warn": "!", "fail": "✘", "skip": "-"}


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    doctor = sub.add_parser("doctor", help="check settings, database, disk, channels and URLs")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(before_settings=run)  # loads the settings itself, as its first check


def render(results: list[CheckResult], out: TextIO) -> None:
    for r in results:
        print(f"{MARKS[r.status]} {r.title}: {r.detail}", file=out)
        if r.advice and r.status in ("warn", "fail"):
            print(f"    → {r.advice}", file=out)
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == "warn" for r in results)
    if failed:
        print(f"{failed} check(s) failed, {warned} warning(s).", file=out)
    else:
        print(f"All needed checks passed ({warned} warning(s)).", file=out)


def collect() -> list[CheckResult]:
    first, settings = check_settings()
    if settings is None:
        return [first]
    return [first, *asyncio.run(run_checks(settings))]


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    results = collect()
    ok = all(r.ok for r in results)
    if args.json:
        payload = {"ok": ok, "checks": [r.as_dict() for r in results]}
        print(json.dumps(payload, ensure_ascii=False, indent=2), file=out)
    else:
        render(results, out)
    return 0 if ok else 1
