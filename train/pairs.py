"""Training pairs for the reranker and the query encoder: each quiz question against sentences of the pages found for it.

A sentence is labelled an answer when it holds the quiz answer (``qa.evaluate.answer_in_text``,
the same test the benchmarks judge by). The labels are distant: such a sentence may only mention
the answer, so each question keeps only its positives that share the most question terms. The
negatives are the sentences of the same pages that match the question best by BM25 and do not
hold the answer, as retrieval would offer them, plus one random sentence. The ranking loss of
``train.fit`` adds other questions' sentences as negatives while it trains.
Pages go through the product's own loader and splitter, so training sees what ``ask`` sees.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from index.articles import LoadError, article_from_record
from index.sentences import split_sentences
from index.terms import terms
from qa.evaluate import answer_in_text
from qa.rerank import candidate_text

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "train" / "realtimeqa"
MAX_PAGE_CHARS = 20_000  # the story comes first on a page; the rest is mostly links and comments
MIN_SENTENCE_CHARS = 25
HELD_OUT_FROM = "20250701"
"""Training-split quizzes from this week on are left out of the reranker's training: they are where
the product's score weights are chosen (``bench/realtimeqa.py --data ... --split held-out``), on news
the reranker has not seen, without looking at the validation split."""


def held_out(question_id: str) -> bool:
    return question_id.split("_")[0] >= HELD_OUT_FROM


@dataclass
class Pair:
    question_id: str
    question: str
    candidate: str  # what the reranker reads: qa.rerank.candidate_text(title, sentence)
    label: int
    sentence: str = ""  # the sentence alone, as the store embeds it (what train.query trains against)


def load_questions(data: Path, split: str) -> list[dict]:
    with open(data / "questions.jsonl", encoding="utf-8") as handle:
        return [q for q in map(json.loads, handle) if q["split"] == split]


def load_pages(data: Path, question_ids: set[str]) -> dict[str, list[dict]]:
    """Pages by question id, for the given questions only."""
    pages: dict[str, list[dict]] = {}
    with gzip.open(data / "pages.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            page = json.loads(line)
            for qid in page["question_ids"]:
                if qid in question_ids:
                    pages.setdefault(qid, []).append(page)
    return pages


def page_sentences(page: dict) -> list[tuple[str, str]]:
    """(title, sentence) of a page, as the product would index it (page junk left out)."""
    record = dict(page, text=page["text"][:MAX_PAGE_CHARS])
    try:
        article = article_from_record(record, page["id"], page["id"], page.get("url", ""))
    except LoadError:
        return []
    return [(article.title, s.text) for s in split_sentences(article.text, article.doc_id, article.title) if len(s.text) >= MIN_SENTENCE_CHARS]


def bm25_scores(query: list[str], documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> list[float]:
    n = len(documents)
    frequency = Counter(t for d in documents for t in set(d))
    average = sum(map(len, documents)) / max(n, 1)
    scores = []
    for document in documents:
        counts = Counter(document)
        score = 0.0
        for t in set(query):
            if counts[t]:
                idf = math.log(1 + (n - frequency[t] + 0.5) / (frequency[t] + 0.5))
                score += idf * counts[t] * (k1 + 1) / (counts[t] + k1 * (1 - b + b * len(document) / average))
        scores.append(score)
    return scores


def question_pairs(question: dict, pages: list[dict], rng: random.Random, positives: int = 2, hard: int = 6) -> list[Pair]:
    """The pairs of one question: up to ``positives`` answer sentences and ``hard`` + 1 negatives."""
    seen: set[str] = set()
    sentences = []
    for page in pages:
        for title, sentence in page_sentences(page):
            if sentence not in seen:
                seen.add(sentence)
                sentences.append((title, sentence))
    if not sentences:
        return []
    query = terms(question["question"])
    scores = bm25_scores(query, [terms(title + " " + s) for title, s in sentences])
    ranked = sorted(range(len(sentences)), key=lambda i: -scores[i])
    holds = [answer_in_text(question["answer"], sentences[i][1]) for i in range(len(sentences))]
    # Distant labels: of the sentences holding the answer, the ones about the question's own terms
    # are the likeliest to answer it, so positives are ranked on the sentence alone.
    own = bm25_scores(query, [terms(s) for _, s in sentences])
    good = sorted((i for i in range(len(sentences)) if holds[i]), key=lambda i: -own[i])[:positives]
    if not good:
        return []
    bad = [i for i in ranked[:40] if not holds[i]]
    chosen = bad[:hard]
    rest = [i for i in range(len(sentences)) if not holds[i] and i not in chosen]
    if rest:
        chosen.append(rng.choice(rest))
    make = lambda i, label: Pair(question["id"], question["question"], candidate_text(*sentences[i]), label, sentences[i][1])
    return [make(i, 1) for i in good] + [make(i, 0) for i in chosen]


def build_pairs(data: Path, split: str, limit: int | None = None, seed: int = 0, shard: tuple[int, int] = (0, 1)) -> Iterator[Pair]:
    questions = load_questions(data, split)
    if limit:
        questions = questions[:limit]
    questions = questions[shard[0] :: shard[1]]
    pages = load_pages(data, {q["id"] for q in questions})
    for question in questions:
        # one generator per question: the pairs are the same however the questions are sharded
        yield from question_pairs(question, pages.get(question["id"], []), random.Random(f"{seed}:{question['id']}"))


def main() -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Write reranker training pairs as JSONL.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train", choices=["train", "validation"])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shard", default="0/1", help="I/N: every Nth question from the Ith, to build in parallel")
    args = parser.parse_args()
    started = time.time()
    counts = Counter()
    with open(args.out, "w", encoding="utf-8") as out:
        for pair in build_pairs(args.data, args.split, args.limit, shard=tuple(map(int, args.shard.split("/")))):
            counts[pair.label] += 1
            out.write(json.dumps(pair.__dict__, ensure_ascii=False) + "\n")
    print(f"{args.out}: {counts[1]} positive, {counts[0]} negative pairs in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
