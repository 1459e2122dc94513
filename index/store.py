"""Chroma storage for articles and their sentences, embedded or on a Chroma server.

Two collections: ``qa_articles`` holds each article's full text and metadata (it
doubles as the manifest), ``qa_sentences`` holds one llama-index ``TextNode`` per
sentence with its embedding and exact offsets. An article is written in three
steps (record marked ``writing``, sentences, record marked ``ready``), so a crash
leaves a detectable half-written article that ``repair()`` drops.

A record marked ``writing`` names its writer (host and process id). ``repair()`` drops
only records whose writer is gone: a process that starts while another one (or another
thread of its own) is writing must not delete the article being written. A writer on
another host (a shared Chroma server) counts as gone after ``REPAIR_GRACE`` seconds.

Every change readers can see (an article written, removed, hidden or shown again) ends
by giving the articles collection a new random ``generation`` token in its metadata. A
reader that keeps something derived from the store (the BM25 index, cached answers) reads
``generation()`` before reading the store and rebuilds when the token differs: unlike the
sentence count, it also changes when a remove and an add leave the count as it was, and
it works across processes sharing one Chroma server.

Derived data that readers keep (the sentence table and BM25 index, ``index.lexical``) is saved
under ``side_dir``, tagged with the generation it was built from: ``<store>/.qa-side-index/`` for an
embedded store; for a Chroma server ``$QA_CACHE_DIR/chroma-<host>-<port>/.qa-side-index/`` when
``QA_CACHE_DIR`` is set, else nothing is saved and each process builds it in memory.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from index import lock
from index.articles import Article
from index.sentences import Sentence

ARTICLES = "qa_articles"
SENTENCES = "qa_sentences"
DEFAULT_STORE = ".qa-store"
WRITING, READY = "writing", "ready"
DEFAULT_WAIT = 300.0
"""Seconds a process waits for another one that holds the embedded store (not for the app)."""
REPAIR_GRACE = 3600
"""Seconds after which a half-written record of a writer on another host is taken as abandoned."""
SPACE = {"hnsw": {"space": "cosine"}}
REBUILD_SUFFIX = "_rebuild"  # a collection being rebuilt by ``Store.rebuild``, before it is swapped in
CHECKED_FILE = ".qa-checked"  # the generation at which every vector was last known readable
CHECK_STALL = 60.0
"""Seconds the check of a store (``Store.damage_in_child``) may go without reading a page of vectors
before Chroma counts as hung on it."""
SIDE_DIR = ".qa-side-index"  # hidden: ingesting a folder that holds the store must not read it as articles

log = logging.getLogger("qa.store")
_active_writes: Counter = Counter()  # store key -> writes this process has under way there
_active_lock = threading.Lock()


def _writer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # at call time: a forked child is another writer


def default_owner() -> str:
    """How this process is named to another one that finds the store held: its command."""
    return " ".join([Path(sys.argv[0]).name or "python"] + sys.argv[1:2]) if sys.argv else "python"


def default_store_path() -> str:
    return os.environ.get("QA_STORE") or DEFAULT_STORE


def published_day(published: str) -> int:
    """YYYY-MM-DD as the integer YYYYMMDD, since Chroma compares only numbers; 0 when unknown."""
    return int(published.replace("-", "")) if published else 0


@dataclass
class StoredSentence:
    """A stored sentence as readers see it (from the sentence table), with its embedding."""

    node_id: str
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    kind: str
    speaker: str
    embedding: Optional[np.ndarray] = None


class Store:
    """Articles and sentence vectors in Chroma (``PersistentClient`` or ``HttpClient``)."""

    def __init__(
        self,
        path: Optional[str] = None,
        host: Optional[str] = None,
        port: Optional[int] = None,
        owner: str = "",
        wait: float = DEFAULT_WAIT,
        for_holder: bool = False,
    ):
        """An embedded store (``path``) is held by this process until it exits (``index.lock``):
        ``owner`` names this process to others ("qa ingest"); a holder that is not serving the app
        is waited for up to ``wait`` seconds. ``for_holder``: opened only to read, by a child process
        of the holder (``index.check``), which takes no lock and changes nothing."""
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        self.path: Optional[Path] = None
        if host:
            self.location = f"chroma://{host}:{port or 8000}"
            try:
                self.client = chromadb.HttpClient(host=host, port=int(port or 8000), settings=settings)
            except Exception as exc:  # chromadb says "Could not connect…" without saying where
                raise ConnectionError(f"cannot reach the Chroma server at {host}:{port or 8000} ({exc})") from exc
        else:
            self.path = Path(path or default_store_path())
            self.path.mkdir(parents=True, exist_ok=True)
            self.location = str(self.path)
            if not for_holder:
                lock.acquire(self.path, owner or default_owner(), wait, lambda message: log.warning("%s", message))
            self.client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        self.key = self.location if host else str(self.path.resolve())
        self.side_dir = _side_dir(self.path, host, port)
        self._batch_size: Optional[int] = None
        if self.path is not None and not for_holder:
            self._finish_rebuild()
        self._open_collections()
        if self.path is not None and not for_holder:
            self._remove_dead_segment_folders()

    def _open_collections(self) -> None:
        # Embeddings are always passed in: Chroma's own embedding function would download a model.
        self.articles = self.client.get_or_create_collection(ARTICLES, configuration=SPACE)
        self.sentences = self.client.get_or_create_collection(SENTENCES, configuration=SPACE)
        self._vectors = None

    def serving(self, url: str) -> None:
        """This process now serves the app at ``url``: others stop waiting for an embedded store."""
        if self.path is not None:
            lock.announce(self.path, url)

    @property
    def vectors(self):
        """llama-index's ``ChromaVectorStore`` over the sentences, made on first write: importing
        llama-index costs seconds that reading and asking never need."""
        if self._vectors is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vectors = ChromaVectorStore(chroma_collection=self.sentences)
        return self._vectors

    # --- articles -------------------------------------------------------

    def article_meta(self, doc_id: str) -> Optional[dict]:
        got = self.articles.get(ids=[doc_id], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def article(self, doc_id: str) -> Optional[Article]:
        """The full article, or None if unknown or not completely written."""
        got = self.articles.get(ids=[doc_id], include=["metadatas", "documents"])
        if not got["ids"] or got["metadatas"][0].get("state") != READY:
            return None
        return _article_from(doc_id, got["documents"][0], got["metadatas"][0])

    def article_list(self) -> list[dict]:
        """Metadata of every completely written article, with its ``doc_id``."""
        rows = []
        for doc_id, meta in self._iter_rows(self.articles, ["metadatas"]):
            if meta.get("state") == READY:
                rows.append({"doc_id": doc_id, **meta})
        return rows

    def ready_ids(self) -> set[str]:
        got = self.articles.get(where={"state": READY}, include=[])
        return set(got["ids"])

    def doc_ids_with_origin(self, origin: str) -> list[str]:
        return self.articles.get(where={"origin": origin}, include=[])["ids"]

    def update_meta(self, doc_id: str, changes: dict) -> None:
        """Change some metadata of a stored article (its ``state``, or its ``origin`` when it moved)."""
        changes = dict(changes)
        if changes.get("state") == WRITING:
            changes.update(self._writing_marks())
        self.articles.update(ids=[doc_id], metadatas=[changes])
        self._changed()

    @contextmanager
    def writing(self):
        """Mark a span of writes (an ingest) as under way in this process, so that ``repair()``
        by another ``Store`` of this process leaves its half-written records alone."""
        with _active_lock:
            _active_writes[self.key] += 1
        try:
            yield self
        finally:
            with _active_lock:
                _active_writes[self.key] -= 1

    def _writing_marks(self) -> dict:
        return {"writer": _writer(), "writing_since": time.time()}

    def _abandoned(self, meta: dict) -> bool:
        """Is a record marked ``writing`` left over from a writer that is gone?"""
        host, _, pid = str(meta.get("writer", "")).rpartition(":")
        if not pid.isdigit():
            return True  # written before writers were recorded
        if host != socket.gethostname():
            return time.time() - float(meta.get("writing_since", 0)) > REPAIR_GRACE
        if int(pid) == os.getpid():
            with _active_lock:
                return _active_writes[self.key] == 0  # ours, and no write under way: an exception cut it short
        return not lock.alive(int(pid))

    def generation(self) -> str:
        """A token that changes on every change readers can see, by any writer ("" if never written).
        Read it before reading the store: a change made after that shows as a new token later."""
        return str((self.client.get_collection(ARTICLES).metadata or {}).get("generation", ""))

    def _changed(self) -> None:
        # A random token, not a counter: two writers never need to read-modify-write it.
        checked = self.path is not None and lock.holds(self.path) and self._checked() == self.generation()
        self.articles.modify(metadata={"generation": uuid.uuid4().hex})
        if checked:  # this process holds the store, so its own writes cannot damage it
            self._mark_checked()

    # --- damage and its repair (embedded stores) ----------------------------

    def check(self) -> Optional["Damage"]:
        """The damage in an embedded store (vectors Chroma cannot return, as two processes writing at
        once leave it), or None. Reads every vector only when the store has changed since the last
        check by something other than this process under its lock (``CHECKED_FILE``), so opening an
        unchanged store costs one small read. Call it before this process reads the store."""
        if self.path is None or self._checked() == self.generation():
            return None  # a Chroma server is the safe way to share a store
        damage = self.damage_in_child()
        if damage is None:
            self._mark_checked()
        return damage

    def damage_in_child(self, stall: float = CHECK_STALL) -> Optional["Damage"]:
        """``damage()``, read by a child process (``index.check``): on a garbled vector index Chroma's
        native code crashes or hangs, and a child's crash, error, or ``stall`` seconds without a page
        read is then a ``Damage`` whose ``failure`` says so, not a dead or hung command. Only before
        this process reads the store itself (Chroma's embedded files are one process's at a time)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
        with tempfile.TemporaryFile("w+") as errors:
            child = subprocess.Popen([sys.executable, "-m", "index.check", str(self.path)], stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
            try:
                last = _last_line(child.stdout, stall)
            finally:
                if child.poll() is None:  # hung (or this process interrupted): never leave it behind
                    child.kill()
                child.wait()
            if last is None:
                return Damage(self.location, 0, 0, [], failure=f"stopped responding for {stall:.0f} s")
            if child.returncode < 0:
                return Damage(self.location, 0, 0, [], failure="crashed")
            if child.returncode != 0:  # before it read anything: not the store's fault
                errors.seek(0)
                raise RuntimeError(f"checking the store {self.location} failed: {(errors.read().strip().splitlines() or ['?'])[-1]}")
        found = json.loads(last)
        return Damage(**found) if found else None

    def damage(self, progress: Optional[Callable[[int], None]] = None) -> Optional["Damage"]:
        """Read every vector, in this process: the articles to write again (a vector unreadable, or not
        every sentence stored), or None when there are none. ``progress(rows)`` after each page."""
        readable: Counter = Counter()
        unreadable, total, damaged = 0, 0, set()
        for ids, (metas,), vectors in self._scan(self.sentences, ["metadatas"]):
            for meta, vector in zip(metas, vectors):
                doc_id = (meta or {}).get("doc_id", "")
                if vector is None:
                    damaged.add(doc_id)
                else:
                    readable[doc_id] += 1
            total += len(ids)
            unreadable += vectors.count(None)
            if progress:
                progress(total)
        records = set()
        for ids, (metas,), vectors in self._scan(self.articles, ["metadatas"]):
            for doc_id, meta, vector in zip(ids, metas, vectors):
                records.add(doc_id)
                if vector is None or ((meta or {}).get("state") == READY and readable[doc_id] != (meta or {}).get("sentences")):
                    damaged.add(doc_id)
            total += len(ids)
            unreadable += vectors.count(None)
            if progress:
                progress(total)
        damaged &= records  # sentences of no article are simply not kept
        if not unreadable and not damaged:
            return None
        return Damage(self.location, unreadable, total, sorted(damaged))

    def rebuild(self, damaged: list[str], dimension: int, read_vectors: bool = True) -> list[Article]:
        """Replace both collections by fresh copies of every readable row, leaving out the sentences
        of the ``damaged`` articles, whose records are copied whole (text, metadata) for the caller to
        write again from their text (``write_articles(..., rewrite=True)``); returns those articles.
        Without ``read_vectors`` (``damaged`` is then every article) no vector is read at all: Chroma's
        own code can crash the process on a garbled vector index.
        Crash-safe: the copies are built under other names and swapped in (a swap cut short is finished
        by the next open, a copy never swapped in dropped), and until ``rebuilt`` the next open reads
        every vector, so articles still short of sentences are reported for another repair."""
        damaged_ids = set(damaged)
        placeholder = (np.ones(dimension) / np.sqrt(dimension)).tolist()
        # Until the damaged articles are written again, whatever cuts the repair short, the next open reads every vector.
        (self.path / CHECKED_FILE).unlink(missing_ok=True)
        copies = {}
        for name, collection in ((ARTICLES, self.articles), (SENTENCES, self.sentences)):
            temporary = name + REBUILD_SUFFIX
            if temporary in self._collection_names():
                self.client.delete_collection(temporary)
            copy = self.client.create_collection(temporary, configuration=SPACE, metadata=collection.metadata or None)
            if read_vectors:
                pages = self._scan(collection, ["documents", "metadatas"], page=1000)
            elif name == ARTICLES:  # every article is written again: its old vector is not needed, nor any sentence
                pages = ((ids, columns, [None] * len(ids)) for ids, columns in self._pages(collection, ["documents", "metadatas"], 1000))
            else:
                pages = iter(())
            for ids, (documents, metas), vectors in pages:
                rows = []
                for row_id, document, meta, vector in zip(ids, documents, metas, vectors):
                    doc_id = row_id if name == ARTICLES else (meta or {}).get("doc_id", "")
                    if name == ARTICLES and (doc_id in damaged_ids or vector is None):
                        rows.append((row_id, document, meta, vector if vector is not None else placeholder))
                    elif vector is not None and doc_id not in damaged_ids:
                        rows.append((row_id, document, meta, vector))
                if rows:
                    row_ids, row_documents, row_metas, row_vectors = map(list, zip(*rows))
                    copy.add(ids=row_ids, documents=row_documents, metadatas=row_metas or None, embeddings=row_vectors)
            copies[name] = copy
        for name in (ARTICLES, SENTENCES):
            self.client.delete_collection(name)
            copies[name].modify(name=name)
        self._open_collections()
        self._remove_dead_segment_folders()
        rebuilt = []
        for doc_id in damaged:
            got = self.articles.get(ids=[doc_id], include=["metadatas", "documents"])
            rebuilt.append(_article_from(doc_id, got["documents"][0], got["metadatas"][0] or {}))
        return rebuilt

    def rebuilt(self) -> None:
        """After a rebuild: a new generation, known sound; the saved side index is built afresh."""
        self._changed()
        self._mark_checked()
        if self.side_dir is not None:
            shutil.rmtree(self.side_dir, ignore_errors=True)

    def _finish_rebuild(self) -> None:
        """Finish a ``rebuild`` cut short: a copy made but not swapped in is dropped (the original is
        whole); one whose original is already gone takes its name."""
        names = self._collection_names()
        for name in (ARTICLES, SENTENCES):
            temporary = name + REBUILD_SUFFIX
            if temporary in names and name in names:
                self.client.delete_collection(temporary)
            elif temporary in names:
                self.client.get_collection(temporary).modify(name=name)

    def drop_vector_indexes(self) -> None:
        """Delete both collections' vector-index folders, before anything in this process reads the
        store: a repair that writes every article again must not let Chroma load an index that crashes
        or hangs it. Texts and metadata stay (in chroma.sqlite3); until the repair ends, the next open
        finds the vectors missing and says so."""
        (self.path / CHECKED_FILE).unlink(missing_ok=True)
        query = "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id WHERE s.scope = 'VECTOR' AND c.name IN (?, ?)"
        for segment in self._segment_ids(query, (ARTICLES, SENTENCES)) or ():
            if _is_uuid(segment):
                shutil.rmtree(self.path / segment, ignore_errors=True)

    def _segment_ids(self, query: str, parameters: tuple = ()) -> Optional[set[str]]:
        """Segment ids from Chroma's own catalogue (chroma.sqlite3, read-only); None if it is not the layout this code knows."""
        try:
            db = sqlite3.connect(f"{(self.path / 'chroma.sqlite3').absolute().as_uri()}?mode=ro", uri=True, timeout=10)
            try:
                return {row[0] for row in db.execute(query, parameters)}
            finally:
                db.close()
        except sqlite3.Error:
            return None

    def _remove_dead_segment_folders(self) -> None:
        """Remove the vector-index folders of segments Chroma no longer has: Chroma 1.x leaves a deleted
        collection's folder behind (chroma-core/chroma#5259), so each repair's replaced collections, or the
        half-built copy of a repair cut short, would stay on disk for good."""
        live = self._segment_ids("SELECT id FROM segments")
        if live is None:
            return  # not the layout this code knows: leave every folder alone
        folders = [folder for folder in self.path.iterdir() if folder.is_dir() and _is_uuid(folder.name)]
        if folders and not any(folder.name in live for folder in folders):
            return  # no folder is a live segment's: a layout this code does not know, not a store to clear
        for folder in folders:
            if folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)

    def _collection_names(self) -> set[str]:
        return {getattr(c, "name", c) for c in self.client.list_collections()}

    def _scan(self, collection, include: list[str], page: int = 5000):
        """(ids, columns, vectors) a page at a time, each vector None where Chroma cannot return it."""
        for ids, columns in self._pages(collection, include, page):
            vectors = dict(_readable_vectors(collection, ids))
            yield ids, columns, [vectors.get(row_id) for row_id in ids]

    def _checked(self) -> str:
        try:
            return (self.path / CHECKED_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def _mark_checked(self) -> None:
        try:
            (self.path / CHECKED_FILE).write_text(self.generation(), encoding="utf-8")
        except OSError:
            pass  # a read-only store is checked again at the next open

    def write_article(self, article: Article, sentences: list[Sentence], embeddings: np.ndarray) -> None:
        """Store an article and its sentences; readers see it only once it is complete."""
        self.write_articles([(article, sentences, embeddings)])

    def write_articles(self, items: list[tuple[Article, list[Sentence], np.ndarray]], rewrite: bool = False) -> None:
        """Store articles and their sentences in the three steps, each one bulk call for all of
        them (a Chroma write costs ~20 ms however small): records marked ``writing``, all the
        sentences, records marked ``ready``. Readers see none of them until the last step.

        ``rewrite`` (a repair): the records are stored already, with no sentences, and stay ``ready``
        throughout; only the sentences are written, then the records' counts and vectors. A repair
        cut short then leaves ready articles short of sentences, which ``damage`` finds and the next
        repair writes, not half-written records that ``repair`` would drop with their texts."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

        if not items:
            return
        metas, vectors, nodes = [], [], []
        for article, sentences, embeddings in items:
            doc_vector = embeddings.mean(axis=0) if len(embeddings) else np.ones(embeddings.shape[1])
            vectors.append((doc_vector / (np.linalg.norm(doc_vector) or 1.0)).tolist())
            meta = {
                "title": article.title,
                "source": article.source,
                "url": article.url,
                "published": article.published,
                "published_day": published_day(article.published),
                "authors": "; ".join(article.authors),
                "origin": article.origin,
                "content_hash": article.content_hash,
                "sentences": len(sentences),
                "ingested_at": time.time(),
            }
            metas.append(meta)
            for sentence, vector in zip(sentences, embeddings):
                node = TextNode(
                    id_=sentence.node_id,
                    text=sentence.text,
                    start_char_idx=sentence.start,
                    end_char_idx=sentence.end,
                    embedding=vector.tolist(),
                    metadata={
                        "doc_id": article.doc_id,
                        "position": sentence.position,
                        "start": sentence.start,
                        "end": sentence.end,
                        "kind": sentence.kind,
                        "speaker": sentence.speaker,
                        "source": article.source,
                        "published_day": meta["published_day"],
                    },
                )
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=article.doc_id)
                nodes.append(node)
        ids = [article.doc_id for article, _, _ in items]
        texts = [article.text for article, _, _ in items]
        if self._batch_size is None:
            self._batch_size = max(1, min(self.client.get_max_batch_size(), 1000))
        step = self._batch_size
        with self.writing():
            marks = self._writing_marks()
            for i in range(0, len(ids), step):
                if not rewrite:
                    self.articles.upsert(
                        ids=ids[i : i + step],
                        documents=texts[i : i + step],
                        metadatas=[{**meta, "state": WRITING, **marks} for meta in metas[i : i + step]],
                        embeddings=vectors[i : i + step],
                    )
            if nodes:
                self.vectors.add(nodes)
            for i in range(0, len(ids), step):
                self.articles.update(
                    ids=ids[i : i + step],
                    metadatas=[{**meta, "state": READY} for meta in metas[i : i + step]],
                    embeddings=vectors[i : i + step] if rewrite else None,
                )
        self._changed()

    def remove(self, doc_id: str) -> bool:
        """Delete an article and all its sentences; False if it was not there."""
        known = bool(self.articles.get(ids=[doc_id], include=[])["ids"])
        with self.writing():
            # Mark first, so a crash half-way leaves a record that repair() finishes off.
            if known:
                self.articles.update(ids=[doc_id], metadatas=[{"state": WRITING, **self._writing_marks()}])
            self.sentences.delete(where={"doc_id": doc_id})
            if known:
                self.articles.delete(ids=[doc_id])
        self._changed()
        return known

    def repair(self) -> list[str]:
        """Drop articles left half-written by a crash (not those a live writer is busy with);
        returns their ids."""
        got = self.articles.get(where={"state": WRITING}, include=["metadatas"])
        broken = [doc_id for doc_id, meta in zip(got["ids"], got["metadatas"]) if self._abandoned(meta or {})]
        for doc_id in broken:
            self.remove(doc_id)
        return broken

    # --- sentences ------------------------------------------------------

    def sentence_count(self) -> int:
        return self.sentences.count()

    def iter_sentences(self) -> Iterator[tuple[str, str, dict]]:
        """(node_id, text, metadata) of every stored sentence, paged."""
        for node_id, (text, meta) in self._iter_rows(self.sentences, ["documents", "metadatas"]):
            yield node_id, text, meta

    def nearest(self, vector: np.ndarray, k: int, where: Optional[dict] = None, count: Optional[int] = None) -> list[str]:
        """Node ids of the ``k`` sentences nearest to ``vector`` by cosine similarity, nearest first.
        ``count`` is the number of stored sentences when the caller knows it (saves a round trip)."""
        count = self.sentences.count() if count is None else count
        if count == 0:
            return []
        got = self.sentences.query(
            query_embeddings=[vector.tolist()], n_results=min(k, count), where=where or None, include=["distances"]
        )
        return list(got["ids"][0])

    def sentence_pages(self, page: int = 5000) -> Iterator[tuple[list[str], list[str], list[dict], np.ndarray]]:
        """Every stored sentence with its embedding, a page at a time, in the collection's order:
        (node ids, texts, metadata, float32 embeddings)."""
        for ids, (texts, metas, vectors) in self._pages(self.sentences, ["documents", "metadatas", "embeddings"], page):
            yield ids, texts, metas, np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)

    def sentences_of(self, doc_ids: list[str], page: int = 5000, chunk: int = 200) -> Iterator[tuple[list[str], list[str], list[dict], np.ndarray]]:
        """The stored sentences of the articles ``doc_ids`` with their embeddings, a page at a time, as
        ``sentence_pages`` gives them: what updating the side index reads after a write, instead of
        every sentence."""
        include = ["documents", "metadatas", "embeddings"]
        for i in range(0, len(doc_ids), chunk):
            where = {"doc_id": {"$in": list(doc_ids[i : i + chunk])}}
            offset = 0
            while True:
                got = self.sentences.get(where=where, include=include, limit=page, offset=offset)
                if not got["ids"]:
                    break
                vectors = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1)
                yield got["ids"], got["documents"], got["metadatas"], vectors
                offset += len(got["ids"])

    def article_rows(self) -> list[tuple[str, dict]]:
        """Every article record (whatever its state): its id and metadata."""
        return [(doc_id, meta or {}) for doc_id, meta in self._iter_rows(self.articles, ["metadatas"])]

    def _iter_rows(self, collection, include: list[str], page: int = 5000):
        for ids, columns in self._pages(collection, include, page):
            for i, row_id in enumerate(ids):
                values = tuple(column[i] for column in columns)
                yield row_id, (values if len(values) > 1 else values[0])

    def _pages(self, collection, include: list[str], page: int = 5000):
        """(ids, [one column per ``include`` field]) a page at a time, in the collection's order."""
        offset = 0
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], [got[field] for field in include]
            offset += len(got["ids"])

def _readable_vectors(collection, ids: list[str]) -> list[tuple[str, list[float]]]:
    """(id, vector) of the rows of ``ids`` whose vector Chroma can return: one bulk read, halved
    around the rows that fail (a read fails whole when one of its vectors is missing)."""
    if not ids:
        return []
    try:
        got = collection.get(ids=ids, include=["embeddings"])
        return [(row_id, list(vector)) for row_id, vector in zip(got["ids"], got["embeddings"])]
    except Exception:  # chromadb's InternalError "Error getting embedding"
        if len(ids) == 1:
            return []
        middle = len(ids) // 2
        return _readable_vectors(collection, ids[:middle]) + _readable_vectors(collection, ids[middle:])


def _last_line(stream, stall: float) -> Optional[str]:
    """The last line of ``stream`` once it ends, or None if ``stall`` seconds pass without a line."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    last = ""
    while True:
        try:
            line = lines.get(timeout=stall)
        except queue.Empty:
            return None
        if not line:
            return last
        last = line


@dataclass
class Damage:
    """Vectors of a store that Chroma cannot return, and the articles to write again; or, with a
    ``failure``, how Chroma failed on the vector index itself (every article is to be written again)."""

    location: str
    unreadable: int
    rows: int
    articles: list[str]
    failure: str = ""

    def __str__(self) -> str:
        if self.failure:
            return (
                f"the store {self.location} is damaged: Chroma {self.failure} while reading its vector index (as when two processes "
                f"write it at once); run `qa --store {self.location} repair` to write every article again from its stored text (nothing is lost)"
            )
        return (
            f"the store {self.location} is damaged: {self.unreadable:,} of its {self.rows:,} vectors cannot be read, "
            f"in {len(self.articles):,} articles (as when two processes write it at once); "
            f"run `qa --store {self.location} repair` to write them again from the stored article texts (nothing is lost)"
        )


class StoreDamaged(ValueError):
    """Opening a damaged store: the message says how to repair it."""


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def _side_dir(path: Optional[Path], host: Optional[str], port: Optional[int]) -> Optional[Path]:
    """Where derived data (the persisted sentence table and BM25 index) lives: beside an embedded
    store; for a Chroma server only under ``$QA_CACHE_DIR`` when that is set (else nothing is
    persisted and each process builds it in memory)."""
    if path is not None:
        return path / SIDE_DIR
    cache = os.environ.get("QA_CACHE_DIR")
    if not cache:
        return None
    return Path(cache) / "".join(c if c.isalnum() or c in ".-" else "_" for c in f"chroma-{host}-{port or 8000}") / SIDE_DIR


def _article_from(doc_id: str, text: str, meta: dict) -> Article:
    return Article(
        doc_id=doc_id,
        text=text,
        title=meta.get("title", ""),
        source=meta.get("source", ""),
        url=meta.get("url", ""),
        published=meta.get("published", ""),
        authors=[a for a in meta.get("authors", "").split("; ") if a],
        origin=meta.get("origin", ""),
    )
