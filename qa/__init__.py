"""Answers questions about news articles with exact, cited sentences."""

from qa.answer import Answer, Citation
from qa.assistant import Assistant, Reading

__all__ = ["Assistant", "Answer", "Citation", "Reading"]
