"""The README's example `qa ask` session is what the product answers today, to the character."""

from __future__ import annotations

import re

from conftest import ROOT


def test_readme_example_matches_the_real_answer_and_spans(sample_assistant):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```\n$ .venv/bin/qa ask ", 1)[1].split("```", 1)[0]
    question = re.match(r'"([^"]+)"', block).group(1)
    lines = block.splitlines()
    answer = sample_assistant.ask(question)
    assert lines[1] == answer.text
    shown = [tuple(map(int, m.groups())) for m in re.finditer(r"chars (\d+)-(\d+)", block)]
    assert shown == [(c.start, c.end) for c in answer.citations]
    for c in answer.citations:
        assert sample_assistant.article(c.doc_id).text[c.start : c.end] == c.text
