"""Two app processes on one `chroma run` server: what one writes, the other answers from.

Each process keeps side indexes of its own (the BM25 index, cached answers) built from the
store. Process B is started and answers once; then process A ingests, removes, and swaps an
article for another of the same size. After each change B answers from the new state (it
reads the store's generation token before each question and rebuilds when it has moved)
and never cites a removed article.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

# One app process: reads one JSON command per line on stdin, writes one JSON reply per line.
# Library chatter goes to stderr, so stdout carries only the replies.
WORKER = r"""
import json, os, sys
replies = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
from qa import Assistant

assistant = Assistant(chroma_host=sys.argv[1], chroma_port=int(sys.argv[2]))
assistant.embedder.encode(["ready"])
print(json.dumps({"pid": os.getpid()}), file=replies, flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "ingest":
        report = assistant.ingest(command["paths"])
        reply = {"added": report.added, "replaced": report.replaced, "skipped": [str(s) for s in report.skipped]}
    elif command["op"] == "remove":
        reply = {"removed": assistant.remove(command["doc_id"])}
    elif command["op"] == "ask":
        answer = assistant.ask(command["question"])
        lexical = assistant.retriever.lexical
        reply = {
            "abstained": answer.abstained,
            "cited": [c.doc_id for c in answer.citations],
            "texts": [c.text for c in answer.citations],
            "lexical_docs": sorted(set(lexical.doc_ids)),
            "lexical_rows": len(lexical),
        }
    print(json.dumps(reply), file=replies, flush=True)
"""

QUESTION = "When did the Qorvath bridge reopen?"
BRIDGE = {"id": "qorvath-bridge", "title": "Bridge reopens", "text": "Bridge reopens\nThe Qorvath bridge reopened on Tuesday after repairs.\nTraffic was light in the morning.\n"}
LIBRARY = {"id": "qorvath-library", "title": "Library opens", "text": "Library opens\nThe Qorvath library opened on Friday with new shelves.\nStudents queued at the door.\n"}
FERRY = {"id": "qorvath-ferry", "title": "Ferry resumes", "text": "Ferry resumes\nThe Qorvath ferry resumed service on Sunday.\nThe bridge reopened on Tuesday, said the mayor.\n"}


class Worker:
    """An app process driven over pipes, every reply awaited with a deadline."""

    def __init__(self, host: str, port: int):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, host, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
        )

    def reply(self, timeout: float = 240) -> dict:
        # poll, not select(): the test process may hold more than 1,024 descriptors by now
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        assert ready, f"no reply from process {self.process.pid} within {timeout} s"
        line = self.process.stdout.readline()
        assert line, f"process {self.process.pid} exited with {self.process.wait(timeout=10)}"
        return json.loads(line)

    def call(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.reply()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def two_processes(chroma_server):
    host, port = chroma_server
    workers = [Worker(host, port), Worker(host, port)]  # both load the model at once
    try:
        a, b = workers
        assert a.reply()["pid"] != b.reply()["pid"]
        yield a, b
    finally:
        for worker in workers:
            worker.stop()
        from index.store import Store

        store = Store(host=host, port=port)  # leave the shared server as the other tests expect it
        for story in (BRIDGE, LIBRARY, FERRY):
            store.remove(story["id"])


def write_feed(path: Path, *stories: dict) -> str:
    path.write_text("".join(json.dumps(story) + "\n" for story in stories), encoding="utf-8")
    return str(path)


def test_a_process_answers_from_what_another_process_ingests_and_removes(two_processes, tmp_path):
    a, b = two_processes
    assert a.call(op="ingest", paths=[write_feed(tmp_path / "library.jsonl", LIBRARY)])["added"] == ["qorvath-library"]
    first = b.call(op="ask", question=QUESTION)  # B builds its side indexes now, before A's next writes
    assert "qorvath-bridge" not in first["cited"] and "qorvath-bridge" not in first["lexical_docs"]
    rows = first["lexical_rows"]

    assert a.call(op="ingest", paths=[write_feed(tmp_path / "bridge.jsonl", BRIDGE)])["added"] == ["qorvath-bridge"]
    after_ingest = b.call(op="ask", question=QUESTION)  # the same question: not served from B's cache
    assert after_ingest["cited"][:1] == ["qorvath-bridge"]
    assert "reopened on Tuesday" in after_ingest["texts"][0]
    assert after_ingest["lexical_rows"] == rows + 3

    assert a.call(op="remove", doc_id="qorvath-bridge") == {"removed": True}
    after_remove = b.call(op="ask", question=QUESTION)
    assert "qorvath-bridge" not in after_remove["cited"]
    assert "qorvath-bridge" not in after_remove["lexical_docs"]
    assert after_remove["lexical_rows"] == rows


def test_a_same_size_swap_in_another_process_is_seen(two_processes, tmp_path):
    """A remove plus an add of the same size leaves every count as it was; B still sees it."""
    a, b = two_processes
    a.call(op="remove", doc_id="qorvath-bridge")  # whatever the test before left
    assert a.call(op="ingest", paths=[write_feed(tmp_path / "bridge.jsonl", BRIDGE)])["added"] == ["qorvath-bridge"]
    before = b.call(op="ask", question=QUESTION)
    assert before["cited"][:1] == ["qorvath-bridge"]

    assert a.call(op="remove", doc_id="qorvath-bridge") == {"removed": True}
    assert a.call(op="ingest", paths=[write_feed(tmp_path / "ferry.jsonl", FERRY)])["added"] == ["qorvath-ferry"]  # 3 sentences out, 3 in
    after = b.call(op="ask", question=QUESTION)
    assert after["lexical_rows"] == before["lexical_rows"]
    assert "qorvath-bridge" not in after["cited"] and "qorvath-bridge" not in after["lexical_docs"]
    assert "qorvath-ferry" in after["lexical_docs"]
    assert after["cited"][:1] == ["qorvath-ferry"]
    assert "reopened on Tuesday" in after["texts"][0]
