"""Split article text into sentences with exact character offsets.

Every ``Sentence`` satisfies ``text[start:end] == sentence.text``. Lines are split
first, so a headline, a subheadline or a dateline never merges with the body;
inside a line pysbd finds the boundaries (it keeps ``U.S.``, ``Dr.``, ``Jan.``
together), and a closing quote that pysbd leaves on its own rejoins its sentence.

The work is bounded on any input, so a hostile upload cannot stall an ingest. These
rules change nothing in real articles (their lines and sentences are far shorter):

- pysbd's cost grows with the square of a line's length and with its number of end
  marks (``.``, ``!``, ``?``, ``…``), so a line longer than ``WINDOW`` characters or with
  more than ``WINDOW_MARKS`` end marks reaches it in windows of at most that many. A window
  ends after its last plain sentence end (``.``, ``!``, ``?`` or ``…`` after a word of
  two or more characters that is not a common abbreviation, then any closing quotes or
  brackets, whitespace, and a capital letter or an opening quote), else at its last
  whitespace, else after exactly ``WINDOW`` characters.
- A text longer than ``PYSBD_MAX_TEXT`` characters, or with more than ``PYSBD_MAX_MARKS``
  end marks, is split at those plain sentence ends alone, without pysbd (which costs
  ~5 µs a character on prose and up to ~30 µs on odd text); no news article comes near
  either limit.
- A sentence longer than ``MAX_SENTENCE_CHARS`` (the encoder reads only its first ~256
  tokens anyway) is cut at its last whitespace before the limit, else at the limit.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from index.boilerplate import is_junk, junk_spans, photo_credits

TITLE, HEADING, BODY = "title", "heading", "body"

_DATELINE_ONLY = re.compile(r"^[A-Z][\w.,' ()-]{0,60}?\s*(?:\(?[A-Z]{2,}\)?)?\s*[—–-]{1,2}\s*$")
_HAS_WORD = re.compile(r"[^\W_]{2,}")
_CLOSERS_ONLY = re.compile(r"^[\s\"'”’»)\]]+$")
_INNER_BOUNDARY = re.compile(r"[.!?…][\"'”’»)\]]*\s+\S")
_MARKDOWN_LEAD = re.compile(r"^(?:#{1,6}\s+|[*+-]\s+|>\s*|\d{1,3}[.)]\s+)+")
_TERMINAL = re.compile(r"[.!?…\"'”’»)\]]\s*$")
_LINE = re.compile(r"[^\n]+")
# A plain sentence end: a run of end marks (starting the run, so a long run of dots is
# scanned once), closing quotes or brackets, then whitespace and a capital or an opening quote.
_PLAIN_END = re.compile(r"(?<![.!?…])[.!?…]+[\"'”’»)\]]*(?=\s+[\"'“‘(\[]?[A-Z])")
_WORD_BEFORE = re.compile(r"[\w.]*$")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sen rep gov gen lt col capt cmdr sgt st mt ft jr sr inc ltd corp co no vs etc "
    "jan feb mar apr jun jul aug sep sept oct nov dec rev hon pres supt dept univ est approx".split()
)

WINDOW = 10_000
"""Longest stretch of a line given to pysbd at once."""
WINDOW_MARKS = 250
"""Most end marks in a stretch given to pysbd at once (prose has about 1 in 100 characters)."""
_MARK = re.compile(r"[.!?…]")
PYSBD_MAX_TEXT = 200_000
"""Longer texts are split at plain sentence ends only."""
PYSBD_MAX_MARKS = 5_000
"""So are texts with more end marks than this."""
MAX_SENTENCE_CHARS = 1000
"""Longer sentences are cut at whitespace."""


@dataclass
class Sentence:
    """A sentence of an article: its position, exact span and what kind of line it is."""

    doc_id: str
    position: int
    start: int
    end: int
    text: str
    kind: str = BODY
    speaker: str = ""  # filled in by index.speakers

    @property
    def node_id(self) -> str:
        return f"{self.doc_id}#{self.position}"


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def _lines(text: str) -> list[tuple[int, int]]:
    """Spans of logical lines: a line that continues in lowercase is a hard wrap, not a break."""
    spans: list[tuple[int, int]] = []
    last_terminal = True  # does the last logical line end like a sentence (checked on its last physical line)
    for match in _LINE.finditer(text):
        start, end = match.span()
        lead = match.group().lstrip()
        if not lead:
            continue
        if spans and lead[:1].islower() and not last_terminal:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        last_terminal = bool(_TERMINAL.search(match.group()))
    return spans


def _plain_ends(line: str, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets just after each plain sentence end in ``line[start:end]`` (see the module doc)."""
    end = len(line) if end is None else end
    found = []
    for match in _PLAIN_END.finditer(line, start, end):
        if line[match.start()] == ".":
            word = _WORD_BEFORE.search(line, max(start, match.start() - 12), match.start()).group()
            if len(word) < 2 or "." in word or word.lower() in _ABBREVIATIONS:
                continue  # "U.S.", "A.", "Dr.", "Jan."
        found.append(match.end())
    return found


def _window_limit(line: str, position: int) -> int:
    """The end of the longest stretch from ``position`` within ``WINDOW`` and ``WINDOW_MARKS``."""
    limit = min(len(line), position + WINDOW)
    for count, mark in enumerate(_MARK.finditer(line, position, limit), start=1):
        if count > WINDOW_MARKS:
            return mark.start()
    return limit


def _windows(line: str) -> list[tuple[int, int]]:
    """Cut a line into stretches for pysbd (see the module doc); one stretch for any real line."""
    windows = []
    position = 0
    while True:
        limit = _window_limit(line, position)
        if limit >= len(line):
            windows.append((position, len(line)))
            return windows
        ends = [e for e in _plain_ends(line, position, limit) if e > position]
        if ends:
            cut = ends[-1]
        else:
            cut = next((i for i in range(limit - 1, position, -1) if line[i].isspace()), limit)
        windows.append((position, cut))
        position = cut


def _pieces(line: str, start: int, end: int, use_pysbd: bool) -> list[str]:
    """The sentences pysbd (or the plain rule) finds in ``line[start:end]``, as text."""
    window = line[start:end]
    if use_pysbd and _INNER_BOUNDARY.search(window.rstrip()):  # pysbd is the slow part: only where needed
        try:
            return _segmenter().segment(window)
        except Exception:  # pysbd failing on odd text must not stop an ingest: fall back to the plain rule
            pass
    cuts = [0, *_plain_ends(window), len(window)]
    return [window[a:b] for a, b in zip(cuts, cuts[1:])]


def _cap(start: int, end: int, line: str) -> list[tuple[int, int]]:
    """``line[start:end]`` cut into stripped pieces of at most ``MAX_SENTENCE_CHARS``."""
    pieces = []
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        cut = next((i for i in range(limit, start + MAX_SENTENCE_CHARS // 2, -1) if line[i].isspace()), limit)
        pieces.append((start, cut))
        start = cut
        while start < end and line[start].isspace():
            start += 1
    pieces.append((start, end))
    result = []
    for s, e in pieces:
        while e > s and line[e - 1].isspace():
            e -= 1
        if e > s:
            result.append((s, e))
    return result


def _split_line(text: str, start: int, end: int, use_pysbd: bool = True) -> list[tuple[int, int]]:
    """Sentence spans inside one logical line, aligned exactly to ``text``."""
    line = text[start:end]
    spans: list[tuple[int, int]] = []
    for window_start, window_end in _windows(line):
        cursor = window_start
        for piece in _pieces(line, window_start, window_end, use_pysbd):
            piece = piece.strip()
            if not piece:
                continue
            found = line.find(piece, cursor, window_end)
            if found < 0:  # pysbd changed the text; keep the rest of the window as one sentence
                spans.append((cursor, window_end))
                cursor = window_end
                break
            if spans and _CLOSERS_ONLY.match(piece):
                spans[-1] = (spans[-1][0], found + len(piece))
            else:
                spans.append((found, found + len(piece)))
            cursor = found + len(piece)
    result = []
    for s, e in spans:
        chunk = line[s:e]
        s += len(chunk) - len(chunk.lstrip())
        lead = _MARKDOWN_LEAD.match(line, s)  # "# ", "* ", "> ", "1. " belong to the markup, not the sentence
        if lead and lead.end() < e:
            s = lead.end()
        e -= len(chunk) - len(chunk.rstrip())
        if e > s:
            result.extend((start + a, start + b) for a, b in _cap(s, e, line))
    return result


def _without_credits(text: str, start: int, end: int, credits: list[tuple[int, int]], first: int) -> tuple[int, int]:
    """The sentence span with a photo credit at its start or end cut off (empty if all credit).
    ``credits[first:]`` are those not ending before the sentence; only the ones starting inside it
    are looked at, so an article with many credits is not read credits × sentences times."""
    for credit_start, credit_end in credits[first : bisect.bisect_left(credits, (end,), lo=first)]:
        if credit_start <= start < credit_end or (credit_start <= start and credit_end >= end):
            start = credit_end
        elif start < credit_start < end and credit_end >= end:
            end = credit_start
        elif start < credit_start and text[start:credit_start].strip() == "":
            start = credit_end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, max(start, end)


def split_sentences(text: str, doc_id: str = "", title: str = "") -> list[Sentence]:
    """Split ``text`` into sentences, leaving out page junk and bare datelines."""
    junk = junk_spans(text)
    credits = photo_credits(text)
    use_pysbd = len(text) <= PYSBD_MAX_TEXT and sum(map(text.count, ".!?…")) <= PYSBD_MAX_MARKS
    sentences: list[Sentence] = []
    first_line = True
    next_junk = 0  # lines and junk spans both come in order: one pass over each, not lines × spans
    next_credit = 0  # so do sentences and credits
    for line_start, line_end in _lines(text):
        while next_junk < len(junk) and junk[next_junk][1] <= line_start:
            next_junk += 1
        if is_junk(line_start, line_end, junk[next_junk : next_junk + 1]):
            continue
        line = text[line_start:line_end].strip()
        if len(line) < 60 and _DATELINE_ONLY.match(line):
            continue
        is_heading = not _TERMINAL.search(line) and len(line.split()) <= 30
        for start, end in _split_line(text, line_start, line_end, use_pysbd):
            while next_credit < len(credits) and credits[next_credit][1] <= start:
                next_credit += 1
            start, end = _without_credits(text, start, end, credits, next_credit)
            sentence_text = text[start:end]
            if not _HAS_WORD.search(sentence_text):
                continue
            if first_line and (not title or sentence_text.strip() == title.strip() or is_heading):
                kind = TITLE
            elif is_heading:
                kind = HEADING
            else:
                kind = BODY
            sentences.append(Sentence(doc_id, len(sentences), start, end, sentence_text, kind))
        first_line = False
    return sentences
