"""Bad input: each bad item is skipped with a message naming the file and the problem; the rest of
the batch loads, and what is already indexed stays."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa" + bytes(range(256)) * 4
BASE = "Harbour bridge reopens\nThe harbour bridge in Portwell reopened on Tuesday after eight months of repairs."
_counter = itertools.count()


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder):
    """One store for the module, holding one article before any bad input arrives."""
    from qa import Assistant

    folder = tmp_path_factory.mktemp("base")
    (folder / "base.txt").write_text(BASE, encoding="utf-8")
    assistant = Assistant(store=tmp_path_factory.mktemp("bad-input-store"), embedder=embedder)
    assert assistant.ingest([folder]).counts()["added"] == 1
    return assistant


def good_file(folder: Path) -> Path:
    """A small valid article, different each time, to show the rest of a batch still loads."""
    n = next(_counter)
    path = folder / f"good-{n}.txt"
    path.write_text(f"Council story {n}\nThe town council approved budget number {n} for the harbour on Monday.", encoding="utf-8")
    return path


def state(assistant) -> tuple[int, int]:
    return len(assistant.articles()), assistant.store.sentence_count()


def ingest_with_good(assistant, tmp_path, *bad):
    """Ingest the bad items together with one good file; check only the bad ones were skipped."""
    before_articles, before_sentences = state(assistant)
    ids_before = {r["doc_id"] for r in assistant.articles()}
    good = good_file(tmp_path)
    report = assistant.ingest([*bad, good])
    after_articles, after_sentences = state(assistant)
    assert report.counts()["added"] == 1, report.summary()
    assert after_articles == before_articles + 1
    assert after_sentences == before_sentences + 2
    assert ids_before <= {r["doc_id"] for r in assistant.articles()}  # nothing indexed was lost
    return report


def one_skip(report, path) -> str:
    assert len(report.skipped) == 1, [str(s) for s in report.skipped]
    message = str(report.skipped[0])
    assert str(path) in message, message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "name, content",
    [("empty.txt", b""), ("blank.md", b"  \n\n\t \n"), ("empty.html", b""), ("empty.json", b""), ("empty.jsonl", b""), ("blank.jsonl", b"\n \n")],
)
def test_empty_file(library, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    report = ingest_with_good(library, tmp_path, path)
    assert "empty" in one_skip(report, path)


def test_empty_json_list(library, tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]")
    report = ingest_with_good(library, tmp_path, path)
    assert "no articles" in one_skip(report, path)


@pytest.mark.parametrize("name", ["picture.txt", "picture.html", "picture.json"])
def test_binary_file(library, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PNG)
    report = ingest_with_good(library, tmp_path, path)
    assert "binary" in one_skip(report, path)


def test_unsupported_file_named_explicitly(library, tmp_path):
    path = tmp_path / "picture.png"
    path.write_bytes(PNG)
    report = ingest_with_good(library, tmp_path, path)
    assert "unsupported file type '.png'" in one_skip(report, path)


def test_non_utf8_text(library, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"Caf\xe9 opens in Portwell\nThe caf\xe9 opened on Monday near the harbour bridge.")
    report = ingest_with_good(library, tmp_path, path)
    message = one_skip(report, path)
    assert "not UTF-8" in message and "0xe9" in message and "offset 3" in message


def test_utf16_text(library, tmp_path):
    path = tmp_path / "notepad.txt"
    path.write_bytes("Ferry news\nThe ferry to the island runs again from Monday.".encode("utf-16"))
    report = ingest_with_good(library, tmp_path, path)
    assert "UTF-16" in one_skip(report, path)


def test_non_utf8_html_without_a_usable_charset(library, tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b'<html><head><meta charset="no-such-charset"><title>Caf\xe9</title></head><body><p>The caf\xe9 opened on Monday near the harbour.</p></body></html>')
    report = ingest_with_good(library, tmp_path, path)
    message = one_skip(report, path)
    assert "not UTF-8" in message and "no-such-charset" in message


def test_malformed_jsonl_line_skips_only_that_line(library, tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(
        json.dumps({"id": "feed-ok-1", "text": "Ferry fares rise\nFerry fares in Portwell will rise by five percent in June."}) + "\n"
        + '{"id": "feed-broken", "text": "unterminated\n'
        + json.dumps({"id": "feed-ok-2", "text": "Beach cleanup\nVolunteers collected two tonnes of plastic from the beach on Saturday."}) + "\n",
        encoding="utf-8",
    )
    before = state(library)
    report = library.ingest([path])
    assert report.counts() == {"added": 2, "unchanged": 0, "replaced": 0, "skipped": 1}
    message = one_skip(report, f"{path}:2")
    assert "malformed JSON" in message
    assert library.article("feed-ok-1") and library.article("feed-ok-2")
    assert state(library)[0] == before[0] + 2


def test_non_utf8_jsonl_line_skips_only_that_line(library, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'{"id": "latin", "text": "Caf\xe9 story"}\n'
        + json.dumps({"id": "mixed-ok", "text": "Tram line opens\nThe new tram line opened on Sunday with free rides."}).encode() + b"\n"
    )
    report = library.ingest([path])
    assert report.counts()["added"] == 1
    message = one_skip(report, f"{path}:1")
    assert "not UTF-8" in message


@pytest.mark.parametrize(
    "record, problem",
    [
        ({"id": "no-text", "title": "A title only"}, "no text"),
        ({"id": "empty-text", "text": "   "}, "no text"),
        ({"id": "number-text", "text": 42}, "no text"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
    ids=["missing", "blank", "not-a-string", "not-an-object"],
)
def test_article_without_text(library, tmp_path, record, problem):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    report = ingest_with_good(library, tmp_path, path)
    assert problem in one_skip(report, f"{path}:1")
    if isinstance(record, dict):
        assert library.article(record["id"]) is None


def test_json_list_skips_only_the_bad_record(library, tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"id": "list-bad"}, {"id": "list-good", "text": "Park reopens\nThe city park reopened on Friday after the storm."}]))
    report = library.ingest([path])
    assert report.counts()["added"] == 1
    assert "no text" in one_skip(report, f"{path}[1]")
    assert library.article("list-good") is not None and library.article("list-bad") is None


def test_malformed_json_file(library, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"text": "oops",')
    report = ingest_with_good(library, tmp_path, path)
    assert "malformed JSON" in one_skip(report, path)


def test_path_that_does_not_exist(library, tmp_path):
    path = tmp_path / "nope" / "missing.txt"
    report = ingest_with_good(library, tmp_path, path)
    assert "no such file or folder" in one_skip(report, path)


def test_folder_without_articles(library, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(PNG)
    report = ingest_with_good(library, tmp_path, folder)
    assert "no article files" in one_skip(report, folder)


INDEX_PAGE = """<html><head><title>Coastal Gazette - Home</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li>
<li><a href="/subscribe">Subscribe to our newsletter</a></li></ul></nav></header>
<div class="teasers"><ul><li><a href="/a">Celebrity chef opens seaside cafe</a></li>
<li><a href="/b">Lottery winner buys football club</a></li><li><a href="/c">Harbour bridge reopens after repairs</a></li></ul></div>
<footer><p>Copyright 2024 Coastal Gazette. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""


@pytest.mark.parametrize(
    "html",
    ["<html><head><title>Home</title></head><body><nav><a href='/'>Home</a></nav></body></html>", INDEX_PAGE],
    ids=["menu-only", "index-page-of-links"],
)
def test_html_without_article_text(library, tmp_path, html):
    path = tmp_path / "nav.html"
    path.write_text(html)
    report = ingest_with_good(library, tmp_path, path)
    assert "no article text" in one_skip(report, path)


def test_article_that_is_only_page_junk(library, tmp_path):
    path = tmp_path / "junk.txt"
    path.write_text("You have 2000 characters left.\nSubscribe to our newsletter for daily updates.\n")
    report = ingest_with_good(library, tmp_path, path)
    assert "no article sentences" in one_skip(report, path)


@pytest.mark.parametrize("name", ["huge.txt", "huge.json", "huge.html"])
def test_20_mb_file_is_rejected_quickly(library, tmp_path, name):
    path = tmp_path / name
    line = b"The harbour bridge reopened on Tuesday after months of repairs to its cables. "
    with open(path, "wb") as handle:
        handle.write(line * (20 * 2**20 // len(line) + 1))
    assert path.stat().st_size > 20 * 2**20
    started = time.perf_counter()
    report = ingest_with_good(library, tmp_path, path)
    elapsed = time.perf_counter() - started
    message = one_skip(report, path)
    assert "20.0 MB" in message and "limit" in message
    assert elapsed < 5, elapsed
    assert not any("months of repairs to its cables" in t for _, t, _ in library.store.iter_sentences())


def test_20_mb_jsonl_line_is_rejected(library, tmp_path):
    path = tmp_path / "huge.jsonl"
    body = "The harbour bridge reopened on Tuesday after months of repairs. " * (20 * 2**20 // 64)
    path.write_text(
        json.dumps({"id": "huge-line", "text": body}) + "\n"
        + json.dumps({"id": "small-line", "text": "Library hours\nThe library now opens at nine on Sundays."}) + "\n",
        encoding="utf-8",
    )
    started = time.perf_counter()
    report = library.ingest([path])
    assert time.perf_counter() - started < 10
    assert report.counts()["added"] == 1 and library.article("huge-line") is None
    assert "larger than 8 MB" in one_skip(report, f"{path}:1")


def test_an_indexed_file_overwritten_with_garbage_keeps_its_article(library, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Ferry strike ends\nFerry crews in Portwell returned to work on Thursday after a pay deal.", encoding="utf-8")
    assert library.ingest([path]).counts()["added"] == 1
    before = state(library)
    for garbage in (PNG, b"caf\xe9", b""):
        path.write_bytes(garbage)
        report = library.ingest([path])
        one_skip(report, path)
        assert state(library) == before
