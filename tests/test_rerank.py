"""The shipped reranker: the file is the one trained, the product uses it, and it ranks answers first."""

from __future__ import annotations

import json
import shutil

import numpy as np

import pytest

from index.onnx_model import sha256_of
from qa.rerank import DEFAULT_PATH, Reranker, RerankerError, candidate_text, reranker_option, shared_reranker

CARD = json.loads((DEFAULT_PATH / "card.json").read_text())


def test_the_shipped_file_is_the_one_the_card_describes():
    assert sha256_of(DEFAULT_PATH / "model.onnx") == CARD["sha256"]
    assert (DEFAULT_PATH / "model.onnx").stat().st_size <= 30 * 2**20
    # trained: better than the untrained start (a random one-logit head) on the validation pairs
    trained, untrained = CARD["validation_pairs_onnx_int8"], CARD["validation_pairs_before"]
    assert trained["hit@1"] > untrained["hit@1"] + 0.15 and trained["mrr"] > untrained["mrr"] + 0.15


def test_the_product_reranks_with_the_shipped_model_by_default(sample_assistant):
    assert sample_assistant.reranker is shared_reranker(str(DEFAULT_PATH))
    question = "What did Netanyahu say about Rafah?"
    answer = sample_assistant.ask(question)
    assert not answer.abstained
    # the reranker's probability is part of each cited sentence's score
    reranker = sample_assistant._reranker
    try:
        sample_assistant._reranker = None
        plain = {c.start: c.score for c in sample_assistant.ask(question).citations}
    finally:
        sample_assistant._reranker = reranker
    both = [c for c in answer.citations if c.start in plain]
    assert both and all(c.score > plain[c.start] for c in both)


def test_it_ranks_the_answering_sentence_above_sentences_on_the_same_topic():
    reranker = shared_reranker(str(DEFAULT_PATH))
    question = "Which team does Damar Hamlin play for?"
    texts = [
        "Damar Hamlin collapsed on the field during Monday night's game and was taken to hospital.",
        "Buffalo Bills safety Damar Hamlin is breathing on his own, the team said on Friday.",
        "Doctors at the University of Cincinnati Medical Center gave an update on his condition.",
    ]
    title = "Damar Hamlin updates: doctors say he is breathing on his own"
    probabilities = reranker.probabilities(question, [candidate_text(title, text) for text in texts])
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


def test_training_pairs_label_answer_sentences_and_take_negatives_from_the_same_pages():
    import random

    from train.pairs import question_pairs

    page = {
        "id": "p1", "url": "https://example.com/a", "title": "Hamlin update",
        "text": "Hamlin update\n\nDamar Hamlin collapsed during Monday night's game in Cincinnati. "
        "The Buffalo Bills safety is now breathing on his own, the team said. "
        "Doctors at the University of Cincinnati Medical Center gave an update on Thursday. "
        "Fans have donated millions of dollars to his charity since the game.",
    }
    question = {"id": "20230106_0", "question": "Damar Hamlin plays for which team?", "answer": "Buffalo Bills"}
    pairs = question_pairs(question, [page], random.Random(0))
    positives = [p for p in pairs if p.label]
    assert [p.candidate for p in positives] == ["Hamlin update. The Buffalo Bills safety is now breathing on his own, the team said."]
    assert [p.sentence for p in positives] == ["The Buffalo Bills safety is now breathing on his own, the team said."]  # as the store embeds it
    negatives = [p for p in pairs if not p.label]
    assert negatives and all("Buffalo Bills" not in p.candidate for p in negatives)
    assert all(p.candidate.startswith("Hamlin update. ") for p in negatives)



def test_ranking_rows_set_each_answer_against_its_own_questions_negatives():
    from train.fit import ranking_rows

    pair = lambda qid, candidate, label: {"question_id": qid, "question": f"question {qid}?", "candidate": candidate, "label": label}
    pairs = [pair("b", "b answer", 1), pair("b", "b wrong 1", 0), pair("b", "b wrong 2", 0), pair("b", "b wrong 3", 0),
             pair("a", "a answer", 1), pair("a", "a answer too", 1), pair("a", "a wrong 1", 0), pair("a", "a wrong 2", 0),
             pair("c", "c answer", 1), pair("c", "c wrong 1", 0)]  # too few negatives: left out
    rows = ranking_rows(pairs, hard=2)
    assert rows == {
        "question": ["question a?", "question a?", "question b?"],
        "answer": ["a answer", "a answer too", "b answer"],
        "negative_1": ["a wrong 1", "a wrong 1", "b wrong 1"],
        "negative_2": ["a wrong 2", "a wrong 2", "b wrong 2"],
    }


def test_the_shipped_model_reads_the_question():
    """The same three sentences under four questions: the top one follows the question, not the
    sentence (a model that learnt only which sentences look like quiz answers fails this)."""
    reranker = shared_reranker(str(DEFAULT_PATH))
    texts = [
        candidate_text("Israel strikes Rafah", "Netanyahu said the army would enter Rafah regardless of a deal."),
        candidate_text("Wildfires in Canada", "About 2 million hectares burned in Quebec this summer, officials said."),
        candidate_text("Apple event", "Apple unveiled the iPhone 15 with a USB-C port on Tuesday."),
    ]
    asked = {"What did Netanyahu say about Rafah?": 0, "How many hectares burned in Quebec?": 1, "What port did the new iPhone get?": 2}
    assert {q: int(reranker.probabilities(q, texts).argmax()) for q in asked} == asked
    assert CARD["validation_question_sensitivity_after"]["hit@1"] > 3 * CARD["validation_question_sensitivity_after"]["chance"]


def test_the_app_takes_the_reranker_option_and_refuses_a_bad_one(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--store", str(tmp_path / "store"), "--reranker", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"app.py: {tmp_path / 'nowhere'}: no reranker there (a reranker folder holds model.onnx and tokenizer.json, as `python -m train` writes them)"


def test_scores_follow_their_texts_whatever_the_order_they_come_in():
    """Pairs are run in batches of similar length, then put back in the order given."""
    reranker = shared_reranker(str(DEFAULT_PATH))
    question = "What did Netanyahu say about Rafah?"
    texts = [candidate_text("Israel and Gaza", "Netanyahu said the army would enter Rafah" + " and then more" * n + ".") for n in range(9)]
    forward = reranker.logits(question, texts)
    backward = reranker.logits(question, texts[::-1])[::-1]
    assert len(set(np.round(forward, 4))) > 1
    np.testing.assert_allclose(forward, backward, atol=1e-5)
