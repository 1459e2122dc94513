"""Sentence splitting and speaker attribution: pure functions over text, no model, no store."""

from __future__ import annotations

import pytest

from conftest import SAMPLE_DIR
from index.sentences import BODY, HEADING, TITLE, split_sentences
from index.speakers import attribute_speakers, full_names

SAMPLE_004 = SAMPLE_DIR / "004_a8ed45d3df2df383.txt"
SAMPLE_000 = SAMPLE_DIR / "000_931a4d0f5c8aff4b.txt"


def sample_text(path) -> str:
    return path.read_bytes().decode("utf-8")


def texts(sentences) -> list[str]:
    return [s.text for s in sentences]


def assert_exact(text: str, sentences) -> None:
    for position, s in enumerate(sentences):
        assert text[s.start : s.end] == s.text, (s.start, s.end, s.text)
        assert s.text == s.text.strip() and s.text
        assert s.position == position
    starts = [s.start for s in sentences]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:])), "sentences overlap"


@pytest.mark.parametrize("path", [SAMPLE_000, SAMPLE_004], ids=["000", "004"])
def test_offsets_are_exact_on_the_samples(path):
    text = sample_text(path)
    sentences = split_sentences(text, "doc", "")
    assert len(sentences) >= 8
    assert_exact(text, sentences)
    assert all(s.node_id == f"doc#{s.position}" and s.doc_id == "doc" for s in sentences)


def test_abbreviations_do_not_split():
    text = "Dr. Smith met U.S. officials on Jan. 5 in Washington. They talked."
    sentences = split_sentences(text, "d", "")
    assert texts(sentences) == ["Dr. Smith met U.S. officials on Jan. 5 in Washington.", "They talked."]
    assert_exact(text, sentences)


def test_abbreviations_inside_a_body_paragraph():
    text = (
        "Talks in Cairo\n\n"
        "The U.S. envoy met Dr. Amal Hassan in Cairo on Jan. 12 to discuss the plan. "
        "Officials said the talks would continue next week."
    )
    sentences = split_sentences(text, "d", "Talks in Cairo")
    assert texts(sentences) == [
        "Talks in Cairo",
        "The U.S. envoy met Dr. Amal Hassan in Cairo on Jan. 12 to discuss the plan.",
        "Officials said the talks would continue next week.",
    ]
    assert_exact(text, sentences)


def test_headline_and_subheadline_are_sentences_of_their_own():
    text = sample_text(SAMPLE_004)
    sentences = split_sentences(text, "d", "")
    headline = "US Secretary Blinken tells Herzog the only reason ceasefire wouldn’t be achieved is 'because of Hamas'"
    sub = "Blinken pushes for hostage deal in 7th visit to Middle East since start of Gaza War"
    assert sentences[0].text == headline and sentences[0].kind == TITLE
    assert sentences[1].text == sub and sentences[1].kind == HEADING
    assert sentences[2].text.startswith("U.S. Secretary of State Antony Blinken is in Israel") and sentences[2].kind == BODY


def test_headline_without_full_stop_does_not_merge_with_the_body():
    text = "Bridge reopens after repairs\nCity spends millions on cables\nThe bridge reopened on Tuesday after eight months of work."
    sentences = split_sentences(text, "d", "Bridge reopens after repairs")
    assert texts(sentences) == [
        "Bridge reopens after repairs",
        "City spends millions on cables",
        "The bridge reopened on Tuesday after eight months of work.",
    ]
    assert [s.kind for s in sentences] == [TITLE, HEADING, BODY]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            'He told reporters in the capital: "We will enter Rafah and finish the job." Officials declined to comment.',
            ['He told reporters in the capital: "We will enter Rafah and finish the job."', "Officials declined to comment."],
        ),
        (
            "He told reporters in the capital: “We will enter Rafah and finish the job.” Officials declined to comment.",
            ["He told reporters in the capital: “We will enter Rafah and finish the job.”", "Officials declined to comment."],
        ),
        (
            "“We're determined to get a ceasefire that brings the hostages home, and to get it now,” Blinken stated. "
            "“And the only reason that that wouldn't be achieved is because of Hamas.”",
            [
                "“We're determined to get a ceasefire that brings the hostages home, and to get it now,” Blinken stated.",
                "“And the only reason that that wouldn't be achieved is because of Hamas.”",
            ],
        ),
    ],
    ids=["straight", "curly", "two-quotes"],
)
def test_closing_quote_stays_with_its_sentence(text, expected):
    body = "Headline\n" + text
    sentences = split_sentences(body, "d", "Headline")
    assert texts(sentences)[1:] == expected
    assert_exact(body, sentences)


def test_closing_quote_in_the_sample():
    text = sample_text(SAMPLE_004)
    sentences = texts(split_sentences(text, "d", ""))
    assert 'He told representatives of the hostage families: "We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”' in sentences
    assert "“And the only reason that that wouldn't be achieved is because of Hamas.”" in sentences
    assert not any(s.strip() in {"”", '"', "’"} for s in sentences)


def test_dateline_does_not_swallow_the_headline():
    text = sample_text(SAMPLE_000)
    title = "Hamas standing in way of ceasefire, Blinken says during meeting with Israeli PM Netanyahu"
    sentences = split_sentences(text, "d", title)
    assert sentences[0].text == title and sentences[0].kind == TITLE
    assert sentences[1].text.startswith("Jerusalem, May 1 (IANS): Israeli Prime Minister Benjamin Netanyahu")
    assert sentences[1].text.endswith("standing in the way of a ceasefire in Gaza.")
    assert_exact(text, sentences)


def test_dateline_on_the_line_after_a_headline():
    text = "Talks resume in Jerusalem\nJerusalem, May 1 (IANS): Israeli officials met their US counterparts on Wednesday."
    sentences = split_sentences(text, "d", "Talks resume in Jerusalem")
    assert texts(sentences) == [
        "Talks resume in Jerusalem",
        "Jerusalem, May 1 (IANS): Israeli officials met their US counterparts on Wednesday.",
    ]


def test_page_junk_is_left_out_of_the_samples():
    junk = [
        "Comment on this article", "Disclaimer", "We recommend to read", "is a team of journalists",
        "You have 2000 characters left", "Top Stories", "Leave a Comment", "Title:", "Daijiworld",
    ]
    for path in (SAMPLE_000, SAMPLE_004):
        for s in split_sentences(sample_text(path), "d", ""):
            assert not any(j in s.text for j in junk), s.text


def test_crlf_and_blank_lines_keep_exact_offsets():
    text = "Storm hits coast\r\n\r\nHeavy rain fell on Monday across the region. Roads were closed.\r\n"
    sentences = split_sentences(text, "d", "Storm hits coast")
    assert texts(sentences) == ["Storm hits coast", "Heavy rain fell on Monday across the region.", "Roads were closed."]
    assert_exact(text, sentences)


def test_empty_text_has_no_sentences():
    assert split_sentences("", "d", "") == []
    assert split_sentences("  \n\n \t\n", "d", "") == []


def test_he_told_is_attributed_to_netanyahu():
    sentences = attribute_speakers(split_sentences(sample_text(SAMPLE_004), "d", ""))
    by_text = {s.text: s for s in sentences}
    told = next(s for s in sentences if s.text.startswith("He told representatives of the hostage families"))
    assert told.speaker == "Netanyahu"
    promised = by_text["On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control."]
    assert promised.speaker == "Netanyahu"
    stated = next(s for s in sentences if s.text.startswith("“We're determined to get a ceasefire"))
    assert "Blinken" in stated.speaker


def test_named_speaker_after_a_quote():
    sentences = attribute_speakers(split_sentences(sample_text(SAMPLE_000), "d", ""))
    miller = next(s for s in sentences if s.text.startswith('"The Secretary discussed ongoing efforts'))
    assert miller.speaker == "Matthew Miller"
    added = next(s for s in sentences if s.text.startswith('"The Secretary discussed the improvement'))
    assert added.speaker == "Matthew Miller"  # "he added" resolves to the last named speaker


def test_full_names_of_a_speaker_come_from_the_article():
    texts = [
        "Jerusalem: US Secretary of State Antony Blinken held a private meeting with Netanyahu.",
        "Blinken said the talks went well.",
        "Antony Blinken later flew home, while Donald Trump spoke.",
    ]
    assert full_names("Blinken", texts) == ["US Secretary of State Antony Blinken", "Antony Blinken"]
    assert full_names("Herzog", texts) == []


def test_photo_credits_are_cut_from_captions():
    text = (
        "Police arrested 31 men in Idaho on Saturday. John Rudoff/Reuters\n\n"
        "Ahmad Sahel Arman/AFP/Getty Images A man carries supplies in an area hit by the quake.\n\n"
        "National Park Service/AP\n\n"
        "Adam Taylor/Disney General Entertainment Content/Getty Images Newton-John waves.\n\n"
        "A Reuters/Ipsos poll found most agree."
    )
    sentences = split_sentences(text, "doc")
    assert [s.text for s in sentences] == [
        "Police arrested 31 men in Idaho on Saturday.",
        "A man carries supplies in an area hit by the quake.",
        "Newton-John waves.",
        "A Reuters/Ipsos poll found most agree.",
    ]
    assert all(text[s.start : s.end] == s.text for s in sentences)
    # capitalised words and slashes without end: searched only a short way back from each agency
    assert split_sentences("Xx. " + "Aa Bb Cc Dd/" * 5000 + "AP", "doc")
    # many captions with credits: each sentence meets only the credits inside it
    captions = "".join(f"Caption {i} here. Bob Smith/AP\n" for i in range(8000))
    assert [s.text for s in split_sentences(captions, "doc")[:2]] == ["Caption 0 here.", "Caption 1 here."]
