"""Articles and the loaders that read them from files, folders and JSON exports.

A loader never edits text: the stored ``Article.text`` is exactly what was read
(for HTML, exactly what the extractor returned), so every sentence offset can be
checked against it. Bad input becomes a ``Skipped`` item naming the file and the
problem; it never stops the rest of a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Iterable, Iterator, Union
from urllib.parse import urlparse

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest file (or JSONL line) accepted; bigger ones are skipped with a message."""


@dataclass
class Article:
    """One news article, as read. ``text`` is never modified after loading."""

    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""  # ISO date, YYYY-MM-DD, or ""
    authors: list[str] = field(default_factory=list)
    origin: str = ""  # where it was read from (path, or path:line); a changed origin replaces its old article
    where: str = ""  # the file (or file:line, file[n]) it was read from, for messages

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.text, self.url, self.published)


def site_of(source: str) -> str:
    """The site an article comes from: the host of a URL without "www." ("example-news.com"), else
    the file name of a path. Articles are listed and filtered by it."""
    source = source or ""
    parsed = urlparse(source) if "://" in source else None
    if parsed and parsed.netloc:
        return parsed.netloc.lower().removeprefix("www.")
    if "/" in source or os.sep in source:
        return Path(source).name or source
    return source


@dataclass
class Skipped:
    """An input item that was not loaded, with the reason in one line."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


Loaded = Union[Article, Skipped]


class LoadError(ValueError):
    """A file that cannot be read as an article; the message names the file."""


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def derive_doc_id(text: str) -> str:
    """A stable id for an article that came without one: a hash of its text."""
    return "doc-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def normalize_date(value: object) -> str:
    """Return YYYY-MM-DD for ISO-like dates and datetimes, or "" if unknown."""
    if value is None or value == "":
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    match = re.match(r"^\s*(\d{4})-(\d{2})-(\d{2})", str(value))
    if not match:
        return ""
    try:
        return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        return ""


def decode_text(data: bytes, where: str) -> str:
    """Decode UTF-8 text, refusing binary data with a clear message."""
    if not data.strip():
        raise LoadError(f"{where}: empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError(f"{where}: UTF-16 text; save it as UTF-8")
    if b"\x00" in data[:8192]:
        raise LoadError(f"{where}: binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{where}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)


def decode_html(data: bytes, where: str) -> str:
    """Decode a web page: UTF-8, or the charset its <meta> tag declares (saved pages often
    are windows-1252). Offsets are taken on the extracted text, so decoding is free to differ."""
    try:
        return decode_text(data, where)
    except LoadError as utf8_error:
        declared = _META_CHARSET.search(data[:4096])
        if not declared or b"\x00" in data[:8192]:
            raise
        charset = declared.group(1).decode("ascii")
        try:
            return data.decode(charset)
        except (LookupError, ValueError):  # unknown charset, bytes it cannot decode, or no text codec
            raise LoadError(f"{utf8_error}; nor the declared charset '{charset}'") from None


def title_from_text(text: str) -> str:
    """The first non-empty line, without Markdown heading marks."""
    for line in text.lstrip("\ufeff").splitlines():  # a UTF-8 byte-order mark is not part of the title
        if line.strip():
            return line.strip().lstrip("#").strip()
    return ""


def author_names(value: object) -> list[str]:
    """Authors as given: a name, a list of names, or objects with a "name" (anything else: none)."""
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        return []  # a number or a boolean names nobody
    names = []
    for author in value:
        if isinstance(author, dict):
            author = author.get("name")
        if author and not isinstance(author, bool):
            names.append(str(author))
    return names


def unicode_problem(article: "Article") -> str:
    """Why an article cannot be stored as UTF-8 (a lone surrogate from a JSON escape), or ""."""
    fields = [("text", article.text), ("title", article.title), ("id", article.doc_id), ("url", article.url)]
    fields += [("authors", a) for a in article.authors]
    for name, value in fields:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"field '{name}' has invalid Unicode (lone surrogate U+{ord(value[exc.start]):04X} at character {exc.start})"
    return ""


def article_from_record(record: object, where: str, origin: str, default_source: str) -> Article:
    """Build an Article from one JSON object with fields id, url, title, text, authors, published."""
    if not isinstance(record, dict):
        raise LoadError(f"{where}: expected a JSON object, got {type(record).__name__}")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise LoadError(f"{where}: article has no text (field 'text' is missing or empty)")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise LoadError(f"{where}: article text is larger than {MAX_FILE_BYTES // 2**20} MB")
    given_id = record.get("id")
    given_id = str(given_id).strip() if given_id is not None else ""  # a blank id is no id
    doc_id = given_id or derive_doc_id(text)
    url = str(record.get("url") or "")
    title = record.get("title")
    return Article(
        doc_id=doc_id,
        text=text,
        title=str(title).strip() if title else title_from_text(text),
        source=url or default_source,
        url=url,
        published=normalize_date(record.get("published")),
        authors=author_names(record.get("authors")),
        origin=f"id:{doc_id}" if given_id else origin,
        where=where,
    )


def load_text_file(path: Path, data: bytes) -> Article:
    text = decode_text(data, str(path))
    if not text.strip():
        raise LoadError(f"{path}: empty file")
    return Article(
        doc_id=derive_doc_id(text),
        text=text,
        title=title_from_text(text),
        source=str(path),
        origin=str(path),
        where=str(path),
    )


_PROSE_LINE = re.compile(r"(?:\S+\s+){4,}\S*[.!?…\"'”’)]\s*$")


def has_prose(text: str) -> bool:
    """True when some line reads like a sentence (five words or more, ending like one);
    a page whose extract is only menu entries and teaser links has none."""
    return any(_PROSE_LINE.search(line.strip()) for line in text.splitlines())


MAX_HTML_DEPTH = 255
"""libxml2's HTML parser drops whatever is nested deeper than this."""
_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)[^<>]*?(/?)>")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def nesting_depth(html: str) -> int:
    """How deep the page's tags nest (roughly: unclosed tags count until the end)."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def load_html_file(path: Path, data: bytes) -> Article:
    import trafilatura  # imported here: only HTML input pays for it

    html = decode_html(data, str(path))
    try:
        # <template> content is never rendered: text hidden there must not become citable
        extracted = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, prune_xpath="//template")
    except Exception as exc:  # the extractor failing on a hostile page must not stop the batch
        raise LoadError(f"{path}: cannot extract the article from the HTML ({type(exc).__name__})") from None
    text = getattr(extracted, "text", None) or ""
    if not text.strip() or not has_prose(text):
        # An index or menu page: the extractor falls back to link text, which is no article.
        if nesting_depth(html) > MAX_HTML_DEPTH:
            raise LoadError(f"{path}: no article text found in the HTML (its tags nest over {MAX_HTML_DEPTH} deep, past what the HTML parser reads)")
        raise LoadError(f"{path}: no article text found in the HTML")
    title = (getattr(extracted, "title", None) or "").strip()
    if title and not text.lstrip().startswith(title):
        # The headline is a sentence of its own; keep it in the stored text.
        text = f"{title}\n\n{text}"
    url = getattr(extracted, "url", None) or ""
    author = getattr(extracted, "author", None) or ""
    return Article(
        doc_id=derive_doc_id(text),
        text=text,
        title=title or title_from_text(text),
        source=url or str(path),
        url=url,
        published=normalize_date(getattr(extracted, "date", None)),
        # the extractor sometimes leaves a byline's date among the authors ("Jane Reporter; March 5")
        authors=[a.strip() for a in author.split(";") if a.strip() and not re.search(r"\d", a)],
        origin=str(path),
        where=str(path),
    )


def load_json_file(path: Path, data: bytes) -> Iterator[Loaded]:
    text = decode_text(data, str(path))
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Skipped(str(path), f"malformed JSON at line {exc.lineno}: {exc.msg}")
        return
    except RecursionError:
        yield Skipped(str(path), "malformed JSON: nested too deeply")
        return
    records = parsed if isinstance(parsed, list) else [parsed]
    if not records:
        yield Skipped(str(path), "no articles in the file (an empty JSON list)")
        return
    for number, record in enumerate(records, start=1):
        where = f"{path}[{number}]" if isinstance(parsed, list) else str(path)
        try:
            yield article_from_record(record, where, f"{path}:{number}", str(path))
        except LoadError as exc:
            yield Skipped(where, str(exc).removeprefix(where + ": "))


def load_jsonl_file(path: Path) -> Iterator[Loaded]:
    """Stream a JSONL export line by line, so a large file never sits in memory whole (nor
    does a single huge line: past ``MAX_FILE_BYTES`` the rest of it is read and dropped)."""
    lines = 0
    number = 0
    with open(path, "rb") as handle:
        while True:
            raw = handle.readline(MAX_FILE_BYTES + 1)
            if not raw:
                break
            number += 1
            where = f"{path}:{number}"
            if len(raw) > MAX_FILE_BYTES:
                while not raw.endswith(b"\n"):  # drop the rest of the line, a megabyte at a time
                    raw = handle.readline(2**20)
                    if not raw:
                        break
                lines += 1
                yield Skipped(where, f"line is larger than {MAX_FILE_BYTES // 2**20} MB")
                continue
            if not raw.strip():
                continue
            lines += 1
            try:
                line = raw.decode("utf-8")
                record = json.loads(line)
                yield article_from_record(record, where, where, str(path))
            except UnicodeDecodeError as exc:
                yield Skipped(where, f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
            except json.JSONDecodeError as exc:
                yield Skipped(where, f"malformed JSON: {exc.msg} (column {exc.colno})")
            except RecursionError:
                yield Skipped(where, "malformed JSON: nested too deeply")
            except LoadError as exc:
                yield Skipped(where, str(exc).removeprefix(where + ": "))
    if not lines:
        yield Skipped(str(path), "empty file (no JSON lines)")


def load_file(path: Path) -> Iterator[Loaded]:
    """Load one file into articles; problems come back as Skipped items, never as exceptions."""
    for item in _load_file(path):
        problem = unicode_problem(item) if isinstance(item, Article) else ""
        yield Skipped(item.where or str(path), problem) if problem else item


def _load_file(path: Path) -> Iterator[Loaded]:
    suffix = path.suffix.lower()
    where = str(path)
    if suffix not in SUPPORTED_SUFFIXES:
        yield Skipped(where, f"unsupported file type '{suffix or path.name}' (use {', '.join(SUPPORTED_SUFFIXES)})")
        return
    try:
        if not path.is_file():  # a named pipe or a device would block the read, or never end
            raise LoadError(f"{where}: not a regular file (a pipe, socket or device)")
        size = path.stat().st_size
        if suffix == ".jsonl":
            if size == 0:
                raise LoadError(f"{where}: empty file")
            yield from load_jsonl_file(path)
            return
        if size > MAX_FILE_BYTES:
            raise LoadError(f"{where}: file is {size / 2**20:.1f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
        data = path.read_bytes()
        if suffix == ".json":
            yield from load_json_file(path, data)
        elif suffix in (".html", ".htm"):
            yield load_html_file(path, data)
        else:
            yield load_text_file(path, data)
    except LoadError as exc:
        yield Skipped(where, str(exc).removeprefix(where + ": "))
    except OSError as exc:
        yield Skipped(where, f"cannot read file ({exc.strerror or exc})")


def loadable_bytes(path: Path) -> int:
    """The bytes of ``path`` a load reads articles from: 0 for a file it skips whole (a type it does
    not read, a text over ``MAX_FILE_BYTES``, a file it cannot stat)."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES or (suffix != ".jsonl" and size > MAX_FILE_BYTES):
        return 0
    return size


def count_articles(path: Union[str, os.PathLike]) -> int:
    """How many items (articles, or skipped entries with their reasons) ``load_file`` yields for
    ``path``: what an ingest's ``on_article`` progress counts to. Only a JSON or JSONL export is read
    for it (one article per list item or line); any other file is one item."""
    path = Path(path)
    if path.suffix.lower() not in (".json", ".jsonl"):
        return 1
    return sum(1 for _ in load_file(path))


def iter_files(paths: Iterable[Union[str, os.PathLike]]) -> Iterator[Union[Path, Skipped]]:
    """Expand files and folders (recursively, in name order, hidden entries skipped).

    A file named twice (or inside two of the given folders) is yielded once; a folder
    without a single supported file is reported, not silently ignored.
    """
    seen: set[Path] = set()

    def once(path: Path) -> Iterator[Path]:
        # Named as given (a symlink by its own name, not its target), made absolute; met once.
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            yield Path(os.path.abspath(path))

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = 0
            unreadable: list[OSError] = []
            for root, dirs, files in os.walk(path, onerror=unreadable.append):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    child = Path(root) / name
                    if child.suffix.lower() in SUPPORTED_SUFFIXES:
                        found += 1
                        yield from once(child)
            for error in unreadable:  # a folder we may not list: its articles would be missed silently
                yield Skipped(error.filename or str(path), f"cannot read this folder ({error.strerror or error})")
            if not found and not unreadable:
                yield Skipped(str(path), f"no article files in this folder (looked for {', '.join(SUPPORTED_SUFFIXES)})")
        elif path.is_file():
            yield from once(path)
        elif path.exists():
            yield Skipped(str(path), "not a regular file (a pipe, socket or device)")
        else:
            yield Skipped(str(path), "no such file or folder")


def load_paths(paths: Iterable[Union[str, os.PathLike]]) -> Iterator[Loaded]:
    """Yield an Article or a Skipped for every input item under ``paths``."""
    for item in iter_files(paths):
        if isinstance(item, Skipped):
            yield item
        else:
            yield from load_file(item)
