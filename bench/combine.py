"""Could a fitted combination of the selection features beat the hand-set weights of ``qa.select.Tuning``?

For each question it records every scored candidate (the features ``score_candidates`` adds up:
dense similarity, term coverage, context coverage, answer type, speaker, reranker probability) and
its distant label (the sentence holds the answer). It fits the weights on the held-out weeks
(``--split held-out``: the reranker never trained on them, and the validation split and dev set
are not looked at) by logistic regression (pointwise) and by a softmax over each question's
candidates (listwise), then orders the validation split's and dev set's candidates by each.
Printed: answer-hit@1/@3 over all candidates (no filters or added sentences), the shipped score
against each fit; rerun on the kept stores of ``bench/realtimeqa.py --keep``.

    .venv/bin/python bench/combine.py --held-out /tmp/heldout-keep --validation /tmp/val-keep --dev /tmp/dev-keep
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_DATA, ROOT, logger, quietly  # noqa: E402
from realtimeqa import load_benchmark, product_setup  # noqa: E402

import numpy as np  # noqa: E402

import qa.select as select  # noqa: E402
from qa.evaluate import answer_in_text  # noqa: E402

FEATURES = ("dense", "coverage", "context_coverage", "answer_type", "speaker", "reranker")
TRAINING_DATA = ROOT.parent / "shared" / "train" / "realtimeqa"
log = logger("combine")


def scored_questions(store: Path, data: Path, split: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per question: the features of its scored candidates, the shipped scores, and the labels."""
    seen = []
    original = select.score_candidates

    def recording(question, candidates, *args, **kwargs):
        scored = original(question, candidates, *args, **kwargs)
        seen.append((question, scored))
        return scored

    with tempfile.TemporaryDirectory(prefix="combine-") as work:
        _, _, questions = load_benchmark(data, Path(work), split)
        assistant = quietly(lambda: product_setup(str(store / "product")))
        select.score_candidates = recording
        try:
            rows = []
            for q in questions:
                seen.clear()
                assistant._answers.clear()
                assistant.ask(q["question"])
                if not seen or not seen[0][1]:
                    continue
                question, scored = seen[0]
                expected = select.expected_answer_type(question)
                features = [
                    (s.candidate.dense, s.coverage, s.context_coverage,
                     float(bool(expected) and select.has_answer_type(expected, s.candidate.sentence.text, question)),
                     float(s.speaker_match), s.candidate.probability or 0.0)
                    for s in scored
                ]
                labels = [answer_in_text(q["answer"], s.candidate.sentence.text) for s in scored]
                rows.append((np.array(features), np.array([s.score for s in scored]), np.array(labels)))
        finally:
            select.score_candidates = original
    log(f"{store}: {len(rows)} questions")
    return rows


def hits(questions, score) -> tuple[float, float]:
    """answer-hit@1 and @3 when each question's candidates are ordered by ``score(features, shipped)``."""
    at_1 = at_3 = 0
    for features, shipped, labels in questions:
        order = np.argsort(-score(features, shipped), kind="stable")
        at_1 += labels[order[0]]
        at_3 += labels[order[:3]].any()
    return 100 * at_1 / len(questions), 100 * at_3 / len(questions)


def fit_listwise(questions, l2: float) -> np.ndarray:
    """Weights maximising each question's softmax probability of its answer sentences."""
    from scipy.optimize import minimize

    usable = [(f, y.astype(bool)) for f, _, y in questions if y.any() and not y.all()]

    def loss(w):
        total, grad = l2 * w @ w, 2 * l2 * w
        for features, positive in usable:
            s = features @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            mass = p[positive].sum()
            total -= math.log(mass + 1e-12)
            grad -= (p[positive] @ features[positive]) / (mass + 1e-12) - p @ features
        return total, grad

    return minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B").x


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--held-out", type=Path, required=True, metavar="DIR", help="kept stores of bench/realtimeqa.py --split held-out")
    parser.add_argument("--validation", type=Path, required=True, metavar="DIR", help="kept stores of the validation split")
    parser.add_argument("--dev", type=Path, required=True, metavar="DIR", help="kept stores of the dev set")
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    sets = {
        "held-out (fit)": scored_questions(args.held_out, TRAINING_DATA, "held-out"),
        "validation": scored_questions(args.validation, TRAINING_DATA, "validation"),
        "dev": scored_questions(args.dev, DEFAULT_DATA, "validation"),
    }
    fitting = sets["held-out (fit)"]
    scorers = {"shipped weights": lambda f, shipped: shipped}
    for c in (0.1, 1.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(np.vstack([f for f, _, _ in fitting]), np.concatenate([y for _, _, y in fitting]))
        scorers[f"pointwise, C={c}"] = (lambda w: lambda f, shipped: f @ w)(model.coef_[0])
        log(f"pointwise C={c}: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(FEATURES, model.coef_[0])))
    for l2 in (1.0, 10.0):
        weights = fit_listwise(fitting, l2)
        scorers[f"listwise, l2={l2}"] = (lambda w: lambda f, shipped: f @ w)(weights)
        log(f"listwise l2={l2}: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(FEATURES, weights)))
    print("answer-hit@1 / @3 (%) of each question's candidates ordered by the score, no filters\n")
    print(f"| {'score':<20} | " + " | ".join(f"{name} ({len(q)})" for name, q in sets.items()) + " |")
    print(f"| {'-' * 20} |" + "".join(" ---: |" for _ in sets))
    for name, score in scorers.items():
        print(f"| {name:<20} | " + " | ".join("%.1f / %.1f" % hits(q, score) for q in sets.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
