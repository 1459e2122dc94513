"""Answers questions about news articles with exact, cited sentences."""

from qa.answer import Answer, Citation
from qa.assistant import Assistant

__all__ = ["Assistant", "Answer", "Citation"]
