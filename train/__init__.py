"""Training the product's two models from ``../shared/train/realtimeqa`` (``python -m train``).

``train.pairs`` turns quiz questions and their web pages into (question, candidate, label)
pairs with the product's own loader and splitter; ``train.fit`` trains a MiniLM cross-encoder
on them with sentence-transformers and exports it to ONNX for ``qa.rerank``; ``train.query``
fine-tunes the question side of the packaged MiniLM for ``qa.query_encoder``; ``train.card`` writes
each one's model card.
"""
