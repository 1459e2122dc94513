"""What the reranker costs a warm ask: the dev questions asked with each reranker in turn, in one process.

Each question is asked with every reranker named (the shipped one and none always among them)
before the next question, so noise from other jobs on the machine falls on all alike; the table gives
p50/p95 and each one's ratio to asking without a reranker. The shipped one is also asked the way it ran
before session 13, on every one of the best fused candidates rather than only those it could bring
into the answer (``qa.select.worth_reranking``). Quality with another reranker comes from
``bench/realtimeqa.py --reranker PATH``.

    .venv/bin/python bench/reranker.py                                   # shipped against none
    .venv/bin/python bench/reranker.py --reranker /tmp/rr-4layers --keep /tmp/dev-keep
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA, add_json_flag, data_missing, envelope, finish, logger, percentile, quietly, report, start_run  # noqa: E402
from realtimeqa import WARM_UP_QUESTION, kept_product, load_dev_set, product_setup  # noqa: E402

import qa.assistant  # noqa: E402

WITHIN_REACH = qa.assistant.worth_reranking

log = logger("reranker")


def every_candidate(question, head, *args, **kwargs) -> list:
    return head


def timed_asks(assistant, questions: list[dict], rerankers: dict, repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each question's ask with each (reranker, which candidates it reads) in turn,
    ``repeats`` times; a reranker of None asks without one."""
    times: dict[str, list[float]] = {name: [] for name in rerankers}
    for _ in range(repeats):
        for q in questions:
            for name, (reranker, chooser) in rerankers.items():
                assistant._reranker = reranker
                qa.assistant.worth_reranking = chooser
                assistant._answers.clear()  # answered afresh, not from the answer cache
                started = time.perf_counter()
                assistant.ask(q["question"])
                times[name].append((time.perf_counter() - started) * 1000)
    qa.assistant.worth_reranking = WITHIN_REACH
    return times


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--reranker", action="append", default=[], metavar="PATH", help="another reranker folder (repeatable)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="the stores of bench/realtimeqa.py --keep DIR (ingested here if absent)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="ask only the first N questions")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the questions")
    add_json_flag(parser)
    args = parser.parse_args(argv)
    if data_missing(args.data):
        return 2
    start = start_run()

    from qa.rerank import DEFAULT_PATH, Reranker

    articles_path, _, questions = load_dev_set(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="reranker-bench-") as work:
        store = args.keep / "product" if args.keep else Path(work) / "product"
        assistant = quietly(lambda: product_setup(str(store)))
        kept_product(assistant, articles_path, args.keep)
        shipped = Reranker(DEFAULT_PATH)
        rerankers = {
            "shipped": (shipped, WITHIN_REACH),
            "shipped, every candidate": (shipped, every_candidate),
            **{path: (Reranker(path), WITHIN_REACH) for path in args.reranker},
            "none": (None, WITHIN_REACH),
        }
        for reranker in {id(r): r for r, _ in rerankers.values() if r is not None}.values():
            reranker.probabilities("Warming up?", ["Warming up the reranker."])
        assistant.ask(WARM_UP_QUESTION)
        log(f"asking {len(questions)} questions {args.repeats} times with each of {len(rerankers)} rerankers")
        times = timed_asks(assistant, questions, rerankers, args.repeats)

    none_p50 = percentile(times["none"], 0.5) or 1.0
    rows = [
        {"reranker": name, "p50_ms": round(percentile(ms, 0.5), 1), "p95_ms": round(percentile(ms, 0.95), 1),
         "p50_vs_none": round(percentile(ms, 0.5) / none_p50, 2)}
        for name, ms in times.items()
    ]
    result = envelope("reranker", start, args, questions=len(questions), shipped=str(DEFAULT_PATH), rows=rows)
    table = ["| reranker | ask p50 ms | ask p95 ms | p50 vs none |", "| --- | ---: | ---: | ---: |"]
    table += [f"| {r['reranker']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | x{r['p50_vs_none']:.2f} |" for r in rows]
    finish(result, report(result, f"Warm ask with each reranker, {len(questions)} dev questions", "\n".join(table)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
