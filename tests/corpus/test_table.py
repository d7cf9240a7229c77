"""docs/corpus.md lists exactly the corpus cases, as tests/corpus/table.py renders them."""

from __future__ import annotations

from collections import Counter

from tests.corpus.cases import CASES
from tests.corpus.table import render
from tests.support.processes import ROOT

DOC = ROOT / "docs" / "corpus.md"


def test_case_ids_are_unique():
    assert [i for i, n in Counter(c.id for c in CASES).items() if n > 1] == []


def test_every_case_has_an_outcome_and_a_message_to_check():
    vague = [c.id for c in CASES if c.expect not in ("complete", "kept") and not c.sees]
    assert vague == []
    placed = [c.id for c in CASES if c.expect == "needs_attention" and c.stage is None]
    assert placed == []


def test_the_docs_table_is_in_step_with_the_cases():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/corpus.md is out of date: run `python -m tests.corpus.table > docs/corpus.md`"
    )
