"""Choose the sentences that answer a question, or decide that none do.

Scoring combines the question's similarity to the sentence and to its context, how
much of the question's weighted terms the sentence covers, whether the sentence
holds the kind of answer asked for, and, for "what did X say", whether X speaks.
Pure functions over retrieved candidates: no I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from index.terms import STOPWORDS, acronyms, terms, words
from qa.question import HOW_MANY, SAID, WHEN, WHERE, WHO, Question
from qa.retrieve import Candidate


@dataclass
class Tuning:
    """Weights and thresholds, chosen on the team's question set and the dev set (see bench/)."""

    w_dense: float = 0.50
    w_coverage: float = 0.30
    w_context_coverage: float = 0.10
    w_context_dense: float = 0.10
    w_type: float = 0.15
    w_speaker: float = 0.30
    min_score: float = 0.38
    min_context_coverage: float = 0.25
    max_missing_share: float = 0.90
    keep_ratio: float = 0.88  # further sentences must score this close to the best
    max_sentences: int = 3
    max_said_sentences: int = 3
    duplicate_cosine: float = 0.95


@dataclass
class Scored:
    candidate: Candidate
    score: float
    coverage: float
    context_coverage: float
    speaker_match: bool


_DATE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july|"
    r"august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|yesterday|today|"
    r"tonight|tomorrow|morning|afternoon|evening|night|week|month|year|decade|century|ago|earlier|later|"
    r"(?:1[89]|20)\d\d)\b|\b\d{1,2}:\d\d\b",
    re.I,
)
_NUMBER = re.compile(
    r"\d[\d,.]*(?:st|nd|rd|th)?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|billions?|trillions?|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"half|twice|double|several)\b",
    re.I,
)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth", re.I)
_PLACE = re.compile(r"\b(?:in|at|from|to|near|into|across|outside|inside)\s+(?:the\s+)?[A-Z][\w’'-]+")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")
_TITLE_WORDS = {"president", "prime", "minister", "secretary", "mr", "mrs", "ms", "dr", "sen", "gov", "rep", "pm"}


def has_answer_type(kind: str, text: str, question: Question) -> bool:
    """Does the sentence hold the kind of thing the question asks for?"""
    if kind == WHEN:
        return bool(_DATE.search(text))
    if kind == HOW_MANY:
        # A count is a cardinal the question does not already hold: "7th visit" counts nothing.
        asked = {m.group().lower() for m in _NUMBER.finditer(question.text)}
        return any(m.group().lower() not in asked and not _ORDINAL.fullmatch(m.group()) for m in _NUMBER.finditer(text))
    if kind == WHERE:
        return bool(_PLACE.search(text))
    if kind == WHO:
        asked = {w.lower() for name in question.names for w in name.split()}
        return any(m.group().split()[0].lower() not in asked for m in _NAME.finditer(text))
    return False


def speaker_tokens(name: str) -> set[str]:
    return {w for w in words(name) if w not in STOPWORDS and w not in _TITLE_WORDS}


def speaks(candidate: Candidate, speaker: str) -> bool:
    asked = speaker_tokens(speaker)
    return bool(asked) and bool(asked & speaker_tokens(candidate.sentence.speaker))


def coverage(question_terms: list[str], present: set[str], idf: Callable[[str], float]) -> float:
    """Share of the question's IDF weight whose terms are present."""
    total = sum(idf(t) for t in question_terms)
    if total == 0:
        return 0.0
    return sum(idf(t) for t in question_terms if t in present) / total


def score_candidates(
    question: Question,
    candidates: list[Candidate],
    idf: Callable[[str], float],
    tuning: Tuning,
    known: Callable[[str], bool] = lambda t: True,
) -> list[Scored]:
    # Terms no article contains cannot tell sentences apart; the abstention check handles them.
    question_terms = [t for t in question.terms if known(t)]
    key_terms = question_terms
    if question.kind == SAID:
        # Who speaks is checked separately; coverage is about what they talk about.
        speaker_terms = set(terms(question.speaker))
        key_terms = [t for t in question_terms if t not in speaker_terms] or question_terms
    expected = question.kind if question.kind in (WHEN, HOW_MANY, WHERE, WHO) else ""
    if not expected and question.wants_name:
        expected = WHO  # "which show…": a name the question does not already contain
    scored = []
    for candidate in candidates:
        sentence = candidate.sentence
        own = set(candidate.terms) | acronyms(sentence.text)  # terms(text + " " + speaker), from the table
        context = own.union(*candidate.neighbour_terms) | set(terms(candidate.title))
        cov = coverage(key_terms, own, idf)
        ctx_cov = coverage(question_terms, context, idf)
        value = (
            tuning.w_dense * candidate.dense
            + tuning.w_coverage * cov
            + tuning.w_context_coverage * ctx_cov
            + tuning.w_context_dense * candidate.context_dense
        )
        if expected and has_answer_type(expected, sentence.text, question):
            value += tuning.w_type
        match = question.kind == SAID and speaks(candidate, question.speaker)
        if match:
            value += tuning.w_speaker
        scored.append(Scored(candidate, value, cov, ctx_cov, match))
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored


def missing_share(question: Question, idf: Callable[[str], float], known: Callable[[str], bool]) -> tuple[float, list[str]]:
    """Share of the question's weight that no indexed sentence contains, and those terms."""
    missing = [t for t in question.terms if not known(t)]
    total = sum(idf(t) for t in question.terms) or 1.0
    return sum(idf(t) for t in missing) / total, missing


def select(
    question: Question,
    candidates: list[Candidate],
    idf: Callable[[str], float],
    known: Callable[[str], bool],
    tuning: Tuning,
    exclude: set[tuple[str, int]] = frozenset(),
) -> tuple[list[list[Scored]], str]:
    """Pick answer sentences; returns groups (near-duplicates across articles share a group) and,
    when abstaining, the reason."""
    if not question.terms:
        return [], "the question has no content words"
    share, missing = missing_share(question, idf, known)
    name_terms = set(terms(" ".join(question.names)))
    missing_names = [t for t in missing if t in name_terms]
    if missing_names:
        # A name no article mentions: whatever else matches is about something else.
        return [], f"no article mentions {', '.join(missing_names)}"
    if share > tuning.max_missing_share:
        return [], f"the articles do not cover: {', '.join(missing)}"

    scored = [s for s in score_candidates(question, candidates, idf, tuning, known) if (s.candidate.sentence.doc_id, s.candidate.sentence.start) not in exclude]
    if question.kind == SAID and question.speaker:
        # Only the speaker's own words (quoted or reported) answer "what did X say";
        # a sentence that merely mentions X is someone else speaking.
        scored = [s for s in scored if s.speaker_match and (s.coverage > 0 or not question.topic)]
        if not scored:
            return [], f"nothing {question.speaker} said on this was found"
    if question.kind == HOW_MANY:
        # A count is the answer: a sentence without a number does not answer "how many".
        scored = [s for s in scored if has_answer_type(HOW_MANY, s.candidate.sentence.text, question)]
    # A sentence whose context misses most of the question is off topic however similar it
    # reads; the next candidate may still answer, so drop it rather than abstain.
    scored = [s for s in scored if s.context_coverage >= tuning.min_context_coverage]
    if not scored:
        return [], "no sentence matched"
    best = scored[0]
    if best.score < tuning.min_score:
        return [], "no sentence answers it well enough"

    limit = tuning.max_said_sentences if question.kind == SAID else tuning.max_sentences
    groups: list[list[Scored]] = []
    for item in scored:
        if item.score < best.score * tuning.keep_ratio:
            break
        vector = item.candidate.sentence.embedding
        group = next(
            (g for g in groups if float(g[0].candidate.sentence.embedding @ vector) >= tuning.duplicate_cosine),
            None,
        )
        if group is not None:
            if all(s.candidate.sentence.doc_id != item.candidate.sentence.doc_id for s in group):
                group.append(item)  # the same sentence in another article: cite it too
            continue
        if len(groups) < limit:
            groups.append([item])
    return groups, ""


def order_for_reading(groups: list[list[Scored]]) -> list[list[Scored]]:
    """Articles in the order of their best sentence; inside each article, reading order,
    so quotes read in sequence."""
    doc_rank: dict[str, int] = {}
    for group in groups:  # groups arrive best first
        doc_rank.setdefault(group[0].candidate.sentence.doc_id, len(doc_rank))
    return sorted(groups, key=lambda g: (doc_rank[g[0].candidate.sentence.doc_id], g[0].candidate.sentence.position))

