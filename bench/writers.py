"""Concurrent writers: two real ``qa ingest`` processes on one embedded store, started at random
moments, many times; counts the stores they leave damaged.

Each trial builds a fresh store holding the sample articles (one ``qa ingest``), then starts two
``qa --store DIR ingest`` processes, each with its own half of ``--articles`` RealTimeQA dev
articles, the second after a delay drawn uniformly from 0 to ``--spread`` seconds (so it starts
before the first, while it loads the model, while it embeds, while it writes, or after it). Then,
straight from Chroma (``index.store.Store``, no model):

- damaged: a vector Chroma cannot return (``Error getting embedding``, what two writers at once
  leave behind), or a ready article without all its sentences (``Store.damage``);
- lost: an article of either half that is not stored and ready;
- failed: an ingest that exited non-zero;
- waited: the second process said it was waiting for the store.

``--unlocked`` runs the same trials with the store lock switched off in both ingest processes
(``index.lock.acquire`` doing nothing: ``qa`` as it was before the lock), to show what the count
catches.

Run from the repository root:

    .venv/bin/python bench/writers.py                       # 20 trials of 2 x 25 articles
    .venv/bin/python bench/writers.py --trials 3 --articles 10
    .venv/bin/python bench/writers.py --unlocked --trials 3   # without the lock, for comparison
    .venv/bin/python bench/writers.py --json                # only the JSON line

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, ROOT, add_json_flag, child_env, envelope, finish, load_jsonl, logger, report, start_run,
)

QA = ROOT / ".venv" / "bin" / "qa"
SAMPLE_DIR = ROOT / "data" / "sample"
UNLOCKED_INGEST = r"""
import sys
from index import lock
lock.acquire = lambda *args, **kwargs: None
from qa.cli import main
sys.exit(main(sys.argv[1:]))
"""
log = logger("writers")


def ingest_command(store: Path, path: Path, unlocked: bool, wait: float) -> list[str]:
    # --wait: on a loaded machine the first ingest can outlast the default 300 s wait of the second
    options = ["--store", str(store), "--wait", str(wait), "ingest", str(path)]
    if unlocked:
        return [sys.executable, "-c", UNLOCKED_INGEST, *options]
    return [str(QA), *options]


def trial(work: Path, halves: list[Path], expected: set[str], delay: float, unlocked: bool, timeout: float) -> dict:
    from index.store import Store

    store = work / "store"
    done = subprocess.run([str(QA), "--store", str(store), "ingest", str(SAMPLE_DIR)], capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"the sample ingest failed: {done.stderr[-500:]}")
    started = time.perf_counter()
    first = subprocess.Popen(ingest_command(store, halves[0], unlocked, timeout), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
    time.sleep(delay)
    second = subprocess.Popen(ingest_command(store, halves[1], unlocked, timeout), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
    outputs = [process.communicate(timeout=timeout) for process in (first, second)]
    seconds = time.perf_counter() - started
    opened = Store(str(store))
    damage = opened.damage_in_child()  # in a child: Chroma can crash or hang on what unlocked writers leave
    failure = damage.failure if damage else ""
    ready = set() if failure else {row["doc_id"] for row in opened.article_list()}  # (reading it here would crash or hang too)
    return {
        "delay_s": round(delay, 2),
        "seconds": round(seconds, 1),
        "exit_codes": [first.returncode, second.returncode],
        "failed": sum(process.returncode != 0 for process in (first, second)),
        "errors": [err.strip().splitlines()[-1] for process, (_, err) in zip((first, second), outputs) if process.returncode != 0 and err.strip()],
        "waited": any("waiting for the store" in err for _, err in outputs),
        "damaged": damage is not None,
        "unreadable_vectors": damage.unreadable if damage else 0,
        "damaged_articles": len(damage.articles) if damage else 0,
        "index_failure": failure,  # Chroma crashed or hung reading the vector index: articles not counted
        "lost_articles": None if failure else len(expected - ready),
        "articles": None if failure else len(ready),
    }


def damage_text(measured: dict) -> str:
    if measured["index_failure"]:
        return f"DAMAGED (Chroma {measured['index_failure']} while reading the vector index)"
    return f"DAMAGED ({measured['unreadable_vectors']} vectors)" if measured["damaged"] else "sound"


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--articles", type=int, default=25, help="dev articles per ingest process (default 25)")
    parser.add_argument("--spread", type=float, default=8.0, help="the second ingest starts 0 to this many seconds after the first (default 8)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--unlocked", action="store_true", help="switch the store lock off in the ingest processes (qa before the lock)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="RealTimeQA dev folder (articles.jsonl)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one ingest may take")
    add_json_flag(parser)
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    source = args.data / "articles.jsonl"
    if not source.is_file():
        print(f"error: {source} not found (use --data DIR)", file=sys.stderr)
        return 2
    articles = load_jsonl(source)
    if args.trials < 1 or not 1 <= args.articles <= len(articles) // 2:
        print(f"error: --trials must be at least 1 and --articles from 1 to {len(articles) // 2}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    start = start_run()
    trials = []
    with tempfile.TemporaryDirectory(prefix="qa-writers-", ignore_cleanup_errors=True) as tmp:
        halves = []
        for h in (0, 1):
            half = articles[h * args.articles : (h + 1) * args.articles]
            path = Path(tmp) / f"half_{h}.jsonl"
            path.write_text("".join(json.dumps(a) + "\n" for a in half), encoding="utf-8")
            halves.append(path)
        expected = {str(a["id"]) for a in articles[: 2 * args.articles]}
        for number in range(1, args.trials + 1):
            work = Path(tmp) / f"trial-{number}"
            work.mkdir()
            delay = rng.uniform(0, args.spread)
            measured = trial(work, halves, expected, delay, args.unlocked, args.timeout)
            trials.append(measured)
            log(f"trial {number}/{args.trials}: second ingest after {delay:.2f}s; "
                f"{damage_text(measured)}, {measured['lost_articles']} lost, exits {measured['exit_codes']}{', waited' if measured['waited'] else ''}")
    summary = {
        "trials": len(trials),
        "corrupted_stores": sum(t["damaged"] for t in trials),
        "stores_chroma_failed_on": sum(bool(t["index_failure"]) for t in trials),
        "stores_with_lost_articles": sum((t["lost_articles"] or 0) > 0 for t in trials),
        "failed_ingests": sum(t["failed"] for t in trials),
        "trials_where_the_second_waited": sum(t["waited"] for t in trials),
        "unreadable_vectors_total": sum(t["unreadable_vectors"] for t in trials),
    }
    result = envelope("writers", start, args, summary=summary, trial_results=trials)
    title = (
        f"Concurrent writers: {args.trials} trials of two `qa ingest` processes x {args.articles} RealTimeQA dev articles on one "
        f"embedded store, the second started 0-{args.spread:g}s after the first (seed {args.seed})"
        f"{', LOCK SWITCHED OFF' if args.unlocked else ''}"
    )
    body = "\n".join([
        f"corrupted stores:            {summary['corrupted_stores']} of {summary['trials']}",
        f"  of them, Chroma crashed or hung reading: {summary['stores_chroma_failed_on']}",
        f"stores with lost articles:   {summary['stores_with_lost_articles']}",
        f"failed ingests:              {summary['failed_ingests']}",
        f"second ingest waited:        {summary['trials_where_the_second_waited']}",
        f"unreadable vectors in all:   {summary['unreadable_vectors_total']}",
    ])
    finish(result, report(result, title, body), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
