"""Load test of the web app's API: concurrent clients ask questions while another process
ingests new articles into the same store.

What runs, all on 127.0.0.1 and all real:

- a ``chroma run`` server on a fresh temporary directory (two processes cannot share an
  embedded store, so the concurrent ingest needs a Chroma server);
- ``qa --chroma-host … serve`` (the console script), which indexes the sample articles on
  its first start, as a user's first ``qa serve`` would;
- one ``gradio_client.Client`` asking every question once, before the load: the
  reference answers (and the cold, single-client latency);
- ``--clients`` threads, each with its own ``gradio_client.Client``, each asking
  ``--questions`` questions drawn (seeded) from the standalone questions of
  eval/questions.jsonl through the app's ``/ask`` API;
- at the same time, ``qa --chroma-host … ingest`` of ``--new-articles`` made-up articles
  in its own process;
- afterwards, a fresh ``Assistant`` in this process on the same Chroma server answers every
  question again: the reference of the store as it is after the ingest.

The ingest starts first; the load starts once its first bulk write is in the store, so the
rest of its writes land during the load. A reply is an error if the call fails or times
out. It is mixed up if its ``question`` differs from the one sent, if its citations are
another question's reference answer, or if its question is one the ingest does not change
(same reference before and after) and its citations differ from that reference. The
ingest does change a few answers legitimately (new sentences shift BM25's term weights):
for those, replies of the state before, after, or in between are counted, not failed.
Latency is per call, as the client sees it, queueing in the app included (the app serves
two requests at a time: ``app.queue(default_concurrency_limit=2)``). The app caches answers
per question until the store changes, so repeated questions are cheaper than the cold pass.

Bounded: every call has a time-out (``--call-timeout``), the whole run a hard deadline
(``--timeout``) after which everything started here is killed; it stops by itself.

Run from the repository root:

    .venv/bin/python bench/load.py                                  # 32 clients x 20 questions + an ingest
    .venv/bin/python bench/load.py --clients 4 --questions 3 --new-articles 0 --embedded   # quick look

``--embedded`` serves from an embedded store directory instead (no Chroma server; no
concurrent ingest then). ``--json`` prints only the JSON line. The last line printed is
always one JSON object with every figure; the exit code is 0 when there were no errors and
no mix-ups.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import (  # noqa: E402
    ROOT, add_json_flag, child_env, envelope, finish, free_port, percentile, report, start_run,
)

BIN = Path(sys.executable).parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
HOST = "127.0.0.1"  # loopback only
NEW_ARTICLES_QUESTION = "How many staff did the Portwell Qestral harbour office hire?"


# --- processes --------------------------------------------------------------------------------


class Processes:
    """Everything this run starts, so that it can all be stopped, whatever happens."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.started: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(), cwd=ROOT)
        process.log_path = self.folder / f"{name}.log"  # type: ignore[attr-defined]
        with self.lock:
            self.started.append(process)
        return process

    def log_tail(self, process: subprocess.Popen, chars: int = 1500) -> str:
        try:
            return process.log_path.read_text(errors="replace")[-chars:]  # type: ignore[attr-defined]
        except OSError:
            return ""

    def stop_all(self) -> None:
        with self.lock:
            processes = list(self.started)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def wait_until(check, process: subprocess.Popen, processes: Processes, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}): {processes.log_tail(process)}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready within {timeout:.0f} s: {processes.log_tail(process)}")


def port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=0.5):
        return True


def app_ready(url: str) -> bool:
    with urllib.request.urlopen(url + "config", timeout=2) as response:
        return response.status == 200


# --- questions and answers --------------------------------------------------------------------


def standalone_questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in rows if not row.get("history")]


def citations_key(reply: dict) -> tuple:
    """What must not differ between two answers to one question: each cited span, in order."""
    return tuple((c["marker"], c["doc_id"], c["start"], c["end"], c["text"]) for c in reply.get("citations", []))


def make_client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def ask(client, question: str, timeout: float) -> dict:
    return client.submit(question, api_name="/ask").result(timeout=timeout)


@dataclass
class Call:
    client: int
    question: str
    seconds: float
    error: str = ""
    reply_question: str = ""
    key: tuple = ()


@dataclass
class Load:
    calls: list[Call] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    not_run: int = 0


def run_load(url: str, plan: list[list[str]], call_timeout: float, deadline: float) -> Load:
    """Each client (a thread with its own Client) asks its questions in turn, no pause."""
    load = Load()
    lock = threading.Lock()
    ready = threading.Barrier(len(plan))

    def client_run(number: int, questions: list[str]) -> None:
        try:
            client = make_client(url)
        except Exception as exc:  # counted, never raised: one client's failure must not hide the others'
            with lock:
                load.calls.extend(Call(number, q, 0.0, error=f"client: {type(exc).__name__}: {exc}") for q in questions)
            ready.abort()
            return
        try:
            ready.wait(timeout=120)  # all clients connected: then the load starts at once
        except threading.BrokenBarrierError:
            pass
        for i, question in enumerate(questions):
            if time.monotonic() > deadline:
                with lock:
                    load.not_run += len(questions) - i
                return
            started = time.perf_counter()
            try:
                reply = ask(client, question, call_timeout)
                call = Call(number, question, time.perf_counter() - started, reply_question=reply.get("question", ""), key=citations_key(reply))
            except Exception as exc:
                call = Call(number, question, time.perf_counter() - started, error=f"{type(exc).__name__}: {str(exc)[:200]}")
            with lock:
                load.calls.append(call)
        try:
            client.close()
        except Exception:
            pass

    load.started = time.time()
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        list(pool.map(client_run, range(len(plan)), plan))
    load.ended = time.time()
    return load


# --- the concurrent ingest --------------------------------------------------------------------


def write_new_articles(path: Path, count: int) -> None:
    """Made-up articles about a harbour that no eval question is about."""
    rng = random.Random(11)
    places = ["harbour office", "ferry terminal", "fish market", "lighthouse", "boat yard", "customs house"]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            place = "harbour office" if i == 0 else rng.choice(places)
            text = (
                f"Portwell Qestral {place} notice {i}\n"
                f"The Portwell Qestral {place} changed its opening hours on day {i}. "
                f"The Portwell Qestral {place} hired {i % 7 + 2} staff for the summer season. "
                f"Visitors praised the new timetable at the {place}. Work on the quay ends in spring."
            )
            handle.write(json.dumps({"id": f"qestral-{i:03d}", "text": text}) + "\n")


@dataclass
class Watch:
    """When the concurrent ingest's articles showed up in the store, seen from outside."""

    first_record: Optional[float] = None
    all_ready: Optional[float] = None


def watch_store(host: str, port: int, expected: int, stop: threading.Event, watch: Watch) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
    articles = client.get_collection("qa_articles")
    baseline = articles.count()
    while not stop.is_set():
        try:
            if watch.first_record is None and articles.count() > baseline:
                watch.first_record = time.time()
            ready = len(articles.get(where={"state": "ready"}, include=[])["ids"])
            if ready >= baseline + expected:
                watch.all_ready = time.time()
                return
        except Exception:
            pass
        stop.wait(0.1)


# --- the run ----------------------------------------------------------------------------------


def run_bench(
    clients: int = 32,
    questions: int = 20,
    new_articles: int = 300,
    embedded: bool = False,
    call_timeout: float = 120.0,
    timeout: float = 900.0,
    seed: int = 6,
    log=lambda message: print(message, file=sys.stderr, flush=True),
) -> dict:
    """Run the whole load test; returns the figures (see ``main`` for the table)."""
    started = time.monotonic()
    deadline = started + timeout
    if embedded:
        new_articles = 0  # an embedded store belongs to one process: nothing can ingest beside the app
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp:
        folder = Path(tmp)
        processes = Processes(folder)
        watchdog = threading.Timer(timeout + 60, lambda: (processes.stop_all(), os._exit(3)))
        watchdog.daemon = True
        watchdog.start()
        try:
            if embedded:
                where = ["--store", str(folder / "store")]
                chroma_port = None
            else:
                chroma_port = free_port(HOST)
                chroma = processes.start("chroma", [str(BIN / "chroma"), "run", "--path", str(folder / "db"), "--host", HOST, "--port", str(chroma_port)])
                wait_until(lambda: port_open(chroma_port), chroma, processes, 60, "chroma run")
                where = ["--chroma-host", HOST, "--chroma-port", str(chroma_port)]
            port = free_port(HOST)
            url = f"http://{HOST}:{port}/"
            log(f"starting qa serve on {url} ({'embedded store' if embedded else f'Chroma server on port {chroma_port}'})")
            server = processes.start("serve", [str(BIN / "qa"), *where, "serve", "--host", HOST, "--port", str(port)])
            wait_until(lambda: app_ready(url), server, processes, 240, "qa serve")
            log(f"ready after {time.monotonic() - started:.1f} s")

            rng = random.Random(seed)
            pool = standalone_questions()
            plan = [[rng.choice(pool) for _ in range(questions)] for _ in range(clients)]
            distinct = sorted({q for qs in plan for q in qs})

            # References: one client, each question once, before the load.
            reference_client = make_client(url)
            before: dict[str, tuple] = {}
            cold: list[float] = []
            for question in distinct:
                t = time.perf_counter()
                before[question] = citations_key(ask(reference_client, question, call_timeout))
                cold.append(time.perf_counter() - t)
            log(f"references for {len(distinct)} questions; cold p50 {percentile(cold, 0.5) * 1000:.0f} ms")

            ingest = None
            watch = Watch()
            stop_watch = threading.Event()
            watcher = None
            if new_articles:
                write_new_articles(folder / "new.jsonl", new_articles)
                watcher = threading.Thread(target=watch_store, args=(HOST, chroma_port, new_articles, stop_watch, watch), daemon=True)
                watcher.start()
                ingest_started = time.time()
                ingest = processes.start("ingest", [str(BIN / "qa"), *where, "ingest", str(folder / "new.jsonl"), "--json"])
                # The ingest spends its first seconds loading the model; the load starts once its
                # first bulk write is in, so that the rest of its writes land during the load.
                wait_until(lambda: watch.first_record is not None, ingest, processes, max(1.0, deadline - time.monotonic()), "qa ingest")
            log(f"load: {clients} clients x {questions} questions" + (f", with a concurrent ingest of {new_articles} articles" if ingest else ""))
            load = run_load(url, plan, call_timeout, deadline)
            log(f"load done in {load.ended - load.started:.1f} s")

            ingest_result: dict = {}
            after: dict[str, tuple] = dict(before)
            if ingest is not None:
                try:
                    ingest.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    ingest.kill()
                ingest_ended = time.time()
                stop_watch.set()
                out = processes.log_tail(ingest, 100_000).strip().splitlines()
                report = next((json.loads(line) for line in reversed(out) if line.startswith("{")), {})
                ingest_result = {
                    "exit_code": ingest.returncode,
                    "added": report.get("added"),
                    "skipped": report.get("skipped"),
                    "process_seconds": round(ingest_ended - ingest_started, 1),
                    "write_started_after_load_start_s": round(watch.first_record - load.started, 1) if watch.first_record else None,
                    "all_ready_after_load_start_s": round(watch.all_ready - load.started, 1) if watch.all_ready else None,
                    "load_seconds": round(load.ended - load.started, 1),
                }
                # Overlapped: the ingest was still writing when the load began, and began before it ended.
                ingest_result["overlapped"] = bool(
                    watch.first_record and watch.first_record < load.ended and (watch.all_ready is None or watch.all_ready > load.started)
                )
                # The store after the ingest, answered by a fresh Assistant in this process.
                from qa.assistant import Assistant

                truth = Assistant(chroma_host=HOST, chroma_port=chroma_port)
                after = {q: citations_key(truth.ask(q).to_dict()) for q in distinct}
                served_after = {q: citations_key(ask(reference_client, q, call_timeout)) for q in distinct}
                ingest_result["stale_after_ingest"] = sorted(q for q in distinct if served_after[q] != after[q])
                new_reply = ask(reference_client, NEW_ARTICLES_QUESTION, call_timeout)
                ingest_result["new_articles_cited"] = any(c["doc_id"].startswith("qestral-") for c in new_reply["citations"])
            reference_client.close()
        finally:
            watchdog.cancel()
            processes.stop_all()

    calls = load.calls
    ok = [c for c in calls if not c.error]
    errors = [c for c in calls if c.error]
    changed = sorted(q for q in distinct if before[q] != after[q])
    others: dict[tuple, set] = {}
    for q in distinct:
        for key in (before[q], after[q]):
            others.setdefault(key, set()).add(q)
    wrong_question = [c for c in ok if c.reply_question != c.question]
    unmatched = [c for c in ok if c.reply_question == c.question and c.key not in (before[c.question], after[c.question])]
    # Another question's answer: cross-talk between requests.
    crossed = [c for c in unmatched if others.get(c.key, set()) - {c.question}]
    # A question the ingest does not change must get the one answer; one it changes may also
    # get an answer of a state in between (some of the new articles in, BM25 weights shifted).
    stable_unmatched = [c for c in unmatched if c not in crossed and c.question not in changed]
    in_between = [c for c in unmatched if c not in crossed and c.question in changed]
    latencies = [c.seconds for c in ok]
    wall = max(load.ended - load.started, 1e-9)
    return {
        "clients": clients,
        "questions_per_client": questions,
        "calls": len(calls),
        "answered": len(ok),
        "errors": len(errors),
        "error_examples": sorted({c.error for c in errors})[:5],
        "not_run": load.not_run,
        "mixed_up": len(wrong_question) + len(crossed) + len(stable_unmatched),
        "wrong_question": len(wrong_question),
        "another_questions_answer": len(crossed),
        "stable_question_other_answer": len(stable_unmatched),
        "mixed_up_examples": [c.question for c in (wrong_question + crossed + stable_unmatched)[:5]],
        "in_between_state_replies": len(in_between),
        "after_ingest_state_replies": sum(1 for c in ok if c.key == after[c.question] != before[c.question]),
        "distinct_questions": len(distinct),
        "answers_changed_by_ingest": changed,
        "p50_ms": round(percentile(latencies, 0.5) * 1000),
        "p95_ms": round(percentile(latencies, 0.95) * 1000),
        "max_ms": round(max(latencies, default=0) * 1000),
        "throughput_qps": round(len(ok) / wall, 2),
        "load_seconds": round(wall, 1),
        "cold_p50_ms": round(percentile(cold, 0.5) * 1000),
        "cold_p95_ms": round(percentile(cold, 0.95) * 1000),
        "store": "embedded" if embedded else "chroma-server",
        "ingest": ingest_result,
    }


def format_table(r: dict) -> str:
    rows = [
        ("clients x questions", f"{r['clients']} x {r['questions_per_client']} = {r['calls']} calls ({r['distinct_questions']} distinct questions)"),
        ("answered / errors / not run", f"{r['answered']} / {r['errors']} / {r['not_run']}"),
        ("mixed up", f"{r['mixed_up']} (question differs: {r['wrong_question']}, another question's answer: {r['another_questions_answer']}, "
                     f"other answer to a question the ingest does not change: {r['stable_question_other_answer']})"),
        ("latency p50 / p95 / max", f"{r['p50_ms']} / {r['p95_ms']} / {r['max_ms']} ms"),
        ("throughput", f"{r['throughput_qps']} questions/s over {r['load_seconds']} s"),
        ("cold, one client, p50 / p95", f"{r['cold_p50_ms']} / {r['cold_p95_ms']} ms"),
    ]
    if r["ingest"]:
        i = r["ingest"]
        rows += [
            ("concurrent ingest", f"exit {i['exit_code']}, {i['added']} added, {i['skipped']} skipped, {i['process_seconds']} s"),
            ("its write, from load start", f"first record {i['write_started_after_load_start_s']} s, all ready {i['all_ready_after_load_start_s']} s (load ran {i['load_seconds']} s; overlapped: {i['overlapped']})"),
            ("answers changed by it", f"{len(r['answers_changed_by_ingest'])} of {r['distinct_questions']} questions; replies in the after state: "
                                      f"{r['after_ingest_state_replies']}, in a state in between: {r['in_between_state_replies']}"),
            ("stale answers after it", f"{len(i['stale_after_ingest'])}; new articles cited after it: {i['new_articles_cited']}"),
        ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Load test of the web app's /ask API (loopback only).")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--questions", type=int, default=20, help="questions per client")
    parser.add_argument("--new-articles", type=int, default=300, help="articles the concurrent ingest adds (0: no ingest)")
    parser.add_argument("--embedded", action="store_true", help="embedded store, no Chroma server and no concurrent ingest")
    parser.add_argument("--call-timeout", type=float, default=120.0, help="seconds one call may take")
    parser.add_argument("--timeout", type=float, default=900.0, help="hard limit for the whole run, in seconds")
    parser.add_argument("--seed", type=int, default=6)
    add_json_flag(parser)
    args = parser.parse_args(argv)
    start = start_run()
    figures = run_bench(args.clients, args.questions, args.new_articles, args.embedded, args.call_timeout, args.timeout, args.seed)
    result = envelope("load", start, args, **figures)
    finish(result, report(result, "Load test of the web app's /ask API", format_table(result)), args.json)
    ingest_ok = not result["ingest"] or (result["ingest"]["exit_code"] == 0 and not result["ingest"]["skipped"])
    return 0 if result["errors"] == 0 and result["mixed_up"] == 0 and result["not_run"] == 0 and ingest_ok else 1


if __name__ == "__main__":
    sys.exit(main())
