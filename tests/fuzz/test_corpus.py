"""Replays the fuzz corpus (tests/fuzz/corpus, see its README): every saved case ends with
exit 0, or exit 2 with an error and no output file, never a traceback or a hang."""

from pathlib import Path

import pytest

from tests.fuzz.harness import SUFFIX, run_case

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(p for cat in SUFFIX for p in (CORPUS / cat).glob(f"*{SUFFIX[cat]}"))


def test_corpus_covers_every_category():
    assert {p.parent.name for p in CASES} == set(SUFFIX)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_case(case, tmp_path):
    finding = run_case(case.parent.name, case.read_bytes(), tmp_path)
    assert finding is None, finding
