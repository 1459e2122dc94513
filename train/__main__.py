"""``python -m train [reranker|query] [options]``: rebuild models/reranker/ and models/query_encoder/
from ../shared/train/realtimeqa (about 45 minutes on 2 cores for both).

Builds the training and validation pairs once (``train.pairs``, one process per core), then trains,
exports and quantises the reranker (``train.fit``) and the query encoder (``train.query``), or only
the one named; options after its name go to its trainer.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from index.embedder import cpu_count
from train.pairs import DEFAULT_DATA

TRAINERS = {"reranker": "train.fit", "query": "train.query"}


def build(split: str, folder: Path, shards: int) -> Path:
    """Pairs of one split, built by ``shards`` processes at once and joined into one file."""
    parts = [folder / f"{split}-{i}.jsonl" for i in range(shards)]
    processes = [
        subprocess.Popen([sys.executable, "-m", "train.pairs", "--data", str(DEFAULT_DATA), "--split", split, "--shard", f"{i}/{shards}", "--out", str(part)])
        for i, part in enumerate(parts)
    ]
    if any(p.wait() for p in processes):
        raise SystemExit(f"building the {split} pairs failed")
    joined = folder / f"{split}.jsonl"
    with open(joined, "w", encoding="utf-8") as out:
        for part in parts:
            out.write(part.read_text(encoding="utf-8"))
    return joined


def main(argv: list[str]) -> None:
    chosen = [argv.pop(0)] if argv and argv[0] in TRAINERS else list(TRAINERS)
    if argv and len(chosen) > 1:
        raise SystemExit(f"options go to one trainer: python -m train reranker {' '.join(argv)} (or query)")
    if not (DEFAULT_DATA / "questions.jsonl").is_file():
        raise SystemExit(f"no training data at {DEFAULT_DATA} (questions.jsonl and pages.jsonl.gz)")
    with tempfile.TemporaryDirectory(prefix="train-pairs-") as folder:
        folder = Path(folder)
        train = build("train", folder, max(cpu_count(), 1))
        validation = build("validation", folder, 1)
        for name in chosen:
            print(f"training the {name} ({TRAINERS[name]})", flush=True)
            code = subprocess.call([sys.executable, "-m", TRAINERS[name], "--train", str(train), "--validation", str(validation), *argv])
            if code:
                raise SystemExit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
