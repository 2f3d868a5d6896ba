"""How a Make stage's output becomes finished (the Makefile's reproduction targets).

``python -m leap_cli.finish STAGE TARGET`` renames ``TARGET.part`` to ``TARGET`` and, when the
stage wrote error records, says on stderr how many clips failed and why. An output holding
retryable errors is kept (the stages after it go on with the other clips) but the Makefile
does not take it as finished: the next make runs exactly those clips again (``--resume``).

``--strict`` (predictions): a file with any error record is not done. The error records are
taken out of the .part (the next make predicts those clips again, the others are kept), and
the exit status is 1 so make stops before evaluating an incomplete file.
"""
from __future__ import annotations

import collections
import json
import os
import sys

SHOWN = 3  # the most frequent reasons named


class Errors:
    """The error records of one file: how many, how many retryable, the commonest reasons."""

    def __init__(self):
        self.records = self.errors = self.retryable = 0
        self.reasons: collections.Counter = collections.Counter()

    def add(self, err: dict) -> None:
        self.errors += 1
        self.retryable += err.get("retryable") is True
        message = str(err.get("message", "no message"))
        self.reasons[message if len(message) <= 160 else message[:159] + "…"] += 1

    def why(self) -> str:
        named = "; ".join(f"{n}x {reason}" for reason, n in self.reasons.most_common(SHOWN))
        more = len(self.reasons) - SHOWN
        return named + (f"; {more} other reasons" if more > 0 else "")


def error_of(raw: bytes) -> dict | None:
    """The ``error`` object of a record line, or None (most lines are skipped unparsed)."""
    if b'"error"' not in raw:
        return None
    try:
        err = json.loads(raw).get("error")
    except (ValueError, AttributeError, RecursionError):
        return None
    return err if isinstance(err, dict) else None


def scan(path: str, stage: str | None, drop_errors: bool = False) -> Errors:
    """Count the error records of ``stage`` (None: of any stage) in ``path``; with
    ``drop_errors`` the file is rewritten without them."""
    found = Errors()
    tmp = path + ".tmp"
    kept = open(tmp, "wb") if drop_errors else None
    try:
        with open(path, "rb") as f:
            for raw in f:
                found.records += 1
                err = error_of(raw)
                if err is not None and (stage is None or err.get("stage") == stage):
                    found.add(err)
                elif kept:
                    kept.write(raw)
    finally:
        if kept:
            kept.close()
    if kept and found.errors:
        os.replace(tmp, path)
    elif kept:
        os.remove(tmp)
    return found


def finish(stage: str, target: str, strict: bool = False) -> int:
    part = target + ".part"
    if strict:
        found = scan(part, None, drop_errors=True)
        if found.errors:
            print(f"make: {target}: {found.errors} of {found.records} records are errors ({found.why()}); "
                  f"not kept as done: the other {found.records - found.errors} stay in {part} and the next "
                  "make tries the failed ones again (fix the cause first)", file=sys.stderr)
            return 1
        os.replace(part, target)
        return 0
    found = scan(part, stage)
    os.replace(part, target)
    if found.errors:
        again = (f"; the next make runs the {found.retryable} retryable ones again" if found.retryable
                 else "; not retryable: they stay errors until an input or setting changes")
        print(f"make: {target}: {found.errors} of {found.records} clips failed in leap-{stage} "
              f"({found.why()}){again}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    if len(args) != 2:
        print("usage: python -m leap_cli.finish [--strict] STAGE TARGET", file=sys.stderr)
        return 2
    return finish(args[0], args[1], strict)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
