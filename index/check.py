"""The child process of ``Store.damage_in_child``: reads every vector of an embedded store for the
process that holds it, printing the rows read so far as it goes, then the damage found as JSON."""

import dataclasses
import json
import sys

from index.store import Store


def main(path: str) -> None:
    store = Store(path, for_holder=True)
    print(0, flush=True)  # opened: what comes next is Chroma loading and reading the vector indexes
    damage = store.damage(progress=lambda rows: print(rows, flush=True))
    print(json.dumps(dataclasses.asdict(damage) if damage else None), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
