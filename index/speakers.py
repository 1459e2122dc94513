"""Speaker attribution: who says each sentence, in direct quotes or reported speech.

Rules, not a model: a speech verb next to a name ("Blinken said", "said Matthew
Miller", "according to the State Department"), and a pronoun or a role noun
("He told…", "The U.S. secretary said…") resolved to the last-named person. This
lets "What did X say about Y?" find X's quotes even when X is not in the sentence.
"""

from __future__ import annotations

import re

from index.sentences import Sentence

SPEECH_VERBS = (
    "said|says|say|told|tells|added|adds|stated|states|declared|explained|remarked|noted|"
    "posted|wrote|writes|promised|promises|warned|warns|announced|announces|insisted|argued|"
    "claimed|asserted|vowed|pledged|urged|acknowledged|admitted|confirmed|denied|replied|"
    "responded|suggested|emphasised|emphasized|reiterated|stressed|echoed|tweeted|asked|"
    "called|reaffirmed|predicted|recalled|conceded|cautioned|threatened|signaled|signalled|"
    "indicated|continued|concluded|blamed|praised|criticized|criticised|accused|welcomed|"
    "described|testified|recounted|demanded|proposed|agreed|disputed|maintained|contended"
)
_NAME_WORD = r"(?:[A-Z][\w’'.-]*[\w]|[A-Z])"
# At most 8 words: unbounded runs of capitals made matching quadratic on hostile text.
NAME = rf"{_NAME_WORD}(?:\s+(?:of\s+|de\s+|van\s+|bin\s+|al-)?{_NAME_WORD}){{0,7}}"
_ADVERB = r"(?:(?:also|again|then|later|once|previously|repeatedly|publicly|quickly|\w+ly)\s+){0,2}"
_PRONOUN = r"(?:He|She|They|he|she|they)"

_AFTER_QUOTE = re.compile(rf"[,?!—–-][”\"’']?\s+(?:{SPEECH_VERBS})\s+(?:the\s+)?({NAME})")
_ACCORDING_TO = re.compile(rf"\b[Aa]ccording\s+to\s+(?:the\s+)?({NAME})")
_NAME_THEN_VERB = re.compile(rf"(?<![\w’'])({NAME})(?:,[^,]{{1,80}},)?\s+{_ADVERB}(?:{SPEECH_VERBS})\b")
_PRONOUN_THEN_VERB = re.compile(rf"(?:^|[,”\"’]\s+|\.\s+)({_PRONOUN})\s+{_ADVERB}(?:{SPEECH_VERBS})\b")
_ROLE_SUBJECT = re.compile(
    r"^(?:The|the)\s+(?:[A-Z][\w.]*\s+)*(?:secretary|minister|president|leader|spokesperson|spokesman|"
    r"spokeswoman|official|chief|premier|senator|governor|mayor|director|ambassador|general|envoy|"
    r"chancellor|king|queen|prince|judge|lawmaker|congressman|congresswoman|ceo)\b"
)
_LEADING_CLAUSE = re.compile(r"^(?:On|In|At|After|Before|Earlier|Later|During|Since|Last|This|Meanwhile|However|But|And|So|Still)\b[^,]{0,60},\s*")
_SUBJECT = re.compile(rf"^({NAME})\s+(?!of\b)[a-z]")

# Capitalised words that start a name match but are not people.
_NOT_PEOPLE = {
    "The", "A", "An", "This", "That", "These", "Those", "It", "We", "I", "You", "In", "On", "At", "As",
    "But", "And", "If", "When", "While", "After", "Before", "Earlier", "Later", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "There", "Here", "What", "Why", "How",
    "Officials", "Police", "Some", "Many", "Others", "Critics", "Experts", "Analysts",
    "He", "She", "They", "His", "Her", "Their", "Its", "Our", "My", "According",
}


def _clean_name(name: str) -> str:
    words = name.split()
    while words and words[0] in _NOT_PEOPLE:
        words.pop(0)
    name = " ".join(words).rstrip(".’'")
    return re.sub(r"[’']s$", "", name)


def explicit_speaker(text: str) -> str:
    """The named speaker of a sentence, or "" when no name stands next to a speech verb."""
    for pattern in (_AFTER_QUOTE, _ACCORDING_TO, _NAME_THEN_VERB):
        for match in pattern.finditer(text):
            name = _clean_name(match.group(1))
            if name:
                return name
    return ""


def sentence_subject(text: str) -> str:
    """The name a sentence starts with (after a leading clause such as "On Tuesday,")."""
    body = _LEADING_CLAUSE.sub("", text, count=1)
    match = _SUBJECT.match(body)
    return _clean_name(match.group(1)) if match else ""


def full_names(speaker: str, texts) -> list[str]:
    """Every longer way the texts name ``speaker``: "US Secretary of State Antony Blinken" for
    "Blinken". Who a person speaks for ("US", "State") is in the titles a story gives them."""
    surname = speaker.split()[-1] if speaker.split() else ""
    if not surname:
        return []
    found = []
    for text in texts:
        for match in re.finditer(NAME, text):
            name = _clean_name(match.group())
            if name != speaker and name.split()[-1:] == [surname]:
                found.append(name)
    return found


def is_quote(text: str) -> bool:
    return bool(re.search(r"[\"“”]", text))


def attribute_speakers(sentences: list[Sentence]) -> list[Sentence]:
    """Fill ``Sentence.speaker`` in place, in reading order, and return the sentences."""
    last_person = ""
    last_speaker = ""
    for sentence in sentences:
        text = sentence.text
        speaker = explicit_speaker(text)
        if not speaker and (_PRONOUN_THEN_VERB.search(text) or _ROLE_SUBJECT.match(text)) and (
            re.search(rf"\b(?:{SPEECH_VERBS})\b", text)
        ):
            speaker = last_person
        if not speaker and text.lstrip()[:1] in "\"“" and last_speaker:
            speaker = last_speaker  # a quote continuing the previous speaker's words
        sentence.speaker = speaker
        if speaker:
            last_person = last_speaker = speaker
        else:
            last_speaker = ""
            subject = sentence_subject(text)
            if subject and sentence.kind == "body":
                last_person = subject
    return sentences
