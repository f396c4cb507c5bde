"""dlmir.annotations: .lab/JAMS read and write vs mir_eval's loader, round trips, errors, frame labels."""

from __future__ import annotations

from pathlib import Path

import mir_eval
import numpy as np
import pytest

from dlmir.annotations import frame_labels, read_annotation, read_jams, read_lab, write_jams, write_lab
from dlmir.errors import AnnotationError, ParameterError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURES = sorted((DATA / "mir_eval_chord").glob("*.lab"))
needs_data = pytest.mark.skipif(not FIXTURES, reason=f"shared test data not found at {DATA}/mir_eval_chord")


@needs_data
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_read_lab_equals_mir_eval_and_round_trips_exactly(path: Path, tmp_path: Path) -> None:
    intervals, labels = read_lab(path)
    ref_intervals, ref_labels = mir_eval.io.load_labeled_intervals(str(path))
    np.testing.assert_array_equal(intervals, ref_intervals)
    assert labels == ref_labels
    # "exact": the re-read floats are equal (==) to the ones first read
    out = write_lab(tmp_path / "out.lab", intervals, labels)
    again, again_labels = read_lab(out)
    np.testing.assert_array_equal(again, intervals)
    assert again_labels == labels
    # also what mir_eval reads from our file
    me_int, me_lab = mir_eval.io.load_labeled_intervals(str(out))
    np.testing.assert_array_equal(me_int, intervals)
    assert me_lab == labels


@needs_data
def test_jams_round_trip(tmp_path: Path) -> None:
    intervals, labels = read_lab(FIXTURES[0])
    out = write_jams(tmp_path / "x.jams", intervals, labels, title="ref")
    again, again_labels = read_jams(out)
    np.testing.assert_allclose(again, intervals, rtol=0, atol=1e-12)
    assert again_labels == labels
    a2, l2 = read_annotation(out)
    assert l2 == labels and a2.shape == intervals.shape


def test_write_lab_format_three_decimals_and_tabs(tmp_path: Path) -> None:
    path = write_lab(tmp_path / "a.lab", [[0.0, 1.5], [1.5, 2.25]], ["C:maj", "N"])
    assert path.read_text() == "0.000\t1.500\tC:maj\n1.500\t2.250\tN\n"
    path = write_lab(tmp_path / "b.lab", [[0.0, 0.12345]], ["A:min/b3"])
    assert path.read_text() == "0.00000\t0.12345\tA:min/b3\n"
    assert not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0 1.0 C:maj\n1.0 2.0\n", "bad.lab:2: expected 'start end label'"),
        ("0.0 1.0 C:maj\n\n1.0 x G\n", "bad.lab:3: start and end must be seconds"),
        ("0.0 1.0 C:maj\n2.0 1.5 G\n", "bad.lab:2: end time 1.5 s is before start time 2.0 s"),
        ("0.0 1.0 C:maj\n1.0 2.0 H:maj\n", "bad.lab:2:"),
    ],
)
def test_malformed_lab_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.lab").write_text(text)
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(")):
        read_lab(tmp_path / "bad.lab")


def test_missing_and_inconsistent(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no such"):
        read_lab(tmp_path / "nope.lab")
    with pytest.raises(AnnotationError, match="2 intervals but 1 labels"):
        write_lab(tmp_path / "c.lab", [[0, 1], [1, 2]], ["N"])
    (tmp_path / "bad.jams").write_text("{not json")
    with pytest.raises(AnnotationError, match="cannot read JAMS"):
        read_jams(tmp_path / "bad.jams")


def test_frame_labels_at_frame_centres() -> None:
    # frames at t * 512 / 22050 s = 0, 0.0232, 0.0464, ...; interval [0.03, 0.07) covers frames 2 and 3
    out = frame_labels(np.array([[0.03, 0.07], [0.07, 0.1]]), ["C:maj", "G:7"], 6, sr=22050, hop_length=512)
    times = np.arange(6) * 512 / 22050
    expected = ["N" if t < 0.03 else "C:maj" if t < 0.07 else "G:7" if t < 0.1 else "N" for t in times]
    assert out == expected == ["N", "N", "C:maj", "C:maj", "G:7", "N"]
    with pytest.raises(ParameterError):
        frame_labels(np.zeros((0, 2)), [], 3, sr=0, hop_length=512)
