"""Read the moto request log (JSON lines written by localcloud/moto_server.py).

API (used by tests)::

    log = RequestLog(path)
    offset = log.mark()               # current end of the log
    ...                               # make AWS calls against the emulator
    log.since(offset)                 # -> [entry, ...] written after the mark
    log.mutating_since(offset)        # -> only the entries with "mutating": true

CLI::

    python -m localcloud.requestlog FILE [--since OFFSET] [--mutating]

prints the number of requests per service/action (and how many of them were mutating).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any


class RequestLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def mark(self) -> int:
        """Byte offset of the current end of the log (0 if it does not exist yet)."""
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def since(self, offset: int = 0) -> list[dict[str, Any]]:
        """Entries appended after ``offset`` (a value returned by :meth:`mark`).

        A trailing line that is still being written (no newline yet) is ignored.
        """
        try:
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        entries = []
        for raw in data.split(b"\n")[:-1]:
            if not raw.strip():
                continue
            try:
                entries.append(json.loads(raw))
            except ValueError:
                continue
        return entries

    def mutating_since(self, offset: int = 0) -> list[dict[str, Any]]:
        return [e for e in self.since(offset) if e.get("mutating")]


def summarize(entries: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    total: Counter[tuple[str, str]] = Counter()
    mutating: Counter[tuple[str, str]] = Counter()
    for e in entries:
        key = (str(e.get("service")), e.get("action") or f"{e.get('method')} (rest)")
        total[key] += 1
        if e.get("mutating"):
            mutating[key] += 1
    return [(svc, action, n, mutating[(svc, action)]) for (svc, action), n in sorted(total.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.requestlog", description="Summarize a request log.")
    parser.add_argument("file")
    parser.add_argument("--since", type=int, default=0, help="byte offset (from RequestLog.mark())")
    parser.add_argument("--mutating", action="store_true", help="only count mutating requests")
    args = parser.parse_args(argv)

    log = RequestLog(args.file)
    entries = log.mutating_since(args.since) if args.mutating else log.since(args.since)
    rows = summarize(entries)
    width = max([len(f"{s} {a}") for s, a, _, _ in rows] + [16])
    print(f"{'SERVICE ACTION':<{width}}  {'COUNT':>6}  {'MUTATING':>8}")
    for svc, action, n, m in rows:
        print(f"{svc + ' ' + action:<{width}}  {n:>6}  {m:>8}")
    print(f"{'TOTAL':<{width}}  {len(entries):>6}  {sum(1 for e in entries if e.get('mutating')):>8}")
    print(f"end offset: {log.mark()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
