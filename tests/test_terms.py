"""Terms shared by lexical search and coverage: pure functions."""

from __future__ import annotations

from index.terms import terms


def test_numbers_match_spelt_out_or_in_digits():
    assert terms("Blinken's seventh visit") == terms("Blinken's 7th visit") == ["blinken", "7th", "visit"]
    assert terms("seven people") == terms("7 people")
    assert terms("the first time") == terms("the 1st time")


def test_irregular_forms_and_possessives_share_a_term():
    assert terms("Blinken met Herzog") == terms("Blinken meets Herzog's")
