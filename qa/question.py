"""Question analysis and follow-up resolution: pure functions over text.

``analyze`` finds what kind of answer a question wants (a person, a date, a place, a
number, someone's words) and which terms it hinges on. ``resolve_followup`` turns
"What else did he say?" into a standalone question using the earlier questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from index.speakers import NAME
from index.terms import STOPWORDS, stem, terms, words

WHO, WHEN, WHERE, HOW_MANY, SAID, WHAT = "who", "when", "where", "how_many", "said", "what"

_SAY = (
    r"say|said|tell|told|think|claim|promise|pledge|vow|announce|declare|write|post|tweet|"
    r"warn|insist|argue|state|reveal|stress|emphasi[sz]e|reiterate|add"
)
# Question words match in any case; the speech verb only in lowercase, so "State" in
# "the State Department" is part of the name, not the verb "state".
_SAID = re.compile(
    rf"^\s*(?i:what|how)\s+(?i:did|does|do|has|have|had|is|was)\s+(?P<who>.+?)\s+(?:{_SAY})(?:ed|s|d)?\b"
    rf"(?:\s+(?:about|on|regarding|of|concerning|to|in\s+response\s+to)\b)?(?P<topic>.*)$"
)
_SAID_ALT = re.compile(
    rf"^\s*(?:what|which)\s+(?:comments?|remarks?|statements?|words?)\s+(?:did|has|have)\s+(?P<who>.+?)\s+"
    rf"(?:make|made|give|issue)\b(?:\s+(?:about|on|regarding)\b)?(?P<topic>.*)$",
    re.IGNORECASE,
)
_REACT = re.compile(
    r"^\s*how\s+(?:did|does|has)\s+(?P<who>.+?)\s+(?:respond|react|reply)\w*\b(?:\s+to\b)?(?P<topic>.*)$",
    re.IGNORECASE,
)
# "What did KFC add to its menu?" puts something somewhere; "What else did he add?" speaks.
_ADDS_TO = re.compile(r"\badd(?:ed|s)?\s+to\b", re.I)
_KIND_RULES = [
    (HOW_MANY, re.compile(r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:number|percentage|share|amount|sum|price)\b", re.I)),
    (WHEN, re.compile(r"(?:^|[,;:]\s*)\s*(?:when\b|how\s+(?:long|often|soon)\b|what\s+(?:day|date|time|year|month|week)\b|(?:on|in|at|since)\s+which\s+(?:day|date|year|month|time)\b|at\s+what\s+time\b)", re.I)),
    (WHERE, re.compile(r"^\s*where\b|\b(?:which|what)\s+(?:city|country|state|town|place|region|continent|county|nation|province|island)\b", re.I)),
    (WHO, re.compile(r"\bwho(?:m|se)?\b|\bwhich\s+(?:person|official|leader|president|minister|player|company|group|team|organi[sz]ation|agency)\b", re.I)),
]
# Words that frame a question but say nothing about its subject.
QUESTION_WORDS = frozenset(
    stem(w)
    for w in """what which who whom whose when where why how many much did does do say said tell told
    according recently week this year today yesterday ago new news article articles report reported happen happened
    mention mentioned""".split()
)
# "which show", "what kind of product": a named thing is wanted, not an explanation.
_WHICH_THING = re.compile(r"\bwhich\s+(?!(?:is|are|was|were|of)\b)[a-z]+|^\s*what\s+(?!(?:is|are|was|were|did|does|do|has|have|had|will|would|could|can|should|happened|caused|led|made)\b)[a-z]+\s+(?:is|are|was|were|did|does|do|has|have|had|will)\b", re.I)
_ASKS_NAME = re.compile(r"\bwhat(?:\s+is|\s+was|\s+are|\s+were|'s)\s+(?:the|his|her|their|its)\s+names?\b", re.I)
_ELSE = re.compile(r"\b(?:what|anything|who|where)\s+else\b|\bany\s+other\b|\bmore\s+about\b|^\s*and\b|^\s*what\s+about\b", re.I)


@dataclass
class Question:
    """A question as the pipeline sees it."""

    text: str
    kind: str = WHAT
    speaker: str = ""  # X in "what did X say (about Y)"
    topic: str = ""  # Y
    terms: list[str] = field(default_factory=list)  # stemmed content terms, question words removed
    names: list[str] = field(default_factory=list)  # capitalised names in the question
    wants_more: bool = False  # "what else…": skip what earlier answers cited
    wants_name: bool = False  # "which show…", "what virus…": the answer is a named thing
    thing: list[str] = field(default_factory=list)  # "wildly popular show" in "which wildly popular show…", lowercased words


def analyze(text: str) -> Question:
    """Classify a standalone question and pull out its terms, names and speaker."""
    question = Question(text=text.strip())
    asked = _asking_sentence(question.text)
    for pattern in (_SAID, _SAID_ALT, _REACT):
        match = pattern.match(asked.rstrip("?"))
        if match and _looks_like_name(match["who"]) and not _ADDS_TO.search(asked):
            question.kind = SAID
            question.speaker = _strip_article(match["who"])
            question.topic = match["topic"].strip(" ?.")
            break
    else:
        for kind, pattern in _KIND_RULES:
            if pattern.search(asked):
                question.kind = kind
                break
    question.terms = [t for t in terms(question.text) if t not in QUESTION_WORDS]
    question.names = _names(question.text)
    question.wants_more = bool(_ELSE.search(question.text))
    question.wants_name = question.kind in (WHO, WHERE) or bool(_WHICH_THING.search(asked) or _ASKS_NAME.search(asked))
    question.thing = _thing(asked)
    return question


def _asking_sentence(text: str) -> str:
    """The sentence that asks, when a question first sets the scene: "NASA released images this
    week. What did the images show?" asks in its last sentence; its first only gives terms."""
    parts = [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if part.strip()]
    asking = [part for part in parts if part.rstrip().endswith("?")]
    return (asking or parts or [text])[-1]


# Where an asking clause starts inside a long sentence: "…, and I'd like to know what did Netanyahu say…".
_CLAUSE_START = re.compile(r"(?:[,;:—–]\s*(?:and\s+|but\s+|so\s+)?|\b(?:know|wonder|ask|tell\s+me)\s+)(?=(?:what|who|whom|whose|when|where|which|why|how)\b)", re.I)
_CLAUSE_END = re.compile(r"\s*[,;:—–?]")
# A sentence ends after "?", and after "." or "!" before a capital or, as people type, a lowercase
# question word ("…confused. what did…"); not inside "U.S. officials".
_SENTENCE_BREAK = re.compile(r"(?<=\?)\s+|(?<=[.!])\s+(?=[A-Z]|(?i:what|who|whom|whose|when|where|which|why|how|did|does|do|is|are|was|were|can|could)\b)")


def asked_parts(text: str) -> list[str]:
    """What a chatty or pasted question asks, for when the whole of it finds nothing: its asking
    sentence ("I've been reading about the Gaza talks and I'm confused. What did Blinken say about
    Hamas?"), then, in a long sentence, the clause that starts with a question word ("So I was reading
    …, and I'd like to know, what did Netanyahu say about Rafah, was it…"). Only parts that stand on
    their own (``needs_context``) are returned; never the text itself."""
    text = text.strip()
    sentences = [part for part in _SENTENCE_BREAK.split(text) if part.strip()]
    sentence = next((part for part in reversed(sentences) if part.rstrip().endswith("?")), sentences[-1] if sentences else "").strip()
    parts = [sentence]
    for match in _CLAUSE_START.finditer(sentence):
        rest = sentence[match.end() :]
        end = _CLAUSE_END.search(rest)
        parts.append((rest[: end.start()] if end else rest).strip() + "?")
        break
    found = []
    for part in parts:
        if part and part != text and part not in found and not needs_context(part):
            found.append(part)
    return found


_WORD_AS_WRITTEN = re.compile(r"[^\W\d_][\w’'-]*")


def correct_names(text: str, closest_name) -> str:
    """``text`` with each word the library does not know, and that misspells one of its names, written
    as the library writes that name: ``closest_name(word)`` gives the name or "" (``LexicalIndex.closest_name``)."""

    def fix(match: re.Match) -> str:
        word = match.group()
        if len(word) < 4 or word.lower() in STOPWORDS or stem(word.lower()) in QUESTION_WORDS:
            return word
        return closest_name(word) or word

    return _WORD_AS_WRITTEN.sub(fix, text)


def said_question(speaker: str, sentence: str, title: str) -> str:
    """A question an attributed sentence answers, in the library's own words: "What did <speaker> say
    about <name>?" with the first name of the sentence that its article's title also names (what the
    article is about), else "What did <speaker> say?"; "" when the sentence has no speaker."""
    if not speaker.strip():
        return ""
    own = set(words(speaker))
    in_title = set(words(title)) - STOPWORDS
    for name in _names(sentence):
        name = re.sub(r"[’']s$", "", name)
        named = set(words(name))
        if not named & own and named & in_title:
            return f"What did {speaker} say about {name}?"
    return f"What did {speaker} say?"


_THING_START = re.compile(r"\b(?:which|what)\s+", re.I)
_AUXILIARY = frozenset("is are was were did does do has have had will would could can should may might must".split())


def _thing(text: str) -> list[str]:
    """The words naming what "which …" asks for, up to the verb: "which wildly popular show was…"
    gives ["wildly", "popular", "show"]."""
    match = _THING_START.search(text)
    if not match:
        return []
    found = []
    for word in words(text[match.end() :])[:4]:
        if word in _AUXILIARY or word in STOPWORDS:
            break
        found.append(word)
    return found


def _strip_article(phrase: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", phrase.strip(), flags=re.I)


def _looks_like_name(phrase: str) -> bool:
    """A speaker is a name or a noun phrase, never a clause ("the US want to")."""
    return 0 < len(phrase.split()) <= 6 and not re.search(r"\b(?:that|which|who|to|if)\b", phrase, re.I)


def _names(text: str) -> list[str]:
    found = []
    for match in re.finditer(NAME, text):
        name = match.group()
        first = name.split()[0]
        if match.start() == 0 or text[: match.start()].rstrip().endswith(("?", ".", "!")):
            # A capital at the start is grammar, not a name, unless more capitals follow.
            if len(name.split()) == 1 or first.lower() in STOPWORDS or first.lower() in {"what", "which", "who", "when", "where", "how"}:
                rest = name.split()[1:]
                if not rest:
                    continue
                name = " ".join(rest)
        found.append(name)
    return found


_PERSONAL = re.compile(r"\b(?:(?P<person>he|she|him|her|his|hers)|they|them|their|it|its)\b", re.I)
_DEMONSTRATIVE = re.compile(r"\b(?:that|this|these|those|there|then)\b", re.I)
# Not about anything earlier: "this week", "are there any", "there were" (but "that day" is).
_DEICTIC = re.compile(
    r"\b(?:this|these)\s+(?:week|weekend|year|month|morning|afternoon|evening|night)s?\b"
    r"|\b(?:is|are|was|were|be)\s+there\b|\bthere\s+(?:is|are|was|were|will|has|have|had)\b",
    re.I,
)
# A word after "that" that starts a clause ("said that Hamas…", "the deal that was…"), where "that"
# refers to nothing earlier; any other ("that trip", "that day", "say that?") makes it refer back.
_STARTS_CLAUSE = re.compile(
    r"(?:[A-Z]\w*|\d\w*|(?i:the|a|an|his|her|its|their|our|my|he|she|it|they|we|i|you|" + "|".join(_AUXILIARY) + r")\b)(?![?.!,;])"
)
_PREPOSITIONS = frozenset("of about on in at to from for with by after before during since into over under than like".split())


def needs_context(question: str) -> bool:
    """Does the question lean on what was said before it (a follow-up), rather than stand on its own?

    It leans when it has no content terms of its own ("When?"), when "what else" / "and …" / "what
    about …" continue a question with at most one term of its own ("And Biden?"), or when it refers
    back: "he", "it", "their" with nothing in the question before them to refer to, or at its end
    ("What did Blinken say about it?"); "that", "this", "there", "then" used on their own ("When did
    he say that?", "of that trip", "in there"), not as "this week", "are there", or "said that
    Hamas…" (which starts a clause).
    "What did Blinken say about his trip?" and "ceasefire" stand on their own.
    """
    asked = analyze(question)
    if not asked.terms:
        return True
    if asked.wants_more and len(asked.terms) < 2:
        return True
    for match in _PERSONAL.finditer(question):
        before = question[: match.start()]
        after = question[match.end() :].strip()
        final = not after or after[0] in "?.!,;" or after.split()[0].lower() in _PREPOSITIONS
        antecedent = _names(before) if match["person"] else [t for t in terms(before) if t not in QUESTION_WORDS]
        if final or not antecedent:
            return True
    deictic = [m.span() for m in _DEICTIC.finditer(question)]
    for match in _DEMONSTRATIVE.finditer(question):
        if any(start <= match.start() < end for start, end in deictic):
            continue
        after = question[match.end() :].split()
        if match.group().lower() in ("there", "then") or not after or not _STARTS_CLAUSE.match(after[0]):
            return True
    return False



def resolve_followup(question: str, previous: str, antecedent: str = "") -> str:
    """Rewrite a follow-up as a standalone question, given the (standalone) previous question.

    A question that stands on its own (``needs_context`` is false) is returned unchanged: a new topic
    is never read as part of the old one. Otherwise "he"/"she"/"his"/"her" become ``antecedent`` (the
    person the previous question or its answer was about), and a question that leans on "that", "it"
    or "what else" inherits the previous question's topic.
    """
    if not previous or not needs_context(question):
        return question
    return _rewrite(question, previous, antecedent)


def _rewrite(question: str, previous: str, antecedent: str) -> str:
    earlier = analyze(previous)
    current = analyze(question)
    person = antecedent or earlier.speaker or (earlier.names[0] if earlier.names else "")
    resolved = question
    if person:
        resolved = re.sub(r"\b(?:he|she)\b", person, resolved, flags=re.I)
        resolved = re.sub(r"\b(?:him|her)\b(?=\s*[?.!,]|\s+(?:about|on|to|that|when)\b|$)", person, resolved, flags=re.I)
        resolved = re.sub(r"\b(?:his|her)\b", person + "'s", resolved, flags=re.I)
    leans_on_previous = current.wants_more or re.search(r"\b(?:that|this|it|there|then|those)\b", question, re.I)
    if leans_on_previous or len(current.terms) < 2:
        topic = re.sub(r"\(about\s+|\)", " ", earlier.topic).strip() or " ".join(
            w for w in words(previous) if w not in STOPWORDS and stem(w) not in QUESTION_WORDS and w not in words(person)
        )
        if topic:
            resolved = f"{resolved.rstrip(' ?')} (about {topic})?"
    return resolved


def followup_readings(question: str, previous: str, antecedent: str = "") -> list[str]:
    """The readings of a question asked after ``previous``, to try in order until one is answered.

    A follow-up has one: its rewrite. A question that stands on its own comes first as it is; when
    it is a bare fragment ("ceasefire", "Which day?": one term, no name) the follow-up rewrite comes
    second, for when the library has no answer to the fragment alone."""
    resolved = resolve_followup(question, previous, antecedent)
    if resolved != question or not previous:
        return [resolved]
    current = analyze(question)
    if len(current.terms) < 2 and not current.names:
        return [question, _rewrite(question, previous, antecedent)]
    return [question]
