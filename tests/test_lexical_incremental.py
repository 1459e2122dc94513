"""Updating the side index after a write gives what a fresh build of the same store state gives:
random adds, removes, re-ingests and half-written articles against a real embedded Chroma store."""

from __future__ import annotations

import random

import numpy as np
import pytest

WORDS = (
    "harbour council bridge ferry minister storm river election budget court museum festival "
    "engineer mayor school hospital railway drought farmers vote tunnel lighthouse senator"
).split()
SPEAKERS = ["Anna Lindqvist", "Omar Haddad", "the mayor"]


def article(rng: random.Random, doc_id: str) -> dict:
    sentences = []
    for _ in range(rng.randint(1, 4)):
        words = rng.sample(WORDS, rng.randint(3, 7))
        if rng.random() < 0.3:
            sentences.append(f'"The {words[0]} will {words[1]} the {words[2]}," said {rng.choice(SPEAKERS)}.')
        elif rng.random() < 0.1:
            sentences.append("— …")  # a sentence without terms
        else:
            sentences.append(f"The International {words[0].title()} Court met the {' '.join(words[1:])} on Monday.")
    return {"id": doc_id, "title": f"{rng.choice(WORDS).title()} news {doc_id}", "text": " ".join(sentences),
            "source": rng.choice(["Herald", "Gazette"]), "published": f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}


def snapshot(table) -> dict:
    """Everything a row means, keyed by node id (row order may differ between update and build)."""
    rows = {}
    for row in range(len(table)):
        s = table.sentence(row)
        source = table.names["source"][table.columns[row, 5]]
        rows[s.node_id] = (s.doc_id, s.position, s.start, s.end, s.text, s.kind, s.speaker, source, int(table.columns[row, 4]),
                           tuple(table.row_terms(row)), tuple(table.text_terms(row)), s.embedding.tobytes(), table.article_ready(s.doc_id))
    return rows


def bm25_by_node(table) -> dict:
    """(node id, term) -> BM25 score, over every stored score."""
    data, indices, indptr = (table.bm25_scores[name] for name in ("data", "indices", "indptr"))
    scores = {}
    for term_id, term in enumerate(table.vocabulary):
        for i in range(indptr[term_id], indptr[term_id + 1]):
            scores[(table.node_id(int(indices[i])), term)] = float(data[i])
    return scores


def assert_same(updated, built) -> None:
    rows = snapshot(built)
    assert snapshot(updated) == rows
    for record in built.articles:  # an article's sentences in reading order, whatever the row order
        in_order = [row[4] for row in sorted(rows.values(), key=lambda row: row[1]) if row[0] == record["doc_id"]]
        assert updated.article_texts(record["doc_id"]) == built.article_texts(record["doc_id"]) == in_order
    assert sorted(updated.articles, key=lambda r: r["doc_id"]) == sorted(built.articles, key=lambda r: r["doc_id"])
    assert updated.acronym_counts == built.acronym_counts
    a, b = bm25_by_node(updated), bm25_by_node(built)
    assert a.keys() == b.keys()
    assert np.allclose([a[key] for key in b], [b[key] for key in b], rtol=1e-6, atol=0)
    for term in set(updated.vocabulary) | set(built.vocabulary):
        assert updated.knows(term) == built.knows(term), term
        assert updated.idf(term) == pytest.approx(built.idf(term)), term


def test_updates_equal_fresh_builds_through_random_writes(tmp_path, embedder):
    from index.lexical import LexicalIndex
    from qa import Assistant

    rng = random.Random(7)
    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    store = assistant.store
    table = LexicalIndex.build(store, store.generation())
    present: list[str] = []
    for step in range(12):
        action = rng.choice(["add", "add", "remove", "reingest", "half"]) if present else "add"
        if action == "remove":
            store.remove(present.pop(rng.randrange(len(present))))
        elif action == "half":  # a write cut short: the record stays "writing" with its sentences
            doc_id = rng.choice(present)
            store.update_meta(doc_id, {"state": "writing"})
        else:
            doc_id = rng.choice(present) if action == "reingest" else f"doc{step}"
            path = tmp_path / f"{doc_id}-{step}.jsonl"
            path.write_text(__import__("json").dumps(article(rng, doc_id)) + "\n", encoding="utf-8")
            assistant.ingest([path])
            if doc_id not in present:
                present.append(doc_id)
        generation = store.generation()
        table = table.updated(store, generation)
        assert len(table) == store.sentence_count(), (step, action)
        assert_same(table, LexicalIndex.build(store, generation))
    assert len(table) > 0


def test_numpy_bm25_matches_bm25s(sample_assistant):
    """The scores computed in numpy are bm25s's own (same formula, same float types)."""
    import bm25s

    table = sample_assistant.retriever.lexical
    corpus = [table.row_terms(row) or ["∅"] for row in range(len(table))]
    reference = bm25s.BM25()
    reference.index(corpus, show_progress=False)
    for query in (["netanyahu", "rafah"], ["say"], ["court", "icc", "bridge"]):
        expected = reference.get_scores([t for t in query if t in reference.vocab_dict])
        assert np.allclose(table._bm25_scores([table.term_index[t] for t in query if t in table.term_index]), expected, rtol=1e-6, atol=1e-7)


def test_a_new_process_updates_the_newest_saved_copy_instead_of_rebuilding(tmp_path, embedder, monkeypatch):
    from index.lexical import LexicalIndex
    from qa import Assistant

    from conftest import SAMPLE_DIR

    writer = Assistant(store=tmp_path / "store", embedder=embedder)
    writer.ingest([SAMPLE_DIR])
    writer.ask("What did Netanyahu say about Rafah?")  # builds and saves the side index
    extra = tmp_path / "bridge.txt"
    extra.write_text("Bridge reopens\nThe Qorvath bridge reopened on Tuesday after repairs.\n", encoding="utf-8")
    writer.ingest([extra])  # a new generation: the saved copy is of the older state

    def refuse(cls, store, generation):
        raise AssertionError("rebuilt although an older saved copy could be updated")

    monkeypatch.setattr(LexicalIndex, "build", classmethod(refuse))
    reader = Assistant(store=tmp_path / "store", embedder=embedder)
    answer = reader.ask("When did the Qorvath bridge reopen?")
    assert "Qorvath" in answer.citations[0].text
    table = reader.retriever.lexical
    monkeypatch.undo()
    assert_same(table, LexicalIndex.build(reader.store, reader.store.generation()))
    assert isinstance(table.embeddings, np.memmap)  # served from the saved copy, not a second copy in memory
