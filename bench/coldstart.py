"""Cold start and warm ask latency on a store holding the RealTimeQA dev corpus.

In fresh subprocesses (``qa`` as a user runs it):

- ``qa ask "…"`` one-shot: seconds from process start to the answer on stdout, once right
  after an ingest (the side index is built and saved) and then with the saved side index;
- ``qa serve``: seconds from process start until the app answers HTTP on its port, and the
  server's resident memory then;
- where the one-shot ask's import time goes (``python -X importtime``), by top-level package;
- what the crash watcher costs every command at start-up (``qa.cli.watch_for_crashes``: a fork
  and a pipe), timed in a fresh process as small as ``qa`` is when it makes it.

In this process: warm ask p50/p95 of ``Assistant.ask`` over the dev questions whose answer is
in a gold article (one warm-up question first), then the same questions again on a second
Assistant with every query vector already cached (the ask path without query encoding),
and beside them the LlamaIndex baseline retriever's latency, built as ``bench/realtimeqa.py``
builds it (its functions are reused; the baseline's ingest takes minutes: ``--no-baseline``
skips it). Also resident memory and the raw size of the sentence vectors.

Targets (issue 7): one-shot ask within 5 s, serve ready within 15 s, warm ask p50 <= 50 ms and
p95 <= 150 ms.

    .venv/bin/python bench/coldstart.py                      # everything (baseline ingest: minutes)
    .venv/bin/python bench/coldstart.py --no-baseline        # quicker
    .venv/bin/python bench/coldstart.py --store DIR          # reuse a store (ingest reports it unchanged)
    .venv/bin/python bench/coldstart.py --json               # only the JSON line

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, ROOT, add_json_flag, child_env, data_missing, envelope, finish, json_from_process, logger, percentile, quietly, report,
    resident_mib, serving, start_run,
)
import realtimeqa as rtqa  # noqa: E402  (its baseline and its product_reply are reused)

QUESTION = "Who won the presidential election in Colombia?"
QA_CLI = [sys.executable, "-m", "qa.cli"]
log = logger("coldstart")


# --- fresh processes ------------------------------------------------------------


def time_to_first_line(command: list[str]) -> tuple[float, str]:
    """Seconds from starting ``command`` until it prints its first stdout line; then waits for it."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
    first = process.stdout.readline()
    seconds = time.perf_counter() - started
    rest, errors = process.communicate(timeout=600)
    if process.returncode != 0 or not first:
        raise RuntimeError(f"{' '.join(command[2:])} failed: {errors[-2000:]}")
    return seconds, first.strip()


def ingest(store: Path, articles: Path) -> str:
    done = subprocess.run(QA_CLI + ["--store", str(store), "ingest", str(articles)], capture_output=True, text=True, env=child_env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return done.stdout.strip()


def drop_side_index(store: Path) -> None:
    from index.store import SIDE_DIR

    shutil.rmtree(store / SIDE_DIR, ignore_errors=True)


def serve_ready(store: Path) -> tuple[float, float]:
    """Seconds from starting ``qa serve`` until GET / answers 200, and its resident MiB then."""
    with serving(store) as served:
        return served.ready_s, resident_mib(served.process.pid)


CRASH_WATCH = r"""
import faulthandler, json, statistics, sys, time
from qa import cli
args = cli.build_parser().parse_args(["ask", "question"])
times = []
for _ in range(int(sys.argv[1])):
    faulthandler.disable()  # drops the pipe: the watcher made before ends
    started = time.perf_counter()
    cli.watch_for_crashes(args)
    times.append(time.perf_counter() - started)
print(json.dumps({"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000}))
"""


def crash_watch_ms(repeats: int = 20) -> dict:
    """Milliseconds ``qa`` spends making its crash watcher at start-up (median and max of ``repeats``)."""
    measured = json_from_process([sys.executable, "-c", CRASH_WATCH, str(repeats)], 120, "the crash-watcher timing")
    return {name: round(value, 2) for name, value in measured.items()}


def import_breakdown(command: list[str], top: int = 8) -> list[tuple[str, float]]:
    """Cumulative import seconds by top-level package for ``python -X importtime`` of ``command``."""
    done = subprocess.run([sys.executable, "-X", "importtime"] + command[1:], capture_output=True, text=True, env=child_env(), cwd=ROOT)
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and len(match.group(2)) <= 1:  # a module imported at top level, not from inside another
            totals[match.group(3).split(".")[0]] += int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


# --- in this process --------------------------------------------------------------


def warm_latencies(store: Path, questions: list[dict]) -> dict:
    """Warm ask p50/p95: with query encoding, then (second Assistant, vectors cached) without."""
    from index.embedder import shared_embedder
    from qa import Assistant

    embedder = shared_embedder()
    embedder.encode(["Warming up the sentence encoder."])
    figures = {}
    for label in ("ask", "ask_without_query_encoding"):
        assistant = Assistant(store=store, embedder=embedder)  # a new answer cache; the query vectors stay cached
        warm_up = rtqa.product_reply(assistant, rtqa.WARM_UP_QUESTION).seconds * 1000
        latencies = [rtqa.product_reply(assistant, q["question"]).seconds * 1000 for q in questions]
        figures[label] = {
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "warm_up_ms": round(warm_up, 1),
        }
    table = assistant.retriever.lexical
    figures["sentences"] = len(table)
    figures["vectors_mib"] = round(table.embeddings.nbytes / 2**20, 2)
    figures["process_max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def baseline_latencies(articles_path: Path, questions: list[dict]) -> dict:
    run = rtqa.SystemRun("baseline")
    with tempfile.TemporaryDirectory(prefix="coldstart-baseline-", ignore_cleanup_errors=True) as folder:
        embed_model, vector_store = rtqa.baseline_setup(folder)
        retriever = rtqa.baseline_ingest(embed_model, vector_store, articles_path, run)
        run.warm_up_ms = rtqa.baseline_reply(retriever, rtqa.WARM_UP_QUESTION).seconds * 1000
        latencies = [rtqa.baseline_reply(retriever, q["question"]).seconds * 1000 for q in questions]
    return {"p50_ms": round(percentile(latencies, 0.50), 1), "p95_ms": round(percentile(latencies, 0.95), 1)}


# --- report -------------------------------------------------------------------------


def format_table(result: dict) -> str:
    cold, warm, base = result["cold"], result["warm"], result.get("baseline")
    rows = [
        ("qa ask one-shot, first after ingest (builds side index), s", cold["ask_after_ingest_s"], "≤ 5"),
        ("qa ask one-shot, side index saved (median of runs), s", cold["ask_saved_s"], "≤ 5"),
        ("qa serve ready (HTTP 200), s", cold["serve_ready_s"], "≤ 15"),
        ("qa serve resident memory when ready, MiB", cold["serve_rss_mib"], ""),
        ("crash watcher made at start-up (median / max), ms", f"{cold['crash_watch_ms']['median_ms']} / {cold['crash_watch_ms']['max_ms']}", "< 300"),
        ("warm ask p50, ms", warm["ask"]["p50_ms"], "≤ 50"),
        ("warm ask p95, ms", warm["ask"]["p95_ms"], "≤ 150"),
        ("warm ask p50 without query encoding, ms", warm["ask_without_query_encoding"]["p50_ms"], ""),
        ("warm ask p95 without query encoding, ms", warm["ask_without_query_encoding"]["p95_ms"], ""),
        ("baseline retriever p50, ms", base["p50_ms"] if base else "skipped", ""),
        ("baseline retriever p95, ms", base["p95_ms"] if base else "skipped", ""),
        ("sentences / raw vectors MiB", f"{warm['sentences']:,} / {warm['vectors_mib']}", ""),
        ("bench process max RSS, MiB", warm["process_max_rss_mib"], ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'measure':<{width}} | {'value':>12} | target |", f"|{'-' * (width + 2)}|{'-' * 14}|--------|"]
    lines += [f"| {name:<{width}} | {value!s:>12} | {target:<6} |" for name, value, target in rows]
    lines.append("")
    lines.append("Import time of a one-shot `qa ask` by top-level package (python -X importtime, s):")
    lines.append("  " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in result["imports"]))
    return "\n".join(lines)


def run(data_dir: Path, store: Optional[Path], repeats: int, baseline: bool) -> dict:
    articles_path, _, questions = rtqa.load_dev_set(data_dir, None)
    with tempfile.TemporaryDirectory(prefix="coldstart-store-", ignore_cleanup_errors=True) as scratch:
        store = store or Path(scratch) / "store"
        log(f"ingest into {store}: {ingest(store, articles_path)}")
        ask = QA_CLI + ["--store", str(store), "ask", QUESTION]
        drop_side_index(store)  # as right after an ingest: the first ask builds and saves it
        after_ingest, answer = time_to_first_line(ask)
        log(f"first ask {after_ingest:.2f}s: {answer[:80]}")
        saved = [time_to_first_line(ask)[0] for _ in range(repeats)]
        serve = [serve_ready(store) for _ in range(repeats)]
        imports = import_breakdown(ask)
        watch = crash_watch_ms()
        log("warm asks")
        warm = warm_latencies(store, questions)
    result = {
        "questions": len(questions),
        "cold": {
            "ask_after_ingest_s": round(after_ingest, 2),
            "ask_saved_s": round(percentile(saved, 0.5), 2),
            "ask_saved_runs_s": [round(s, 2) for s in saved],
            "serve_ready_s": round(percentile([s for s, _ in serve], 0.5), 2),
            "serve_ready_runs_s": [round(s, 2) for s, _ in serve],
            "serve_rss_mib": round(percentile([m for _, m in serve], 0.5), 1),
            "crash_watch_ms": watch,
        },
        "imports": [(name, round(seconds, 3)) for name, seconds in imports],
        "warm": warm,
    }
    if baseline:
        log("baseline: ingest and retrieve")
        result["baseline"] = baseline_latencies(articles_path, questions)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--store", type=Path, help="use this store (the dev corpus is ingested into it if missing)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per cold measure (median)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the LlamaIndex baseline (its ingest takes minutes)")
    add_json_flag(parser)
    args = parser.parse_args(argv)
    if data_missing(args.data):
        return 2
    start = start_run()
    measured = quietly(lambda: run(args.data, args.store, args.repeats, not args.no_baseline))
    result = envelope("coldstart", start, args, **measured)
    finish(result, report(result, "Cold start and warm ask on the RealTimeQA dev corpus", format_table(result)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
