"""The web app, end to end: the real server (serve(), first-start ingest of the samples),
driven by a real headless Chromium through Playwright, and by gradio_client over its API.

One server per module; each browser test opens its own page (its own chat session).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ARTIFACTS, LIGHTHOUSE, ROOT, free_port
from qa.web import percent, safe_name

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
RAFAH = "What did Netanyahu say about Rafah?"
RAFAH_SENTENCES = [
    "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control.",
    "He told representatives of the hostage families: \"We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”",
]
FOLLOW_UP = "When did he promise that?"
ABSENT = "What did Blinken say about Ukraine?"
TEL_AVIV = "Who did Blinken meet in Tel Aviv?"
NOT_FOUND = "Not found in these articles."

ORCHARD = """Orchard town celebrates record apple harvest

Farmers in the valley town of Pellworth picked a record 12,000 tonnes of apples this autumn.
The mayor of Pellworth, Ida Varga, said the harvest festival will be held on October 12.
"""

HOSTILE = """Harbor council <b>approves</b> lighthouse repairs

The Brindlemoor harbor council voted on Monday to repair the old lighthouse before the winter storms.
Council clerk Mara Quill said the notice read <script>window.__xss=1</script> and <img src=x onerror="window.__xss=2"> in the minutes, which nobody could explain.
The sign by the quay also said ${window.__xss=3} and {{constructor.constructor('window.__xss=4')()}} in chalk.
Repairs are expected to cost 40,000 pounds and finish in November.
"""


# --- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    """The real app via qa.web.serve on a free port, over a fresh store (samples ingested on first start)."""
    from qa import Assistant
    from qa.web import serve

    store = tmp_path_factory.mktemp("web-store")
    assistant = Assistant(store=store, embedder=embedder)
    assert assistant.articles() == []
    app, url = serve(assistant, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert len(assistant.articles()) == 2, "first start with an empty store must ingest data/sample"
        yield assistant, url.rstrip("/") + "/", store
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    _, url, _ = server
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()


# --- helpers -------------------------------------------------------------------------


BOT = "#qa-chat [data-testid='bot']"


def ask(page, question: str) -> str:
    """Type a question, send it, wait for its answer; returns the answer bubble's visible text."""
    before = page.locator(BOT).count()
    page.fill("#qa-question textarea", question)
    page.press("#qa-question textarea", "Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[BOT, before]
    )
    page.wait_for_function(
        "(n) => { const p = document.querySelector('#qa-sources .qa-sources'); return p && p.dataset.turn === String(n); }",
        arg=before,
    )
    return page.locator(BOT).nth(before).inner_text().strip()


def mark_texts(page) -> list[str]:
    return page.eval_on_selector_all("#qa-sources mark.qa-mark", "els => els.map(e => e.textContent)")


def expected_sentences(citations) -> list[str]:
    """Each cited (article, span) once, in reading order within an article."""
    seen, out = set(), []
    for c in sorted(citations, key=lambda c: (c.doc_id, c.start)):
        if (c.doc_id, c.start) not in seen:
            seen.add((c.doc_id, c.start))
            out.append(c.text)
    return out


def bubble_text(answer) -> str:
    """What the chat bubble of an Answer reads: its sentences with [n] markers, or the plain not-found."""
    if answer.abstained:
        return NOT_FOUND
    first: dict[int, object] = {}
    for c in answer.citations:
        first.setdefault(c.marker, c)
    return " ".join(f"{c.text} [{n}]" for n, c in sorted(first.items()))


def upload(page, *paths: Path) -> str:
    """Upload files through the Library tab; returns the summary line ("1 added, 0 unchanged, …")."""
    page.get_by_role("tab", name="Library").click()
    run = "(() => { const s = document.querySelector('#qa-summary .qa-summary'); return s ? s.dataset.run : ''; })()"
    old = page.evaluate(run)
    page.set_input_files("#qa-upload input[type=file]", [str(p) for p in paths])
    page.wait_for_function(f"(old) => {run} !== old", arg=old)
    return page.get_attribute("#qa-summary .qa-summary-line", "data-summary")


def confirm_remove(page) -> None:
    """Remove the article chosen in the Library: the button asks first, then "Yes, remove"."""
    page.click("#qa-remove")
    page.click("#qa-remove-confirm")
    page.wait_for_selector("#qa-remove-note:has-text('Removed')")


def in_view(page, selector: str) -> bool:
    """Whether the element is visible inside the scrolling sources panel and the window."""
    return page.evaluate(
        """(sel) => {
            const el = document.querySelector(sel); const box = document.querySelector('#qa-sources .qa-sources');
            if (!el || !box) return false;
            const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
            return r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.top >= 0 && r.bottom <= window.innerHeight;
        }""",
        selector,
    )


# --- chat ----------------------------------------------------------------------------


def test_answer_and_highlights_carry_exactly_the_cited_sentences(page, server):
    assistant, _, _ = server
    expected = assistant.ask(RAFAH)
    assert not expected.abstained
    assert expected_sentences(expected.citations) == RAFAH_SENTENCES

    bubble = ask(page, RAFAH)
    # The answer bubble: each cited sentence, then its clickable marker.
    assert bubble == f"{RAFAH_SENTENCES[0]} [1] {RAFAH_SENTENCES[1]} [2]"
    links = page.eval_on_selector_all(f"{BOT} a.qa-marker", "els => els.map(e => [e.textContent, e.getAttribute('href')])")
    assert links == [["[1]", "#cite-1"], ["[2]", "#cite-2"]]

    # The sources panel: how sure the answer is, then the full article, with exactly the cited sentences marked.
    confidence = page.inner_text("#qa-sources .qa-confidence")
    assert confidence == f"Confidence that the library answers this: {percent(expected.confidence)}" and "%" in confidence
    assert 0.5 < expected.confidence < 1
    assert sorted(mark_texts(page)) == sorted(RAFAH_SENTENCES)
    assert page.eval_on_selector("#cite-1", "e => e.textContent") == RAFAH_SENTENCES[0]
    assert page.eval_on_selector("#cite-2", "e => e.textContent") == RAFAH_SENTENCES[1]
    # No server path in the page: a file is named by its file name, also in tooltips.
    html = page.content()
    assert str(ROOT) not in html and "004_a8ed45d3df2df383.txt" in html
    article = assistant.article(expected.citations[0].doc_id)
    panel_text = page.eval_on_selector(".qa-article-text", "e => e.textContent")
    assert panel_text == article.text  # the whole article, unaltered, around the marks
    header = page.inner_text(".qa-article header")
    # Plain language: the title, not the sample's hash file name (that is the tooltip).
    assert article.title in header and "file · date unknown" in header and "004_a8ed45d3df2df383" not in header
    assert page.get_attribute(".qa-article header .qa-meta span", "title").endswith("004_a8ed45d3df2df383.txt")
    # The compact list of cited sentences; their scores only in a details view.
    items = page.locator(".qa-cited li")
    assert items.count() == 2
    for i, c in enumerate(sorted(expected.citations, key=lambda c: c.marker)):
        item = items.nth(i)
        assert c.text in item.inner_text() and "score" not in item.inner_text()
        item.locator("summary").click()
        assert f"score {c.score:.3f}" in item.inner_text() and f"chars {c.start}-{c.end}" in item.inner_text()

    # Clicking [2] in the answer brings its span into view (and flashes it).
    page.eval_on_selector("#qa-sources .qa-sources", "e => { e.style.scrollBehavior = 'auto'; e.scrollTop = 0; }")
    page.evaluate("document.documentElement.style.scrollBehavior = 'auto'")
    assert not in_view(page, "#cite-2"), "the second span should start out of view for this check to mean anything"
    page.locator(f"{BOT} a.qa-marker", has_text="[2]").click()
    page.wait_for_function("() => document.querySelector('#cite-2').classList.contains('qa-flash')")
    page.wait_for_timeout(900)  # smooth scrolling
    assert in_view(page, "#cite-2")
    assert page.url.endswith("/") or "#cite-2" not in page.url  # handled in-page, no navigation


def test_follow_up_uses_the_earlier_question(page, server):
    assistant, _, _ = server
    ask(page, RAFAH)
    bubble = ask(page, FOLLOW_UP)
    expected = assistant.ask(FOLLOW_UP, history=[RAFAH])
    assert not expected.abstained
    assert "Netanyahu" in expected.resolved_question
    assert "On Tuesday evening, Netanyahu again promised" in bubble
    assert bubble == bubble_text(expected)
    assert sorted(mark_texts(page)) == sorted(expected_sentences(expected.citations))
    assert f"Read as: {expected.resolved_question}" in page.inner_text("#qa-sources .qa-src-head")
    assert page.locator("#cite-2").count() == 0
    # Clicking [2] in the first answer selects that answer, shows its sources and brings span 2 into view.
    page.evaluate("document.documentElement.style.scrollBehavior = 'auto'")
    page.locator(BOT).first.locator("a.qa-marker", has_text="[2]").click()
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
    assert sorted(mark_texts(page)) == sorted(RAFAH_SENTENCES)
    page.wait_for_function("() => document.querySelector('#cite-2').classList.contains('qa-flash')")
    page.wait_for_timeout(900)
    assert in_view(page, "#cite-2")

    # The chat's clear button starts a new conversation: the next question has no history.
    page.click("#qa-chat button[aria-label='Clear']")
    page.wait_for_selector("#qa-sources .qa-empty")
    assert page.locator(BOT).count() == 0
    fresh = assistant.ask(FOLLOW_UP)
    bubble = ask(page, FOLLOW_UP)
    assert page.get_attribute("#qa-sources .qa-sources", "data-turn") == "0"
    assert bubble == bubble_text(fresh)
    assert fresh.resolved_question == FOLLOW_UP
    assert "Read as" not in page.inner_text("#qa-sources .qa-src-head")  # asked without the earlier question


def test_examples_on_first_load_and_the_plain_not_found(page, server):
    assistant, _, _ = server
    from qa.web import EXAMPLES

    examples = page.locator("#qa-chat button", has_text="?")
    assert [e.strip() for e in examples.all_inner_texts()] == EXAMPLES
    page.locator("#qa-chat button", has_text="Who did Blinken meet in Tel Aviv?").click()
    page.wait_for_selector(BOT)
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
    assert page.locator(BOT).first.inner_text().strip() == bubble_text(assistant.ask("Who did Blinken meet in Tel Aviv?"))
    assert "Isaac Herzog" in " ".join(mark_texts(page))

    assert assistant.ask(ABSENT).abstained
    bubble = ask(page, ABSENT)
    assert bubble == NOT_FOUND
    assert page.locator(BOT).last.locator("a").count() == 0
    assert mark_texts(page) == []
    assert page.locator("#qa-sources .qa-notfound").count() == 1
    assert page.locator("#qa-sources .qa-confidence").count() == 0  # no "how sure" for an answer not given


def test_filters_are_validated_and_apply_to_the_next_question(page, server):
    page.click("#qa-filters button.label-wrap, #qa-filters > button")
    page.fill("#qa-from textarea", "2024-13-45")
    page.wait_for_selector("#qa-filter-note .qa-error")
    assert "not a real date" in page.inner_text("#qa-filter-note")
    before = page.locator(BOT).count()
    page.fill("#qa-question textarea", RAFAH)
    page.press("#qa-question textarea", "Enter")
    page.wait_for_selector("#qa-filter-note .qa-error:has-text('Question not asked')")  # said beside the filters, not an answer
    assert page.locator(BOT).count() == before
    # A valid range: the sample articles carry no date, so nothing matches (undated articles are outside any range).
    page.fill("#qa-from textarea", "2024-05-01")
    page.wait_for_selector("#qa-filter-note .qa-active")
    # "Not found" says which filters were on.
    assert ask(page, RAFAH) == f"{NOT_FOUND} (Searched only published on or after 2024-05-01.)"
    assert "published on or after 2024-05-01" in page.inner_text("#qa-sources")


# --- library ---------------------------------------------------------------------------


def test_upload_ingests_reports_and_lists_the_article_and_remove_drops_it(page, server, tmp_path):
    assistant, _, store = server
    article = tmp_path / "orchard report (final).txt"
    article.write_text(ORCHARD, encoding="utf-8")
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"\x00\x01binary")

    assert upload(page, article) == "1 added, 0 unchanged, 0 replaced, 0 skipped"
    title = "Orchard town celebrates record apple harvest"
    page.wait_for_selector(f"#qa-articles td:has-text('{title}')")
    assert title in [a["title"] for a in assistant.articles()]
    # Uploads are copied into the store's private folder under a sanitized name.
    assert (store / "uploads" / safe_name(article.name)).read_text(encoding="utf-8") == ORCHARD
    assert "3 articles" in page.inner_text("#qa-header")

    # The same file again is unchanged; a broken one is skipped with its reason.
    summary = upload(page, article, bad)
    assert summary == "0 added, 1 unchanged, 0 replaced, 1 skipped"
    assert "notes.txt: binary file" in page.inner_text("#qa-summary")

    # Remove it through the dropdown + button.
    doc_id = next(a["doc_id"] for a in assistant.articles() if a["title"] == title)
    page.click("#qa-remove-choice input")
    page.fill("#qa-remove-choice input", doc_id)
    page.locator("#qa-remove-choice li", has_text=doc_id).first.click()
    confirm_remove(page)
    assert page.locator(f"#qa-articles td:has-text('{title}')").count() == 0
    assert assistant.article(doc_id) is None
    assert not (store / "uploads" / safe_name(article.name)).exists()


def test_uploads_of_other_types_or_too_large_are_refused(page, server, tmp_path):
    import httpx

    assistant, url, _ = server
    # A batch before: its summary must not stay on screen when the next file is refused.
    earlier = tmp_path / "earlier batch.txt"
    earlier.write_text("Earlier batch note\n\nThe earlier batch held one short note about the harbour.\n", encoding="utf-8")
    assert upload(page, earlier) == "1 added, 0 unchanged, 0 replaced, 0 skipped"
    assistant.remove(next(a["doc_id"] for a in assistant.articles() if a["title"] == "Earlier batch note"))
    count = len(assistant.articles())
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (9 * 2**20 // 5))
    small = tmp_path / "small.txt"
    small.write_text("Small note\n\nA small note that came with the big file.\n", encoding="utf-8")
    page.set_input_files("#qa-upload input[type=file]", [str(small), str(big)])
    page.wait_for_selector(".toast-message-text:has-text('maximum allowed size')")
    # The browser sends nothing of the batch; the summary names the refused file and what was not sent.
    page.wait_for_selector("#qa-summary .qa-refused")
    refused = page.inner_text("#qa-summary")
    assert "Earlier batch note" not in refused
    assert "big.txt: file is 9.0 MB, over the 8 MB limit" in refused and "small.txt: not sent" in refused
    assert page.get_attribute("#qa-summary .qa-summary-line", "data-summary") == "nothing uploaded, 1 refused"
    assert page.evaluate(CONTRAST_JS, ["#qa-summary"]) == []
    # The server refuses it too, whatever the browser does.
    with big.open("rb") as handle:
        response = httpx.post(url + "gradio_api/upload", files=[("files", ("big.txt", handle, "text/plain"))], timeout=30)
    assert response.status_code == 413
    assert len(assistant.articles()) == count
    # Other types reach the server, which names them in the summary (a toast alone left the
    # previous batch's summary on screen).
    files = []
    for name, data in [("table.csv", b"a,b\n1,2\n"), ("report.pdf", b"%PDF-1.4 x"), ("letter.docx", b"PK\x03\x04")]:
        files.append(tmp_path / name)
        files[-1].write_bytes(data)
    assert upload(page, *files) == "0 added, 0 unchanged, 0 replaced, 3 skipped"
    summary = page.inner_text("#qa-summary")
    for name, suffix in [("table.csv", ".csv"), ("report.pdf", ".pdf"), ("letter.docx", ".docx")]:
        assert f"{name}: unsupported file type '{suffix}'" in summary
    assert len(assistant.articles()) == count


def test_article_markup_is_shown_as_text_and_never_runs(page, server, tmp_path):
    hostile = tmp_path / "<img src=x onerror=alert(1)>.txt"
    hostile.write_text(HOSTILE, encoding="utf-8")
    assert upload(page, hostile) == "1 added, 0 unchanged, 0 replaced, 0 skipped"
    page.get_by_role("tab", name="Ask").click()
    bubble = ask(page, "What did Mara Quill say?")
    assert '<script>window.__xss=1</script>' in bubble
    assert '<img src=x onerror="window.__xss=2">' in bubble

    panel = page.inner_text("#qa-sources")
    assert "<script>window.__xss=1</script>" in panel
    assert '<img src=x onerror="window.__xss=2">' in panel
    assert "${window.__xss=3}" in panel and "{{constructor.constructor('window.__xss=4')()}}" in panel
    assert "Harbor council <b>approves</b> lighthouse repairs" in panel
    assert mark_texts(page) == [
        'Council clerk Mara Quill said the notice read <script>window.__xss=1</script> and '
        '<img src=x onerror="window.__xss=2"> in the minutes, which nobody could explain.'
    ]
    page.get_by_role("tab", name="Library").click()
    assert "Harbor council <b>approves</b> lighthouse repairs" in page.inner_text("#qa-articles")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    assert page.locator("#qa-sources img, #qa-chat .message-content img, #qa-articles img, #qa-sources b").count() == 0
    assert page.locator("#qa-sources script, #qa-chat .message-content script").count() == 0


def test_screenshot(page, server):
    ask(page, RAFAH)
    page.locator(f"{BOT} a.qa-marker", has_text="[1]").click()
    page.wait_for_timeout(900)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "app.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 20_000
    page.get_by_role("tab", name="Library").click()
    page.wait_for_selector("#qa-articles table")
    page.screenshot(path=str(ARTIFACTS / "app-library.png"), full_page=True)


# --- API and file serving -----------------------------------------------------------------


def test_api_ask_returns_the_cli_json(server):
    from gradio_client import Client

    assistant, url, _ = server
    client = Client(url, verbose=False)

    def served(answer) -> dict:  # the API names a file by its path in the checkout or the store, never the full one
        result = json.loads(json.dumps(answer.to_dict()))
        for c in result["citations"]:
            c["source"] = str(Path(c["source"]).relative_to(ROOT))
        return result

    got = client.predict(RAFAH, api_name="/ask")
    assert got == served(assistant.ask(RAFAH))
    assert {c["source"] for c in got["citations"]} == {"data/sample/004_a8ed45d3df2df383.txt"}
    assert [c["text"] for c in got["citations"]] == RAFAH_SENTENCES
    for c in got["citations"]:
        assert assistant.article(c["doc_id"]).text[c["start"] : c["end"]] == c["text"]
    assert set(got) == {"question", "text", "abstained", "citations", "resolved_question", "dropped", "confidence"}

    follow = client.predict(FOLLOW_UP, [RAFAH], api_name="/ask")
    assert follow == served(assistant.ask(FOLLOW_UP, history=[RAFAH]))
    absent = client.predict(ABSENT, api_name="/ask")
    assert absent["abstained"] is True and absent["citations"] == [] and absent["text"] == NOT_FOUND
    # Filters pass through: only the other sample article.
    other = next(a["source"] for a in assistant.articles() if a["source"].endswith("000_931a4d0f5c8aff4b.txt"))
    filtered = client.predict(RAFAH, [], ["data/sample/000_931a4d0f5c8aff4b.txt"], "", "", api_name="/ask")
    assert filtered == served(assistant.ask(RAFAH, sources=[other]))
    assert all(c["source"] == "data/sample/000_931a4d0f5c8aff4b.txt" for c in filtered["citations"])
    kept = client.predict(RAFAH, [], ["data/sample/004_a8ed45d3df2df383.txt"], "", "", api_name="/ask")
    # the source as the API names it filters as the full one does (scores may differ: the reranker reads the best
    # candidates of the filtered search)
    assert [(c["doc_id"], c["start"], c["end"]) for c in kept["citations"]] == [(c["doc_id"], c["start"], c["end"]) for c in got["citations"]]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        str(ROOT / "pyproject.toml"),
        str(ROOT / "data" / "sample" / "000_931a4d0f5c8aff4b.txt"),
        "../../../../etc/passwd",
    ],
)
def test_files_outside_the_app_cannot_be_read(server, path):
    _, url, store = server
    for route in ("gradio_api/file=", "file="):
        status, body = _get(url + route + path)
        assert status != 200 or not body, (route, path, status)
        assert b"root:" not in body and b"[project]" not in body
    # Nor anything in the store (the private upload copies included).
    status, body = _get(url + "gradio_api/file=" + str(store / "chroma.sqlite3"))
    assert status != 200 or not body


def test_confidence_reads_as_whole_percents_never_false_certainty():
    assert [percent(p) for p in (0.0, 0.003, 0.2, 0.874, 0.996, 1.0)] == ["0 %", "under 1 %", "20 %", "87 %", "over 99 %", "100 %"]


def test_helpers_escape_and_validate():
    from qa.web import check_filters, esc, esc_md, safe_name, safe_url, source_label

    assert esc('<script>"x"</script>${a}{{b}}') == (
        "&lt;script&gt;&quot;x&quot;&lt;/script&gt;&#36;&#123;a&#125;&#123;&#123;b&#125;&#125;"
    )
    assert "<" not in esc_md("<img src=x onerror=alert(1)>") and "\\*" in esc_md("*bold*")
    assert safe_url("javascript:alert(1)") == "" and safe_url("https://ex.com/a") == "https://ex.com/a"
    assert safe_url("file:///etc/passwd") == ""
    assert safe_name("../../etc/passwd") == "passwd"
    assert re.fullmatch(r"x_b-[0-9a-f]{8}\.txt", safe_name("..\\..\\x <b>.TXT"))
    assert re.fullmatch(r"hidden-[0-9a-f]{8}\.md", safe_name(".hidden.md"))
    assert source_label("/a/b/c.txt") == "c.txt" and source_label("https://www.ex.com/x") == "ex.com"
    assert check_filters(["s"], " 2024-05-01 ", "") == (["s"], "2024-05-01", "")
    for bad in [("2024-5-1", ""), ("2024-02-30", ""), ("2024-05-02", "2024-05-01")]:
        with pytest.raises(ValueError):
            check_filters([], *bad)


# --- upload summary of a huge batch ---------------------------------------------------------------


def test_upload_summary_lists_at_most_200_items_then_counts_the_rest():
    from index.ingest import IngestReport, Skipped
    from qa.web import MAX_SUMMARY_ITEMS, ingest_summary

    report = IngestReport(added=[f"doc-{i}" for i in range(50_000)], skipped=[Skipped("/up/bad.jsonl:7", "malformed JSON")])
    html_text = ingest_summary(report, {"/up/bad.jsonl": "export.jsonl"}, [("table.csv", "unsupported file type '.csv'")], {"doc-0": "First <title>"})
    items = html_text.count("<li")
    assert MAX_SUMMARY_ITEMS == 200 and items == 201
    assert html_text.count('class="qa-tag qa-tag-skipped"') == 2  # problems come first, never cut off by the added ones
    assert "<b>export.jsonl:7</b>: malformed JSON" in html_text and "First &lt;title&gt;" in html_text
    assert '<li class="qa-more">… and 49,802 more</li>' in html_text
    assert 'data-summary="50000 added, 0 unchanged, 0 replaced, 2 skipped"' in html_text
    assert len(html_text) < 30_000
    small = ingest_summary(IngestReport(added=["a", "b"]), {}, [], {})
    assert small.count("<li") == 2 and "qa-more" not in small


# --- LLM answers, streamed into the chat ---------------------------------------------------------

LLM_REPLY = (
    "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control [1]. "
    "He told the hostage families that Israel will enter Rafah with or without a deal [2]. "
    "The United Nations Security Council approved the Rafah operation [2]."
)


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory, embedder):
    """The app over its own fresh store, with a scripted LLM that stops after three words until
    the test opens its gate."""
    import threading

    from conftest import ScriptedLLM
    from qa import Assistant
    from qa.web import serve

    gate = threading.Event()
    condense_first_line = (ROOT / "prompts" / "condense.txt").read_text(encoding="utf-8").splitlines()[0]

    def reply(prompt: str) -> str:
        return "What did Blinken say about Ukraine?" if prompt.startswith(condense_first_line) else LLM_REPLY

    llm = ScriptedLLM(replies=[reply], gate=gate, hold_after=3)
    assistant = Assistant(store=tmp_path_factory.mktemp("web-llm-store"), embedder=embedder, llm=llm)
    app, url = serve(assistant, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        yield assistant, url.rstrip("/") + "/", llm, gate
    finally:
        gate.set()
        app.close()


def test_llm_answer_streams_then_becomes_the_verified_answer_with_its_sources(browser, llm_server):
    assistant, url, llm, gate = llm_server
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(url)
        page.wait_for_selector("#qa-question textarea")
        assert "written by a language model" in page.inner_text("#qa-chat")
        page.fill("#qa-question textarea", RAFAH)
        page.press("#qa-question textarea", "Enter")
        # Half-written: the first words, marked as not yet checked, no citation links, no sources yet.
        page.wait_for_selector(f"{BOT} .qa-writing")
        # The words arrive one by one up to the held third: wait for it rather than read mid-way.
        page.wait_for_function(f"() => document.querySelector(\"{BOT}\").innerText.startsWith('On Tuesday evening,')")
        assert "Rafah" not in page.locator(BOT).first.inner_text()
        assert page.locator(f"{BOT} a.qa-marker").count() == 0
        assert page.locator("#qa-sources .qa-empty").count() == 1
        assert len(llm.received) == 1 and f"[1] {RAFAH_SENTENCES[0]}" in llm.received[0]

        gate.set()
        page.wait_for_function("() => { const p = document.querySelector('#qa-sources .qa-sources'); return p && p.dataset.turn === '0'; }")
        bubble = page.locator(BOT).first.inner_text().strip()
        assert bubble == (
            "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control. [1] "
            "He told the hostage families that Israel will enter Rafah with or without a deal. [2]"
        )
        assert page.locator(f"{BOT} .qa-writing").count() == 0
        links = page.eval_on_selector_all(f"{BOT} a.qa-marker", "els => els.map(e => [e.textContent, e.getAttribute('href')])")
        assert links == [["[1]", "#cite-1"], ["[2]", "#cite-2"]]
        # The sources panel works as before: exact spans highlighted; the made-up claim is listed as removed.
        assert sorted(mark_texts(page)) == sorted(RAFAH_SENTENCES)
        assert page.eval_on_selector("#cite-2", "e => e.textContent") == RAFAH_SENTENCES[1]
        assert page.inner_text("#qa-sources .qa-dropped li") == "The United Nations Security Council approved the Rafah operation [2]."
        expected = assistant.ask(RAFAH)
        assert expected.dropped == ["The United Nations Security Council approved the Rafah operation [2]."]
        assert len(llm.received) == 1  # the app's answer was remembered
        assert "every sentence checked against its citation" in page.inner_text("#qa-header")
        page.screenshot(path=str(ARTIFACTS / "app-llm.png"), full_page=True)

        # The next question is a follow-up: the LLM condenses it, and as it then abstains, is not asked to answer.
        page.fill("#qa-question textarea", ABSENT)
        page.press("#qa-question textarea", "Enter")
        page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '1'")
        assert page.locator(BOT).nth(1).inner_text().strip() == NOT_FOUND
        assert len(llm.received) == 2 and llm.received[1].startswith("Rewrite the last question")
        assert f"User: {RAFAH}" in llm.received[1] and f"Last question: {ABSENT}" in llm.received[1]
    finally:
        context.close()


# --- a reader's tool: themes, phones, changed articles, labels (issue 16) --------------------------

PELLWORTH = "Farmers in the valley town of Pellworth picked a record 12,000 tonnes of apples this autumn."
HOW_MANY_APPLES = "How many tonnes of apples did the farmers in Pellworth pick?"
DESKTOP, PHONE = (1400, 900), (390, 844)

# Every text colour against the background it is painted on (backgrounds composited from the root
# down, opacity applied), for every element of the app's own parts that holds text, and for the
# number badge drawn before each highlight. WCAG 2 relative luminance and contrast ratio.
CONTRAST_JS = """(roots) => {
  const parse = (c) => { const m = /rgba?\\(([^)]+)\\)/.exec(c || ''); if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const paint = (style, under) => {
    const gradient = /gradient\\(/.test(style.backgroundImage) ? parse(/rgba?\\([^)]+\\)/.exec(style.backgroundImage)[0]) : null;
    let bg = under; const c = parse(style.backgroundColor);
    if (c && c[3] > 0) bg = over(c, bg);
    return gradient ? over(gradient, bg) : bg; };
  const backdrop = (el) => { const chain = []; for (let e = el; e; e = e.parentElement) chain.push(e);
    let bg = [255, 255, 255, 1], alpha = 1;
    for (const e of chain.reverse()) { const s = getComputedStyle(e); bg = paint(s, bg); alpha *= Number(s.opacity); }
    return [bg, alpha]; };
  const failures = [], seen = new Set();
  const check = (el, style, bg, alpha, what) => {
    const fg = parse(style.color); const shown = over([fg[0], fg[1], fg[2], fg[3] * alpha], bg);
    const r = ratio(shown, bg);
    if (r < 4.5) failures.push(`${what} ${r.toFixed(2)}:1 (${style.color} on rgb(${bg.slice(0, 3).map(Math.round)}))`);
  };
  for (const root of roots) for (const el of document.querySelectorAll(root + ', ' + root + ' *')) {
    if (seen.has(el) || !el.getClientRects().length) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible') continue;
    const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    const [bg, alpha] = backdrop(el);
    if (alpha < 0.01) continue;  // fully transparent: not shown (gradio's hidden progress text)
    const what = `<${el.tagName.toLowerCase()} class="${el.className}"> "${text.slice(0, 30)}"`;
    if (text) check(el, style, bg, alpha, what);
    const before = getComputedStyle(el, '::before');
    if (before.content && before.content !== 'none' && before.content !== 'normal' && before.display !== 'none')
      check(el, before, paint(before, bg), alpha, what + '::before');
  }
  return failures;
}"""
APP_PARTS = ["#qa-header", "#qa-chat .message-content", "#qa-chat .qa-cards", "#qa-chat .qa-placeholder", "#qa-sources", "#qa-filter-note", "#qa-summary", "#qa-articles"]


@pytest.fixture
def open_page(browser, server):
    """A page of its own at a given size and theme ("" or "dark"): open_page((w, h), theme)."""
    _, url, _ = server
    contexts = []

    def open_(size=DESKTOP, theme="", **options):
        context = browser.new_context(viewport={"width": size[0], "height": size[1]}, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url + ("?__theme=dark" if theme == "dark" else ""))
        page.wait_for_selector("#qa-question textarea")
        page.evaluate("document.documentElement.style.scrollBehavior = 'auto'")
        return page

    yield open_
    for context in contexts:
        context.close()


def shot(page, name: str, size, theme: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{size[0]}x{size[1]}-{theme or 'light'}.png"), full_page=full_page)


def text_lines(page, selector: str) -> list[int]:
    """How many lines of text each element matching ``selector`` takes."""
    return page.eval_on_selector_all(
        selector,
        """els => els.map(el => { const r = document.createRange(); r.selectNodeContents(el);
            return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; })""",
    )


def fits_in_viewport(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector, "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }"
    )


@pytest.mark.parametrize("theme", ["", "dark"])
def test_every_colour_the_app_sets_reaches_aa_contrast(open_page, server, tmp_path, theme):
    page = open_page(DESKTOP, theme)
    assert page.evaluate("document.body.classList.contains('dark')") == (theme == "dark")
    ask(page, RAFAH)
    page.locator(f"{BOT} a.qa-marker", has_text="[1]").click()
    page.wait_for_timeout(2000)  # the flash has faded back to the highlight
    page.locator(".qa-cited li summary").first.click()
    # The highlight in particular (near-white on pale yellow in dark mode before).
    assert page.evaluate(CONTRAST_JS, ["#qa-sources mark.qa-mark"]) == []
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "answer", DESKTOP, theme)
    # The flash itself, mid-animation.
    page.locator(f"{BOT} a.qa-marker", has_text="[2]").click()
    assert page.evaluate(CONTRAST_JS, ["#qa-sources mark.qa-flash"]) == []
    # Not found, with the filters named and questions to ask instead; the upload summary; the library; the reader.
    ask(page, ABSENT)
    page.wait_for_selector("#qa-sources .qa-nearby-questions")
    page.wait_for_timeout(500)  # gradio's progress fading has ended
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "notfound", DESKTOP, theme)
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.4")
    upload(page, bad)
    page.wait_for_selector("#qa-articles table")
    assert "004_a8ed45d3df2df383" not in page.inner_text("#qa-articles")  # the samples by title, not hash file names
    page.wait_for_timeout(500)
    page.locator("#qa-articles th button.qa-sort", has_text="Title").click()  # the sort mark too
    page.wait_for_selector("#qa-articles th[aria-sort='ascending']")
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "library", DESKTOP, theme)
    open_reader(page, sample_title(server[0], "US Secretary Blinken tells Herzog"))
    page.wait_for_timeout(500)
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "reader", DESKTOP, theme)


def test_an_answer_whose_article_was_replaced_marks_no_wrong_words(page, server, tmp_path):
    assistant, _, _ = server
    export = tmp_path / "harvest.json"
    first = {"id": "pellworth-harvest", "title": "Orchard town celebrates record apple harvest", "text": ORCHARD}
    export.write_text(json.dumps(first), encoding="utf-8")
    upload(page, export)
    page.get_by_role("tab", name="Ask").click()
    ask(page, HOW_MANY_APPLES)
    assert mark_texts(page) == [PELLWORTH]
    (cited,) = assistant.ask(HOW_MANY_APPLES).citations

    # A new version of the same id with a line added near the top: the old offsets now fall elsewhere.
    lines = ORCHARD.split("\n")
    second = dict(first, text="\n".join(lines[:2] + ["By our farming correspondent, reporting from the valley floor."] + lines[2:]))
    export.write_text(json.dumps(second), encoding="utf-8")
    assert upload(page, export) == "0 added, 0 unchanged, 1 replaced, 0 skipped"
    assert assistant.article("pellworth-harvest").text[cited.start : cited.end] != PELLWORTH  # the old offsets now miss
    page.get_by_role("tab", name="Ask").click()
    ask(page, ABSENT)
    page.locator(BOT).first.click()  # back to the first answer
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
    assert mark_texts(page) == [PELLWORTH]  # the cited words, not the new text at the old offsets
    assert "This article has changed since this answer" in page.inner_text("#qa-sources .qa-article")
    # A new question cites the new version, marked in place.
    ask(page, HOW_MANY_APPLES)
    assert mark_texts(page) == [PELLWORTH]
    assert page.locator("#qa-sources .qa-article.qa-changed").count() == 0
    assert page.eval_on_selector(".qa-article-text", "e => e.textContent") == second["text"]


def test_upload_progress_names_the_file_counts_its_articles_and_leaves_the_page_readable(page, server, tmp_path):
    assistant, _, _ = server
    export = tmp_path / "wire-export.jsonl"
    ARTICLES = 96  # of 8 short sentences: embedded in two batches of up to 512 sentences
    towns = ["Arlen", "Brisk", "Colm", "Dunmere", "Eskby", "Farrow", "Gelt", "Hollin"]
    with export.open("w", encoding="utf-8") as out:
        for i in range(ARTICLES):
            town = f"{towns[i % 8]}{i}"
            text = " ".join(f"The {town} council backed road {k} on day {i}." for k in range(8))
            out.write(json.dumps({"id": f"wire-{i}", "title": f"{town} council meets", "text": text}) + "\n")
    page.get_by_role("tab", name="Library").click()
    page.set_input_files("#qa-upload input[type=file]", [str(export)])
    summary = "() => (document.querySelector('#qa-summary') || {}).innerText || ''"
    page.wait_for_function(f"() => ({summary})().includes(`Indexing wire-export.jsonl ({ARTICLES} articles)`)")
    # Counted in articles as they are stored (not "0/1 files" to the end), naming the last one indexed.
    midway = page.wait_for_function(
        f"""() => {{ const text = ({summary})(), count = text.match(/(\\d+)\\s*\\/\\s*{ARTICLES} articles/);
                    if (count && +count[1] > 0 && +count[1] < {ARTICLES} && /Indexing wire-export\\.jsonl: \\w+ council meets/.test(text)) return 'midway';
                    return document.querySelector('#qa-summary .qa-summary-line') ? text : false; }}""",
        timeout=240_000,
    ).json_value()
    assert midway == "midway"
    # While it runs, the header and the library are not covered: what is at their centre is their own text.
    for selector in ("#qa-header .qa-title", "#qa-articles .qa-table"):
        assert page.eval_on_selector(
            selector,
            """e => { const r = e.getBoundingClientRect(); const hit = document.elementFromPoint(r.left + 20, r.top + Math.min(r.height / 2, 12));
                      return !!hit && (e === hit || e.contains(hit)); }""",
        ), selector
    page.wait_for_selector("#qa-summary .qa-summary-line", timeout=240_000)
    assert page.get_attribute("#qa-summary .qa-summary-line", "data-summary") == f"{ARTICLES} added, 0 unchanged, 0 replaced, 0 skipped"
    for i in range(ARTICLES):
        assistant.remove(f"wire-{i}")


def test_the_sources_panel_starts_at_its_top_for_each_new_answer(page):
    ask(page, RAFAH)
    panel = "#qa-sources .qa-sources"
    page.eval_on_selector(panel, "e => { e.style.scrollBehavior = 'auto'; e.scrollTop = e.scrollHeight; }")
    assert page.eval_on_selector(panel, "e => e.scrollTop") > 200
    ask(page, FOLLOW_UP)  # cites the same article
    page.wait_for_timeout(300)
    assert page.eval_on_selector(panel, "e => e.scrollTop") == 0
    assert in_view(page, "#qa-sources .qa-src-head") and in_view(page, "#qa-sources .qa-cited li")


@pytest.mark.parametrize("theme", ["", "dark"])
def test_phone_layout(open_page, server, tmp_path, theme):
    page = open_page(PHONE, theme)
    logo = page.eval_on_selector("#qa-header .qa-logo", "e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height]")
    assert logo == [40, 40]  # square, not squashed
    assert text_lines(page, "#qa-header .qa-stats") == [1]
    # The whole placeholder fits in the question box.
    assert page.eval_on_selector(
        "#qa-question textarea",
        """t => { const c = document.createElement('canvas').getContext('2d'); const s = getComputedStyle(t); c.font = s.font;
                  return c.measureText(t.placeholder).width <= t.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }""",
    )
    assert page.eval_on_selector("#qa-sources .qa-sources", "e => e.getBoundingClientRect().height") < 250  # the empty panel
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "empty", PHONE, theme)

    # Jump from an answer to its source, then back to the answer.
    ask(page, RAFAH)
    page.locator(f"{BOT} a.qa-marker", has_text="[2]").click()
    page.wait_for_timeout(1200)
    assert fits_in_viewport(page, "#cite-2")
    assert not fits_in_viewport(page, BOT)
    assert fits_in_viewport(page, "#qa-sources .qa-back")
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "answer", PHONE, theme)
    page.click("#qa-sources .qa-back")
    page.wait_for_timeout(300)
    assert fits_in_viewport(page, BOT)

    # The library: titles get room, dates stay on one line.
    dated = tmp_path / "dated.json"
    dated.write_text(json.dumps({"id": f"dated-{theme or 'light'}", "title": "Harbour council approves lighthouse repairs before the winter storms",
                                 "published": "2024-10-12", "text": HOSTILE.split("\n", 2)[2]}), encoding="utf-8")
    upload(page, dated)
    page.wait_for_selector("#qa-articles td:has-text('2024-10-12')")
    widths = page.eval_on_selector_all("#qa-articles td.qa-col-title", "els => els.map(e => e.getBoundingClientRect().width)")
    assert min(widths) >= 150
    assert set(text_lines(page, "#qa-articles td.qa-nowrap")) == {1}
    assert page.eval_on_selector("#qa-articles .qa-table-wrap", "e => e.scrollWidth <= e.clientWidth")  # nothing cut off
    page.wait_for_timeout(500)  # gradio's progress fading has ended
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "library", PHONE, theme)
    # The reader: on a phone it opens under the chat, scrolled into view.
    open_reader(page, "Harbour council approves lighthouse repairs before the winter storms")
    page.wait_for_timeout(500)
    assert page.eval_on_selector("#qa-sources .qa-reader", "e => { const top = e.getBoundingClientRect().top; return top >= 0 && top < innerHeight / 3; }")
    assert page.evaluate(CONTRAST_JS, APP_PARTS) == []
    shot(page, "reader", PHONE, theme, full_page=False)
    server[0].remove(f"dated-{theme or 'light'}")


def test_chat_messages_and_markers_have_readable_labels(page):
    messages = "#qa-chat [data-testid='user'], #qa-chat [data-testid='bot']"
    ask(page, RAFAH)
    page.wait_for_timeout(300)
    labels = page.eval_on_selector_all(messages, "els => els.map(e => e.getAttribute('aria-label'))")
    assert labels[0] == f"Question: {RAFAH}"
    assert labels[1] == f"Answer: {RAFAH_SENTENCES[0]} (source 1) {RAFAH_SENTENCES[1]} (source 2)"
    odd = 'Is "<script>alert(1)</script>" & <b>Rafah</b> in the news?'
    ask(page, odd)
    page.wait_for_timeout(300)
    labels = page.eval_on_selector_all(messages, "els => els.map(e => e.getAttribute('aria-label'))")
    assert labels[2] == f"Question: {odd}"
    assert labels[3].startswith("Answer: ")
    for label in labels:
        assert not any(raw in label for raw in ("&lt;", "&amp;", "&quot;", "<a ", "qa-marker", "\\."))
    markers = page.eval_on_selector_all(f"{BOT} a.qa-marker", "els => els.map(e => e.getAttribute('aria-label'))")
    assert markers[:2] == ["source 1", "source 2"]


def test_a_long_question_heads_the_panel_in_two_plain_lines(page):
    question = RAFAH + " I am asking because " + "I have read several reports about this and want the exact words, " * 8
    ask(page, question)
    head = "#qa-sources .qa-src-question"
    line = page.eval_on_selector(head, "e => parseFloat(getComputedStyle(e).lineHeight) || 20")
    assert page.eval_on_selector(head, "e => e.getBoundingClientRect().height") <= 2 * line + 2
    assert int(page.eval_on_selector(head, "e => getComputedStyle(e).fontWeight")) <= 500
    assert page.get_attribute(head, "title") == question.strip()  # the whole question on hover


def test_another_tab_shows_uploads_and_removes_without_a_reload(open_page, tmp_path):
    watcher, actor = open_page(), open_page()
    watcher.get_by_role("tab", name="Library").click()
    note = tmp_path / "ferry timetable.txt"
    note.write_text("Ferry timetable changes for the winter\n\nThe island ferry will sail twice a day from November 3.\n", encoding="utf-8")
    upload(actor, note)
    watcher.wait_for_selector("#qa-articles td:has-text('Ferry timetable changes for the winter')", timeout=15_000)
    actor.click("#qa-remove-choice input")
    actor.fill("#qa-remove-choice input", "Ferry timetable")
    actor.locator("#qa-remove-choice li", has_text="Ferry timetable").first.click()
    confirm_remove(actor)
    watcher.wait_for_function(
        "() => !document.querySelector('#qa-articles').innerText.includes('Ferry timetable changes')", timeout=15_000
    )
    assert "Ferry timetable" not in watcher.inner_text("#qa-header")


def test_api_page_offers_no_mcp_and_describes_ask(page, server):
    from gradio_client import Client

    _, url, _ = server
    page.get_by_text("Use via API").click()
    page.wait_for_selector("text=Accepts 5 parameters")
    offered = page.eval_on_selector_all("li.snippet", "els => els.filter(e => e.offsetParent !== null).map(e => e.textContent.trim())")
    assert "Python" in offered and "MCP" not in offered
    docs = page.inner_text("body")
    assert '"1st"' not in docs and "The earlier questions of the conversation" in docs and "citations (each: marker" in docs
    info = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]["/ask"]
    assert [p["parameter_name"] for p in info["parameters"]] == ["question", "history", "sources", "published_from", "published_to"]
    assert all(p["python_type"]["description"] for p in info["parameters"])
    (result,) = info["returns"]
    assert result["python_type"]["type"] != "Any" and "abstained" in result["python_type"]["description"]


def test_speakers_are_named_in_full_in_the_details(page, server, tmp_path):
    article = tmp_path / "eu-trade.txt"
    article.write_text(
        "EU leaders meet over trade\n\nEuropean Commission President Ursula von der Leyen arrived in Brussels on Monday for the summit.\n"
        '"We will protect our orchards and our farmers," von der Leyen told reporters.\n',
        encoding="utf-8",
    )
    upload(page, article)
    page.get_by_role("tab", name="Ask").click()
    ask(page, "What did von der Leyen say about farmers?")
    item = page.locator(".qa-cited li", has_text="We will protect our orchards")
    assert item.locator(".qa-meta").inner_text() == "EU leaders meet over trade"  # no raw speaker label in the reader's view
    item.locator("summary").click()
    assert "speaker: European Commission President Ursula von der Leyen" in item.inner_text()


def test_the_answering_words_are_bold_inside_the_verbatim_sentence(page, server, tmp_path):
    export = tmp_path / "harvest-bold.txt"
    export.write_text(ORCHARD, encoding="utf-8")
    upload(page, export)
    page.get_by_role("tab", name="Ask").click()
    bubble = ask(page, HOW_MANY_APPLES)
    assert bubble.startswith(PELLWORTH)  # verbatim: emphasis adds no words
    assert page.locator(BOT).last.locator("strong").all_inner_texts() == ["12,000"]
    ask(page, "When did Biden and Netanyahu have their call?")
    assert page.locator(BOT).last.locator("strong").all_inner_texts() == ["April 4"]
    ask(page, "Who did Blinken meet in Tel Aviv?")
    assert "Isaac Herzog" in " ".join(page.locator(BOT).last.locator("strong").all_inner_texts())


def assert_copied_answer(copied: str, answer) -> None:
    """The clipboard holds the question, the answer and each citation with its article span."""
    assert copied.startswith(f"**{answer.question}**\n\n{answer.text}\n")
    for c in answer.citations:
        assert f"[{c.marker}] “{c.text}” ({c.title}, {c.doc_id}[{c.start}:{c.end}])" in copied


def test_copy_answer_puts_the_answer_and_its_citations_on_the_clipboard(open_page, server):
    assistant, url, _ = server
    page = open_page(DESKTOP, "", permissions=["clipboard-read", "clipboard-write"])
    ask(page, RAFAH)
    page.click("#qa-sources button.qa-copy")
    page.wait_for_selector("#qa-sources button.qa-copy:has-text('Copied')")
    assert_copied_answer(page.evaluate("navigator.clipboard.readText()"), assistant.ask(RAFAH))


def test_answer_spans_pick_the_answering_words_only():
    from qa.emphasis import answer_spans
    from qa.question import analyze

    def bold(question, text):
        return [text[s:e] for s, e in answer_spans(analyze(question), text)]

    # A count, not the day of a date nor a number the question already holds.
    assert bold("How many of the 7 towns picked apples?", "Since October 12, 7 towns picked 12,000 tonnes.") == ["12,000"]
    assert bold("When did they meet?", "They met on Tuesday evening, April 4, in Cairo.") == ["on Tuesday evening, April 4"]
    assert bold("Who did Blinken meet in Tel Aviv?", "Blinken met Israeli President Isaac Herzog in Tel Aviv.") == ["Israeli President Isaac Herzog"]
    # A sentence's first word is capitalised whatever it is: alone, it is not taken for a name.
    assert bold("Who did Blinken meet in Tel Aviv?", "Earlier, Blinken met Israeli President Isaac Herzog in Tel Aviv.") == ["Israeli President Isaac Herzog"]
    assert bold("Who met Blinken?", "“Officials said Herzog met Blinken.") == ["Herzog"]
    assert bold("Who met Blinken?", "Isaac Herzog met Blinken.") == ["Isaac Herzog"]
    assert bold("What did Netanyahu say about Rafah?", "We will enter Rafah on Monday, he said.") == []  # no single answering word


def test_each_answer_in_the_chat_has_its_own_copy_button(open_page, server):
    assistant, _, _ = server
    page = open_page(DESKTOP, "", permissions=["clipboard-read", "clipboard-write"])
    first = ask(page, RAFAH)
    ask(page, ABSENT)
    ask(page, TEL_AVIV)
    page.wait_for_timeout(300)
    buttons = [page.locator(BOT).nth(i).locator("button.qa-copy") for i in range(3)]
    assert [b.count() for b in buttons] == [1, 0, 1]  # "Not found" has nothing to copy
    assert page.locator(BOT).first.inner_text().strip() == first  # the button adds no words to the answer
    buttons[0].click()
    page.wait_for_function("() => document.querySelector(\"#qa-chat [data-testid='bot'] button.qa-copy\").dataset.label === 'Copied'")
    assert_copied_answer(page.evaluate("navigator.clipboard.readText()"), assistant.ask(RAFAH))
    assert page.get_attribute("#qa-sources .qa-sources", "data-turn") == "2"  # copying did not select the old answer
    buttons[2].click()
    page.wait_for_function("() => document.querySelectorAll(\"#qa-chat [data-testid='bot'] button.qa-copy\")[1].dataset.label === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()").startswith(f"**{TEL_AVIV}**\n\n")


def test_not_found_offers_the_nearest_titles_of_the_library(page, server):
    assistant, _, _ = server
    assert ask(page, ABSENT) == NOT_FOUND
    offered = page.locator("#qa-sources .qa-nearby-titles button.qa-suggest").all_inner_texts()
    titles = [a["title"] for a in assistant.articles()]
    assert 1 <= len(offered) <= 3 and set(offered) <= set(titles)  # the library's own titles, no new words
    assert offered == assistant.nearby_titles(ABSENT)
    assert any("Blinken" in title for title in offered)
    page.locator("#qa-sources .qa-nearby-titles button.qa-suggest").first.click()
    assert page.input_value("#qa-question textarea") == offered[0]  # ready to send or edit


def test_library_rows_can_be_searched_and_remove_asks_first(page, server, tmp_path):
    assistant, _, _ = server
    note = tmp_path / "ferry notice.txt"
    note.write_text("Ferry notice for the winter\n\nThe island ferry will sail twice a day from November 3.\n", encoding="utf-8")
    upload(page, note)
    rows = "#qa-articles tbody tr"
    page.wait_for_selector(f"{rows}:has-text('Ferry notice for the winter')")
    shown = f"() => [...document.querySelectorAll('{rows}')].filter(r => r.offsetParent !== null).map(r => r.innerText)"
    everything = len(page.evaluate(shown))
    page.fill("#qa-library-search textarea, #qa-library-search input", "FERRY")
    page.wait_for_function(f"() => ({shown})().length === 1")
    assert "Ferry notice for the winter" in page.evaluate(shown)[0]
    page.fill("#qa-library-search textarea, #qa-library-search input", "no such words")
    page.wait_for_function(f"() => ({shown})().length === 0")
    page.fill("#qa-library-search textarea, #qa-library-search input", "")
    page.wait_for_function(f"() => ({shown})().length === {everything}")

    doc_id = next(a["doc_id"] for a in assistant.articles() if a["title"] == "Ferry notice for the winter")
    page.click("#qa-remove-choice input")
    page.fill("#qa-remove-choice input", "Ferry notice")
    page.locator("#qa-remove-choice li", has_text="Ferry notice").first.click()
    page.click("#qa-remove")
    page.wait_for_selector("#qa-remove-note:has-text('Remove Ferry notice for the winter from the library?')")
    assert assistant.article(doc_id) is not None  # nothing removed yet
    page.click("#qa-remove-cancel")
    page.wait_for_selector("#qa-remove-confirm", state="hidden")
    assert page.inner_text("#qa-remove-note").strip() == "" and assistant.article(doc_id) is not None
    page.click("#qa-remove")
    page.click("#qa-remove-confirm")
    page.wait_for_selector("#qa-remove-note:has-text('Removed')")
    assert assistant.article(doc_id) is None


def test_no_console_warnings_on_upload_nor_on_the_api_page(page, server, tmp_path):
    problems = []
    page.on("console", lambda m: m.type in ("warning", "error") and problems.append(f"{m.type}: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    article = tmp_path / "quiet.txt"
    article.write_text("Quiet harbour reopens\n\nThe quiet harbour of Lowmere reopened on Friday after repairs.\n", encoding="utf-8")
    assert upload(page, article) == "1 added, 0 unchanged, 0 replaced, 0 skipped"
    server[0].remove(next(a["doc_id"] for a in server[0].articles() if a["title"] == "Quiet harbour reopens"))
    page.wait_for_timeout(1000)
    page.get_by_text("Use via API").click()
    page.wait_for_selector("text=Accepts 5 parameters")
    page.wait_for_timeout(1000)
    assert problems == []


# --- the reader, library sorting, citation previews, a "Not found" that helps (issue 16) -----------


def open_reader(page, title: str) -> None:
    """Click the article titled ``title`` (in full) in the Library; wait for the reader on the Ask tab."""
    page.get_by_role("tab", name="Library").click()
    page.locator("#qa-articles button.qa-read").filter(has_text=re.compile(f"^{re.escape(title)}$")).click()
    page.wait_for_function("(title) => (document.querySelector('#qa-sources .qa-reader .qa-article-title') || {}).textContent === title", arg=title)
    page.wait_for_selector("#qa-question textarea", state="visible")  # the Ask tab is shown


def sample_title(assistant, start: str) -> str:
    return next(a["title"] for a in assistant.articles() if a["title"].startswith(start))


def test_a_library_title_opens_the_article_in_the_reader_and_citations_still_work(page, server, tmp_path):
    assistant, _, _ = server
    export = tmp_path / "lighthouse.json"
    export.write_text(json.dumps(LIGHTHOUSE), encoding="utf-8")
    upload(page, export)
    open_reader(page, LIGHTHOUSE["title"])
    reading = assistant.reading(LIGHTHOUSE["id"])
    text = LIGHTHOUSE["text"]
    # The whole text, unaltered; what the index leaves out (the dateline, the sign-up line) greyed out.
    assert page.eval_on_selector("#qa-sources .qa-reader .qa-article-text", "e => e.textContent") == text
    muted = page.eval_on_selector_all("#qa-sources .qa-unindexed", "els => els.map(e => e.textContent.trim())")
    assert muted == ["BRINDLEMOOR —", "Sign up for our newsletter to get harbour updates in your inbox."]
    assert muted == [text[s:e].strip() for s, e, indexed in reading.parts() if not indexed and text[s:e].strip()]
    header = page.inner_text("#qa-sources .qa-reader .qa-article header")
    assert f"harbour-news.example · 2024-10-12 · {len(reading.sentences)} sentences · open original" in header
    assert page.get_attribute("#qa-sources .qa-reader header a", "href") == LIGHTHOUSE["url"]
    assert page.evaluate(CONTRAST_JS, ["#qa-sources"]) == []

    # An article from a file (no URL, no date) reads the same way.
    open_reader(page, sample_title(assistant, "US Secretary Blinken tells Herzog"))
    assert "file · date unknown" in page.inner_text("#qa-sources .qa-reader header")
    sample = next(a for a in assistant.articles() if a["title"].startswith("US Secretary Blinken tells Herzog"))
    assert page.eval_on_selector("#qa-sources .qa-article-text", "e => e.textContent") == assistant.article(sample["doc_id"]).text

    # After reading, an answer's citations still lead to their spans, the latest answer's too.
    ask(page, RAFAH)
    open_reader(page, LIGHTHOUSE["title"])
    page.locator(f"{BOT} a.qa-marker", has_text="[2]").click()
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
    page.wait_for_function("() => document.querySelector('#cite-2').classList.contains('qa-flash')")
    assert sorted(mark_texts(page)) == sorted(RAFAH_SENTENCES)
    assistant.remove(LIGHTHOUSE["id"])



def test_library_rows_sort_by_title_source_date_and_sentences(page, server, tmp_path):
    assistant, _, _ = server

    def story(doc_id, title, published, lines, site):
        text = title + "\n\n" + "\n".join(f"The {doc_id} committee met for session {k} on the harbour budget." for k in range(lines))
        return {"id": doc_id, "title": title, "published": published, "text": text, "url": f"https://{site}/{doc_id}"}

    stories = [
        story("sort-a", "Alder bridge reopens", "2024-03-01", 9, "zeta.example"),
        story("sort-b", "beacon lights return", "2023-12-24", 1, "alpha.example"),
        story("sort-c", "Cobble market moves", "", 2, "mid.example"),
    ]
    export = tmp_path / "sorting.json"
    export.write_text(json.dumps(stories), encoding="utf-8")
    upload(page, export)
    counts = {a["title"]: a["sentences"] for a in assistant.articles() if a["doc_id"].startswith("sort-")}
    assert counts == {"Alder bridge reopens": 10, "beacon lights return": 2, "Cobble market moves": 3}
    ours = set(counts)
    order = f"() => [...document.querySelectorAll('#qa-articles tbody button.qa-read')].map(b => b.textContent).filter(t => {json.dumps(sorted(ours))}.includes(t))"

    def sort_by(label, expected):
        page.locator("#qa-articles th button.qa-sort", has_text=label).click()
        page.wait_for_function(f"(expected) => JSON.stringify(({order})()) === JSON.stringify(expected)", arg=expected)

    # Case does not matter; a second click reverses; undated articles come last both ways; counts sort as numbers.
    sort_by("Title", ["Alder bridge reopens", "beacon lights return", "Cobble market moves"])
    assert page.get_attribute("#qa-articles th[data-sort-key='title']", "aria-sort") == "ascending"
    sort_by("Title", ["Cobble market moves", "beacon lights return", "Alder bridge reopens"])
    assert page.get_attribute("#qa-articles th[data-sort-key='title']", "aria-sort") == "descending"
    sort_by("Source", ["beacon lights return", "Cobble market moves", "Alder bridge reopens"])
    sort_by("Published", ["beacon lights return", "Alder bridge reopens", "Cobble market moves"])
    sort_by("Published", ["Alder bridge reopens", "beacon lights return", "Cobble market moves"])
    dates = page.eval_on_selector_all("#qa-articles tbody td.qa-nowrap", "els => els.map(e => e.textContent)")
    assert dates[-1] == "—" and dates == sorted([d for d in dates if d != "—"], reverse=True) + ["—"] * dates.count("—")
    sort_by("Sentences", ["beacon lights return", "Cobble market moves", "Alder bridge reopens"])
    sort_by("Sentences", ["Alder bridge reopens", "Cobble market moves", "beacon lights return"])
    # The order outlives a refresh of the table (an upload here, or another tab's).
    note = tmp_path / "sort-note.txt"
    note.write_text("Zinc mine closes\n\nThe Zinc mine closed.\n", encoding="utf-8")
    upload(page, note)
    page.wait_for_selector("#qa-articles button.qa-read:has-text('Zinc mine closes')")
    assert page.evaluate(order) == ["Alder bridge reopens", "Cobble market moves", "beacon lights return"]
    assert page.get_attribute("#qa-articles th[data-sort-key='sentences']", "aria-sort") == "descending"
    for doc_id in ("sort-a", "sort-b", "sort-c"):
        assistant.remove(doc_id)
    assistant.remove(next(a["doc_id"] for a in assistant.articles() if a["title"] == "Zinc mine closes"))


def preview_of(page) -> str:
    page.wait_for_selector("#qa-preview:not([hidden])")
    return page.inner_text("#qa-preview")


@pytest.mark.parametrize("theme", ["", "dark"])
def test_a_marker_previews_its_source_on_hover_focus_and_first_tap(open_page, browser, server, theme):
    assistant, url, _ = server
    expected = {c.marker: c for c in assistant.ask(RAFAH).citations}
    page = open_page(DESKTOP, theme)
    ask(page, RAFAH)
    markers = page.locator(f"{BOT} a.qa-marker")
    # Hover: the cited sentence, its article's title, site and date.
    markers.nth(0).hover()
    shown = preview_of(page)
    assert RAFAH_SENTENCES[0] in shown and f"{expected[1].title} · file · date unknown" in shown
    assert page.evaluate(CONTRAST_JS, ["#qa-preview"]) == []
    assert page.get_attribute(f"{BOT} a.qa-marker >> nth=0", "aria-describedby") == "qa-preview"
    page.mouse.move(5, 5)
    page.wait_for_selector("#qa-preview", state="hidden")
    # Keyboard: Tab from the first marker to the second previews the second; Escape closes it.
    markers.nth(0).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "[2]"
    assert RAFAH_SENTENCES[1] in preview_of(page)
    shot(page, "preview", DESKTOP, theme, full_page=False)  # as seen: a full page would resize the window
    page.keyboard.press("Escape")
    page.wait_for_selector("#qa-preview", state="hidden")

    # Touch: the first tap previews and stays put, a second tap on it goes to the source.
    context = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    try:
        phone.set_default_timeout(30_000)
        phone.goto(url + ("?__theme=dark" if theme == "dark" else ""))
        phone.wait_for_selector("#qa-question textarea")
        ask(phone, RAFAH)
        ask(phone, TEL_AVIV)
        first = phone.locator(BOT).first.locator("a.qa-marker", has_text="[2]")
        first.tap()
        assert RAFAH_SENTENCES[1] in preview_of(phone) and "Tap again" in phone.inner_text("#qa-preview")
        phone.wait_for_timeout(500)
        assert phone.get_attribute("#qa-sources .qa-sources", "data-turn") == "1"  # not yet: the older answer is not selected
        assert phone.evaluate(CONTRAST_JS, ["#qa-preview"]) == []
        shot(phone, "preview", PHONE, theme, full_page=False)
        first.tap()
        phone.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
        phone.wait_for_function("() => document.querySelector('#cite-2').classList.contains('qa-flash')")
        phone.wait_for_selector("#qa-preview", state="hidden")
    finally:
        context.close()


def test_not_found_offers_questions_the_library_answers_and_a_click_asks_one(page, server):
    assistant, _, _ = server
    absent = "What did Zelensky say about Crimea?"
    assert ask(page, absent) == NOT_FOUND
    page.wait_for_selector("#qa-sources .qa-nearby-questions button.qa-suggest")
    offered = page.locator("#qa-sources .qa-nearby-questions button.qa-suggest").all_inner_texts()
    assert offered == assistant.nearby_questions(absent) and 1 <= len(offered) <= 3
    assert page.locator("#qa-sources .qa-nearby-titles button.qa-suggest").count() >= 1  # the titles stay too
    assert page.evaluate(CONTRAST_JS, ["#qa-sources"]) == []
    # A click asks it: a new answer, not "Not found".
    page.locator("#qa-sources .qa-nearby-questions button.qa-suggest").first.click()
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '1'")
    assert page.locator(BOT).nth(1).inner_text().strip() == bubble_text(assistant.ask(offered[0], history=[absent]))
    assert page.locator(BOT).nth(1).inner_text().strip() != NOT_FOUND
    assert page.locator("#qa-chat [data-testid='user']").nth(1).inner_text().strip() == offered[0]


def test_each_cited_answer_has_compact_source_cards_that_lead_to_the_source(page, server):
    assistant, _, _ = server
    first = ask(page, RAFAH)
    ask(page, ABSENT)
    ask(page, TEL_AVIV)
    page.wait_for_timeout(300)
    cards = [page.locator(BOT).nth(i).locator("a.qa-card") for i in range(3)]
    assert [c.count() for c in cards] == [1, 0, 1]  # one per cited article; none on "Not found"
    (cited,) = {c.title for c in assistant.ask(RAFAH).citations}
    assert cards[0].get_attribute("data-n") == "1 2" and cards[0].get_attribute("data-label") == f"{cited} · file · date unknown"
    assert cards[0].get_attribute("aria-label") == f"sources 1, 2: {cited} · file · date unknown"
    assert page.locator(BOT).first.inner_text().strip() == first  # the cards add no words to the answer's text
    assert page.evaluate(CONTRAST_JS, ["#qa-chat .qa-cards"]) == []
    cards[0].click()  # the older answer's card: its sources, at its first span
    page.wait_for_function("() => document.querySelector('#qa-sources .qa-sources').dataset.turn === '0'")
    page.wait_for_function("() => document.querySelector('#cite-1').classList.contains('qa-flash')")
