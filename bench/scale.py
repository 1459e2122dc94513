"""Scaling curve: ingest throughput, ask latency and resident memory at 1x, 10x, 50x the dev corpus.

The corpus is the RealTimeQA dev set (``../shared/eval/realtimeqa-dev/``: 100 CNN articles,
529,641 characters; questions: the 78 whose answer is in a gold article). One embedded
store grows through the scales (1x, then 10x, then 50x). At scale N it holds N copies of
the corpus:

- copy 0 is the corpus itself and copy N-1 is a fresh copy (new ids), both ingested for real
  through ``Assistant.ingest`` (load, split, speakers, embed with the model, write);
- the copies in between are replicas with fresh ids whose sentences reuse copy 0's vectors,
  written through the product's own write path (``Store.write_articles``), so Chroma and
  the side indexes hold real rows. Embedding 50 copies with the model would take about
  40 minutes on a 2-core machine and tell nothing more about the store.

Measured at each scale, each step in its own process (as a user would run it):

- ingest: the ``Assistant.ingest`` call that adds the fresh copy to the store already
  holding N-1 copies (wall and CPU seconds, characters and sentences per second), the
  model loaded and warmed beforehand;
- ask: a fresh process opens the store and warms the model; "first ask" is its first
  question (it brings the side index up to date: at 1x it builds it from every stored
  sentence; at larger scales it updates the copy the previous scale saved with the copies
  written since; and Chroma loads its vector index); then every question once more is timed
  warm (p50 / p95; answers are not cached across questions);
- ask after a write / a remove: that process then ingests one more article and times its
  next question, removes it and times the next again: what every serving process pays
  after anyone writes (the side index is updated per article, not rebuilt);
- memory: that process's resident set (``VmRSS`` in ``/proc/self/status``) after the
  model is loaded, and after all the questions; its peak (``VmHWM``); beside it the raw
  size of the sentence vectors (sentences x 384 x 4 bytes).

The replicas are exact copies, so answers at 10x and 50x cite one of several identical
sentences: quality is not measured here (see ``bench/realtimeqa.py``), only cost.

Run from the repository root:

    .venv/bin/python bench/scale.py                      # 1, 10, 50: about 40 min on 2 busy cores
    .venv/bin/python bench/scale.py --scales 1,10        # about 15-20 min
    .venv/bin/python bench/scale.py --json               # only the JSON line
    .venv/bin/python bench/scale.py --store DIR          # keep the store (default: a temporary folder)

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, add_json_flag, data_missing, envelope, finish, json_from_process, load_jsonl, logger,
    percentile, quietly, report, start_run,
)

VECTOR_BYTES = 384 * 4  # one MiniLM vector as float32
WARM_UP_TEXT = "warming up the sentence encoder"  # not a question: the first ask must not find it cached
REPLICAS_PER_WRITE = 25  # articles per Store.write_articles call


# --- helpers shared by the steps ----------------------------------------------


def copy_id(copy: int, doc_id: str) -> str:
    """The id of an article's copy number ``copy`` (copy 0 is the article itself)."""
    return doc_id if copy == 0 else f"x{copy:03d}-{doc_id}"


def memory_kb() -> dict:
    """This process's resident set now and at its peak, in kB (Linux /proc)."""
    figures = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0])
    return figures


log = logger("scale")


def stored_copies(store, anchor: str, upto: int) -> set[int]:
    """Which copies of the corpus (below ``upto``) the store holds, judged by the copy of
    ``anchor``, the corpus's last article, which is written last."""
    ready = store.ready_ids()
    return {copy for copy in range(upto) if copy_id(copy, anchor) in ready}


# --- step 1, in its own process: grow the store to N copies ---------------------


def build_step(store_dir: str, data_dir: Path, scale: int) -> dict:
    """Bring the store to ``scale`` copies: copy 0 by ingest, the middle ones as replicas,
    the last one by a measured ingest of a fresh copy."""
    from qa import Assistant

    corpus = load_jsonl(data_dir / "articles.jsonl")
    originals = [record["id"] for record in corpus]
    assistant = Assistant(store=store_dir)
    assistant.embedder.encode([WARM_UP_TEXT])  # load the model before any timing
    store = assistant.store
    have = stored_copies(store, originals[-1], scale)
    result: dict = {"scale": scale, "build_load_avg_1min_start": round(os.getloadavg()[0], 2)}
    if 0 not in have:
        if scale == 1:
            result.update(timed_ingest(assistant, data_dir / "articles.jsonl", corpus))
        else:
            report = assistant.ingest([data_dir / "articles.jsonl"])
            log(f"copy 0 ingested: {report.summary()}")
        have.add(0)
    replicas = [copy for copy in range(1, scale - 1) if copy not in have]
    if replicas:
        started = time.perf_counter()
        template = copy_zero(store, originals)
        for copy in replicas:
            write_replica(store, template, copy)
        result["replica_copies"] = len(replicas)
        result["replica_write_s"] = round(time.perf_counter() - started, 1)
        log(f"{len(replicas)} replica copies written in {result['replica_write_s']:.0f}s")
    fresh = scale - 1
    if fresh > 0 and fresh not in have:
        path = Path(store_dir).parent / f"copy-{fresh:03d}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            for record in corpus:
                handle.write(json.dumps({**record, "id": copy_id(fresh, record["id"])}, ensure_ascii=False) + "\n")
        result.update(timed_ingest(assistant, path, corpus))
    if "ingest_s" not in result:
        result["ingest_note"] = "the store already held this scale: ingest not measured"
    result["sentences"] = store.sentence_count()
    result["articles"] = len(store.ready_ids())
    result["build_memory_kb"] = memory_kb()
    return result


def timed_ingest(assistant, path: Path, corpus: list[dict]) -> dict:
    before_sentences = assistant.store.sentence_count()
    wall, cpu = time.perf_counter(), time.process_time()
    report = assistant.ingest([path])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    chars = sum(len(record["text"]) for record in corpus)
    sentences = assistant.store.sentence_count() - before_sentences
    log(f"fresh copy ingested: {report.summary()} in {wall:.0f}s")
    return {
        "ingest_articles": len(report.added),
        "ingest_skipped": len(report.skipped),
        "ingest_chars": chars,
        "ingest_sentences": sentences,
        "ingest_s": round(wall, 2),
        "ingest_cpu_s": round(cpu, 2),
        "ingest_chars_per_s": round(chars / wall),
        "ingest_sentences_per_s": round(sentences / wall, 1),
    }


def copy_zero(store, originals: list[str]) -> list[tuple]:
    """Copy 0 as stored: each article with its sentences (metadata, text, vector) in order."""
    from types import SimpleNamespace

    wanted = set(originals)
    rows: dict[str, list] = {doc_id: [] for doc_id in originals}
    for _, texts, metas, vectors in store.sentence_pages():
        for text, meta, vector in zip(texts, metas, vectors):
            if meta["doc_id"] in wanted:
                rows[meta["doc_id"]].append(
                    SimpleNamespace(
                        position=int(meta["position"]), start=int(meta["start"]), end=int(meta["end"]), text=text,
                        kind=meta.get("kind", ""), speaker=meta.get("speaker", ""), embedding=vector,
                    )
                )
    template = []
    for doc_id in originals:
        article = store.article(doc_id)
        if article is None:
            continue  # skipped at ingest (no usable text)
        template.append((article, sorted(rows[doc_id], key=lambda s: s.position)))
    return template


def write_replica(store, template: list[tuple], copy: int) -> None:
    """Copy number ``copy`` of the corpus, new ids, copy 0's vectors, through ``Store.write_articles``."""
    import numpy as np
    from index.sentences import Sentence

    items = []
    for article, stored in template:
        new_id = copy_id(copy, article.doc_id)
        sentences = [
            Sentence(doc_id=new_id, position=s.position, start=s.start, end=s.end, text=s.text, kind=s.kind, speaker=s.speaker)
            for s in stored
        ]
        vectors = np.stack([s.embedding for s in stored]).astype(np.float32)
        items.append((replace(article, doc_id=new_id, origin=f"id:{new_id}"), sentences, vectors))
        if len(items) >= REPLICAS_PER_WRITE:
            store.write_articles(items)
            items = []
    store.write_articles(items)


# --- step 2, in a fresh process: ask -------------------------------------------


def ask_step(store_dir: str, data_dir: Path) -> dict:
    """Open the store in a fresh process, time the first question and then all of them warm."""
    questions = [q["question"] for q in load_jsonl(data_dir / "questions.jsonl") if q.get("answer_in_gold") is True]
    load_start = os.getloadavg()[0]
    start_memory = memory_kb()
    from qa import Assistant

    assistant = Assistant(store=store_dir)
    assistant.embedder.encode([WARM_UP_TEXT])  # the model's load is not the store's cost
    model_memory = memory_kb()
    started = time.perf_counter()
    first = assistant.ask(questions[0])
    first_ms = (time.perf_counter() - started) * 1000
    latencies, abstained, errors = [], int(first.abstained), 0
    for question in questions[1:]:
        started = time.perf_counter()
        try:
            abstained += assistant.ask(question).abstained
        except Exception as exc:  # a bench reports, it does not stop half-way
            errors += 1
            log(f"error on {question!r}: {exc}")
        latencies.append((time.perf_counter() - started) * 1000)
    end_memory = memory_kb()
    after_write_ms, after_remove_ms = ask_after_a_write(assistant, store_dir, data_dir, questions)
    return {
        "questions": len(questions),
        "first_ask_ms": round(first_ms, 1),
        "ask_after_write_ms": round(after_write_ms, 1),
        "ask_after_remove_ms": round(after_remove_ms, 1),
        "ask_p50_ms": round(percentile(latencies, 0.5), 1),
        "ask_p95_ms": round(percentile(latencies, 0.95), 1),
        "ask_mean_ms": round(statistics.fmean(latencies), 1),
        "abstained": abstained,
        "errors": errors,
        "rss_start_kb": start_memory["VmRSS"],
        "rss_model_kb": model_memory["VmRSS"],
        "rss_kb": end_memory["VmRSS"],
        "rss_peak_kb": end_memory["VmHWM"],
        "ask_load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],  # machine load while asking
    }


def ask_after_a_write(assistant, store_dir: str, data_dir: Path, questions: list[str]) -> tuple[float, float]:
    """Add one article (a fresh-id copy of the corpus's first), time the next question; remove it,
    time the next question again. What every serving process pays after someone writes."""
    record = json.loads((data_dir / "articles.jsonl").open(encoding="utf-8").readline())
    path = Path(store_dir).parent / "one-more.jsonl"
    path.write_text(json.dumps({**record, "id": f"one-more-{time.time_ns()}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    report = assistant.ingest([path])
    started = time.perf_counter()
    assistant.ask(questions[1])
    after_write = (time.perf_counter() - started) * 1000
    for doc_id in report.added:
        assistant.remove(doc_id)
    started = time.perf_counter()
    assistant.ask(questions[2])
    after_remove = (time.perf_counter() - started) * 1000
    path.unlink()
    return after_write, after_remove


# --- the parent: run the steps, print the table ---------------------------------


def run_step(step: str, store_dir: str, data_dir: Path, scale: int, timeout: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--store", store_dir,
               "--data", str(data_dir), "--scales", str(scale)]
    return json_from_process(command, timeout, f"{step} step at {scale}x")


def run_scales(store_dir: str, data_dir: Path, scales: list[int], timeout: int) -> list[dict]:
    rows = []
    for scale in scales:
        log(f"{scale}x: building")
        row = run_step("build", store_dir, data_dir, scale, timeout)
        log(f"{scale}x: asking in a fresh process")
        row.update(run_step("ask", store_dir, data_dir, scale, timeout))
        row["vector_bytes"] = row["sentences"] * VECTOR_BYTES
        rows.append(row)
        log(f"{scale}x: {json.dumps(row)}")
    return rows


def format_table(rows: list[dict]) -> str:
    base = rows[0]
    mb = 1024.0

    def ratio(value: float, reference: float) -> str:
        return f"x{value / reference:.2f}" if reference else "-"

    header = ("| corpus | articles | sentences | vectors MB | ingest chars/s | ingest s | first ask ms | ask p50 ms | ask p95 ms "
              "| ask after a write ms | ask after a remove ms | RSS MB (model only) | RSS MB | store RSS MB | store RSS ÷ vectors "
              "| peak RSS MB | load while asking |")
    lines = [header, "|" + "|".join("---:" for _ in header.strip("|").split("|")) + "|"]
    for row in rows:
        store_rss = (row["rss_kb"] - row["rss_model_kb"]) / mb
        lines.append(
            f"| {row['scale']}x | {row['articles']:,} | {row['sentences']:,} | {row['vector_bytes'] / 2**20:,.1f} "
            f"| {row.get('ingest_chars_per_s', 0):,} | {row.get('ingest_s', 0):,.1f} | {row['first_ask_ms']:,.0f} "
            f"| {row['ask_p50_ms']:,.1f} | {row['ask_p95_ms']:,.1f} | {row.get('ask_after_write_ms', 0):,.0f} "
            f"| {row.get('ask_after_remove_ms', 0):,.0f} | {row['rss_model_kb'] / mb:,.0f} "
            f"| {row['rss_kb'] / mb:,.0f} | {store_rss:,.0f} | {store_rss / (row['vector_bytes'] / 2**20):,.1f} "
            f"| {row['rss_peak_kb'] / mb:,.0f} "
            f"| {' → '.join(str(v) for v in row.get('ask_load_avg_1min', [])) or '-'} |"
        )
    lines += ["", f"Growth against {base['scale']}x (corpus x, then each figure x):", "",
              "| corpus | sentences x | ingest chars/s x | first ask x | ask p50 x | ask p95 x | RSS x | store RSS x | vector bytes x |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base_store = base["rss_kb"] - base["rss_model_kb"]
    for row in rows:
        lines.append(
            f"| {row['scale'] / base['scale']:g}x | {ratio(row['sentences'], base['sentences'])} "
            f"| {ratio(row.get('ingest_chars_per_s', 0), base.get('ingest_chars_per_s', 0))} "
            f"| {ratio(row['first_ask_ms'], base['first_ask_ms'])} | {ratio(row['ask_p50_ms'], base['ask_p50_ms'])} "
            f"| {ratio(row['ask_p95_ms'], base['ask_p95_ms'])} | {ratio(row['rss_kb'], base['rss_kb'])} "
            f"| {ratio(row['rss_kb'] - row['rss_model_kb'], base_store)} | {ratio(row['vector_bytes'], base['vector_bytes'])} |"
        )
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Scaling curve of the product at several multiples of the dev corpus.")
    parser.add_argument("--scales", default="1,10,50", help="comma-separated multiples of the corpus, ascending (default 1,10,50)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--store", default=None, help="store folder to grow (default: a temporary one, deleted at the end)")
    add_json_flag(parser)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed to each step's process")
    parser.add_argument("--step", choices=["build", "ask"], help=argparse.SUPPRESS)  # internal: one step in this process
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        scales = [int(s) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        print(f"error: --scales wants numbers like 1,10,50, not {args.scales!r}", file=sys.stderr)
        return 2
    if not scales or scales != sorted(set(scales)) or scales[0] < 1:
        print("error: --scales must be ascending whole numbers from 1", file=sys.stderr)
        return 2
    if data_missing(args.data):
        return 2
    if args.step:
        store_dir = str(Path(args.store) / "store")
        if args.step == "build":
            print(json.dumps(quietly(lambda: build_step(store_dir, args.data, scales[-1]))))
        else:
            print(json.dumps(quietly(lambda: ask_step(store_dir, args.data))))
        return 0

    start = start_run()
    with tempfile.TemporaryDirectory(prefix="qa-scale-", ignore_cleanup_errors=True) as tmp:
        store_dir = args.store or tmp
        Path(store_dir).mkdir(parents=True, exist_ok=True)
        rows = run_scales(store_dir, args.data, scales, args.timeout)
    result = envelope("scale", start, args, scales=rows)
    title = f"Scaling curve over the RealTimeQA dev corpus ({rows[0]['articles']} articles at {rows[0]['scale']}x)"
    finish(result, report(result, title, format_table(rows)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
