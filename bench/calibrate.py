"""The calibrated answer confidence: fit it, and print its abstention trade-off curve.

``qa.select.confidence`` turns the best sentence's evidence into the probability that the articles
answer the question; an answer below ``Tuning.min_confidence`` abstains. With ``--fit`` this script
fits that logistic map on one set's answerable and unanswerable questions (a question is answerable
when its answer string is in one of the articles: ``answer_in_gold``) and picks the highest
threshold of ``--thresholds`` that abstains on at most ``--max-abstention`` of the answerable ones.
The shipped values were fitted on the training weeks held out of the reranker's training; the
validation split and the dev set check them. Without ``--fit`` it prints the curve of the shipped
calibration: per threshold, abstention on answerable and unanswerable questions and answer-hit@3
(the answer in the first 3 cited sentences) over the answerable ones, each question asked again.

    .venv/bin/python bench/calibrate.py --data ../shared/train/realtimeqa --split held-out --keep /tmp/heldout-keep --fit
    .venv/bin/python bench/calibrate.py --data ../shared/train/realtimeqa --keep /tmp/val-keep
    .venv/bin/python bench/calibrate.py --keep /tmp/dev-keep
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA, add_json_flag, envelope, finish, logger, quietly, report, start_run  # noqa: E402
from realtimeqa import asked_with, format_curve, kept_product, load_benchmark, product_setup  # noqa: E402

log = logger("calibrate")
THRESHOLDS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)
COLUMNS = [("abstains, answerable", "abstention_answerable"), ("abstains, unanswerable", "abstention_unanswerable"),
           ("answer-hit@3 (answerable)", "answer_hit_at_3")]


def evidence_of(confidence: float, tuning) -> Optional[float]:
    """The evidence a confidence was computed from (None for an abstention before any sentence scored)."""
    if not 0.0 < confidence < 1.0:
        return None
    return (math.log(confidence / (1.0 - confidence)) - tuning.confidence_intercept) / tuning.confidence_slope


def fit(evidence: list[float], answerable: list[bool]) -> tuple[float, float]:
    """Slope and intercept of a logistic regression of answerable on evidence (Platt scaling)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6, max_iter=1000).fit(np.array(evidence)[:, None], np.array(answerable))
    return round(float(model.coef_[0][0]), 2), round(float(model.intercept_[0]), 2)


def curve(assistant, questions: list[dict], thresholds) -> list[dict]:
    """Each threshold: the product re-asked every question (``realtimeqa.asked_with``); abstention on
    answerable and unanswerable questions, answer-hit@3 over the answerable ones."""
    answerable = [q for q in questions if q["answer_in_gold"]]
    unanswerable = [q for q in questions if not q["answer_in_gold"]]
    rows = []
    for value in thresholds:
        tuning = dataclasses.replace(assistant.tuning, min_confidence=value)
        given, refused = asked_with(assistant, answerable, tuning), asked_with(assistant, unanswerable, tuning)
        rows.append({
            "min_confidence": value,
            "current": value == assistant.tuning.min_confidence,
            "abstention_answerable": given["abstention"],
            "abstention_unanswerable": refused["abstention"],
            "answer_hit_at_3": given["answer_hit_at_3"],
        })
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the dev set, or ../shared/train/realtimeqa for a split of it")
    parser.add_argument("--split", default="validation", choices=["validation", "held-out"])
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="the stores of bench/realtimeqa.py --keep DIR (ingested here if absent)")
    parser.add_argument("--page-chars", type=int, default=5000)
    parser.add_argument("--fit", action="store_true", help="fit the calibration and the threshold on this set")
    parser.add_argument("--max-abstention", type=float, default=0.03, help="with --fit: the most abstention allowed on answerable questions")
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    add_json_flag(parser)
    args = parser.parse_args(argv)
    start = start_run()

    with tempfile.TemporaryDirectory(prefix="calibrate-") as work:
        articles_path, _, questions = load_benchmark(args.data, Path(work), args.split, args.page_chars, answerable_only=False)
        store = args.keep / "product" if args.keep else Path(work) / "product"
        assistant = quietly(lambda: product_setup(str(store)))
        kept_product(assistant, articles_path, args.keep)
        shipped = assistant.tuning
        fitted = {}
        if args.fit:
            log(f"asking {len(questions)} questions with no calibrated abstention")
            assistant.tuning = dataclasses.replace(shipped, min_confidence=0.0)
            pairs = [(evidence_of(assistant.ask(q["question"]).confidence, shipped), bool(q["answer_in_gold"])) for q in questions]
            pairs = [(e, a) for e, a in pairs if e is not None]
            slope, intercept = fit([e for e, _ in pairs], [a for _, a in pairs])
            assistant.tuning = dataclasses.replace(shipped, confidence_slope=slope, confidence_intercept=intercept)
            fitted = {"confidence_slope": slope, "confidence_intercept": intercept, "fitted_on": len(pairs)}
        log(f"the curve: {len(args.thresholds)} thresholds x {len(questions)} questions")
        rows = curve(assistant, questions, sorted(set(args.thresholds) | {assistant.tuning.min_confidence}))
        if args.fit:
            allowed = [r["min_confidence"] for r in rows if r["abstention_answerable"] <= args.max_abstention]
            fitted["min_confidence"] = max(allowed) if allowed else 0.0

    answerable = sum(1 for q in questions if q["answer_in_gold"])
    result = envelope(
        "calibrate", start, args, questions=len(questions), answerable=answerable,
        calibration={k: getattr(assistant.tuning, k) for k in ("confidence_slope", "confidence_intercept", "min_confidence")},
        fitted=fitted, curve=rows,
    )
    body = f"{len(questions)} questions, {answerable} answerable; calibration {result['calibration']}\n\n{format_curve(rows, COLUMNS)}"
    if fitted:
        body += f"\n\nfitted here: {fitted}"
    finish(result, report(result, "Abstention trade-off of the calibrated confidence", body), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
