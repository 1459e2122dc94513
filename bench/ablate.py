"""What each hand-written selection rule is worth: the product re-asked with one rule switched off.

Issue #14 keeps a rule only if removing it costs quality on the validation split and the dev set
with the trained reranker in. Each row switches one rule off (a weight set to 0, a filter opened,
or an added-sentence step skipped) on the same kept stores, and prints answer-hit@3/@1, doc-hit@3
and abstention against the product as shipped.

    .venv/bin/python bench/ablate.py --keep /tmp/dev-keep
    .venv/bin/python bench/ablate.py --data ../shared/train/realtimeqa --keep /tmp/val-keep
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import DEFAULT_DATA, logger, quietly  # noqa: E402
from realtimeqa import asked_with, kept_product, load_benchmark, product_setup  # noqa: E402

import qa.select as select  # noqa: E402

log = logger("ablate")


@contextlib.contextmanager
def patched(name: str, replacement) -> Iterator[None]:
    original = getattr(select, name)
    setattr(select, name, replacement)
    try:
        yield
    finally:
        setattr(select, name, original)


# (rule, tuning changes, patch of qa.select or None)
ABLATIONS: list[tuple[str, dict, Optional[Callable[[], contextlib.AbstractContextManager]]]] = [
    ("answer-type bonus (w_type)", {"w_type": 0.0}, None),
    ("question-term coverage (w_coverage)", {"w_coverage": 0.0}, None),
    ("context coverage (w_context_coverage)", {"w_context_coverage": 0.0}, None),
    ("off-topic filter (min_context_coverage)", {"min_context_coverage": 0.0}, None),
    ("cite a sentence of the asked kind (_add_answer_type)", {}, lambda: patched("_add_answer_type", lambda question, groups, *a: groups)),
    ("cite where 'the show' is named (_add_where_named)", {}, lambda: patched("_add_where_named", lambda question, groups, *a: groups)),
    ("cite a headline's source sentence", {}, lambda: patched("_add_headline_sources", lambda groups, *a: groups)),
]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dev set, or ../shared/train/realtimeqa for its validation split")
    parser.add_argument("--keep", type=Path, required=True, metavar="DIR", help="the stores of bench/realtimeqa.py --keep DIR (ingested here if absent)")
    parser.add_argument("--reranker", default="default", metavar="PATH")
    parser.add_argument("--page-chars", type=int, default=5000)
    parser.add_argument("--split", default="validation", choices=["validation", "held-out"])
    parser.add_argument("--only", action="append", default=[], help="run only the rules whose name holds this text (repeatable)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ablate-") as work:
        articles_path, _, questions = load_benchmark(args.data, Path(work), args.split, args.page_chars)
        assistant = quietly(lambda: product_setup(str(args.keep / "product"), args.reranker))
        kept_product(assistant, articles_path, args.keep)
        rows = [("all rules (as shipped)", asked_with(assistant, questions))]
        for name, changes, patch in ABLATIONS:
            if args.only and not any(part in name for part in args.only):
                continue
            log(name)
            assistant._answers.clear()  # a patched function is not in the answer cache's key
            with patch() if patch else contextlib.nullcontext():
                rows.append((f"without {name}", asked_with(assistant, questions, dataclasses.replace(assistant.tuning, **changes))))
            assistant._answers.clear()
    base = rows[0][1]
    print(f"{len(questions)} questions, reranker {getattr(assistant.reranker, 'path', 'none')}\n")
    print(f"| {'rule':<62} | {'answer-hit@3':>12} | {'answer-hit@1':>12} | {'doc-hit@3':>9} | {'abstention':>10} |")
    print(f"| {'-' * 62} | {'-' * 11}: | {'-' * 11}: | {'-' * 8}: | {'-' * 9}: |")
    for name, rates in rows:
        cells = []
        for key in ("answer_hit_at_3", "answer_hit_at_1", "doc_hit_at_3", "abstention"):
            delta = 100 * (rates[key] - base[key])
            cells.append(f"{100 * rates[key]:.1f}%" + (f" ({delta:+.1f})" if rates is not base else ""))
        print(f"| {name:<62} | {cells[0]:>12} | {cells[1]:>12} | {cells[2]:>9} | {cells[3]:>10} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
