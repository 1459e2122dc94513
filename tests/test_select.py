"""Answer-type checks and the abstention verdict: pure functions, no model or store."""

from __future__ import annotations

import numpy as np

from index.store import StoredSentence
from qa.question import HOW_MANY, SAID, WHEN, WHERE, WHO, analyze
from qa.retrieve import Candidate
from qa.select import Tuning, describes_the_thing, has_answer_type, names_the_thing, refers_without_naming, select, worth_reranking


def test_a_date_is_not_a_count():
    question = analyze("How many people have been killed in Gaza since October 7?")
    assert question.kind == HOW_MANY
    assert not has_answer_type(HOW_MANY, "It was his seventh visit since the attack on October 7, 2023.", question)
    assert not has_answer_type(HOW_MANY, "Aid has improved since the call on April 4.", question)
    assert not has_answer_type(HOW_MANY, "The talks began in 2021 and resumed at 10:30.", question)
    assert has_answer_type(HOW_MANY, "Since October 7, more than 34,000 people have been killed.", question)
    assert has_answer_type(HOW_MANY, "Dozens were killed on March 3.", question)


def test_an_ordinal_counts_only_for_how_many_times():
    times = analyze("How many times has Blinken been to the Middle East?")
    people = analyze("How many people attended the summit?")
    sentence = "This marks Blinken's seventh visit to the Middle East."
    assert has_answer_type(HOW_MANY, sentence, times)
    assert not has_answer_type(HOW_MANY, sentence, people)


def test_time_of_day_wants_a_time_not_a_weekday():
    question = analyze("At what time of day did Blinken meet Herzog?")
    assert question.kind == WHEN
    assert not has_answer_type(WHEN, "Blinken met Herzog on Wednesday.", question)
    assert has_answer_type(WHEN, "Blinken met Herzog on Wednesday morning.", question)
    assert has_answer_type(WHEN, "They met at 9:30 a.m.", question)
    # Other "when" questions still take a weekday.
    assert has_answer_type(WHEN, "Blinken met Herzog on Wednesday.", analyze("When did Blinken meet Herzog?"))


def _candidate(
    text: str, dense: float, doc: str = "a", position: int = 0, axis: int = 0, title: str = "", speaker: str = "", kind: str = "body"
) -> Candidate:
    """A retrieved sentence; ``axis`` picks its unit embedding (distinct axes are never near-duplicates)."""
    sentence = StoredSentence(
        node_id=f"{doc}#{position}", doc_id=doc, position=position, start=0, end=len(text), text=text,
        kind=kind, speaker=speaker, embedding=np.eye(4, dtype=np.float32)[axis],
    )
    return Candidate(sentence=sentence, fused=1.0, dense=dense, title=title)


def _cited(question, candidates, **options) -> list[tuple[str, int]]:
    """(article, position) of each cited group's sentence, in selection order."""
    options = {"idf": lambda t: 2.0, "known": lambda t: True, "tuning": Tuning(), **options}
    groups, _, _ = select(question, candidates, **options)
    return [(g[0].candidate.sentence.doc_id, g[0].candidate.sentence.position) for g in groups]


def test_terms_no_article_holds_count_against_the_answer():
    """A sentence that covers only the known part of a question ("Tel Aviv") is no answer when
    the rest ("weather forecast") is in no article; the same sentence answers a question about it."""
    candidate = _candidate("Blinken met Herzog in Tel Aviv.", dense=0.3)
    known = {"blinken", "met", "meet", "herzog", "tel", "aviv"}
    idf = lambda term: 2.0  # noqa: E731
    about_meeting = analyze("Where did Blinken meet Herzog in Tel Aviv?")
    groups, reason, _ = select(about_meeting, [candidate], idf=idf, known=known.__contains__, tuning=Tuning())
    assert groups and not reason
    about_weather = analyze("What's the weather forecast for Tel Aviv?")
    groups, reason, _ = select(about_weather, [candidate], idf=idf, known=known.__contains__, tuning=Tuning())
    assert not groups and "weather" in reason


def test_which_thing_words():
    assert analyze("Which wildly popular show was recently green lit?").thing == ["wildly", "popular", "show"]
    assert analyze("What country announced a crackdown on toys?").thing == ["country", "announced"]
    assert analyze("What did Netanyahu say about Rafah?").thing == []


def test_a_sentence_that_says_the_show_leaves_the_name_elsewhere():
    show = ["wildly", "popular", "show"]
    assert refers_without_naming("Netflix said that the wildly popular South Korean show is back.", show)
    assert refers_without_naming("The show's second season starts soon.", show)
    # the thing named right there, or a capitalised title that only looks like the word
    assert not refers_without_naming("Netanyahu promised to enter the southern town of Rafah.", ["southern", "town"])
    assert not refers_without_naming("It came after the call between President Biden and Netanyahu.", ["us", "president"])
    assert not refers_without_naming("Voters in the conservative state of Kansas voted.", ["state"])


def test_the_sentence_naming_it_is_cited_beside_the_one_that_does_not():
    question = analyze("Which wildly popular show was green lit for a new season?")
    title = "Wildly popular show green lit for a new season"
    describes = _candidate("Netflix announced that the wildly popular South Korean show is green lit for a new season.", 0.8, title=title)
    names = _candidate("But it took 12 days for Squid Game to become the most popular series ever.", 0.3, position=5, axis=1, title=title)
    assert _cited(question, [describes, names]) == [("a", 0), ("a", 5)]
    # Without the description the best sentence stands alone.
    assert _cited(analyze("Which streaming service announced a new season?"), [describes, names]) == [("a", 0)]


def test_the_last_sentence_of_a_question_is_the_one_that_asks():
    question = analyze("About 1 billion people had their data leaked this week. Where did the leak occur?")
    assert question.kind == WHERE and question.wants_name
    assert "billion" in question.terms  # the scene still gives terms
    assert analyze("The GOP critic was booted from her seat this week. What is her name?").wants_name


def test_weekdays_and_months_are_not_names():
    question = analyze("Which team does Watson play for?")
    assert not has_answer_type(WHO, "On Monday, Watson was suspended for six games in March.", question)
    assert has_answer_type(WHO, "The NFL sat Cleveland Browns quarterback Deshaun Watson on Monday.", question)


def test_a_sentence_with_the_kind_of_answer_asked_for_joins_one_without():
    question = analyze("Which team does Watson play for?")
    title = "Watson suspended for six games"
    suspended = _candidate("On Monday, Watson was suspended for six games for violating the policy.", 0.8, title=title)
    browns = _candidate("The league sat Cleveland Browns quarterback Deshaun Watson for six games.", 0.3, position=3, axis=2, title=title)
    assert _cited(question, [suspended, browns]) == [("a", 0), ("a", 3)]


def test_an_institution_speaks_through_the_person_the_article_titles_with_it():
    question = analyze("What did the US say it wants to avoid in the conflict?")
    assert question.kind == SAID and question.speaker == "US"
    text = "Blinken reaffirmed the commitment and the need to avoid further expansion of the conflict."
    sentence = _candidate(text, 0.5, title="Blinken in Israel", speaker="Blinken")
    assert not _cited(question, [sentence])
    titled = {("a", "Blinken"): "US Secretary of State Antony Blinken"}
    assert _cited(question, [sentence], full_names=lambda doc_id, name: titled.get((doc_id, name), ""))


def test_a_place_may_own_something():
    question = analyze("A volcano erupted in which country?")
    assert question.kind == WHERE
    assert has_answer_type(WHERE, "Sakurajima is one of Japan’s most active volcanoes.", question)
    assert has_answer_type(WHERE, "The volcano erupted in Kagoshima.", question)
    assert not has_answer_type(WHERE, "The agency raised the alert to its highest level.", question)


def test_digits_inside_a_word_are_no_number():
    question = analyze("How many swings were recalled?")
    assert not has_answer_type(HOW_MANY, "The statement from 4moms asks owners to stop using them.", question)
    assert has_answer_type(HOW_MANY, "The recall affects 2 million swings.", question)


def test_a_vague_count_brings_the_exact_one():
    question = analyze("Approximately how many baby swings were recalled?")
    vague = _candidate("Millions of baby swings were recalled, the agency announced.", 0.85, title="Baby swings recalled")
    exact = _candidate("The recall affects 2 million swings and 220,000 rockers.", 0.45, position=7, axis=3, title="Baby swings recalled")
    assert _cited(question, [vague, exact]) == [("a", 0), ("a", 7)]


def test_any_cited_sentence_that_says_the_singer_brings_the_name_from_its_article():
    question = analyze("Which popular singer will launch a Las Vegas residency?")
    title = "Popular singer launches Las Vegas residency"
    other = _candidate("Newton-John had a long residency at the Flamingo Las Vegas, a popular show.", 0.7, doc="a", position=3, title=title)
    text = "After postponing her Las Vegas residency, the popular singer will launch it in May."
    describes = _candidate(text, 0.66, doc="b", position=4, axis=1, title=title)
    names = _candidate("Pop star Adele is returning to Las Vegas.", 0.3, doc="b", position=1, axis=2, title=title)
    assert ("b", 1) in _cited(question, [other, describes, names])


def test_how_many_minutes_wants_minutes_counted():
    question = analyze("How many minutes did the riot go on before he spoke?")
    title = "The riot before he spoke"
    hours = _candidate("The riot went on for more than three hours before he spoke.", 0.8, title=title)
    minutes = _candidate("Luria said the hearing would go through the 187 minutes of the riot.", 0.45, position=9, axis=1, title=title)
    assert _cited(question, [hours, minutes]) == [("a", 0), ("a", 9)]



def test_what_happened_frames_a_question_and_is_no_term_to_cover():
    assert "happen" not in analyze("What happened at the harbour of Zed41?").terms


def test_how_soon_after_a_leading_clause_asks_when():
    assert analyze("According to the White House, how soon could vaccines be available?").kind == WHEN
    assert analyze("How long have the talks been going on?").kind == WHEN


def test_which_national_park_wants_a_name_made_with_national_park():
    question = analyze("A wildfire forced people to evacuate communities near which national park?")
    title = "Wildfire forces evacuations"
    france = _candidate("A wildfire in the Gironde region of France forced people to evacuate communities.", 0.8, doc="a", title=title)
    yosemite = _candidate("The Oak Fire ignited near Yosemite National Park and forced people to evacuate.", 0.45, doc="b", axis=1, title=title)
    assert _cited(question, [france, yosemite]) == [("a", 0), ("b", 0)]
    # "President Biden" names the president asked for: nothing else is needed
    question = analyze("Which US president had a call with Netanyahu?")
    biden = _candidate("The call between President Biden and Netanyahu went well.", 0.8, title="The call")
    herzog = _candidate("Blinken met Israeli President Isaac Herzog after the call.", 0.5, position=2, axis=1, title="The call")
    assert _cited(question, [biden, herzog]) == [("a", 0)]


def test_a_cited_headline_brings_the_sentence_it_sums_up():
    """The headline paraphrases a quote; the quote is the evidence, so it is cited after the
    headline even though it shares no term with "what did X tell Y about Z"."""
    question = analyze("What did Blinken tell Herzog about getting a ceasefire?")
    headline = _candidate("Blinken tells Herzog the only reason a ceasefire would not be achieved is 'because of Hamas'", 0.8, position=0, axis=0, speaker="Blinken", kind="title")
    other = _candidate("Blinken met Herzog and said he wants a ceasefire now.", 0.7, position=3, axis=1, speaker="Blinken")
    quote = _candidate("“And the only reason that would not be achieved is because of Hamas.”", 0.4, position=4, axis=2, speaker="Blinken")
    unrelated = _candidate("The weather in Tel Aviv was warm on Wednesday.", 0.4, position=5, axis=3)
    cited = _cited(question, [headline, other, quote, unrelated])
    assert cited[:2] == [("a", 0), ("a", 4)]
    assert ("a", 5) not in cited
    # A body sentence brings nothing: only headlines sum up others.
    body = _candidate(headline.sentence.text, 0.8, position=1, axis=0, speaker="Blinken")
    assert ("a", 4) not in _cited(question, [body, other, quote, unrelated])


def test_a_phrase_after_the_thing_says_which_one():
    assert describes_the_thing("Hamas is blamed for the delay in reaching an agreement.", ["delay"])
    assert describes_the_thing("The delays at the border grew.", ["delay"])
    assert not describes_the_thing("The shows on Tuesday earned several nominations.", ["show"])
    assert not describes_the_thing("There was a delay.", ["delay"])
    question = analyze("What delay does Blinken seem to hold Hamas responsible for?")
    assert has_answer_type(WHO, "The U.S. leader appeared to blame Hamas for the delay in reaching an agreement.", question)
    # "which president" asks for a person: a phrase after "president" names nobody
    assert not has_answer_type(WHO, "He met the president of the council.", analyze("Which president did he meet?"))


def test_a_number_that_labels_counts_nothing():
    question = analyze("Approximately how many baby swings and rockers were recalled this week?")
    assert not has_answer_type(HOW_MANY, "4moms recalled its MamaRoo Baby Swing — versions 1.0 through 4.0 — and RockaRoo.", question)
    assert not has_answer_type(HOW_MANY, "The team lost in Game 3 after a Level 5 alert.", question)
    assert has_answer_type(HOW_MANY, "The recall affects 2 million MamaRoo swings.", question)
    assert has_answer_type(HOW_MANY, "They played 5 games.", question)


def test_words_reported_as_a_thing_are_the_speakers():
    """'What did Herzog say…' is answered by 'comments from President Herzog', though Blinken speaks."""
    question = analyze("What did Herzog say about the ICC?")
    assert question.kind == SAID
    echoed = _candidate("Blinken echoed comments from President Herzog about efforts to use the ICC against Israel.", 0.5, speaker="Blinken")
    mentioned = _candidate("Blinken met Herzog and spoke about the ICC.", 0.6, position=1, axis=1, speaker="Blinken")
    assert _cited(question, [echoed, mentioned]) == [("a", 0)]
    possessive = _candidate("Herzog’s remarks on the ICC drew praise.", 0.5, position=2, axis=2)
    assert _cited(question, [possessive, mentioned]) == [("a", 2)]


def test_the_town_of_rafah_is_a_place():
    question = analyze("Which city did Netanyahu promise to enter?")
    assert question.kind == WHERE
    named = "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control."
    assert has_answer_type(WHERE, named, question)
    assert not has_answer_type(WHERE, "Netanyahu promised to enter the town of his choice.", question)
    # so no other sentence is brought in to supply a place
    other = _candidate("Blinken will meet Netanyahu on Wednesday, where he will push for a pause in the operations in Gaza.", 0.5, position=1, axis=1)
    assert _cited(question, [_candidate(named, 0.7, speaker="Netanyahu"), other]) == [("a", 0)]


def test_a_name_that_ends_with_the_thing_names_it():
    question = analyze("Which national park was threatened by a wildfire?")
    nouns = ["national", "park"]
    assert names_the_thing("The fire ignited near Yosemite National Park Friday.", nouns, question)  # a weekday is no part of it
    assert not names_the_thing("the statement from the National Park Service said.", nouns, question)  # a service, not a park
    assert not names_the_thing("Photo: National Park Service/AP", nouns, question)
    # a person's title comes first: "President Biden" names a president
    assert names_the_thing("They met President Biden.", ["president"], analyze("Which president did they meet?"))


def test_the_team_named_in_another_cited_sentence_needs_no_other():
    """"The team's only loss…" says "the team"; when a cited sentence of the article already names
    one, no further sentence is brought in (it would push out the one that names it)."""
    question = analyze("Which team won the Stanley Cup in 2022?")
    title = "Stanley Cup 2022"
    loss = _candidate("The team’s only loss came in Game 3 of the Stanley Cup Finals.", 0.8, position=5, title=title)
    winner = _candidate("The Colorado Avalanche defeated the Lightning to win the Stanley Cup on Sunday night.", 0.78, position=1, axis=1, title=title)
    record = _candidate("Their road wins set a record in National Hockey League history.", 0.7, position=6, axis=2, title=title)
    assert _cited(question, [loss, winner, record]) == [("a", 5), ("a", 1)]


def test_a_subheading_or_photo_credit_brings_no_source():
    question = analyze("Which national park was threatened by a wildfire?")
    credit = _candidate("National Park Service/AP", 0.7, position=3, kind="heading")
    said = _candidate("In the park, officials moved all visitors out, the National Park Service said.", 0.6, position=4, axis=1)
    yosemite = _candidate("The Oak Fire ignited near Yosemite National Park on Friday.", 0.55, position=8, axis=2, doc="b")
    fire = _candidate("A CNN analysis of National Interagency Fire Center data shows a spike in wildfires.", 0.75, position=1, axis=3, doc="c")
    assert ("b", 8) in _cited(question, [fire, credit, said, yosemite])


def test_adding_to_a_menu_is_no_speech():
    assert analyze("What did KFC add to its menu?").kind != SAID
    assert analyze("What did Blinken add about Gaza?").kind == SAID


def test_a_pronoun_with_is_owns_no_place():
    question = analyze("Where did Nancy Pelosi visit?")
    assert not has_answer_type(WHERE, "“She’s with Nancy Pelosi.”", question)
    assert has_answer_type(WHERE, "Pelosi’s visit to Taiwan angered China.", question)


def test_the_calibrated_confidence_decides_abstention():
    """The best sentence's evidence, as a probability, rises with it; below ``min_confidence`` the
    question is not answered, whatever the sentence's own score floor says."""
    from qa.select import confidence

    tuning = Tuning()
    assert 0.0 < confidence(0.3, tuning) < confidence(0.6, tuning) < confidence(0.9, tuning) < 1.0
    question = analyze("Where did Blinken meet Herzog?")
    candidate = _candidate("Blinken met Herzog in Tel Aviv on Wednesday.", dense=0.7)
    options = {"idf": lambda t: 2.0, "known": lambda t: True}
    groups, reason, sure = select(question, [candidate], tuning=tuning, **options)
    assert groups and not reason and sure >= tuning.min_confidence
    stricter = Tuning(min_confidence=min(1.0, sure + 0.01))
    groups, reason, same = select(question, [candidate], tuning=stricter, **options)
    assert not groups and reason == "no sentence answers it well enough" and same == sure


def test_an_answer_carries_its_confidence(sample_assistant):
    answered = sample_assistant.ask("What did Netanyahu say about Rafah?")
    off_topic = sample_assistant.ask("What's the weather forecast for Tel Aviv this weekend?")
    assert not answered.abstained and off_topic.abstained
    assert answered.confidence >= sample_assistant.tuning.min_confidence > off_topic.confidence
    assert answered.to_dict()["confidence"] == answered.confidence


def test_the_reranker_reads_only_sentences_it_could_bring_into_the_answer():
    """The reranker adds at most ``w_rerank``: a sentence that far under the best stays out of the
    answer whatever it says, so it is not worth the model's time; one within reach is."""
    question = analyze("Why did the city council close Riverside Park?")
    candidates = [
        _candidate("The city council closed Riverside Park because of flooding.", 0.80, doc="b", position=0, axis=0),
        _candidate("Riverside Park was closed by the city council after a vote.", 0.72, position=1, axis=1),
        _candidate("The council met on Tuesday.", 0.30, position=2, axis=2),
        _candidate("Flooding hit the city.", 0.25, position=3, axis=3),
    ]
    tuning = Tuning()
    options = {"idf": lambda t: 2.0, "known": lambda t: True, "tuning": tuning}
    chosen = worth_reranking(question, candidates, **options)
    assert [c.sentence.position for c in chosen] == [0, 1]
    # Even at the most the reranker can say, the sentences left out are not cited.
    for candidate in candidates:
        candidate.probability = 0.0 if candidate in chosen else 1.0
    assert {position for _, position in _cited(question, candidates, tuning=tuning)} <= {0, 1}
    # A sentence the question excludes ("what else") does not set the bar.
    assert [c.sentence.position for c in worth_reranking(question, candidates, exclude={("b", 0)}, **options)] == [1]
