"""Split article text into sentences with exact character offsets.

Every ``Sentence`` satisfies ``text[start:end] == sentence.text``. Lines are split
first, so a headline, a subheadline or a dateline never merges with the body;
inside a line pysbd finds the boundaries (it keeps ``U.S.``, ``Dr.``, ``Jan.``
together), and a closing quote that pysbd leaves on its own rejoins its sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from index.boilerplate import is_junk, junk_spans

TITLE, HEADING, BODY = "title", "heading", "body"

_DATELINE_ONLY = re.compile(r"^[A-Z][\w.,' ()-]{0,60}?\s*(?:\(?[A-Z]{2,}\)?)?\s*[—–-]{1,2}\s*$")
_HAS_WORD = re.compile(r"[^\W_]{2,}")
_CLOSERS_ONLY = re.compile(r"^[\s\"'”’»)\]]+$")
_INNER_BOUNDARY = re.compile(r"[.!?…][\"'”’»)\]]*\s+\S")
_MARKDOWN_LEAD = re.compile(r"^(?:#{1,6}\s+|[*+-]\s+|>\s*|\d{1,3}[.)]\s+)+")
_TERMINAL = re.compile(r"[.!?…\"'”’»)\]]\s*$")


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
    for match in re.finditer(r"[^\n]+", text):
        start, end = match.span()
        if not text[start:end].strip():
            continue
        if spans and text[start:end].lstrip()[:1].islower() and not _TERMINAL.search(text[spans[-1][0]:spans[-1][1]]):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside one logical line, aligned exactly to ``text``."""
    line = text[start:end]
    # pysbd is the slow part of ingest: only lines with a possible inner boundary need it.
    pieces = _segmenter().segment(line) if _INNER_BOUNDARY.search(line.rstrip()) else [line]
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        found = line.find(piece, cursor)
        if found < 0:  # pysbd changed the text; keep the rest of the line as one sentence
            spans.append((cursor, len(line)))
            cursor = len(line)
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
            result.append((start + s, start + e))
    return result


def split_sentences(text: str, doc_id: str = "", title: str = "") -> list[Sentence]:
    """Split ``text`` into sentences, leaving out page junk and bare datelines."""
    junk = junk_spans(text)
    sentences: list[Sentence] = []
    first_line = True
    for line_start, line_end in _lines(text):
        if is_junk(line_start, line_end, junk):
            continue
        line = text[line_start:line_end].strip()
        if _DATELINE_ONLY.match(line) and len(line) < 60:
            continue
        is_heading = not _TERMINAL.search(line) and len(line.split()) <= 30
        for start, end in _split_line(text, line_start, line_end):
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
