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
import hashlib
import html
import itertools
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

from index.articles import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, site_of  # noqa: E402
from qa.assistant import MAX_HISTORY  # noqa: E402
from qa.retrieve import Filters  # noqa: E402
from qa.llm import LLMSetupError, add_llm_arguments, llm_from_args, not_found_text  # noqa: E402

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
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
    return f'<a class="qa-marker" href="#cite-{n}" title="Show source {n}">[{n}]</a>'


def answer_markdown(answer: dict) -> str:
    """The chat bubble of one answer: its sentences, escaped, each followed by a clickable [n]."""
    if answer.get("abstained") or not answer.get("citations"):
        return esc_md(answer.get("text") or NOT_FOUND)
    groups = _groups(answer)
    text = answer.get("text") or ""
    if text == " ".join(f"{cs[0]['text']} [{n}]" for n, cs in groups):
        return " ".join(f"{esc_md(cs[0]['text'])} {marker_link(n)}" for n, cs in groups)
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
        messages.append({"role": "assistant", "content": answer_markdown(turn["answer"])})
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
  <div class="qa-empty-icon">¶</div>
  <div class="qa-empty-title">Sources appear here</div>
  <div class="qa-empty-text">Ask a question. Every sentence of an answer is quoted from an article;
  the articles it came from are shown here in full, with the quoted sentences highlighted.</div>
</div>
"""


def sources_html(assistant, turns: list[dict], index: Optional[int]) -> str:
    """The sources panel for the answer of turn ``index``."""
    if not turns or index is None or not (0 <= index < len(turns)):
        return EMPTY_SOURCES
    turn = turns[index]
    answer = turn["answer"]
    head = [f'<div class="qa-src-question"><span class="qa-label">Question {index + 1}</span> {esc(turn["question"])}</div>']
    resolved = answer.get("resolved_question") or ""
    if resolved and resolved.strip() != turn["question"].strip():
        head.append(f'<div class="qa-src-resolved">Read as: {esc(resolved)}</div>')
    filters = turn.get("filters") or {}
    if any(filters.values()):
        head.append(f'<div class="qa-src-resolved">Filters: {esc(describe_filters(**filters))}</div>')
    header = f'<div class="qa-src-head">{"".join(head)}</div>'
    if answer.get("abstained") or not answer.get("citations"):
        return (
            f'<div class="qa-sources" data-turn="{index}">{header}'
            f'<div class="qa-notfound">{esc(answer.get("text") or NOT_FOUND)} No sentence in the library answers this '
            "question, so nothing is cited.</div></div>"
        )

    groups = _groups(answer)
    cited = []
    for n, cs in groups:
        c = cs[0]
        where = "; ".join(dict.fromkeys(c2.get("title") or c2["doc_id"] for c2 in cs))
        cited.append(
            f'<li><a class="qa-chip" href="#cite-{n}" title="Show in the article">{n}</a>'
            f'<div class="qa-cited-body"><div class="qa-cited-text">{esc(c["text"])}</div>'
            f'<div class="qa-meta">{esc(where)} · score {float(c.get("score") or 0):.3f}'
            f'{" · " + esc(c["speaker"]) if c.get("speaker") else ""}</div></div></li>'
        )

    # Articles in order of first citation; each marker's first span gets id cite-n.
    docs: dict[str, list[tuple[int, dict]]] = {}
    for n, cs in groups:
        for c in cs:
            docs.setdefault(c["doc_id"], []).append((n, c))
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
        article = assistant.article(doc_id)
        first = items[0][1]
        title = (article.title if article else first.get("title")) or doc_id
        source = (article.source if article else first.get("source")) or ""
        published = (article.published if article else first.get("published")) or ""
        url = safe_url(article.url if article else first.get("url", ""))
        meta = [f'<span title="{esc(source)}">{esc(source_label(source)) or "unknown source"}</span>']
        meta.append(f"<span>{esc(published) if published else 'date unknown'}</span>")
        if url:
            meta.append(f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">open original ↗</a>')
        markers = "".join(f'<a class="qa-chip small" href="#{esc(mid)}">{n}</a>' for _, _, n, mid in spans)
        if article is not None:
            body = f'<div class="qa-article-text">{highlight(article.text, spans)}</div>'
        else:
            body = '<div class="qa-article-text qa-gone">This article is no longer in the library. Cited: ' + " ".join(
                f'<mark class="qa-mark" id="{esc(mid)}" data-marker="{n}">{esc(c["text"])}</mark>'
                for (_, _, n, mid), (_, c) in zip(spans, items)
            ) + "</div>"
        articles.append(
            f'<article class="qa-article" data-doc="{esc(doc_id)}"><header>'
            f'<div class="qa-article-title">{esc(title)}</div>'
            f'<div class="qa-meta">{" · ".join(meta)}</div>'
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
        f'{len(docs)} article{"s" if len(docs) != 1 else ""}</div>{"".join(articles)}</section></div>'
    )


def filter_note(sources=(), published_from: str = "", published_to: str = "", error: str = "") -> str:
    """The line under the filters: what the next question searches, or what is wrong with them."""
    if error:
        return f'<div class="qa-filter-note qa-error" role="alert">{esc(error)}</div>'
    text = describe_filters(sources, published_from, published_to)
    if not text:
        return '<div class="qa-filter-note">No filters: questions search every article.</div>'
    undated = " Articles without a date are left out." if published_from or published_to else ""
    return f'<div class="qa-filter-note qa-active">Next question searches only {esc(text)}.{undated}</div>'


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
    if not rows:
        return '<div class="qa-table-empty">The library is empty. Upload articles to start.</div>'
    body = []
    for row in rows:
        url = safe_url(row.get("url", ""))
        title = esc(row.get("title") or row["doc_id"])
        if url:
            title = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer nofollow">{title}</a>'
        body.append(
            f"<tr><td class='qa-col-title'>{title}</td>"
            f"<td title='{esc(row.get('source', ''))}'>{esc(source_label(row.get('source', '')))}</td>"
            f"<td>{esc(row.get('published') or '—')}</td>"
            f"<td class='qa-num'>{esc(row.get('sentences', ''))}</td>"
            f"<td><code>{esc(row['doc_id'])}</code></td></tr>"
        )
    return (
        '<div class="qa-table-wrap"><table class="qa-table"><thead><tr><th>Title</th><th>Source</th><th>Published</th>'
        f'<th class="qa-num">Sentences</th><th>Doc id</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>'
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
  <div class="qa-brand"><span class="qa-logo">❝</span><div>
    <div class="qa-title">News QA</div>
    <div class="qa-subtitle">{subtitle}</div></div></div>
  <div class="qa-stats">{stats}</div>
</div>
"""

# Marker navigation: a click on any [n] (in the chat or in the panel) scrolls the panel to
# its <mark>. Clicking a marker of an older answer also selects that answer (the chatbot's
# select event), so the panel is re-rendered; we then scroll again once it has changed.
NAV_JS = r"""
if (!window.__qaCiteNav) {
  window.__qaCiteNav = true;
  const panel = () => document.querySelector('#qa-sources .qa-sources');
  const reveal = (id) => {
    const el = document.getElementById(id);
    if (!el) return false;
    const box = el.closest('.qa-sources');
    if (box) {  // scroll the panel only, centring the span below the sticky article header
      const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
      box.scrollTo({top: box.scrollTop + (r.top - b.top) - Math.max(120, (b.height - r.height) / 2), behavior: 'smooth'});
      if (b.top < 0 || b.bottom > window.innerHeight) box.scrollIntoView({block: 'nearest'});
    } else {
      el.scrollIntoView({behavior: 'smooth', block: 'center'});
    }
    document.querySelectorAll('mark.qa-flash').forEach(m => m.classList.remove('qa-flash'));
    void el.offsetWidth;
    el.classList.add('qa-flash');
    return true;
  };
  window.__qaReveal = reveal;
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#cite-"]');
    if (!link) return;
    event.preventDefault();
    const id = decodeURIComponent(link.getAttribute('href').slice(1));
    const before = panel() ? panel().getAttribute('data-turn') : null;
    reveal(id);
    if (!link.closest('#qa-sources')) {
      let tries = 0;
      const timer = setInterval(() => {
        tries += 1;
        const now = panel() ? panel().getAttribute('data-turn') : null;
        if (now !== before) { clearInterval(timer); setTimeout(() => reveal(id), 50); }
        else if (tries > 30) clearInterval(timer);
      }, 100);
    }
  }, true);
}
"""


def build_app(assistant) -> gr.Blocks:
    """The whole UI over ``assistant`` (a ``qa.Assistant``)."""
    upload_dir = upload_dir_for(assistant)
    roots = [upload_dir.parent, SAMPLE_DIR.parent.parent]  # the store (or the upload folder's), the checkout
    if assistant.llm is None:
        subtitle = "Answers quoted from your articles — every sentence cited."
    else:
        subtitle = "Answers written from sentences quoted from your articles — every sentence checked against its citation."

    def library_state():
        rows = assistant.articles()
        return (
            HEADER.format(stats=esc(_stats(rows)), subtitle=subtitle),
            library_table(rows),
            gr.update(choices=_source_choices(rows)),
            gr.update(choices=_doc_choices(rows), value=None),
        )

    # --- chat ---
    def on_ask(question, turns, sources, published_from, published_to):
        """With an LLM, the answer is shown as it is written, then replaced by its verified version."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        try:
            sources, start, end = check_filters(sources, published_from, published_to)
        except ValueError as exc:  # said beside the filters; the chat and the question stay as they are
            log.warning("question not asked: %s", exc)
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), filter_note(error=f"Question not asked: {exc}")
            return
        turns = list(turns or [])
        history = [t["question"] for t in turns][-MAX_HISTORY:]
        asked = chat_messages(turns) + [{"role": "user", "content": esc_md(question)}]
        written = ""
        try:
            for item in assistant.ask_stream(question, history=history, sources=sources, published_from=start, published_to=end):
                if isinstance(item, str):
                    written += item
                    yield "", asked + [{"role": "assistant", "content": streaming_markdown(written)}], gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    answer = item
        except ValueError as exc:  # over a limit: the question is too long
            raise gr.Error(str(exc)) from None
        filters = {"sources": sources, "published_from": start, "published_to": end}
        turns.append({"question": question, "answer": answer.to_dict(), "filters": filters})
        index = len(turns) - 1
        yield "", chat_messages(turns), sources_html(assistant, turns, index), turns, index, filter_note(sources, start, end)

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

    def on_clear():
        return [], EMPTY_SOURCES, [], None, ""

    def on_filters(sources, published_from, published_to):
        try:
            return filter_note(*check_filters(sources, published_from, published_to))
        except ValueError as exc:
            return filter_note(error=str(exc))

    # --- library ---
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
        progress((0, max(len(accepted), 1)), desc="Indexing", unit="files")

        def tick(done, total):
            progress((done, total), desc=f"Indexing {done}/{total}", unit="files")

        from index.ingest import IngestReport

        report = assistant.ingest(accepted, progress=tick) if accepted else IngestReport()
        for unused in report.unused_files:  # nothing of it was stored: keep no copy
            Path(unused).unlink(missing_ok=True)
        titles = {}
        for doc_id in report.added + report.replaced + report.unchanged:
            meta = assistant.store.article_meta(doc_id) or {}
            titles[doc_id] = meta.get("title", "")
        header, table, sources_update, docs_update = library_state()
        return ingest_summary(report, names, rejected, titles), None, header, table, sources_update, docs_update

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
    def ask(
        question: str,
        history: Optional[list[str]] = None,
        sources: Optional[list[str]] = None,
        published_from: str = "",
        published_to: str = "",
    ) -> dict:
        """Answer a question from the articles; the same JSON as `qa ask --json`."""
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

    rows = assistant.articles()
    with gr.Blocks(title="News QA", fill_width=True) as app:
        turns = gr.State([])
        selected = gr.State(None)
        header = gr.HTML(HEADER.format(stats=esc(_stats(rows)), subtitle=subtitle), elem_id="qa-header")
        with gr.Tabs(elem_id="qa-tabs"):
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
                                placeholder="Ask a question about the articles…",
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
                            js_on_load=NAV_JS,
                            padding=False,
                        )
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
                            file_count="multiple",
                            file_types=UPLOAD_TYPES,
                            type="filepath",
                            label="Upload articles",
                            elem_id="qa-upload",
                            height=160,
                        )
                        summary = gr.HTML("", elem_id="qa-summary")
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
                    with gr.Column(scale=7):
                        gr.HTML("<div class='qa-section-title'>Indexed articles</div>")
                        table = gr.HTML(library_table(rows), elem_id="qa-articles")

        ask_outputs = [question, chatbot, sources_panel, turns, selected, filter_line]
        filter_inputs = [source_filter, date_from, date_to]
        question.submit(on_ask, [question, turns, *filter_inputs], ask_outputs, api_visibility="private")
        ask_button.click(on_ask, [question, turns, *filter_inputs], ask_outputs, api_visibility="private")
        chatbot.example_select(on_example, [turns, *filter_inputs], ask_outputs, api_visibility="private")
        chatbot.select(on_select, [turns, selected], [sources_panel, selected], api_visibility="private")
        # The chatbot's own clear (trash) button starts a new conversation: no history, no sources.
        chatbot.clear(on_clear, None, [chatbot, sources_panel, turns, selected, question], api_visibility="private")
        for box in filter_inputs:
            box.change(on_filters, filter_inputs, filter_line, api_visibility="private", show_progress="hidden")
        uploads.upload(
            on_upload,
            uploads,
            [summary, uploads, header, table, source_filter, remove_choice],
            api_visibility="private",
            show_progress="full",
        )
        remove_button.click(
            on_remove, remove_choice, [remove_note, header, table, source_filter, remove_choice], api_visibility="private"
        )
        app.load(library_state, None, [header, table, source_filter, remove_choice], api_visibility="private")
        gr.api(ask, api_name="ask")
    return app


THEME = gr.themes.Soft(
    primary_hue="indigo",
    neutral_hue="slate",
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = r"""
.gradio-container { width: 100% !important; max-width: 1480px !important; margin: 0 auto !important; }
footer { opacity: .7; }
#qa-header { margin-bottom: 4px; }
.qa-header { display: flex; align-items: center; justify-content: space-between; padding: 6px 4px 2px; }
.qa-brand { display: flex; align-items: center; gap: 12px; }
.qa-logo { display: inline-flex; width: 40px; height: 40px; border-radius: 10px; align-items: center;
  justify-content: center; background: linear-gradient(135deg, #4f46e5, #7c3aed); color: #fff; font-size: 24px;
  font-family: Georgia, serif; }
.qa-title { font-size: 1.35rem; font-weight: 700; letter-spacing: -.01em; }
.qa-subtitle { color: var(--body-text-color-subdued); font-size: .9rem; }
.qa-stats { color: var(--body-text-color-subdued); font-size: .85rem; background: var(--background-fill-secondary);
  border: 1px solid var(--border-color-primary); padding: 4px 10px; border-radius: 999px; }
#qa-chat a.qa-marker { display: inline-block; text-decoration: none; font-weight: 600; font-size: .78em;
  color: #4338ca; background: #e0e7ff; border-radius: 6px; padding: 0 5px; margin-left: 2px; vertical-align: 1px;
  cursor: pointer; }
#qa-chat a.qa-marker:hover { background: #4f46e5; color: #fff; }
.qa-placeholder { color: var(--body-text-color-subdued); text-align: center; line-height: 1.5; max-width: 460px; margin: 0 auto; }
#qa-input-row { align-items: stretch; gap: 8px; }
.qa-filter-note { font-size: .85rem; color: var(--body-text-color-subdued); padding: 2px 2px 4px; }
.qa-filter-note.qa-active { color: #4338ca; }
.qa-error { color: #b91c1c !important; }
.qa-sources { height: calc(62vh + 150px); min-height: 560px; overflow-y: auto; box-sizing: border-box;
  border: 1px solid var(--border-color-primary); border-radius: 12px; background: var(--background-fill-primary);
  padding: 16px 18px 24px; }
.qa-empty { display: flex; flex-direction: column; align-items: center; justify-content: center; text-align: center;
  min-height: 460px; color: var(--body-text-color-subdued); }
.qa-empty-icon { font-size: 44px; color: #c7d2fe; font-family: Georgia, serif; }
.qa-empty-title { font-weight: 600; font-size: 1.05rem; color: var(--body-text-color); margin: 4px 0 6px; }
.qa-empty-text { max-width: 380px; line-height: 1.5; font-size: .92rem; }
.qa-src-head { border-bottom: 1px solid var(--border-color-primary); padding-bottom: 10px; margin-bottom: 12px; }
.qa-src-question { font-weight: 600; font-size: 1rem; }
.qa-label { display: inline-block; font-size: .72rem; font-weight: 600; text-transform: uppercase; letter-spacing: .05em;
  color: #6366f1; margin-right: 6px; }
.qa-src-resolved { color: var(--body-text-color-subdued); font-size: .85rem; margin-top: 2px; }
.qa-notfound { padding: 14px 16px; border-radius: 10px; background: var(--background-fill-secondary);
  color: var(--body-text-color-subdued); }
.qa-section-title { font-size: .75rem; font-weight: 700; text-transform: uppercase; letter-spacing: .06em;
  color: var(--body-text-color-subdued); margin: 4px 0 8px; }
.qa-cited ol { list-style: none; padding: 0; margin: 0 0 16px; }
.qa-cited li { display: flex; gap: 10px; align-items: flex-start; padding: 8px 10px; border-radius: 8px;
  background: var(--background-fill-secondary); margin-bottom: 6px; }
.qa-cited-text { font-size: .92rem; line-height: 1.45; }
.qa-meta { font-size: .78rem; color: var(--body-text-color-subdued); margin-top: 2px; }
.qa-meta a { color: #4f46e5; }
a.qa-chip { flex: 0 0 auto; display: inline-flex; align-items: center; justify-content: center; min-width: 22px;
  height: 22px; padding: 0 6px; border-radius: 6px; background: #4f46e5; color: #fff !important; font-size: .78rem;
  font-weight: 700; text-decoration: none; }
a.qa-chip.small { min-width: 18px; height: 18px; font-size: .7rem; margin-left: 3px; }
.qa-article { border: 1px solid var(--border-color-primary); border-radius: 10px; margin-bottom: 14px; }
.qa-article header { padding: 10px 14px; background: var(--background-fill-secondary); border-radius: 10px 10px 0 0;
  border-bottom: 1px solid var(--border-color-primary); position: sticky; top: -16px; z-index: 1;
  box-shadow: 0 1px 0 var(--border-color-primary); }
.qa-article-title { font-weight: 650; font-size: 1rem; line-height: 1.35; }
.qa-article-cites { font-size: .78rem; color: var(--body-text-color-subdued); margin-top: 4px; }
.qa-article-text { white-space: pre-wrap; padding: 12px 16px; font-family: Georgia, "Times New Roman", serif;
  font-size: .98rem; line-height: 1.65; color: var(--body-text-color); overflow-wrap: anywhere; }
mark.qa-mark { background: #fef08a; color: inherit; padding: 1px 2px; border-radius: 3px;
  box-shadow: inset 0 -2px 0 #facc15; scroll-margin: 130px 0 40px; transition: background .3s; }
mark.qa-mark::before { content: attr(data-marker); display: inline-block; font-family: ui-sans-serif, system-ui, sans-serif;
  font-size: .68rem; font-weight: 700; color: #fff; background: #4f46e5; border-radius: 4px; padding: 0 4px;
  margin-right: 4px; vertical-align: 2px; line-height: 1.4; }
mark.qa-mark.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { 0% { background: #f59e0b; box-shadow: 0 0 0 4px rgba(245,158,11,.45); }
  100% { background: #fef08a; box-shadow: inset 0 -2px 0 #facc15; } }
.qa-hint { font-size: .85rem; color: var(--body-text-color-subdued); margin-bottom: 8px; line-height: 1.45; }
.qa-summary { font-size: .9rem; margin-top: 8px; }
.qa-summary-line { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 8px; }
.qa-pill { border-radius: 999px; padding: 2px 10px; font-size: .82rem; border: 1px solid var(--border-color-primary); }
.qa-pill.zero { opacity: .55; }
.qa-pill-added:not(.zero) { background: #dcfce7; border-color: #86efac; color: #166534; }
.qa-pill-replaced:not(.zero) { background: #e0e7ff; border-color: #a5b4fc; color: #3730a3; }
.qa-pill-skipped:not(.zero) { background: #fee2e2; border-color: #fca5a5; color: #991b1b; }
.qa-summary-items { list-style: none; padding: 0; margin: 0; }
.qa-summary-items li { padding: 3px 0; overflow-wrap: anywhere; }
.qa-summary-items li.qa-more { color: var(--body-text-color-subdued); font-style: italic; }
.qa-writing { color: var(--body-text-color-subdued); font-size: .8em; font-style: italic; }
.qa-dropped ul { margin: 0 0 16px; padding-left: 18px; color: var(--body-text-color-subdued); font-size: .88rem; }
.qa-dropped li { text-decoration: line-through; text-decoration-color: #fca5a5; margin-bottom: 4px; }
.qa-tag { display: inline-block; font-size: .7rem; font-weight: 700; text-transform: uppercase; border-radius: 4px;
  padding: 0 5px; margin-right: 4px; background: var(--background-fill-secondary); }
.qa-tag-added { color: #166534; background: #dcfce7; }
.qa-tag-replaced { color: #3730a3; background: #e0e7ff; }
.qa-tag-skipped { color: #991b1b; background: #fee2e2; }
.qa-table-wrap { max-height: 70vh; overflow-y: auto; border: 1px solid var(--border-color-primary); border-radius: 10px;
  background: var(--background-fill-primary); }
#qa-articles table.qa-table { width: 100%; border-collapse: collapse; font-size: .88rem; border: none; margin: 0; }
#qa-articles table.qa-table th, #qa-articles table.qa-table td { border: none; border-bottom: 1px solid var(--border-color-primary); }
#qa-articles table.qa-table tr { border: none; }
#qa-articles table.qa-table tr:last-child td { border-bottom: none; }
.qa-table th { position: sticky; top: 0; background: var(--background-fill-secondary); text-align: left; font-size: .72rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); border-bottom: 1px solid var(--border-color-primary); padding: 6px 8px; }
.qa-table td { border-bottom: 1px solid var(--border-color-primary); padding: 8px; vertical-align: top; }
.qa-table tr:hover td { background: var(--background-fill-secondary); }
.qa-table code { font-size: .78rem; white-space: nowrap; background: none; padding: 0; }
.qa-col-title { font-weight: 550; }
.qa-num { text-align: right !important; }
.qa-table-empty { color: var(--body-text-color-subdued); padding: 20px; text-align: center; }
"""


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
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def launch_options(max_file_size: str = MAX_UPLOAD_SIZE, hosts: frozenset[str] = allowed_hosts("127.0.0.1")) -> dict:
    """What ``serve`` passes to ``launch`` besides host and port."""
    from starlette.middleware import Middleware

    return {
        "theme": THEME,
        "css": CSS,
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
    assistant.embedder  # load the model once, before the first request
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
    add_llm_arguments(parser)
    args = parser.parse_args(argv)
    from qa.assistant import Assistant
    from qa.rerank import reranker_option

    try:
        llm, prompts = llm_from_args(args)
        options = {"llm": llm, "prompts": prompts, "owner": "app.py", "reranker": reranker_option(args.reranker)}
        if args.chroma_host:
            assistant = Assistant(chroma_host=args.chroma_host, chroma_port=args.chroma_port, **options)
        else:
            assistant = Assistant(store=args.store, **options)
    except (LLMSetupError, OSError, ValueError) as exc:  # a store held by another app, or damaged
        parser.exit(1, f"app.py: {exc}\n")
    serve(assistant, host=args.host, port=args.port, allow_hosts=args.allow_host)


if __name__ == "__main__":
    main()
