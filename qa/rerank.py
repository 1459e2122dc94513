"""The answer-sentence reranker: a trained MiniLM cross-encoder, run by onnxruntime.

It reads a question with a candidate ("title. sentence") and gives the probability that the
sentence answers it. It was trained by ``python -m train`` on distant labels from the
RealTimeQA training split (``models/reranker/card.json``); like the embedder it never imports torch.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import numpy as np

from index.embedder import length_batches, onnx_session
from index.onnx_model import model_folder_option

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "models" / "reranker"
MAX_TOKENS = 128  # question and candidate together, as in training
BATCH_PAIRS = 4


class RerankerError(ValueError):
    """The reranker folder is missing a file or holds something else."""


def candidate_text(title: str, sentence: str) -> str:
    """What the reranker reads for a sentence: its article's title, then the sentence."""
    title = (title or "").strip()
    if not title or sentence.strip() == title:
        return sentence.strip()
    return f"{title}. {sentence.strip()}"


class Reranker:
    """Scores candidate sentences for a question: ``probabilities(question, texts)``.

    ``path`` is a folder with ``model.onnx`` (inputs input_ids, attention_mask, token_type_ids;
    one logit per pair) and the model's ``tokenizer.json``, as ``train.fit`` writes them."""

    def __init__(self, path: Union[str, Path] = DEFAULT_PATH, threads: Optional[int] = None):
        from tokenizers import Tokenizer

        self.path = Path(path)
        model, tokenizer = self.path / "model.onnx", self.path / "tokenizer.json"
        for needed in (model, tokenizer):
            if not needed.is_file():
                raise RerankerError(f"{self.path}: no {needed.name} (a reranker folder holds model.onnx and tokenizer.json)")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        self.tokenizer.no_padding()
        try:
            self.session = onnx_session(model, threads)
        except Exception as exc:  # onnxruntime's own errors name no file
            raise RerankerError(f"{model}: not a model onnxruntime can load ({exc})") from exc
        names = [i.name for i in self.session.get_inputs()]
        if names != ["input_ids", "attention_mask", "token_type_ids"]:
            raise RerankerError(f"{model}: expected inputs input_ids, attention_mask, token_type_ids; found {names}")
        self._lock = threading.Lock()

    def logits(self, question: str, texts: list[str]) -> np.ndarray:
        logits = np.zeros(len(texts), dtype=np.float32)
        if not texts:
            return logits
        encodings = self.tokenizer.encode_batch([(question, text) for text in texts])
        lengths = [len(e.ids) for e in encodings]
        with self._lock:
            # pairs of similar length together: padding every pair to the longest wastes a quarter of the work
            for batch in length_batches(lengths, max_batch=BATCH_PAIRS):
                width = lengths[batch[0]]
                ids = np.zeros((len(batch), width), dtype=np.int64)
                types = np.zeros_like(ids)
                mask = np.zeros_like(ids)
                for row, index in enumerate(batch):
                    encoding = encodings[index]
                    n = len(encoding.ids)
                    ids[row, :n], types[row, :n], mask[row, :n] = encoding.ids, encoding.type_ids, 1
                feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
                logits[batch] = self.session.run(None, feeds)[0].reshape(-1)
        return logits

    def probabilities(self, question: str, texts: list[str]) -> np.ndarray:
        """For each text, the probability that it answers ``question``."""
        return 1.0 / (1.0 + np.exp(-self.logits(question, texts)))


def reranker_option(value: Optional[str]) -> Optional[Path]:
    """The reranker a ``--reranker`` option or ``$QA_RERANKER`` names: a folder, "none" for the
    hand-weighted scoring alone, or (unset) the shipped model. A folder without the model is an error."""
    return model_folder_option(value, "QA_RERANKER", DEFAULT_PATH, lambda path: RerankerError(
        f"{path}: no reranker there (a reranker folder holds model.onnx and tokenizer.json, as `python -m train` writes them)"))


@lru_cache(maxsize=4)
def shared_reranker(path: str = str(DEFAULT_PATH)) -> Reranker:
    """One reranker per folder per process: load it once."""
    return Reranker(path)
