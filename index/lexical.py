"""BM25 over sentences (bm25s), rebuilt from the store whenever the store has changed."""

from __future__ import annotations

from typing import Optional

import numpy as np

from index.terms import acronyms, terms


class LexicalIndex:
    """Sentence-level BM25. A sentence's terms include its speaker, so "He told…" matches the name."""

    def __init__(self, rows: list[tuple[str, str, dict]]):
        import bm25s

        self.node_ids = [node_id for node_id, _, _ in rows]
        self.metadata = [meta for _, _, meta in rows]
        self.doc_ids = np.array([meta["doc_id"] for meta in self.metadata], dtype=object)
        self.document_frequency: dict[str, int] = {}
        self.acronyms: set[str] = set()  # "icc" for "International Criminal Court"
        corpus = []
        for _, text, meta in rows:
            self.acronyms.update(acronyms(text))
            tokens = terms(text + " " + meta.get("speaker", ""))
            for term in set(tokens):
                self.document_frequency[term] = self.document_frequency.get(term, 0) + 1
            corpus.append(tokens or ["∅"])  # bm25s needs a token in every document
        self.bm25 = bm25s.BM25()
        if corpus:
            self.bm25.index(corpus, show_progress=False)

    def knows(self, term: str) -> bool:
        """Does any sentence contain the term (or, for an acronym, the words it stands for)?"""
        return term in self.document_frequency or term in self.acronyms

    def __len__(self) -> int:
        return len(self.node_ids)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over sentences; unseen terms get the largest value."""
        n = max(len(self), 1)
        return float(np.log(1 + (n + 1) / (self.document_frequency.get(term, 0) + 0.5)))

    def search(self, query_terms: list[str], k: int, allowed: Optional[np.ndarray] = None) -> list[tuple[str, float]]:
        """Top ``k`` (node_id, score) with a positive score; ``allowed`` is a boolean mask over rows."""
        if not len(self):
            return []
        known = [t for t in query_terms if t in self.bm25.vocab_dict]
        if not known:
            return []
        scores = self.bm25.get_scores(known)
        if allowed is not None:
            scores = scores * allowed
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.node_ids[i], float(scores[i])) for i in top if scores[i] > 0]
