"""Consistency of the store and its side index over random sequences of writes, and between
two Assistants sharing one store directory (as two app processes would).

Four views must agree after every step: the sentences in Chroma, the BM25 rows the
retriever answers from, the ``sentences`` field of the article records, and the doc ids
in both collections. The retriever's sentence table (texts, offsets, speakers, embeddings,
article titles and readiness) must also match Chroma row for row, including after a write
by another process and when a new process loads the table saved beside the store.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

PLACES = ["harbour", "library", "stadium", "museum", "bakery", "ferry", "airport", "zoo", "school", "market"]
EVENTS = ["reopened", "closed", "expanded", "flooded", "celebrated", "renovated", "moved", "sold"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def story(rng: random.Random, key: str, sentences: int) -> tuple[str, str]:
    """A small article with a made-up keyword only it contains; returns (text, keyword)."""
    place, event, day = rng.choice(PLACES), rng.choice(EVENTS), rng.choice(DAYS)
    keyword = f"{key}{rng.randrange(10**6)}".replace("-", "")
    lines = [f"The {place} {event}", f"The {place} of Zed{keyword} {event} on {day} after a long wait."]
    for i in range(sentences - 2):
        lines[-1] += f" Officials counted {rng.randrange(2, 900)} visitors in week {i + 1}."
    return "\n".join(lines) + "\n", keyword


def views(assistant) -> dict:
    store = assistant.store
    records = {row["doc_id"]: row for row in store.article_list()}
    stored = list(store.iter_sentences())
    lexical = assistant.retriever.lexical
    return {
        "records": records,
        "all_records": store.articles.count(),
        "chroma_sentences": store.sentence_count(),
        "listed_sentences": len(stored),
        "record_sentences": sum(row["sentences"] for row in records.values()),
        "lexical_rows": len(lexical),
        "record_ids": set(records),
        "sentence_doc_ids": {meta["doc_id"] for _, _, meta in stored},
        "lexical_doc_ids": set(lexical.doc_ids.tolist()),
        "sentence_node_ids": {node_id for node_id, _, _ in stored},
        "lexical_node_ids": set(lexical.node_ids),
        "per_doc": Counter(meta["doc_id"] for _, _, meta in stored),
    }


def assert_agree(assistant, step: str) -> dict:
    v = views(assistant)
    assert v["all_records"] == len(v["records"]), f"{step}: a record is not ready"
    assert v["chroma_sentences"] == v["listed_sentences"] == v["record_sentences"] == v["lexical_rows"], (step, v)
    assert v["record_ids"] == v["sentence_doc_ids"] == v["lexical_doc_ids"], step
    assert v["sentence_node_ids"] == v["lexical_node_ids"], step
    for doc_id, row in v["records"].items():
        assert v["per_doc"][doc_id] == row["sentences"], (step, doc_id)
    assert_table_matches_store(assistant, step)
    return v


def assert_table_matches_store(assistant, step: str) -> None:
    """Every sentence the retriever's table holds is the one in Chroma: text, offsets, speaker,
    embedding; and each article's title and readiness are the record's."""
    table = assistant.retriever.lexical
    count = 0
    for ids, texts, metas, vectors in assistant.store.sentence_pages():
        for node_id, text, meta, vector in zip(ids, texts, metas, vectors):
            row = table.row(node_id)
            assert row is not None, (step, node_id)
            assert (row.doc_id, row.position, row.start, row.end, row.text, row.speaker) == (
                meta["doc_id"], meta["position"], meta["start"], meta["end"], text, meta.get("speaker", "")
            ), (step, node_id)
            assert np.array_equal(row.embedding, vector), (step, node_id)
            count += 1
    assert count == len(table), step
    records = {row["doc_id"]: row for row in assistant.store.article_list()}
    for doc_id in set(table.doc_ids.tolist()) | set(records):
        assert table.article_ready(doc_id) == (doc_id in records), (step, doc_id)
        if doc_id in records:
            assert table.article_meta(doc_id)["title"] == records[doc_id]["title"], (step, doc_id)


def assert_citations_exact(assistant, answer) -> None:
    for c in answer.citations:
        article = assistant.article(c.doc_id)
        assert article is not None, f"cites {c.doc_id}, which is not in the store"
        assert article.text[c.start : c.end] == c.text


@pytest.mark.parametrize("seed", [7, 2024])
def test_random_writes_keep_every_view_in_step(tmp_path, embedder, seed):
    from qa import Assistant

    rng = random.Random(seed)
    folder = tmp_path / "articles"
    folder.mkdir()
    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    files: dict[str, tuple[str, str]] = {}  # file name -> (text, keyword)
    feed: dict[str, tuple[str, str]] = {}  # JSONL id -> (text, keyword)
    feed_path = tmp_path / "feed.jsonl"
    removed: set[str] = set()  # doc ids removed while their input is still there
    log = []

    def write_feed():
        feed_path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, (t, _) in feed.items()), encoding="utf-8")

    for step in range(15):
        ops = ["add", "add_feed"] + (["remove", "change", "change_same_count", "unchanged"] if files else [])
        op = rng.choice(ops)
        asked = None
        if op == "add":
            name = f"story-{step}.txt"
            files[name] = story(rng, f"s{step}", rng.randint(2, 4))
            (folder / name).write_text(files[name][0], encoding="utf-8")
            report = assistant.ingest([folder / name])
            assert report.counts()["added"] == 1, report.summary()
            asked = files[name][1]
        elif op == "add_feed":
            feed[f"feed-{step}"] = story(rng, f"f{step}", rng.randint(2, 4))
            write_feed()
            report = assistant.ingest([feed_path])
            back = removed & set(feed)  # removed feed articles come back with their feed
            assert set(report.added) == {f"feed-{step}"} | back and not report.skipped, report.summary()
            removed -= back
            asked = feed[f"feed-{step}"][1]
        elif op == "remove":
            doc_id = rng.choice(sorted(r["doc_id"] for r in assistant.store.article_list()))
            assert assistant.remove(doc_id) is True
            assert assistant.article(doc_id) is None
            removed.add(doc_id)
        elif op in ("change", "change_same_count"):
            name = rng.choice(sorted(files))
            before = {r["origin"]: r for r in assistant.store.article_list()}.get(str((folder / name).resolve()))
            count = before["sentences"] if (op == "change_same_count" and before) else rng.randint(2, 5)
            files[name] = story(rng, f"c{step}", count)
            (folder / name).write_text(files[name][0], encoding="utf-8")
            report = assistant.ingest([folder / name])
            assert report.counts()["replaced" if before else "added"] == 1, report.summary()
            asked = files[name][1]
        else:  # re-ingest everything unchanged: removed articles come back, nothing else changes
            report = assistant.ingest([folder, feed_path] if feed else [folder])
            assert report.counts()["replaced"] == 0 and not report.skipped
            assert report.counts()["added"] == len(removed & set(report.added))
            removed.clear()
            texts = {assistant.article(r["doc_id"]).text for r in assistant.store.article_list()}
            assert texts == {t for t, _ in files.values()} | {t for t, _ in feed.values()}
        log.append(op)
        assert_agree(assistant, f"step {step} ({op}) after {log}")
        if asked:
            answer = assistant.ask(f"What happened at the place of Zed{asked}?")
            assert_citations_exact(assistant, answer)
            assert any(f"Zed{asked}" in c.text for c in answer.citations), (op, answer.text)
    assert {"add", "remove"} <= set(log) or len(set(log)) >= 3, log


# --- two Assistants on one store (two app processes) ------------------------------------------


def ingest_one(assistant, path: Path, text: str):
    path.write_text(text, encoding="utf-8")
    return assistant.ingest([path])


BRIDGE = "Bridge reopens\nThe Qorvath bridge reopened on Tuesday after repairs.\nTraffic was light in the morning.\n"
LIBRARY = "Library opens\nThe Qorvath library opened on Friday with new shelves.\nStudents queued at the door.\n"


def test_a_second_assistant_sees_what_the_first_ingests_and_removes(tmp_path, embedder):
    from qa import Assistant

    writer = Assistant(store=tmp_path / "store", embedder=embedder)
    reader = Assistant(store=tmp_path / "store", embedder=embedder)
    ingest_one(writer, tmp_path / "library.txt", LIBRARY)
    question = "When did the Qorvath bridge reopen?"
    assert all("bridge" not in c.text for c in reader.ask(question).citations)
    rows_before = len(reader.retriever.lexical)

    report = ingest_one(writer, tmp_path / "bridge.txt", BRIDGE)
    bridge_id = report.added[0]
    answer = reader.ask(question)  # the count changed: its BM25 index and answer cache refresh
    assert [c.doc_id for c in answer.citations][:1] == [bridge_id]
    assert len(reader.retriever.lexical) == rows_before + 3
    assert_agree(reader, "reader after the writer's ingest")

    writer.remove(bridge_id)
    assert all(c.doc_id != bridge_id for c in reader.ask(question).citations)
    assert_agree(reader, "reader after the writer's remove")


def test_the_generation_token_changes_on_every_visible_change(tmp_path, embedder):
    from qa import Assistant

    writer = Assistant(store=tmp_path / "store", embedder=embedder)
    reader = Assistant(store=tmp_path / "store", embedder=embedder)
    g0 = reader.store.generation()
    report = ingest_one(writer, tmp_path / "bridge.txt", BRIDGE)
    g1 = reader.store.generation()
    assert g1 != g0 and g1 == writer.store.generation()
    assert writer.ingest([tmp_path / "bridge.txt"]).counts()["unchanged"] == 1
    assert reader.store.generation() == g1  # an ingest that changes nothing costs readers no rebuild
    count = writer.store.sentence_count()
    writer.remove(report.added[0])
    ingest_one(writer, tmp_path / "library.txt", LIBRARY)
    assert writer.store.sentence_count() == count  # the blind spot of a count...
    assert reader.store.generation() not in (g0, g1)  # ...which the token does not have


# A sentence count misses a remove + add of the same size; the generation token does not.


def test_a_second_assistant_sees_a_replacement_of_the_same_size(tmp_path, embedder):
    from qa import Assistant

    writer = Assistant(store=tmp_path / "store", embedder=embedder)
    reader = Assistant(store=tmp_path / "store", embedder=embedder)
    bridge_id = ingest_one(writer, tmp_path / "bridge.txt", BRIDGE).added[0]
    question = "When did the Qorvath bridge reopen?"
    assert [c.doc_id for c in reader.ask(question).citations][:1] == [bridge_id]
    count = reader.store.sentence_count()
    writer.remove(bridge_id)
    ingest_one(writer, tmp_path / "library.txt", LIBRARY)  # 3 sentences out, 3 in
    assert reader.store.sentence_count() == count
    assert_citations_exact(reader, reader.ask(question))  # the cached answer cited the removed article
    assert_agree(reader, "reader after a remove + add of the same size")  # and its BM25 index held it


def test_an_answer_is_not_served_from_cache_after_a_same_size_edit(tmp_path, embedder):
    from qa import Assistant

    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"id": "bridge", "text": BRIDGE}) + "\n", encoding="utf-8")
    assistant.ingest([path])
    question = "When did the Qorvath bridge reopen?"
    assert "Tuesday" in assistant.ask(question).citations[0].text
    path.write_text(json.dumps({"id": "bridge", "text": BRIDGE.replace("Tuesday", "Sunday")}) + "\n", encoding="utf-8")
    assert assistant.ingest([path]).replaced == ["bridge"]
    answer = assistant.ask(question)
    assert_citations_exact(assistant, answer)
    assert "Sunday" in answer.citations[0].text


# --- a writer in another process, and a new process loading the saved table ---------------------
# On a Chroma server: an embedded Chroma directory is not meant for several processes at once
# (a reader process keeps a stale copy of the vector segment), a server is.

WRITER_SCRIPT = r"""
import sys
from qa import Assistant

host, port, command, arg = sys.argv[1:5]
writer = Assistant(chroma_host=host, chroma_port=int(port))
if command == "ingest":
    print(writer.ingest([arg]).added[0])
else:
    print(writer.remove(arg))
"""


def in_another_process(server: tuple[str, int], command: str, arg: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", WRITER_SCRIPT, server[0], str(server[1]), command, arg],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_sentence_table_follows_writes_by_another_process(chroma_server, tmp_path, embedder, monkeypatch):
    from qa import Assistant

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))  # so the table is saved for a server store too
    host, port = chroma_server
    reader = Assistant(chroma_host=host, chroma_port=port, embedder=embedder)
    library_id = ingest_one(reader, tmp_path / "library.txt", LIBRARY).added[0]
    question = "When did the Qorvath bridge reopen?"
    assert all("bridge" not in c.text for c in reader.ask(question).citations)  # the table is built and warm

    (tmp_path / "bridge.txt").write_text(BRIDGE, encoding="utf-8")
    bridge_id = in_another_process(chroma_server, "ingest", str(tmp_path / "bridge.txt"))
    assert [c.doc_id for c in reader.ask(question).citations][:1] == [bridge_id]
    assert_agree(reader, "reader after another process's ingest")

    # A new Assistant loads the table the reader saved for this generation.
    newcomer = Assistant(chroma_host=host, chroma_port=port, embedder=embedder)
    assert (newcomer.store.side_dir / newcomer.store.generation() / "table.json").exists()
    assert_agree(newcomer, "new Assistant on the saved table")
    assert newcomer.ask(question).citations == reader.ask(question).citations

    assert in_another_process(chroma_server, "remove", bridge_id) == "True"
    assert all(c.doc_id != bridge_id for c in reader.ask(question).citations)
    assert_agree(reader, "reader after another process's remove")
    assert_agree(newcomer, "the other reader after another process's remove")
    reader.remove(library_id)  # leave the session's server as it was
