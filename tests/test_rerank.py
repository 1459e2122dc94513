"""The shipped reranker: the file is the one trained, the product uses it, and it ranks answers first."""

from __future__ import annotations

import json
import shutil

import pytest

from index.onnx_model import sha256_of
from qa.rerank import DEFAULT_PATH, Reranker, RerankerError, reranker_option, shared_reranker

CARD = json.loads((DEFAULT_PATH / "card.json").read_text())


def test_the_shipped_file_is_the_one_the_card_describes():
    assert sha256_of(DEFAULT_PATH / "model.onnx") == CARD["sha256"]
    assert (DEFAULT_PATH / "model.onnx").stat().st_size <= 30 * 2**20
    # trained: better than the untrained start on the validation pairs
    assert CARD["validation_pairs_onnx_int8"]["hit@1"] > CARD["validation_pairs_before"]["hit@1"] + 0.2


def test_the_product_reranks_with_the_shipped_model_by_default(sample_assistant):
    assert sample_assistant.reranker is shared_reranker(str(DEFAULT_PATH))
    answer = sample_assistant.ask("What did Netanyahu say about Rafah?")
    assert not answer.abstained
    # the score of a citation is the reranker's probability
    assert all(0.0 <= c.score <= 1.0 for c in answer.citations)


def test_it_ranks_the_answering_sentence_above_sentences_on_the_same_topic():
    reranker = shared_reranker(str(DEFAULT_PATH))
    question = "Which team does Damar Hamlin play for?"
    texts = [
        "Damar Hamlin collapsed on the field during Monday night's game and was taken to hospital.",
        "Buffalo Bills safety Damar Hamlin is breathing on his own, the team said on Friday.",
        "Doctors at the University of Cincinnati Medical Center gave an update on his condition.",
    ]
    probabilities = reranker.probabilities(question, texts)
    assert probabilities.argmax() == 1, probabilities
    assert probabilities.shape == (3,) and ((probabilities > 0) & (probabilities < 1)).all()


def test_another_reranker_folder_is_used_when_given(tmp_path, embedder):
    from qa import Assistant

    folder = tmp_path / "my-reranker"
    shutil.copytree(DEFAULT_PATH, folder)
    assistant = Assistant(store=tmp_path / "store", embedder=embedder, reranker=folder)
    assert assistant.reranker.path == folder
    assert Assistant(store=tmp_path / "store", embedder=embedder, reranker=None).reranker is None


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(RerankerError, match="no reranker there"):
        reranker_option(str(tmp_path))
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    (tmp_path / "tokenizer.json").write_text((DEFAULT_PATH / "tokenizer.json").read_text())
    with pytest.raises(RerankerError, match="model.onnx: not a model onnxruntime can load"):
        Reranker(tmp_path)
    assert reranker_option("none") is None
    assert reranker_option(None) == DEFAULT_PATH


def test_qa_reranker_option(tmp_path, embedder, capsys):
    from qa.cli import main

    code = main(["--reranker", str(tmp_path / "nowhere"), "--store", str(tmp_path / "store"), "ask", "Who?"])
    err = capsys.readouterr().err
    assert code == 1 and "nowhere: no reranker there" in err and len(err.strip().splitlines()) == 1
