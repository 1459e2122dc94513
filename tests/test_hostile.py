"""Hostile input: pages built to break the extractor, inputs built to blow up the splitter or
the loader, and files that mix encodings. Each is handled in bounded time with a clear
result, and the rest of its batch still loads.

Covered elsewhere and not repeated here: 20 MB files and 20 MB JSONL lines
(tests/test_bad_input.py::test_20_mb_file_is_rejected_quickly, ::test_20_mb_jsonl_line_is_rejected),
plain non-UTF-8 / UTF-16 / binary files and malformed JSON (tests/test_bad_input.py).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from index.articles import Article, Skipped, load_paths
from index.ingest import MAX_ARTICLE_SENTENCES
from index.sentences import MAX_SENTENCE_CHARS, split_sentences

GOOD = "Ferry service resumes\nThe ferry to Gull Island resumed service on Monday after the winter storms."
BRIDGE_P = "The harbour bridge in Portwell reopened to traffic on Tuesday after eight months of repairs."
MAYOR_P = "Mayor Linda Okafor said the city spent 42 million dollars on the work to its steel cables."
_counter = itertools.count()


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder):
    from qa import Assistant

    return Assistant(store=tmp_path_factory.mktemp("hostile-store"), embedder=embedder)


def good_file(folder: Path) -> Path:
    n = next(_counter)
    path = folder / f"good-{n}.txt"
    path.write_text(GOOD.replace("Monday", f"day {n}"), encoding="utf-8")
    return path


def skip_for(report, path) -> str:
    messages = [str(s) for s in report.skipped if str(s).startswith(str(path))]
    assert len(messages) == 1, [str(s) for s in report.skipped]
    assert "\n" not in messages[0]
    return messages[0]


def all_sentences(assistant) -> list[str]:
    return [text for _, text, _ in assistant.store.iter_sentences()]


def page(body: str, head: str = "<title>Harbour bridge reopens</title>") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


# --- hostile HTML --------------------------------------------------------------------------


SCRIPTED = page(
    "<article><h1>Harbour bridge reopens</h1>"
    f"<p>{BRIDGE_P}</p>"
    "<script>document.write('The script wrote this sentence into the page.');</script>"
    "<noscript>Please enable JavaScript to read the noscript sentence.</noscript>"
    f"<p onclick=\"alert('The handler sentence is an attribute.')\">{MAYOR_P}</p>"
    "<template><p>The template sentence is never rendered.</p></template>"
    "<svg><script>alert('The svg script sentence runs here.')</script></svg>"
    "<iframe srcdoc=\"&lt;p&gt;The iframe sentence hides in srcdoc.&lt;/p&gt;\"></iframe>"
    "<p><a href=\"javascript:alert('x')\">Commuters</a> had faced detours of up to forty minutes while the bridge was closed.</p>"
    "</article>",
    head="<title>Harbour bridge reopens</title>"
    "<script>var s = 'The head script sentence must never be cited.';</script>"
    "<style>p::after { content: 'The style sentence is decoration only.'; }</style>",
)


def test_scripts_styles_and_handlers_never_become_sentences(library, tmp_path):
    path = tmp_path / "scripted.html"
    path.write_text(SCRIPTED, encoding="utf-8")
    report = library.ingest([path])
    assert report.counts()["added"] == 1, report.skipped
    article = library.article(report.added[0])
    assert BRIDGE_P in article.text and MAYOR_P in article.text
    for bad in ("script wrote", "noscript sentence", "handler sentence", "template sentence", "svg script", "iframe sentence",
                "head script", "style sentence", "alert(", "javascript:", "<"):
        assert bad not in article.text, bad
    answer = library.ask("How much did the city spend on the bridge work?")
    assert [c.text for c in answer.citations] == [MAYOR_P]


def test_a_1_mb_attribute_is_read_past_quickly(library, tmp_path):
    path = tmp_path / "attribute.html"
    huge = "x" * 2**20
    path.write_text(page(f'<article><p data-junk="{huge}">{BRIDGE_P}</p><p title="{huge}">{MAYOR_P}</p></article>'), encoding="utf-8")
    assert path.stat().st_size > 2 * 2**20
    started = time.perf_counter()
    report = library.ingest([path, good_file(tmp_path)])
    assert time.perf_counter() - started < 20
    assert report.counts()["added"] == 2, report.skipped
    article = next(library.article(d) for d in report.added if BRIDGE_P in library.article(d).text)
    assert MAYOR_P in article.text and "xxxx" not in article.text


def test_5000_nested_divs_are_skipped_with_the_reason(library, tmp_path):
    deep = tmp_path / "deep.html"
    deep.write_text(page("<div>" * 5000 + f"<p>{BRIDGE_P}</p>" + "</div>" * 5000), encoding="utf-8")
    shallow = tmp_path / "shallow.html"
    shallow.write_text(page("<div>" * 200 + f"<p>{BRIDGE_P} {MAYOR_P}</p>" + "</div>" * 200), encoding="utf-8")
    started = time.perf_counter()
    report = library.ingest([deep, shallow, good_file(tmp_path)])
    assert time.perf_counter() - started < 20
    message = skip_for(report, deep)
    assert "no article text found in the HTML" in message and "nest over 255 deep" in message
    assert report.counts()["added"] == 2  # 200 levels are fine, and the rest of the batch loads


# --- at scale: a 50,000-line JSONL -----------------------------------------------------------


def write_bulk_jsonl(path: Path) -> dict:
    """50,000 lines: 5 real articles, each repeated 4,000 times, and 30,000 broken lines."""
    articles = [
        {"id": f"bulk-{i}", "title": f"Harbour notice {i}", "text": f"Harbour notice {i}\nThe harbour office posted notice number {i} about berth {i * 7} on Friday."}
        for i in range(5)
    ]
    broken = [
        b'{"id": "cut-short", "text": "The line ends',
        b'{"id": "latin", "text": "Caf\xe9 in Portwell opens."}',
        b'["not", "an", "object"]',
        b'{"id": "no-text", "title": "Only a title"}',
        b'{"id": "blank", "text": "   "}',
        b'{"id": "surrogate", "text": "Lone \\ud800 surrogate in the text."}',
        b"[" * 5000,
        b'{"id": "bulk-0", "text": "Another text under the same id is a conflict."}',
    ]
    counts = {"added": 5, "unchanged": 0, "skipped": 0, "lines": 0}
    with open(path, "wb") as handle:
        for n in range(50_000):
            if n % 5 == 3:
                handle.write(b"\n")  # blank lines are not counted
            if n % 5 < 2:
                record = articles[(n // 5) % 5]
                handle.write(json.dumps(record).encode() + b"\n")
            else:
                handle.write(broken[n % len(broken)] + b"\n")
            counts["lines"] += 1
    counts["unchanged"] = 20_000 - 5
    counts["skipped"] = 30_000
    return counts


def test_a_50000_line_jsonl_streams_and_finishes(library, tmp_path):
    path = tmp_path / "bulk.jsonl"
    expected = write_bulk_jsonl(path)
    size = path.stat().st_size

    # The loader streams: memory stays far below the file's size while every line is read.
    tracemalloc.start()
    try:
        seen = sum(1 for _ in load_paths([path]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == expected["lines"]
    assert peak < size / 4, (peak, size)

    started = time.perf_counter()
    report = library.ingest([path])
    elapsed = time.perf_counter() - started
    assert elapsed < 60, elapsed
    assert report.counts() == {"added": 5, "unchanged": expected["unchanged"], "replaced": 0, "skipped": expected["skipped"]}
    reasons = " | ".join(str(s) for s in report.skipped[:100])
    for reason in ("malformed JSON", "not UTF-8 text (invalid byte 0xe9", "expected a JSON object", "no text",
                   "lone surrogate U+D800", "nested too deeply", "duplicate id 'bulk-0'"):
        assert reason in reasons, reason
    assert all(str(s).startswith(f"{path}:") for s in report.skipped)
    assert {f"bulk-{i}" for i in range(5)} <= {r["doc_id"] for r in library.articles()}
    assert library.article("bulk-0").text.startswith("Harbour notice 0")


# --- zip-bomb-like repetition ------------------------------------------------------------------

SENTENCE = "The harbour bridge reopened on Tuesday after months of repairs to its steel cables. "


@pytest.mark.parametrize(
    "name, make",
    [
        ("one-line.txt", lambda: SENTENCE * (7 * 2**20 // len(SENTENCE))),
        ("line-each.txt", lambda: (SENTENCE.strip() + "\n") * (7 * 2**20 // len(SENTENCE))),
        ("no-punctuation.txt", lambda: "lorem ipsum dolor sit amet " * (5 * 2**20 // 27 + 1)),
        ("no-space.md", lambda: "x" * 5 * 2**20),
    ],
)
def test_repetition_is_refused_in_bounded_time(library, tmp_path, name, make):
    path = tmp_path / name
    path.write_text(make(), encoding="utf-8")
    assert path.stat().st_size >= 5 * 2**20
    before = library.store.sentence_count()
    started = time.perf_counter()
    report = library.ingest([path, good_file(tmp_path)])
    elapsed = time.perf_counter() - started
    assert elapsed < 30, elapsed
    message = skip_for(report, path)
    assert f"over the limit of {MAX_ARTICLE_SENTENCES:,} for one article" in message
    assert report.counts()["added"] == 1
    assert library.store.sentence_count() == before + 2


@pytest.mark.parametrize(
    "name, make",
    [
        ("7 MB of one sentence", lambda: SENTENCE * (7 * 2**20 // len(SENTENCE))),
        ("5 MB line without punctuation", lambda: "lorem ipsum dolor sit amet " * (5 * 2**20 // 27)),
        ("5 MB without whitespace", lambda: "x" * 5 * 2**20),
        ("1 MB of hard-wrapped lines", lambda: "the council met again\n" * (2**20 // 22)),  # was quadratic: minutes
        ("100,000 junk lines", lambda: "Copyright 2024 Gazette\nThe council met again.\n" * 50_000),  # was quadratic
        ("200 KB of 'i. i. i.'", lambda: "i. " * 70_000),
    ],
)
def test_splitter_is_bounded_on_huge_text(name, make):
    text = make()
    started = time.perf_counter()
    sentences = split_sentences(text, "d", "")
    assert time.perf_counter() - started < 15, name
    previous_end = 0
    for position, s in enumerate(sentences):
        assert s.position == position and s.start >= previous_end
        assert text[s.start : s.end] == s.text and len(s.text) <= MAX_SENTENCE_CHARS
        previous_end = s.end


# --- mixed encodings ----------------------------------------------------------------------------


def test_mixed_utf8_and_latin1_names_the_byte_and_the_rest_loads(library, tmp_path):
    head = "Café opens in Portwéll\nThe café near the bridge opened on Monday, said the owner Zoë Ångström.\n".encode("utf-8")
    tail = b"Prices at the caf\xe9 start at two euros.\n"  # latin-1 after UTF-8
    offset = len(head) + tail.index(b"\xe9")
    txt = tmp_path / "mixed.txt"
    txt.write_bytes(head + tail)
    md = tmp_path / "mixed.md"
    md.write_bytes(b"# " + head + tail)
    html = tmp_path / "mixed.html"
    html.write_bytes(b'<html><head><meta charset="utf-8"></head><body><p>' + head + tail + b"</p></body></html>")
    feed = tmp_path / "mixed.jsonl"
    feed.write_bytes(
        json.dumps({"id": "mixed-ok", "text": GOOD.replace("Gull", "Tern")}, ensure_ascii=False).encode() + b"\n"
        + b'{"id": "mixed-bad", "text": "Zo\xc3\xab said the caf\xe9 is open."}\n'
    )
    report = library.ingest([txt, md, html, feed, good_file(tmp_path)])
    assert report.counts()["added"] == 2, [str(s) for s in report.skipped]  # the good file and the good JSONL line
    assert library.article("mixed-ok") is not None and library.article("mixed-bad") is None
    assert f"not UTF-8 text (invalid byte 0xe9 at offset {offset})" in skip_for(report, txt)
    assert f"invalid byte 0xe9 at offset {offset + 2}" in skip_for(report, md)
    message = skip_for(report, html)
    assert "invalid byte 0xe9 at offset" in message and "nor the declared charset 'utf-8'" in message
    column = b'{"id": "mixed-bad", "text": "Zo\xc3\xab said the caf\xe9'.index(b"\xe9") + 1
    assert f"not UTF-8 text (invalid byte 0xe9 at column {column})" in skip_for(report, f"{feed}:2")


# --- regressions: inputs that used to crash a whole batch or hang --------------------------------


def test_json_that_used_to_crash_the_whole_batch(library, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)  # RecursionError in json.loads
    surrogate = tmp_path / "surrogate.json"
    surrogate.write_text(json.dumps({"id": "sur", "title": "Bad \udc00 title", "text": GOOD}))  # the store refused it mid-ingest
    authors = tmp_path / "authors.jsonl"
    authors.write_text(
        "\n".join(
            json.dumps({"id": f"authors-{i}", "text": GOOD.replace("Gull", f"Isle {i}"), "authors": value})
            for i, value in enumerate([5, True, {"name": "Jane Reporter"}, [{"name": "Sam Lee"}, "Tom Reyes", None], "Ann Wu"])
        )
    )  # an int or a bool raised TypeError
    report = library.ingest([deep, surrogate, authors, good_file(tmp_path)])
    assert "malformed JSON: nested too deeply" in skip_for(report, deep)
    assert "field 'title' has invalid Unicode (lone surrogate U+DC00 at character 4)" in skip_for(report, surrogate)
    assert report.counts()["added"] == 6, [str(s) for s in report.skipped]
    assert [library.article(f"authors-{i}").authors for i in range(5)] == [[], [], ["Jane Reporter"], ["Sam Lee", "Tom Reyes"], ["Ann Wu"]]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_in_a_folder_does_not_hang_the_batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")  # reading it would block for ever: nobody writes
    good_file(folder)
    result: list = []
    worker = threading.Thread(target=lambda: result.extend(load_paths([folder])), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the loader blocked on a named pipe"
    skipped = [str(item) for item in result if isinstance(item, Skipped)]
    assert skipped == [f"{(folder / 'pipe.txt').resolve()}: not a regular file (a pipe, socket or device)"]
    named = [str(item) for item in load_paths([folder / "pipe.txt"])]  # named on its own, too
    assert named == [f"{folder / 'pipe.txt'}: not a regular file (a pipe, socket or device)"]
    assert sum(isinstance(item, Article) for item in result) == 1
