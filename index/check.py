"""The child process of ``Store.damage_in_child``: reads every vector of an embedded store for the
process that holds it, printing the rows read so far as it goes, then the damage found as JSON (an
error Chroma raises while reading is damage too: its ``failure``)."""

import ctypes
import dataclasses
import json
import os
import signal
import sys

from index.store import Damage, Store


def die_with_parent() -> None:
    """Linux: end when the process that started this one ends, however it ends (a SIGKILL gives it
    no chance to end this one), since a check hung in Chroma's native code would stay for good."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        return  # not Linux: the holder kills a check that stops responding, while it runs
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def main(path: str) -> None:
    die_with_parent()
    store = Store(path, for_holder=True)
    print(0, flush=True)  # opened: what comes next is Chroma loading and reading the vector indexes
    try:
        damage = store.damage(progress=lambda rows: print(rows, flush=True))
    except Exception as exc:  # e.g. chromadb's InternalError on an index it cannot load
        damage = Damage(store.location, 0, 0, [], failure=f"failed ({type(exc).__name__}: {exc})")
    print(json.dumps(dataclasses.asdict(damage) if damage else None), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
