"""The side index over the store's sentences: a sentence table and BM25, one per store generation.

Chroma stays the source of truth and does the dense search; everything else an ask needs
(sentence texts and offsets, neighbours, one float32 embedding matrix, article titles,
vectors and readiness, BM25 and term statistics) comes from this copy, kept per store
``generation()`` and saved beside the store, so that the next process loads it instead of
reading every sentence out of Chroma and tokenising it again.

After a write the copy is *updated*, not rebuilt: the article records (one per article) say
which articles are new, changed or gone; only the sentences of new and changed articles are read
from Chroma and tokenised, and BM25 is recomputed in numpy from the stored term ids. A full
build stays the fallback (no previous copy, or the update does not add up to the store's count).

Per-row data lives in numpy arrays, not Python objects: texts as one UTF-8 byte array with
offsets, speakers, kinds and sources as small name tables indexed from ``columns``, node ids
derived from (article, position). Saved format (no pickle anywhere): a directory named after the
generation holding ``table.json`` (name tables, article records, vocabulary) and ``.npy`` arrays
written and read with ``allow_pickle=False``; the embeddings and text bytes are memory-mapped on
load, since an ask touches only its candidates' rows. A saved copy serves as is only when its
generation is the store's current one and its row count matches the store's; anything unreadable
or inconsistent is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from index.articles import site_of
from index.store import READY, StoredSentence
from index.terms import acronyms, spelling_variants, stem, terms, written_forms

FORMAT = 4  # 2: numpy rows and incremental updates; 3: numbers spelt out are terms in digits; 4: no article vectors
EMPTY_TOKEN = "∅"  # the one token of a sentence without terms, as bm25s needs one in every document
K1, B = 1.5, 0.75  # bm25s's defaults, Lucene variant
_COLUMNS = ("doc", "position", "start", "end", "day", "source", "speaker", "kind")
_DOC, _POSITION, _START, _END, _DAY, _SOURCE, _SPEAKER, _KIND = range(len(_COLUMNS))
_ARRAY_TYPES = {
    "columns": np.int64,
    "embeddings": np.float32,
    "text_bytes": np.uint8,
    "text_offsets": np.int64,
    "term_ids": np.int32,
    "term_offsets": np.int64,
    "bm25_data": np.float32,
    "bm25_indices": np.int32,
    "bm25_indptr": np.int64,
}
_MAPPED = {"embeddings", "text_bytes"}
"""Memory-mapped when loaded: the largest arrays, of which an ask reads few rows. Their pages are
clean page cache shared by every process serving the store (they count in VmRSS once touched)."""


class LexicalIndex:
    """Sentence table plus sentence-level BM25. A sentence's BM25 terms include its speaker,
    so "He told…" matches the name. Ties in BM25 break by row."""

    def __init__(
        self,
        generation: str,
        columns: np.ndarray,  # int64 (rows, len(_COLUMNS))
        embeddings: np.ndarray,  # float32 (rows, dim)
        text_bytes: np.ndarray,  # uint8: the sentence texts in UTF-8, concatenated
        text_offsets: np.ndarray,  # int64 (rows + 1,)
        names: dict[str, list[str]],  # "source", "speaker", "kind" -> the names their columns index
        articles: list[dict],  # one record per doc index: doc_id, state, title, source, published, url...
        vocabulary: list[str],  # every term of texts and speaker names (and EMPTY_TOKEN); ids index BM25 columns
        term_ids: np.ndarray,  # int32: the sentence texts' own terms as vocabulary ids, concatenated
        term_offsets: np.ndarray,  # int64 (rows + 1,)
        acronym_counts: dict[str, int],  # acronym -> sentences whose text yields it
        bm25_scores: dict[str, np.ndarray],  # CSC score matrix (rows x vocabulary): data, indices, indptr
    ):
        self.generation = generation
        self.columns = columns
        self.embeddings = embeddings
        self.text_bytes = text_bytes
        self.text_offsets = text_offsets
        self.names = names
        self.articles = articles
        self.vocabulary = vocabulary
        self.term_ids = term_ids
        self.term_offsets = term_offsets
        self.acronym_counts = acronym_counts
        self.bm25_scores = bm25_scores
        self._idf: dict[str, float] = {}
        self._sites: Optional[list[str]] = None  # site_of each source name, made on the first source filter
        self._closest_names: dict[str, str] = {}
        self.term_index = {term: i for i, term in enumerate(vocabulary)}
        self.article_of = {record["doc_id"]: i for i, record in enumerate(articles)}
        self.ready = np.array([record.get("state") == READY for record in articles], dtype=bool)
        self.document_frequency = np.diff(bm25_scores["indptr"])  # rows holding each term (text or speaker)
        keys = _row_keys(columns)
        self._key_order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[self._key_order]
        self._check()
        self.speaker_term_ids = [self._ids_of(terms(name, cache=False)) for name in names["speaker"]]

    def _check(self) -> None:
        """Raise ValueError if the parts disagree (a damaged or foreign saved copy)."""
        rows = len(self)
        sizes = {self.embeddings.shape[0], len(self.text_offsets) - 1, len(self.term_offsets) - 1}
        if sizes != {rows} or self.columns.shape[1:] != (len(_COLUMNS),):
            raise ValueError(f"sentence table parts disagree: {rows} rows vs {sorted(sizes)}")
        if set(self.names) != {"source", "speaker", "kind"}:
            raise ValueError("sentence table lacks its name tables")
        for column, limit in ((_DOC, len(self.articles)), (_SOURCE, len(self.names["source"])), (_SPEAKER, len(self.names["speaker"])), (_KIND, len(self.names["kind"]))):
            if rows and (self.columns[:, column].min() < 0 or self.columns[:, column].max() >= limit):
                raise ValueError(f"sentence table refers to unknown {_COLUMNS[column]}s")
        if self.text_offsets[-1] != len(self.text_bytes) or (len(self.term_ids) and (self.term_offsets[-1] != len(self.term_ids) or self.term_ids.max() >= len(self.vocabulary))):
            raise ValueError("sentence table texts or terms are out of range")
        if rows and len(np.unique(self._sorted_keys)) != rows:
            raise ValueError("sentence table holds a sentence twice")
        data, indices, indptr = (self.bm25_scores[name] for name in ("data", "indices", "indptr"))
        if len(data) != len(indices) or len(indptr) != len(self.vocabulary) + 1 or (len(indptr) and indptr[-1] != len(data)):
            raise ValueError("BM25 score matrix is inconsistent")
        if len(indices) and indices.max() >= rows:
            raise ValueError("BM25 index does not match the sentence table")

    def _ids_of(self, found: list[str]) -> list[int]:
        try:
            return [self.term_index[term] for term in found]
        except KeyError as exc:
            raise ValueError(f"term {exc} missing from the vocabulary") from None

    # --- building and updating ----------------------------------------------

    @classmethod
    def build(cls, store, generation: str) -> "LexicalIndex":
        """Read every article record, then every sentence, out of the store and index them.
        Records first: a record read as ready then had all its sentences written, so the
        sentences read afterwards are complete (a later rewrite changes the record)."""
        records = _read_articles(store)
        return _assemble(generation, records, None, np.zeros(0, dtype=bool), store.sentence_pages())

    def updated(self, store, generation: str) -> "LexicalIndex":
        """This index brought to the store's state as of ``generation``: rows of articles whose
        record is unchanged and ready (and complete) are kept, the sentences of every other
        recorded article are read from Chroma and tokenised, BM25 is recomputed. Falls back to
        ``build`` when the result does not hold exactly the store's sentence count (sentences
        without a record, or a write that overlapped)."""
        records = _read_articles(store)
        old_counts = np.bincount(self.columns[:, _DOC], minlength=len(self.articles)) if len(self) else np.zeros(len(self.articles), int)
        unchanged = set()
        for record in records:
            old = self.article_of.get(record["doc_id"])
            if old is not None and record.get("state") == READY and self.articles[old] == record and old_counts[old] == record.get("sentences"):
                unchanged.add(old)
        keep = np.isin(self.columns[:, _DOC], sorted(unchanged)) if len(self) else np.zeros(0, dtype=bool)
        kept_ids = {self.articles[d]["doc_id"] for d in unchanged}
        changed = [record["doc_id"] for record in records if record["doc_id"] not in kept_ids]
        index = _assemble(generation, records, self, keep, store.sentences_of(changed))
        if len(index) != store.sentence_count():
            return LexicalIndex.build(store, generation)
        return index

    # --- questions ------------------------------------------------------------

    def knows(self, term: str) -> bool:
        """Does any sentence contain the term (or, for an acronym, the words it stands for)?"""
        i = self.term_index.get(term)
        return (i is not None and self.document_frequency[i] > 0) or term in self.acronym_counts

    def closest_name(self, word: str) -> str:
        """The library's spelling of the name ``word`` misspells by one slip ("Netanjahu" gives
        "Netanyahu", "Rafa" gives "Rafah"), or "" when the library knows ``word`` or has no such name.
        Only names are offered, words written capitalised in most body sentences that hold them, so an
        unknown "Crimea" is never read as "crime"; among several, the one in most sentences."""
        key = word.lower()
        found = self._closest_names.get(key)
        if found is None:
            found = ""
            if not self.knows(stem(key)):
                variants = spelling_variants(key)
                near = {stem(variant) for variant in variants}
                near = [t for t in near if t in self.term_index and self.document_frequency[self.term_index[t]] > 0]
                for term in sorted(near, key=lambda t: (-int(self.document_frequency[self.term_index[t]]), t)):
                    found = self._written_name(term)
                    if found.lower() in variants:  # one slip as written, not only once stemmed ("Taco" is not "Tahoe")
                        break
                    found = ""
            if len(self._closest_names) >= 4096:  # a long-running server meets ever new words
                self._closest_names.clear()
            self._closest_names[key] = found
        return found

    def _written_name(self, term: str, sample: int = 50) -> str:
        """How the body sentences holding ``term`` write it, when that is mostly with a capital; else ""."""
        i = self.term_index[term]
        rows = self.bm25_scores["indices"][self.bm25_scores["indptr"][i] : self.bm25_scores["indptr"][i + 1]]
        body = self.names["kind"].index("body") if "body" in self.names["kind"] else -1
        forms = Counter(form for row in rows[: sample * 4] if self.columns[row, _KIND] == body for form in written_forms(self.text(int(row)), term))
        named = Counter({form: n for form, n in forms.items() if form[:1].isupper()})
        if not named or sum(named.values()) * 3 < sum(forms.values()) * 2:
            return ""
        return named.most_common(1)[0][0]

    def __len__(self) -> int:
        return self.columns.shape[0]

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over sentences; unseen terms get the largest value.
        Memoised: scoring asks for the same few terms thousands of times per question."""
        found = self._idf.get(term)
        if found is None:
            n = max(len(self), 1)
            i = self.term_index.get(term)
            df = int(self.document_frequency[i]) if i is not None else 0
            found = self._idf[term] = float(np.log(1 + (n + 1) / (df + 0.5)))
        return found

    def search(self, query_terms: list[str], k: int, allowed: Optional[np.ndarray] = None) -> list[tuple[str, float]]:
        """Top ``k`` (node_id, score) with a positive score; ``allowed`` is a mask over rows."""
        if not len(self):
            return []
        known = [self.term_index[t] for t in query_terms if t in self.term_index]
        if not known:
            return []
        scores = self._bm25_scores(known)
        if allowed is not None:
            scores = scores * allowed
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.node_id(int(i)), float(scores[i])) for i in top if scores[i] > 0]

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
        """float32 mask over rows: 1 where the sentence's source, or its site (``site_of``), is one of
        ``sources`` (any if empty) and its published day is within [day_from, day_to] (0: unbounded).
        With either bound set, an undated sentence (day 0) is outside the range."""
        mask = np.ones(len(self), dtype=bool)
        if sources:
            wanted = set(sources)
            if self._sites is None:
                self._sites = [site_of(name) for name in self.names["source"]]
            chosen = [i for i, (name, site) in enumerate(zip(self.names["source"], self._sites)) if name in wanted or site in wanted]
            mask &= np.isin(self.columns[:, _SOURCE], chosen)
        if day_from or day_to:
            mask &= self.columns[:, _DAY] > 0
        if day_from:
            mask &= self.columns[:, _DAY] >= day_from
        if day_to:
            mask &= self.columns[:, _DAY] <= day_to
        return mask.astype(np.float32)

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray) -> list[str]:
        """Node ids of the ``k`` allowed rows nearest to ``vector`` (cosine: the embeddings are
        normalised), nearest first: an exact search over the rows a filter keeps."""
        rows = np.flatnonzero(allowed)
        if not len(rows):
            return []
        scores = self.embeddings[rows] @ vector
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self.node_id(int(rows[i])) for i in top]

    def find(self, doc_id: str, position: int) -> Optional[int]:
        """The row of sentence ``position`` of article ``doc_id`` (None if not in the table)."""
        doc = self.article_of.get(doc_id)
        if doc is None or position < 0:
            return None
        key = (doc << 32) | position
        at = int(np.searchsorted(self._sorted_keys, key))
        return int(self._key_order[at]) if at < len(self._sorted_keys) and self._sorted_keys[at] == key else None

    def row_of(self, node_id: str) -> Optional[int]:
        """The row of ``node_id`` ("<doc_id>#<position>"; None if unknown)."""
        doc_id, _, position = node_id.rpartition("#")
        return self.find(doc_id, int(position)) if position.isdigit() else None

    def node_id(self, row: int) -> str:
        return f"{self.articles[self.columns[row, _DOC]]['doc_id']}#{self.columns[row, _POSITION]}"

    @property
    def node_ids(self) -> list[str]:
        """Every row's node id, in row order (built on demand: the table does not keep them)."""
        return [self.node_id(row) for row in range(len(self))]

    @property
    def doc_ids(self) -> np.ndarray:
        """Every row's article id, in row order (built on demand)."""
        return np.array([self.articles[d]["doc_id"] for d in self.columns[:, _DOC]], dtype=object)

    def text(self, row: int) -> str:
        return bytes(self.text_bytes[self.text_offsets[row] : self.text_offsets[row + 1]]).decode("utf-8")

    def text_terms(self, row: int) -> list[str]:
        """``terms(text)`` of the row, from the stored ids: nothing is tokenised again."""
        return [self.vocabulary[i] for i in self.term_ids[self.term_offsets[row] : self.term_offsets[row + 1]]]

    def row_terms(self, row: int) -> list[str]:
        """``terms(text + " " + speaker)`` of the row (what BM25 indexes), from the stored ids."""
        return self.text_terms(row) + [self.vocabulary[i] for i in self.speaker_term_ids[self.columns[row, _SPEAKER]]]

    def sentence(self, row: int) -> StoredSentence:
        doc, position, start, end, _, _, speaker, kind = self.columns[row].tolist()
        return StoredSentence(
            node_id=f"{self.articles[doc]['doc_id']}#{position}",
            doc_id=self.articles[doc]["doc_id"],
            position=position,
            start=start,
            end=end,
            text=self.text(row),
            kind=self.names["kind"][kind],
            speaker=self.names["speaker"][speaker],
            embedding=self.embeddings[row],
        )

    def row(self, node_id: str) -> Optional[StoredSentence]:
        """The stored sentence ``node_id`` (None if unknown)."""
        row = self.row_of(node_id)
        return None if row is None else self.sentence(row)

    def article_texts(self, doc_id: str) -> list[str]:
        """The stored sentences of an article, in reading order."""
        doc = self.article_of.get(doc_id)
        if doc is None:
            return []
        # the (article, position) keys that find() searches hold an article's rows together, in order
        first, end = np.searchsorted(self._sorted_keys, [doc << 32, (doc + 1) << 32])
        return [self.text(int(row)) for row in self._key_order[first:end]]

    def article_ready(self, doc_id: str) -> bool:
        """Is the article completely written (so it may be cited)?"""
        index = self.article_of.get(doc_id)
        return index is not None and bool(self.ready[index])

    def article_meta(self, doc_id: str) -> Optional[dict]:
        """The article's stored metadata as of this generation (title, source, published, url…)."""
        index = self.article_of.get(doc_id)
        return None if index is None else {k: v for k, v in self.articles[index].items() if k != "doc_id"}

    # --- saving and loading ---------------------------------------------------

    def save(self, side_dir: Path) -> bool:
        """Write this index under ``side_dir/<generation>`` (atomically: a temporary directory renamed
        into place), then drop copies of other generations. True if this call saved it."""
        if not _safe_name(self.generation):
            return False
        side_dir.mkdir(parents=True, exist_ok=True)
        final = side_dir / self.generation
        if final.exists():
            return False
        temporary = side_dir / f".tmp-{uuid.uuid4().hex}"
        temporary.mkdir()
        try:
            table = {
                "format": FORMAT,
                "generation": self.generation,
                "rows": len(self),
                "names": self.names,
                "articles": self.articles,
                "vocabulary": self.vocabulary,
                "acronym_counts": self.acronym_counts,
            }
            (temporary / "table.json").write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
            for name, array in self._arrays().items():
                np.save(temporary / f"{name}.npy", array, allow_pickle=False)
            os.rename(temporary, final)  # fails if another process got there first: theirs is as good
        except OSError:
            shutil.rmtree(temporary, ignore_errors=True)
            return False
        _drop_other_generations(side_dir, keep=self.generation)
        return True

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "columns": self.columns,
            "embeddings": self.embeddings,
            "text_bytes": self.text_bytes,
            "text_offsets": self.text_offsets,
            "term_ids": self.term_ids,
            "term_offsets": self.term_offsets,
            **{f"bm25_{name}": array for name, array in self.bm25_scores.items()},
        }

    @classmethod
    def load(cls, side_dir: Path, generation: str, rows: Optional[int] = None) -> "LexicalIndex":
        """The saved index of ``generation``; raises (FileNotFoundError, ValueError…) if there is
        none, or it is damaged, or (``rows`` given) it does not hold ``rows`` sentences."""
        if not _safe_name(generation):
            raise FileNotFoundError("no saved index for an empty generation")
        folder = side_dir / generation
        table = json.loads((folder / "table.json").read_text(encoding="utf-8"))
        if table.get("format") != FORMAT or table.get("generation") != generation or (rows is not None and table.get("rows") != rows):
            raise ValueError(f"saved index is for another store state ({folder})")
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r" if name in _MAPPED else None) for name in _ARRAY_TYPES}
        for name, dtype in _ARRAY_TYPES.items():
            if arrays[name].dtype != dtype:
                raise ValueError(f"{name}.npy holds {arrays[name].dtype}, not {np.dtype(dtype)}")
        index = cls(
            generation=generation,
            columns=arrays["columns"],
            embeddings=arrays["embeddings"],
            text_bytes=arrays["text_bytes"],
            text_offsets=arrays["text_offsets"],
            names=table["names"],
            articles=table["articles"],
            vocabulary=table["vocabulary"],
            term_ids=arrays["term_ids"],
            term_offsets=arrays["term_offsets"],
            acronym_counts=table["acronym_counts"],
            bm25_scores={name: arrays[f"bm25_{name}"] for name in ("data", "indices", "indptr")},
        )
        if table.get("rows") != len(index):
            raise ValueError(f"saved index says {table.get('rows')} rows but holds {len(index)}")
        return index


def load_or_build(store, generation: str, previous: Optional[LexicalIndex] = None) -> LexicalIndex:
    """The side index of the store as of ``generation`` (read before calling): the saved copy when
    there is a good one; else ``previous`` (or the newest saved copy of an older state) updated;
    else built from the store. A new index is saved for the next process and then served from
    the saved files (memory-mapped), so its embeddings are not held in memory twice."""
    side_dir = store.side_dir
    saving = side_dir is not None and _safe_name(generation)
    if saving:
        try:
            return LexicalIndex.load(side_dir, generation, rows=store.sentence_count())
        except Exception:  # none yet, or damaged, or stale: updated or rebuilt below
            pass
        if previous is None:
            previous = _newest_saved(side_dir)
        shutil.rmtree(side_dir / generation, ignore_errors=True)
    index = None
    if previous is not None:
        try:
            index = previous.updated(store, generation)
        except Exception:  # a previous copy that cannot be brought up to date: build from scratch
            index = None
    if index is None:
        index = LexicalIndex.build(store, generation)
    if saving and store.generation() == generation and index.save(side_dir):  # only a snapshot no write overlapped
        try:
            index = LexicalIndex.load(side_dir, generation, rows=len(index))
        except Exception:
            pass
    _return_freed_memory()
    return index


def _return_freed_memory() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; a no-op elsewhere).
    Reading sentences out of Chroma leaves a few hundred MB freed but still resident at 10x the
    dev corpus; without this a process that built the index once keeps that for its lifetime."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _newest_saved(side_dir: Path) -> Optional[LexicalIndex]:
    """The most recently written readable saved copy, of whatever generation (None if none)."""
    try:
        folders = sorted((p for p in side_dir.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return None
    for folder in folders:
        try:
            return LexicalIndex.load(side_dir, folder.name)
        except Exception:
            continue
    return None


def _read_articles(store) -> list[dict]:
    return [_article_record(doc_id, meta) for doc_id, meta in store.article_rows()]


def _assemble(generation: str, records: list[dict], base: Optional[LexicalIndex], keep: np.ndarray, pages: Iterable) -> LexicalIndex:
    """An index over ``records``: the rows of ``base`` where ``keep`` is set, then the sentences
    of ``pages`` (tokenised here), with BM25 computed over all of them."""
    articles = list(records)
    article_of = {record["doc_id"]: i for i, record in enumerate(articles)}
    names = {key: list(values) for key, values in base.names.items()} if base else {"source": [], "speaker": [], "kind": []}
    name_index = {key: {name: i for i, name in enumerate(values)} for key, values in names.items()}
    vocabulary = list(base.vocabulary) if base else []
    term_index = dict(base.term_index) if base else {}
    acronym_counts = Counter(base.acronym_counts) if base else Counter()

    speaker_ids = [np.array(ids, dtype=np.int32) for ids in base.speaker_term_ids] if base else []

    def term_id(term: str) -> int:
        found = term_index.get(term)
        if found is None:
            found = term_index[term] = len(vocabulary)
            vocabulary.append(term)
        return found

    def named(key: str, name: str) -> int:
        found = name_index[key].get(name)
        if found is None:
            found = name_index[key][name] = len(names[key])
            names[key].append(name)
            if key == "speaker":  # a speaker's terms are BM25 tokens of the sentences they speak
                speaker_ids.append(np.array([term_id(term) for term in terms(name, cache=False)], dtype=np.int32))
        return found

    # Rows kept from the base: copied as arrays, article indices mapped to the new records.
    parts = {"columns": [], "embeddings": [], "texts": [], "terms": []}
    if base is not None and len(base):
        kept = np.flatnonzero(keep)
        for row in np.flatnonzero(~keep):
            acronym_counts.subtract(acronyms(base.text(int(row)), cache=False))
        doc_map = np.array([article_of.get(record["doc_id"], -1) for record in base.articles], dtype=np.int64)
        columns = base.columns[kept].copy()
        columns[:, _DOC] = doc_map[columns[:, _DOC]]
        parts["columns"].append(columns)
        parts["embeddings"].append(np.asarray(base.embeddings[kept], dtype=np.float32))
        parts["texts"].append(_gather(base.text_bytes, base.text_offsets, keep))
        parts["terms"].append(_gather(base.term_ids, base.term_offsets, keep))

    # New rows: read from Chroma and tokenised.
    dimension = 0  # of a table without rows: nothing is ever looked up in it
    for ids, texts, metas, vectors in pages:
        dimension = vectors.shape[1]
        columns = np.zeros((len(ids), len(_COLUMNS)), dtype=np.int64)
        own_ids, own_offsets, encoded = [], [0], []
        for i, (text, meta) in enumerate(zip(texts, metas)):
            doc_id = meta["doc_id"]
            if doc_id not in article_of:  # sentences whose record is gone: kept (Chroma has them), never ready
                article_of[doc_id] = len(articles)
                articles.append({"doc_id": doc_id, "state": "missing"})
            speaker = meta.get("speaker", "")
            columns[i] = (article_of[doc_id], int(meta["position"]), int(meta["start"]), int(meta["end"]), int(meta.get("published_day", 0)),
                          named("source", meta.get("source") or ""), named("speaker", speaker), named("kind", meta.get("kind", "body")))
            acronym_counts.update(acronyms(text, cache=False))
            own_ids += [term_id(term) for term in terms(text, cache=False)]
            own_offsets.append(len(own_ids))
            encoded.append(text.encode("utf-8"))
        parts["columns"].append(columns)
        parts["embeddings"].append(vectors)
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        parts["texts"].append((np.frombuffer(b"".join(encoded), dtype=np.uint8), np.concatenate([[0], np.cumsum(lengths)])))
        parts["terms"].append((np.array(own_ids, dtype=np.int32), np.array(own_offsets, dtype=np.int64)))
    term_id(EMPTY_TOKEN)

    columns = np.concatenate(parts["columns"]) if parts["columns"] else np.zeros((0, len(_COLUMNS)), dtype=np.int64)
    text_bytes, text_offsets = _join(parts["texts"], np.uint8)
    term_ids, term_offsets = _join(parts["terms"], np.int32)
    return LexicalIndex(
        generation=generation,
        columns=columns,
        embeddings=np.concatenate(parts["embeddings"]) if parts["embeddings"] else np.zeros((0, dimension), dtype=np.float32),
        text_bytes=text_bytes,
        text_offsets=text_offsets,
        names=names,
        articles=articles,
        vocabulary=vocabulary,
        term_ids=term_ids,
        term_offsets=term_offsets,
        acronym_counts={acronym: count for acronym, count in acronym_counts.items() if count > 0},
        bm25_scores=bm25_matrix(term_ids, term_offsets, speaker_ids, columns[:, _SPEAKER], len(vocabulary), term_index[EMPTY_TOKEN]),
    )


def bm25_matrix(term_ids: np.ndarray, term_offsets: np.ndarray, speaker_ids: list[np.ndarray], speaker_of_row: np.ndarray, vocabulary_size: int, empty_id: int) -> dict[str, np.ndarray]:
    """BM25 (bm25s's Lucene variant, k1=1.5, b=0.75) of every (row, term) as the CSC matrix ``bm25s`` builds,
    computed in numpy. A row's tokens are its text's terms then its speaker's; a row without any
    has the one token ``empty_id``. Same formula and float types as bm25s: idf in float32,
    the term-frequency part in float64, scores stored as float32."""
    rows = len(term_offsets) - 1
    own_lengths = np.diff(term_offsets)
    speaker_lengths = np.array([len(ids) for ids in speaker_ids], dtype=np.int64)[speaker_of_row] if rows else np.zeros(0, np.int64)
    flat_speakers = np.concatenate(speaker_ids) if speaker_ids else np.zeros(0, np.int32)
    speaker_starts = np.concatenate([[0], np.cumsum([len(ids) for ids in speaker_ids])])[:-1].astype(np.int64) if speaker_ids else np.zeros(0, np.int64)
    spoken = _ragged_take(flat_speakers, speaker_starts[speaker_of_row] if rows else np.zeros(0, np.int64), speaker_lengths)
    empty = np.flatnonzero(own_lengths + speaker_lengths == 0)
    tokens = np.concatenate([term_ids, spoken, np.full(len(empty), empty_id, np.int32)]).astype(np.int64)
    token_rows = np.concatenate([np.repeat(np.arange(rows), own_lengths), np.repeat(np.arange(rows), speaker_lengths), empty])
    if not len(tokens):
        return {"data": np.zeros(0, np.float32), "indices": np.zeros(0, np.int32), "indptr": np.zeros(vocabulary_size + 1, np.int64)}
    doc_length = np.bincount(token_rows, minlength=rows)
    pairs, tf = np.unique(tokens * rows + token_rows, return_counts=True)  # sorted by term, then row: CSC order
    term, row = pairs // rows, pairs % rows
    df = np.bincount(term, minlength=vocabulary_size)
    idf = np.log(1 + (rows - df + 0.5) / (df + 0.5)).astype(np.float32)
    tf = tf.astype(np.float32)
    tfc = tf / (K1 * ((1 - B) + B * doc_length[row] / doc_length.mean()) + tf)  # bm25s's Lucene tf part
    indptr = np.zeros(vocabulary_size + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": (idf[term] * tfc).astype(np.float32), "indices": row.astype(np.int32), "indptr": indptr}


def _ragged_take(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """values[starts[0]:starts[0]+lengths[0]] + values[starts[1]:…] + …, without a Python loop."""
    total = int(lengths.sum())
    if not total:
        return values[:0]
    ends = np.cumsum(lengths)
    positions = np.arange(total) - np.repeat(ends - lengths, lengths) + np.repeat(starts, lengths)
    return values[positions]


def _gather(values: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ragged slices of the rows where ``keep`` is set (values + offsets), as a ragged array of their own."""
    lengths = np.diff(offsets)
    return np.asarray(values[np.repeat(keep, lengths)]), np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)


def _join(parts: list[tuple[np.ndarray, np.ndarray]], dtype) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays one after the other, as one."""
    values = [np.asarray(v, dtype=dtype) for v, _ in parts]
    offsets, shift = [np.zeros(1, np.int64)], 0
    for v, o in parts:
        offsets.append(np.asarray(o[1:], dtype=np.int64) + shift)
        shift += len(v)
    return (np.concatenate(values) if values else np.zeros(0, dtype)), np.concatenate(offsets)


def _row_keys(columns: np.ndarray) -> np.ndarray:
    """(article index, position) of each row as one sortable int64, for finding rows by node id."""
    return (columns[:, _DOC].astype(np.int64) << 32) | columns[:, _POSITION].astype(np.int64)


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
