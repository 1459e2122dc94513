"""Find page junk (comment forms, disclaimers, teasers, sign-ups, staff blurbs) and photo credits.

Junk is detected, never edited out: the result is a list of character spans that
the sentence splitter leaves out, so offsets into the article stay true.
"""

from __future__ import annotations

import re

# A line that starts the page furniture after the article: everything from it on is junk.
_TRAILER_HEADINGS = re.compile(
    r"""^\s*(?:
        top\s+stories | most\s+read | most\s+popular | trending(?:\s+now)? |
        related(?:\s+(?:articles?|stories|news|posts|coverage))? | read\s+more | more\s+from\b.* |
        you\s+may\s+also\s+like | recommended(?:\s+for\s+you)? | we\s+recommend(?:\s+to\s+read)? |
        comments? | (?:leave|post|add)\s+a\s+comment | comment\s+on\s+this\s+article |
        disclaimer | share\s+this(?:\s+article)? | advertisement | sponsored(?:\s+content)?
    )\s*[:.]?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Lines that are junk wherever they stand.
_JUNK_LINES = re.compile(
    r"""(?:
        ^\s*title:\s | you\s+have\s+\d+\s+characters?\s+left | characters?\s+remaining |
        (?:sign\s+up|subscribe)\b.{0,60}\b(?:newsletter|updates|inbox|alerts) |
        \bnewsletter\b.{0,40}\b(?:sign\s+up|subscribe) |
        ^\s*(?:click\s+here|follow\s+us|share\s+on|copyright\b|©|all\s+rights\s+reserved) |
        \bis\s+a\s+team\s+of\s+(?:journalists|reporters|editors|writers)\b |
        \bwill\s+not\s+be\s+(?:held\s+)?responsible\s+for\s+any\b |
        ^\s*please\s+(?:write|enter)\s+your\s+(?:correct\s+)?name |
        ^\s*(?:photo|image)\s*(?:credit)?\s*:\s
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_LINE = re.compile(r"[^\n]*(?:\n|$)")

# A photo credit: a photographer or source, then "/" and a picture agency: "Matthew Brown/AP",
# "Ahmad Sahel Arman/AFP/Getty Images", "National Park Service/AP".
_AGENCY = re.compile(
    r"/(?:Getty\s+Images|AP|AFP|Reuters|EPA(?:-EFE)?|Bloomberg|Shutterstock|Xinhua|NurPhoto|Sipa\s+USA|ZUMA\s+Wire|"
    r"SOPA\s+Images|picture\s+alliance|Redux|Polaris|Alamy)\b"
)
# What comes before the agency: capitalised words joined by spaces or slashes, from the start of a
# line or of a sentence. Only a short stretch before each agency is searched, so the cost stays linear.
_CREDIT_HEAD = re.compile(r"(?:(?<=\n)|(?<=[.!?”’'\")]\s)|(?<![\s\S]))(?:[A-Z][\w.'’-]*[ /]){0,9}[A-Z][\w.'’-]*$")
_CREDIT_REACH = 160


def photo_credits(text: str) -> list[tuple[int, int]]:
    """Spans of photo credits ("Matthew Brown/AP"): not junk lines, as the caption around them is
    real text, but no part of any sentence."""
    spans: list[tuple[int, int]] = []
    for agency in _AGENCY.finditer(text):
        head = _CREDIT_HEAD.search(text, max(0, agency.start() - _CREDIT_REACH), agency.start())
        if head is None:
            continue
        if spans and head.start() <= spans[-1][1]:
            spans[-1] = (spans[-1][0], agency.end())  # "…/AFP" then "/Getty Images": one credit
        else:
            spans.append((head.start(), agency.end()))
    return spans


def junk_spans(text: str) -> list[tuple[int, int]]:
    """Return sorted, non-overlapping (start, end) spans of ``text`` that are page junk."""
    spans: list[tuple[int, int]] = []
    for match in _LINE.finditer(text):
        line = match.group()
        if not line:
            break
        start, end = match.start(), match.end()
        stripped = line.strip()
        if stripped and _TRAILER_HEADINGS.match(stripped):
            if start > len(text) // 3:
                spans.append((start, len(text)))
                return spans
            spans.append((start, end))  # early on it ends nothing, but the heading itself is no article text
            continue
        if stripped and _JUNK_LINES.search(stripped):
            spans.append((start, end))
    return spans


def is_junk(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """True when the span [start, end) overlaps any junk span."""
    return any(start < junk_end and junk_start < end for junk_start, junk_end in spans)
