"""Shared fixtures: the real packaged model (loaded once), real Chroma stores, a real Chroma server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "data" / "sample"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedder():
    """The packaged MiniLM, loaded once for the whole run (about 9 s)."""
    from index.embedder import shared_embedder

    return shared_embedder()


@pytest.fixture(scope="session")
def sample_assistant(tmp_path_factory, embedder):
    """An embedded store holding the two sample articles. Tests must not modify it."""
    from qa import Assistant

    assistant = Assistant(store=tmp_path_factory.mktemp("sample-store"), embedder=embedder)
    report = assistant.ingest([SAMPLE_DIR])
    assert report.counts()["added"] == 2, report.summary()
    return assistant


@pytest.fixture
def fresh_assistant(tmp_path, embedder):
    """An empty embedded store of its own, for tests that write."""
    from qa import Assistant

    return Assistant(store=tmp_path / "store", embedder=embedder)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on 127.0.0.1; yields (host, port)."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "wb")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited: {(data / 'server.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("chroma run did not start listening within 60 s")
    yield "127.0.0.1", port
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
