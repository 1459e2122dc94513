"""The answering words of a cited sentence, to show in bold: pure functions over text.

Emphasis only: the sentence stays verbatim. "When" questions get their date phrases, "how many" their
numbers (not the numbers of dates, nor those the question already holds), "who"/"which" the names
the question does not already hold.
"""

from __future__ import annotations

import re

from qa.question import HOW_MANY, WHEN, WHO, Question

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_PART = r"(?:\s+(?:morning|afternoon|evening|night))?"
_DATE = re.compile(
    rf"\b(?:(?:last|next|this|on|early|late)\s+)?{_WEEKDAY}{_PART}(?:,?\s+{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+(?:19|20)\d\d)?\b"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:19|20)\d\d)?\b"
    rf"|\b{_MONTH}\s+(?:19|20)\d\d\b"
    r"|\b(?:yesterday|today|tonight|tomorrow)\b"
    r"|\b(?:last|next|this|earlier this|later this)\s+(?:week|month|year|weekend)\b"
    r"|\b(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?:days?|weeks?|months?|years?)\s+ago\b"
    r"|\b\d{1,2}(?::\d\d)?\s*[ap]\.?m\b\.?"
    r"|\b(?:in|since|by|until|during)\s+(?:19|20)\d\d\b",
)
_NUMBER = re.compile(
    r"(?<![\w.,])\d[\d,]*(?:\.\d+)?(?:\s+(?:million|billion|trillion|thousand|hundred))?(?:\s*(?:%|per\s*cent|percent))?(?![\w])"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens|hundreds|thousands|millions)\b",
    re.I,
)
_NAME = re.compile(r"\b[A-Z][\w’'-]*[a-z][\w’'-]*(?:\s+(?:(?:de|von|der|al|bin|van|la)\s+)*[A-Z][\w’'-]+)*")
_NOT_NAMES = frozenset(
    """The A An He She It They We I This That These Those His Her Their Its Our In On At As But And Or If When While
    After Before Since Mr Mrs Ms Dr President Prime Minister Secretary Foreign Defense Defence Chief Sen Rep Gov Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March
    April May June July August September October November December""".split()
)


def answer_spans(question: Question, text: str) -> list[tuple[int, int]]:
    """(start, end) spans of ``text`` that answer ``question``, in order and never overlapping."""
    if question.kind == WHEN:
        return [m.span() for m in _DATE.finditer(text)]
    if question.kind == HOW_MANY:
        dates = [m.span() for m in _DATE.finditer(text)]
        asked = {m.group().lower() for m in _NUMBER.finditer(question.text)}
        return [
            m.span()
            for m in _NUMBER.finditer(text)
            if m.group().lower() not in asked and not any(s <= m.start() < e for s, e in dates)
        ]
    if question.kind == WHO or question.wants_name:
        asked = {w.lower() for w in re.findall(r"[\w’'-]+", question.text)}
        spans = []
        for m in _NAME.finditer(text):
            words = m.group().split()
            while words and words[0] in _NOT_NAMES:  # "The", "On" at a sentence start, a weekday, a title
                words = words[1:]
            if len(words) == 1 and not text[: m.end() - len(words[0])].strip(" \t\"'“‘(["):
                continue  # a sentence's first word is capitalised whatever it is ("Earlier, …")
            if words and not any(re.sub(r"[’']s$", "", w).lower() in asked for w in words):  # not whom the question names
                spans.append((m.end() - len(" ".join(words)), m.end()))
        return spans
    return []
