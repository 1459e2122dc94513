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
    """Ingest files and folders. Idempotent: known content is left alone, changed content replaced."""
    paths = list(paths)
    report = IngestReport()
    seen: set[str] = set()
    pending: list[tuple[Article, list[Sentence], str]] = []

    def flush() -> None:
        texts = [s.text for _, sentences, _ in pending for s in sentences]
        vectors = embedder.encode(texts)
        offset = 0
        for article, sentences, status in pending:
            store.write_article(article, sentences, vectors[offset : offset + len(sentences)])
            offset += len(sentences)
            getattr(report, status).append(article.doc_id)
        pending.clear()

    files = list(iter_files(paths))
    for done, entry in enumerate(files, start=1):
        items = [entry] if isinstance(entry, Skipped) else load_file(entry)
        for item in items:
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            status = _classify(store, item, seen, report)
            if status is None:
                continue
            sentences = prepare(item)
            if not sentences:
                report.skipped.append(Skipped(item.origin or item.doc_id, "no article sentences found (only page junk?)"))
                continue
            pending.append((item, sentences, status))
            if sum(len(s) for _, s, _ in pending) >= batch_sentences:
                flush()
        if progress:
            progress(done, len(files))
    if pending:
        flush()
    return report


def _classify(store: Store, article: Article, seen: set[str], report: IngestReport) -> Optional[str]:
    """Decide what to do with a loaded article: None (unchanged), "added" or "replaced"."""
    if article.doc_id in seen:
        report.unchanged.append(article.doc_id)
        return None
    seen.add(article.doc_id)
    meta = store.article_meta(article.doc_id)
    status = "added"
    if meta is not None:
        if meta.get("state") == "ready" and meta.get("content_hash") == article.content_hash:
            report.unchanged.append(article.doc_id)
            return None
        store.remove(article.doc_id)
        status = "replaced"
    for old_id in store.doc_ids_with_origin(article.origin) if article.origin else []:
        if old_id != article.doc_id and old_id not in seen:
            store.remove(old_id)
            report.removed.append(old_id)
            status = "replaced"
    return status
