"""The sentence encoder: the packaged all-MiniLM-L6-v2 run by onnxruntime, loaded once per process.

The model is the ONNX export made by ``index.onnx_model`` (once, cached); texts are tokenised by
the model's own fast tokenizer. Encoding never imports torch, so a CLI call starts in about a
second instead of nine. The vectors match sentence-transformers' ``encode(...,
normalize_embeddings=True)`` of the same model (cosine ≥ 0.99, see tests/test_embedder.py).
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.onnx_model import INPUT_NAMES, OUTPUT_NAME, ensure_model, max_seq_length, model_dir

DIMENSION = 384
DEFAULT_VARIANT = "fp32"
"""fp32 matches torch to cosine 0.999999; int8 is faster but some dev sentences fall below 0.99
(bench/embedder.py)."""
BULK_BYTES = 512 * 1024
"""Input size from which an ingest embeds with ``BulkEmbedder`` when the CPU does bf16 natively: loading
torch and the model takes about 4 s, and bf16 saves about 8 s a megabyte of articles."""
BATCH_TOKENS = 4096
"""Padded tokens per onnxruntime call: small enough to stay in cache, large enough to amortise the call."""
MAX_BATCH = 64


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def length_batches(lengths: list[int], batch_tokens: int = BATCH_TOKENS, max_batch: int = MAX_BATCH) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), each at most ``max_batch``
    texts and, once it holds more than one text, at most ``batch_tokens`` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and (len(current) == max_batch or longest * (len(current) + 1) > batch_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def onnx_session(path, threads: int | None = None):
    """An onnxruntime CPU session as the product runs every model: ``threads`` (default: the CPUs
    this process may use) for one inference at a time."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle worker threads sleep instead of spinning: the rest of ingest and serving needs the cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class Embedder:
    """Encodes text into unit-length float32 vectors (cosine similarity is a dot product)."""

    def __init__(self, variant: str = DEFAULT_VARIANT, threads: int | None = None, model_path: Path | None = None):
        """``model_path``: another ONNX export of the same pipeline and tokenizer instead of the packaged
        model's (the fine-tuned query encoder of ``train.query``); its variant is then "custom"."""
        from tokenizers import Tokenizer

        folder = model_dir()
        self.variant = variant if model_path is None else "custom"
        self.model_path = Path(model_path) if model_path is not None else ensure_model(variant)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json pads and cuts at 128; sentence-transformers cuts at max_seq_length, pads per batch
        self.tokenizer.enable_truncation(max_length=max_seq_length(folder))
        self.tokenizer.no_padding()
        self.session = onnx_session(self.model_path, threads)
        self._lock = threading.Lock()  # one inference at a time: parallel runs only thrash 2 cores

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given."""
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        with self._lock:
            for batch in length_batches(lengths):
                vectors[batch] = self._run([encodings[i] for i in batch], lengths[batch[0]])
        return vectors

    def _run(self, encodings: list, width: int) -> np.ndarray:
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
        feeds = dict(zip(INPUT_NAMES, (ids, mask, np.zeros_like(ids))))
        return self.session.run([OUTPUT_NAME], feeds)[0]

    @lru_cache(maxsize=2048)
    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, cached: follow-ups and repeated questions skip the model."""
        return self.encode([text])[0]


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """The process-wide encoder: load it once."""
    return Embedder()


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """The CPU multiplies bfloat16 natively (Intel AMX or AVX512-BF16); elsewhere bf16 is emulated and slow."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:  # not Linux
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class BulkEmbedder:
    """The same model in torch (sentence-transformers) with bfloat16 weights, for large ingests: about
    twice the ONNX fp32 encoder's speed on a CPU with native bf16, vectors within cosine 0.999 of it
    (tests/test_embedder.py), so queries encoded by ``Embedder`` find them as well."""

    def __init__(self, threads: int | None = None):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads or cpu_count())
        self.model = SentenceTransformer(str(model_dir()), device="cpu").to(torch.bfloat16)
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given (float32, as ``Embedder.encode``)."""
        import torch

        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        with self._lock, torch.inference_mode():
            vectors = self.model.encode(
                list(texts), batch_size=MAX_BATCH, normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
            ).float()
        return torch.nn.functional.normalize(vectors, dim=1).numpy()  # again in float32: bf16 norms are only near 1


@lru_cache(maxsize=1)
def shared_bulk_embedder() -> BulkEmbedder:
    """The process-wide bulk encoder: torch is imported only when an ingest first needs it."""
    return BulkEmbedder()
