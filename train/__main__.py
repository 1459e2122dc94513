"""``python -m train``: rebuild models/reranker/ from ../shared/train/realtimeqa (about an hour on 2 cores).

Builds the training and validation pairs (``train.pairs``, one process per core), then trains,
exports and quantises the reranker (``train.fit``). Options after ``--`` go to ``train.fit``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from index.embedder import cpu_count
from train.pairs import DEFAULT_DATA


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


def main() -> None:
    if not (DEFAULT_DATA / "questions.jsonl").is_file():
        raise SystemExit(f"no training data at {DEFAULT_DATA} (questions.jsonl and pages.jsonl.gz)")
    with tempfile.TemporaryDirectory(prefix="reranker-pairs-") as folder:
        folder = Path(folder)
        train = build("train", folder, max(cpu_count(), 1))
        validation = build("validation", folder, 1)
        command = [sys.executable, "-m", "train.fit", "--train", str(train), "--validation", str(validation), *sys.argv[1:]]
        raise SystemExit(subprocess.call(command))


if __name__ == "__main__":
    main()
