"""Source and date filters, from Python, the CLI, the /ask API (gradio_client) and the app in a real
Chromium: a site is one filter entry with its count, and undated articles are outside every date range."""

from __future__ import annotations

import json
import logging

import pytest

from conftest import ARTIFACTS, free_port
from test_web import BOT, ask, browser  # noqa: F401  (browser: the shared headless Chromium fixture)

NEWS = [
    {"id": "en-1", "url": "https://example-news.com/2024/05/harbour", "title": "Harbour reopens after storm", "published": "2024-05-02",
     "text": "Harbour reopens after storm\n\nThe harbour of Kelmouth reopened on Thursday after a week of storm damage repairs.\n"
             "Harbour master Ola Brenn said 40 boats returned on the first day."},
    {"id": "en-2", "url": "https://www.example-news.com/2024/06/bridge", "title": "New bridge for Kelmouth", "published": "2024-06-10",
     "text": "New bridge for Kelmouth\n\nKelmouth council approved a new footbridge over the river on Monday.\n"
             "The bridge will cost 2 million euros, council leader Tam Rudd said."},
    {"id": "ot-1", "url": "https://other-paper.org/kelmouth-festival", "title": "Kelmouth festival dates set",
     "text": "Kelmouth festival dates set\n\nThe Kelmouth summer festival will be held on July 20, organiser Pia Lund said.\n"
             "The festival expects 5,000 visitors."},
]
BRIDGE = "What did Tam Rudd say the bridge will cost?"  # en-2, example-news.com, 2024-06-10
BOATS = "How many boats returned to the harbour?"  # en-1, example-news.com, 2024-05-02
FESTIVAL = "When will the Kelmouth festival be held?"  # ot-1, other-paper.org, no date


@pytest.fixture
def news(tmp_path):
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in NEWS), encoding="utf-8")
    return path


def cited(answer) -> set[str]:
    return {c.doc_id for c in answer.citations}


def test_a_site_filter_keeps_every_article_of_the_site(fresh_assistant, news):
    fresh_assistant.ingest([news])
    site = ["example-news.com"]
    assert cited(fresh_assistant.ask(BRIDGE, sources=site)) == {"en-2"}
    assert cited(fresh_assistant.ask(BOATS, sources=site)) == {"en-1"}
    assert cited(fresh_assistant.ask(BOATS, sources="example-news.com")) == {"en-1"}  # one site, not in a list
    assert fresh_assistant.ask(FESTIVAL, sources=site).abstained
    assert cited(fresh_assistant.ask(FESTIVAL)) == {"ot-1"}
    # A source as stored still works, and keeps only its own article.
    assert cited(fresh_assistant.ask(BRIDGE, sources=[NEWS[1]["url"]])) == {"en-2"}
    assert fresh_assistant.ask(BOATS, sources=[NEWS[1]["url"]]).abstained


def test_undated_articles_are_outside_every_date_range(fresh_assistant, news):
    fresh_assistant.ingest([news])
    ask = fresh_assistant.ask
    for bounds in ({"published_from": "2000-01-01"}, {"published_to": "2099-12-31"}, {"published_from": "2000-01-01", "published_to": "2099-12-31"}):
        assert ask(FESTIVAL, **bounds).abstained, bounds  # no date: not known to be in range, from either end
        assert cited(ask(BRIDGE, **bounds)) == {"en-2"}, bounds
    assert cited(ask(BOATS, published_to="2024-05-31")) == {"en-1"}
    assert ask(BRIDGE, published_to="2024-05-31").abstained
    assert ask(BOATS, published_from="2024-06-01").abstained


def test_an_invalid_date_is_one_clear_error(sample_assistant, capsys):
    from qa.cli import main

    with pytest.raises(ValueError, match="From date 2024-02-30 is not a real date"):
        sample_assistant.ask("What did Netanyahu say about Rafah?", published_from="2024-02-30")
    with pytest.raises(ValueError, match="after To date"):
        sample_assistant.ask("What did Netanyahu say about Rafah?", published_from="2024-05-02", published_to="2024-05-01")
    status = main(["--store", str(sample_assistant.store.path), "ask", "What did Netanyahu say about Rafah?", "--to", "2024-5-1"])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err == "qa: To date must be written YYYY-MM-DD (e.g. 2024-05-01), not “2024-5-1”."


# --- the app ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def news_server(tmp_path_factory, embedder):
    """The app over a store holding the three articles above (so no samples are added)."""
    from qa import Assistant
    from qa.web import serve

    folder = tmp_path_factory.mktemp("news")
    (folder / "news.jsonl").write_text("".join(json.dumps(item) + "\n" for item in NEWS), encoding="utf-8")
    assistant = Assistant(store=tmp_path_factory.mktemp("news-store"), embedder=embedder)
    assistant.ingest([folder / "news.jsonl"])
    app, url = serve(assistant, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        yield assistant, url.rstrip("/") + "/"
    finally:
        app.close()


@pytest.fixture
def news_page(browser, news_server):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(news_server[1])
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()


def test_api_ask_takes_a_site(news_server):
    from gradio_client import Client

    assistant, url = news_server
    client = Client(url, verbose=False)
    got = client.predict(BOATS, [], ["example-news.com"], "", "", api_name="/ask")
    assert not got["abstained"] and {c["doc_id"] for c in got["citations"]} == {"en-1"}
    assert got == json.loads(json.dumps(assistant.ask(BOATS, sources=["example-news.com"]).to_dict()))
    assert client.predict(FESTIVAL, [], ["example-news.com"], "", "", api_name="/ask")["abstained"]


def test_the_source_filter_lists_each_site_once_with_its_count_and_filters_by_site(news_page):
    page = news_page
    page.click("#qa-filters button.label-wrap, #qa-filters > button")
    page.click("#qa-source-filter input")
    options = page.locator("#qa-source-filter li")
    options.first.wait_for()
    assert [o.strip() for o in options.all_inner_texts()] == ["example-news.com (2)", "other-paper.org (1)"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "filters-sites.png"))
    options.filter(has_text="example-news.com").click()
    page.keyboard.press("Escape")
    page.wait_for_selector("#qa-filter-note:has-text('sources: example-news.com')")
    assert "40 boats returned" in ask(page, BOATS)
    assert "2 million euros" in ask(page, BRIDGE)
    assert ask(page, FESTIVAL) == "Not found in these articles. (Searched only sources: example-news.com.)"
    assert "Filters: sources: example-news.com" in page.inner_text("#qa-sources .qa-src-head")


def test_an_invalid_date_is_said_beside_the_filters_and_logged_once(news_page, caplog, capfd):
    page = news_page
    assert "40 boats returned" in ask(page, BOATS)
    page.click("#qa-filters button.label-wrap, #qa-filters > button")
    page.fill("#qa-from textarea", "2024-02-30")
    page.wait_for_selector("#qa-filter-note .qa-error")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qa.web"):
        page.fill("#qa-question textarea", BRIDGE)
        page.press("#qa-question textarea", "Enter")
        page.wait_for_selector("#qa-filter-note .qa-error:has-text('Question not asked')")
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "filters-invalid-date.png"), full_page=True)
    assert page.inner_text("#qa-filter-note").strip() == "Question not asked: From date 2024-02-30 is not a real date."
    # The chat is as it was: one answer, no error badges or toasts; the question waits to be asked again.
    assert page.locator(BOT).count() == 1
    assert page.locator("#qa-chat .error, .toast-body.error").count() == 0
    assert "Error" not in page.inner_text("#qa-chat")
    assert page.input_value("#qa-question textarea") == BRIDGE
    assert [r.getMessage() for r in caplog.records if r.name == "qa.web"] == ["question not asked: From date 2024-02-30 is not a real date."]
    assert "Traceback" not in capfd.readouterr().err
    # Fixed, the same question is answered, and the note says undated articles are left out.
    page.fill("#qa-from textarea", "2024-06-01")
    page.wait_for_selector("#qa-filter-note .qa-active")
    assert "Articles without a date are left out" in page.inner_text("#qa-filter-note")
    page.screenshot(path=str(ARTIFACTS / "filters-dates.png"), full_page=True)
    assert "2 million euros" in ask(page, BRIDGE)


def test_api_ask_with_an_invalid_date_is_an_error_naming_it(news_server, caplog, capfd):
    from gradio_client import Client

    client = Client(news_server[1], verbose=False)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="qa.web"):
        with pytest.raises(Exception, match="From date 2024-02-30 is not a real date"):
            client.predict(BOATS, [], [], "2024-02-30", "", api_name="/ask")
    assert [r.getMessage() for r in caplog.records if r.name == "qa.web"] == ["question not asked: From date 2024-02-30 is not a real date."]
    assert "Traceback" not in capfd.readouterr().err
