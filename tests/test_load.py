"""A small load test: the real ``qa serve`` console script in its own process, four
gradio_client clients asking three questions each at once. No errors, and every reply is
the answer to the question its client sent, citing what a single client got before.

The full run (32 clients x 20 questions with a concurrent ingest through a Chroma server)
is ``bench/load.py``; this test drives the same code on a small scale.
"""

from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_four_clients_three_questions_each_no_errors_no_mix_ups():
    bench = load_bench()
    result = bench.run_bench(clients=4, questions=3, embedded=True, call_timeout=60, timeout=240, seed=3, log=lambda _: None)
    summary = bench.format_table(result)
    assert result["calls"] == result["answered"] == 12, summary
    assert result["errors"] == 0 and result["not_run"] == 0, result["error_examples"]
    assert result["wrong_question"] == result["another_questions_answer"] == result["stable_question_other_answer"] == 0, result["mixed_up_examples"]
    assert result["mixed_up"] == 0
    assert result["distinct_questions"] >= 6  # the clients do not all ask the same thing
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["max_ms"] < 60_000
