"""How well ``qa.llm.verify`` tells supported generated sentences from made-up ones, per threshold pair.

On the team's question set (eval/questions.jsonl), for each answerable question with gold
sentences, the sources given to the "LLM" are that question's gold sentences, and the claims are:

- faithful: each gold sentence itself, cited with its own [n];
- shortened: the same sentence with its first clause dropped (a faithful, shorter claim);
- made-up: the gold sentence of a DIFFERENT question (not one of this question's gold or ok
  sentences, nor a near-duplicate of a source: cosine >= 0.95) attributed to [1];
- paraphrased: a hand-written answer in an LLM's manner (other words, shorter, resolved
  pronouns) for each distinct gold sentence, written by hand before they were scored;
- half made-up (reported, not gated): the first half of this question's first gold sentence
  joined to the second half of another question's, cited [1].

Identical (sources, claim) cases are counted once. Every claim goes through ``verify`` itself
once (figures recorded, thresholds at zero); a threshold pair keeps a claim when no rule dropped
it (no/invalid citation, a number or negation the sources lack) and both figures reach it.

    .venv/bin/python bench/llm_verify.py            # table, then one JSON line
    .venv/bin/python bench/llm_verify.py --json     # only the JSON line
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
# common sets the offline environment and puts the repository first on sys.path
from common import ROOT, add_json_flag, envelope, finish, load_jsonl, report, start_run  # noqa: E402

from qa.llm import DEFAULT_THRESHOLDS, Thresholds, verify  # noqa: E402
from qa.llm import _BULLET, _strip_markers, split_claims  # noqa: E402  (to encode every claim in one batch)

# (start of the gold sentence, a faithful answer worded the way an LLM would put it)
PARAPHRASES = [
    ('"The Secretary discussed ongoing efforts', "Matthew Miller is the spokesperson of the US State Department."),
    ("Jerusalem, May 1 (IANS)", "Blinken met Israeli Prime Minister Benjamin Netanyahu privately in Jerusalem on Wednesday."),
    ("Earlier, Blinken held a meeting with Israeli President", "In Tel Aviv, Blinken met Israeli President Isaac Herzog, and they discussed getting humanitarian aid to civilians in Gaza."),
    ("“And the only reason", "Blinken said Hamas would be the only reason a ceasefire is not achieved."),
    ('"The Secretary discussed the improvement', "The Secretary discussed how aid deliveries to Gaza have improved since President Biden's call with Netanyahu on April 4."),
    ("He told representatives of the hostage families", "Netanyahu told representatives of the hostage families that Israel will enter Rafah with or without a deal."),
    ("Blinken echoed comments from President Herzog", "Blinken was echoing Israeli President Herzog's comments about efforts to use the International Criminal Court against Israel."),
    ("On Tuesday evening, Netanyahu again promised", "Hamas still controls Rafah, the southern town Netanyahu promised to enter."),
    ("Blinken will meet with Netanyahu later", "Blinken is expected to press Netanyahu for a pause in Israel's military operations in Gaza until a hostage deal is negotiated."),
    ("Blinken reaffirmed the US commitment", "Blinken reaffirmed that the US is committed to Israel's security."),
    ('"Therefore, trying to use the International Criminal Court', "It is described as a clear and present danger to democracies and peace-loving nations."),
    ("According to the US State Department, Blinken updated", "Blinken briefed Netanyahu on efforts to secure a lasting and sustainable peace in the region."),
    ("“We yearn for the immediate return", "Blinken said the immediate return of the hostages should be the international community's top priority."),
    ("The U.S. leader appeared to blame Hamas", "Blinken appeared to blame Hamas for the delay in reaching a ceasefire and hostage agreement."),
    ('"At the same time, even as we\'re working', "Blinken said the US must also focus on getting suffering people in Gaza the assistance they need."),
    ("He stated that the U.S. focus on the hostages", "No; Blinken said the US focus on the hostages does not mean overlooking civilians in Gaza."),
    ("We will not rest until every hostage", "Blinken wants all of the hostages back, saying the US will not rest until every hostage is back with their family."),
    ("Blinken pushes for hostage deal in 7th visit", "On his seventh visit to the region, Blinken is pushing for a hostage deal."),
    ("The U.S. secretary met with Herzog on Wednesday morning", "Blinken met Herzog on Wednesday morning."),
    ("This marks Blinken's seventh visit", "Blinken's visits are counted from the Hamas attack on Israel on October 7."),
    ('"Bringing the hostages home is at the heart', "Blinken posted that bringing the hostages home is at the heart of everything the US is trying to do."),
    ('"Israel has a very strong legal system', "Blinken said Israel has a very strong legal system and law enforcement."),
    ("US Secretary Blinken tells Herzog", "Blinken told Herzog that Hamas would be the only reason a ceasefire is not achieved."),
]

OVERLAPS = (0.3, 0.4, 0.5, 0.6, 0.7)
COSINES = (0.3, 0.4, 0.5, 0.6, 0.7)


def shorten(sentence: str) -> str:
    """Drop the first clause (up to the first comma, semicolon, colon or dash) when at least
    five words remain; else drop the first third of the words."""
    for match in re.finditer(r"[,;:]\s|\s[—–-]{1,2}\s", sentence):
        rest = sentence[match.end():].lstrip(" \"'”’")
        if len(rest.split()) >= 5:
            return rest[0].upper() + rest[1:]
    tokens = sentence.split()
    return " ".join(tokens[len(tokens) // 3:])


def half_and_half(first: str, second: str) -> str:
    a, b = first.split(), second.split()
    return " ".join(a[: len(a) // 2] + b[len(b) // 2:])


def cached(embed):
    memo: dict[str, object] = {}

    def encode(texts: list[str]):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            for text, vector in zip(missing, embed(missing)):
                memo[text] = vector
        return np.stack([memo[t] for t in texts])

    return encode


def build_cases(items: list[dict], embed) -> dict[str, set[tuple[tuple[str, ...], str]]]:
    answerable = [i for i in items if i.get("answerable", True) and i.get("gold")]
    cases: dict[str, set] = {"faithful": set(), "shortened": set(), "paraphrased": set(), "made_up": set(), "made_up_same_doc": set(), "half_made_up": set()}
    for item in answerable:
        sources = tuple(g["text"] for g in item["gold"])
        docs = {g["doc"] for g in item["gold"]}
        own = set(sources) | {o["text"] for o in item.get("ok") or []}
        source_vectors = embed(list(sources))
        for n, text in enumerate(sources, start=1):
            cases["faithful"].add((sources, f"{text} [{n}]"))
            cases["shortened"].add((sources, f"{shorten(text)} [{n}]"))
            for start, paraphrase in PARAPHRASES:
                if text.startswith(start):
                    cases["paraphrased"].add((sources, f"{paraphrase} [{n}]"))
        for other in answerable:
            for g in other["gold"]:
                if g["text"] in own or float((embed([g["text"]]) @ source_vectors.T).max()) >= 0.95:
                    continue
                cases["made_up"].add((sources, f"{g['text']} [1]"))
                if g["doc"] in docs:
                    cases["made_up_same_doc"].add((sources, f"{g['text']} [1]"))
                cases["half_made_up"].add((sources, f"{half_and_half(sources[0], g['text'])} [1]"))
    return cases


def figures(cases, embed, rules: bool) -> dict[str, list[tuple[str, float, float]]]:
    """Per kind: (rule reason or "", overlap, cosine) of each claim, from verify itself."""
    zero = Thresholds(min_overlap=0.0, min_cosine=-1.0, numbers_must_match=rules, negation_must_match=rules)
    out = {}
    for kind, pairs in cases.items():
        rows = []
        for sources, claim in sorted(pairs):
            check = verify(claim, list(sources), embed, zero).checks[0]
            rows.append((check.reason, check.overlap, check.cosine))
        out[kind] = rows
    return out


def kept_share(rows, t_overlap: float, t_cosine: float) -> float:
    kept = sum(1 for reason, o, c in rows if not reason and o >= t_overlap and c >= t_cosine)
    return kept / len(rows) if rows else 0.0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", default=str(ROOT / "eval" / "questions.jsonl"))
    add_json_flag(parser)
    args = parser.parse_args(argv)
    start = start_run()
    lines: list[str] = []

    from index.embedder import shared_embedder

    embed = cached(shared_embedder().encode)
    items = load_jsonl(Path(args.questions))
    cases = build_cases(items, embed)
    # Encode every claim (as verify will see it) in one batch instead of one call per claim.
    embed([_BULLET.sub("", _strip_markers(p)) for pairs in cases.values() for _, claim in pairs for p in split_claims(claim)])
    lines.append("cases: " + ", ".join(f"{k} {len(v)}" for k, v in cases.items()))
    chosen = (DEFAULT_THRESHOLDS.min_overlap, DEFAULT_THRESHOLDS.min_cosine)
    measured: dict = {"cases": {k: len(v) for k, v in cases.items()}, "default": {"min_overlap": chosen[0], "min_cosine": chosen[1]}, "grid": []}
    for rules in (True, False):
        data = figures(cases, embed, rules)
        lines.append(f"\nnumber/negation rules {'ON' if rules else 'OFF'}; kept share of faithful, shortened, paraphrased; dropped share of made-up (all, same article), half made-up")
        lines.append(f"{'overlap':>7} {'cosine':>6} | {'faithful':>8} {'short':>6} {'para':>6} | {'made-up':>7} {'same-doc':>8} {'half':>6}")
        for t_overlap in (0.0,) + OVERLAPS:
            for t_cosine in (-1.0,) + COSINES:
                row = {
                    "rules": rules,
                    "min_overlap": t_overlap,
                    "min_cosine": max(t_cosine, 0.0),
                    "faithful_kept": round(kept_share(data["faithful"], t_overlap, t_cosine), 4),
                    "shortened_kept": round(kept_share(data["shortened"], t_overlap, t_cosine), 4),
                    "paraphrased_kept": round(kept_share(data["paraphrased"], t_overlap, t_cosine), 4),
                    "made_up_dropped": round(1 - kept_share(data["made_up"], t_overlap, t_cosine), 4),
                    "same_doc_dropped": round(1 - kept_share(data["made_up_same_doc"], t_overlap, t_cosine), 4),
                    "half_made_up_dropped": round(1 - kept_share(data["half_made_up"], t_overlap, t_cosine), 4),
                }
                if rules:
                    measured["grid"].append({k: v for k, v in row.items() if k != "rules"})
                if (t_overlap, max(t_cosine, 0.0)) == chosen:
                    measured["rules_on" if rules else "rules_off"] = {k: v for k, v in row.items() if k not in ("rules", "min_overlap", "min_cosine")}
                mark = " <- default" if (t_overlap, max(t_cosine, 0.0)) == chosen else ""
                lines.append(
                    f"{t_overlap:>7.2f} {max(t_cosine, 0):>6.2f} | {row['faithful_kept']:>8.1%} {row['shortened_kept']:>6.1%} {row['paraphrased_kept']:>6.1%} | "
                    f"{row['made_up_dropped']:>7.1%} {row['same_doc_dropped']:>8.1%} {row['half_made_up_dropped']:>6.1%}{mark}"
                )
        if rules:
            dropped_by_rules = sum(1 for reason, _, _ in data["made_up"] if reason)
            lines.append(f"made-up claims dropped by the number/negation rules alone: {dropped_by_rules}/{len(data['made_up'])}")
            measured["made_up_dropped_by_rules"] = dropped_by_rules
            for kind in ("faithful", "shortened", "paraphrased"):
                low = sorted(data[kind], key=lambda r: min(r[1], r[2]))[:3]
                lines.append(f"weakest {kind}: " + "; ".join(f"overlap {o:.2f} cosine {c:.2f}{' ' + r if r else ''}" for r, o, c in low))
            strong = sorted(data["made_up"], key=lambda r: -min(r[1], r[2]))[:3]
            lines.append("strongest made-up: " + "; ".join(f"overlap {o:.2f} cosine {c:.2f}{' (' + r + ')' if r else ''}" for r, o, c in strong))
    result = envelope("llm_verify", start, args, **measured)
    finish(result, report(result, "LLM answer verification", "\n".join(lines)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
