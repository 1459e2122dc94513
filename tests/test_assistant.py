"""``qa.Assistant``'s reader-facing methods (what the app shows besides answers), on a real store."""

from __future__ import annotations

import json

from conftest import LIGHTHOUSE
from qa import Assistant


def test_reading_gives_the_whole_text_and_tells_what_the_index_leaves_out(fresh_assistant, tmp_path):
    export = tmp_path / "lighthouse.json"
    export.write_text(json.dumps(LIGHTHOUSE), encoding="utf-8")
    fresh_assistant.ingest([export])
    reading = fresh_assistant.reading(LIGHTHOUSE["id"])
    text = reading.article.text
    assert text == LIGHTHOUSE["text"]
    parts = reading.parts()
    # Consecutive pieces covering the whole text; the indexed ones are exactly the sentences.
    assert parts[0][0] == 0 and parts[-1][1] == len(text)
    assert all(end == next_start for (_, end, _), (next_start, _, _) in zip(parts, parts[1:]))
    assert [(s, e) for s, e, indexed in parts if indexed] == [(s.start, s.end) for s in reading.sentences]
    assert all(text[s.start : s.end] == s.text for s in reading.sentences)
    # As many sentences as the library lists for it; the dateline and the sign-up line are left out.
    assert len(reading.sentences) == fresh_assistant.articles()[0]["sentences"] == 3
    left_out = [text[s:e].strip() for s, e, indexed in parts if not indexed and text[s:e].strip()]
    assert left_out == ["BRINDLEMOOR —", "Sign up for our newsletter to get harbour updates in your inbox."]
    assert reading.sentences[-1].speaker == "Mara Quill"
    assert fresh_assistant.reading("no-such-article") is None


def test_said_question_asks_about_a_name_the_title_shares():
    from qa.question import said_question

    title = "Harbour council approves lighthouse repairs in Brindlemoor"
    sentence = "In Portwell, Mara Quill said Brindlemoor would pay for the repairs."
    assert said_question("Mara Quill", sentence, title) == "What did Mara Quill say about Brindlemoor?"
    assert said_question("Mara Quill", "Mara Quill said the work would finish in November.", title) == "What did Mara Quill say?"
    assert said_question("", sentence, title) == ""  # no speaker, no question


def test_nearby_questions_are_answered_and_made_of_the_librarys_words(sample_assistant):
    absent = "What did Zelensky say about Crimea?"
    assert sample_assistant.ask(absent).abstained
    questions = sample_assistant.nearby_questions(absent)
    assert 1 <= len(questions) <= 3 and len(set(questions)) == len(questions)
    library = " ".join(sample_assistant.article(a["doc_id"]).text for a in sample_assistant.articles())
    for question in questions:
        assert not sample_assistant.ask(question).abstained, question
        speaker, _, topic = question.removeprefix("What did ").removesuffix("?").partition(" say")
        assert speaker in library and topic.removeprefix(" about ") in library, question
    # Under filters nothing passes (the samples have no date), nothing is offered: a click would find nothing.
    assert sample_assistant.nearby_questions(absent, published_from="2024-01-01") == []


def test_nearby_questions_never_call_the_llm(sample_assistant):
    """Checking that a question is answered takes its cited sentences; an LLM would write answers nobody asked for."""
    from conftest import ScriptedLLM

    llm = ScriptedLLM(replies=["Nothing to say."])
    with_llm = Assistant(store=sample_assistant.store.path, embedder=sample_assistant.embedder, llm=llm)
    offered = with_llm.nearby_questions("What did Zelensky say about Crimea?")
    assert offered == sample_assistant.nearby_questions("What did Zelensky say about Crimea?") and offered
    assert llm.received == []
