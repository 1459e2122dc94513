"""Answers over the two sample articles: the real model, a real embedded Chroma store."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_DIR

RAFAH_DOC = SAMPLE_DIR / "004_a8ed45d3df2df383.txt"
RAFAH_SENTENCES = [
    "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control.",
    'He told representatives of the hostage families: "We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”',
]
CLEAR_POSITION = "clear position"

JUNK = [
    "Comment on this article",
    "Disclaimer",
    "We recommend to read",
    "is a team of journalists",
    "You have 2000 characters left",
    "Top Stories",
    "Leave a Comment",
    "Title: Hamas standing",
    "Please write your correct name",
    "will not be responsible",
]

# Questions across the samples (answered or not) whose citations must all point at true spans.
QUESTIONS = [
    "What did Netanyahu say about Rafah?",
    "Who is the spokesperson of the US State Department?",
    "Who did Blinken meet in Tel Aviv?",
    "What did Blinken say about the International Criminal Court?",
    "How many times has Blinken visited the Middle East since the war began?",
    "What did Blinken post on X?",
    "When did Netanyahu promise to enter Rafah?",
    "What did Herzog say?",
]


def doc_id_of(assistant, path) -> str:
    rows = [r for r in assistant.articles() if r["origin"] == str(path.resolve())]
    assert len(rows) == 1, rows
    return rows[0]["doc_id"]


def test_rafah_question_cites_exactly_the_two_rafah_sentences(sample_assistant):
    answer = sample_assistant.ask("What did Netanyahu say about Rafah?")
    assert not answer.abstained
    rafah_id = doc_id_of(sample_assistant, RAFAH_DOC)
    assert sorted(c.text for c in answer.citations) == sorted(RAFAH_SENTENCES)
    assert {c.doc_id for c in answer.citations} == {rafah_id}
    assert all(CLEAR_POSITION not in c.text for c in answer.citations)
    assert CLEAR_POSITION not in answer.text
    for sentence in RAFAH_SENTENCES:
        assert sentence in answer.text
    # the quote is Netanyahu's, resolved from "He told…"
    assert all(c.speaker == "Netanyahu" for c in answer.citations)
    assert [c.marker for c in answer.citations] == [1, 2]


@pytest.mark.parametrize("question", ["What did Blinken say about Ukraine?", "What is the capital of Australia?"])
def test_questions_about_absent_things_abstain(sample_assistant, question):
    answer = sample_assistant.ask(question)
    assert answer.abstained, answer.text
    assert answer.citations == []
    assert answer.text == "Not found in these articles."


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_abstains(sample_assistant, question):
    answer = sample_assistant.ask(question)
    assert answer.abstained and answer.citations == []


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_citation_points_at_its_exact_span(sample_assistant, question):
    answer = sample_assistant.ask(question)
    if answer.abstained:
        assert answer.citations == []
        return
    assert answer.citations
    for c in answer.citations:
        article = sample_assistant.article(c.doc_id)
        assert article is not None
        assert article.text[c.start : c.end] == c.text
        assert c.title == article.title and c.source == article.source
        assert not any(j in c.text for j in JUNK), c.text
        assert f"[{c.marker}]" in answer.text


@pytest.mark.parametrize("path", sorted(SAMPLE_DIR.glob("*.txt")), ids=lambda p: p.name[:3])
def test_txt_article_text_is_the_file_content(sample_assistant, path):
    article = sample_assistant.article(doc_id_of(sample_assistant, path))
    assert article.text == path.read_bytes().decode("utf-8")
    assert article.title == path.read_text(encoding="utf-8").splitlines()[0].strip()
    assert article.source == str(path.resolve())


def test_citation_offsets_match_the_original_file(sample_assistant):
    answer = sample_assistant.ask("What did Netanyahu say about Rafah?")
    original = RAFAH_DOC.read_bytes().decode("utf-8")
    for c in answer.citations:
        assert original[c.start : c.end] == c.text


def test_unknown_article_is_none(sample_assistant):
    assert sample_assistant.article("unknown") is None
    assert sample_assistant.article("") is None


def test_every_stored_sentence_matches_its_article(sample_assistant):
    rows = list(sample_assistant.store.iter_sentences())
    articles = {}
    for node_id, text, meta in rows:
        doc_id = meta["doc_id"]
        if doc_id not in articles:
            articles[doc_id] = sample_assistant.article(doc_id)
        assert articles[doc_id].text[meta["start"] : meta["end"]] == text
        assert node_id == f"{doc_id}#{meta['position']}"
    assert len(articles) == 2
    per_doc = {r["doc_id"]: r["sentences"] for r in sample_assistant.articles()}
    assert sum(per_doc.values()) == len(rows) == sample_assistant.store.sentence_count()


def test_page_junk_is_never_indexed(sample_assistant):
    stored = [text for _, text, _ in sample_assistant.store.iter_sentences()]
    assert stored
    for text in stored:
        assert not any(j in text for j in JUNK), text


@pytest.mark.parametrize(
    "question",
    [
        "Who will not be responsible for defamatory messages?",
        "How many characters are left for a comment?",
        "Who is the All Israel News Staff?",
        "What do you recommend to read?",
    ],
)
def test_page_junk_is_never_cited(sample_assistant, question):
    answer = sample_assistant.ask(question)
    for c in answer.citations:
        assert not any(j in c.text for j in JUNK), c.text
    assert not any(j in answer.text for j in JUNK)


def test_rafah_question_without_the_rafah_article_does_not_cite_the_state_department(fresh_assistant):
    fresh_assistant.ingest([SAMPLE_DIR / "000_931a4d0f5c8aff4b.txt"])
    answer = fresh_assistant.ask("What did Netanyahu say about Rafah?")
    assert all(CLEAR_POSITION not in c.text for c in answer.citations)
    assert answer.abstained
