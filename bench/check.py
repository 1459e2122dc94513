"""What the damage check costs on opening a store that another process changed: every vector read in a
child process (``Store.damage_in_child``, which survives Chroma crashing or hanging) against the same read
in this process (``Store.damage``). Both only read; the store is not marked checked.

Run from the repository root, on a store of your own (``bench/realtimeqa.py --keep DIR`` keeps some):

    .venv/bin/python bench/check.py DIR/product
    .venv/bin/python bench/check.py DIR/product --rounds 5 --json

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import envelope, finish, report, start_run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="an embedded store (not held by another process)")
    parser.add_argument("--rounds", type=int, default=3, help="each way is timed this many times, in turn")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if not (args.store / "chroma.sqlite3").is_file():
        parser.error(f"{args.store} is not an embedded store (no chroma.sqlite3 in it)")

    from index.store import Store

    start = start_run()
    store = Store(str(args.store))
    child, here = [], []
    for _ in range(args.rounds):  # in turn, so a change in the machine's load touches both
        started = time.perf_counter()
        in_child = store.damage_in_child()
        child.append(time.perf_counter() - started)
        started = time.perf_counter()
        in_process = store.damage()
        here.append(time.perf_counter() - started)
    rows = store.sentence_count()
    figures = {
        "sentences": rows,
        "child_s": round(statistics.median(child), 2),
        "in_process_s": round(statistics.median(here), 2),
        "same_finding": (in_child is None) == (in_process is None),
        "damaged": in_process is not None,
    }
    result = envelope("check", start, args, **figures)
    body = (
        f"| read every vector | median s of {args.rounds} |\n| --- | ---: |\n"
        f"| in a child process | {figures['child_s']:.2f} |\n| in this process | {figures['in_process_s']:.2f} |\n\n"
        f"{rows:,} sentences; both found {'damage' if figures['damaged'] else 'no damage'}"
        f"{'' if figures['same_finding'] else ' (NOT the same finding)'}"
    )
    finish(result, report(result, f"The damage check on {args.store}", body), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
