"""The team's own question set under tuning variants: what `qa eval` reports, one row per variant.

Used to check that a weight chosen elsewhere (e.g. on the held-out weeks) keeps the own set's
targets. The sample articles are indexed once; each variant re-asks every question.

    .venv/bin/python bench/ownset.py --variant w_rerank=0.5 --variant w_rerank=0.5,keep_ratio=0.8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, quietly  # noqa: E402
from realtimeqa import parse_variant, product_setup  # noqa: E402

METRICS = ("sentence_hit", "citation_precision", "abstention", "false_abstention", "followup_hit", "answer_hit")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--articles", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--reranker", default="default", metavar="PATH")
    parser.add_argument("--query-encoder", default="default", metavar="PATH")
    parser.add_argument("--variant", action="append", default=[], metavar="FIELD=VALUE,...", help="qa.select.Tuning fields to change (repeatable)")
    args = parser.parse_args(argv)

    from qa.evaluate import evaluate

    with tempfile.TemporaryDirectory(prefix="ownset-") as store:
        assistant = quietly(lambda: product_setup(store, args.reranker, args.query_encoder))
        assistant.ingest([args.articles])
        shipped = assistant.tuning
        print(f"| variant | {' | '.join(METRICS)} |")
        print(f"| --- |{' ---: |' * len(METRICS)}")
        for spec in ["as shipped"] + args.variant:
            assistant.tuning = shipped if spec == "as shipped" else parse_variant(spec, shipped)
            metrics = evaluate(assistant, args.questions).metrics
            print(f"| {spec} | {' | '.join(f'{metrics[m]:.3f}' for m in METRICS)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
