"""Hybrid sentence retrieval: dense (MiniLM in Chroma) and lexical (BM25) fused by reciprocal rank.

Each candidate comes back with its neighbours and its article's title and vector, so
scoring can look at context while only the sentence itself is ever cited.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Optional

from index.embedder import Embedder
from index.lexical import LexicalIndex, load_or_build
from index.store import Store, StoredSentence, published_day

RRF_K = 60


@dataclass
class Filters:
    """Which articles a question may cite.

    ``sources``: each a source as stored (a URL or path) or a site ("example-news.com" keeps every
    article from that host, ``site_of``); none: all. ``published_from`` / ``published_to``: YYYY-MM-DD,
    inclusive. An article without a date is outside every date range: with either date set, only
    articles whose date is known to be in the range are searched. A date that is not a real
    YYYY-MM-DD date, or a range that ends before it starts, raises ValueError saying so.
    """

    sources: list[str] = field(default_factory=list)
    published_from: str = ""
    published_to: str = ""

    def __post_init__(self) -> None:
        sources = [self.sources] if isinstance(self.sources, str) else self.sources  # one site given alone
        self.sources = [s.strip() for s in sources or [] if s and s.strip()]
        self.published_from = _checked_day(self.published_from, "From")
        self.published_to = _checked_day(self.published_to, "To")
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise ValueError(f"From date {self.published_from} is after To date {self.published_to}.")

    def __bool__(self) -> bool:
        return bool(self.sources or self.published_from or self.published_to)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _checked_day(value: str, label: str) -> str:
    """"" or a real YYYY-MM-DD date; anything else raises a message for the user."""
    value = (value or "").strip()
    if not value:
        return ""
    if not _DAY.fullmatch(value):
        raise ValueError(f"{label} date must be written YYYY-MM-DD (e.g. 2024-05-01), not “{value}”.")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label} date {value} is not a real date.") from None
    return value


@dataclass
class Candidate:
    """A retrieved sentence with what scoring needs to know about it and around it."""

    sentence: StoredSentence
    fused: float  # reciprocal-rank fusion score
    bm25: float = 0.0
    dense: float = 0.0  # cosine similarity of the sentence to the question
    neighbours: list[StoredSentence] = field(default_factory=list)
    title: str = ""
    # From the sentence table's stored term ids, so scoring never tokenises stored sentences again:
    terms: list[str] = field(default_factory=list)  # terms(sentence.text + " " + sentence.speaker)
    neighbour_terms: list[list[str]] = field(default_factory=list)  # terms(n.text) of each neighbour
    probability: Optional[float] = None  # the reranker's, that it answers the question (None: not reranked)


class Retriever:
    """Finds candidate sentences for a question over everything in a ``Store``."""

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._lexical: Optional[LexicalIndex] = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._lexical = None

    @property
    def lexical(self) -> LexicalIndex:
        """The sentence table and BM25 index of the store's current generation: loaded from its
        saved copy, or updated from the one held, when the generation token shows a write by any process."""
        return self.table(self.store.generation())  # the token changes on every write, by any process

    def table(self, generation: str) -> LexicalIndex:
        """The sentence table as of ``generation`` (a token the caller has just read)."""
        with self._lock:
            if self._lexical is None or generation != self._lexical.generation:
                self._lexical = load_or_build(self.store, generation, previous=self._lexical)
            return self._lexical

    def candidates(
        self,
        text: str,
        query_terms: list[str],
        filters: Filters,
        k: int = 40,
        extra_terms: list[str] = (),
        table: Optional[LexicalIndex] = None,
    ) -> list[Candidate]:
        """Candidates for the question ``text``; pass ``table`` (this ask's ``lexical``) when the
        caller already holds it, to save reading the generation token again."""
        vector = self.embedder.encode_query(text)
        table = self.lexical if table is None else table
        allowed = None
        if filters:
            # Filtered: exact nearest neighbours among the allowed rows of the table, the same mask BM25 uses.
            allowed = table.allowed(filters.sources, published_day(filters.published_from), published_day(filters.published_to))
            dense_hits = table.nearest(vector, k, allowed)
        else:
            dense_hits = self.store.nearest(vector, k, count=len(table))
        lexical_hits = table.search(list(query_terms) + list(extra_terms), k, allowed)

        fused: dict[str, float] = {}
        for rank, node_id in enumerate(dense_hits):
            fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        bm25 = dict(lexical_hits)
        for rank, (node_id, _) in enumerate(lexical_hits):
            fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        if not fused:
            return []

        result = []
        for node_id in sorted(fused, key=fused.get, reverse=True)[: int(k * 1.5)]:
            row = table.row_of(node_id)
            if row is None:
                continue  # written after this table was built: never cited
            sentence = table.sentence(row)
            if not table.article_ready(sentence.doc_id):
                continue  # an article still being written: never cited
            around = [table.find(sentence.doc_id, sentence.position + step) for step in (-1, 1)]
            around = [r for r in around if r is not None]
            neighbours = [table.sentence(r) for r in around]
            result.append(
                Candidate(
                    sentence=sentence,
                    fused=fused[node_id],
                    bm25=bm25.get(node_id, 0.0),
                    dense=float(sentence.embedding @ vector),
                    neighbours=neighbours,
                    title=table.article_meta(sentence.doc_id).get("title", ""),
                    terms=table.row_terms(row),
                    neighbour_terms=[table.text_terms(r) for r in around],
                )
            )
        return result

