"""The shipped query encoder: the file is the one trained, the product reads questions with it, and
it falls back to the packaged model where the stored vectors could come from another one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from index.onnx_model import sha256_of
from qa.query_encoder import DEFAULT_PATH, QueryEncoderError, query_encoder_option, shared_query_encoder

CARD = json.loads((DEFAULT_PATH / "card.json").read_text())


def test_the_shipped_file_is_the_one_the_card_describes():
    assert sha256_of(DEFAULT_PATH / "model.onnx") == CARD["sha256"]
    assert (DEFAULT_PATH / "model.onnx").stat().st_size <= 30 * 2**20
    # trained: the answer sentence is nearest the question more often than with the packaged model,
    # and int8 holds the quality of the model it was made from
    assert CARD["validation_onnx_int8"]["hit@1"] > CARD["validation_packaged"]["hit@1"]
    assert CARD["validation_onnx_int8"]["mrr"] >= CARD["validation_torch"]["mrr"] - 0.01


def test_the_product_reads_questions_with_the_shipped_model_by_default(sample_assistant, embedder):
    encoder = shared_query_encoder(str(DEFAULT_PATH))
    assert sample_assistant.retriever.embedder is encoder
    question = "What did Netanyahu say about Rafah?"
    tuned, packaged = encoder.encode_query(question), embedder.encode_query(question)
    assert abs(np.linalg.norm(tuned) - 1) < 1e-3
    assert 0.5 < float(tuned @ packaged) < 0.999  # the same space, another reading
    answer = sample_assistant.ask(question)
    assert not answer.abstained and answer.citations


def test_loading_it_on_the_first_ask_keeps_that_answer_in_the_cache(fresh_assistant):
    from conftest import SAMPLE_DIR

    fresh_assistant.ingest([SAMPLE_DIR])
    question = "What did Netanyahu say about Rafah?"
    answer = fresh_assistant.ask(question)
    cached = len(fresh_assistant._answers)
    assert fresh_assistant.ask(question) == answer and len(fresh_assistant._answers) == cached


def test_the_packaged_model_reads_questions_when_asked_or_when_sentences_come_from_another_encoder(tmp_path, embedder):
    from index.embedder import Embedder
    from qa import Assistant

    assert Assistant(store=tmp_path / "a", embedder=embedder, query_encoder=None).query_embedder is embedder
    other = Embedder("int8")  # vectors of another model: a query encoder trained against fp32 ones does not fit
    assert Assistant(store=tmp_path / "b", embedder=other).query_embedder is other
    folder = tmp_path / "my-encoder"
    shutil.copytree(DEFAULT_PATH, folder)
    assert Assistant(store=tmp_path / "c", embedder=embedder, query_encoder=folder).query_embedder.model_path == folder / "model.onnx"


def test_it_brings_a_question_nearer_its_answer_than_the_packaged_model(embedder):
    """On the validation questions of its card it does; here, the answer's margin over sentences of the
    same story (the packaged model puts the question's own words first)."""
    encoder = shared_query_encoder(str(DEFAULT_PATH))
    question = "Which team does Damar Hamlin play for?"
    sentences = embedder.encode([
        "Damar Hamlin collapsed on the field during Monday night's game and was taken to hospital.",
        "Buffalo Bills safety Damar Hamlin is breathing on his own, the team said on Friday.",
        "Doctors at the University of Cincinnati Medical Center gave an update on his condition.",
    ])
    margin = lambda scores: scores[1] - max(scores[0], scores[2])
    assert margin(sentences @ encoder.encode_query(question)) > margin(sentences @ embedder.encode_query(question))


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(QueryEncoderError, match="no query encoder there"):
        query_encoder_option(str(tmp_path))
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(QueryEncoderError, match="model.onnx: not a model onnxruntime can load"):
        shared_query_encoder(str(tmp_path))
    assert query_encoder_option("none") is None
    assert query_encoder_option(None) == DEFAULT_PATH


def test_qa_query_encoder_option(tmp_path, embedder, capsys):
    from qa.cli import main

    code = main(["--query-encoder", str(tmp_path / "nowhere"), "--store", str(tmp_path / "store"), "ask", "Who?"])
    err = capsys.readouterr().err
    assert code == 1 and "nowhere: no query encoder there" in err and len(err.strip().splitlines()) == 1


def test_questions_are_grouped_with_their_answer_and_other_sentences():
    from train.query import by_question

    pair = lambda qid, sentence, label: {"question_id": qid, "question": f"{qid}?", "sentence": sentence, "label": label}
    grouped = by_question([pair("b", "b yes", 1), pair("b", "b no", 0), pair("a", "a no", 0), pair("a", "a yes", 1), pair("c", "c yes", 1)])
    assert grouped == {  # c has no negative: left out
        "a": {"question": "a?", "positives": ["a yes"], "negatives": ["a no"]},
        "b": {"question": "b?", "positives": ["b yes"], "negatives": ["b no"]},
    }
