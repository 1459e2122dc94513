"""The sentence table and BM25 index saved beside the store: used by the next process only when
it is the store's current generation and intact, rebuilt otherwise, and never a pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_DIR

RAFAH = "What did Netanyahu say about Rafah?"


def citations(answer) -> list[tuple]:
    return [(c.doc_id, c.start, c.end, c.score) for c in answer.citations]


@pytest.fixture
def saved_store(tmp_path, embedder):
    """A store holding the samples whose table has been built and saved; yields (path, reference answer)."""
    from qa import Assistant

    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    assistant.ingest([SAMPLE_DIR])
    reference = citations(assistant.ask(RAFAH))
    assert reference
    return tmp_path / "store", reference


def saved_copy(store: Path) -> Path:
    from index.store import SIDE_DIR

    copies = [p for p in (store / SIDE_DIR).iterdir() if not p.name.startswith(".")]
    assert len(copies) == 1, copies
    return copies[0]


def never_build(monkeypatch):
    from index.lexical import LexicalIndex

    def refuse(cls, store, generation):
        raise AssertionError("rebuilt although a good saved copy was there")

    monkeypatch.setattr(LexicalIndex, "build", classmethod(refuse))


def count_builds(monkeypatch) -> list:
    from index.lexical import LexicalIndex

    built = []
    build = LexicalIndex.build.__func__

    def counting(cls, store, generation):
        built.append(generation)
        return build(cls, store, generation)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(counting))
    return built


def test_a_new_assistant_loads_the_saved_table_and_answers_the_same(saved_store, embedder, monkeypatch):
    from qa import Assistant

    store, reference = saved_store
    folder = saved_copy(store)
    reader = Assistant(store=store, embedder=embedder)
    assert folder.name == reader.store.generation()
    never_build(monkeypatch)
    assert citations(reader.ask(RAFAH)) == reference
    assert len(reader.retriever.lexical) == reader.store.sentence_count()


def test_a_saved_table_of_another_generation_is_not_used(saved_store, embedder, monkeypatch, tmp_path):
    from qa import Assistant

    store, reference = saved_store
    stale = saved_copy(store)
    writer = Assistant(store=store, embedder=embedder)
    extra = tmp_path / "bridge.txt"
    extra.write_text("Bridge reopens\nThe Qorvath bridge reopened on Tuesday after repairs.\n", encoding="utf-8")
    writer.ingest([extra])  # a new generation; the saved copy is now stale
    current = writer.store.generation()
    assert stale.name != current
    # Even under the current generation's name, a copy made for another state is refused.
    shutil.copytree(stale, stale.parent / current)

    reader = Assistant(store=store, embedder=embedder)
    answer = reader.ask("When did the Qorvath bridge reopen?")  # the stale copy is updated, not served
    assert "Qorvath" in answer.citations[0].text
    assert len(reader.retriever.lexical) == reader.store.sentence_count()
    assert citations(reader.ask(RAFAH)) == reference
    assert saved_copy(store).name == current  # the stale copies are gone, the rebuilt one saved
    assert json.loads((saved_copy(store) / "table.json").read_text())["rows"] == reader.store.sentence_count()


CORRUPTIONS = {
    "truncated matrix": lambda folder: (folder / "embeddings.npy").write_bytes((folder / "embeddings.npy").read_bytes()[:300]),
    "garbage table": lambda folder: (folder / "table.json").write_text("{not json", encoding="utf-8"),
    "table of other articles": lambda folder: (folder / "table.json").write_text(
        json.dumps({**json.loads((folder / "table.json").read_text()), "articles": [{"doc_id": "x"}]}), encoding="utf-8"
    ),
    "texts of other rows": lambda folder: np.save(folder / "text_offsets.npy", np.zeros(2, dtype=np.int64)),
    "missing bm25 matrix": lambda folder: (folder / "bm25_data.npy").unlink(),
    "bm25 matrix of other rows": lambda folder: np.save(folder / "bm25_indices.npy", np.load(folder / "bm25_indices.npy") + 10**6),
    "pickled array": lambda folder: np.save(folder / "columns.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True),
}


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_a_damaged_saved_table_is_rebuilt(saved_store, embedder, monkeypatch, damage):
    from qa import Assistant

    store, reference = saved_store
    folder = saved_copy(store)
    CORRUPTIONS[damage](folder)
    built = count_builds(monkeypatch)
    reader = Assistant(store=store, embedder=embedder)
    assert citations(reader.ask(RAFAH)) == reference
    assert built == [reader.store.generation()]
    # The rebuilt copy replaced the damaged one and is good for the next process.
    monkeypatch.undo()
    never_build(monkeypatch)
    assert citations(Assistant(store=store, embedder=embedder).ask(RAFAH)) == reference


def test_nothing_saved_is_a_pickle(saved_store):
    from index.store import SIDE_DIR

    store, _ = saved_store
    files = [p for p in (store / SIDE_DIR).rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= {".npy", ".json"}, files
    assert any(p.suffix == ".npy" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not data.startswith(b"\x80"), f"{path} looks like a pickle"
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)  # raises on an object (pickled) array
            assert array.dtype != object
        else:
            json.loads(data.decode("utf-8"))


def test_a_chroma_server_store_saves_only_under_qa_cache_dir(chroma_server, embedder, tmp_path, monkeypatch):
    from qa import Assistant

    host, port = chroma_server
    monkeypatch.delenv("QA_CACHE_DIR", raising=False)
    assert Assistant(chroma_host=host, chroma_port=port, embedder=embedder).store.side_dir is None
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    assistant = Assistant(chroma_host=host, chroma_port=port, embedder=embedder)
    assistant.ingest([SAMPLE_DIR])
    reference = citations(assistant.ask(RAFAH))
    side_dir = assistant.store.side_dir
    assert side_dir is not None and str(side_dir).startswith(str(tmp_path / "cache"))
    assert (side_dir / assistant.store.generation() / "table.json").exists()
    never_build(monkeypatch)
    assert citations(Assistant(chroma_host=host, chroma_port=port, embedder=embedder).ask(RAFAH)) == reference


def test_terms_are_cached_without_sharing_lists_and_split_at_spaces():
    from index.terms import acronyms, terms

    text = "Prime Minister Benjamin Netanyahu said the International Criminal Court's order was wrong."
    first = terms(text)
    first.append("poison")
    assert "poison" not in terms(text)
    found = acronyms(text)
    found.add("poison")
    assert "poison" not in acronyms(text)
    for sentence in SAMPLE_DIR.joinpath("000_931a4d0f5c8aff4b.txt").read_text(encoding="utf-8").splitlines():
        # The sentence table relies on this to derive a sentence's BM25 terms from its parts.
        assert terms(sentence + " " + "Matthew Miller") == terms(sentence) + terms("Matthew Miller")
