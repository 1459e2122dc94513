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

# One article with page junk (a dateline, a sign-up line) around three sentences, for the reader's tests.
LIGHTHOUSE = {
    "id": "brindlemoor-lighthouse",
    "title": "Harbour council approves lighthouse repairs",
    "url": "https://www.harbour-news.example/lighthouse",
    "published": "2024-10-12",
    "text": (
        "Harbour council approves lighthouse repairs\n\n"
        "BRINDLEMOOR —\n"
        "The Brindlemoor harbour council voted on Monday to repair the old lighthouse before the winter storms.\n"
        "Sign up for our newsletter to get harbour updates in your inbox.\n"
        "Council clerk Mara Quill said the repairs would cost 40,000 pounds and finish in November.\n"
    ),
}


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


def wait_until_listening(process: subprocess.Popen, port: int, seconds: float, what: str, output=lambda: "") -> None:
    """Return once ``process`` accepts connections on 127.0.0.1:``port``; raise if it exits first
    (with ``output()``) or is not listening within ``seconds`` (then it is killed)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not start listening within {seconds:g} s")


def stop(process: subprocess.Popen, grace: float) -> None:
    """Ask ``process`` to end; kill it if it has not within ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()


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
    wait_until_listening(process, port, 60, "chroma run", lambda: (data / "server.log").read_text()[-2000:])
    yield "127.0.0.1", port
    stop(process, grace=10)
    log.close()


# --- LLM stand-ins (the one part of the system tests may replace) ----------------------------

import json  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any, Callable  # noqa: E402

from llama_index.core.bridge.pydantic import Field  # noqa: E402
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata  # noqa: E402
from llama_index.core.llms.callbacks import llm_completion_callback  # noqa: E402


class ScriptedLLM(CustomLLM):
    """A deterministic llama-index LLM: replies from a script (a string, a function of the prompt,
    or an exception to raise), one entry per call (the last entry repeats), and records every
    prompt it receives. Streams word by word; with ``gate`` (a threading.Event) it stops after
    ``hold_after`` words until the gate is set, so a test can look at the half-written answer."""

    replies: list[Any] = Field(default_factory=list)
    received: list[str] = Field(default_factory=list)
    gate: Any = None
    hold_after: int = 3

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted", is_chat_model=False)

    def _reply(self, prompt: str) -> str:
        self.received.append(prompt)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply(prompt) if callable(reply) else reply

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
        text = self._reply(prompt)
        gate = self.gate

        def tokens():
            so_far = ""
            for i, piece in enumerate(re.findall(r"\S+\s*", text)):
                if gate is not None and i == self.hold_after:
                    gate.wait(timeout=120)
                so_far += piece
                yield CompletionResponse(text=so_far, delta=piece)

        return tokens()


class FakeOpenAIServer:
    """A tiny OpenAI-compatible server (stdlib http.server) on 127.0.0.1: ``POST /v1/chat/completions``,
    whole or streamed as server-sent events, the way llama.cpp server, vLLM or LM Studio answer.
    ``reply(prompt)`` writes each answer; every request body is kept in ``requests``."""

    def __init__(self, reply: Callable[[str], str]):
        self.reply = reply
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                server.requests.append(body)
                prompt = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
                text = server.reply(prompt)
                base = {"id": f"chatcmpl-{len(server.requests)}", "created": 1700000000, "model": body.get("model", "")}
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in re.findall(r"\S+\s*", text)]
                    for i, delta in enumerate(deltas + [{}]):
                        finish = "stop" if i == len(deltas) else None
                        chunk = {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                payload = json.dumps(
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def prompts(self) -> list[str]:
        return ["\n".join(str(m.get("content") or "") for m in r.get("messages") or []) for r in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_openai():
    """A ``FakeOpenAIServer`` that answers "Not found in these articles." until a test sets ``reply``."""
    server = FakeOpenAIServer(lambda prompt: "Not found in these articles.")
    yield server
    server.close()
