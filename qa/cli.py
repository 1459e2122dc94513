"""The ``qa`` command: ingest, ask, remove, list articles, serve the app, and evaluate.

A thin shell over ``qa.Assistant``. Errors exit non-zero with one line naming the
file and the problem; so does a crash inside Chroma's native code (``watch_for_crashes``).
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import json
import logging
import os
import re
import signal
import sys
import time
from typing import Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# The model loader's own "Loading weights" bar is noise on a command line (and buries the one-line errors).
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


# Control characters (but tab and newline) and the bidirectional controls: an article's title or text
# holding ESC]0;…BEL or ESC[2J would retitle or clear the terminal, U+202E would reverse what follows.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: each character above written as its escape (``\\u001b``),
    which JSON reads back as the same character. The stored text and its offsets never change."""
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


class _Printable(io.TextIOBase):
    """A text stream that writes ``printable`` text to another."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


def build_parser() -> argparse.ArgumentParser:
    from qa.llm import add_llm_arguments

    parser = argparse.ArgumentParser(prog="qa", description="Answer questions about news articles with cited sentences.")
    where = parser.add_argument_group("store (default: $QA_STORE or .qa-store/)")
    where.add_argument("--store", metavar="DIR", help="embedded Chroma store directory")
    where.add_argument("--chroma-host", metavar="HOST", help="use a Chroma server instead (chroma run)")
    where.add_argument("--chroma-port", metavar="PORT", type=int, default=8000)
    where.add_argument(
        "--wait", metavar="SECONDS", type=float, default=300,
        help="how long to wait for another process that holds the embedded store (default 300; never for a running app)",
    )
    parser.add_argument("--reranker", metavar="PATH", help="answer-sentence reranker folder (default: $QA_RERANKER or the shipped models/reranker; 'none': hand-weighted scoring alone)")
    parser.add_argument("--query-encoder", metavar="PATH", help="question encoder folder (default: $QA_QUERY_ENCODER or the shipped models/query_encoder; 'none': the packaged model)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="index article files and folders (.txt .md .html .json .jsonl)")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")

    ask = commands.add_parser("ask", help="ask a question")
    ask.add_argument("question")
    ask.add_argument("--history", action="append", default=[], metavar="EARLIER_QUESTION", help="an earlier question of the conversation (repeatable, oldest first)")
    ask.add_argument("--source", action="append", default=[], help="only articles from this site (example-news.com) or source as stored (repeatable)")
    ask.add_argument("--from", dest="published_from", default="", metavar="YYYY-MM-DD", help="only articles published on or after (undated articles are left out)")
    ask.add_argument("--to", dest="published_to", default="", metavar="YYYY-MM-DD", help="only articles published on or before (undated articles are left out)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_llm_arguments(ask)

    remove = commands.add_parser("remove", help="delete an article by its doc id")
    remove.add_argument("doc_id")

    repair = commands.add_parser("repair", help="write again, from their stored texts, the articles whose vectors cannot be read")
    repair.add_argument("--all", action="store_true", help="write every article again, reading no vector (a store that crashes Chroma)")

    articles = commands.add_parser("articles", help="list the indexed articles")
    articles.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="start the web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="a host name the app may be reached by besides --host and localhost (repeatable)")
    add_llm_arguments(serve)

    evaluate = commands.add_parser("eval", help="score the assistant on a question file (JSONL)")
    evaluate.add_argument("questions", metavar="QUESTIONS.jsonl")
    evaluate.add_argument("--articles", nargs="+", metavar="PATH", help="index these into a fresh temporary store first")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.add_argument("--min", action="append", default=[], metavar="METRIC=VALUE", help="fail (exit 1) if METRIC is below VALUE")
    evaluate.add_argument("--max", action="append", default=[], metavar="METRIC=VALUE", help="fail (exit 1) if METRIC is above VALUE")
    evaluate.add_argument("--misses", type=int, default=20, help="how many misses to list (default 20)")
    add_llm_arguments(evaluate)
    return parser


def make_assistant(args: argparse.Namespace, store: Optional[str] = None):
    """The Assistant the options describe; with --llm, one that writes its answers with that LLM."""
    from qa.assistant import Assistant
    from qa.llm import llm_from_args

    from qa.query_encoder import query_encoder_option
    from qa.rerank import reranker_option

    llm, prompts = llm_from_args(args)  # a missing option or package fails here, before any model loads
    options = {"llm": llm, "prompts": prompts, "owner": f"qa {args.command}", "wait": args.wait, "check": args.command != "repair",
               "reranker": reranker_option(args.reranker), "query_encoder": query_encoder_option(args.query_encoder)}
    if args.chroma_host and not store:
        return Assistant(chroma_host=args.chroma_host, chroma_port=args.chroma_port, **options)
    return Assistant(store=store or args.store, **options)


def progress_bar(description: str):
    """A tqdm bar on stderr, driven by ingest's progress(done, total) callback."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="file", disable=None, file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_ingest(args) -> int:
    missing = [path for path in args.paths if not os.path.exists(os.path.expanduser(path))]
    if len(missing) == len(args.paths):
        # Nothing to read: say so at once instead of loading the model first.
        for path in missing:
            print(printable(f"qa: skipped {path}: no such file or folder"), file=sys.stderr)
        return 1
    assistant = make_assistant(args)
    report = assistant.ingest(args.paths, progress=progress_bar("Ingesting"))
    for skipped in report.skipped:
        print(printable(f"qa: skipped {skipped}"), file=sys.stderr)
    if args.json:
        print(json.dumps({**report.counts(), "skipped_items": [str(s) for s in report.skipped]}))
    else:
        print(f"{report.summary()} (store: {assistant.store.location})")
    return 1 if report.skipped else 0


def cmd_ask(args) -> int:
    assistant = make_assistant(args)
    answer = assistant.ask(args.question, history=args.history, sources=args.source, published_from=args.published_from, published_to=args.published_to)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    seen = set()
    for c in answer.citations:
        if (c.marker, c.doc_id) in seen:
            continue
        seen.add((c.marker, c.doc_id))
        print(f"  [{c.marker}] {c.title or c.doc_id} ({c.source}) chars {c.start}-{c.end}")
    if answer.dropped:
        print("Dropped from the LLM's answer (not supported by the sentences it cites):")
        for sentence in answer.dropped:
            print(f"  - {sentence}")
    return 0


def cmd_remove(args) -> int:
    assistant = make_assistant(args)
    # Straight to the store: this process holds no retriever to refresh, and removing needs no model.
    if not assistant.store.remove(args.doc_id):
        print(printable(f"qa: no article with doc id '{args.doc_id}' in {assistant.store.location}"), file=sys.stderr)
        return 1
    print(f"removed {args.doc_id}")
    return 0


def cmd_repair(args) -> int:
    assistant = make_assistant(args)
    damage = assistant.rebuild(everything=args.all)
    if damage is None:
        print(f"nothing to repair: every vector in {assistant.store.location} can be read" if not args.all else f"nothing to repair: {assistant.store.location} holds no articles")
    elif args.all or damage.failure:
        why = f" (Chroma {damage.failure} while reading its vector index)" if damage.failure else ""
        print(f"repaired {assistant.store.location}: every article ({len(damage.articles):,}) written again from its stored text{why}")
    else:
        print(
            f"repaired {assistant.store.location}: {len(damage.articles):,} articles written again from their stored texts "
            f"({damage.unreadable:,} vectors could not be read); {len(assistant.articles()):,} articles in all"
        )
    return 0


def cmd_articles(args) -> int:
    rows = make_assistant(args).articles()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(f"{row['doc_id']}\t{row.get('published') or '-'}\t{row.get('title', '')}\t{row.get('source', '')}")
    return 0


def cmd_serve(args) -> int:
    from qa.web import serve

    serve(make_assistant(args), host=args.host, port=args.port, allow_hosts=args.allow_host)
    return 0


def cmd_eval(args) -> int:
    from qa.evaluate import check_gates, evaluate, format_report, parse_gates

    gates = parse_gates(args.min, args.max)
    if args.articles:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
            assistant = make_assistant(args, store=tmp)
            report = assistant.ingest(args.articles)
            for skipped in report.skipped:
                print(printable(f"qa: skipped {skipped}"), file=sys.stderr)
            result = evaluate(assistant, args.questions, article_paths=args.articles)
    else:
        result = evaluate(make_assistant(args), args.questions)
    if args.json:
        print(json.dumps(result.metrics))
    else:
        print(format_report(result, misses=args.misses))
    failures = check_gates(result.metrics, gates)
    for failure in failures:
        print(f"qa: eval gate failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


COMMANDS = {
    "ingest": cmd_ingest,
    "ask": cmd_ask,
    "remove": cmd_remove,
    "repair": cmd_repair,
    "articles": cmd_articles,
    "serve": cmd_serve,
    "eval": cmd_eval,
}


class _OneLine(logging.Handler):
    """``qa: message`` on whatever stderr is now."""

    def emit(self, record: logging.LogRecord) -> None:
        print(printable(f"qa: {record.getMessage()}"), file=sys.stderr)


def report_warnings() -> None:
    """One line each: an LLM that fails (server down, unknown model) and leaves the extractive
    answer; a wait for another process that holds the store."""
    for name in ("qa.llm", "qa.store"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _OneLine) for h in logger.handlers):
            logger.addHandler(_OneLine(logging.WARNING))
            logger.propagate = False


def crash_line(args: argparse.Namespace) -> str:
    """What to say when the process died of a crash in native code: nearly always Chroma's, on a damaged
    embedded store (a Python error would have been a line of its own)."""
    if args.chroma_host:
        return f"qa: the process crashed inside Chroma's native code while using the Chroma server at {args.chroma_host}:{args.chroma_port}"
    from index.store import default_store_path

    store = args.store or default_store_path()
    if args.command == "repair" and args.all:
        return f"qa: Chroma crashed reading even the article texts of the store {store}: ingest the articles again into a new store (--store NEW_DIR)"
    return (f"qa: Chroma crashed reading the store {store}: its vector index is probably damaged; run `qa --store {store} repair --all` "
            f"to write every article again from its stored text (nothing is lost)")


def watch_for_crashes(args: argparse.Namespace) -> None:
    """Say ``crash_line`` on stderr if this process dies of SIGSEGV, SIGBUS, SIGFPE, SIGABRT or SIGILL.

    Chroma's native code can kill the process outright on a badly damaged store, where no exception
    handler runs. So ``faulthandler`` writes its report into a pipe instead of stderr, and a small
    forked watcher (made now, while the process is small: about 1 ms) reads that pipe until this
    process is gone, however it ends; a report, or an exit status that says a crash signal killed it (a
    crash can leave faulthandler no room to report), means a crash, and the watcher says the one line.
    The process itself, its pid, its exit status and everything else stay as they were."""
    if faulthandler.is_enabled():
        return  # asked for its raw report (python -X faulthandler, PYTHONFAULTHANDLER)
    read_end, write_end = os.pipe()
    command = os.getpid()
    if os.fork() == 0:  # the watcher
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command
            os.close(write_end)
            os.close(0)
            os.close(1)
            report = b""
            while chunk := os.read(read_end, 4096):
                report += chunk[: 4096 - len(report)]
            if report.startswith(b"Fatal Python error") or crash_signal(command) is not None:
                os.write(2, printable(crash_line(args)).encode() + b"\n")
        finally:
            os._exit(0)
    os.close(read_end)
    faulthandler.enable(file=os.fdopen(write_end, "w"))  # (faulthandler keeps the file, open, for good)


CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT, signal.SIGILL}


def crash_signal(pid: int, wait: float = 1.0) -> Optional[int]:
    """The crash signal process ``pid`` died of, read from its exit status while it waits to be reaped
    (Linux /proc), else None. A crash that leaves no room for faulthandler's report (a native stack
    overflow) still shows there; a process already reaped, or one still running after ``wait`` s, is None."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None  # reaped already, or not Linux
        if fields[0] == b"Z" and len(fields) > 49:  # a zombie: field 52 of stat is its exit status
            number = int(fields[49]) & 0x7F
            return number if number in CRASH_SIGNALS else None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)  # its files are closed before it becomes a zombie


def main(argv: Optional[list[str]] = None) -> int:
    """The command line ``argv`` (default: this process's, and then a crash inside Chroma is reported too)."""
    args = build_parser().parse_args(argv)
    if argv is None:
        watch_for_crashes(args)
    report_warnings()
    stdout = sys.stdout
    if args.command != "serve":  # article text goes to a terminal as text only
        sys.stdout = _Printable(stdout)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(printable(f"qa: {exc}"), file=sys.stderr)
        return 1
    except Exception as exc:  # a connection refused by a Chroma server and the like: one line, not a traceback
        print(printable(f"qa: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
