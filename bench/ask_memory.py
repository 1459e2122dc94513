"""Memory of a real ``qa serve`` under ``/ask`` questions: does it grow without bound?

Starts ``qa serve`` on a store of the sample articles (``--store DIR`` to use another), then sends
``--questions`` (default 200) questions one after the other through ``gradio_client``, each one
new to the server (its answer cache and query-vector cache cannot simply hand back an earlier one):

- plain: a question of the team's question set, numbered (``… (asked 17)``);
- long: one of those questions padded to the length cap (``qa.assistant.MAX_QUESTION_CHARS``);
- history: a new question after the longest history allowed (``MAX_HISTORY`` earlier questions,
  each at the length cap). The history is the same each time: the server answers each earlier
  question of a new history (20 answers of questions at the cap cost about 40 s on a loaded
  2-core machine), and the first one pays that.

The three kinds take turns. The server's resident memory (RSS, from ``/proc``) is read before the
first question and after every ``--every`` (default 50) of them.

    .venv/bin/python bench/ask_memory.py
    .venv/bin/python bench/ask_memory.py --questions 20 --every 10   # a quick look
    .venv/bin/python bench/ask_memory.py --json                      # only the JSON line

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import ROOT, add_json_flag, child_env, envelope, finish, load_jsonl, logger, report, resident_mib, serving, start_run  # noqa: E402

from qa.assistant import MAX_HISTORY, MAX_QUESTION_CHARS  # noqa: E402

SAMPLE_DIR = ROOT / "data" / "sample"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
KINDS = ("plain", "long", "history")
log = logger("ask_memory")


def at_the_cap(text: str) -> str:
    """``text`` padded with words to exactly the question length cap."""
    padded = text + " Please answer from the articles" * (MAX_QUESTION_CHARS // 30)
    return padded[:MAX_QUESTION_CHARS]


def question(number: int, asked: list[str]) -> tuple[str, str, list[str]]:
    """The ``number``-th question to send: (kind, question, history), the question new each time."""
    kind = KINDS[number % len(KINDS)]
    text = f"{asked[number % len(asked)]} (asked {number})"
    if kind == "long":
        return kind, at_the_cap(text), []
    if kind == "history":
        return kind, text, [at_the_cap(f"{asked[i % len(asked)]} (earlier {i})") for i in range(MAX_HISTORY)]
    return kind, text, []


def measure(store: Path, total: int, every: int, timeout: float) -> dict:
    from gradio_client import Client

    asked = [row["question"] for row in load_jsonl(QUESTIONS) if not row.get("history")]
    with serving(store) as served:
        client = Client(served.url, verbose=False, download_files=False, analytics_enabled=False)
        pid = served.process.pid
        readings = [{"questions": 0, "rss_mib": round(resident_mib(pid), 1)}]
        log(f"qa serve ready in {served.ready_s:.1f}s, {readings[0]['rss_mib']} MiB")
        seconds = {kind: 0.0 for kind in KINDS}
        for number in range(1, total + 1):
            kind, text, history = question(number, asked)
            started = time.perf_counter()
            reply = client.submit(text, history, api_name="/ask").result(timeout=timeout)
            seconds[kind] += time.perf_counter() - started
            if "citations" not in reply:
                raise RuntimeError(f"question {number} ({kind}) got no answer: {json.dumps(reply)[:300]}")
            if number % every == 0 or number == total:
                readings.append({"questions": number, "rss_mib": round(resident_mib(pid), 1)})
                log(f"after {number} questions: {readings[-1]['rss_mib']} MiB")
    per_kind = {kind: sum(1 for n in range(1, total + 1) if KINDS[n % len(KINDS)] == kind) for kind in KINDS}
    return {
        "readings": readings,
        "growth_mib": round(readings[-1]["rss_mib"] - readings[0]["rss_mib"], 1),
        "growth_second_half_mib": round(readings[-1]["rss_mib"] - readings[len(readings) // 2]["rss_mib"], 1),
        "mean_seconds": {kind: round(seconds[kind] / per_kind[kind], 3) for kind in KINDS if per_kind[kind]},
    }


def format_table(measured: dict) -> str:
    lines = ["| questions sent | server RSS MiB | since start MiB |", "|---:|---:|---:|"]
    first = measured["readings"][0]["rss_mib"]
    for reading in measured["readings"]:
        lines.append(f"| {reading['questions']} | {reading['rss_mib']:,.1f} | {reading['rss_mib'] - first:+,.1f} |")
    means = ", ".join(f"{kind} {value:.2f}s" for kind, value in measured["mean_seconds"].items())
    lines += ["", f"mean seconds per question: {means}"]
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=200, help="questions to send (default 200)")
    parser.add_argument("--every", type=int, default=50, help="read the server's memory after every N questions (default 50)")
    parser.add_argument("--store", type=Path, help="serve this store (default: a temporary one holding the sample articles)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one question may take")
    add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if args.questions < 1 or args.every < 1:
        print("error: --questions and --every must be at least 1", file=sys.stderr)
        return 2
    start = start_run()
    with tempfile.TemporaryDirectory(prefix="qa-ask-memory-") as tmp:
        store = args.store or Path(tmp) / "store"
        if args.store is None:
            done = subprocess.run([sys.executable, "-m", "qa.cli", "--store", str(store), "ingest", str(SAMPLE_DIR)],
                                  capture_output=True, text=True, env=child_env(), cwd=ROOT)
            if done.returncode != 0:
                print(f"error: ingesting the samples failed: {done.stderr[-500:]}", file=sys.stderr)
                return 1
        measured = measure(store, args.questions, args.every, args.timeout)
    result = envelope("ask_memory", start, args, **measured)
    title = (f"Memory of `qa serve` over {args.questions} /ask questions (plain, at the {MAX_QUESTION_CHARS:,}-character cap, "
             f"and with {MAX_HISTORY} earlier questions at the cap, in turn)")
    finish(result, report(result, title, format_table(measured)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
