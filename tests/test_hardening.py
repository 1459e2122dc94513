"""Hardening for a shared server: upload names, terminal escapes, limits on questions, paths in the
API, skipped uploads, unreadable folders and symlinks, .htm uploads, articles of page junk only."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import SAMPLE_DIR
from test_web import browser, page, server, upload  # noqa: F401  (the real app and a real browser)

ESCAPES = "\x1b]0;pwned\x07\x1b[2J"
RLO = "\u202e"
HOSTILE_TEXT = (
    f"Harbour {ESCAPES}notice{RLO}txt.exe\n"
    f"The Portwell council approved the {ESCAPES}harbour plan on Monday after a long debate. "
    f"Councillor Amira Haddad said the {RLO}vote was close and the work starts in the spring."
)


# --- upload names ------------------------------------------------------------------------


def test_different_names_never_share_an_upload_file():
    from qa.web import safe_name

    pairs = [("новости.txt", "新闻.txt"), ("a b.txt", "a_b.txt"), ("report?.md", "report*.md"), ("x.txt", "X.txt")]
    for first, second in pairs:
        assert safe_name(first) != safe_name(second), (first, second)
    for name in ["новости.txt", "新闻.txt", "a b.txt", "a_b.txt", "../../etc/passwd", "x\u202egnp.txt", "..\\a\x00b.md"]:
        safe = safe_name(name)
        assert safe == safe_name(name)  # the same name, the same file: uploading it again replaces its article
        assert "/" not in safe and "\\" not in safe and not safe.startswith(".")
        assert all(c.isalnum() or c in "._-" for c in safe), safe
    assert safe_name("новости.txt") == "новости.txt"  # a name that needs nothing keeps its own letters


def test_two_uploads_with_non_latin_names_are_two_articles(page, server, tmp_path):  # noqa: F811
    assistant, _, store = server
    first = tmp_path / "новости.txt"
    first.write_text("Harbour news\nThe Portwell council approved the harbour plan on Monday after a long debate.\n", encoding="utf-8")
    second = tmp_path / "新闻.txt"
    second.write_text("Orchard news\nThe Millbrook orchard reported a record apple harvest on Tuesday this year.\n", encoding="utf-8")
    assert upload(page, first) == "1 added, 0 unchanged, 0 replaced, 0 skipped"
    assert upload(page, second) == "1 added, 0 unchanged, 0 replaced, 0 skipped"  # not "replaced"
    titles = {row["title"] for row in assistant.articles()}
    assert {"Harbour news", "Orchard news"} <= titles
    assert (store / "uploads" / "новости.txt").read_text(encoding="utf-8") == first.read_text(encoding="utf-8")
    assert (store / "uploads" / "新闻.txt").read_text(encoding="utf-8") == second.read_text(encoding="utf-8")


def test_a_skipped_upload_leaves_no_copy_and_an_htm_page_is_accepted(page, server, tmp_path):  # noqa: F811
    from qa.web import safe_name

    _, _, store = server
    broken = tmp_path / "broken-upload.txt"
    broken.write_bytes(b"\x00\x01 binary")
    summary = upload(page, broken)
    assert summary == "0 added, 0 unchanged, 0 replaced, 1 skipped"
    assert not (store / "uploads" / safe_name(broken.name)).exists()

    saved = tmp_path / "saved-page.htm"
    saved.write_text(
        "<html><head><title>Lighthouse repainted</title></head><body><article><h1>Lighthouse repainted</h1>"
        "<p>The Portwell lighthouse keeper painted the old lighthouse purple on Sunday morning.</p>"
        "<p>Visitors said the new colour could be seen from the harbour wall at dusk.</p></article></body></html>",
        encoding="utf-8",
    )
    assert upload(page, saved) == "1 added, 0 unchanged, 0 replaced, 0 skipped"


# --- the command line never prints terminal escapes ---------------------------------------


def test_cli_output_shows_escapes_as_text_and_the_stored_text_stays_exact(tmp_path, embedder, capsys):
    from qa import Assistant
    from qa.cli import main

    store = tmp_path / "store"
    source = tmp_path / "hostile.txt"
    source.write_text(HOSTILE_TEXT, encoding="utf-8")
    assistant = Assistant(store=store, embedder=embedder)
    assert assistant.ingest([source]).counts()["added"] == 1
    capsys.readouterr()

    for args in (["articles"], ["articles", "--json"], ["ask", "What did Amira Haddad say about the vote?"], ["ask", "What did Amira Haddad say about the vote?", "--json"]):
        assert main(["--store", str(store), *args]) == 0
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and "\x07" not in out and RLO not in out, args
        assert "\\u001b]0;pwned\\u0007" in out, out
        if "--json" in args:
            parsed = json.loads(out)
            texts = [r["title"] for r in parsed] if args[0] == "articles" else [c["text"] for c in parsed["citations"]]
            assert any(ESCAPES in t or RLO in t for t in texts)  # JSON reads back the exact characters
    doc = assistant.articles()[0]["doc_id"]
    article = assistant.article(doc)
    assert article.text == HOSTILE_TEXT
    answer = assistant.ask("What did Amira Haddad say about the vote?")
    assert answer.citations and all(article.text[c.start : c.end] == c.text for c in answer.citations)
    assert any(RLO in c.text for c in answer.citations)


# --- limits on a question and its history -----------------------------------------------------


def test_a_huge_question_or_history_is_refused_with_a_clear_error(sample_assistant, server):  # noqa: F811
    from gradio_client import Client

    from qa.assistant import MAX_HISTORY, MAX_QUESTION_CHARS

    with pytest.raises(ValueError, match=f"the limit is {MAX_QUESTION_CHARS:,}"):
        sample_assistant.ask("Who? " * 2**18)
    with pytest.raises(ValueError, match="the history has 2,000 earlier questions"):
        sample_assistant.ask("When did he say that?", history=["What did Netanyahu say about Rafah?"] * 2000)
    assert sample_assistant.ask("When did he say that?", history=["What did Netanyahu say about Rafah?"] * MAX_HISTORY).citations

    _, url, _ = server
    client = Client(url, verbose=False)
    for args in (("x" * 2**20,), ("When did he say that?", ["What did Netanyahu say about Rafah?"] * 2000)):
        with pytest.raises(Exception, match="the limit is"):
            client.predict(*args, api_name="/ask")
    assert client.predict("What did Netanyahu say about Rafah?", api_name="/ask")["citations"]  # still answering


def test_a_long_history_costs_only_its_latest_turns(sample_assistant, monkeypatch):
    """Each earlier question is answered again to read a follow-up; only the latest few are."""
    from qa.assistant import MAX_HISTORY, RESOLVED_TURNS, Assistant

    asked = []
    original = Assistant._ask_uncached

    def counting(self, question, history, *args):
        asked.append(question)
        return original(self, question, history, *args)

    monkeypatch.setattr(Assistant, "_ask_uncached", counting)
    history = [f"What did Blinken say about topic {i}?" for i in range(MAX_HISTORY - 1)] + ["What did Netanyahu say about Rafah?"]
    answer = sample_assistant.ask("When did he say that?", history=history)
    assert "Tuesday evening" in answer.citations[0].text  # still read as a follow-up of the last question
    assert len(asked) <= RESOLVED_TURNS + 1 and set(asked) <= {"When did he say that?", *history[-RESOLVED_TURNS:]}


# --- folders and symlinks --------------------------------------------------------------------


def _unprivileged(call):
    """``call()`` where file permissions apply: in a forked child without root's rights when run as root."""
    if os.geteuid() != 0:
        return call()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no imports, no files of ours to open, just the call
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = json.dumps(call())
        except BaseException as exc:  # noqa: BLE001
            result = json.dumps(f"error: {exc!r}")
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        data = handle.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def open_folder():
    """A folder everyone may enter (pytest's own tmp folder is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="qa-perm-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_unreadable_folders_are_reported_as_permission_errors(open_folder):
    from index.articles import iter_files

    top = open_folder / "articles"
    (top / "locked").mkdir(parents=True)
    shutil.copy(SAMPLE_DIR / "000_931a4d0f5c8aff4b.txt", top / "a.txt")
    shutil.copy(SAMPLE_DIR / "004_a8ed45d3df2df383.txt", top / "locked" / "b.txt")
    (top / "locked").chmod(0)

    def listing(path):
        return lambda: [str(item) for item in iter_files([path])]

    got = _unprivileged(listing(top))
    assert got == [str(top / "a.txt"), f"{top / 'locked'}: cannot read this folder (Permission denied)"]
    (top / "locked").chmod(0o755)
    top.chmod(0)
    got = _unprivileged(listing(top))
    assert got == [f"{top}: cannot read this folder (Permission denied)"]  # not "no article files"


def test_a_symlink_is_named_as_given(tmp_path, fresh_assistant):
    link = tmp_path / "my-article.txt"
    link.symlink_to(SAMPLE_DIR / "000_931a4d0f5c8aff4b.txt")
    bad_link = tmp_path / "my-notes.txt"
    bad_link.symlink_to(tmp_path / "elsewhere" / "broken.txt")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "broken.txt").write_bytes(b"\x00binary")
    report = fresh_assistant.ingest([link, bad_link])
    assert [row["source"] for row in fresh_assistant.articles()] == [str(link)]
    assert [str(s) for s in report.skipped] == [f"{bad_link}: binary file (contains NUL bytes), not text"]


# --- page junk alone is no article ------------------------------------------------------------


def test_an_article_of_page_junk_only_is_skipped_not_indexed(tmp_path, fresh_assistant):
    junk = tmp_path / "junk.txt"
    junk.write_text("Top Stories\nWe recommend to read:\nTop Stories\nWe recommend to read:\n", encoding="utf-8")
    report = fresh_assistant.ingest([junk])
    assert report.counts()["added"] == 0
    assert [s.reason for s in report.skipped] == ["no article sentences found (only page junk?)"]
    assert fresh_assistant.store.sentence_count() == 0


# --- the host header and the headers every response carries -------------------------------------


def _request(url: str, host: str) -> tuple[int, dict]:
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("GET", "/", headers={"Host": host})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}


def test_requests_for_another_host_are_refused_and_pages_cannot_be_framed(server):  # noqa: F811
    _, url, _ = server
    port = url.rstrip("/").rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, headers = _request(url, host)
        assert status == 200, host
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
        status, headers = _request(url, host)
        assert status == 400, host
        assert headers["x-frame-options"] == "DENY"


def test_allowed_hosts():
    from qa.web import allowed_hosts

    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert "news.example" in allowed_hosts("127.0.0.1", ["News.Example"])
    assert {"0.0.0.0", "localhost"} <= allowed_hosts("0.0.0.0")


# --- no server path in what a visitor sees, and one log line --------------------------------------


def test_a_blocked_file_request_logs_one_line_and_says_no_server_path(server, caplog):  # noqa: F811
    import urllib.error
    import urllib.request

    _, url, store = server
    with caplog.at_level("WARNING", logger="qa.web"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "gradio_api/file=" + str(store / "chroma.sqlite3"), timeout=30)
    assert refused.value.code == 403
    lines = [r for r in caplog.records if r.name == "qa.web"]
    assert [r.getMessage() for r in lines] == ["refused a request for a file outside the app: chroma.sqlite3"]
    assert not lines[0].exc_info


def test_an_unexpected_error_reaches_the_visitor_and_the_log_as_one_line_without_server_paths(server, monkeypatch, caplog):  # noqa: F811
    from gradio_client import Client

    assistant, url, store = server
    full = store / "uploads" / "notes.txt"

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(full))

    monkeypatch.setattr(assistant, "ask_stream", disk_full)
    with caplog.at_level("WARNING", logger="qa.web"):
        with pytest.raises(Exception) as failed:
            Client(url, verbose=False).predict("What did Netanyahu say about Rafah?", api_name="/ask")
    assert "No space left on device: 'notes.txt'" in str(failed.value)
    assert str(store) not in str(failed.value)
    lines = [r for r in caplog.records if r.name == "qa.web"]
    assert [r.getMessage() for r in lines] == ["ask failed: [Errno 28] No space left on device: 'notes.txt'"]
    assert not lines[0].exc_info


def test_hide_paths():
    from qa.web import hide_paths

    assert hide_paths("the store /srv/news/.qa-store is damaged; run `qa --store /srv/news/.qa-store repair`") == (
        "the store .qa-store is damaged; run `qa --store .qa-store repair`"
    )
    assert hide_paths("open the app at http://127.0.0.1:7860/ or uploads/x.txt") == "open the app at http://127.0.0.1:7860/ or uploads/x.txt"


def test_the_api_names_a_file_under_the_store_or_the_checkout_never_by_its_full_path(tmp_path):
    from qa.web import public_source

    roots = [tmp_path / "store", tmp_path / "checkout"]
    assert public_source(str(tmp_path / "store" / "uploads" / "x.txt"), roots) == "uploads/x.txt"
    assert public_source(str(tmp_path / "checkout" / "data" / "sample" / "y.txt"), roots) == "data/sample/y.txt"
    assert public_source("/srv/elsewhere/z.txt", roots) == "z.txt"
    assert public_source("https://news.example/a/b", roots) == "https://news.example/a/b"
