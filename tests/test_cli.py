"""The `qa` command: three runs of the real console script, the rest in-process through qa.cli.main
(which shares the already loaded model)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SAMPLE_DIR

QA = str(Path(sys.executable).parent / "qa")
RAFAH = "What did Netanyahu say about Rafah?"
RAFAH_SENTENCES = {
    "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control.",
    'He told representatives of the hostage families: "We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”',
}
CITATION_FIELDS = {"doc_id", "source", "title", "published", "start", "end", "text", "score"}


def run_qa(*args, timeout=180, cwd=SAMPLE_DIR.parent.parent) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("QA_STORE", None)
    return subprocess.run([QA, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory):
    """A store filled by the real `qa ingest` (one subprocess run)."""
    store = tmp_path_factory.mktemp("cli-store")
    result = run_qa("--store", store, "ingest", SAMPLE_DIR)
    return store, result


def test_console_script_is_installed():
    assert Path(QA).exists(), QA


def test_ingest_prints_the_summary_and_exits_0(cli_store):
    store, result = cli_store
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"2 added, 0 unchanged, 0 replaced, 0 skipped (store: {store})"
    assert "Traceback" not in result.stderr
    assert "Loading weights" not in result.stderr  # the model loader's bar is kept off the command line


def test_relative_store_and_paths_work_as_make_run_uses_them(tmp_path):
    """`make run` ingests `data/sample` into the default store, `.qa-store/`, both relative."""
    shutil.copytree(SAMPLE_DIR, tmp_path / "data" / "sample")
    for args in (("ingest", "data/sample"), ("--store", ".qa-store", "ingest", "data/sample"), ("ask", RAFAH)):
        done = run_qa(*args, cwd=tmp_path)
        assert done.returncode == 0 and not done.stderr.strip(), (args, done.stderr)
    assert (tmp_path / ".qa-store").is_dir()


def test_ask_json_prints_the_answer_with_citations(cli_store):
    store, _ = cli_store
    result = run_qa("--store", store, "ask", RAFAH, "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["abstained"] is False
    assert {"text", "abstained", "citations"} <= set(answer)
    assert {c["text"] for c in answer["citations"]} == RAFAH_SENTENCES
    original = (SAMPLE_DIR / "004_a8ed45d3df2df383.txt").read_bytes().decode("utf-8")
    for c in answer["citations"]:
        assert CITATION_FIELDS <= set(c)
        assert c["source"] == str((SAMPLE_DIR / "004_a8ed45d3df2df383.txt").resolve())
        assert c["title"].startswith("US Secretary Blinken tells Herzog")
        assert c["published"] == ""
        assert original[c["start"] : c["end"]] == c["text"]
        assert isinstance(c["score"], float)
        assert c["text"] in answer["text"]


def test_a_bad_path_exits_non_zero_with_one_line(tmp_path):
    missing = tmp_path / "no-such-article.txt"
    started = time.perf_counter()
    result = run_qa("--store", tmp_path / "store", "ingest", missing)
    assert result.returncode != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0] and "no such file or folder" in lines[0]
    assert time.perf_counter() - started < 8  # says so without loading the model first


# --- in-process: the same main() the console script runs ----------------------------


@pytest.fixture
def cli(embedder, capsys):
    """Run qa.cli.main in-process; returns (exit code, stdout, stderr)."""
    from qa.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_remove_deletes_and_fails_clearly_for_an_unknown_id(cli, tmp_path):
    store = tmp_path / "store"
    code, out, _ = cli("--store", store, "ingest", SAMPLE_DIR, "--json")
    assert code == 0 and json.loads(out)["added"] == 2
    code, out, _ = cli("--store", store, "articles", "--json")
    rows = json.loads(out)
    assert len(rows) == 2
    doomed = next(r["doc_id"] for r in rows if r["origin"].endswith("004_a8ed45d3df2df383.txt"))

    code, out, err = cli("--store", store, "remove", doomed)
    assert code == 0 and out.strip() == f"removed {doomed}"
    code, out, _ = cli("--store", store, "articles", "--json")
    assert [r["doc_id"] for r in json.loads(out)] == [r["doc_id"] for r in rows if r["doc_id"] != doomed]
    from qa import Assistant

    remaining = Assistant(store=store, embedder=None)
    assert remaining.article(doomed) is None
    assert all(meta["doc_id"] != doomed for _, _, meta in remaining.store.iter_sentences())

    code, out, err = cli("--store", store, "remove", doomed)
    assert code == 1 and out == ""
    assert error_lines(err) == [f"qa: no article with doc id '{doomed}' in {store}"]

    code, out, _ = cli("--store", store, "ask", RAFAH, "--json")
    assert all(c["doc_id"] != doomed for c in json.loads(out)["citations"])  # the Rafah article is gone


def test_ingest_with_some_bad_files_loads_the_rest_and_exits_1(cli, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Bridge reopens\nThe harbour bridge reopened on Tuesday after eight months of repairs.", encoding="utf-8")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    missing = tmp_path / "missing.md"
    code, out, err = cli("--store", tmp_path / "store", "ingest", good, binary, missing)
    assert code == 1
    assert out.startswith("1 added, 0 unchanged, 0 replaced, 2 skipped")
    assert error_lines(err) == [
        f"qa: skipped {binary}: binary file (contains NUL bytes), not text",
        f"qa: skipped {missing}: no such file or folder",
    ]


def test_ask_prints_text_with_markers(cli, tmp_path):
    store = tmp_path / "store"
    cli("--store", store, "ingest", SAMPLE_DIR)
    code, out, _ = cli("--store", store, "ask", RAFAH)
    assert code == 0
    lines = out.splitlines()
    assert "[1]" in lines[0] and "[2]" in lines[0]
    assert lines[1].lstrip().startswith("[1] US Secretary Blinken tells Herzog")
    code, out, _ = cli("--store", store, "ask", "What is the capital of Australia?")
    assert code == 0 and out.strip() == "Not found in these articles."


def test_ingest_twice_reports_unchanged(cli, tmp_path):
    store = tmp_path / "store"
    assert cli("--store", store, "ingest", SAMPLE_DIR)[0] == 0
    code, out, _ = cli("--store", store, "ingest", SAMPLE_DIR)
    assert code == 0 and out.startswith("0 added, 2 unchanged, 0 replaced, 0 skipped")


# --- LLM answers: the real openai-like client against a local OpenAI-compatible server -----------

import re  # noqa: E402

RAFAH_FIRST = "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control."
LLM_KEPT = "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control [1]."
LLM_MADE_UP = "Netanyahu said 30,000 soldiers are ready to enter Rafah [2]."


def echo_first_source(prompt: str) -> str:
    """An LLM that repeats source [1] and invents one claim; asked to condense, it repeats the question."""
    first = re.search(r"^\[1\] (.+)$", prompt, re.M)
    if first:
        return f"{first.group(1)} [1] The talks ended with a signed agreement [1]."
    return re.search(r"^Last question: (.+)$", prompt, re.M).group(1)


def test_ask_with_an_openai_compatible_llm_end_to_end(cli_store, fake_openai):
    store, _ = cli_store
    fake_openai.reply = lambda prompt: f"{LLM_KEPT} {LLM_MADE_UP}"
    result = run_qa("--store", store, "ask", RAFAH, "--json", "--llm", "openai-like", "--llm-base-url", fake_openai.url, "--llm-model", "x")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"] == "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control. [1]"
    assert answer["dropped"] == [LLM_MADE_UP]
    assert [(c["marker"], c["text"]) for c in answer["citations"]] == [(1, RAFAH_FIRST)]
    original = (SAMPLE_DIR / "004_a8ed45d3df2df383.txt").read_bytes().decode("utf-8")
    assert original[answer["citations"][0]["start"] : answer["citations"][0]["end"]] == RAFAH_FIRST
    (request,) = fake_openai.requests
    assert request["model"] == "x" and request["stream"] is True
    (prompt,) = fake_openai.prompts()
    assert f"[1] {RAFAH_FIRST}\n[2] He told representatives" in prompt and f"Question: {RAFAH}" in prompt


def test_ask_with_llm_prints_what_was_dropped_and_condenses_follow_ups(cli, tmp_path, fake_openai):
    store = tmp_path / "store"
    cli("--store", store, "ingest", SAMPLE_DIR)
    llm = ("--llm", "openai-like", "--llm-base-url", fake_openai.url, "--llm-model", "x")
    fake_openai.reply = echo_first_source
    code, out, err = cli("--store", store, "ask", RAFAH, *llm)
    assert code == 0, err
    assert out.splitlines()[0] == f"{RAFAH_FIRST} [1]"
    assert out.splitlines()[2:] == [
        "Dropped from the LLM's answer (not supported by the sentences it cites):",
        "  - The talks ended with a signed agreement [1].",
    ]

    fake_openai.reply = lambda prompt: "Who controls Rafah?" if prompt.startswith("Rewrite the last question") else echo_first_source(prompt)
    code, out, err = cli("--store", store, "ask", "And who controls it?", "--history", RAFAH, "--json", *llm)
    assert code == 0, err
    assert json.loads(out)["resolved_question"] == "Who controls Rafah?"
    condense_prompt = fake_openai.prompts()[1]
    assert condense_prompt.startswith("Rewrite the last question") and f"User: {RAFAH}\nAssistant: {RAFAH_FIRST}" in condense_prompt


def test_llm_options_fail_clearly_before_loading_anything(cli, monkeypatch, tmp_path):
    store = tmp_path / "store"
    for name in ("QA_LLM", "QA_LLM_MODEL", "QA_LLM_BASE_URL", "QA_LLM_API_KEY", "QA_PROMPTS"):
        monkeypatch.delenv(name, raising=False)
    cases = [
        (("--llm", "openai-like", "--llm-model", "x"), "qa: the openai-like LLM needs the server's URL (--llm-base-url, e.g. http://127.0.0.1:8080/v1)"),
        (("--llm", "ollama"), "qa: the ollama LLM needs a model name (--llm-model)"),
        (("--llm-model", "x"), "qa: --llm-model needs --llm (openai-like or ollama); without it the answers are extractive"),
        (("--llm", "ollama", "--llm-model", "x", "--prompts", tmp_path / "none"), f"qa: {tmp_path / 'none' / 'answer.txt'}: prompt template not found"),
    ]
    for options, message in cases:
        code, out, err = cli("--store", store, "ask", RAFAH, *options)
        assert (code, out, error_lines(err)) == (1, "", [message])
    monkeypatch.setitem(sys.modules, "llama_index.llms.openai_like", None)  # as if the package were not installed
    code, _, err = cli("--store", store, "serve", "--llm", "openai-like", "--llm-model", "x", "--llm-base-url", "http://127.0.0.1:9/v1")
    assert code == 1 and len(error_lines(err)) == 1
    assert "pip install llama-index-llms-openai-like" in err
    assert not store.exists()  # failed before opening the store


def test_an_llm_server_that_is_down_leaves_the_extractive_answer(cli, tmp_path):
    from conftest import free_port

    store = tmp_path / "store"
    cli("--store", store, "ingest", SAMPLE_DIR)
    code, plain, _ = cli("--store", store, "ask", RAFAH)
    down = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err = cli("--store", store, "ask", RAFAH, "--llm", "openai-like", "--llm-base-url", down, "--llm-model", "x")
    assert code == 0 and out == plain
    (line,) = error_lines(err)
    assert line.startswith("qa: the LLM failed (") and line.endswith("the answer is the cited sentences themselves")


def test_eval_scores_the_same_questions_in_llm_mode(cli, tmp_path, fake_openai):
    from conftest import QUESTIONS

    items = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = [next(i for i in items if i.get("gold") and not i.get("history")), next(i for i in items if i.get("history")), next(i for i in items if i.get("answerable") is False)]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(i) + "\n" for i in picked), encoding="utf-8")
    fake_openai.reply = echo_first_source

    code, out, err = cli("eval", questions, "--articles", SAMPLE_DIR, "--json")
    assert code == 0, err
    extractive = json.loads(out)
    assert fake_openai.requests == []
    code, out, err = cli("eval", questions, "--articles", SAMPLE_DIR, "--json", "--llm", "openai-like", "--llm-base-url", fake_openai.url, "--llm-model", "x")
    assert code == 0, err
    with_llm = json.loads(out)
    answer_prompts = [p for p in fake_openai.prompts() if "\n[1] " in p]
    assert len(answer_prompts) == 2  # the two answerable questions; the unanswerable one abstains without the LLM
    assert len(fake_openai.prompts()) == 3  # and the follow-up was condensed first
    assert with_llm["questions"] == extractive["questions"] == 3
    assert with_llm["valid_spans"] == 1.0 and with_llm["abstention"] == extractive["abstention"] == 1.0
    # The echoing LLM keeps only source [1] of each answer.
    assert with_llm["citations_per_answer"] == 1.0


def test_the_not_found_reply_comes_from_the_prompts_folder_even_without_an_llm(cli, tmp_path):
    import shutil

    from conftest import ROOT

    edited = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", edited)
    (edited / "abstain.txt").write_text("Nothing about that in the library.\n", encoding="utf-8")
    store = tmp_path / "store"
    assert cli("--store", store, "ask", "What is the capital of Australia?")[1] == "Not found in these articles.\n"
    code, out, _ = cli("--store", store, "ask", "What is the capital of Australia?", "--prompts", edited)
    assert (code, out) == (0, "Nothing about that in the library.\n")


# A `qa` process that dies as Chroma's native code can kill it: faulthandler switched off first, so no
# report is written (as when a native stack overflow leaves the handler no stack to run on).
DIES = r"""
import faulthandler, os, signal, sys
from qa.cli import build_parser, watch_for_crashes
watch_for_crashes(build_parser().parse_args(["--store", sys.argv[1], "ask", "Anything?"]))
faulthandler.disable()
how = sys.argv[2]
if how == "exit":
    sys.exit(0)
if how != "SIGKILL":
    signal.signal(getattr(signal, how), signal.SIG_DFL)
os.kill(os.getpid(), getattr(signal, how))
"""


@pytest.mark.parametrize("how, said", [("SIGSEGV", True), ("SIGABRT", True), ("SIGKILL", False), ("SIGTERM", False), ("exit", False)])
def test_a_crash_without_a_report_is_still_named_in_one_line(tmp_path, how, said):
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", DIES, str(tmp_path / "store"), how], capture_output=True, text=True, env=env, cwd=root, timeout=60)
    assert done.returncode == (0 if how == "exit" else -getattr(signal, how)), done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if said:
        assert lines == [f"qa: Chroma crashed reading the store {tmp_path / 'store'}: its vector index is probably damaged; run "
                         f"`qa --store {tmp_path / 'store'} repair --all` to write every article again from its stored text (nothing is lost)"]
    else:
        assert lines == []  # killed or ended by someone else: not called a crash
