"""The answer objects: an ``Answer`` is text made of cited sentences, each a ``Citation``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Citation:
    """One cited sentence: where it is (article and exact character span) and how well it scored.

    ``marker`` is the ``[n]`` in the answer text; a sentence that several articles carry
    near-identically appears once in the text, and each article gets a Citation with the same marker.
    """

    marker: int
    doc_id: str
    source: str
    title: str
    published: str
    start: int
    end: int
    text: str
    score: float
    url: str = ""
    speaker: str = ""


@dataclass
class Answer:
    """What ``Assistant.ask`` returns. When ``abstained`` is true there are no citations."""

    question: str
    text: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    resolved_question: str = ""  # the question after follow-up resolution
    dropped: list[str] = field(default_factory=list)  # generated sentences the verifier removed
    confidence: float = 0.0  # calibrated probability that the articles answer it (qa.select.confidence)

    def to_dict(self) -> dict:
        return asdict(self)
