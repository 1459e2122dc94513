"""Ingest: every input format, idempotency, replacement, removal and progress, on a real Chroma store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLE_DIR

BRIDGE = """Harbour bridge reopens after repairs

The harbour bridge in Portwell reopened to traffic on Tuesday after eight months of repairs to its steel cables.
Mayor Linda Okafor said the city spent 42 million dollars on the work.
Commuters had faced detours of up to forty minutes while the bridge was closed.
"""

LIBRARY = """City library extends opening hours

The central library in Portwell will stay open until 10 p.m. on weekdays from next month.
Head librarian Tom Reyes said students had asked for more evening study space.
"""

TRAINS = "Night trains return to the coast line. The rail operator restored the overnight service on Friday after a two-year pause."

HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbour bridge reopens after repairs | Coastal Gazette</title>
<meta name="author" content="Jane Reporter">
<meta property="article:published_time" content="2024-03-05T09:30:00Z">
<link rel="canonical" href="https://gazette.example.com/news/harbour-bridge-reopens">
</head>
<body>
<header><nav><ul>
<li><a href="/">Home</a></li><li><a href="/world">World news</a></li><li><a href="/sport">Sport</a></li>
<li><a href="/subscribe">Subscribe to our newsletter</a></li>
</ul></nav></header>
<main>
<article>
<h1>Harbour bridge reopens after repairs</h1>
<p>The harbour bridge in Portwell reopened to traffic on Tuesday after eight months of repairs to its steel cables.</p>
<p>Mayor Linda Okafor said the city spent 42 million dollars on the work. "The bridge is safer than it has been in fifty years," she told reporters at the ceremony.</p>
<p>Engineers replaced all 212 suspension cables and repainted the towers, according to the city transport office.</p>
<p>Commuters had faced detours of up to forty minutes while the bridge was closed.</p>
</article>
</main>
<aside><h3>Most read</h3><ul><li><a href="/a">Celebrity chef opens seaside cafe</a></li>
<li><a href="/b">Lottery winner buys football club</a></li></ul></aside>
<footer><p>Copyright 2024 Coastal Gazette. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/contact">Contact us</a></footer>
</body></html>
"""


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))
    return path


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def doc_ids(assistant) -> set[str]:
    return {row["doc_id"] for row in assistant.articles()}


def sentences_of(assistant, doc_id: str) -> list[str]:
    return [text for _, text, meta in assistant.store.iter_sentences() if meta["doc_id"] == doc_id]


def only_article(assistant):
    rows = assistant.articles()
    assert len(rows) == 1, rows
    return assistant.article(rows[0]["doc_id"])


def assert_consistent(assistant) -> None:
    """Every stored sentence belongs to a ready article and matches its text; counts agree."""
    rows = {row["doc_id"]: row for row in assistant.articles()}
    total = 0
    for _, text, meta in assistant.store.iter_sentences():
        assert meta["doc_id"] in rows, meta
        article = assistant.article(meta["doc_id"])
        assert article.text[meta["start"] : meta["end"]] == text
        total += 1
    assert total == sum(row["sentences"] for row in rows.values()) == assistant.store.sentence_count()


# --- idempotency, replacement, removal -----------------------------------------


def test_ingesting_the_same_input_twice_adds_nothing(fresh_assistant):
    first = fresh_assistant.ingest([SAMPLE_DIR])
    assert first.counts() == {"added": 2, "unchanged": 0, "replaced": 0, "skipped": 0}
    count = fresh_assistant.store.sentence_count()
    assert count > 20
    second = fresh_assistant.ingest([SAMPLE_DIR])
    assert second.counts() == {"added": 0, "unchanged": 2, "replaced": 0, "skipped": 0}
    assert second.summary() == "0 added, 2 unchanged, 0 replaced, 0 skipped"
    assert fresh_assistant.store.sentence_count() == count
    assert len(fresh_assistant.articles()) == 2
    assert_consistent(fresh_assistant)


def test_a_file_named_twice_is_read_once(fresh_assistant):
    one = SAMPLE_DIR / "004_a8ed45d3df2df383.txt"
    report = fresh_assistant.ingest([one, SAMPLE_DIR, str(one)])
    assert report.counts() == {"added": 2, "unchanged": 0, "replaced": 0, "skipped": 0}


def test_a_changed_txt_file_replaces_its_old_entries(fresh_assistant, tmp_path):
    path = write(tmp_path / "in" / "bridge.txt", BRIDGE)
    fresh_assistant.ingest([path])
    old_id = only_article(fresh_assistant).doc_id

    write(path, BRIDGE.replace("42 million", "45 million") + "Repairs were finished ahead of schedule.\n")
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 0, "unchanged": 0, "replaced": 1, "skipped": 0}
    assert report.removed == [old_id]
    new = only_article(fresh_assistant)
    assert new.doc_id != old_id and new.doc_id == report.replaced[0]
    assert new.text == path.read_bytes().decode("utf-8")
    assert fresh_assistant.article(old_id) is None
    assert sentences_of(fresh_assistant, old_id) == []
    assert fresh_assistant.store.sentence_count() == len(sentences_of(fresh_assistant, new.doc_id)) == 5
    assert_consistent(fresh_assistant)
    answer = fresh_assistant.ask("How much did the city spend on the bridge?")
    assert [c.doc_id for c in answer.citations] in ([new.doc_id], [])
    assert all("42 million" not in c.text for c in answer.citations)


def test_jsonl_same_id_with_changed_text_is_replaced(fresh_assistant, tmp_path):
    path = write(tmp_path / "feed.jsonl", jsonl({"id": "bridge-1", "text": BRIDGE}, {"id": "library-1", "text": LIBRARY}))
    assert fresh_assistant.ingest([path]).counts()["added"] == 2
    write(path, jsonl({"id": "bridge-1", "text": BRIDGE + "Repairs were finished ahead of schedule.\n"}, {"id": "library-1", "text": LIBRARY}))
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 0, "unchanged": 1, "replaced": 1, "skipped": 0}
    assert report.replaced == ["bridge-1"] and report.unchanged == ["library-1"]
    assert doc_ids(fresh_assistant) == {"bridge-1", "library-1"}
    assert fresh_assistant.article("bridge-1").text.endswith("ahead of schedule.\n")
    assert len(sentences_of(fresh_assistant, "bridge-1")) == 5
    assert_consistent(fresh_assistant)


def test_same_id_in_another_file_replaces_too(fresh_assistant, tmp_path):
    fresh_assistant.ingest([write(tmp_path / "a.json", json.dumps({"id": "story", "text": BRIDGE}))])
    report = fresh_assistant.ingest([write(tmp_path / "b.json", json.dumps({"id": "story", "text": LIBRARY}))])
    assert report.replaced == ["story"]
    assert fresh_assistant.article("story").text == LIBRARY
    assert_consistent(fresh_assistant)


def test_lines_shifted_in_a_jsonl_without_ids_are_not_reembedded(fresh_assistant, tmp_path):
    path = write(tmp_path / "feed.jsonl", jsonl({"text": BRIDGE}, {"text": LIBRARY}))
    fresh_assistant.ingest([path])
    before = doc_ids(fresh_assistant)
    write(path, jsonl({"text": TRAINS}, {"text": BRIDGE}, {"text": LIBRARY}))
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 1, "unchanged": 2, "replaced": 0, "skipped": 0}
    assert before < doc_ids(fresh_assistant) and len(doc_ids(fresh_assistant)) == 3
    # and an edit of a shifted line still replaces the right article
    write(path, jsonl({"text": TRAINS}, {"text": BRIDGE.replace("Tuesday", "Monday")}, {"text": LIBRARY}))
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 0, "unchanged": 2, "replaced": 1, "skipped": 0}
    assert len(doc_ids(fresh_assistant)) == 3
    assert any("Monday" in t for _, t, _ in fresh_assistant.store.iter_sentences())
    assert not any("on Tuesday after eight months" in t for _, t, _ in fresh_assistant.store.iter_sentences())
    assert_consistent(fresh_assistant)


def test_a_moved_then_edited_file_leaves_no_stale_copy(fresh_assistant, tmp_path):
    old = write(tmp_path / "a.txt", BRIDGE)
    fresh_assistant.ingest([tmp_path])
    new = tmp_path / "b.txt"
    old.rename(new)
    assert fresh_assistant.ingest([tmp_path]).counts() == {"added": 0, "unchanged": 1, "replaced": 0, "skipped": 0}
    write(new, BRIDGE.replace("Tuesday", "Monday"))
    report = fresh_assistant.ingest([tmp_path])
    assert report.counts()["replaced"] == 1
    assert len(fresh_assistant.articles()) == 1
    assert_consistent(fresh_assistant)


def test_a_file_copied_then_edited_keeps_the_copy(fresh_assistant, tmp_path):
    a = write(tmp_path / "a.txt", BRIDGE)
    fresh_assistant.ingest([tmp_path])
    shutil.copy(a, tmp_path / "b.txt")
    write(a, LIBRARY)
    report = fresh_assistant.ingest([tmp_path])
    assert report.counts() == {"added": 1, "unchanged": 1, "replaced": 0, "skipped": 0}
    assert {fresh_assistant.article(d).text for d in doc_ids(fresh_assistant)} == {BRIDGE, LIBRARY}
    assert_consistent(fresh_assistant)


def test_a_shifted_record_with_a_new_title_is_rewritten_not_lost(fresh_assistant, tmp_path):
    path = write(tmp_path / "list.json", json.dumps([{"title": "Old title", "text": BRIDGE}]))
    fresh_assistant.ingest([path])
    old_id = only_article(fresh_assistant).doc_id
    # a new record takes line 1; the bridge story moves to line 2 with another title (same text, same id)
    write(path, json.dumps([{"text": LIBRARY}, {"title": "New title", "text": BRIDGE}]))
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 1, "unchanged": 0, "replaced": 1, "skipped": 0}
    assert fresh_assistant.article(old_id).title == "New title"
    assert len(fresh_assistant.articles()) == 2
    assert_consistent(fresh_assistant)


def test_a_crash_before_the_old_version_is_dropped_leaves_no_stale_copy(fresh_assistant, tmp_path, monkeypatch, embedder):
    from index import ingest as ingest_module
    from qa import Assistant

    path = write(tmp_path / "bridge.txt", BRIDGE)
    fresh_assistant.ingest([path])
    old_id = only_article(fresh_assistant).doc_id
    write(path, BRIDGE.replace("Tuesday", "Monday"))

    def crash(self, written):
        raise RuntimeError("power cut")

    monkeypatch.setattr(ingest_module._Run, "finish", crash)
    with pytest.raises(RuntimeError):
        fresh_assistant.ingest([path])
    monkeypatch.undo()
    assert fresh_assistant.article(old_id) is None  # hidden from readers while it is being replaced

    restarted = Assistant(store=tmp_path / "store", embedder=embedder)
    assert restarted.repaired == [old_id]
    assert len(restarted.articles()) == 1 and restarted.articles()[0]["doc_id"] != old_id
    assert restarted.ingest([path]).counts() == {"added": 0, "unchanged": 1, "replaced": 0, "skipped": 0}
    assert_consistent(restarted)


def test_a_failed_embedding_stops_the_ingest_with_what_was_embedded_before_it_stored(fresh_assistant, tmp_path, embedder):
    """Batches are embedded while the next is read: a failure in a later batch still reaches the
    caller, the batches before it are stored whole, and a second ingest finishes the rest."""
    from index.ingest import ingest

    records = [{"id": f"wire-{i}", "title": f"Story {i}", "text": f"The council met on day {i} to discuss the harbour budget."} for i in range(6)]
    path = write(tmp_path / "wire.jsonl", jsonl(*records))
    calls = []

    def embed(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return embedder.encode(texts)

    with pytest.raises(RuntimeError, match="out of memory"):
        ingest(fresh_assistant.store, embed, [path], batch_sentences=2)
    assert calls == [2, 2, 2]  # two records of one sentence a batch
    assert doc_ids(fresh_assistant) == {"wire-0", "wire-1", "wire-2", "wire-3"}
    assert_consistent(fresh_assistant)
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 2, "unchanged": 4, "replaced": 0, "skipped": 0}
    assert_consistent(fresh_assistant)


def test_a_file_edited_into_junk_keeps_its_article(fresh_assistant, tmp_path):
    path = write(tmp_path / "bridge.txt", BRIDGE)
    fresh_assistant.ingest([path])
    before = doc_ids(fresh_assistant)
    write(path, b"")
    report = fresh_assistant.ingest([path])
    assert report.counts()["skipped"] == 1 and "empty" in str(report.skipped[0])
    assert doc_ids(fresh_assistant) == before


def test_remove_deletes_an_article_and_its_sentences(fresh_assistant, tmp_path):
    fresh_assistant.ingest([write(tmp_path / "feed.jsonl", jsonl({"id": "bridge-1", "text": BRIDGE}, {"id": "library-1", "text": LIBRARY}))])
    library = len(sentences_of(fresh_assistant, "library-1"))
    assert fresh_assistant.ask("How much did the city spend on the bridge repairs?").citations
    assert fresh_assistant.remove("bridge-1") is True
    assert fresh_assistant.article("bridge-1") is None
    assert sentences_of(fresh_assistant, "bridge-1") == []
    assert fresh_assistant.store.sentence_count() == library
    assert doc_ids(fresh_assistant) == {"library-1"}
    assert fresh_assistant.remove("bridge-1") is False
    assert fresh_assistant.remove("unknown") is False
    answer = fresh_assistant.ask("How much did the city spend on the bridge repairs?")
    assert all(c.doc_id != "bridge-1" for c in answer.citations)
    # removed content comes back on the next ingest
    assert fresh_assistant.ingest([tmp_path / "feed.jsonl"]).counts()["added"] == 1


def test_duplicate_id_with_different_text_is_skipped_not_called_unchanged(fresh_assistant, tmp_path):
    path = write(tmp_path / "dup.jsonl", jsonl({"id": "x", "text": BRIDGE}, {"id": "x", "text": LIBRARY}))
    report = fresh_assistant.ingest([path])
    assert report.counts() == {"added": 1, "unchanged": 0, "replaced": 0, "skipped": 1}
    message = str(report.skipped[0])
    assert f"{path}:2" in message and "duplicate id 'x'" in message and f"{path}:1" in message
    assert fresh_assistant.article("x").text == BRIDGE


def test_blank_id_gets_a_derived_id(fresh_assistant, tmp_path):
    report = fresh_assistant.ingest([write(tmp_path / "a.jsonl", jsonl({"id": "  ", "text": BRIDGE}, {"id": None, "text": LIBRARY}))])
    assert report.counts()["added"] == 2
    assert all(d.startswith("doc-") for d in doc_ids(fresh_assistant))


# --- input formats ---------------------------------------------------------------


def test_txt_and_md_first_line_is_the_title(fresh_assistant, tmp_path):
    txt = write(tmp_path / "bridge.txt", "\n\n  " + BRIDGE)
    md = write(tmp_path / "library.md", "# " + LIBRARY)
    report = fresh_assistant.ingest([txt, md])
    assert report.counts()["added"] == 2
    by_title = {row["title"]: row for row in fresh_assistant.articles()}
    assert set(by_title) == {"Harbour bridge reopens after repairs", "City library extends opening hours"}
    for path in (txt, md):
        article = fresh_assistant.article(next(r["doc_id"] for r in by_title.values() if r["origin"] == str(path)))
        assert article.text == path.read_bytes().decode("utf-8")
        assert article.source == str(path)
    answer = fresh_assistant.ask("Until when will the library stay open?")
    assert not answer.abstained
    assert "10 p.m." in answer.citations[0].text


def test_utf8_bom_is_not_part_of_the_title(fresh_assistant, tmp_path):
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + BRIDGE.encode("utf-8"))
    fresh_assistant.ingest([path])
    article = only_article(fresh_assistant)
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.text == path.read_bytes().decode("utf-8")  # offsets still count the BOM


def test_html_main_text_is_extracted_and_page_junk_is_not_cited(fresh_assistant, tmp_path):
    path = write(tmp_path / "page.html", HTML_PAGE)
    report = fresh_assistant.ingest([path])
    assert report.counts()["added"] == 1, report.skipped
    article = only_article(fresh_assistant)
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.url == article.source == "https://gazette.example.com/news/harbour-bridge-reopens"
    assert article.published == "2024-03-05"
    assert article.authors == ["Jane Reporter"]
    assert "reopened to traffic on Tuesday" in article.text
    assert "Engineers replaced all 212 suspension cables" in article.text
    stored = [text for _, text, _ in fresh_assistant.store.iter_sentences()]
    for junk in ("World news", "Subscribe", "Celebrity chef", "Lottery winner", "Privacy policy", "Copyright", "Contact us", "<"):
        assert not any(junk in s for s in stored), junk
    assert_consistent(fresh_assistant)
    answer = fresh_assistant.ask("How many cables did the engineers replace?")
    assert not answer.abstained
    assert answer.citations[0].text == "Engineers replaced all 212 suspension cables and repainted the towers, according to the city transport office."
    c = answer.citations[0]
    assert article.text[c.start : c.end] == c.text


DIV_SOUP_PAGE = """<html><head><title>Bridge reopens | Gazette</title></head><body>
<div id="top"><a href="/">Home</a> | <a href="/world">World news</a> | <a href="/sport">Sport</a></div>
<div class="menu">Sections: <a href="/a">Politics</a> <a href="/b">Business</a></div>
<div class="content">
<h2>Bridge reopens</h2>
<div class="byline">By Jane Reporter, March 5, 2024</div>
<div>The harbour bridge in Portwell reopened to traffic on Tuesday after eight months of repairs to its steel cables.</div>
<div>Mayor Linda Okafor said the city spent 42 million dollars on the work.</div>
<div>Share this article: <a href="#">Facebook</a> <a href="#">Twitter</a></div>
<div>Commuters had faced detours of up to forty minutes while the bridge was closed.</div>
</div>
<div class="related">Related stories: <a href="/x">Celebrity chef opens seaside cafe</a> <a href="/y">Lottery winner buys football club</a></div>
<div class="footer">Copyright 2024 Gazette. All rights reserved. <a href="/privacy">Privacy policy</a></div>
</body></html>
"""


def test_html_without_semantic_markup(fresh_assistant, tmp_path):
    report = fresh_assistant.ingest([write(tmp_path / "soup.htm", DIV_SOUP_PAGE)])
    assert report.counts()["added"] == 1, report.skipped
    article = only_article(fresh_assistant)
    assert article.title == "Bridge reopens" and article.authors == ["Jane Reporter"] and article.published == "2024-03-05"
    stored = [text for _, text, _ in fresh_assistant.store.iter_sentences()]
    assert "Mayor Linda Okafor said the city spent 42 million dollars on the work." in stored
    for junk in ("World news", "Sections", "Share this", "Facebook", "Related stories", "Celebrity chef", "Copyright", "Privacy"):
        assert not any(junk in s for s in stored), junk
    assert_consistent(fresh_assistant)


def test_html_in_its_declared_charset(fresh_assistant, tmp_path):
    page = HTML_PAGE.replace('charset="utf-8"', 'charset="windows-1252"').replace("Portwell", "Portwéll")
    report = fresh_assistant.ingest([write(tmp_path / "saved.html", page.encode("cp1252"))])
    assert report.counts()["added"] == 1, report.skipped
    assert "The harbour bridge in Portwéll reopened" in only_article(fresh_assistant).text


def test_json_object_and_list_and_jsonl_with_all_fields(fresh_assistant, tmp_path):
    one = {
        "id": "bridge-1",
        "url": "https://gazette.example.com/bridge",
        "title": "Bridge reopens",
        "text": BRIDGE,
        "authors": ["Jane Reporter", "Sam Lee"],
        "published": "2024-03-05T09:30:00Z",
    }
    write(tmp_path / "one.json", json.dumps(one))
    write(tmp_path / "list.json", json.dumps([{"text": LIBRARY, "authors": "Tom Reyes"}, {"id": 7, "text": TRAINS, "published": "2024-02-30"}]))
    write(tmp_path / "nested" / "deeper" / "feed.jsonl", jsonl({"id": "quake", "title": "Quake", "text": "A small earthquake shook the valley on Sunday night. No damage was reported.", "published": "2024-04-01"}))
    write(tmp_path / ".hidden" / "secret.txt", "Hidden story\nThis file is in a hidden folder and must not be read.")
    write(tmp_path / "nested" / "notes.pdf", b"%PDF-1.4 not an article")
    report = fresh_assistant.ingest([tmp_path])
    assert report.counts() == {"added": 4, "unchanged": 0, "replaced": 0, "skipped": 0}, report.skipped

    bridge = fresh_assistant.article("bridge-1")
    assert (bridge.title, bridge.url, bridge.source, bridge.published) == (
        "Bridge reopens", "https://gazette.example.com/bridge", "https://gazette.example.com/bridge", "2024-03-05",
    )
    assert bridge.authors == ["Jane Reporter", "Sam Lee"] and bridge.text == BRIDGE
    trains = fresh_assistant.article("7")
    assert trains.text == TRAINS and trains.published == "" and trains.title == TRAINS  # one-line text: title is the line
    library = next(fresh_assistant.article(r["doc_id"]) for r in fresh_assistant.articles() if r["title"] == "City library extends opening hours")
    assert library.authors == ["Tom Reyes"] and library.source == str(tmp_path / "list.json")
    quake = fresh_assistant.article("quake")
    assert quake.published == "2024-04-01" and quake.title == "Quake"
    assert not any("hidden folder" in t for _, t, _ in fresh_assistant.store.iter_sentences())
    assert_consistent(fresh_assistant)

    answer = fresh_assistant.ask("When did the earthquake shake the valley?")
    assert [c.doc_id for c in answer.citations] == ["quake"]
    assert answer.citations[0].published == "2024-04-01"

    again = fresh_assistant.ingest([tmp_path])
    assert again.counts() == {"added": 0, "unchanged": 4, "replaced": 0, "skipped": 0}


# --- progress --------------------------------------------------------------------


def test_progress_is_reported_per_file_and_ends_at_total(fresh_assistant, tmp_path):
    for i in range(6):
        write(tmp_path / f"{i:02d}.txt", f"Story number {i}\nThe council met on day {i} to discuss the harbour budget and the bridge.")
    calls = []
    stored_at_end = []

    def progress(done, total):
        calls.append((done, total))
        if done == total:
            stored_at_end.append(len(fresh_assistant.store.ready_ids()))

    report = fresh_assistant.ingest([tmp_path, tmp_path / "missing.txt"], progress=progress)
    assert report.counts()["added"] == 6 and report.counts()["skipped"] == 1
    assert calls == [(i, 7) for i in range(1, 8)]
    assert stored_at_end == [6]  # the bar completes only once everything is stored


def test_progress_counts_the_articles_inside_one_file_as_they_are_stored(fresh_assistant, tmp_path):
    # One JSONL of many articles is one file: the per-file callback alone says nothing until its end.
    lines = [json.dumps({"id": f"wire-{i}", "title": f"Story {i}", "text": f"The council met on day {i} to discuss the harbour budget."})
             for i in range(40)]
    lines.insert(7, "{not json")
    write(tmp_path / "wire.jsonl", "\n".join(lines) + "\n")
    calls = []

    def on_article(done, title):
        calls.append((done, title, fresh_assistant.store.article_meta(title.replace("Story ", "wire-")) is not None))

    report = fresh_assistant.ingest([tmp_path / "wire.jsonl"], on_article=on_article)
    assert report.counts() == {"added": 40, "unchanged": 0, "replaced": 0, "skipped": 1}
    assert [done for done, _, _ in calls] == list(range(1, 42))
    stories = [(title, stored) for _, title, stored in calls if title.startswith("Story")]
    assert stories == [(f"Story {i}", True) for i in range(40)]  # each one named once it is stored
    again = []
    fresh_assistant.ingest([tmp_path / "wire.jsonl"], on_article=lambda done, title: again.append(done))
    assert again == list(range(1, 42))  # unchanged and skipped articles count too


def test_progress_on_nothing_to_read_still_finishes(fresh_assistant, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    calls = []
    report = fresh_assistant.ingest([empty], progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1]
    assert report.counts()["skipped"] == 1 and "no article files" in str(report.skipped[0])


def test_count_articles_is_what_the_ingest_counts_to(fresh_assistant, tmp_path):
    # The upload's progress bar is sized by it before the ingest starts: it must end where on_article ends.
    lines = [json.dumps({"id": f"count-{i}", "text": f"The council met on day {i} to discuss the harbour budget."}) for i in range(5)]
    write(tmp_path / "wire.jsonl", "\n".join(lines[:2] + ["", "{not json"] + lines[2:]) + "\n")
    write(tmp_path / "list.json", json.dumps([{"id": "list-1", "text": TRAINS}, {"id": "list-2"}, {"id": "list-3", "text": "A third."}]))
    write(tmp_path / "one.json", json.dumps({"id": "one", "text": "One article alone, read from an object."}))
    write(tmp_path / "bridge.txt", BRIDGE)
    write(tmp_path / "bad.json", "{not json")
    write(tmp_path / "table.csv", "a,b\n")
    from index.articles import count_articles

    for name, expected in [("wire.jsonl", 6), ("list.json", 3), ("one.json", 1), ("bridge.txt", 1), ("bad.json", 1), ("table.csv", 1)]:
        done = []
        fresh_assistant.ingest([tmp_path / name], on_article=lambda n, title: done.append(n))
        assert count_articles(tmp_path / name) == expected == done[-1], name
