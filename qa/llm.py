"""Optional LLM answers whose every sentence is checked against the sentences it cites.

The extractive answer stays the default and the fallback. With an LLM, the sentences the
extractive step selected are numbered into the prompt (``prompts/answer.txt``), the LLM writes
an answer citing them as ``[n]``, and ``verify`` keeps only the generated sentences that cite a
given sentence and that those sentences support: enough of the claim's content words are in
them, its meaning is close to one of them (MiniLM cosine), and it brings in no number and no
negation they lack. No second LLM call; the same text always gets the same verdict. What is
dropped is reported; when nothing survives, the caller uses the extractive answer.

All wording lives in ``prompts/`` (answer.txt, condense.txt, abstain.txt), loaded through
llama-index ``PromptTemplate``s. llama-index and the LLM clients are imported only when used,
so importing this module (e.g. for ``not_found_text``) stays cheap.

    >>> prompts = load_prompts()
    >>> llm = make_llm("ollama", "llama3.2", None, None)
    >>> result = answer_with_llm(llm, prompts, question, extractive.citations, embedder.encode)
    >>> answer = result.apply_to(extractive)     # the extractive answer itself when result.fallback
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from index.terms import acronyms, terms, words

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.llms import LLM
    from llama_index.core.prompts import PromptTemplate

    from qa.answer import Answer

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = ROOT / "prompts"

LLM_KINDS = ("openai-like", "ollama")
_PACKAGES = {"openai-like": "llama-index-llms-openai-like", "ollama": "llama-index-llms-ollama"}

# Placeholders each template must contain (others are left as written).
_REQUIRED = {
    "answer.txt": ("question", "sources"),
    "condense.txt": ("question", "history"),
    "abstain.txt": (),
}

Embed = Callable[[list[str]], np.ndarray]
History = Sequence[Union[str, tuple[str, str]]]


class LLMSetupError(ValueError):
    """An LLM could not be set up: unknown kind, missing model or URL, or its package is not installed."""


# --- prompts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompts:
    """The three templates. ``answer`` takes {question} {sources} (and optionally {not_found});
    ``condense`` takes {question} {history}; ``abstain`` is the reply when the articles hold no answer."""

    answer: "PromptTemplate"
    condense: "PromptTemplate"
    abstain: "PromptTemplate"

    @property
    def not_found(self) -> str:
        return self.abstain.format().strip()


def _read(directory: Path, name: str) -> str:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LLMSetupError(f"{path}: prompt template not found") from None
    if not text.strip():
        raise LLMSetupError(f"{path}: prompt template is empty")
    return text


def load_prompts(directory: Union[str, os.PathLike, None] = None) -> Prompts:
    """Load ``answer.txt``, ``condense.txt`` and ``abstain.txt`` from ``directory`` (default ``prompts/``).

    Raises ``LLMSetupError`` naming the file when one is missing or lacks a required placeholder.
    """
    from llama_index.core.prompts import PromptTemplate

    directory = Path(directory) if directory else PROMPTS_DIR
    templates = {}
    for name, required in _REQUIRED.items():
        template = PromptTemplate(_read(directory, name).rstrip())
        missing = [v for v in required if v not in template.template_vars]
        if missing:
            raise LLMSetupError(f"{directory / name}: missing placeholder(s) {', '.join('{' + v + '}' for v in missing)}")
        templates[name.split(".")[0]] = template
    return Prompts(**templates)


@lru_cache(maxsize=4)
def not_found_text(directory: Union[str, os.PathLike, None] = None) -> str:
    """The abstention reply, read from ``prompts/abstain.txt`` without importing llama-index."""
    return _read(Path(directory) if directory else PROMPTS_DIR, "abstain.txt").strip()


def number_sources(sentences: Sequence[str]) -> str:
    """``[1] first sentence`` one per line: the form the answer prompt and the [n] markers share."""
    return "\n".join(f"[{n}] {' '.join(s.split())}" for n, s in enumerate(sentences, start=1))


def format_history(history: History) -> str:
    """Earlier turns, oldest first: a string is an earlier question, a pair is (question, answer)."""
    lines = []
    for turn in history:
        if isinstance(turn, str):
            question, answer = turn, ""
        else:
            question, answer = turn
        if question and question.strip():
            lines.append(f"User: {' '.join(question.split())}")
        if answer and answer.strip():
            lines.append(f"Assistant: {' '.join(_strip_markers(answer).split())}")
    return "\n".join(lines)


def answer_prompt(prompts: Prompts, question: str, sentences: Sequence[str]) -> str:
    return prompts.answer.format(question=question.strip(), sources=number_sources(sentences), not_found=prompts.not_found)


def condense_prompt(prompts: Prompts, question: str, history: History) -> str:
    return prompts.condense.format(question=question.strip(), history=format_history(history))


# --- LLMs ------------------------------------------------------------------------------


def make_llm(
    kind: str,
    model: str,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    *,
    temperature: float = 0.0,
    max_tokens: int = 512,
    timeout: float = 120.0,
) -> "LLM":
    """A llama-index LLM for ``kind`` "openai-like" (any OpenAI-compatible server: vLLM, llama.cpp
    server, LM Studio, …; ``base_url`` like ``http://127.0.0.1:8080/v1``) or "ollama" (``base_url``
    defaults to ``http://localhost:11434``). Nothing is contacted until the first question."""
    kind = (kind or "").strip().lower().replace("_", "-")
    if kind not in LLM_KINDS:
        raise LLMSetupError(f"unknown LLM kind '{kind}': use one of {', '.join(LLM_KINDS)}")
    if not model:
        raise LLMSetupError(f"the {kind} LLM needs a model name (--llm-model)")
    try:
        if kind == "openai-like":
            from llama_index.llms.openai_like import OpenAILike
        else:
            from llama_index.llms.ollama import Ollama
    except ImportError as exc:
        raise LLMSetupError(f"the {kind} LLM needs the package {_PACKAGES[kind]} (pip install {_PACKAGES[kind]}): {exc}") from None
    if kind == "openai-like":
        if not base_url:
            raise LLMSetupError("the openai-like LLM needs the server's URL (--llm-base-url, e.g. http://127.0.0.1:8080/v1)")
        return OpenAILike(
            model=model,
            api_base=base_url,
            # Local OpenAI-compatible servers take any key; the client insists on one.
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            is_chat_model=True,
            temperature=temperature,
            max_retries=1,  # a server that is down should not hold the answer for minutes
            max_tokens=max_tokens,
            timeout=timeout,
        )
    options: dict[str, Any] = {"model": model, "request_timeout": timeout, "temperature": temperature}
    if base_url:
        options["base_url"] = base_url
    if api_key:  # a hosted Ollama behind a proxy
        options["headers"] = {"Authorization": f"Bearer {api_key}"}
    return Ollama(**options)


def add_llm_arguments(parser) -> None:
    """The LLM options of ``qa ask``, ``qa serve`` and ``qa eval`` (defaults from $QA_LLM, $QA_LLM_MODEL,
    $QA_LLM_BASE_URL, $QA_LLM_API_KEY, $QA_PROMPTS). Without --llm the answers stay extractive."""
    env = os.environ.get
    group = parser.add_argument_group("LLM answers (optional: without --llm, answers are the cited sentences themselves)")
    group.add_argument("--llm", choices=LLM_KINDS, default=env("QA_LLM") or None, help="write answers with this kind of LLM; every sentence is checked against the sentences it cites")
    group.add_argument("--llm-model", metavar="NAME", default=env("QA_LLM_MODEL", ""), help="the model's name on that server (e.g. llama3.2)")
    group.add_argument("--llm-base-url", metavar="URL", default=env("QA_LLM_BASE_URL") or None, help="the server (openai-like: required, e.g. http://127.0.0.1:8080/v1; ollama: default http://localhost:11434)")
    group.add_argument("--llm-api-key", metavar="KEY", default=env("QA_LLM_API_KEY") or None, help="API key, if the server wants one (better: $QA_LLM_API_KEY)")
    group.add_argument("--prompts", metavar="DIR", default=env("QA_PROMPTS") or None, help="folder of answer.txt, condense.txt, abstain.txt (default: prompts/)")


def llm_from_args(args) -> tuple[Optional["LLM"], Optional[Prompts]]:
    """(llm, prompts) from ``add_llm_arguments``' options. Without --llm: no LLM, and the prompts
    only when --prompts names a folder (its abstain.txt is still the not-found reply)."""
    prompts_dir = getattr(args, "prompts", None)
    if not getattr(args, "llm", None):
        given = [
            f"--{name.replace('_', '-')}"
            for name, env in (("llm_model", "QA_LLM_MODEL"), ("llm_base_url", "QA_LLM_BASE_URL"))
            if getattr(args, name, None) and getattr(args, name) != os.environ.get(env)
        ]
        if given:
            raise LLMSetupError(f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} --llm ({' or '.join(LLM_KINDS)}); without it the answers are extractive")
        return None, load_prompts(prompts_dir) if prompts_dir else None
    return make_llm(args.llm, args.llm_model, args.llm_base_url, args.llm_api_key), load_prompts(prompts_dir)


def condense(llm: "LLM", prompts: Prompts, question: str, history: History) -> str:
    """The follow-up ``question`` rewritten as a standalone question, using the ``history``
    (earlier questions, or (question, answer) pairs, oldest first). Returns "" when the LLM fails
    gives nothing usable or returns the question unchanged, so the caller falls back to its own
    follow-up resolution."""
    if not history:
        return question.strip()
    try:
        raw = llm.complete(condense_prompt(prompts, question, history)).text or ""
    except Exception:  # a server that is down: the rule-based resolution still works
        return ""
    for line in raw.strip().splitlines():
        line = re.sub(r"^\s*(?:standalone question|question|rewritten question)\s*:\s*", "", line.strip(), flags=re.I)
        line = line.strip().strip('"“”').strip()
        if not line:
            continue
        if " ".join(words(line)) == " ".join(words(question)):
            return ""  # resolved nothing: the caller's own resolution knows at least as much
        # A model that answers instead of rewriting writes a statement, or far more than a question.
        if question.strip().endswith("?") and not line.endswith("?"):
            return ""
        return line if len(line) <= max(300, 4 * len(question)) else ""
    return ""


def generate(llm: "LLM", prompts: Prompts, question: str, sentences: Sequence[str]) -> str:
    """The LLM's answer to ``question`` from the numbered ``sentences``, citing them as [n]."""
    return (llm.complete(answer_prompt(prompts, question, sentences)).text or "").strip()


def stream_generate(llm: "LLM", prompts: Prompts, question: str, sentences: Sequence[str]) -> Iterator[str]:
    """``generate`` as it is written: yields the text deltas. Verify the joined text afterwards
    (``finish``) before showing it as the answer."""
    for response in llm.stream_complete(answer_prompt(prompts, question, sentences)):
        if response.delta:
            yield response.delta


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When a generated sentence counts as supported by the sentences it cites.

    Chosen with bench/llm_verify.py on the team's question set (eval/questions.jsonl): at
    0.5 / 0.4, all gold sentences cited as themselves, 96.8 % of their shortened forms and all
    hand-written paraphrases (31 cases each) survive, and 99.3 % of 539 made-up claims (other
    questions' gold sentences cited as [1]) are dropped. A cosine of 0.5 would drop 16 % of the
    paraphrases, an overlap of 0.6 would drop 6.5 % of them.
    """

    min_overlap: float = 0.5  # share of the claim's content terms found in the cited sentences
    min_cosine: float = 0.4  # MiniLM cosine of the claim with its best cited sentence
    numbers_must_match: bool = True  # every number in the claim is in a cited sentence
    negation_must_match: bool = True  # a claim says "not"/"never"/… only if a cited sentence does


DEFAULT_THRESHOLDS = Thresholds()


@dataclass
class Check:
    """The verdict on one generated sentence (``reason`` is empty when it was kept)."""

    text: str  # as generated, markers included
    claim: str  # markers stripped
    cited: list[int]  # valid 1-based source numbers it cites
    overlap: float = 0.0
    cosine: float = 0.0
    reason: str = ""


@dataclass
class Verified:
    kept: list[tuple[str, list[int]]]  # (claim without markers, 1-based sources it cites)
    dropped: list[str]  # the generated sentences removed, as written
    checks: list[Check] = field(default_factory=list)  # every sentence with its figures and reason


_MARKER = re.compile(r"\[\s*(?:sources?\s*)?(\d+(?:\s*(?:,|;|-|–|and)\s*(?:sources?\s*)?\d+)*)\s*\]", re.I)
_MARKERS_AFTER_END = re.compile(r"([.!?…][\"'”’)]*)((?:\s*" + _MARKER.pattern + r")+)", re.I)
_MARKER_THEN_CAPITAL = re.compile(r"(\d\s*\])\s+(?=[\"“‘']?[A-Z])")  # case-sensitive on purpose
_ONLY_MARKERS = re.compile(r"^\s*(?:" + _MARKER.pattern + r"\s*)+$", re.I)
_LABEL = re.compile(r"^\s*(?:answer|response)\s*:\s*", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d{1,2}[.)])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NEGATIONS = frozenset("not no never nor neither none nobody nothing nowhere without cannot".split())


def _numbers_in_marker(body: str) -> list[int]:
    found: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", body, flags=re.I):
        part = re.sub(r"(?i)sources?\s*", "", part).strip()
        if not part:
            continue
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x.strip().isdigit()]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= 10:
            found.extend(range(bounds[0], bounds[1] + 1))
        else:
            found.extend(bounds)
    return found


def markers(text: str) -> list[int]:
    """Source numbers cited in ``text`` ([1], [1, 2], [1][2], [1-3], [Source 2]), in order, once each."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for n in _numbers_in_marker(match.group(1)):
            if n not in seen:
                seen.append(n)
    return seen


def _strip_markers(text: str) -> str:
    text = _MARKER.sub(" ", text)
    text = re.sub(r"\s+([.,;:!?…])", r"\1", text)
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # the same segmenter index.sentences uses for articles

    return pysbd.Segmenter(language="en", clean=False)


def split_claims(generated: str) -> list[str]:
    """The generated answer's sentences, each with its own markers ("… end. [1]" becomes "… end [1].")."""
    pieces: list[str] = []
    for line in (generated or "").strip().splitlines():
        line = _LABEL.sub("", line, count=1).strip()
        line = _MARKERS_AFTER_END.sub(lambda m: f"{m.group(2)}{m.group(1)}", line)
        # "… Gaza War [1] Blinken resigned [1]." is two sentences: a marker then a capital starts one.
        for part in _MARKER_THEN_CAPITAL.sub(lambda m: m.group(1) + "\n", line).splitlines():
            for piece in _segmenter().segment(part) if part.strip() else []:
                piece = piece.strip()
                if pieces and _ONLY_MARKERS.match(piece):
                    pieces[-1] = f"{pieces[-1]} {piece}"
                elif piece:
                    pieces.append(piece)
    return pieces


def _numbers(text: str) -> set[str]:
    return {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}


def _negated(text: str) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in words(text))


def _content(text: str) -> set[str]:
    return set(terms(text))


def verify(
    generated: str,
    sentences: Sequence[str],
    embed: Embed,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Verified:
    """Keep the generated sentences that cite given ``sentences`` (1-based [n]) and are supported by
    them; drop and report the rest. ``embed`` maps texts to unit vectors (``Embedder.encode``)."""
    checks: list[Check] = []
    for piece in split_claims(generated):
        claim = _BULLET.sub("", _strip_markers(piece))
        cited_all = markers(piece)
        cited = [n for n in cited_all if 1 <= n <= len(sentences)]
        check = Check(piece, claim, cited)
        checks.append(check)
        if not _content(claim):
            check.reason = "no content words"
        elif not cited_all:
            check.reason = "cites no source"
        elif not cited:
            check.reason = "cites only sources that were not given: " + ", ".join(f"[{n}]" for n in cited_all)
        else:
            support = " ".join(sentences[n - 1] for n in cited)
            claim_terms = _content(claim)
            have = _content(support) | acronyms(support)
            check.overlap = len(claim_terms & have) / len(claim_terms)
            if thresholds.numbers_must_match and not _numbers(claim) <= _numbers(support):
                check.reason = "a number the cited sentences do not hold: " + ", ".join(sorted(_numbers(claim) - _numbers(support)))
            elif thresholds.negation_must_match and _negated(claim) and not _negated(support):
                check.reason = "a negation the cited sentences do not hold"
    # One encoder call for every claim still standing and every sentence they cite.
    pending = [c for c in checks if not c.reason and c.cited]
    if pending:
        used = sorted({n for c in pending for n in c.cited})
        vectors = embed([c.claim for c in pending] + [sentences[n - 1] for n in used])
        source_vector = {n: vectors[len(pending) + i] for i, n in enumerate(used)}
        for i, check in enumerate(pending):
            similarity = {n: float(vectors[i] @ source_vector[n]) for n in check.cited}
            check.cosine = max(similarity.values())
            if check.overlap < thresholds.min_overlap:
                check.reason = f"too few of its words are in the cited sentences ({check.overlap:.2f})"
            elif check.cosine < thresholds.min_cosine:
                check.reason = f"its meaning is too far from the cited sentences (cosine {check.cosine:.2f})"
            else:
                # Cite only the sentences that bear on it (a stray extra [n] is removed, not fatal).
                claim_terms = _content(check.claim)
                relevant = [n for n in check.cited if similarity[n] >= thresholds.min_cosine or claim_terms & _content(sentences[n - 1])]
                check.cited = relevant or [max(similarity, key=similarity.get)]
    kept = [(c.claim, list(c.cited)) for c in checks if not c.reason]
    dropped = [c.text for c in checks if c.reason]
    return Verified(kept, dropped, checks)


# --- the whole flow -----------------------------------------------------------------------


@dataclass
class LLMAnswer:
    """What ``answer_with_llm`` / ``finish`` return.

    ``text`` cites [1]..[k]; new marker i+1 is the extractive marker ``markers[i]``. When
    ``fallback`` is true (nothing survived, the LLM found no answer, or it failed: ``error``),
    use the extractive answer, with ``dropped`` to report."""

    text: str
    markers: list[int]
    dropped: list[str]
    fallback: bool
    raw: str = ""
    error: str = ""
    llm_abstained: bool = False
    checks: list[Check] = field(default_factory=list)

    def apply_to(self, answer: "Answer") -> "Answer":
        """The extractive ``answer`` rewritten: generated text, only the kept citations (renumbered),
        ``dropped`` filled. On fallback, the extractive answer with ``dropped`` filled."""
        if self.fallback or answer.abstained:
            return replace(answer, dropped=list(self.dropped))
        renumber = {old: new for new, old in enumerate(self.markers, start=1)}
        citations = [replace(c, marker=renumber[c.marker]) for c in answer.citations if c.marker in renumber]
        citations.sort(key=lambda c: c.marker)  # stable: each marker's articles keep their order
        return replace(answer, text=self.text, citations=citations, dropped=list(self.dropped))


def sources_of(citations: Sequence[Any]) -> tuple[list[str], list[int]]:
    """One source sentence per extractive marker (citations sharing a marker are the same sentence
    in several articles), in marker order of first appearance; objects without ``marker`` count
    1, 2, … in order. Returns (texts, their markers)."""
    texts: list[str] = []
    order: list[int] = []
    for i, citation in enumerate(citations, start=1):
        marker = getattr(citation, "marker", i)
        if marker not in order:
            order.append(marker)
            texts.append(citation.text)
    return texts, order


def _is_not_found(raw: str, not_found: str) -> bool:
    def norm(t: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", t.lower()).split())

    return bool(norm(not_found)) and norm(raw).startswith(norm(not_found))


def finish(
    raw: str,
    citations: Sequence[Any],
    embed: Embed,
    prompts: Prompts,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> LLMAnswer:
    """Verify an answer the LLM wrote (whole or streamed) for these extractive ``citations`` and
    renumber its markers to the citations it kept."""
    texts, order = sources_of(citations)
    if _is_not_found(raw, prompts.not_found):
        return LLMAnswer("", [], [], True, raw=raw, llm_abstained=True)
    verified = verify(raw, texts, embed, thresholds)
    # "Not found in these articles." after an answer is the LLM hedging, not a claim to report.
    dropped = [d for d in verified.dropped if not _is_not_found(d, prompts.not_found)]
    new_marker: dict[int, int] = {}  # 1-based source number -> new marker
    parts = []
    for claim, cited in verified.kept:
        for n in cited:
            new_marker.setdefault(n, len(new_marker) + 1)
        parts.append(claim + "".join(f" [{new_marker[n]}]" for n in sorted(set(cited), key=new_marker.get)))
    if not parts:
        return LLMAnswer("", [], dropped, True, raw=raw, checks=verified.checks)
    kept_markers = [order[n - 1] for n in sorted(new_marker, key=new_marker.get)]
    return LLMAnswer(" ".join(parts), kept_markers, dropped, False, raw=raw, checks=verified.checks)


def answer_with_llm(
    llm: "LLM",
    prompts: Prompts,
    question: str,
    citations: Sequence[Any],
    embed: Embed,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> LLMAnswer:
    """Ask the LLM to answer ``question`` from the extractive ``citations`` (objects with ``.text``,
    and ``.marker`` when several share a sentence), verify, renumber. Never raises for an LLM
    failure: that is a fallback with ``error`` set."""
    texts, _ = sources_of(citations)
    if not texts:
        return LLMAnswer("", [], [], True)
    try:
        raw = generate(llm, prompts, question, texts)
    except Exception as exc:  # connection refused, timeout, bad model name: keep the extractive answer
        return LLMAnswer("", [], [], True, error=f"{type(exc).__name__}: {exc}")
    return finish(raw, citations, embed, prompts, thresholds)
