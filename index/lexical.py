"""The side index over the store's sentences: a sentence table and BM25, one per store generation.

Chroma stays the source of truth and does the dense search; everything else an ask needs
(sentence texts and offsets, neighbours, one float32 embedding matrix, article titles,
vectors and readiness, BM25 and term statistics) comes from this in-memory copy, built
once per store ``generation()`` and saved beside the store, so that the next process loads
it instead of reading every sentence out of Chroma and tokenising it again.

Saved format (no pickle anywhere): a directory named after the generation holding
``table.json`` (strings, article records, term statistics), ``.npy`` arrays written and read
with ``allow_pickle=False`` (among them BM25's precomputed score matrix, as ``bm25s`` builds it:
only building needs ``bm25s`` and the scipy it imports; scoring is a few numpy calls). A saved
copy is used only when its generation is the store's current one and its row count matches
the store's; anything unreadable or inconsistent is deleted and rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

import numpy as np

from index.store import READY, StoredSentence
from index.terms import acronyms, remember_terms, terms

FORMAT = 2  # 2: numbers spelt out are terms in digits
EMPTY_TOKEN = "∅"  # bm25s needs a token in every document
_COLUMNS = ("doc", "position", "start", "end", "day", "source")
_ARRAY_TYPES = {
    "columns": np.int64,
    "embeddings": np.float32,
    "article_vectors": np.float32,
    "term_ids": np.int32,
    "term_offsets": np.int64,
    "bm25_data": np.float32,
    "bm25_indices": np.int32,
    "bm25_indptr": np.int64,
}


class LexicalIndex:
    """Sentence table plus sentence-level BM25. A sentence's BM25 terms include its speaker,
    so "He told…" matches the name. Rows keep Chroma's order (ties in BM25 break by row)."""

    def __init__(
        self,
        generation: str,
        node_ids: list[str],
        texts: list[str],
        speakers: list[str],
        kinds: list[str],
        columns: np.ndarray,  # int64 (rows, len(_COLUMNS))
        embeddings: np.ndarray,  # float32 (rows, dim)
        source_names: list[str],
        articles: list[dict],  # one record per doc index: doc_id, state, title, source, published, url...
        article_vectors: np.ndarray,  # float32 (articles, dim)
        term_ids: np.ndarray,  # int32: the sentence texts' terms as ids into term_vocab, concatenated
        term_offsets: np.ndarray,  # int64 (rows + 1,)
        term_vocab: list[str],
        document_frequency: dict[str, int],
        acronym_set: set[str],
        bm25_vocab: dict[str, int],
        bm25_scores: dict[str, np.ndarray],  # bm25s's CSC score matrix: data, indices, indptr
    ):
        self.generation = generation
        self.node_ids = node_ids
        self.texts = texts
        self.speakers = speakers
        self.kinds = kinds
        self.columns = columns
        self.embeddings = embeddings
        self.source_names = source_names
        self.articles = articles
        self.article_vectors = article_vectors
        self.term_ids = term_ids
        self.term_offsets = term_offsets
        self.term_vocab = term_vocab
        self.document_frequency = document_frequency
        self.acronyms = acronym_set  # "icc" for "International Criminal Court"
        self.bm25_vocab = bm25_vocab
        self.bm25_scores = bm25_scores
        self._idf: dict[str, float] = {}
        self.row_of = {node_id: row for row, node_id in enumerate(node_ids)}
        self.article_of = {record["doc_id"]: i for i, record in enumerate(articles)}
        self.ready = np.array([record.get("state") == READY for record in articles], dtype=bool)
        self.doc_ids = np.array([articles[d]["doc_id"] for d in columns[:, 0]], dtype=object)
        self._check()

    def _check(self) -> None:
        """Raise ValueError if the parts disagree (a damaged or foreign saved copy)."""
        rows = len(self.node_ids)
        sizes = {len(self.texts), len(self.speakers), len(self.kinds), self.columns.shape[0], self.embeddings.shape[0], len(self.term_offsets) - 1}
        if sizes != {rows} or self.columns.shape[1:] != (len(_COLUMNS),) or len(self.article_vectors) != len(self.articles):
            raise ValueError(f"sentence table parts disagree: {rows} rows vs {sorted(sizes)}")
        if rows and (self.columns[:, 0].max() >= len(self.articles) or self.columns[:, 5].max() >= len(self.source_names)):
            raise ValueError("sentence table refers to unknown articles or sources")
        if len(self.term_ids) and (self.term_offsets[-1] != len(self.term_ids) or self.term_ids.max() >= len(self.term_vocab)):
            raise ValueError("sentence table terms are out of range")
        data, indices, indptr = (self.bm25_scores[name] for name in ("data", "indices", "indptr"))
        if len(data) != len(indices) or len(indptr) != len(self.bm25_vocab) + 1 or (len(indptr) and indptr[-1] != len(data)):
            raise ValueError("BM25 score matrix is inconsistent")
        if len(indices) and indices.max() >= rows:
            raise ValueError("BM25 index does not match the sentence table")

    # --- building -----------------------------------------------------------

    @classmethod
    def build(cls, store, generation: str) -> "LexicalIndex":
        """Read every sentence and article record out of the store (a few bulk gets) and index them."""
        node_ids, texts, speakers, kinds, metas, vectors = [], [], [], [], [], []
        for ids, page_texts, page_metas, page_vectors in store.sentence_pages():
            node_ids += ids
            texts += page_texts
            metas += page_metas
            vectors.append(page_vectors)
        article_ids, article_metas, article_vectors = store.article_rows()
        articles = [_article_record(doc_id, meta) for doc_id, meta in zip(article_ids, article_metas)]
        article_of = {record["doc_id"]: i for i, record in enumerate(articles)}
        dimension = vectors[0].shape[1] if vectors else (article_vectors.shape[1] if len(article_ids) else 0)
        if not len(article_ids):
            article_vectors = np.zeros((0, dimension), dtype=np.float32)

        source_names: list[str] = []
        source_of: dict[str, int] = {}
        columns = np.zeros((len(node_ids), len(_COLUMNS)), dtype=np.int64)
        term_vocab: list[str] = []
        term_index: dict[str, int] = {}
        term_ids: list[int] = []
        term_offsets = [0]
        document_frequency: dict[str, int] = {}
        acronym_set: set[str] = set()
        corpus = []
        for row, (text, meta) in enumerate(zip(texts, metas)):
            doc_id = meta["doc_id"]
            if doc_id not in article_of:  # sentences whose record is gone: kept (Chroma has them), never ready
                article_of[doc_id] = len(articles)
                articles.append({"doc_id": doc_id, "state": "missing"})
                article_vectors = np.vstack([article_vectors, np.zeros((1, dimension), dtype=np.float32)])
            source = meta.get("source") or ""
            if source not in source_of:
                source_of[source] = len(source_names)
                source_names.append(source)
            columns[row] = (article_of[doc_id], int(meta["position"]), int(meta["start"]), int(meta["end"]), int(meta.get("published_day", 0)), source_of[source])
            speaker = meta.get("speaker", "")
            speakers.append(speaker)
            kinds.append(meta.get("kind", "body"))
            acronym_set.update(acronyms(text))
            own = terms(text)
            tokens = own + terms(speaker)  # == terms(text + " " + speaker): words never span a space
            for term in set(tokens):
                document_frequency[term] = document_frequency.get(term, 0) + 1
            corpus.append(tokens or [EMPTY_TOKEN])
            for term in own:
                if term not in term_index:
                    term_index[term] = len(term_vocab)
                    term_vocab.append(term)
                term_ids.append(term_index[term])
            term_offsets.append(len(term_ids))
        bm25_vocab: dict[str, int] = {}
        bm25_scores = {"data": np.zeros(0, np.float32), "indices": np.zeros(0, np.int32), "indptr": np.zeros(1, np.int64)}
        if corpus:
            import bm25s  # only to build: it imports scipy, which asking never needs

            bm25 = bm25s.BM25()
            bm25.index(corpus, show_progress=False)
            bm25_scores = {name: np.asarray(bm25.scores[name], dtype=_ARRAY_TYPES[f"bm25_{name}"]) for name in ("data", "indices", "indptr")}
            columns_held = len(bm25_scores["indptr"]) - 1  # bm25s also lists "", which has no column
            bm25_vocab = {str(token): int(i) for token, i in bm25.vocab_dict.items() if int(i) < columns_held}
        return cls(
            generation=generation,
            node_ids=node_ids,
            texts=texts,
            speakers=speakers,
            kinds=kinds,
            columns=columns,
            embeddings=np.concatenate(vectors) if vectors else np.zeros((0, dimension), dtype=np.float32),
            source_names=source_names,
            articles=articles,
            article_vectors=np.ascontiguousarray(article_vectors, dtype=np.float32),
            term_ids=np.asarray(term_ids, dtype=np.int32),
            term_offsets=np.asarray(term_offsets, dtype=np.int64),
            term_vocab=term_vocab,
            document_frequency=document_frequency,
            acronym_set=acronym_set,
            bm25_vocab=bm25_vocab,
            bm25_scores=bm25_scores,
        )

    # --- questions ------------------------------------------------------------

    def knows(self, term: str) -> bool:
        """Does any sentence contain the term (or, for an acronym, the words it stands for)?"""
        return term in self.document_frequency or term in self.acronyms

    def __len__(self) -> int:
        return len(self.node_ids)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over sentences; unseen terms get the largest value.
        Memoised: scoring asks for the same few terms thousands of times per question."""
        found = self._idf.get(term)
        if found is None:
            n = max(len(self), 1)
            found = self._idf[term] = float(np.log(1 + (n + 1) / (self.document_frequency.get(term, 0) + 0.5)))
        return found

    def search(self, query_terms: list[str], k: int, allowed: Optional[np.ndarray] = None) -> list[tuple[str, float]]:
        """Top ``k`` (node_id, score) with a positive score; ``allowed`` is a boolean mask over rows."""
        if not len(self):
            return []
        known = [self.bm25_vocab[t] for t in query_terms if t in self.bm25_vocab]
        if not known:
            return []
        scores = self._bm25_scores(known)
        if allowed is not None:
            scores = scores * allowed
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.node_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _bm25_scores(self, token_ids: list[int]) -> np.ndarray:
        """BM25 score of every row for the query tokens: what ``bm25s.BM25.get_scores`` computes
        (Lucene variant, float32, the same additions in the same order)."""
        data, indices, indptr = self.bm25_scores["data"], self.bm25_scores["indices"], self.bm25_scores["indptr"]
        scores = np.zeros(len(self), dtype=data.dtype)
        for token in token_ids:
            start, end = indptr[token], indptr[token + 1]
            np.add.at(scores, indices[start:end], data[start:end])
        return scores

    def allowed(self, sources: list[str], day_from: int, day_to: int) -> np.ndarray:
        """float32 mask over rows: 1 where the sentence's source is one of ``sources`` (any if
        empty) and its published day is within [day_from, day_to] (0: unbounded)."""
        mask = np.ones(len(self), dtype=bool)
        if sources:
            wanted = [i for i, name in enumerate(self.source_names) if name in set(sources)]
            mask &= np.isin(self.columns[:, 5], wanted)
        if day_from:
            mask &= self.columns[:, 4] >= day_from
        if day_to:
            mask &= self.columns[:, 4] <= day_to
        return mask.astype(np.float32)

    def row(self, node_id: str) -> Optional[StoredSentence]:
        """The stored sentence ``node_id`` (None if unknown)."""
        row = self.row_of.get(node_id)
        if row is None:
            return None
        doc, position, start, end, _, _ = self.columns[row].tolist()
        return StoredSentence(
            node_id=node_id,
            doc_id=self.articles[doc]["doc_id"],
            position=position,
            start=start,
            end=end,
            text=self.texts[row],
            kind=self.kinds[row],
            speaker=self.speakers[row],
            embedding=self.embeddings[row],
        )

    def article_texts(self, doc_id: str) -> list[str]:
        """The stored sentences of an article, in reading order."""
        index = self.article_of.get(doc_id)
        if index is None:
            return []
        rows = np.flatnonzero(self.columns[:, 0] == index)
        return [self.texts[row] for row in rows[np.argsort(self.columns[rows, 1], kind="stable")]]

    def article_ready(self, doc_id: str) -> bool:
        """Is the article completely written (so it may be cited)?"""
        index = self.article_of.get(doc_id)
        return index is not None and bool(self.ready[index])

    def article_vector(self, doc_id: str) -> Optional[np.ndarray]:
        index = self.article_of.get(doc_id)
        return None if index is None else self.article_vectors[index]

    def article_meta(self, doc_id: str) -> Optional[dict]:
        """The article's stored metadata as of this generation (title, source, published, url…)."""
        index = self.article_of.get(doc_id)
        return None if index is None else {k: v for k, v in self.articles[index].items() if k != "doc_id"}

    # --- saving and loading ---------------------------------------------------

    def save(self, side_dir: Path) -> None:
        """Write this index under ``side_dir/<generation>`` (atomically: a temporary directory renamed
        into place), then drop copies of other generations."""
        if not _safe_name(self.generation):
            return
        side_dir.mkdir(parents=True, exist_ok=True)
        final = side_dir / self.generation
        if final.exists():
            return
        temporary = side_dir / f".tmp-{uuid.uuid4().hex}"
        temporary.mkdir()
        try:
            table = {
                "format": FORMAT,
                "generation": self.generation,
                "rows": len(self),
                "node_ids": self.node_ids,
                "texts": self.texts,
                "speakers": self.speakers,
                "kinds": self.kinds,
                "source_names": self.source_names,
                "articles": self.articles,
                "term_vocab": self.term_vocab,
                "document_frequency": self.document_frequency,
                "acronyms": sorted(self.acronyms),
                "bm25_vocab": self.bm25_vocab,
            }
            (temporary / "table.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
            for name, array in self._arrays().items():
                np.save(temporary / f"{name}.npy", array, allow_pickle=False)
            os.rename(temporary, final)  # fails if another process got there first: theirs is as good
        except OSError:
            shutil.rmtree(temporary, ignore_errors=True)
            return
        _drop_other_generations(side_dir, keep=self.generation)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "columns": self.columns,
            "embeddings": self.embeddings,
            "article_vectors": self.article_vectors,
            "term_ids": self.term_ids,
            "term_offsets": self.term_offsets,
            **{f"bm25_{name}": array for name, array in self.bm25_scores.items()},
        }

    @classmethod
    def load(cls, side_dir: Path, generation: str, rows: int) -> "LexicalIndex":
        """The saved index of ``generation``; raises (FileNotFoundError, ValueError…) if there is
        none, or it is damaged, or it does not hold ``rows`` sentences."""
        if not _safe_name(generation):
            raise FileNotFoundError("no saved index for an empty generation")
        folder = side_dir / generation
        table = json.loads((folder / "table.json").read_text(encoding="utf-8"))
        if table.get("format") != FORMAT or table.get("generation") != generation or table.get("rows") != rows:
            raise ValueError(f"saved index is for another store state ({folder})")
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAY_TYPES}
        for name, dtype in _ARRAY_TYPES.items():
            if arrays[name].dtype != dtype:
                raise ValueError(f"{name}.npy holds {arrays[name].dtype}, not {np.dtype(dtype)}")
        index = cls(
            generation=generation,
            node_ids=table["node_ids"],
            texts=table["texts"],
            speakers=table["speakers"],
            kinds=table["kinds"],
            columns=arrays["columns"],
            embeddings=arrays["embeddings"],
            source_names=table["source_names"],
            articles=table["articles"],
            article_vectors=arrays["article_vectors"],
            term_ids=arrays["term_ids"],
            term_offsets=arrays["term_offsets"],
            term_vocab=table["term_vocab"],
            document_frequency=table["document_frequency"],
            acronym_set=set(table["acronyms"]),
            bm25_vocab=table["bm25_vocab"],
            bm25_scores={name: arrays[f"bm25_{name}"] for name in ("data", "indices", "indptr")},
        )
        index.prime_terms()
        return index

    def prime_terms(self) -> None:
        """Tell ``terms()`` what every sentence's terms are (as scoring asks for them), so the first
        questions after a load do not tokenise the candidates again."""
        vocab, ids, offsets = self.term_vocab, self.term_ids.tolist(), self.term_offsets.tolist()
        speaker_terms = {speaker: terms(speaker) for speaker in set(self.speakers)}
        primed = []
        for row, (text, speaker) in enumerate(zip(self.texts, self.speakers)):
            own = [vocab[i] for i in ids[offsets[row] : offsets[row + 1]]]
            primed.append((text, own))
            primed.append((text + " " + speaker, own + speaker_terms[speaker]))
        remember_terms(primed)


def load_or_build(store, generation: str) -> LexicalIndex:
    """The side index of the store as of ``generation`` (read before calling): the saved copy
    when there is a good one, else built from the store and saved for the next process."""
    side_dir = store.side_dir
    if side_dir is not None and _safe_name(generation):
        try:
            return LexicalIndex.load(side_dir, generation, rows=store.sentence_count())
        except Exception:  # none yet, or damaged, or stale: drop what is there and rebuild below
            shutil.rmtree(side_dir / generation, ignore_errors=True)
    index = LexicalIndex.build(store, generation)
    index.prime_terms()
    if side_dir is not None and _safe_name(generation) and store.generation() == generation:
        index.save(side_dir)  # only a snapshot no write overlapped
    return index


def _article_record(doc_id: str, meta: dict) -> dict:
    """What the table keeps of an article record: everything but the writer's bookkeeping."""
    return {"doc_id": doc_id, **{k: v for k, v in meta.items() if k not in ("writer", "writing_since")}}


def _safe_name(generation: str) -> bool:
    return bool(generation) and generation.isalnum() and len(generation) <= 64


def _drop_other_generations(side_dir: Path, keep: str, stale_temporary: float = 3600) -> None:
    """Remove saved copies of other generations and temporary directories abandoned long ago."""
    for entry in side_dir.iterdir():
        if entry.name == keep:
            continue
        if entry.name.startswith(".tmp-"):
            try:
                if time.time() - entry.stat().st_mtime < stale_temporary:
                    continue  # another process may be writing it right now
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)
