"""Score an ``Assistant`` against a fixed question file (JSONL).

Each line: ``id``, ``question``, optional ``answerable`` (default true), ``gold`` and
``ok`` (lists of ``{"doc": file name or doc id, "text": exact sentence}``), ``answer``
(a short string a cited sentence should contain), ``gold_docs``, ``history`` and ``new_topic`` (true: the
question starts a new topic after its history, and must be asked as it is).
Any subset of the scoring fields may be present; each metric averages over the
questions that have what it needs.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from qa.answer import Answer

LOWER_IS_BETTER = {"false_abstention", "latency_p50_ms", "latency_p95_ms", "citations_per_answer"}


@dataclass
class QuestionResult:
    item: dict
    answer: Answer
    seconds: float
    scores: dict = field(default_factory=dict)


@dataclass
class EvalResult:
    metrics: dict
    results: list[QuestionResult]


def normalize(text: str) -> str:
    """Lowercase, unify quotes and dashes, drop punctuation: for forgiving string matching."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[’‘`´]", "'", text)
    text = re.sub(r"[“”]", '"', text)
    text = re.sub(r"[^\w$%'. ]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def answer_in_text(answer: str, text: str) -> bool:
    """True if the short answer appears in ``text``: as a phrase, or else every content word of it.

    Quiz answers are written by people ("Ban on military-style assault weapons",
    "New Jersey & Oregon"), so an exact phrase match alone would miss sentences that
    plainly hold the answer. Both systems in any comparison use this same test.
    """
    wanted = normalize(answer).replace("'", "")
    have = normalize(text).replace("'", "")
    if not wanted:
        return False
    if re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", have):
        return True
    from index.terms import STOPWORDS, stem

    content = [w for w in wanted.split() if w not in STOPWORDS]
    have_words = {stem(w) for w in have.split()} | set(have.split())
    return bool(content) and all(w in have_words or stem(w) in have_words for w in content)


def load_questions(path: str | Path) -> list[dict]:
    items = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: malformed JSON: {exc.msg}") from None
            if not isinstance(item, dict) or not item.get("question"):
                raise ValueError(f"{path}:{number}: each line needs a 'question'")
            item.setdefault("id", f"line{number}")
            items.append(item)
    return items


def _doc_matches(reference: str, citation_doc_id: str, citation_source: str) -> bool:
    """A gold 'doc' is a doc id or a file name; match either."""
    return reference == citation_doc_id or (bool(citation_source) and Path(citation_source).name == reference) or citation_source == reference


def _overlaps(gold: dict, citation, assistant) -> bool:
    """Does ``citation`` cover the gold sentence? Located by span in the cited article."""
    if not _doc_matches(gold["doc"], citation.doc_id, citation.source):
        return False
    article = assistant.article(citation.doc_id)
    if article is None:
        return False
    start = article.text.find(gold["text"])
    if start < 0:
        return normalize(gold["text"]) == normalize(citation.text)
    end = start + len(gold["text"])
    overlap = min(end, citation.end) - max(start, citation.start)
    # The citation must be a sentence (not a chunk) and hold most of the gold sentence.
    return overlap >= 0.6 * (end - start) and (citation.end - citation.start) <= 1.6 * (end - start) + 20


def score_question(item: dict, answer: Answer, assistant) -> dict:
    scores: dict = {}
    answerable = item.get("answerable", True)
    citations = answer.citations
    if not answerable:
        scores["abstention"] = float(answer.abstained)
    else:
        scores["false_abstention"] = float(answer.abstained)
        gold = item.get("gold") or []
        ok = item.get("ok") or []
        if gold:
            scores["sentence_hit"] = float(all(any(_overlaps(g, c, assistant) for c in citations) for g in gold))
            if citations:
                good = [c for c in citations if any(_overlaps(g, c, assistant) for g in gold + ok)]
                scores["citation_precision"] = len(good) / len(citations)
            if item.get("history") and not item.get("new_topic"):
                scores["followup_hit"] = scores["sentence_hit"]
        if item.get("answer"):
            scores["answer_hit"] = float(any(answer_in_text(item["answer"], c.text) for c in citations))
            first_three = _first_sentences(citations, 3)
            scores["answer_hit_at_3"] = float(any(answer_in_text(item["answer"], c.text) for c in first_three))
        if item.get("gold_docs"):
            scores["doc_hit"] = float(any(_doc_matches(d, c.doc_id, c.source) for d in item["gold_docs"] for c in citations))
        if not answer.abstained:
            scores["citations_per_answer"] = float(len({c.marker for c in citations}))
    if item.get("new_topic"):  # a new question after an unrelated one: asked as it is, not as a follow-up
        scores["new_topic_left_alone"] = float(answer.resolved_question == item["question"])
    scores["valid_spans"] = float(all(_valid(c, assistant) for c in citations))
    return scores


def _first_sentences(citations, n: int):
    markers = sorted({c.marker for c in citations})[:n]
    return [c for c in citations if c.marker in markers]


def _valid(citation, assistant) -> bool:
    article = assistant.article(citation.doc_id)
    return article is not None and article.text[citation.start : citation.end] == citation.text


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def evaluate(assistant, questions_path: str | Path, article_paths: Optional[list[str]] = None) -> EvalResult:
    """Ask every question (with its history) and average the scores."""
    items = load_questions(questions_path)
    results = []
    for item in items:
        started = time.perf_counter()
        answer = assistant.ask(item["question"], history=item.get("history") or None)
        seconds = time.perf_counter() - started
        result = QuestionResult(item, answer, seconds)
        result.scores = score_question(item, answer, assistant)
        results.append(result)
    metrics: dict = {"questions": len(results)}
    names = sorted({k for r in results for k in r.scores})
    for name in names:
        values = [r.scores[name] for r in results if name in r.scores]
        metrics[name] = round(sum(values) / len(values), 4)
        metrics[f"{name}_n"] = len(values)
    latencies = [r.seconds * 1000 for r in results]
    metrics["latency_p50_ms"] = round(_percentile(latencies, 0.5), 1)
    metrics["latency_p95_ms"] = round(_percentile(latencies, 0.95), 1)
    return EvalResult(metrics, results)


def parse_gates(minimums: list[str], maximums: list[str] = ()) -> list[tuple[str, str, float]]:
    gates = []
    for op, specs in ((">=", minimums), ("<=", maximums)):
        for spec in specs:
            name, sep, value = spec.partition("=")
            try:
                gates.append((name.strip(), op, float(value)))
            except ValueError:
                raise ValueError(f"bad gate '{spec}': expected METRIC=NUMBER") from None
            if not sep:
                raise ValueError(f"bad gate '{spec}': expected METRIC=NUMBER")
    return gates


def check_gates(metrics: dict, gates: list[tuple[str, str, float]]) -> list[str]:
    failures = []
    for name, op, value in gates:
        if name not in metrics:
            failures.append(f"{name} was not measured (available: {', '.join(k for k in metrics if not k.endswith('_n'))})")
        elif op == ">=" and metrics[name] < value:
            failures.append(f"{name} = {metrics[name]} is below {value}")
        elif op == "<=" and metrics[name] > value:
            failures.append(f"{name} = {metrics[name]} is above {value}")
    return failures


def format_report(result: EvalResult, misses: int = 20) -> str:
    m = result.metrics
    lines = [f"{'metric':<22} {'value':>8} {'n':>5}", "-" * 37]
    for name in sorted(k for k in m if not k.endswith("_n") and k != "questions"):
        n = m.get(f"{name}_n", m["questions"])
        arrow = "↓" if name in LOWER_IS_BETTER else "↑"
        lines.append(f"{name:<20} {arrow} {m[name]:>8} {n:>5}")
    lines.append(f"{'questions':<22} {m['questions']:>8}")
    missed = [r for r in result.results if any(v < 1.0 for k, v in r.scores.items() if k not in LOWER_IS_BETTER) or r.scores.get("false_abstention")]
    if missed and misses:
        lines += ["", f"Misses ({len(missed)}, first {min(misses, len(missed))}):"]
        for r in missed[:misses]:
            low = ", ".join(f"{k}={v:.2f}" for k, v in r.scores.items() if (k in LOWER_IS_BETTER and k == "false_abstention" and v) or (k not in LOWER_IS_BETTER and v < 1.0))
            lines.append(f"- {r.item['id']}: {r.item['question']}  ({low})")
            if r.answer.resolved_question != r.item["question"]:
                lines.append(f"    resolved as: {r.answer.resolved_question}")
            for g in r.item.get("gold") or []:
                lines.append(f"    wanted: {g['text'][:110]}")
            if r.item.get("answer"):
                lines.append(f"    answer: {r.item['answer']}")
            if r.answer.abstained:
                lines.append("    got:    (abstained)")
            for c in r.answer.citations:
                lines.append(f"    cited:  [{c.marker}] {c.text[:110]}")
    return "\n".join(lines)
