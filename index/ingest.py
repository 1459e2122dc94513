"""The ingest pipeline: load, skip what is known, split, attribute speakers, embed, store."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np

from index.articles import Article, Skipped, iter_files, load_file, loadable_bytes
from index.embedder import BULK_BYTES
from index.sentences import Sentence, split_sentences
from index.speakers import attribute_speakers
from index.store import READY, WRITING, Damage, Store

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each input file."""

ArticleProgress = Callable[[int, str], None]
"""Called as on_article(done, title) each time an article is finished (stored, unchanged or skipped):
``done`` counts the articles finished so far in this ingest, ``title`` names the last one. A file of
300 articles is one step of ``Progress``; this says how far into it the ingest is."""

MAX_ARTICLE_SENTENCES = 3000
"""An article with more sentences is skipped: a long read has a few hundred, and embedding
thousands would stall the ingest (a text that is one sentence repeated, or a whole archive
pasted into one file)."""


@dataclass
class IngestReport:
    """What an ingest did: counts of articles, and every skipped item with its reason."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # old ids dropped because their file changed
    skipped: list[Skipped] = field(default_factory=list)
    unused_files: list[str] = field(default_factory=list)  # files of which nothing was stored or found stored

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "unchanged": len(self.unchanged),
            "replaced": len(self.replaced),
            "skipped": len(self.skipped),
        }

    def summary(self) -> str:
        c = self.counts()
        return f"{c['added']} added, {c['unchanged']} unchanged, {c['replaced']} replaced, {c['skipped']} skipped"


class TooLong(ValueError):
    """An article with more than ``MAX_ARTICLE_SENTENCES`` sentences."""


def prepare(article: Article) -> list[Sentence]:
    """Sentences of an article with speakers attributed: pure text processing, no I/O.
    Raises ``TooLong`` (before attributing speakers) past ``MAX_ARTICLE_SENTENCES``."""
    sentences = split_sentences(article.text, article.doc_id, article.title)
    if len(sentences) > MAX_ARTICLE_SENTENCES:
        raise TooLong(f"article has {len(sentences):,} sentences, over the limit of {MAX_ARTICLE_SENTENCES:,} for one article")
    return attribute_speakers(sentences)


def ingest(
    store: Store,
    embed: Callable[[list[str]], np.ndarray],
    paths: Iterable[Union[str, os.PathLike]],
    progress: Optional[Progress] = None,
    batch_sentences: int = 512,
    on_article: Optional[ArticleProgress] = None,
    bulk_embed: Optional[Callable[[list[str]], np.ndarray]] = None,
) -> IngestReport:
    """Ingest files and folders. Idempotent: known content is left alone, changed content replaced.

    An article read from the same place as an older one (same file, same JSONL line, same
    id) replaces it. The older one is hidden at once (marked half-written, so a crash
    leaves it to ``Store.repair``) and deleted at the end unless this ingest meets it again
    elsewhere (a moved file, a shifted JSONL line): then it is simply kept, not re-embedded.
    A new version that turns out unusable (skipped) never costs the old one.

    ``bulk_embed``, if given, embeds instead of ``embed`` when the files add up to ``BULK_BYTES`` or more
    (a faster encoder that costs seconds to load, see ``index.embedder.BulkEmbedder``).
    """
    with store.writing():  # another Store of this process must not repair what this run hides
        return _ingest(store, embed, bulk_embed, list(paths), progress, batch_sentences, on_article)


def input_bytes(files: list) -> int:
    """Bytes of articles in the listed files (``Skipped`` entries and files a load skips whole count nothing)."""
    return sum(loadable_bytes(Path(entry)) for entry in files if not isinstance(entry, Skipped))


def _ingest(store: Store, embed, bulk_embed, paths: list, progress: Optional[Progress], batch_sentences: int, on_article) -> IngestReport:
    report = IngestReport()
    run = _Run(store, report)
    written: list[str] = []
    finished = 0
    files = list(iter_files(paths))
    if bulk_embed is not None and input_bytes(files) >= BULK_BYTES:
        embed = bulk_embed

    def article_done(title: str) -> None:
        nonlocal finished
        finished += 1
        if on_article:
            on_article(finished, title)

    with _Batches(store, embed, written, article_done) as batches:
        if progress and not files:
            progress(0, 0)
        for done, entry in enumerate(files, start=1):
            items = [entry] if isinstance(entry, Skipped) else load_file(entry)
            used = False
            for item in items:
                if isinstance(item, Skipped):
                    report.skipped.append(item)
                    article_done(item.where)
                    continue
                meta = run.check(item)
                if meta is False:
                    used = True
                    article_done(item.title or item.doc_id)
                    continue
                try:
                    sentences = prepare(item)
                except TooLong as exc:
                    report.skipped.append(Skipped(item.where or item.origin or item.doc_id, str(exc)))
                    article_done(item.title or item.doc_id)
                    continue
                if not sentences:
                    report.skipped.append(Skipped(item.where or item.origin or item.doc_id, "no article sentences found (only page junk?)"))
                    article_done(item.title or item.doc_id)
                    continue
                run.make_room(item, meta)
                used = True
                batches.add(item, sentences)
                if batches.pending_sentences >= batch_sentences:
                    batches.flush()
            if not used and not isinstance(entry, Skipped):
                report.unused_files.append(str(entry))
            if done == len(files):
                batches.flush(wait=True)  # the bar reaches its end only when everything is stored
            if progress:
                progress(done, len(files))
        batches.flush(wait=True)
    run.finish(written)
    return report


class _Batches:
    """Embeds a batch of articles while the next one is read and split (onnxruntime lets go of the
    GIL), and writes the store from the ingesting thread only, in order."""

    def __init__(self, store: Store, embed, written: list[str], article_done: Callable[[str], None], rewrite: bool = False):
        self.store, self.embed, self.written, self.article_done = store, embed, written, article_done
        self.rewrite = rewrite  # a repair writes records that stay ready (Store.write_articles)
        self.pending: list[tuple[Article, list[Sentence]]] = []
        self.in_flight: list[tuple[list[tuple[Article, list[Sentence]]], Future]] = []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    def __enter__(self) -> "_Batches":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)

    @property
    def pending_sentences(self) -> int:
        return sum(len(sentences) for _, sentences in self.pending)

    def add(self, article: Article, sentences: list[Sentence]) -> None:
        self.pending.append((article, sentences))

    def flush(self, wait: bool = False) -> None:
        """Start embedding what is pending; store what is embedded, all of it if ``wait``."""
        if self.pending:
            texts = [s.text for _, sentences in self.pending for s in sentences]
            self.in_flight.append((self.pending, self.pool.submit(self.embed, texts)))
            self.pending = []
        while self.in_flight and (wait or len(self.in_flight) > 1):
            batch, vectors = self.in_flight.pop(0)
            items, offset = [], 0
            for article, sentences in batch:
                items.append((article, sentences, vectors.result()[offset : offset + len(sentences)]))
                offset += len(sentences)
            self.store.write_articles(items, rewrite=self.rewrite)
            self.written.extend(article.doc_id for article, _ in batch)
            for article, _ in batch:  # stored only now: embedding the batch is the slow part
                self.article_done(article.title or article.doc_id)


def rebuild(
    store: Store,
    embed: Callable[[list[str]], np.ndarray],
    batch_sentences: int = 512,
    everything: bool = False,
    bulk_embed: Optional[Callable[[list[str]], np.ndarray]] = None,
) -> Optional[Damage]:
    """Repair a damaged store (``Store.damage``): every readable vector is kept, and the articles
    with a vector Chroma cannot return are split and embedded again from their stored text. With
    ``everything``, or when Chroma crashes or hangs reading the vector index, every article is, and
    no vector is read (the index folders are deleted first). Call it before anything reads the store.
    Returns the damage found, None when there was none; ``bulk_embed`` as for ``ingest``. Only for an
    embedded store: on a Chroma server, swapping collections would pull them from under every other
    process using it."""
    if store.path is None:
        raise ValueError(
            f"qa repair is for an embedded store (--store DIR), not the Chroma server at {store.location}: other processes "
            f"share its collections, and several writers do not damage it. To write an article again there, "
            f"`qa remove` it and ingest it again; check the server's own data with Chroma's tools"
        )
    found = None if everything else store.damage_in_child()  # first, in a child: Chroma may crash or hang on the index
    everything = everything or bool(found and found.failure)
    if everything:
        store.drop_vector_indexes()
    store.repair()  # drop articles a crash left half-written
    if everything:
        every = store.articles.get(include=[])["ids"]
        damage = Damage(store.location, 0, len(every), sorted(every), failure=found.failure if found else "") if every else None
    else:
        damage = found and store.damage()  # the child read every vector: so can this process
    if damage is None:
        return None
    articles = store.rebuild(damage.articles, dimension=embed(["dimension"]).shape[1], read_vectors=not everything)
    if bulk_embed is not None and sum(len(article.text) for article in articles) >= BULK_BYTES:
        embed = bulk_embed
    with store.writing(), _Batches(store, embed, [], lambda title: None, rewrite=True) as batches:
        for article in articles:
            batches.add(article, prepare(article))
            if batches.pending_sentences >= batch_sentences:
                batches.flush()
        batches.flush(wait=True)
    store.rebuilt()
    return damage


class _Run:
    """The bookkeeping of one ingest: what was read, and which older articles the new ones displace."""

    def __init__(self, store: Store, report: IngestReport):
        self.store = store
        self.report = report
        self.seen: dict[str, tuple[str, str]] = {}  # doc_id -> (content hash, where it was read)
        self.hidden: dict[str, str] = {}  # older doc_id -> the new doc_id read from its place
        self.replaced: set[str] = set()  # new doc ids that overwrite their own older version

    def check(self, article: Article):
        """False when the article needs no writing (unchanged, or a duplicate); else its stored
        metadata (None when unknown)."""
        where = article.where or article.origin or article.doc_id
        if article.doc_id in self.seen:
            first_hash, first_where = self.seen[article.doc_id]
            if first_hash == article.content_hash:
                self.report.unchanged.append(article.doc_id)  # the same article twice, e.g. a copied file
            else:
                self.report.skipped.append(
                    Skipped(where, f"duplicate id '{article.doc_id}' with different text (already read from {first_where}); not loaded")
                )
            return False
        self.seen[article.doc_id] = (article.content_hash, where)
        was_hidden = self.hidden.pop(article.doc_id, None) is not None  # met again: not to be dropped
        meta = self.store.article_meta(article.doc_id)
        if meta is None or meta.get("content_hash") != article.content_hash:
            return meta
        if meta.get("state") == READY or was_hidden:
            # Unchanged; if this ingest hid it, it has turned up elsewhere: show it again.
            changes = {"state": READY} if meta.get("state") != READY else {}
            if article.origin and meta.get("origin") != article.origin:
                changes["origin"] = article.origin  # moved: later edits there replace it
            if changes:
                self.store.update_meta(article.doc_id, changes)
            self.report.unchanged.append(article.doc_id)
            return False
        return meta  # half-written by a crash: write it again

    def make_room(self, article: Article, meta: Optional[dict]) -> None:
        """Before writing ``article``: drop its own older version, hide older ones from its place."""
        if meta is not None:
            self.replaced.add(article.doc_id)
            self.store.remove(article.doc_id)
        for old in self.store.doc_ids_with_origin(article.origin) if article.origin else []:
            if old != article.doc_id and old not in self.seen and old not in self.hidden:
                self.store.update_meta(old, {"state": WRITING})
                self.hidden[old] = article.doc_id

    def finish(self, written: list[str]) -> None:
        displaced: dict[str, list[str]] = {}
        for old, new in sorted(self.hidden.items()):
            if self.store.remove(old):
                self.report.removed.append(old)
                displaced.setdefault(new, []).append(old)
        for doc_id in written:
            if doc_id in self.replaced or doc_id in displaced:
                self.report.replaced.append(doc_id)
            else:
                self.report.added.append(doc_id)
