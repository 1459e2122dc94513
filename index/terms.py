"""Terms: the lowercase, stemmed content words that lexical search and coverage checks share."""

from __future__ import annotations

import re
import threading
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


# Snowball leaves irregular forms apart ("met" vs "meet"); map the common ones to their lemma.
_IRREGULAR = dict(
    pair.split(":")
    for pair in """met:meet said:say says:say told:tell went:go gone:go took:take taken:take made:make held:hold
    gave:give given:give came:come saw:see seen:see knew:know known:know thought:think brought:bring
    bought:buy built:build began:begin begun:begin ran:run won:win lost:lose left:leave kept:keep
    sent:send spent:spend paid:pay fell:fall fallen:fall led:lead felt:feel found:find got:get
    gotten:get grew:grow grown:grow hit:hit hurt:hurt laid:lay lay:lie meant:mean put:put read:read
    rose:rise risen:rise sold:sell shot:shoot spoke:speak spoken:speak stood:stand struck:strike
    taught:teach threw:throw thrown:throw understood:understand wrote:write written:write drove:drive
    driven:drive ate:eat eaten:eat fought:fight flew:fly flown:fly forgot:forget broke:break
    broken:break chose:choose chosen:choose sought:seek caught:catch drew:draw drawn:draw
    killed:kill died:die dead:die deaths:die death:die children:child men:man women:woman people:person""".split()
)


# Numbers match whether spelt out or in digits: "seventh visit" and "7th visit".
_CARDINALS = "one two three four five six seven eight nine ten eleven twelve".split()
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
_NUMBER_WORDS = {
    **{word: str(n) for n, word in enumerate(_CARDINALS, start=1)},
    **{word: f"{n}{'st' if n == 1 else 'nd' if n == 2 else 'rd' if n == 3 else 'th'}" for n, word in enumerate(_ORDINALS, start=1)},
}


def _lemma(word: str) -> str:
    """The word before stemming: possessive dropped, irregular forms mapped to their lemma,
    numbers up to twelve written in digits."""
    word = word[:-2] if word.endswith("'s") else word
    return _NUMBER_WORDS.get(word) or _IRREGULAR.get(word, word)


def stem(word: str) -> str:
    return _stemmer().stemWord(_lemma(word))


def _compute_terms(text: str) -> tuple[str, ...]:
    kept = [_lemma(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return tuple(_stemmer().stemWords(kept))  # one call for the whole list, as stem() does per word


CACHE_SIZE = 1 << 14
"""Texts whose terms are kept: questions, speaker names and titles, which scoring meets again and
again. Stored sentences are not cached here: the sentence table keeps their terms as ids."""


class _TermsCache:
    """text -> terms, bounded (oldest entries go first), safe to share between threads."""

    def __init__(self, size: int):
        self.size = size
        self.entries: dict[str, tuple[str, ...]] = {}
        self.lock = threading.Lock()

    def get(self, text: str, compute) -> tuple[str, ...]:
        found = self.entries.get(text)
        if found is None:
            found = compute(text)
            self.put(text, found)
        return found

    def put(self, text: str, value: tuple[str, ...]) -> None:
        with self.lock:
            self.entries[text] = value
            while len(self.entries) > self.size:
                del self.entries[next(iter(self.entries))]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


_terms_cache = _TermsCache(CACHE_SIZE)
_acronyms_cache = _TermsCache(CACHE_SIZE // 4)


def terms(text: str, cache: bool = True) -> list[str]:
    """Stemmed content words of ``text``, in order, stopwords removed (cached per text unless
    ``cache`` is False: the sentence table tokenises each stored sentence once and keeps the result).

    Words never span whitespace, so ``terms(a + " " + b) == terms(a) + terms(b)``."""
    return list(_terms_cache.get(text, _compute_terms) if cache else _compute_terms(text))


def written_forms(text: str, term: str) -> list[str]:
    """The words of ``text`` whose term is ``term``, as written there (a possessive "'s" dropped),
    leaving out a sentence's first word, which is capitalised by grammar."""
    found = []
    for match in _WORD.finditer(text):
        word = match.group().strip(".")
        if text[: match.start()].strip(" \"'“‘(«") and stem(word.lower().replace("’", "'")) == term:
            found.append(re.sub(r"[’']s$", "", word))
    return found


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def spelling_variants(word: str) -> set[str]:
    """Every lowercase string one slip away from ``word``: a letter left out, added, changed, or two
    letters swapped ("netanjahu" gives "netanyahu", "rafa" gives "rafah")."""
    word = word.lower()
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    found = {a + b[1:] for a, b in splits if b}
    found |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    found |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    found |= {a + c + b for a, b in splits for c in _LETTERS}
    found.discard(word)
    return found


_CAPITALISED_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|for\s+|the\s+)*[A-Z][a-z]+)+")
_MINOR = {"of", "for", "the"}


def acronyms(text: str, cache: bool = True) -> set[str]:
    """Stemmed acronyms of capitalised phrases: "International Criminal Court" gives "icc" (cached per
    text unless ``cache`` is False)."""
    return set(_acronyms_cache.get(text, _compute_acronyms) if cache else _compute_acronyms(text))


def _compute_acronyms(text: str) -> tuple[str, ...]:
    found = set()
    for match in _CAPITALISED_RUN.finditer(text):
        initials = [w[0].lower() for w in match.group().split() if w.lower() not in _MINOR]
        for size in range(2, min(6, len(initials)) + 1):
            for start in range(len(initials) - size + 1):
                found.add(stem("".join(initials[start : start + size])))
    return tuple(sorted(found))
