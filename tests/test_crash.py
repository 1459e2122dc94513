"""Crash safety: a real ingest process killed with SIGKILL half-way through a batch, and
questions asked while an article is only partly stored.

The store writes an article in three steps (record marked ``writing``, sentences, record
marked ``ready``); a restart drops what a crash left half-written (``Assistant.repaired``),
and the retriever only ever cites articles whose record is ``ready``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE_DIR

RAFAH = "What did Netanyahu say about Rafah?"
BATCH = 300

# Runs in its own process: index the samples, answer the Rafah question, then ingest the
# batch, saying on stdout when each bulk write starts and ends and when its sentences go in.
INGEST_SCRIPT = r"""
import json, sys
from llama_index.vector_stores.chroma import ChromaVectorStore
from index import store as store_module
from qa import Assistant

store_dir, samples, batch = sys.argv[1:4]
assistant = Assistant(store=store_dir)
print("samples", json.dumps(assistant.ingest([samples]).counts()), flush=True)
answer = assistant.ask("What did Netanyahu say about Rafah?")
print("rafah", json.dumps([[c.doc_id, c.start, c.end, c.text] for c in answer.citations]), flush=True)

write_articles = store_module.Store.write_articles
def traced_write(self, items, **kwargs):
    print("writing", *[article.doc_id for article, _, _ in items], flush=True)
    write_articles(self, items, **kwargs)
    print("wrote", *[article.doc_id for article, _, _ in items], flush=True)
store_module.Store.write_articles = traced_write
add = ChromaVectorStore.add
def traced_add(self, nodes, **kwargs):
    print("adding", len(nodes), flush=True)
    return add(self, nodes, **kwargs)
ChromaVectorStore.add = traced_add
print("batch", json.dumps(assistant.ingest([batch]).counts()), flush=True)
"""


def batch_article(i: int) -> dict:
    return {
        "id": f"batch-{i:03d}",
        "title": f"Council notice {i}",
        "text": (
            f"Council notice {i}\n"
            f"The Portwell council approved plan number {i} for the harbour district on Monday. "
            f"The plan moves berth {i} to the northern pier and adds {i % 9 + 2} new cranes. "
            f"Councillor Amira Haddad said the vote on plan {i} was close. "
            f"Work on berth {i} starts in the spring."
        ),
    }


def sentence_counts(store) -> Counter:
    return Counter(meta["doc_id"] for _, _, meta in store.iter_sentences())


def assert_store_consistent(assistant) -> dict:
    """No half-written record, every sentence belongs to a ready article, counts agree."""
    store = assistant.store
    assert store.articles.get(where={"state": "writing"}, include=[])["ids"] == []
    records = {row["doc_id"]: row for row in store.article_list()}
    assert len(records) == store.articles.count()  # every record is ready
    counts = sentence_counts(store)
    assert set(counts) <= set(records), set(counts) - set(records)  # no orphan sentences
    for doc_id, row in records.items():
        assert counts.get(doc_id, 0) == row["sentences"], (doc_id, counts.get(doc_id), row["sentences"])
    assert store.sentence_count() == sum(row["sentences"] for row in records.values())
    return records


def citations_of(answer) -> list[list]:
    return [[c.doc_id, c.start, c.end, c.text] for c in answer.citations]


def test_sigkill_in_the_middle_of_an_ingest_loses_nothing_indexed_before(tmp_path, embedder):
    from qa import Assistant

    store_dir = tmp_path / "store"
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(batch_article(i)) + "\n" for i in range(BATCH)), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(store_dir), str(SAMPLE_DIR), str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    try:
        for line in process.stdout:  # a line per step; the deadline bounds a stuck process
            lines.append(line.rstrip("\n"))
            # SIGKILL while the second bulk write of the batch is adding its sentences: its
            # records say "writing" and only some of its sentences may have reached the index.
            if line.startswith("adding ") and sum(l.startswith("wrote batch-") for l in lines) == 1:
                os.kill(process.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the ingest process is too slow"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, (process.returncode, lines[-5:])
    samples = json.loads(next(line for line in lines if line.startswith("samples ")).split(" ", 1)[1])
    assert samples["added"] == 2
    rafah_before = json.loads(next(line for line in lines if line.startswith("rafah ")).split(" ", 1)[1])
    assert rafah_before, "the samples answer the Rafah question"
    writes = [line.split()[1:] for line in lines if line.startswith("writing batch-")]
    finished = {doc_id for line in lines if line.startswith("wrote batch-") for doc_id in line.split()[1:]}
    assert len(writes) == 2 and finished == set(writes[0])
    interrupted = set(writes[1])
    assert 0 < len(finished) < BATCH and interrupted and not interrupted & finished

    # A restart: the half-written article is dropped, or it had got as far as complete.
    restarted = Assistant(store=store_dir, embedder=embedder)
    assert set(restarted.repaired) <= interrupted
    records = assert_store_consistent(restarted)
    batch_ids = {doc_id for doc_id in records if doc_id.startswith("batch-")}
    assert finished <= batch_ids <= finished | interrupted
    # Each interrupted article was either dropped by the repair or had been written completely.
    assert interrupted == set(restarted.repaired) | (batch_ids & interrupted)
    assert len(records) == 2 + len(batch_ids)
    assert citations_of(restarted.ask(RAFAH)) == rafah_before  # what was indexed before answers as before

    # Running the ingest again completes the batch, with no duplicate.
    report = restarted.ingest([batch])
    assert report.counts() == {"added": BATCH - len(batch_ids), "unchanged": len(batch_ids), "replaced": 0, "skipped": 0}
    records = assert_store_consistent(restarted)
    assert len(records) == 2 + BATCH
    assert all(records[f"batch-{i:03d}"]["sentences"] == 5 for i in range(BATCH))
    assert restarted.store.sentence_count() == sum(r["sentences"] for r in records.values())
    assert citations_of(restarted.ask(RAFAH)) == rafah_before
    answer = restarted.ask("Who said the vote on plan 217 was close?")
    assert [c.doc_id for c in answer.citations][:1] == ["batch-217"]


# --- questions while an article is only partly stored ----------------------------------------

PARTIAL = {
    "id": "partial-rafah",
    "title": "Netanyahu on Rafah",
    "text": (
        "Netanyahu on Rafah\n"
        "Netanyahu said about Rafah that the army would wait for a hostage deal before any move.\n"
        "The Portwell lighthouse keeper painted the lighthouse purple on Sunday."
    ),
}
LIGHTHOUSE = "What colour did the keeper paint the Portwell lighthouse?"


@pytest.fixture
def samples_store(tmp_path, embedder):
    from qa import Assistant

    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    assert assistant.ingest([SAMPLE_DIR]).counts()["added"] == 2
    return assistant


def stop_before_ready(monkeypatch, store, on_ready):
    """Make the store's last write step (the record marked ready) call ``on_ready`` first."""
    collection_type = type(store.articles)
    update = collection_type.update

    def patched(collection, *args, **kwargs):
        metadatas = kwargs.get("metadatas") or []
        if collection.name == store.articles.name and any(m.get("state") == "ready" for m in metadatas):
            on_ready(kwargs.get("ids"))
        return update(collection, *args, **kwargs)

    monkeypatch.setattr(collection_type, "update", patched)


def test_a_half_written_article_is_never_cited(samples_store, sample_assistant, tmp_path, monkeypatch, embedder):
    from qa import Assistant

    reference = citations_of(sample_assistant.ask(RAFAH))
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(PARTIAL), encoding="utf-8")

    def crash(ids):
        raise RuntimeError("power cut before the record was marked ready")

    stop_before_ready(monkeypatch, samples_store.store, crash)
    with pytest.raises(RuntimeError):
        samples_store.ingest([path])
    monkeypatch.undo()

    store = samples_store.store
    assert store.article_meta("partial-rafah")["state"] == "writing"
    assert sentence_counts(store)["partial-rafah"] == 3  # its sentences are in the index
    assert "partial-rafah#1" in samples_store.retriever.lexical.node_ids
    answer = samples_store.ask(RAFAH)
    assert citations_of(answer) == reference
    assert all(c.doc_id != "partial-rafah" for c in samples_store.ask(LIGHTHOUSE).citations)
    assert samples_store.article("partial-rafah") is None
    assert "partial-rafah" not in {row["doc_id"] for row in samples_store.articles()}

    restarted = Assistant(store=tmp_path / "store", embedder=embedder)
    assert restarted.repaired == ["partial-rafah"]
    assert_store_consistent(restarted)
    assert citations_of(restarted.ask(RAFAH)) == reference


def test_questions_during_an_ingest_in_another_thread_never_cite_it(samples_store, sample_assistant, tmp_path, monkeypatch):
    from qa import Assistant

    reference = citations_of(sample_assistant.ask(RAFAH))
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(PARTIAL), encoding="utf-8")
    half_written, go = threading.Event(), threading.Event()

    def pause(ids):
        half_written.set()
        assert go.wait(timeout=60)

    stop_before_ready(monkeypatch, samples_store.store, pause)
    reports = []
    writer = threading.Thread(target=lambda: reports.append(samples_store.ingest([path])), daemon=True)
    writer.start()
    try:
        assert half_written.wait(timeout=60), "the ingest never reached its last step"
        # The reader: another Assistant on the same store, as a second app would be.
        reader = Assistant(store=tmp_path / "store", embedder=samples_store.embedder)
        assert reader.repaired == []  # only a record nobody is writing may be dropped: see the report
        assert sentence_counts(reader.store)["partial-rafah"] == 3
        for assistant in (reader, samples_store):
            assert citations_of(assistant.ask(RAFAH)) == reference
            assert all(c.doc_id != "partial-rafah" for c in assistant.ask(LIGHTHOUSE).citations)
    finally:
        go.set()
        writer.join(timeout=60)
    assert reports and reports[0].added == ["partial-rafah"]
    fresh = Assistant(store=tmp_path / "store", embedder=samples_store.embedder)
    assert [c.doc_id for c in fresh.ask(LIGHTHOUSE).citations] == ["partial-rafah"]
