"""The same assistant on a real `chroma run` server, from Python and from the `qa` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import QUESTIONS, SAMPLE_DIR

QA = str(Path(sys.executable).parent / "qa")
RAFAH = "What did Netanyahu say about Rafah?"
RAFAH_DOC = SAMPLE_DIR / "004_a8ed45d3df2df383.txt"
RAFAH_SENTENCES = {
    "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control.",
    'He told representatives of the hostage families: "We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”',
}


@pytest.fixture(scope="module")
def server_assistant(chroma_server, embedder):
    from qa import Assistant

    host, port = chroma_server
    assistant = Assistant(chroma_host=host, chroma_port=port, embedder=embedder)
    report = assistant.ingest([SAMPLE_DIR])
    assert report.counts()["skipped"] == 0 and report.counts()["added"] + report.counts()["unchanged"] == 2, report.summary()
    return assistant


def test_server_store_answers_the_rafah_question(server_assistant, chroma_server):
    host, port = chroma_server
    assert server_assistant.store.location == f"chroma://{host}:{port}"
    answer = server_assistant.ask(RAFAH)
    assert not answer.abstained
    assert {c.text for c in answer.citations} == RAFAH_SENTENCES
    original = RAFAH_DOC.read_bytes().decode("utf-8")
    for c in answer.citations:
        assert c.source == str(RAFAH_DOC.resolve())
        assert original[c.start : c.end] == c.text
        assert server_assistant.article(c.doc_id).text == original
    assert server_assistant.ask("What is the capital of Australia?").abstained


def test_question_set_scores_the_same_on_the_server_as_embedded(server_assistant, sample_assistant):
    """The team's question set (qa/evaluate.py) against the server gives every figure the embedded
    store gives in this run, not just figures above the gates, and each question the same citations."""
    from qa.evaluate import evaluate

    on_server = evaluate(server_assistant, QUESTIONS)
    embedded = evaluate(sample_assistant, QUESTIONS)
    timings = {"latency_p50_ms", "latency_p95_ms"}
    assert {k: v for k, v in on_server.metrics.items() if k not in timings} == {k: v for k, v in embedded.metrics.items() if k not in timings}
    assert on_server.metrics["questions"] == len(on_server.results) >= 40 and on_server.metrics["sentence_hit_n"] > 0

    def cited(result):
        return result.answer.abstained, [(c.marker, c.doc_id, c.start, c.end, c.text, c.source) for c in result.answer.citations]

    for there, here in zip(on_server.results, embedded.results):
        assert cited(there) == cited(here), there.item["id"]


def test_server_store_is_idempotent_and_junk_free(server_assistant):
    count = server_assistant.store.sentence_count()
    again = server_assistant.ingest([SAMPLE_DIR])
    assert again.counts() == {"added": 0, "unchanged": 2, "replaced": 0, "skipped": 0}
    assert server_assistant.store.sentence_count() == count
    for _, text, _ in server_assistant.store.iter_sentences():
        assert "Comment on this article" not in text and "is a team of journalists" not in text


def test_server_store_replaces_and_removes(server_assistant, tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"id": "server-story", "text": "Bridge reopens\nThe harbour bridge reopened on Tuesday."}) + "\n")
    before = server_assistant.store.sentence_count()
    assert server_assistant.ingest([path]).counts()["added"] == 1
    path.write_text(json.dumps({"id": "server-story", "text": "Bridge reopens\nThe harbour bridge reopened on Monday. Traffic is light."}) + "\n")
    assert server_assistant.ingest([path]).replaced == ["server-story"]
    assert server_assistant.store.sentence_count() == before + 3
    assert server_assistant.remove("server-story") is True
    assert server_assistant.article("server-story") is None
    assert server_assistant.store.sentence_count() == before


def test_cli_ingest_and_ask_against_the_server(server_assistant, chroma_server):
    host, port = chroma_server
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    where = ["--chroma-host", host, "--chroma-port", str(port)]
    # The samples are already on the server (server_assistant), so the two runs can overlap:
    # each spends most of its time loading the model.
    ingest = subprocess.Popen([QA, *where, "ingest", str(SAMPLE_DIR)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ask = subprocess.Popen([QA, *where, "ask", RAFAH, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ingest_out, ingest_err = ingest.communicate(timeout=180)
    ask_out, ask_err = ask.communicate(timeout=180)
    assert ingest.returncode == 0, ingest_err
    assert ingest_out.strip() == f"0 added, 2 unchanged, 0 replaced, 0 skipped (store: chroma://{host}:{port})"
    assert ask.returncode == 0, ask_err
    answer = json.loads(ask_out)
    assert answer["abstained"] is False
    assert {c["text"] for c in answer["citations"]} == RAFAH_SENTENCES


def test_cli_reports_an_unreachable_server_in_one_line(capsys):
    from conftest import free_port
    from qa.cli import main

    port = free_port()  # nothing listens there
    code = main(["--chroma-host", "127.0.0.1", "--chroma-port", str(port), "articles"])
    assert code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"qa: cannot reach the Chroma server at 127.0.0.1:{port}")


def test_cli_repair_on_the_server_refuses_in_one_line_and_changes_nothing(server_assistant, chroma_server):
    """qa repair swaps whole collections: on a server that would pull them from under every other
    process using it, so it is refused, in one line, before anything is read or written."""
    host, port = chroma_server
    generation, sentences = server_assistant.store.generation(), server_assistant.store.sentence_count()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run([QA, "--chroma-host", host, "--chroma-port", str(port), "repair"], capture_output=True, text=True, env=env, timeout=180)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and done.stdout == "" and len(lines) == 1, (done.stdout, done.stderr)
    assert lines[0].startswith(f"qa: qa repair is for an embedded store (--store DIR), not the Chroma server at chroma://{host}:{port}")
    assert server_assistant.store.generation() == generation and server_assistant.store.sentence_count() == sentences
