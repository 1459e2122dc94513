"""The web app (Gradio): chat with cited answers, the cited articles beside it, and the library.

``build_app(assistant)`` returns the ``gr.Blocks``; ``serve(assistant)`` launches it on
127.0.0.1 (ingesting the sample articles on a first start with an empty store);
``main()`` is the ``python app.py`` entry point.

Safety rules kept throughout this module:

* every string that comes from an article (text, title, source, url, cited sentence)
  and every string a user typed is escaped before it goes into HTML or Markdown;
* uploads are copied into a private folder under the store under a sanitized name
  (the browser's file name is never used as a path), only the supported file types
  and sizes are accepted, and the server is launched with no extra allowed paths.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import html
import inspect
import itertools
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from index.articles import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, count_articles, site_of  # noqa: E402
from qa.assistant import MAX_HISTORY, MAX_QUESTION_CHARS  # noqa: E402
from qa.emphasis import answer_spans  # noqa: E402
from qa.retrieve import Filters  # noqa: E402
from qa.llm import LLMSetupError, add_llm_arguments, llm_from_args, not_found_text  # noqa: E402
from qa.question import analyze  # noqa: E402

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
STATIC = Path(__file__).resolve().parent / "static"  # app.css, app.js
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl"]
ALLOWED_SUFFIXES = frozenset(SUPPORTED_SUFFIXES)  # also .htm, which browsers may hand us
MAX_UPLOAD_SIZE = "8mb"  # gradio refuses bigger uploads; we check again ourselves
MAX_UPLOAD_BYTES = min(MAX_FILE_BYTES, 8 * 1024 * 1024)
NOT_FOUND = not_found_text()  # prompts/abstain.txt; an answer carries its own wording in its text
MAX_SUMMARY_ITEMS = 200  # an upload of 50,000 articles lists the first 200, then "… and N more"
EXAMPLES = [
    "What did Netanyahu say about Rafah?",
    "Who did Blinken meet in Tel Aviv?",
    "When did Biden and Netanyahu have their call?",
]
_MARKER = re.compile(r"\s*\[(\d+)\]")
log = logging.getLogger("qa.web")
LIBRARY_POLL_SECONDS = 4  # how soon another tab's upload or remove shows in this one
_RUNS = itertools.count(1)  # tells one upload summary from the next
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$])")


# --- escaping ------------------------------------------------------------------


def esc(value: Any) -> str:
    """HTML-escape anything for element content or a quoted attribute.

    Braces and dollar signs become character references too, so no client-side
    template syntax (``${…}``, ``{{…}}``) can ever be formed by article text.
    """
    text = html.escape("" if value is None else str(value), quote=True)
    return text.replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;")


def esc_md(value: Any) -> str:
    """Escape text for the chat's Markdown renderer: Markdown punctuation, then HTML."""
    text = _MD_SPECIAL.sub(r"\\\1", "" if value is None else str(value))
    return html.escape(text, quote=True)


def safe_url(url: str) -> str:
    """The URL if it is a plain http(s) link, else "" (no javascript:, data:, file: links)."""
    url = (url or "").strip()
    try:
        parsed = urlparse(url)
    except ValueError:
        return ""
    return url if parsed.scheme in ("http", "https") and parsed.netloc else ""


def source_label(source: str) -> str:
    """A short name for a source: the site of a URL, the file name of a path."""
    return site_of(source)


def public_source(source: str, roots: list[Path]) -> str:
    """A source as the API shows it: a URL as it is, a file by its path under one of ``roots``
    (the store: ``uploads/x.txt``; the checkout: ``data/sample/x.txt``), else by its name alone;
    never the server's full path."""
    if not os.path.isabs(source or ""):
        return source or ""
    path = Path(source)
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")


def hide_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part: a message a visitor sees must not say
    where the server keeps the store, the uploads or the checkout (URLs are left whole)."""
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1) or "…", text)


def user_errors(handler):
    """``handler`` whose unexpected errors (a full disk, a store another process damaged) reach the
    visitor as one line without server paths, and the log as one line, not a traceback."""

    def public(exc: Exception) -> gr.Error:
        message = hide_paths(str(exc) if isinstance(exc, (OSError, ValueError)) and str(exc) else f"{type(exc).__name__}: {exc}")
        log.warning("%s failed: %s", handler.__name__.removeprefix("on_"), message)
        return gr.Error(message, print_exception=False)

    if inspect.isgeneratorfunction(handler):  # gradio streams a generator's results: stay one

        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                raise public(exc) from None

    else:

        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:
                raise public(exc) from None

    return wrapper


def shown_source(source: str) -> str:
    """A source as a page may show it: a URL whole, a file by its name (never the server's full path)."""
    return source if "://" in (source or "") else Path(source or "").name


def reader_source(source: str) -> str:
    """Where an article came from, for readers: the site of a URL; a file is just "file" (its name,
    often a hash like 004_a8ed45d3df2df383.txt, says nothing the title does not; it is the tooltip)."""
    if "://" in (source or ""):
        return source_label(source)
    return "file" if source else "unknown source"


def check_filters(sources, published_from: str, published_to: str) -> tuple[list[str], str, str]:
    """The filters as ``qa.retrieve.Filters`` checks them; a bad date raises ValueError with a message for the user."""
    filters = Filters(sources or [], published_from, published_to)
    return filters.sources, filters.published_from, filters.published_to


# --- rendering -------------------------------------------------------------------


def _groups(answer: dict) -> list[tuple[int, list[dict]]]:
    """Citations grouped by marker, in marker order."""
    by_marker: dict[int, list[dict]] = {}
    for c in answer.get("citations") or []:
        by_marker.setdefault(int(c["marker"]), []).append(c)
    return sorted(by_marker.items())


def marker_link(n: int) -> str:
    return f'<a class="qa-marker" href="#cite-{n}" title="Show source {n}" aria-label="source {n}">[{n}]</a>'


def emphasized(text: str, question: str) -> str:
    """A cited sentence for the chat, escaped, with the words that answer ``question`` in bold."""
    parts, pos = [], 0
    for start, end in answer_spans(analyze(question), text) if question else []:
        parts.append(esc_md(text[pos:start]) + f"<strong>{esc_md(text[start:end])}</strong>")
        pos = end
    return "".join(parts) + esc_md(text[pos:])


def answer_markdown(answer: dict, filters: Optional[dict] = None) -> str:
    """The chat bubble of one answer: its sentences, escaped, each followed by a clickable [n];
    the answering words in bold. "Not found" says which filters limited the search."""
    if answer.get("abstained") or not answer.get("citations"):
        text = esc_md(answer.get("text") or NOT_FOUND)
        active = describe_filters(**filters) if filters and any(filters.values()) else ""
        return f"{text} {esc_md(f'(Searched only {active}.)')}" if active else text
    groups = _groups(answer)
    text = answer.get("text") or ""
    asked = answer.get("resolved_question") or answer.get("question") or ""
    if text == " ".join(f"{cs[0]['text']} [{n}]" for n, cs in groups):
        return " ".join(f"{emphasized(cs[0]['text'], asked)} {marker_link(n)}" for n, cs in groups)
    # Answer text in another shape: escape the prose, turn known [n] markers into links.
    known = {n for n, _ in groups}
    parts, pos = [], 0
    for match in _MARKER.finditer(text):
        n = int(match.group(1))
        if n not in known:
            continue
        parts.append(esc_md(text[pos : match.start()]))
        parts.append(" " + marker_link(n))
        pos = match.end()
    parts.append(esc_md(text[pos:]))
    return "".join(parts)


def streaming_markdown(written: str) -> str:
    """The chat bubble while an LLM writes: its text so far, escaped, not yet checked (so no links)."""
    return f'{esc_md(written)} <span class="qa-writing">▍ checking citations when done…</span>'


def chat_messages(turns: list[dict]) -> list[dict]:
    messages = []
    for turn in turns:
        messages.append({"role": "user", "content": esc_md(turn["question"])})
        messages.append({"role": "assistant", "content": answer_markdown(turn["answer"], turn.get("filters"))})
    return messages


def highlight(text: str, spans: list[tuple[int, int, int, str]]) -> str:
    """The full article text, escaped, with each cited span wrapped in <mark id=…>."""
    out, pos = [], 0
    for start, end, marker, mark_id in sorted(spans):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue  # overlapping or empty span: the text is already marked
        out.append(esc(text[pos:start]))
        out.append(
            f'<mark class="qa-mark" id="{esc(mark_id)}" data-marker="{marker}">{esc(text[start:end])}</mark>'
        )
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


EMPTY_SOURCES = """
<div class="qa-sources qa-empty" data-turn="">
  <div class="qa-empty-icon" aria-hidden="true">¶</div>
  <div class="qa-empty-title">Sources appear here</div>
  <div class="qa-empty-text">Ask a question. Every sentence of an answer is quoted from an article;
  the articles it came from are shown here in full, with the quoted sentences highlighted.</div>
</div>
"""


def percent(probability: float) -> str:
    """A probability as a reader takes it in: whole percents, never a false 0 % or 100 %."""
    value = round(100 * float(probability))
    return "over 99 %" if value >= 100 and probability < 1 else "under 1 %" if value <= 0 and probability > 0 else f"{value} %"


def sources_html(assistant, turns: list[dict], index: Optional[int]) -> str:
    """The sources panel for the answer of turn ``index``. An article that has changed since the answer
    (replaced by a new version) shows the cited sentences as they were, without marking the new text."""
    if not turns or index is None or not (0 <= index < len(turns)):
        return EMPTY_SOURCES
    turn = turns[index]
    answer = turn["answer"]
    copy = ""
    if not answer.get("abstained") and answer.get("citations"):
        copy = f'<button type="button" class="qa-button qa-copy" data-copy="{esc(answer_copy_text(turn))}">Copy answer</button>'
    # On a phone the panel sits under the chat: a button that stays in view leads back to the answer.
    back = f'<div class="qa-back-bar"><a class="qa-button qa-back" href="#qa-chat" data-turn="{index}">↑ Back to the answer</a></div>'
    head = [
        f'<div class="qa-src-toolbar"><span class="qa-label">Question {index + 1}</span>{copy}</div>',
        f'<div class="qa-src-question" title="{esc(turn["question"])}">{esc(turn["question"])}</div>',
    ]
    resolved = answer.get("resolved_question") or ""
    if resolved and resolved.strip() != turn["question"].strip():
        head.append(f'<div class="qa-src-resolved">Read as: {esc(resolved)}</div>')
    filters = turn.get("filters") or {}
    if any(filters.values()):
        head.append(f'<div class="qa-src-resolved">Filters: {esc(describe_filters(**filters))}</div>')
    if not answer.get("abstained") and answer.get("confidence") is not None:
        head.append(f'<div class="qa-src-resolved qa-confidence">Confidence that the library answers this: {percent(answer["confidence"])}</div>')
    header = f'<div class="qa-src-head">{"".join(head)}</div>'
    if answer.get("abstained") or not answer.get("citations"):
        return (
            f'<div class="qa-sources" data-turn="{index}">{header}'
            f'<div class="qa-notfound">{esc(answer.get("text") or NOT_FOUND)} No sentence in the library answers this '
            f"question, so nothing is cited.</div>{nearby_html(turn)}{back}</div>"
        )

    groups = _groups(answer)
    # Articles in order of first citation; each marker's first span gets id cite-n.
    docs: dict[str, list[tuple[int, dict]]] = {}
    for n, cs in groups:
        for c in cs:
            docs.setdefault(c["doc_id"], []).append((n, c))
    library = {doc_id: assistant.article(doc_id) for doc_id in docs}

    cited = []
    for n, cs in groups:
        c = cs[0]
        where = "; ".join(dict.fromkeys(c2.get("title") or c2["doc_id"] for c2 in cs))
        details = [f'score {float(c.get("score") or 0):.3f}', f'{esc(c["doc_id"])} chars {int(c["start"])}-{int(c["end"])}']
        if c.get("speaker"):
            details.append("speaker: " + esc(speaker_name(c["speaker"], library.get(c["doc_id"]))))
        cited.append(
            f'<li><a class="qa-chip" href="#cite-{n}" title="Show in the article" aria-label="show source {n} in the article">{n}</a>'
            f'<div class="qa-cited-body"><div class="qa-cited-text">{esc(c["text"])}</div>'
            f'<div class="qa-meta">{esc(where)}</div>'
            f'<details class="qa-details"><summary>Details</summary><div>{" · ".join(details)}</div></details></div></li>'
        )

    used_ids: set[str] = set()
    articles = []
    for doc_id, items in docs.items():
        spans = []
        for n, c in items:
            mark_id = f"cite-{n}"
            k = 2
            while mark_id in used_ids:
                mark_id, k = f"cite-{n}-{k}", k + 1
            used_ids.add(mark_id)
            spans.append((int(c["start"]), int(c["end"]), n, mark_id))
        article = library[doc_id]
        first = items[0][1]
        title = (article.title if article else first.get("title")) or doc_id
        source = (article.source if article else first.get("source")) or ""
        published = (article.published if article else first.get("published")) or ""
        url = safe_url(article.url if article else first.get("url", ""))
        meta = article_meta(source, published, url)
        markers = "".join(f'<a class="qa-chip small" href="#{esc(mid)}" aria-label="source {n}">{n}</a>' for _, _, n, mid in spans)
        changed = article is not None and any(article.text[c["start"] : c["end"]] != c["text"] for _, c in items)
        if article is not None and not changed:
            body = f'<div class="qa-article-text">{highlight(article.text, spans)}</div>'
        else:
            notice = (
                "This article has changed since this answer; the cited sentences as they were:"
                if changed
                else "This article is no longer in the library. Cited:"
            )
            body = f'<div class="qa-notice">{notice}</div><div class="qa-article-text qa-gone">' + " ".join(
                f'<mark class="qa-mark" id="{esc(mid)}" data-marker="{n}">{esc(c["text"])}</mark>'
                for (_, _, n, mid), (_, c) in zip(spans, items)
            ) + "</div>"
        articles.append(
            f'<article class="qa-article{" qa-changed" if changed else ""}" data-doc="{esc(doc_id)}"><header>'
            f'<div class="qa-article-title">{esc(title)}</div>'
            f'<div class="qa-meta">{meta}</div>'
            f'<div class="qa-article-cites">Cited: {markers}</div>'
            f"</header>{body}</article>"
        )
    dropped = ""
    if answer.get("dropped"):
        dropped = (
            '<section class="qa-dropped"><div class="qa-section-title">Removed from the written answer</div>'
            '<div class="qa-hint">The language model also wrote these, but the sentences they cite do not support them:</div>'
            f'<ul>{"".join(f"<li>{esc(d)}</li>" for d in answer["dropped"])}</ul></section>'
        )
    return (
        f'<div class="qa-sources" data-turn="{index}">{header}'
        f'<section class="qa-cited"><div class="qa-section-title">Cited sentences</div><ol>{"".join(cited)}</ol></section>{dropped}'
        f'<section class="qa-articles"><div class="qa-section-title">'
        f'{len(docs)} article{"s" if len(docs) != 1 else ""}</div>{"".join(articles)}</section>{back}</div>'
    )


def article_meta(source: str, published: str, url: str, *more: str) -> str:
    """An article's header line: its site (a file's name is the tooltip), its date, ``more``, and a
    link to the original when it has a web address."""
    meta = [f'<span title="{esc(shown_source(source))}">{esc(reader_source(source))}</span>']
    meta.append(f"<span>{esc(published) if published else 'date unknown'}</span>")
    meta.extend(f"<span>{esc(m)}</span>" for m in more)
    if safe_url(url):
        meta.append(f'<a href="{esc(safe_url(url))}" target="_blank" rel="noopener noreferrer nofollow">open original ↗</a>')
    return " · ".join(meta)


def reader_html(reading) -> str:
    """The sources panel as a reader: one article of the library whole (an ``Assistant.reading``).
    What the index leaves out (page junk, bare datelines, photo credits: never cited) is muted."""
    if reading is None:
        return (
            '<div class="qa-sources qa-reader" data-turn="reader"><div class="qa-notfound">'
            "This article is no longer in the library.</div></div>"
        )
    article = reading.article
    text, body, muted = article.text, [], 0
    for start, end, indexed in reading.parts():
        piece = text[start:end]
        if indexed or not piece.strip():
            body.append(esc(piece))
        else:
            muted += 1
            body.append(f'<span class="qa-unindexed" title="Not indexed: answers never cite this">{esc(piece)}</span>')
    count = len(reading.sentences)
    note = (
        f'<div class="qa-hint qa-reader-note">Greyed out: {muted} passage{"s" if muted != 1 else ""} the index leaves out '
        "(page furniture, datelines, photo credits); answers never cite them.</div>"
        if muted
        else ""
    )
    return (
        f'<div class="qa-sources qa-reader" data-turn="reader" data-doc="{esc(article.doc_id)}">'
        f'<div class="qa-src-head"><div class="qa-src-toolbar"><span class="qa-label">Reading</span></div>{note}</div>'
        f'<article class="qa-article" data-doc="{esc(article.doc_id)}"><header>'
        f'<div class="qa-article-title">{esc(article.title or article.doc_id)}</div>'
        f'<div class="qa-meta">{article_meta(article.source, article.published, article.url, f"{count} sentence" + ("s" if count != 1 else ""))}</div>'
        f'</header><div class="qa-article-text">{"".join(body)}</div></article></div>'
    )


def nearby_html(turn: dict) -> str:
    """What a "Not found" offers instead: questions the library answers, which app.js asks the server for
    (``suggest_questions``: each is asked before it is offered, so they come a moment later, and the chat
    stays free meanwhile; a click asks one), and the titles nearest to the question (a click puts one in
    the question box, to edit or send)."""
    asked = turn["answer"].get("resolved_question") or turn["question"]
    filters = {"sources": [], "published_from": "", "published_to": "", **(turn.get("filters") or {})}
    sections = [
        f'<section class="qa-nearby qa-nearby-questions" data-question="{esc(asked)}" data-filters="{esc(json.dumps(filters))}" hidden>'
        '<div class="qa-section-title">Questions the library can answer</div><ul></ul></section>'
    ]
    if turn.get("nearby"):
        buttons = "".join(
            f'<li><button type="button" class="qa-suggest" data-question="{esc(title)}" title="Put this in the question box">{esc(title)}</button></li>'
            for title in turn["nearby"]
        )
        sections.append(f'<section class="qa-nearby qa-nearby-titles"><div class="qa-section-title">The library has articles near this</div><ul>{buttons}</ul></section>')
    return "".join(sections)


def copies_html(turns: list[dict]) -> str:
    """What app.js reads for each cited answer in the chat: its Markdown (``answer_copy_text``) for its copy
    button, and for each marker the cited sentence, its article's title, site and date for the marker's preview."""
    entries = []
    for i, turn in enumerate(turns):
        answer = turn["answer"]
        if not answer.get("citations") or answer.get("abstained"):
            continue
        previews = "".join(
            f'<p data-marker="{n}" data-doc="{esc(c["doc_id"])}" data-text="{esc(c["text"])}" data-title="{esc(c.get("title") or c["doc_id"])}" '
            f'data-site="{esc(reader_source(c.get("source", "")))}" data-date="{esc(c.get("published") or "date unknown")}"></p>'
            for n, (c, *_) in _groups(answer)
        )
        entries.append(f'<div data-turn="{i}" data-copy="{esc(answer_copy_text(turn))}">{previews}</div>')
    return "".join(entries)


def filter_note(sources=(), published_from: str = "", published_to: str = "", error: str = "") -> str:
    """The line under the filters: what the next question searches, or what is wrong with them."""
    if error:
        return f'<div class="qa-filter-note qa-error" role="alert">{esc(error)}</div>'
    text = describe_filters(sources, published_from, published_to)
    if not text:
        return '<div class="qa-filter-note">No filters: questions search every article.</div>'
    undated = " Articles without a date are left out." if published_from or published_to else ""
    return f'<div class="qa-filter-note qa-active">Next question searches only {esc(text)}.{undated}</div>'


_NAME_BEFORE = r"(?:[A-Z][\w’'.-]*\s+(?:(?:von|van|der|den|de|da|du|di|al|bin|ibn|la|le)\s+){0,3}){0,6}"


def speaker_name(speaker: str, article) -> str:
    """The speaker as the article names them at most length ("European Commission President Ursula von
    der Leyen" for "Leyen"), else as the attribution found them ("Washington")."""
    if article is None or not speaker:
        return speaker
    found = re.findall(rf"\b{_NAME_BEFORE}{re.escape(speaker)}\b", article.text)
    return max(found, key=len) if found else speaker


def answer_copy_text(turn: dict) -> str:
    """An answer as Markdown: the question, the answer with its [n] markers, then each citation with a
    link to its article, or its doc id and character span when the article has no URL."""
    answer = turn["answer"]
    lines = [f"**{turn['question']}**", "", answer.get("text") or NOT_FOUND, ""]
    for n, cs in _groups(answer):
        for c in cs:
            title = c.get("title") or c["doc_id"]
            url = safe_url(c.get("url", ""))
            where = f"[{title}]({url})" if url else f"{title}, {c['doc_id']}[{int(c['start'])}:{int(c['end'])}]"
            lines.append(f"[{n}] “{c['text']}” ({where}{', ' + c['published'] if c.get('published') else ''})")
    return "\n".join(lines)


def describe_filters(sources=(), published_from: str = "", published_to: str = "") -> str:
    parts = []
    if sources:
        parts.append("sources: " + ", ".join(source_label(s) for s in sources))
    if published_from and published_to:
        parts.append(f"published {published_from} to {published_to}")
    elif published_from:
        parts.append(f"published on or after {published_from}")
    elif published_to:
        parts.append(f"published on or before {published_to}")
    return "; ".join(parts)


def library_table(rows: list[dict]) -> str:
    """The Library's rows. Each cell's data-sort is what its column sorts by (app.js sorts in the
    browser: no request per click); an undated article has none, so it comes last either way."""
    if not rows:
        return '<div class="qa-table-empty">The library is empty. Upload articles to start.</div>'
    body = []
    for row in rows:
        url = safe_url(row.get("url", ""))
        name = row.get("title") or row["doc_id"]
        source = row.get("source", "")
        # The title opens the article in the reader (app.js); the original, if online, is a link beside it.
        title = f'<button type="button" class="qa-read" data-doc="{esc(row["doc_id"])}" title="Read this article">{esc(name)}</button>'
        if url:
            title += f' <a class="qa-original" href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow" aria-label="open the original" title="open the original">↗</a>'
        body.append(
            f"<tr><td class='qa-col-title' title='{esc(shown_source(source))}' data-sort='{esc(name.casefold())}'>{title}</td>"
            f"<td class='qa-col-source' title='{esc(shown_source(source))}' data-sort='{esc((reader_source(source) + ' ' + name).casefold())}'>{esc(reader_source(source))}</td>"
            f"<td class='qa-nowrap' data-sort='{esc(row.get('published') or '')}'>{esc(row.get('published') or '—')}</td>"
            f"<td class='qa-num' data-sort='{int(row.get('sentences') or 0)}'>{esc(row.get('sentences', ''))}</td>"
            f"<td class='qa-col-id'><code>{esc(row['doc_id'])}</code></td></tr>"
        )
    head = "".join(
        f'<th data-sort-key="{key}" aria-sort="none"{attrs}><button type="button" class="qa-sort" title="Sort by {label.lower()}">{label}</button></th>'
        for key, label, attrs in [("title", "Title", ""), ("source", "Source", ' class="qa-col-source"'), ("published", "Published", ""), ("sentences", "Sentences", ' class="qa-num"')]
    )
    return (
        f'<div class="qa-table-wrap"><table class="qa-table"><thead><tr>{head}<th class="qa-col-id">Doc id</th></tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


def ingest_summary(report, names: dict[str, str], rejected: list[tuple[str, str]], titles: dict[str, str]) -> str:
    """The upload report: counts, then what was added/replaced and every skipped item with its reason."""
    c = report.counts()
    skipped = [(_where(s.where, names), s.reason) for s in report.skipped] + rejected
    c["skipped"] = len(skipped)
    pills = "".join(
        f'<span class="qa-pill qa-pill-{k}{" zero" if not c[k] else ""}"><b>{c[k]}</b> {k}</span>'
        for k in ("added", "unchanged", "replaced", "skipped")
    )
    # Skipped items first (they need attention), then the rest; at most MAX_SUMMARY_ITEMS lines.
    items = [("skipped", f"<b>{esc(where)}</b>: {esc(reason)}") for where, reason in skipped[:MAX_SUMMARY_ITEMS]]
    for kind in ("added", "replaced", "unchanged"):
        for doc_id in getattr(report, kind)[: MAX_SUMMARY_ITEMS - len(items)]:
            items.append((kind, esc(titles.get(doc_id) or doc_id)))
    lines = [f'<li><span class="qa-tag qa-tag-{kind}">{kind}</span> {body}</li>' for kind, body in items]
    total = c["added"] + c["replaced"] + c["unchanged"] + c["skipped"]
    if total > len(lines):
        lines.append(f'<li class="qa-more">… and {total - len(lines):,} more</li>')
    text = f"{c['added']} added, {c['unchanged']} unchanged, {c['replaced']} replaced, {c['skipped']} skipped"
    return (
        f'<div class="qa-summary" data-run="{next(_RUNS)}"><div class="qa-summary-line" data-summary="{esc(text)}">{pills}</div>'
        f'<ul class="qa-summary-items">{"".join(lines)}</ul></div>'
    )


def _where(where: str, names: dict[str, str]) -> str:
    """A skipped item's location with our private upload path replaced by the uploaded name."""
    for path, name in names.items():
        if where.startswith(path):
            return name + where[len(path) :]
    return where


# --- uploads ------------------------------------------------------------------------


def safe_name(name: str) -> str:
    """A file name safe to create in the upload folder: no directories, only letters (of any
    script), digits and ``._-``. Where a character had to go, a short hash of the original name
    follows, so two names never share a file ("a b.txt" and "a_b.txt", "新闻.txt" and "新聞.txt"),
    while the same name always maps to the same file (uploading it again replaces its article)."""
    base = Path(str(name).replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    safe_stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")[:80] or "upload"
    safe_suffix = re.sub(r"[^A-Za-z0-9.]+", "", suffix.lower())
    if safe_stem + safe_suffix != base:
        safe_stem += "-" + hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe_stem + safe_suffix


def upload_dir_for(assistant) -> Path:
    path = getattr(assistant.store, "path", None)
    if path is not None:
        target = Path(path) / "uploads"
    else:  # a Chroma server: keep uploads in a private folder of this machine
        target = Path(tempfile.gettempdir()) / f"qa-uploads-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    return target.resolve()


def _upload_paths(files) -> list[tuple[str, str]]:
    """(temp path, original name) for whatever gr.File hands over."""
    out = []
    for f in files or []:
        if isinstance(f, (str, os.PathLike)):
            path = str(f)
            out.append((path, Path(path).name))
        elif isinstance(f, dict):
            path = f.get("path") or f.get("name")
            out.append((path, f.get("orig_name") or Path(path).name))
        else:
            path = getattr(f, "path", None) or getattr(f, "name", None)
            out.append((path, getattr(f, "orig_name", None) or Path(path).name))
    return out


# --- the app --------------------------------------------------------------------------


def _source_choices(rows: list[dict]) -> list[tuple[str, str]]:
    """Each site once, with how many articles it has: ("example-news.com (2)", "example-news.com")."""
    counts = Counter(source_label(r["source"]) for r in rows if r.get("source"))
    return [(f"{site} ({n})", site) for site, n in sorted(counts.items(), key=lambda item: item[0].lower())]


def _doc_choices(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{(r.get('title') or r['doc_id'])[:90]}  ·  {r['doc_id']}", r["doc_id"]) for r in rows]


def _stats(rows: list[dict]) -> str:
    n = len(rows)
    sentences = sum(int(r.get("sentences") or 0) for r in rows)
    return f"{n} article{'s' if n != 1 else ''} · {sentences} sentences"


HEADER = """
<div class="qa-header">
  <div class="qa-brand"><span class="qa-logo" aria-hidden="true">❝</span><div>
    <div class="qa-title">News QA</div>
    <div class="qa-subtitle">{subtitle}</div></div></div>
  <div class="qa-stats">{stats}</div>
</div>
"""

def build_app(assistant) -> gr.Blocks:
    """The whole UI over ``assistant`` (a ``qa.Assistant``)."""
    upload_dir = upload_dir_for(assistant)
    roots = [upload_dir.parent, SAMPLE_DIR.parent.parent]  # the store (or the upload folder's), the checkout
    if assistant.llm is None:
        subtitle = "Answers quoted from your articles — every sentence cited."
    else:
        subtitle = "Answers written from sentences quoted from your articles — every sentence checked against its citation."

    def library_state(chosen=None):
        """Header, table, source filter and remove choices; the article ``chosen`` for removal stays
        chosen while it is still in the library."""
        rows = assistant.articles()
        still_there = any(row["doc_id"] == chosen for row in rows)
        return (
            HEADER.format(stats=esc(_stats(rows)), subtitle=subtitle),
            library_table(rows),
            gr.update(choices=_source_choices(rows)),
            gr.update(choices=_doc_choices(rows), value=chosen if still_there else None),
        )

    # --- chat ---
    @user_errors
    def on_ask(question, turns, sources, published_from, published_to):
        """With an LLM, the answer is shown as it is written, then replaced by its verified version."""
        question = (question or "").strip()
        if not question:
            yield (gr.skip(),) * 7
            return
        try:
            sources, start, end = check_filters(sources, published_from, published_to)
        except ValueError as exc:  # said beside the filters; the chat and the question stay as they are
            log.warning("question not asked: %s", exc)
            yield *(gr.skip(),) * 5, filter_note(error=f"Question not asked: {exc}"), gr.skip()
            return
        turns = list(turns or [])
        history = [t["question"] for t in turns][-MAX_HISTORY:]
        asked = chat_messages(turns) + [{"role": "user", "content": esc_md(question)}]
        written = ""
        try:
            for item in assistant.ask_stream(question, history=history, sources=sources, published_from=start, published_to=end):
                if isinstance(item, str):
                    written += item
                    yield "", asked + [{"role": "assistant", "content": streaming_markdown(written)}], *(gr.skip(),) * 5
                else:
                    answer = item
        except ValueError as exc:  # over a limit: the question is too long
            raise gr.Error(str(exc), print_exception=False) from None
        filters = {"sources": sources, "published_from": start, "published_to": end}
        turn = {"question": question, "answer": answer.to_dict(), "filters": filters}
        if answer.abstained:  # what the library can answer instead
            turn["nearby"] = assistant.nearby_titles(answer.resolved_question or question)
        turns.append(turn)
        index = len(turns) - 1
        yield "", chat_messages(turns), sources_html(assistant, turns, index), turns, index, filter_note(sources, start, end), copies_html(turns)

    def on_example(evt: gr.SelectData, turns, sources, published_from, published_to):
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value or "")
        yield from on_ask(text, turns, sources, published_from, published_to)

    def on_select(evt: gr.SelectData, turns, selected):
        index = evt.index
        if isinstance(index, (list, tuple)):
            index = index[0]
        try:
            turn = int(index) // 2
        except (TypeError, ValueError):
            return gr.skip(), gr.skip()
        if turn == selected or not (0 <= turn < len(turns or [])):
            return gr.skip(), gr.skip()
        return sources_html(assistant, turns, turn), turn

    @user_errors
    def on_read(evt: gr.EventData):
        """A title clicked in the Library: the article whole in the sources panel, on the Ask tab. No
        answer is selected then, so a click on any answer's [n] shows that answer's sources again."""
        doc_id = str(evt._data.get("doc_id") or "") if isinstance(evt._data, dict) else ""
        if not doc_id:
            return gr.skip(), gr.skip(), gr.skip()
        return reader_html(assistant.reading(doc_id)), None, gr.Tabs(selected="ask")

    def suggest_questions(asked: dict) -> list[str]:
        """For app.js, beside a "Not found": questions the library answers under the same filters
        (``Assistant.nearby_questions``); none when anything is wrong with the request."""
        try:
            filters = asked.get("filters") or {}
            sources, start, end = check_filters(filters.get("sources"), filters.get("published_from", ""), filters.get("published_to", ""))
            question = str(asked.get("question") or "")[:MAX_QUESTION_CHARS]
            return assistant.nearby_questions(question, sources=sources, published_from=start, published_to=end) if question else []
        except Exception as exc:  # a suggestion is a courtesy: the "Not found" stands without it
            log.warning("no questions suggested: %s", hide_paths(f"{type(exc).__name__}: {exc}"))
            return []

    def on_clear():
        return [], EMPTY_SOURCES, [], None, "", ""

    def on_filters(sources, published_from, published_to):
        try:
            return filter_note(*check_filters(sources, published_from, published_to))
        except ValueError as exc:
            return filter_note(error=str(exc))

    # --- library ---
    @user_errors
    def on_upload(files, progress=gr.Progress()):
        accepted, rejected, names = [], [], {}
        batch_names: set[str] = set()
        for temp_path, orig in _upload_paths(files):
            shown = Path(str(orig).replace("\\", "/")).name or "upload"
            suffix = Path(shown).suffix.lower()
            if suffix not in ALLOWED_SUFFIXES:
                rejected.append((shown, f"unsupported file type '{suffix or shown}' (use {', '.join(UPLOAD_TYPES)})"))
                continue
            try:
                size = os.path.getsize(temp_path)
            except (OSError, TypeError):
                rejected.append((shown, "upload could not be read"))
                continue
            if size > MAX_UPLOAD_BYTES:
                rejected.append((shown, f"file is {size / 2**20:.1f} MB, over the {MAX_UPLOAD_BYTES // 2**20} MB limit"))
                continue
            name = safe_name(shown)
            stem, ext = os.path.splitext(name)
            k = 2
            while name in batch_names:
                name, k = f"{stem}-{k}{ext}", k + 1
            batch_names.add(name)
            target = upload_dir / name
            shutil.copyfile(temp_path, target)  # a fresh copy under our name; never the browser's path
            accepted.append(target)
            names[str(target)] = shown
        # Counted in articles, not files: one JSONL may hold hundreds. Each is named as it is stored.
        total = sum(count_articles(path) for path in accepted)
        what = f"{len(accepted)} files" if len(accepted) > 1 else names[str(accepted[0])] if accepted else ""

        def on_article(done, title):
            progress((min(done, total), total), desc=f"Indexing {what}: {_where(title, names)}", unit="articles")

        if accepted:
            progress((0, total), desc=f"Indexing {what} ({total:,} article{'s' if total != 1 else ''})", unit="articles")

        from index.ingest import IngestReport

        report = assistant.ingest(accepted, on_article=on_article) if accepted else IngestReport()
        for unused in report.unused_files:  # nothing of it was stored: keep no copy
            Path(unused).unlink(missing_ok=True)
        titles = {}
        for doc_id in report.added + report.replaced + report.unchanged:
            meta = assistant.store.article_meta(doc_id) or {}
            titles[doc_id] = meta.get("title", "")
        header, table, sources_update, docs_update = library_state()
        return ingest_summary(report, names, rejected, titles), None, header, table, sources_update, docs_update

    @user_errors
    def on_remove_asked(doc_id):
        """Removing cannot be undone: name the article and ask first."""
        if not doc_id:
            return '<div class="qa-summary qa-error">Choose an article to remove.</div>', gr.Row(visible=False)
        title = (assistant.store.article_meta(doc_id) or {}).get("title") or doc_id
        return f'<div class="qa-summary">Remove <b>{esc(title)}</b> from the library? Answers will no longer cite it.</div>', gr.Row(visible=True)

    @user_errors
    def on_remove(doc_id):
        if not doc_id:
            return '<div class="qa-summary qa-error">Choose an article to remove.</div>', *library_state()
        meta = assistant.store.article_meta(doc_id) or {}
        removed = assistant.remove(doc_id)
        origin = meta.get("origin", "")
        if removed and origin:
            try:  # drop our private copy of an uploaded file too
                path = Path(origin).resolve()
                if path.parent == upload_dir and path.is_file() and not assistant.store.doc_ids_with_origin(origin):
                    path.unlink()
            except OSError:
                pass
        if removed:
            note = f'<div class="qa-summary">Removed <b>{esc(meta.get("title") or doc_id)}</b>.</div>'
        else:
            note = f'<div class="qa-summary qa-error">No article with doc id {esc(doc_id)}.</div>'
        return note, *library_state()

    # --- API ---
    @user_errors
    def ask(
        question: str,
        history: Optional[list[str]] = None,
        sources: Optional[list[str]] = None,
        published_from: str = "",
        published_to: str = "",
    ) -> dict:
        """Answer a question from the articles, with every sentence cited; the same JSON as `qa ask --json`.

        Args:
            question: The question, e.g. "What did Netanyahu say about Rafah?"
            history: The earlier questions of the conversation, oldest first, so that a follow-up ("When did he say that?") is understood.
            sources: Search only the articles from these sources (as listed by `qa articles`); empty or None searches them all.
            published_from: Search only articles published on or after this day, YYYY-MM-DD ("" for no limit).
            published_to: Search only articles published on or before this day, YYYY-MM-DD ("" for no limit).
        Returns:
            The answer as JSON: question, text (the cited sentences with [n] markers, or "Not found in these articles."), abstained (true when nothing answers), citations (each: marker, doc_id, source, title, published, url, start, end, text, score, speaker; text is the article's text[start:end]), resolved_question (a follow-up read as a standalone question), dropped (sentences an LLM wrote that their citations did not support), confidence (the calibrated probability that the articles answer it).
        """
        try:
            sources, start, end = check_filters(sources, published_from, published_to)
            if sources:  # given as the API shows them
                shown = {public_source(row.get("source", ""), roots): row.get("source", "") for row in assistant.articles()}
                sources = [shown.get(source, source) for source in sources]
            answer = assistant.ask(question, history=list(history or []), sources=sources, published_from=start, published_to=end)
        except ValueError as exc:  # a bad filter, or a question or history over its limit: the caller gets the message, the log one line
            log.warning("question not asked: %s", exc)
            raise gr.Error(str(exc), print_exception=False) from None
        result = answer.to_dict()
        for citation in result["citations"]:
            citation["source"] = public_source(citation["source"], roots)
        return result

    @user_errors
    def on_library_changed(seen, chosen=None):
        """Every few seconds: when any tab or process has changed the library, show it here too
        (without dropping what this tab has chosen to remove)."""
        now = assistant.store.generation()
        if now == seen:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return *library_state(chosen), now

    rows = assistant.articles()
    with gr.Blocks(title="News QA", fill_width=True) as app:
        turns = gr.State([])
        selected = gr.State(None)
        generation = gr.State(None)  # the library generation this tab shows
        header = gr.HTML(HEADER.format(stats=esc(_stats(rows)), subtitle=subtitle), elem_id="qa-header")
        with gr.Tabs(elem_id="qa-tabs") as tabs:
            with gr.Tab("Ask", id="ask", elem_id="qa-tab-ask"):
                with gr.Row(equal_height=False, elem_id="qa-main"):
                    with gr.Column(scale=5, min_width=380, elem_id="qa-left"):
                        chatbot = gr.Chatbot(
                            value=[],
                            elem_id="qa-chat",
                            show_label=False,
                            height="62vh",
                            min_height=420,
                            placeholder=(
                                "<div class='qa-placeholder'><b>Ask about the news in your library.</b><br>"
                                + (
                                    "Answers are written by a language model from sentences quoted from the articles; "
                                    "each sentence it writes is checked against the sentences it cites, and removed "
                                    "if they do not support it. Follow-up questions work too.</div>"
                                    if assistant.llm is not None
                                    else "Answers are made only of sentences quoted from the articles, each with a "
                                    "numbered citation. Follow-up questions work too.</div>"
                                )
                            ),
                            examples=[{"text": q} for q in EXAMPLES],
                            latex_delimiters=[],
                            sanitize_html=True,
                            render_markdown=True,
                            line_breaks=False,
                            feedback_options=None,
                            buttons=[],
                            layout="bubble",
                            autoscroll=True,
                        )
                        with gr.Row(elem_id="qa-input-row"):
                            question = gr.Textbox(
                                show_label=False,
                                placeholder="Ask about the articles…",
                                lines=1,
                                max_lines=4,
                                scale=8,
                                elem_id="qa-question",
                                container=False,
                                autofocus=True,
                            )
                            ask_button = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="qa-ask")
                        with gr.Accordion("Filters: sources and publication dates", open=False, elem_id="qa-filters"):
                            with gr.Row(equal_height=True):
                                source_filter = gr.Dropdown(
                                    choices=_source_choices(rows),
                                    multiselect=True,
                                    label="Sources (none chosen: all)",
                                    elem_id="qa-source-filter",
                                    scale=2,
                                    min_width=200,
                                )
                                date_from = gr.Textbox(
                                    label="From", placeholder="YYYY-MM-DD", elem_id="qa-from", scale=1, min_width=120
                                )
                                date_to = gr.Textbox(
                                    label="To", placeholder="YYYY-MM-DD", elem_id="qa-to", scale=1, min_width=120
                                )
                            filter_line = gr.HTML(
                                filter_note(),
                                elem_id="qa-filter-note",
                            )
                    with gr.Column(scale=6, min_width=420, elem_id="qa-right"):
                        sources_panel = gr.HTML(
                            EMPTY_SOURCES,
                            elem_id="qa-sources",
                            js_on_load=(STATIC / "app.js").read_text(encoding="utf-8"),
                            server_functions=[suggest_questions],
                            padding=False,
                        )
                        copies = gr.HTML("", elem_id="qa-copies", visible="hidden")  # each answer's Markdown and marker previews
            with gr.Tab("Library", id="library", elem_id="qa-tab-library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=320):
                        gr.HTML(
                            "<div class='qa-section-title'>Add articles</div>"
                            "<div class='qa-hint'>Plain text, Markdown, HTML pages, or JSON / JSONL exports "
                            "(fields <code>id url title text authors published</code>). Up to 8 MB per file. "
                            "Re-uploading a file with the same name replaces its article.</div>"
                        )
                        uploads = gr.File(
                            file_count="multiple",  # any type: what we cannot read is named in the summary
                            type="filepath",
                            label="Upload articles",
                            elem_id="qa-upload",
                            height=160,
                        )
                        # An empty summary to start with: app.js replaces it when the browser refuses a file.
                        summary = gr.HTML('<div class="qa-summary" data-run="0"></div>', elem_id="qa-summary")
                        gr.HTML(
                            "<div class='qa-section-title' style='margin-top:18px'>Remove an article</div>"
                            "<div class='qa-hint'>Choose an article (type to search by title or doc id).</div>"
                        )
                        with gr.Row(equal_height=True, elem_id="qa-remove-row"):
                            remove_choice = gr.Dropdown(
                                choices=_doc_choices(rows),
                                label="Article to remove",
                                show_label=False,
                                container=False,
                                scale=4,
                                elem_id="qa-remove-choice",
                            )
                            remove_button = gr.Button("Remove", variant="stop", scale=1, min_width=90, elem_id="qa-remove")
                        remove_note = gr.HTML("", elem_id="qa-remove-note")
                        with gr.Row(visible=False, elem_id="qa-remove-confirm-row") as confirm_row:
                            confirm_button = gr.Button("Yes, remove", variant="stop", size="sm", elem_id="qa-remove-confirm")
                            cancel_button = gr.Button("Cancel", size="sm", elem_id="qa-remove-cancel")
                    with gr.Column(scale=7):
                        gr.HTML("<div class='qa-section-title'>Indexed articles</div>")
                        # Filters the rows in the browser (app.js): instant, and no request per keystroke.
                        gr.Textbox(
                            show_label=False,
                            container=False,
                            placeholder="Search titles, sources, dates, doc ids…",
                            elem_id="qa-library-search",
                        )
                        table = gr.HTML(library_table(rows), elem_id="qa-articles")

        ask_outputs = [question, chatbot, sources_panel, turns, selected, filter_line, copies]
        filter_inputs = [source_filter, date_from, date_to]
        # The progress shows on the chat; the sources stay readable until the new answer replaces them.
        asking = {"api_visibility": "private", "show_progress_on": [chatbot]}
        question.submit(on_ask, [question, turns, *filter_inputs], ask_outputs, **asking)
        ask_button.click(on_ask, [question, turns, *filter_inputs], ask_outputs, **asking)
        chatbot.example_select(on_example, [turns, *filter_inputs], ask_outputs, **asking)
        # No progress over the panel: a click on a marker must not dim the span it reveals.
        chatbot.select(on_select, [turns, selected], [sources_panel, selected], api_visibility="private", show_progress="hidden")
        # The chatbot's own clear (trash) button starts a new conversation: no history, no sources.
        # app.js triggers the panel's click with the doc id of a title clicked in the Library.
        sources_panel.click(on_read, None, [sources_panel, selected, tabs], api_visibility="private", show_progress="hidden")
        chatbot.clear(on_clear, None, [chatbot, sources_panel, turns, selected, question, copies], api_visibility="private")
        for box in filter_inputs:
            box.change(on_filters, filter_inputs, filter_line, api_visibility="private", show_progress="hidden")
        uploads.upload(
            on_upload,
            uploads,
            [summary, uploads, header, table, source_filter, remove_choice],
            api_visibility="private",
            show_progress="full",
            show_progress_on=[summary],  # the progress sits where the summary will; the page stays readable
        )
        remove_button.click(on_remove_asked, remove_choice, [remove_note, confirm_row], api_visibility="private")
        confirm_button.click(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private").then(
            on_remove, remove_choice, [remove_note, header, table, source_filter, remove_choice], api_visibility="private"
        )
        cancel_button.click(lambda: ("", gr.Row(visible=False)), None, [remove_note, confirm_row], api_visibility="private")
        # Choosing another article withdraws the question (at once, not behind the queue).
        remove_choice.input(lambda: gr.Row(visible=False), None, confirm_row, api_visibility="private", queue=False)
        library_outputs = [header, table, source_filter, remove_choice, generation]
        app.load(lambda: on_library_changed(None), None, library_outputs, api_visibility="private", show_progress="hidden")
        # Outside the queue: a poll never waits behind an ask or an upload, nor holds one up.
        gr.Timer(LIBRARY_POLL_SECONDS).tick(
            on_library_changed, [generation, remove_choice], library_outputs, api_visibility="private", show_progress="hidden", queue=False
        )
        gr.api(ask, api_name="ask")
        describe_api(app, ask, "ask")
    return app


def describe_api(app: gr.Blocks, fn, api_name: str) -> None:
    """Name and describe an endpoint's parameters and result in the API docs and ``view_api`` from
    ``fn``'s docstring (gr.api would call them "1st", "2nd" … and its result ``Any``)."""
    from gradio.utils import get_function_description

    _, params, returns = get_function_description(fn)
    endpoint = next(f for f in app.fns.values() if f.api_name == api_name)
    for component, name in zip(endpoint.inputs, params):
        component.label = name
        component._api_info = {**component._api_info, "additional_description": params[name]}
    (result,) = endpoint.outputs
    result.label = " ".join(returns)  # the docs page shows a result's label, not its description
    result._api_info = {"type": "object", "additionalProperties": {}, "description": " ".join(returns)}


THEME = gr.themes.Soft(
    primary_hue="indigo",
    neutral_hue="slate",
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

# Gradio's page needs inline scripts and styles (its config, the components' styles) and runs the
# panel's js_on_load with new Function; everything else may come only from this server, and no
# other site may frame the app.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' blob:; connect-src 'self' ws: wss:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def allowed_hosts(host: str, extra=()) -> frozenset[str]:
    """The names a request's Host header may give: the address the app is bound to, the loopback
    names, this machine's names when bound to every interface, and ``extra`` (``--allow-host``)."""
    names = {host, "localhost", "127.0.0.1", "::1", *extra}
    if host in ("0.0.0.0", "::", ""):
        names |= {socket.gethostname(), socket.getfqdn()}
    return frozenset(name.lower().strip("[]") for name in names if name)


class HostGuard:
    """ASGI middleware: a request whose Host header names another host is refused (a page of another
    site whose name was pointed at this machine, DNS rebinding, cannot reach the app), and every
    response carries ``SECURITY_HEADERS``."""

    def __init__(self, app, hosts: frozenset[str]):
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1").lower()
        name = host[1 : host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name not in self.hosts:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"text/plain"), *SECURITY_HEADERS]})
            return await send({"type": "http.response.body", "body": b"unknown host (start the app with --allow-host NAME to allow it)"})

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
                if message["status"] == 403 and "/file=" in scope.get("path", ""):  # gradio says nothing of it
                    log.warning("refused a request for a file outside the app: %s", hide_paths(scope["path"].split("/file=", 1)[1])[:200])
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def launch_options(max_file_size: str = MAX_UPLOAD_SIZE, hosts: frozenset[str] = allowed_hosts("127.0.0.1")) -> dict:
    """What ``serve`` passes to ``launch`` besides host and port."""
    from starlette.middleware import Middleware

    return {
        "theme": THEME,
        "css": (STATIC / "app.css").read_text(encoding="utf-8"),
        "max_file_size": max_file_size,
        "allowed_paths": [],  # nothing but gradio's own upload cache is served
        "show_error": True,
        "footer_links": ["api"],
        "app_kwargs": {"middleware": [Middleware(HostGuard, hosts=hosts)]},
    }


def ensure_samples(assistant, sample_dir: Path = SAMPLE_DIR):
    """On a first start with an empty store, index the sample articles. Returns the report or None."""
    if assistant.store.article_list() or not sample_dir.is_dir():
        return None
    return assistant.ingest([sample_dir])


def serve(assistant, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True, quiet: bool = False, allow_hosts=()):
    """Launch the app. With ``block=False`` returns ``(app, url)`` and serves in the background.
    Requests must name ``host`` (or a loopback name, or one of ``allow_hosts``) in their Host header."""
    report = ensure_samples(assistant)
    if report is not None and not quiet:
        print(f"qa: empty store, indexed the sample articles: {report.summary()}")
    assistant.embedder, assistant.query_embedder  # load the models once, before the first request
    app = build_app(assistant)
    app.queue(default_concurrency_limit=2)
    _, url, _ = app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        quiet=quiet,
        **launch_options(hosts=allowed_hosts(host, allow_hosts)),
    )
    assistant.store.serving(url)  # from now on another process is told to use the app, not to wait
    if block:
        app.block_thread()
    return app, url


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the News QA web app.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="a host name the app may be reached by besides --host and localhost (repeatable)")
    parser.add_argument("--store", metavar="DIR", help="embedded Chroma store directory (default $QA_STORE or .qa-store/)")
    parser.add_argument("--chroma-host", metavar="HOST", help="use a Chroma server instead")
    parser.add_argument("--chroma-port", metavar="PORT", type=int, default=8000)
    parser.add_argument("--reranker", metavar="PATH", help="answer-sentence reranker folder (default: $QA_RERANKER or models/reranker; 'none': off)")
    parser.add_argument("--query-encoder", metavar="PATH", help="question encoder folder (default: $QA_QUERY_ENCODER or models/query_encoder; 'none': the packaged model)")
    add_llm_arguments(parser)
    args = parser.parse_args(argv)
    from qa.assistant import Assistant
    from qa.cli import watch_for_crashes
    from qa.query_encoder import query_encoder_option
    from qa.rerank import reranker_option

    if argv is None:  # python app.py: a crash inside Chroma says which store, as `qa serve` does
        watch_for_crashes(argparse.Namespace(**vars(args), command="serve"))

    try:
        llm, prompts = llm_from_args(args)
        options = {"llm": llm, "prompts": prompts, "owner": "app.py", "reranker": reranker_option(args.reranker),
                   "query_encoder": query_encoder_option(args.query_encoder)}
        if args.chroma_host:
            assistant = Assistant(chroma_host=args.chroma_host, chroma_port=args.chroma_port, **options)
        else:
            assistant = Assistant(store=args.store, **options)
    except (LLMSetupError, OSError, ValueError) as exc:  # a store held by another app, or damaged
        parser.exit(1, f"app.py: {exc}\n")
    serve(assistant, host=args.host, port=args.port, allow_hosts=args.allow_host)


if __name__ == "__main__":
    main()
