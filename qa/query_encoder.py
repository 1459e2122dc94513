"""The fine-tuned query encoder: reads a question into the packaged model's sentence space.

Only the query side of all-MiniLM-L6-v2 is trained (``train.query``), against the sentence
vectors the packaged model already stored, so every existing store keeps working and ingest is
unchanged. It places a question nearer the sentences that answer it than the packaged model
does; the packaged model still reads questions when the caller chose another sentence encoder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

from index.embedder import Embedder
from index.onnx_model import OUTPUT_NAME, model_folder_option

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "models" / "query_encoder"


class QueryEncoderError(ValueError):
    """The query encoder folder is missing its model."""


def query_encoder_option(value: Optional[str]) -> Optional[Path]:
    """The query encoder a ``--query-encoder`` option or ``$QA_QUERY_ENCODER`` names: a folder, "none"
    for the packaged model, or (unset) the shipped one. A folder without the model is an error."""
    return model_folder_option(value, "QA_QUERY_ENCODER", DEFAULT_PATH, lambda path: QueryEncoderError(
        f"{path}: no query encoder there (a query encoder folder holds model.onnx, as `python -m train query` writes it)"))


@lru_cache(maxsize=4)
def shared_query_encoder(path: str = str(DEFAULT_PATH)) -> Embedder:
    """One query encoder per folder per process: load it once."""
    folder = Path(path)
    if not (folder / "model.onnx").is_file():
        raise QueryEncoderError(f"{folder}: no query encoder there (model.onnx is missing)")
    try:
        encoder = Embedder(model_path=folder / "model.onnx")
    except Exception as exc:  # onnxruntime's own errors name neither the folder nor the fix
        raise QueryEncoderError(f"{folder / 'model.onnx'}: not a model onnxruntime can load ({exc})") from exc
    outputs = [o.name for o in encoder.session.get_outputs()]
    if outputs != [OUTPUT_NAME]:
        raise QueryEncoderError(f"{folder / 'model.onnx'}: expected one output, {OUTPUT_NAME}; found {outputs}")
    return encoder
