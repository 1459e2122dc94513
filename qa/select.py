"""Choose the sentences that answer a question, or decide that none do.

Scoring combines the question's similarity to the sentence, how
much of the question's weighted terms the sentence covers, whether the sentence
holds the kind of answer asked for, for "what did X say", whether X speaks, and the
trained reranker's probability that the sentence answers (``qa.rerank``).
Pure functions over retrieved candidates: no I/O here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from index.sentences import BODY, TITLE
from index.terms import STOPWORDS, acronyms, stem, terms, words
from qa.question import HOW_MANY, SAID, WHEN, WHERE, WHO, Question
from qa.retrieve import Candidate


@dataclass
class Tuning:
    """Weights and thresholds, chosen on the team's question set and the dev set (see bench/)."""

    w_dense: float = 0.70  # 0.50 before the query encoder (qa.query_encoder); 0.70 with it (bench/README.md, session 11)
    w_coverage: float = 0.30
    w_context_coverage: float = 0.10
    w_type: float = 0.15
    w_speaker: float = 0.30
    min_score: float = 0.38  # no sentence scoring less is cited
    min_context_coverage: float = 0.25
    keep_ratio: float = 0.88  # further sentences must score this close to the best
    max_sentences: int = 3
    max_said_sentences: int = 3
    duplicate_cosine: float = 0.95
    min_headline_share: float = 0.40  # a body sentence holding this share of a headline's terms is its source
    # The trained reranker (qa.rerank) reads the best fused candidates it could bring into the answer
    # (worth_reranking); its probability joins the score.
    rerank_candidates: int = 12
    w_rerank: float = 0.10
    # Abstention: the best sentence's evidence (its score, less the weight of question terms no
    # article holds) as a probability that the articles answer the question, by a logistic fit on
    # the held-out training weeks' answerable and unanswerable questions (bench/calibrate.py).
    confidence_slope: float = 8.31
    confidence_intercept: float = -5.95
    min_confidence: float = 0.10  # at most 1.5 % abstention on the held-out weeks' answerable questions (bench/README.md)


def confidence(evidence: float, tuning: Tuning) -> float:
    """The calibrated probability that an answer whose best sentence has this evidence is in the articles."""
    return 1.0 / (1.0 + math.exp(-(tuning.confidence_slope * evidence + tuning.confidence_intercept)))


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
    r"\b\d[\d,.]*(?:st|nd|rd|th)?\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
    r"millions?|billions?|trillions?|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"half|twice|double|several)\b",
    re.I,
)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth", re.I)
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
# Numbers that name a day, a year or a clock time count nothing: "since October 7", "in 2021".
_DATE_NUMBER = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:19|20)\d\d)?\b"
    rf"|\b(?:in|since|by|until|from|of|during|before|after|early|late|mid-?)\s+(?:19|20)\d\d\b|\b\d{{1,2}}:\d\d\b|\b\d{{1,2}}\s*[ap]\.?m\b\.?",
    re.I,
)
# Numbers that label rather than count: "versions 1.0 through 4.0", "Game 3", "a Level 5 alert".
_LABEL_NUMBER = re.compile(
    r"\b(?:versions?|models?|no|nos|numbers?|games?|seasons?|episodes?|levels?|categor(?:y|ies)|chapters?|sections?|articles?|"
    r"phases?|stages?|rounds?|titles?|routes?|highways?|interstates?|flights?|rooms?|units?|apartments?|pages?|grades?)\.?\s+"
    r"\d[\d.]*(?:\s*(?:-|–|through|to|and|or)\s*\d[\d.]*)?(?:\s*,\s*\d[\d.]*)*",
    re.I,
)
_COUNTED = re.compile(r"\bhow\s+many\s+((?:[\w-]+\s+){0,3}?[\w-]+)(?=\s+(?:are|were|is|was|did|do|does|have|has|had|will|would|could|can|of|in|on|at|for|from|to|that)\b|\s*[?,.]|$)", re.I)
_AUXILIARY = frozenset("are were is was did do does have has had will would could can".split())
_VAGUE_COUNT = re.compile(r"\b(?:dozens|hundreds|thousands|millions|billions|trillions|several)\b", re.I)
_TIME_OF_DAY = re.compile(
    r"\b(?:morning|afternoon|evening|night|overnight|noon|midday|midnight|dawn|dusk|daybreak|sunrise|sunset|tonight)\b|\b\d{1,2}(?::\d\d)?\s*[ap]\.?m\b|\b\d{1,2}:\d\d\b",
    re.I,
)
_ASKS_TIMES = re.compile(r"\bhow\s+many\s+(?:times|visits|trips|terms|rounds|attempts)\b", re.I)
_ASKS_TIME_OF_DAY = re.compile(r"\b(?:what|which)\s+time\b|\btime\s+of\s+(?:the\s+)?day\b|\bat\s+what\s+hour\b", re.I)
# "in Gaza", "near Yosemite", a place that owns something ("one of Japan’s volcanoes"), "the town of Rafah"
_PLACE = re.compile(
    r"\b(?:in|at|from|to|near|into|across|outside|inside)\s+(?:the\s+)?[A-Z][\w’'-]+"
    r"|\b(?!(?:She|He|It|That|There|What|Who|Here|Let|This|Where)[’']s\b)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?[’']s\b"
    r"|\b(?:city|town|village|region|province|state|country|capital|port|island|district|county|neighbou?rhood|strip|camp)\s+of\s+[A-Z]"
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z][\w’'-]+(?:\s+[A-Z][\w’'-]+)*")
_CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
    "september october november december".split()
)  # capitalised, but not the name of anyone or anything
_TITLE_WORDS = {"president", "prime", "minister", "secretary", "mr", "mrs", "ms", "dr", "sen", "gov", "rep", "pm"}


def has_answer_type(kind: str, text: str, question: Question) -> bool:
    """Does the sentence hold the kind of thing the question asks for?"""
    if kind == WHEN:
        if _ASKS_TIME_OF_DAY.search(question.text):
            return bool(_TIME_OF_DAY.search(text))  # "Wednesday" does not say at what time
        return bool(_DATE.search(text))
    if kind == HOW_MANY:
        # A count is a cardinal the question does not already hold: "7th visit" counts nothing,
        # and neither does the 7 of "October 7".
        asked = {m.group().lower() for m in _NUMBER.finditer(question.text)}
        # "How many times…" is answered by an ordinal: the "seventh visit" is the seventh time.
        ordinal_counts = bool(_ASKS_TIMES.search(question.text))
        counts = _LABEL_NUMBER.sub(" ", _DATE_NUMBER.sub(" ", text))
        return any(
            m.group().lower() not in asked and (ordinal_counts or not _ORDINAL.fullmatch(m.group())) for m in _NUMBER.finditer(counts)
        )
    if kind == WHERE:
        return bool(_PLACE.search(text))
    if kind == WHO:
        nouns = thing_nouns(question.thing)
        if question.kind != WHO and nouns and describes_the_thing(text, nouns):
            return True
        asked = {w.lower() for name in question.names for w in name.split()}
        return any(m.group().split()[0].lower() not in asked | _CALENDAR for m in _NAME.finditer(text))
    return False


def expected_answer_type(question: Question) -> str:
    """The kind of answer a sentence must hold: a date, a count, a place, a person, or for "which
    show…" a name the question does not already contain ("" when any sentence may answer)."""
    if question.kind in (WHEN, HOW_MANY, WHERE, WHO):
        return question.kind
    return WHO if question.wants_name else ""


def speaker_tokens(name: str) -> set[str]:
    return {w.replace(".", "") for w in words(name) if w not in STOPWORDS and w not in _TITLE_WORDS}


# "comments from President Herzog", "Herzog's remarks": someone's words reported as a thing
_SPEECH = r"(?:comments?|remarks?|statements?|words|warnings?|message|views|claims?|criticism|pledges?|promises?|assurances?)"
_SPEECH_OF = re.compile(
    rf"\b{_SPEECH}\s+(?:from|by|of)\s+((?:[A-Z][\w.’'-]*\s+){{0,3}}[A-Z][\w’'-]+)|\b([A-Z][\w.’'-]*(?:\s+[A-Z][\w’'-]+){{0,3}})[’']s?\s+{_SPEECH}\b"
)


def speaks(candidate: Candidate, speaker: str, full_names: Callable[[str, str], str] = lambda doc_id, name: "") -> bool:
    """Is ``speaker`` the one speaking? Also when the article's fuller name for the sentence's
    speaker holds it ("the US" speaks through "US Secretary of State Antony Blinken"), and when the
    sentence reports the speaker's words as a thing ("Blinken echoed comments from President Herzog")."""
    asked = speaker_tokens(speaker)
    if not asked:
        return False
    sentence = candidate.sentence
    if any(asked & speaker_tokens(match.group(1) or match.group(2)) for match in _SPEECH_OF.finditer(sentence.text)):
        return True
    said_by = sentence.speaker
    if not said_by:
        return False
    return bool(asked & speaker_tokens(said_by)) or bool(asked & speaker_tokens(full_names(sentence.doc_id, said_by)))


def own_terms(candidate: Candidate) -> set[str]:
    """The sentence's terms with its speaker's: stored in the table, else tokenised here (a
    candidate made elsewhere)."""
    sentence = candidate.sentence
    return set(candidate.terms or terms(sentence.text + " " + sentence.speaker))


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
    full_names: Callable[[str, str], str] = lambda doc_id, name: "",
) -> list[Scored]:
    # Terms no article contains cannot tell sentences apart; the abstention check handles them.
    question_terms = [t for t in question.terms if known(t)]
    key_terms = question_terms
    if question.kind == SAID:
        # Who speaks is checked separately; coverage is about what they talk about.
        speaker_terms = set(terms(question.speaker))
        key_terms = [t for t in question_terms if t not in speaker_terms] or question_terms
    expected = expected_answer_type(question)
    scored = []
    for candidate in candidates:
        sentence = candidate.sentence
        # terms(text + " " + speaker) and the neighbours' terms come from the table; a candidate made
        # elsewhere (no stored terms) is tokenised here
        own = own_terms(candidate) | acronyms(sentence.text)
        neighbour_terms = candidate.neighbour_terms or [terms(n.text) for n in candidate.neighbours]
        context = own.union(*neighbour_terms) | set(terms(candidate.title))
        cov = coverage(key_terms, own, idf)
        ctx_cov = coverage(question_terms, context, idf)
        value = (
            tuning.w_dense * candidate.dense
            + tuning.w_coverage * cov
            + tuning.w_context_coverage * ctx_cov
        )
        if expected and has_answer_type(expected, sentence.text, question):
            value += tuning.w_type
        match = question.kind == SAID and speaks(candidate, question.speaker, full_names)
        if match:
            value += tuning.w_speaker
        if candidate.probability is not None:
            value += tuning.w_rerank * candidate.probability
        scored.append(Scored(candidate, value, cov, ctx_cov, match))
    scored.sort(key=lambda s: s.score, reverse=True)
    return scored


def _allowed(candidates: list[Candidate], exclude: set[tuple[str, int]]) -> list[Candidate]:
    """The candidates whose (article, start) is not excluded ("what else": not the same sentences again)."""
    return [c for c in candidates if (c.sentence.doc_id, c.sentence.start) not in exclude]


def _speaks_on_topic(item: Scored, question: Question) -> bool:
    return item.speaker_match and (item.coverage > 0 or not question.topic)


def may_answer(question: Question, scored: list[Scored], tuning: Tuning) -> list[Scored]:
    """The scored sentences that may answer at all, in their order."""
    if question.kind == SAID and question.speaker:
        # Only the speaker's own words (quoted or reported) answer "what did X say";
        # a sentence that merely mentions X is someone else speaking.
        scored = [s for s in scored if _speaks_on_topic(s, question)]
    if question.kind == HOW_MANY:
        # A count is the answer: a sentence without a number does not answer "how many".
        scored = [s for s in scored if has_answer_type(HOW_MANY, s.candidate.sentence.text, question)]
    # A sentence whose context misses most of the question is off topic however similar it
    # reads; the next candidate may still answer, so drop it rather than abstain.
    return [s for s in scored if s.context_coverage >= tuning.min_context_coverage]


def worth_reranking(
    question: Question,
    head: list[Candidate],
    idf: Callable[[str], float],
    tuning: Tuning,
    known: Callable[[str], bool] = lambda t: True,
    full_names: Callable[[str, str], str] = lambda doc_id, name: "",
    exclude: set[tuple[str, int]] = frozenset(),
) -> list[Candidate]:
    """The candidates of ``head`` whose reranker probability could change the answer. The reranker
    adds at most ``w_rerank``; a sentence that cannot answer, or that scores so far under the best
    that even the full ``w_rerank`` leaves it below ``keep_ratio`` of it, is never cited for it."""
    scored = may_answer(question, score_candidates(question, _allowed(head, exclude), idf, tuning, known, full_names), tuning)
    if not scored:
        return []
    floor = scored[0].score * tuning.keep_ratio - tuning.w_rerank
    return [s.candidate for s in scored if s.score >= floor]


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
    full_names: Callable[[str, str], str] = lambda doc_id, name: "",
) -> tuple[list[list[Scored]], str, float]:
    """Pick answer sentences; returns groups (near-duplicates across articles share a group), when
    abstaining the reason, and the calibrated ``confidence`` of the best sentence (0 when there is
    none). ``full_names(doc_id, speaker)`` gives the article's fuller names for "what did X say"."""
    if not question.terms:
        return [], "the question has no content words", 0.0
    share, missing = missing_share(question, idf, known)
    name_terms = set(terms(" ".join(question.names)))
    missing_names = [t for t in missing if t in name_terms]
    if missing_names:
        # A name no article mentions: whatever else matches is about something else.
        return [], f"no article mentions {', '.join(missing_names)}", 0.0

    # a headline's source answers through the headline, whatever may_answer says of it: keep them all
    everything = score_candidates(question, _allowed(candidates, exclude), idf, tuning, known, full_names)
    scored = may_answer(question, everything, tuning)
    if not scored:
        if question.kind == SAID and question.speaker and not any(_speaks_on_topic(s, question) for s in everything):
            return [], f"nothing {question.speaker} said on this was found", 0.0
        return [], "no sentence matched", 0.0
    best = scored[0]
    # Scoring leaves out terms no article holds (they cannot rank sentences); the verdict counts
    # them as missing: a sentence covering only "Tel Aviv" does not answer "weather forecast for Tel Aviv".
    evidence = best.score - share * (tuning.w_coverage * best.coverage + tuning.w_context_coverage * best.context_coverage)
    sure = confidence(evidence, tuning)
    if best.score < tuning.min_score or sure < tuning.min_confidence:
        return [], f"the articles do not cover: {', '.join(missing)}" if missing else "no sentence answers it well enough", sure

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
    if question.wants_name and question.thing:
        groups = _add_where_named(question, groups, scored, limit)
    groups = _add_answer_type(question, groups, scored, limit, tuning)
    groups = _add_headline_sources(groups, everything, idf, limit, tuning)
    return groups, "", sure


def counts_what_is_asked(text: str, question: Question) -> bool:
    """Is a number in ``text`` followed, within a few words, by what "how many …" counts
    ("187 minutes" for "how many minutes")? True when the question names nothing to count."""
    asked = _COUNTED.search(question.text)
    if not asked:
        return True
    counted = {stem(word) for word in words(asked.group(1)) if word not in STOPWORDS and word not in _AUXILIARY}
    if not counted:
        return True
    for match in _NUMBER.finditer(text):
        following = words(text[match.end() : match.end() + 60])[:4]
        if counted & {stem(word) for word in following}:
            return True
    return False


def _cited(groups: list[list[Scored]]) -> set[tuple[str, int]]:
    """(article, position) of each group's sentence."""
    return {(g[0].candidate.sentence.doc_id, g[0].candidate.sentence.position) for g in groups}


def _add_answer_type(question: Question, groups: list[list[Scored]], scored: list[Scored], limit: int, tuning: Tuning) -> list[list[Scored]]:
    """When no cited sentence holds the kind of answer asked for (a name, a count, a date, a
    place), also cite the best candidate that does, if it answers well enough on its own."""
    expected = expected_answer_type(question)

    nouns = thing_nouns(question.thing)
    # "which national park": when some candidate says "Yosemite National Park", that is the name wanted
    by_thing = expected == WHO and bool(nouns) and any(names_the_thing(item.candidate.sentence.text, nouns, question) for item in scored)

    def holds(text: str) -> bool:
        if expected == HOW_MANY:  # "millions of swings" counts, but "2 million swings" says how many
            return has_answer_type(expected, _VAGUE_COUNT.sub(" ", text), question) and counts_what_is_asked(text, question)
        if by_thing:
            return names_the_thing(text, nouns, question)
        return has_answer_type(expected, text, question)

    if not expected or any(holds(g[0].candidate.sentence.text) for g in groups):
        return groups
    cited = _cited(groups)
    for item in scored:
        sentence = item.candidate.sentence
        if item.score < tuning.min_score:
            break
        if (sentence.doc_id, sentence.position) not in cited and holds(sentence.text):
            return (groups[: limit - 1] + [[item]]) if len(groups) >= limit else groups + [[item]]
    return groups


def thing_nouns(thing: list[str]) -> list[str]:
    """The words of "which …" that name the thing, without a verb in -ed: "which country announced…"."""
    return [word for word in thing if not word.endswith("ed")]


def _without_possessive(word: str) -> str:
    return re.sub(r"['’]s$", "", word)


def names_the_thing(text: str, nouns: list[str], question: Question) -> bool:
    """Does the sentence hold a name made with the thing asked for and a word the question does
    not have: "Yosemite National Park" for "which national park", "President Biden" for "which
    president" (not "National Interagency Fire Center", not "Tampa Bay Lightning" for "which team")?"""
    asked = {w.lower() for w in words(question.text)}
    head = nouns[-1]
    for match in _NAME.finditer(text):
        lowered = [_without_possessive(w.lower()) for w in match.group().split()]
        while len(lowered) > 1 and lowered[-1] in _CALENDAR:
            lowered.pop()  # "near Yosemite National Park Friday"
        # the thing ends the name ("Yosemite National Park") or, for a person, titles it ("President
        # Biden"); elsewhere it is part of something else ("National Park Service")
        heads = (lowered[-1], lowered[0]) if question.kind == WHO else (lowered[-1],)
        if head in heads and any(w not in asked for w in lowered if w != head):
            return True
    return False


_COMPLEMENT = r"(?:in|of|over|on|to|for|with|about|between|from|against|at|by)"


def describes_the_thing(text: str, nouns: list[str]) -> bool:
    """Does the sentence say which one of the thing asked for it speaks of, by a phrase after it:
    "the delay in reaching an agreement" for "what delay…"? A time ("the shows on Tuesday") says
    when, not which."""
    for match in re.finditer(rf"\b{re.escape(nouns[-1])}(?:e?s)?\s+{_COMPLEMENT}\s+((?:the\s+)?\w+)", text, re.I):
        if not _DATE.search(match.group(1)):
            return True
    return False


def refers_without_naming(text: str, thing: list[str]) -> bool:
    """Does the sentence speak of the thing asked for as "the show", "this popular show"? Then
    its name is given elsewhere in the article ("the town of Rafah" names it)."""
    for word in thing_nouns(thing):
        # the word itself in lowercase: "the call between President Biden" is not "the president"
        for match in re.finditer(rf"\b(?i:the|this|that|its|their)\s+(?:[\w’'-]+\s+){{0,4}}{re.escape(word)}\b", text):
            rest = text[match.end() :]
            while (following := re.match(r"\s+([a-z-]+)\b", rest)) and following.group(1) in thing:
                rest = rest[following.end() :]  # "the southern town of…" for "which southern town"
            if not re.match(r"(?:’s|'s)?\s+(?:of\s+)?[A-Z]", rest):
                return True
    return False


def _names_something_new(text: str, best_text: str, question: Question) -> bool:
    """Does ``text`` hold a name that neither the question nor the best sentence holds?"""
    def plain(text: str) -> set[str]:
        return {_without_possessive(word) for word in words(text)}

    known = plain(" ".join(question.names) + " " + best_text)
    return any(not plain(m.group()) <= known for m in _NAME.finditer(text))


def _add_where_named(question: Question, groups: list[list[Scored]], scored: list[Scored], limit: int) -> list[list[Scored]]:
    """When a cited sentence says "the show" for the "which show" asked about, also cite the best
    sentence of its article that names something the question does not: right after it, in
    place of the weakest other group when the answer is full (the name completes that sentence)."""
    for index, group in enumerate(groups):
        referring = group[0].candidate.sentence
        if not refers_without_naming(referring.text, question.thing):
            continue
        named_already = any(
            g[0].candidate.sentence.doc_id == referring.doc_id and _names_something_new(g[0].candidate.sentence.text, referring.text, question)
            for g in groups
            if g is not group
        )
        if named_already:  # another cited sentence of the article gives the name
            continue
        cited = _cited(groups)
        for item in scored:
            sentence = item.candidate.sentence
            if sentence.doc_id != referring.doc_id or (sentence.doc_id, sentence.position) in cited:
                continue
            if _names_something_new(sentence.text, referring.text, question):
                return _insert_after(groups, index, item, limit)
    return groups


def _insert_after(groups: list[list[Scored]], index: int, item: Scored, limit: int) -> list[list[Scored]]:
    """``item`` right after group ``index``, which it completes; when that makes too many, the
    weakest other group gives way."""
    kept = groups[: index + 1] + [[item]] + groups[index + 1 :]
    if len(kept) > limit:
        kept.pop(next(i for i in range(len(kept) - 1, -1, -1) if i not in (index, index + 1)))
    return kept


def headline_source(headline: Candidate, scored: list[Scored], idf: Callable[[str], float], tuning: Tuning) -> Scored | None:
    """The body sentence of the headline's article that holds most of the headline's weighted
    terms, if it holds enough: a headline sums up a sentence, which is the evidence to cite."""
    held = own_terms(headline)
    total = sum(idf(t) for t in held)
    best, best_share = None, tuning.min_headline_share
    for item in scored:
        sentence = item.candidate.sentence
        if sentence.doc_id != headline.sentence.doc_id or sentence.kind != BODY or item.score < tuning.min_score:
            continue
        share = sum(idf(t) for t in held & own_terms(item.candidate)) / total if total else 0.0
        if share >= best_share:
            best, best_share = item, share
    return best


def _add_headline_sources(groups: list[list[Scored]], scored: list[Scored], idf: Callable[[str], float], limit: int, tuning: Tuning) -> list[list[Scored]]:
    """A cited title line brings the body sentence it sums up, right after it (a subheading or a
    photo credit sums up no one sentence)."""
    for headline in [g[0].candidate for g in groups if g[0].candidate.sentence.kind == TITLE]:
        position = next((i for i, g in enumerate(groups) if g[0].candidate is headline), None)
        if position is None:  # gave way to an earlier headline's source
            continue
        source = headline_source(headline, scored, idf, tuning)
        if source is not None and (source.candidate.sentence.doc_id, source.candidate.sentence.position) not in _cited(groups):
            groups = _insert_after(groups, position, source, limit)
    return groups


def order_for_reading(groups: list[list[Scored]]) -> list[list[Scored]]:
    """Articles in the order of their best sentence; inside each article, reading order,
    so quotes read in sequence."""
    doc_rank: dict[str, int] = {}
    for group in groups:  # groups arrive best first
        doc_rank.setdefault(group[0].candidate.sentence.doc_id, len(doc_rank))
    return sorted(groups, key=lambda g: (doc_rank[g[0].candidate.sentence.doc_id], g[0].candidate.sentence.position))

