"""evaluate.py reproduces mir_eval's own chord fixtures exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlmir import evaluate
from dlmir.errors import AnnotationError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURES = DATA / "mir_eval_chord"
pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason=f"shared test data not found at {FIXTURES}")


@pytest.mark.parametrize("n", range(10))
def test_chord_files_match_mir_eval_fixtures(n):
    expected = json.loads((FIXTURES / f"output{n:02d}.json").read_text())
    scores = evaluate.chord_files(FIXTURES / f"ref{n:02d}.lab", FIXTURES / f"est{n:02d}.lab")
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-10), name


def test_chords_many_weights_by_duration():
    a = (np.array([[0.0, 1.0]]), ["C:maj"], np.array([[0.0, 1.0]]), ["C:maj"])  # 1 s, all right
    b = (np.array([[0.0, 3.0]]), ["C:maj"], np.array([[0.0, 3.0]]), ["D:maj"])  # 3 s, all wrong
    scores = evaluate.chords_many([a, b])
    assert scores["majmin"] == pytest.approx(0.25)
    assert scores["root"] == pytest.approx(0.25)


def test_missing_file(tmp_path):
    with pytest.raises(AnnotationError, match="nope.lab"):
        evaluate.chord_files(tmp_path / "nope.lab", FIXTURES / "est00.lab")


def test_markdown_table():
    text = evaluate.markdown_table([{"variant": "x", "majmin": 0.5}])
    assert text.splitlines()[2] == "| x | 50.0 |"
