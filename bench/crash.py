"""Crash safety: real ``qa ingest`` processes killed with SIGKILL while they write, then a restart.

The store writes each batch of articles in three steps (records marked ``writing``, the
sentences, records marked ``ready``); opening it (``Assistant(store=...)``) drops what a
crash left half-written (``Assistant.repaired``), and re-running the ingest skips the
articles already stored whole (same content hash) and writes the rest.

The corpus is the RealTimeQA dev set (``../shared/eval/realtimeqa-dev/``, 100 CNN articles).
A base store is built by a real ``qa ingest`` of its first ``--batch`` articles (that run's
wall time also calibrates when a batch ingest ends, and the writes it makes, counted as the
on-write trials count them, how many writes a batch ingest makes). Then each trial:

1. writes a batch of ``--batch`` further articles under fresh ids (``c03-rtqa-…``), so every
   trial adds new articles, and starts ``.venv/bin/qa --store DIR ingest BATCH``;
2. kills it with SIGKILL. Even trials ("timed") kill after a delay drawn uniformly between
   20% and 100% of the calibrated ingest time: most land while a batch is being embedded.
   Odd trials ("on-write") kill inside a write: ``Store.write_articles`` first writes the
   batch's article records marked ``writing`` and marks them ``ready`` only after all their
   sentences are in, so the store holds records marked ``writing`` exactly while a write is
   under way. The driver polls for them (every 5 ms, reading Chroma's SQLite file read-only
   and without locks, so the writer is never held up) and kills within 0-30 ms of their
   appearing, at the first write, the second, … in turn (cycling through as many writes as
   the calibrating ingest made);
3. a fresh process opens the store through the product (``qa.Assistant``; the constructor
   runs ``Store.repair``) and measures, straight from Chroma:
   - articles stored before the kill that are lost or changed (fingerprint of the record's
     content hash and sentence count, and of every stored sentence: node id, span, text);
   - half-written articles repaired (dropped) and how long opening + repair took;
   - articles of the killed batch that are ready and complete (sentence count as
     ``index.ingest.prepare`` splits the article);
   - inconsistencies: records not ``ready`` after the repair, sentences without a ready
     record, ready records whose sentence count differs from the rows, duplicated sentences
     (same article and position, or same span), stored spans whose text differs from the
     article text there;
   - the side index (``Retriever.lexical``: sentence table + BM25) has exactly Chroma's
     sentence ids;
   - ``--questions`` dev questions are asked; every citation must be a ready article's text at
     the cited span;
4. that process then re-runs the ingest of the same batch (``Assistant.ingest``, as a user
   re-running ``qa ingest`` would) and checks: every batch article ready, the ones already
   whole reported unchanged and the rest added, the same consistency checks, side index equal.

Run from the repository root:

    .venv/bin/python bench/crash.py                    # 10 trials of 20 articles, about 10-15 min on 2 busy cores
    .venv/bin/python bench/crash.py --trials 2         # quick look
    .venv/bin/python bench/crash.py --seed 7 --batch 40
    .venv/bin/python bench/crash.py --json             # only the JSON line
    .venv/bin/python bench/crash.py --store DIR        # keep the store (default: a temporary folder)

The last line printed is always one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    DEFAULT_DATA, ROOT, add_json_flag, child_env, data_missing, envelope, finish, json_from_process,
    load_jsonl, logger, percentile, quietly, report, start_run,
)

QA = ROOT / ".venv" / "bin" / "qa"
KILL_WINDOW = (0.2, 1.0)  # share of the calibrated ingest time within which a timed kill is drawn
ON_WRITE_JITTER = 0.03  # seconds after a write's records appear within which an on-write kill lands
POLL = 0.005  # seconds between looks at the store


log = logger("crash")


# --- run in a fresh process: open the store, measure, re-ingest -----------------------


def read_store(store) -> dict:
    """Every article record and sentence row straight from Chroma, and what is wrong with them."""
    records: dict[str, tuple[str, dict]] = {}
    for doc_id, (text, meta) in store._iter_rows(store.articles, ["documents", "metadatas"]):
        records[doc_id] = (text, meta or {})
    node_ids: list[str] = []
    rows: dict[str, list[tuple]] = {}
    for node_id, text, meta in store.iter_sentences():
        node_ids.append(node_id)
        rows.setdefault(meta.get("doc_id", ""), []).append((node_id, meta.get("position"), meta.get("start"), meta.get("end"), text))
    ready = {doc_id for doc_id, (_, meta) in records.items() if meta.get("state") == "ready"}
    duplicated = len(node_ids) - len(set(node_ids))
    count_mismatch, bad_spans = [], 0
    for doc_id, doc_rows in rows.items():
        duplicated += len(doc_rows) - len({row[1] for row in doc_rows})  # same position twice
        duplicated += len(doc_rows) - len({(row[2], row[3]) for row in doc_rows})  # same span twice
        text = records.get(doc_id, ("", {}))[0] or ""
        bad_spans += sum(text[row[2] : row[3]] != row[4] for row in doc_rows)
    for doc_id in ready:
        if len(rows.get(doc_id, [])) != records[doc_id][1].get("sentences"):
            count_mismatch.append(doc_id)
    fingerprints = {}
    for doc_id in ready:
        digest = hashlib.sha1(f"{records[doc_id][1].get('content_hash')}|{records[doc_id][1].get('sentences')}".encode())
        for node_id, position, start, end, text in sorted(rows.get(doc_id, []), key=lambda row: row[0]):
            digest.update(f"|{node_id}:{position}:{start}:{end}:".encode() + hashlib.sha1(text.encode()).digest())
        fingerprints[doc_id] = digest.hexdigest()[:16]
    return {
        "ready": ready,
        "rows": {doc_id: len(doc_rows) for doc_id, doc_rows in rows.items()},
        "node_ids": set(node_ids),
        "figures": {
            "articles_ready": len(ready),
            "sentences": len(node_ids),
            "records_not_ready": len(records) - len(ready),
            "orphan_sentences": sum(len(doc_rows) for doc_id, doc_rows in rows.items() if doc_id not in ready),
            "count_mismatches": len(count_mismatch),
            "duplicated_sentences": duplicated,
            "bad_spans": bad_spans,
        },
        "fingerprints": fingerprints,
    }


def side_index_figures(assistant, seen: dict) -> dict:
    """The side index (sentence table + BM25) against Chroma's sentence ids."""
    lexical = assistant.retriever.lexical
    ids = list(lexical.node_ids)
    return {
        "side_rows": len(ids),
        "side_equal": len(ids) == len(seen["node_ids"]) and set(ids) == seen["node_ids"],
    }


def ask_figures(assistant, questions: list[str]) -> dict:
    """Ask the questions; every citation must be a ready article's exact text at its span."""
    answered, citations, bad = 0, 0, 0
    for question in questions:
        answer = assistant.ask(question)
        answered += bool(answer.citations)
        for citation in answer.citations:
            citations += 1
            article = assistant.store.article(citation.doc_id)
            if article is None or article.text[citation.start : citation.end] != citation.text:
                bad += 1
    return {"asked": len(questions), "answered": answered, "citations": citations, "bad_citations": bad}


def check_step(store_dir: str, batch_path: Optional[Path], questions: list[str]) -> dict:
    """After a kill: open the store as the product does (repairing it), measure, re-ingest."""
    from index.articles import Article, load_file
    from index.ingest import prepare
    from qa import Assistant

    started = time.perf_counter()
    assistant = Assistant(store=store_dir)
    open_s = time.perf_counter() - started
    seen = read_store(assistant.store)
    result: dict = {"open_repair_s": round(open_s, 3), "repaired": len(assistant.repaired), **seen["figures"]}
    result["fingerprints"] = seen["fingerprints"]
    if batch_path is None:
        return result
    expected = {item.doc_id: len(prepare(item)) for item in load_file(batch_path) if isinstance(item, Article)}
    whole = {doc_id for doc_id in expected if doc_id in seen["ready"] and seen["rows"].get(doc_id) == expected[doc_id]}
    result.update(
        batch=len(expected),
        batch_ready=len(expected.keys() & seen["ready"]),
        batch_whole=len(whole),
        repaired_in_batch=len(set(assistant.repaired) & expected.keys()),
        repaired_outside_batch=len(set(assistant.repaired) - expected.keys()),
        **side_index_figures(assistant, seen),
        **ask_figures(assistant, questions),
    )
    started = time.perf_counter()
    report = assistant.ingest([batch_path])
    result["reingest_s"] = round(time.perf_counter() - started, 2)
    after = read_store(assistant.store)
    counts = report.counts()
    result["reingest"] = {
        **counts,
        **after["figures"],
        **side_index_figures(assistant, after),
        "batch_whole": sum(doc_id in after["ready"] and after["rows"].get(doc_id) == n for doc_id, n in expected.items()),
    }
    r = result["reingest"]
    result["reingest_ok"] = (
        counts["unchanged"] == len(whole)
        and counts["added"] == len(expected) - len(whole)
        and counts["replaced"] == 0
        and counts["skipped"] == 0
        and r["batch_whole"] == len(expected)
        and r["records_not_ready"] == r["orphan_sentences"] == r["count_mismatches"] == r["duplicated_sentences"] == r["bad_spans"] == 0
        and r["side_equal"]
    )
    result["fingerprints_after"] = after["fingerprints"]
    return result


# --- the driver: ingest processes to kill, checks in fresh processes ------------------


def records_writing(store_dir: Path) -> Optional[int]:
    """How many article records the store holds marked ``writing``: nonzero exactly while a
    ``Store.write_articles`` is under way (its first step marks them, its last marks them
    ``ready``). Read from Chroma's SQLite file read-only with no locks (``immutable``), so the
    writer is never held up; None when the read caught the file being rewritten."""
    from index.store import WRITING

    path = store_dir / "chroma.sqlite3"
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            query = "SELECT count(*) FROM embedding_metadata WHERE key = 'state' AND string_value = ?"
            return db.execute(query, (WRITING,)).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:  # torn read, or Chroma has not made its tables yet
        return None


def watch_writes(process: subprocess.Popen, store_dir: Path, target: Optional[int], timeout: float) -> int:
    """Poll the store while ``process`` runs, counting the writes that begin (records marked
    ``writing`` appear after none were); return as soon as write number ``target`` has begun,
    else when the process ends: the number of writes begun."""
    started = time.perf_counter()
    writes, idle = 0, False
    while process.poll() is None and time.perf_counter() - started < timeout:
        count = records_writing(store_dir)
        if count == 0:
            idle = True
        elif count and idle:
            writes, idle = writes + 1, False
            if writes == target:
                break
        time.sleep(POLL)
    return writes


def write_batch(path: Path, records: list[dict], prefix: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({**record, "id": f"{prefix}{record['id']}"}, ensure_ascii=False) + "\n")


def ingest_command(store_dir: Path, batch: Path) -> list[str]:
    return [str(QA), "--store", str(store_dir), "ingest", "--json", str(batch)]


def calibrate(store_dir: Path, base: Path, timeout: int) -> tuple[float, int]:
    """Build the base store with a real, unkilled ``qa ingest``; its wall time (model load
    included) and the writes it made are those expected of a batch ingest of the same size."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(ingest_command(store_dir, base), stdout=subprocess.PIPE, stderr=errors,
                                   text=True, env=child_env(), cwd=ROOT)
        writes = watch_writes(process, store_dir, None, timeout)
        out, _ = process.communicate(timeout=timeout)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"base ingest failed: {errors.read()[-2000:]}")
    log(f"base store: {out.strip().splitlines()[-1]} in {wall:.1f}s, {writes} writes")
    return wall, writes


def killed_ingest(store_dir: Path, batch: Path, delay: float, target_write: Optional[int], rng: random.Random,
                  timeout: int) -> dict:
    """Start ``qa ingest`` on the batch and SIGKILL it after ``delay`` seconds, or (on-write,
    ``target_write`` given) once that write has begun. Returns when and how it ended."""
    process = subprocess.Popen(ingest_command(store_dir, batch), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=child_env(), cwd=ROOT)
    started = time.perf_counter()
    killed_at, writes = None, None
    try:
        if target_write is None:
            while process.poll() is None and time.perf_counter() - started < delay:
                time.sleep(POLL * 4)
        else:
            writes = watch_writes(process, store_dir, target_write, timeout)
            time.sleep(rng.uniform(0, ON_WRITE_JITTER))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_at = time.perf_counter() - started
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
    return {
        "kill_s": round(killed_at, 2) if killed_at is not None else None,
        "ended_s": round(time.perf_counter() - started, 2),  # an unkilled run: about its duration (polled)
        "exit": process.returncode,
        "killed": process.returncode == -signal.SIGKILL,
        "target_write": target_write,
        "writes_begun": writes,  # on-write: the writes seen begun before the kill
    }


def run_check(store_dir: Path, batch: Optional[Path], data_dir: Path, questions: int, timeout: int) -> dict:
    """The check step in a fresh process (as a restarted product would open the store)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", "check", "--store", str(store_dir),
               "--data", str(data_dir), "--questions", str(questions)]
    if batch is not None:
        command += ["--batch-file", str(batch)]
    return json_from_process(command, timeout, "check step")


def kill_phase(check: dict) -> str:
    """Where the kill landed, judged by what the store held afterwards."""
    if check["repaired_in_batch"]:
        return "mid-write"
    if check["batch_ready"] == check["batch"]:
        return "after last write"
    if check["batch_ready"]:
        return "between writes"
    return "before first write"


def run_trials(store_dir: Path, work: Path, data_dir: Path, trials: int, batch_size: int, seed: int,
               questions: int, timeout: int) -> dict:
    corpus = load_jsonl(data_dir / "articles.jsonl")
    if len(corpus) < 2 * batch_size:
        raise ValueError(f"--batch {batch_size} needs at least {2 * batch_size} articles, {data_dir} has {len(corpus)}")
    rest = corpus[batch_size:]
    base = work / "base.jsonl"
    write_batch(base, corpus[:batch_size], "")
    expected_s, writes_per_batch = calibrate(store_dir, base, timeout)
    before = run_check(store_dir, None, data_dir, questions, timeout)
    log(f"base check: {before['articles_ready']} articles, {before['sentences']} sentences, "
        f"open {before['open_repair_s']:.2f}s, {before['repaired']} repaired")
    fingerprints = before.pop("fingerprints")
    rng = random.Random(seed)
    rows = []
    for trial in range(trials):
        batch = work / f"batch-{trial:02d}.jsonl"
        start = (trial * batch_size) % len(rest)
        write_batch(batch, [rest[(start + i) % len(rest)] for i in range(batch_size)], f"c{trial:02d}-")
        on_write = trial % 2 == 1
        delay = rng.uniform(*KILL_WINDOW) * expected_s  # drawn for every trial: a seed gives the same timed kills
        target_write = 1 + (trial // 2) % max(1, writes_per_batch) if on_write else None
        kill = killed_ingest(store_dir, batch, delay, target_write, rng, timeout)
        check = run_check(store_dir, batch, data_dir, questions, timeout)
        after_kill, after_reingest = check.pop("fingerprints"), check.pop("fingerprints_after")
        lost = [doc_id for doc_id in fingerprints if doc_id not in after_kill]
        changed = [doc_id for doc_id in fingerprints if doc_id in after_kill and after_kill[doc_id] != fingerprints[doc_id]]
        reingest_changed = [doc_id for doc_id in after_kill if after_reingest.get(doc_id) != after_kill[doc_id]]
        row = {
            "trial": trial,
            "mode": "on-write" if on_write else "timed",
            "delay_s": None if on_write else round(delay, 2),
            **kill,
            "phase": kill_phase(check) if kill["killed"] else "ended before the kill",
            "before": len(fingerprints),
            "lost": len(lost),
            "changed": len(changed),
            "changed_by_reingest": len(reingest_changed),
            **check,
        }
        if lost or changed:
            row["lost_ids"], row["changed_ids"] = lost[:10], changed[:10]
        rows.append(row)
        fingerprints = after_reingest
        ended = f"killed at {row['kill_s']}s" if row["killed"] else f"ended by itself within {row['ended_s']}s"
        log(f"trial {trial} ({row['mode']}): {ended} ({row['phase']}), repaired {row['repaired']}, "
            f"batch ready {row['batch_ready']}/{row['batch']}, lost {row['lost']}, changed {row['changed']}, "
            f"re-ingest {'ok' if row['reingest_ok'] else 'NOT OK'} ({row['reingest']['added']} added, {row['reingest']['unchanged']} unchanged)")
    return {"expected_ingest_s": round(expected_s, 1), "writes_per_batch": writes_per_batch, "base": before, "trials": rows}


def mismatches(row: dict) -> int:
    """Every inconsistency a trial found after the repair (expected 0)."""
    return (row["records_not_ready"] + row["orphan_sentences"] + row["count_mismatches"] + row["duplicated_sentences"]
            + row["bad_spans"] + (not row["side_equal"]) + row["bad_citations"] + row["repaired_outside_batch"]
            + row["changed_by_reingest"])


def summarize(rows: list[dict]) -> dict:
    repair_s = [row["open_repair_s"] for row in rows]
    with_repair = [row["open_repair_s"] for row in rows if row["repaired"]]
    return {
        "trials": len(rows),
        "killed": sum(row["killed"] for row in rows),
        "phases": dict(Counter(row["phase"] for row in rows)),
        "on_write_trials": sum(row["mode"] == "on-write" for row in rows),
        "on_write_mid_write": sum(row["mode"] == "on-write" and row["phase"] == "mid-write" for row in rows),
        "articles_before_kills": sum(row["before"] for row in rows),
        "lost": sum(row["lost"] for row in rows),
        "changed": sum(row["changed"] for row in rows),
        "repaired": sum(row["repaired"] for row in rows),
        "batch_articles_whole_after_kill": sum(row["batch_whole"] for row in rows),
        "batch_articles": sum(row["batch"] for row in rows),
        "open_repair_p50_s": percentile(repair_s, 0.5),
        "open_repair_max_s": max(repair_s) if repair_s else 0.0,
        "open_with_repair_p50_s": percentile(with_repair, 0.5),
        "mismatches": sum(mismatches(row) for row in rows),
        "citations_checked": sum(row["citations"] for row in rows),
        "bad_citations": sum(row["bad_citations"] for row in rows),
        "reingest_ok": sum(row["reingest_ok"] for row in rows),
        "reingest_s_p50": percentile([row["reingest_s"] for row in rows], 0.5),
    }


def format_tables(rows: list[dict], summary: dict) -> str:
    lines = [
        "| trial | mode | kill s | landed | before | lost | changed | repaired | batch ready | open+repair s | mismatches | side index = Chroma | citations ok | re-ingest (added/unchanged) |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        r = row["reingest"]
        mode = f"{row['mode']} (write {row['target_write']})" if row["target_write"] else row["mode"]
        lines.append(
            f"| {row['trial']} | {mode} | {row['kill_s'] if row['kill_s'] is not None else '-'} | {row['phase']} "
            f"| {row['before']} | {row['lost']} | {row['changed']} | {row['repaired']} | {row['batch_ready']}/{row['batch']} "
            f"| {row['open_repair_s']:.2f} | {mismatches(row)} | {'yes' if row['side_equal'] else 'NO'} "
            f"| {row['citations'] - row['bad_citations']}/{row['citations']} "
            f"| {'ok' if row['reingest_ok'] else 'NOT OK'} ({r['added']}/{r['unchanged']}) |"
        )
    s = summary
    lines += [
        "",
        "| summary | value |",
        "|---|---:|",
        f"| trials (SIGKILL delivered) | {s['trials']} ({s['killed']}) |",
        f"| where the kills landed | {', '.join(f'{k} {v}' for k, v in sorted(s['phases'].items()))} |",
        f"| on-write kills that landed inside a write (mid-write) | {s['on_write_mid_write']} of {s['on_write_trials']} |",
        f"| articles stored before a kill, lost / changed | {s['lost']} / {s['changed']} of {s['articles_before_kills']:,} |",
        f"| half-written articles repaired on open | {s['repaired']} |",
        f"| killed-batch articles whole and ready after the kill | {s['batch_articles_whole_after_kill']} of {s['batch_articles']} |",
        f"| open + repair s, p50 / max (p50 when something was repaired) | {s['open_repair_p50_s']:.2f} / {s['open_repair_max_s']:.2f} ({s['open_with_repair_p50_s']:.2f}) |",
        f"| inconsistencies after repair (all kinds) | {s['mismatches']} |",
        f"| citations checked against the article text, bad | {s['citations_checked']}, {s['bad_citations']} |",
        f"| re-ingest of the killed batch complete and consistent | {s['reingest_ok']}/{s['trials']} (p50 {s['reingest_s_p50']:.1f}s) |",
    ]
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Kill real ingest processes mid-write and check what a restart finds.")
    parser.add_argument("--trials", type=int, default=10, help="ingest processes to kill (default 10)")
    parser.add_argument("--batch", type=int, default=20, help="articles per batch, and in the base store (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill delays (default 1)")
    parser.add_argument("--questions", type=int, default=3, help="dev questions asked after each repair (default 3)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with articles.jsonl and questions.jsonl")
    parser.add_argument("--store", default=None, help="folder for the store and batches (default: a temporary one, deleted at the end)")
    add_json_flag(parser)
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed to each process")
    parser.add_argument("--step", choices=["check"], help=argparse.SUPPRESS)  # internal: the check in this process
    parser.add_argument("--batch-file", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if data_missing(args.data):
        return 2
    if args.trials < 1 or args.batch < 1:
        print("error: --trials and --batch must be at least 1", file=sys.stderr)
        return 2
    if args.step:
        questions = [q["question"] for q in load_jsonl(args.data / "questions.jsonl") if q.get("answer_in_gold")]
        print(json.dumps(quietly(lambda: check_step(args.store, args.batch_file, questions[: args.questions]))))
        return 0
    if not QA.exists():
        print(f"error: {QA} not found (the product's CLI in the repository's .venv)", file=sys.stderr)
        return 2

    start = start_run()
    with tempfile.TemporaryDirectory(prefix="qa-crash-", ignore_cleanup_errors=True) as tmp:
        work = Path(args.store or tmp)
        store_dir = work / "store"
        if store_dir.exists() and any(store_dir.iterdir()):
            print(f"error: {store_dir} is not empty (the benchmark builds its own store)", file=sys.stderr)
            return 2
        store_dir.mkdir(parents=True, exist_ok=True)
        measured = run_trials(store_dir, work, args.data, args.trials, args.batch, args.seed, args.questions, args.timeout)
    summary = summarize(measured["trials"])
    result = envelope("crash", start, args, seed=args.seed, batch=args.batch, summary=summary, **measured)
    title = f"Crash safety: {args.trials} real `qa ingest` processes of {args.batch} RealTimeQA dev articles killed with SIGKILL (seed {args.seed})"
    body = format_tables(measured["trials"], summary) + f"\n\ncalibrated ingest time {measured['expected_ingest_s']}s, {measured['writes_per_batch']} writes"
    finish(result, report(result, title, body), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
