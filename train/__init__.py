"""Training the answer-sentence reranker from ``../shared/train/realtimeqa`` (``python -m train``).

``train.pairs`` turns quiz questions and their web pages into (question, candidate, label)
pairs with the product's own loader and splitter; ``train.fit`` trains a MiniLM cross-encoder
on them with sentence-transformers and exports it to ONNX for ``qa.rerank``.
"""
