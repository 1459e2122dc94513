"""One writer per embedded store, with real processes: two `qa ingest` at once, and `qa ingest` /
`qa ask` beside a running `qa serve` (index/lock.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE_DIR, free_port, stop, wait_until_listening
from test_web import browser  # noqa: F401  (a real browser, for the app's upload)

QA = str(Path(sys.executable).parent / "qa")
RAFAH = "What did Netanyahu say about Rafah?"
# PYTHONPATH: the `qa` command runs this checkout's code, not the one the venv was installed from.
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}


def harbour_article(i: int) -> dict:
    """A small made-up article with facts of its own, so a question finds exactly it."""
    return {
        "id": f"harbour-{i:03d}",
        "title": f"Harbour notice {i}",
        "text": "\n".join(
            [f"Harbour notice {i}"]
            + [
                f"The Portwell council approved plan number {i} for berth {i} on Monday. "
                f"Engineer Lina Okafor said crane {i}-{k} would be moved {k + 2} metres north. "
                f"Work on section {k} of berth {i} starts in the spring."
                for k in range(12)
            ]
        ),
    }


def write_jsonl(path: Path, articles: list[dict]) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    return path


def qa(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([QA, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, **kwargs)


def unreadable_vectors(store) -> int:
    """Rows of either collection whose vector Chroma cannot return (what two writers leave behind)."""
    bad = 0
    for collection in (store.articles, store.sentences):
        for node_id in collection.get(include=[])["ids"]:
            try:
                collection.get(ids=[node_id], include=["embeddings"])
            except Exception:
                bad += 1
    return bad


def citations(answer) -> list[tuple]:
    return [(c.doc_id, c.start, c.end, c.text) for c in answer.citations]


def test_two_ingests_at_once_both_land_and_the_second_says_it_waits(tmp_path, embedder):
    from qa import Assistant

    store = tmp_path / "store"
    first = qa("--store", store, "ingest", SAMPLE_DIR)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    halves = [write_jsonl(tmp_path / f"half_{h}.jsonl", [harbour_article(i) for i in range(h * 50, h * 50 + 50)]) for h in (0, 1)]
    both = [qa("--store", store, "ingest", half) for half in halves]
    outputs = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    for out, _ in outputs:
        assert out.startswith("50 added, 0 unchanged, 0 replaced, 0 skipped"), out
    from index.store import Store

    assert unreadable_vectors(Store(store)) == 0  # as two writers at once leave it, without the lock
    waited = [err for _, err in outputs if "waiting for the store" in err]
    assert len(waited) == 1, [err for _, err in outputs]
    line = next(l for l in waited[0].splitlines() if "waiting for the store" in l)
    other = next(p for p, (_, err) in zip(both, outputs) if err is not waited[0])
    assert f"held by `qa ingest`, pid {other.pid}" in line

    assistant = Assistant(store=store, embedder=embedder)
    assert len(assistant.articles()) == 102
    assert assistant.store.sentence_count() == sum(r["sentences"] for r in assistant.articles())
    assert [c.doc_id for c in assistant.ask("How far would crane 47-3 be moved?").citations][:1] == ["harbour-047"]
    assert [c.doc_id for c in assistant.ask("How far would crane 12-4 be moved?").citations][:1] == ["harbour-012"]
    assert assistant.ask(RAFAH).citations  # the sample still answers


@pytest.fixture
def served(tmp_path):
    """A real `qa serve` process on an embedded store holding the samples: (store, url, process)."""
    store = tmp_path / "store"
    port = free_port()
    process = subprocess.Popen(
        [QA, "--store", str(store), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT,
    )
    try:
        deadline = time.time() + 300
        wait_until_listening(process, port, 300, "qa serve", process.stdout.read)
        while '"url": ""' in (store / ".qa-lock").read_text() and time.time() < deadline:
            time.sleep(0.1)  # it says it serves just after it starts listening
        yield store, f"http://127.0.0.1:{port}/", process
    finally:
        stop(process, grace=20)


def test_ingest_and_ask_beside_a_running_app_refuse_at_once_and_the_app_keeps_answering(served, tmp_path, browser):
    from gradio_client import Client

    from test_web import upload

    store, url, app = served
    client = Client(url, verbose=False)
    before = client.predict(RAFAH, api_name="/ask")
    assert before["citations"]
    extra = write_jsonl(tmp_path / "extra.jsonl", [harbour_article(i) for i in range(5)])
    for args in (("ingest", extra), ("ask", RAFAH), ("articles",)):
        started = time.monotonic()
        process = qa("--store", store, *args)
        out, err = process.communicate(timeout=120)
        lines = [line for line in err.splitlines() if line.strip()]
        assert process.returncode == 1 and out == "", (args, out, err)
        assert len(lines) == 1, (args, err)
        assert f"`qa serve`, pid {app.pid}" in lines[0] and url.rstrip("/") in lines[0], lines[0]
        assert "upload" in lines[0] and "/ask" in lines[0] and "--chroma-host" in lines[0], lines[0]
        assert "waiting" not in err
        assert time.monotonic() - started < 60  # told at once, not after the wait
    assert app.poll() is None
    assert client.predict(RAFAH, api_name="/ask") == before  # nothing touched the app's store
    assert client.predict("How far would crane 3-2 be moved?", api_name="/ask")["abstained"]

    # The way the refusal names, the app's upload: the articles land and the app answers from them at once.
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(180_000)  # a loaded machine
    page.goto(url)
    page.wait_for_selector("#qa-question textarea")
    assert upload(page, extra) == "5 added, 0 unchanged, 0 replaced, 0 skipped"
    context.close()
    crane = client.predict("How far would crane 3-2 be moved?", api_name="/ask")
    assert [c["doc_id"] for c in crane["citations"]][:1] == ["harbour-003"]
    cited = lambda answer: [(c["doc_id"], c["start"], c["end"], c["text"]) for c in answer["citations"]]  # noqa: E731
    assert cited(client.predict(RAFAH, api_name="/ask")) == cited(before)  # and still what it answered before


def test_a_killed_holder_lets_the_next_process_in(tmp_path, embedder):
    """The kernel drops the lock of a process however it ends: no stale lock to clear by hand."""
    store = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from index.store import Store; Store(sys.argv[1], owner='holder'); print('held', flush=True); sys.stdin.read()", str(store)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**ENV, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
    )
    assert holder.stdout.readline().strip() == "held"
    waiting = qa("--store", store, "--wait", "1", "articles")
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1
    assert "gave up waiting for the store" in err and f"`holder`, pid {holder.pid}" in err
    assert f"`chroma run --path {store}` and --chroma-host" in err  # the way that works beside a holder that never lets go
    holder.kill()
    holder.wait(timeout=30)
    after = qa("--store", store, "--wait", "1", "articles", "--json")
    out, err = after.communicate(timeout=120)
    assert after.returncode == 0, err
    assert json.loads(out) == []
