"""The ingest pipeline: load, skip what is known, split, attribute speakers, embed, store."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Union

from index.articles import Article, Skipped, iter_files, load_file
from index.embedder import Embedder
from index.sentences import Sentence, split_sentences
from index.speakers import attribute_speakers
from index.store import Store

Progress = Callable[[int, int], None]
"""Called as progress(done, total) after each input file."""


@dataclass
class IngestReport:
    """What an ingest did: counts of articles, and every skipped item with its reason."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # old ids dropped because their file changed
    skipped: list[Skipped] = field(default_factory=list)

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


def prepare(article: Article) -> list[Sentence]:
    """Sentences of an article with speakers attributed: pure text processing, no I/O."""
    return attribute_speakers(split_sentences(article.text, article.doc_id, article.title))


def ingest(
    store: Store,
    embedder: Embedder,
    paths: Iterable[Union[str, os.PathLike]],
    progress: Optional[Progress] = None,
    batch_sentences: int = 512,
) -> IngestReport:
    """Ingest files and folders. Idempotent: known content is left alone, changed content replaced.

    An article read from the same place as an older one (same file, same JSONL line, same
    id) replaces it. The older one is dropped only at the end, and only if nothing in this
    ingest still carries it, so moved or reordered content is not re-embedded, and a new
    version that turns out to be unusable (skipped) never costs the old one.
    """
    paths = list(paths)
    report = IngestReport()
    seen: dict[str, tuple[str, str]] = {}  # doc_id -> (content hash, where it was read)
    supersedes: dict[str, set[str]] = {}  # new doc_id -> older doc ids read from the same place
    replaced: set[str] = set()  # doc ids whose own older version was replaced in place
    written: list[str] = []
    pending: list[tuple[Article, list[Sentence]]] = []

    def flush() -> None:
        texts = [s.text for _, sentences in pending for s in sentences]
        vectors = embedder.encode(texts)
        offset = 0
        for article, sentences in pending:
            store.write_article(article, sentences, vectors[offset : offset + len(sentences)])
            offset += len(sentences)
            written.append(article.doc_id)
        pending.clear()

    files = list(iter_files(paths))
    if progress and not files:
        progress(0, 0)
    for done, entry in enumerate(files, start=1):
        items = [entry] if isinstance(entry, Skipped) else load_file(entry)
        for item in items:
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            if not _is_new(store, item, seen, report):
                continue
            sentences = prepare(item)
            if not sentences:
                report.skipped.append(Skipped(item.where or item.origin or item.doc_id, "no article sentences found (only page junk?)"))
                continue
            if store.article_meta(item.doc_id) is not None:
                replaced.add(item.doc_id)  # same id, new content (or a half-written copy): overwrite it
                store.remove(item.doc_id)
            older = [d for d in (store.doc_ids_with_origin(item.origin) if item.origin else []) if d != item.doc_id]
            if older:
                supersedes[item.doc_id] = set(older)
            pending.append((item, sentences))
            if sum(len(s) for _, s in pending) >= batch_sentences:
                flush()
        if pending and done == len(files):
            flush()  # the bar reaches its end only when everything is stored
        if progress:
            progress(done, len(files))
    if pending:
        flush()
    for doc_id in written:
        dropped = sorted(old for old in supersedes.get(doc_id, ()) if old not in seen)
        for old in dropped:
            if store.remove(old):
                report.removed.append(old)
        if dropped or doc_id in replaced:
            report.replaced.append(doc_id)
        else:
            report.added.append(doc_id)
    return report


def _is_new(store: Store, article: Article, seen: dict[str, tuple[str, str]], report: IngestReport) -> bool:
    """False when the article is already stored as it is (or was read earlier in this ingest)."""
    where = article.where or article.origin or article.doc_id
    if article.doc_id in seen:
        first_hash, first_where = seen[article.doc_id]
        if first_hash == article.content_hash:
            report.unchanged.append(article.doc_id)  # the same article twice, e.g. a copied file
        else:
            report.skipped.append(
                Skipped(where, f"duplicate id '{article.doc_id}' with different text (already read from {first_where}); not loaded")
            )
        return False
    seen[article.doc_id] = (article.content_hash, where)
    meta = store.article_meta(article.doc_id)
    if meta is not None and meta.get("state") == "ready" and meta.get("content_hash") == article.content_hash:
        if article.origin and meta.get("origin") != article.origin:
            store.set_origin(article.doc_id, article.origin)  # moved: later edits there replace it
        report.unchanged.append(article.doc_id)
        return False
    return True
