"""Hybrid sentence retrieval: dense (MiniLM in Chroma) and lexical (BM25) fused by reciprocal rank.

Each candidate comes back with its neighbours and its article's title and vector, so
scoring can look at context while only the sentence itself is ever cited.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from index.embedder import Embedder
from index.lexical import LexicalIndex
from index.store import READY, Store, StoredSentence, published_day

RRF_K = 60


@dataclass
class Filters:
    """Metadata filters applied to retrieval: article sources and a published-date range."""

    sources: list[str] = field(default_factory=list)
    published_from: str = ""  # YYYY-MM-DD, inclusive
    published_to: str = ""

    def where(self) -> Optional[dict]:
        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.published_from:
            clauses.append({"published_day": {"$gte": published_day(self.published_from)}})
        if self.published_to:
            clauses.append({"published_day": {"$lte": published_day(self.published_to)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, meta: dict) -> bool:
        day = int(meta.get("published_day", 0))
        if self.sources and meta.get("source") not in self.sources:
            return False
        if self.published_from and day < published_day(self.published_from):
            return False
        if self.published_to and day > published_day(self.published_to):
            return False
        return True

    def __bool__(self) -> bool:
        return bool(self.sources or self.published_from or self.published_to)


@dataclass
class Candidate:
    """A retrieved sentence with what scoring needs to know about it and around it."""

    sentence: StoredSentence
    fused: float  # reciprocal-rank fusion score
    bm25: float = 0.0
    dense: float = 0.0  # cosine similarity of the sentence to the question
    context_dense: float = 0.0  # best cosine of a neighbour or the whole article
    neighbours: list[StoredSentence] = field(default_factory=list)
    title: str = ""


class Retriever:
    """Finds candidate sentences for a question over everything in a ``Store``."""

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._lexical: Optional[LexicalIndex] = None
        self._lexical_generation = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._lexical = None

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, rebuilt when the store's generation token shows a write by any process."""
        generation = self.store.generation()  # changes on every write, by any process
        with self._lock:
            if self._lexical is None or generation != self._lexical_generation:
                self._lexical = LexicalIndex(list(self.store.iter_sentences()))
                self._lexical_generation = generation
            return self._lexical

    def candidates(
        self, text: str, query_terms: list[str], filters: Filters, k: int = 40, extra_terms: list[str] = ()
    ) -> list[Candidate]:
        vector = self.embedder.encode_query(text)
        lexical = self.lexical
        dense_hits = self.store.search(vector, k, filters.where())
        allowed = None
        if filters:
            allowed = np.array([filters.allows(meta) for meta in lexical.metadata], dtype=np.float32)
        lexical_hits = lexical.search(list(query_terms) + list(extra_terms), k, allowed)

        fused: dict[str, float] = {}
        for rank, hit in enumerate(dense_hits):
            fused[hit.node_id] = fused.get(hit.node_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        bm25 = dict(lexical_hits)
        for rank, (node_id, _) in enumerate(lexical_hits):
            fused[node_id] = fused.get(node_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        if not fused:
            return []

        ranked = sorted(fused, key=fused.get, reverse=True)[: int(k * 1.5)]
        wanted = set(ranked)
        for node_id in ranked:
            doc_id, position = node_id.rsplit("#", 1)
            wanted.update({f"{doc_id}#{int(position) - 1}", f"{doc_id}#{int(position) + 1}"})
        stored = self.store.get_sentences(sorted(wanted), with_embeddings=True)
        doc_ids = sorted({stored[n].doc_id for n in ranked if n in stored})
        doc_vectors, titles = self._ready_articles(doc_ids)

        result = []
        for node_id in ranked:
            sentence = stored.get(node_id)
            if sentence is None or sentence.doc_id not in titles:
                continue  # never cite an article that is still being written
            neighbours = [
                stored[n]
                for n in (f"{sentence.doc_id}#{sentence.position - 1}", f"{sentence.doc_id}#{sentence.position + 1}")
                if n in stored
            ]
            dense = float(sentence.embedding @ vector)
            context = [float(n.embedding @ vector) for n in neighbours]
            if sentence.doc_id in doc_vectors:
                context.append(float(doc_vectors[sentence.doc_id] @ vector))
            result.append(
                Candidate(
                    sentence=sentence,
                    fused=fused[node_id],
                    bm25=bm25.get(node_id, 0.0),
                    dense=dense,
                    context_dense=max(context, default=0.0),
                    neighbours=neighbours,
                    title=titles.get(sentence.doc_id, ""),
                )
            )
        return result

    def _ready_articles(self, doc_ids: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Vectors and titles of those articles that are completely written."""
        if not doc_ids:
            return {}, {}
        got = self.store.articles.get(ids=doc_ids, where={"state": READY}, include=["embeddings", "metadatas"])
        vectors = {d: np.asarray(e, dtype=np.float32) for d, e in zip(got["ids"], got["embeddings"])}
        titles = {d: m.get("title", "") for d, m in zip(got["ids"], got["metadatas"])}
        return vectors, titles

