"""Terms: the lowercase, stemmed content words that lexical search and coverage checks share."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[^\W_]+(?:[’'][^\W_]+)*(?:[.-][^\W_]+)*")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself yourselves s t don didn doesn isn wasn weren won wouldn
    shouldn couldn ll re ve d m o y according via per upon""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer: Snowball stemmers compiled in C

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lowercase word tokens, keeping abbreviations like ``u.s`` and names like ``o'brien`` whole."""
    return [w.lower().replace("’", "'").strip(".") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    return _stemmer().stemWord(re.sub(r"'s$", "", word))


def terms(text: str) -> list[str]:
    """Stemmed content words of ``text``, in order, stopwords removed."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
