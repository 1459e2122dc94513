"""``Assistant``: the one object the CLI, the web app and Python callers all use."""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional, Union

from index.articles import Article
from index.embedder import BulkEmbedder, Embedder, native_bf16, shared_bulk_embedder, shared_embedder
from index.ingest import ArticleProgress, IngestReport, Progress, ingest, prepare, rebuild
from index.sentences import Sentence
from index.speakers import full_names
from index.store import DEFAULT_WAIT, Damage, Store, StoreDamaged
from qa.answer import Answer, Citation
from qa.question import SAID, analyze, asked_parts, correct_names, followup_readings, said_question
from qa.query_encoder import DEFAULT_PATH as DEFAULT_QUERY_ENCODER, shared_query_encoder
from qa.rerank import DEFAULT_PATH as DEFAULT_RERANKER, Reranker, candidate_text, shared_reranker
from qa.retrieve import Filters, Retriever
from qa.select import Tuning, order_for_reading, select, worth_reranking

from qa.llm import DEFAULT_THRESHOLDS, Prompts, Thresholds, condense, finish, load_prompts, not_found_text, sources_of, stream_generate

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.llms import LLM

MAX_QUESTION_CHARS = 2000
MAX_HISTORY = 20  # earlier questions of a conversation; the app sends its latest ones
RESOLVED_TURNS = 4
"""A follow-up is read against this many earlier questions at most: each of them is answered again
(from the cache if asked before), and a longer run of "and he?" turns is rare, so a long history
would only cost time (20 new questions at the length cap took 40 s an ask under load)."""
NOT_FOUND = not_found_text()  # the wording lives in prompts/abstain.txt
log = logging.getLogger("qa.llm")


@dataclass
class Reading:
    """An article as a reader sees it: its text and the sentences the index holds, in order, each with
    its exact span (``article.text[s.start:s.end] == s.text``) and speaker. What lies outside every
    sentence (page junk such as sign-up lines and comment forms, bare datelines, photo credits) is
    never cited; ``parts`` tells it apart."""

    article: Article
    sentences: list[Sentence]

    def parts(self) -> list[tuple[int, int, bool]]:
        """The whole text as consecutive ``(start, end, indexed)`` pieces: each sentence (indexed) and
        each stretch between sentences (not indexed; most are only the whitespace between them)."""
        pieces, pos = [], 0
        for sentence in self.sentences:
            if sentence.start > pos:
                pieces.append((pos, sentence.start, False))
            pieces.append((sentence.start, sentence.end, True))
            pos = sentence.end
        if pos < len(self.article.text):
            pieces.append((pos, len(self.article.text), False))
        return pieces


class Assistant:
    """Answers questions about a set of news articles with exact, cited sentences.

    >>> a = Assistant(store=".qa-store")            # or Assistant(chroma_host="127.0.0.1", chroma_port=8000)
    >>> a.ingest(["articles/"])                     # IngestReport: added / unchanged / replaced / skipped
    >>> a.ask("What did Netanyahu say about Rafah?").citations

    With ``llm`` (any llama-index LLM) the answer is written by the LLM from the extractive
    answer's cited sentences, and only its sentences that those sentences support are kept
    (``qa.llm``); ``prompts`` (a folder or ``Prompts``, default ``prompts/``) holds the wording.
    """

    def __init__(
        self,
        store: Optional[Union[str, os.PathLike]] = None,
        chroma_host: Optional[str] = None,
        chroma_port: Optional[int] = None,
        embedder: Optional[Embedder] = None,
        tuning: Optional[Tuning] = None,
        llm: Optional["LLM"] = None,
        prompts: Union[Prompts, str, os.PathLike, None] = None,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        reranker: Union["Reranker", str, os.PathLike, None] = DEFAULT_RERANKER,
        query_encoder: Union[Embedder, str, os.PathLike, None] = DEFAULT_QUERY_ENCODER,
        owner: str = "",
        wait: float = DEFAULT_WAIT,
        check: bool = True,
    ):
        # An embedded store is this process's until it exits; ``owner`` names it to a process that
        # finds the store held, which waits up to ``wait`` seconds (index/lock.py). A damaged store
        # (vectors Chroma cannot return) raises ``StoreDamaged`` unless ``check`` is off, for ``rebuild``.
        self.store = Store(path=str(store) if store else None, host=chroma_host, port=chroma_port, owner=owner, wait=wait)
        damage = self.store.check() if check else None
        if damage is not None:
            raise StoreDamaged(str(damage))
        self.repaired = self.store.repair() if check else []  # drop articles a crash left half-written (else rebuild does)
        self._embedder = embedder
        self._bulk_failed = False
        self.tuning = tuning or Tuning()
        # A folder (loaded once per process), a Reranker, or None for the hand-weighted scoring alone.
        self._reranker = reranker
        # A folder (loaded once per process), an Embedder, or None: the packaged model reads questions too.
        self._query_encoder = query_encoder
        self._retriever: Optional[Retriever] = None
        self._write_lock = threading.Lock()
        self._answers: dict = {}
        self.llm = llm
        self.thresholds = thresholds
        if prompts is not None and not isinstance(prompts, Prompts):
            prompts = load_prompts(Path(prompts))
        if prompts is None and llm is not None:
            prompts = load_prompts()
        self.prompts: Optional[Prompts] = prompts
        self.not_found = prompts.not_found if prompts else NOT_FOUND

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """What reads questions into the store's sentence space: the fine-tuned query encoder
        (``qa.query_encoder``), unless the caller chose none or another sentence encoder."""
        if self._query_encoder is None or not self._packaged_embedder():
            return self.embedder
        if not isinstance(self._query_encoder, Embedder):
            self._query_encoder = shared_query_encoder(str(self._query_encoder))
        return self._query_encoder

    @property
    def reranker(self) -> Optional[Reranker]:
        if self._reranker is not None and not isinstance(self._reranker, Reranker):
            self._reranker = shared_reranker(str(self._reranker))
        return self._reranker

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.store, self.query_embedder)
        return self._retriever

    # --- library ----------------------------------------------------------

    def ingest(
        self,
        paths: Union[str, os.PathLike, Iterable[Union[str, os.PathLike]]],
        progress: Optional[Progress] = None,
        on_article: Optional[ArticleProgress] = None,
    ) -> IngestReport:
        """Index files and folders; ingesting the same input twice adds nothing. ``progress`` is told
        of each file, ``on_article`` of each article (see ``index.ingest``)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        with self._write_lock:
            # The model loads only if something new needs embedding.
            report = ingest(
                self.store, lambda texts: self.embedder.encode(texts), paths,
                progress=progress, on_article=on_article, bulk_embed=self._bulk_embed(),
            )
        self._store_changed()
        return report

    def rebuild(self, everything: bool = False) -> Optional[Damage]:
        """Repair a damaged embedded store: the articles whose vectors cannot be read (``everything``:
        all of them, reading no vector) are written again from their stored text; nothing else changes.
        Returns the damage found (None: none)."""
        with self._write_lock:
            damage = rebuild(self.store, lambda texts: self.embedder.encode(texts), everything=everything, bulk_embed=self._bulk_embed())
        self._store_changed()
        return damage

    def bulk_embedder(self) -> Optional[BulkEmbedder]:
        """The faster encoder of large ingests (``index.embedder.BulkEmbedder``, loaded on first call), or
        None where the CPU lacks native bf16 or the caller chose another model for ``embedder``."""
        return shared_bulk_embedder() if self._bulk_possible() else None

    def _packaged_embedder(self) -> bool:
        """Sentences are encoded by the packaged model in fp32, the space the other encoders share."""
        return self._embedder is None or (type(self._embedder) is Embedder and self._embedder.variant == "fp32")

    def _bulk_possible(self) -> bool:
        return self._packaged_embedder() and native_bf16()

    def _bulk_embed(self):
        """What ingest embeds large inputs with; the model loads only if one comes, and where it cannot
        (torch missing or broken) the ONNX encoder does the work: a faster encoder is never a reason to fail."""
        if not self._bulk_possible():
            return None

        def embed(texts: list[str]):
            if not self._bulk_failed:
                try:
                    bulk = shared_bulk_embedder()
                except Exception as exc:
                    self._bulk_failed = True
                    logging.getLogger("qa").warning("the bf16 encoder did not load (%s: %s); embedding with ONNX fp32", type(exc).__name__, exc)
                else:
                    return bulk.encode(texts)
            return self.embedder.encode(texts)

        return embed

    def remove(self, doc_id: str) -> bool:
        with self._write_lock:
            removed = self.store.remove(doc_id)
        self._store_changed()
        return removed

    def _store_changed(self) -> None:
        self._answers.clear()  # a replaced article can keep its sentence count, so the key alone is not enough
        if self._retriever is not None:
            self._retriever.invalidate()

    def article(self, doc_id: str) -> Optional[Article]:
        return self.store.article(doc_id)

    def reading(self, doc_id: str) -> Optional[Reading]:
        """The article ``doc_id`` with its sentences as the index holds them, for reading it whole
        (split again from the stored text, exactly as the ingest split it); None if it is not in
        the library."""
        article = self.article(doc_id)
        return Reading(article, prepare(article)) if article is not None else None

    def articles(self) -> list[dict]:
        return sorted(self.store.article_list(), key=lambda m: (m.get("published", ""), m.get("title", "")))

    # --- questions ----------------------------------------------------------

    def ask(
        self,
        question: str,
        history: Optional[list[str]] = None,
        sources: Optional[list[str]] = None,
        published_from: str = "",
        published_to: str = "",
    ) -> Answer:
        """Answer ``question`` (a follow-up to the earlier questions in ``history``) from the articles."""
        answer = None
        for answer in self.ask_stream(question, history, sources, published_from, published_to):
            pass
        return answer

    def nearby_titles(self, question: str, limit: int = 3) -> list[str]:
        """Titles of the articles nearest to ``question`` in the whole library, nearest first: what a
        "Not found" can offer instead. Only the library's own titles, never new words."""
        analysis = analyze(question)
        titles: list[str] = []
        for candidate in self.retriever.candidates(analysis.text, analysis.terms, Filters()):
            if candidate.title and candidate.title not in titles:
                titles.append(candidate.title)
        return titles[:limit]

    def nearby_questions(
        self,
        question: str,
        limit: int = 3,
        sources: Optional[list[str]] = None,
        published_from: str = "",
        published_to: str = "",
    ) -> list[str]:
        """Questions the library answers, near ``question``: what a "Not found" can offer to ask instead.
        Each is made from an attributed sentence nearest to ``question`` (``said_question``: its speaker
        and a name its article's title shares, in the library's own words), and is asked under the same
        filters before it is offered (its cited sentences, never an LLM), so every one offered is answered.
        At most ``limit + 3`` are tried."""
        filters = Filters(sources or [], published_from, published_to)
        analysis = analyze(question)
        offered: list[str] = []
        tried: set[tuple[str, ...]] = set()
        for candidate in self.retriever.candidates(analysis.text, analysis.terms, filters):
            asked = said_question(candidate.sentence.speaker, candidate.sentence.text, candidate.title)
            if not asked or asked.casefold() == question.strip().casefold():
                continue
            # One question per speaker and name ("US Secretary Blinken" is "Blinken"); no bare "What did X
            # say?" once X has one about something.
            speaker, _, topic = asked.removesuffix("?").partition(" say")
            key = (speaker.split()[-1], topic.split()[-1] if topic else "")
            if key in tried:
                continue
            if not key[1] and any(k[0] == key[0] for k in tried):
                continue
            tried.add(key)
            # the cited sentences decide: an LLM would only be paid to write an answer nobody asked for yet
            if not self._extractive(asked, [], filters, self.store.generation()).abstained:
                offered.append(asked)
            if len(offered) == limit or len(tried) >= limit + 3:
                break
        return offered

    def ask_stream(
        self,
        question: str,
        history: Optional[list[str]] = None,
        sources: Optional[list[str]] = None,
        published_from: str = "",
        published_to: str = "",
    ) -> Iterator[Union[str, Answer]]:
        """``ask`` as it is written: with an LLM, yields the generated text in pieces (``str``, not yet
        verified), then always ends with the verified ``Answer``. Without an LLM, on an abstention or
        an answer already given, yields only the ``Answer``."""
        question = (question or "").strip()
        filters = Filters(sources or [], published_from, published_to)
        history = [h.strip() for h in (history or []) if h and h.strip()]
        check_limits(question, history)
        history = history[-RESOLVED_TURNS:]
        generation = self.store.generation()  # read once: the cache key and the table agree
        extractive = self._extractive(question, history, filters, generation)
        if self.llm is None or extractive.abstained:
            yield extractive
            return
        key = ("llm",) + self._cache_key(question, history, filters, generation)
        cached = self._answers.get(key)
        if cached is not None:
            yield copy.deepcopy(cached)
            return
        asked = extractive.resolved_question or question
        texts, _ = sources_of(extractive.citations)
        pieces: list[str] = []
        try:
            for delta in stream_generate(self.llm, self.prompts, asked, texts):
                pieces.append(delta)
                yield delta
        except Exception as exc:  # a server that is down or a bad model name: the extractive answer stands
            log.warning("the LLM failed (%s: %s); the answer is the cited sentences themselves", type(exc).__name__, exc)
            yield extractive
            return
        answer = finish("".join(pieces), extractive.citations, self.embedder.encode, self.prompts, self.thresholds).apply_to(extractive)
        self._remember(key, answer)
        yield copy.deepcopy(answer)

    def _cache_key(self, question: str, history: list[str], filters: Filters, generation: str) -> tuple:
        # Any change to the store (its generation token), the tuning or the models misses the cache.
        reranker = getattr(self._reranker, "path", self._reranker)
        question_reader = self.retriever.embedder.model_path  # the model that reads questions, once loaded
        return (question, tuple(history), repr(filters), repr(self.tuning), str(reranker), str(question_reader), generation)

    def _remember(self, key: tuple, answer: Answer) -> None:
        self._answers[key] = answer
        while len(self._answers) > 512:
            self._answers.pop(next(iter(self._answers)))

    def _extractive(self, question: str, history: list[str], filters: Filters, generation: str) -> Answer:
        """The answer made of the cited sentences themselves (what ``ask`` returns without an LLM), from
        the store as of ``generation``."""
        if not question:
            return Answer(question, self.not_found, True, resolved_question=question)
        # A conversation re-asks its earlier questions to resolve the latest one; the cache
        # makes each turn cost one answer.
        key = self._cache_key(question, history, filters, generation)
        cached = self._answers.get(key)
        if cached is None:
            cached = self._ask_uncached(question, history, filters, generation)
            self._remember(key, cached)
        return copy.deepcopy(cached)

    def _ask_uncached(self, question: str, history: list[str], filters: Filters, generation: str) -> Answer:
        """The answer to the first reading of ``question`` the library answers (``_readings``); when none
        is answered, the first reading's "not found"."""
        previous = self._extractive(history[-1], history[:-1], filters, generation) if history else None
        first = None
        for reading in self._readings(question, history, previous, filters, generation):
            exclude = set()
            if previous is not None and analyze(reading).wants_more:
                exclude = {(c.doc_id, c.start) for c in previous.citations}  # "what else": not the same again
            answer = self._answer(question, reading, filters, generation, exclude)
            if not answer.abstained:
                return answer
            first = first or answer
        return first

    def _readings(self, question: str, history: list[str], previous: Optional[Answer], filters: Filters, generation: str) -> Iterator[str]:
        """The readings of ``question`` to try, in order, each made only when the ones before found nothing:
        the question (in a conversation, its follow-up reading; a bare fragment also as a follow-up), then
        what a chatty question asks (``asked_parts``), then each of these with misspelt names written as
        the library writes them (``correct_names``)."""
        readings = [question]
        if previous is not None:
            # Resolve the conversation oldest first: each follow-up leans on the answer before it.
            condensed = self._condensed(question, history, filters, generation)
            readings = [condensed] if condensed else followup_readings(question, previous.resolved_question, antecedent_of(previous))
        readings = list(dict.fromkeys(readings + [part for reading in readings for part in asked_parts(reading)]))
        yield from readings
        closest_name = self.retriever.table(generation).closest_name
        seen = set(readings)
        for reading in readings:
            corrected = correct_names(reading, closest_name)
            if corrected not in seen:
                seen.add(corrected)
                yield corrected

    def _condensed(self, question: str, history: list[str], filters: Filters, generation: str) -> str:
        """With an LLM: the follow-up rewritten as a standalone question (prompts/condense.txt) from
        the earlier questions and their answers; "" without one or when it resolves nothing."""
        if self.llm is None:
            return ""
        turns = [(earlier, self._extractive(earlier, history[:i], filters, generation).text) for i, earlier in enumerate(history)]
        return condense(self.llm, self.prompts, question, turns)

    def _answer(self, question: str, resolved: str, filters: Filters, generation: str, exclude: set = frozenset()) -> Answer:
        analysis = analyze(resolved)
        retriever = self.retriever
        lexical = retriever.table(generation)
        # One table for the whole ask: candidates, term weights and citation metadata agree.
        candidates = retriever.candidates(analysis.text, analysis.terms, filters, table=lexical)

        @functools.cache
        def article_names(doc_id: str, speaker: str) -> str:
            return " ".join(full_names(speaker, lexical.article_texts(doc_id)))

        if self.reranker is not None:
            head = candidates[: self.tuning.rerank_candidates]
            self._rerank(analysis.text, worth_reranking(analysis, head, lexical.idf, self.tuning, lexical.knows, article_names, set(exclude)))

        groups, _, sure = select(
            analysis,
            candidates,
            idf=lexical.idf,
            known=lexical.knows,
            tuning=self.tuning,
            exclude=set(exclude),
            full_names=article_names,
        )
        if not groups:
            return Answer(question, self.not_found, True, resolved_question=resolved, confidence=round(sure, 4))
        answer = self._compose(question, resolved, order_for_reading(groups), lexical)
        answer.confidence = round(sure, 4)
        return answer

    def _rerank(self, question: str, candidates: list) -> None:
        """The reranker's probability on these candidates (the rest stay unscored)."""
        texts = [candidate_text(c.title, c.sentence.text) for c in candidates]
        for candidate, probability in zip(candidates, self.reranker.probabilities(question, texts)):
            candidate.probability = float(probability)

    def _compose(self, question: str, resolved: str, groups, table) -> Answer:
        citations: list[Citation] = []
        parts = []
        for marker, group in enumerate(groups, start=1):
            parts.append(f"{group[0].candidate.sentence.text} [{marker}]")
            for item in group:
                s = item.candidate.sentence
                meta = table.article_meta(s.doc_id) or {}
                citations.append(
                    Citation(
                        marker=marker,
                        doc_id=s.doc_id,
                        source=meta.get("source", ""),
                        title=meta.get("title", ""),
                        published=meta.get("published", ""),
                        start=s.start,
                        end=s.end,
                        text=s.text,
                        score=round(item.score, 4),
                        url=meta.get("url", ""),
                        speaker=s.speaker,
                    )
                )
        return Answer(question, " ".join(parts), False, citations, resolved_question=resolved)


def check_limits(question: str, history: list[str]) -> None:
    """A question is a sentence or two, and a conversation resolves its questions one after the
    other: a megabyte question or a history of thousands would only cost memory and time."""
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    if len(history) > MAX_HISTORY:
        raise ValueError(f"the history has {len(history):,} earlier questions; the limit is {MAX_HISTORY} (the latest ones are enough)")
    for number, earlier in enumerate(history, start=1):
        if len(earlier) > MAX_QUESTION_CHARS:
            raise ValueError(f"earlier question {number} is {len(earlier):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")


def antecedent_of(answer: Answer) -> str:
    """The person an answer is about, for "he"/"she" in the next question: the speaker asked
    about, else the speaker of the first cited sentence."""
    asked = analyze(answer.resolved_question or answer.question)
    if asked.kind == SAID and asked.speaker:
        return asked.speaker
    for citation in answer.citations:
        if citation.speaker:
            return citation.speaker
    return asked.names[0] if asked.names else ""
