"""What every bench script shares: the offline environment, the working tree first on
``sys.path``, the RealTimeQA dev data, child processes (a ``qa serve`` among them), and the
end of a run (the data check, the JSON result envelope, the table or only the JSON line).

A bench script imports it before anything else, so the environment is set before any
library is imported::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common  # noqa: E402

Every script's last line of output is one JSON object (``envelope``): the benchmark's name,
date, commit and whether ``qa/``, ``index/`` or ``models/`` had uncommitted changes, the arguments it
ran with, its figures, runtime, load average at start and end, and the number of cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark the working tree, not an installed copy

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "realtimeqa-dev"
DEV_FILES = ("articles.jsonl", "questions.jsonl")

T = TypeVar("T")


def logger(tag: str) -> Callable[[str], None]:
    """A function printing progress lines as ``[tag] message`` on stderr (stdout is the result's)."""

    def log(message: str) -> None:
        print(f"[{tag}] {message}", file=sys.stderr, flush=True)

    return log


def load_jsonl(path: Path) -> list[dict]:
    """Every non-empty line of a JSONL file, parsed."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` from 0 to 1 (the one qa.evaluate uses); 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


# --- processes ----------------------------------------------------------------------


def child_env() -> dict:
    """The environment of every child process: offline (set above), importing this working tree."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (loopback by default), for a server this bench starts."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, grace: float = 20) -> None:
    """Ask ``process`` to end; kill it if it has not within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def resident_mib(pid: int) -> float:
    """The resident memory of process ``pid`` now, in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Served:
    """A running ``qa serve``: its process, its address, and the seconds it took to answer ``GET /``."""

    process: subprocess.Popen
    url: str
    ready_s: float


@contextlib.contextmanager
def serving(store: Path, timeout: float = 300, log_to=subprocess.DEVNULL) -> Iterator[Served]:
    """``qa --store STORE serve`` on a free loopback port (this working tree's code), from start until
    ``GET /`` answers 200; stopped when the block ends, however it ends."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "--store", str(store), "serve", "--port", str(port)],
        stdout=log_to, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env(), cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"qa serve exited with {process.returncode}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"qa serve not ready within {timeout:g} s")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        yield Served(process, url, time.perf_counter() - started)
    finally:
        stop(process)


def quietly(call: Callable[[], T]) -> T:
    """Run ``call`` with stdout sent to stderr: library chatter must not get between us and the JSON line."""
    with contextlib.redirect_stdout(sys.stderr):
        return call()


def json_from_process(command: list[str], timeout: float, what: str) -> dict:
    """Run ``command`` (a step of a bench in a fresh process; its stderr passes through) and
    return the JSON object on the last line of its stdout."""
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}; its stderr is above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the start and the end of a run -------------------------------------------------


def data_missing(data_dir: Path, names: Iterable[str] = DEV_FILES) -> bool:
    """True, after saying which on stderr, when the data folder lacks one of the files."""
    for name in names:
        if not (data_dir / name).is_file():
            print(f"error: {data_dir / name} not found (use --data DIR)", file=sys.stderr)
            return True
    return False


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """``--json``: print only the JSON line (``--json-only`` is the older spelling)."""
    parser.add_argument("--json", "--json-only", dest="json", action="store_true", help="print only the JSON line")


def git_state() -> dict:
    """The commit benchmarked and whether qa/, index/ or models/ had uncommitted changes."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "qa", "index", "models"))}


@dataclass(frozen=True)
class RunStart:
    """When a run started and the machine's 1-minute load average then."""

    started: float
    load_avg: float


def start_run() -> RunStart:
    return RunStart(time.perf_counter(), os.getloadavg()[0])


def envelope(benchmark: str, start: RunStart, args: argparse.Namespace, **figures) -> dict:
    """The result of a run: what ran, on which commit and machine, with which arguments, and its figures."""
    arguments = {name: str(value) if isinstance(value, Path) else value for name, value in vars(args).items()}
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **git_state(),
        "arguments": arguments,
        **figures,
        "runtime_seconds": round(time.perf_counter() - start.started, 1),
        "load_avg_1min": [round(start.load_avg, 2), round(os.getloadavg()[0], 2)],  # at start and end
        "cores": os.cpu_count(),
    }


def commit_note(result: dict) -> str:
    """``commit abc1234``, and whether qa/, index/ or models/ had uncommitted changes, for a table's heading."""
    return f"commit {result['commit']}{' + uncommitted qa/index/models changes' if result['dirty'] else ''}"


def machine_line(result: dict) -> str:
    """The runtime and the load on the machine, for under a table."""
    start, end = result["load_avg_1min"]
    return f"runtime {result['runtime_seconds']:.0f}s; 1-minute load average {start} at start, {end} at end ({result['cores']} cores)"


def report(result: dict, title: str, body: str) -> str:
    """The text of a run: its title with the commit, the tables, and the machine line under them."""
    return f"{title}; {commit_note(result)}\n\n{body}\n\n{machine_line(result)}"


def finish(result: dict, text: str, json_only: bool) -> None:
    """Print the tables (unless ``--json``), then the result as one JSON line, always last."""
    if not json_only:
        print(text)
    print(json.dumps(result, ensure_ascii=False))
