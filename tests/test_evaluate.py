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
needs_fixtures = pytest.mark.skipif(not FIXTURES.exists(), reason=f"shared test data not found at {FIXTURES}")


@needs_fixtures
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
    est = tmp_path / "est.lab"
    est.write_text("0.000\t1.000\tC:maj\n")
    with pytest.raises(AnnotationError, match="nope.lab"):
        evaluate.chord_files(tmp_path / "nope.lab", est)
    with pytest.raises(AnnotationError, match="nope.lab"):
        evaluate.chord_files(est, tmp_path / "nope.lab")


def test_markdown_table():
    text = evaluate.markdown_table([{"variant": "x", "majmin": 0.5}])
    assert text.splitlines()[2] == "| x | 50.0 |"


def test_chroma_table_computes_each_models_features_with_its_own_frontend(tmp_path):
    """A model saved with another CQT (36 bins/octave, hop 1024) is evaluated on that CQT and frame rate.

    Started at the designed octave map with a linear output, the model IS the designed log-chroma of its own
    CQT, so it must score like the designed rows (> 90 % majmin on pure triads); on the chord CQT it could not
    even run (252 != 192 bins), and read at hop 512 its chords would land at twice their times.
    """
    import librosa
    import torch
    from chord_fixtures import synthetic_dataset

    from dlmir.frontends import CQT
    from dlmir.models import LearnedChroma, load, save, set_frontend

    dataset = synthetic_dataset(tmp_path / "ds", n_items=3, chords=4)
    fe = CQT(sr=22050, hop_length=1024, fmin=librosa.note_to_hz("C1"), n_bins=252, bins_per_octave=36)
    save(set_frontend(LearnedChroma(n_bins=252, bins_per_octave=36, output="linear"), fe), tmp_path / "run")
    model = load(tmp_path / "run")
    assert model.frontend.config == fe.config
    seen = []
    forward = model.forward
    model.forward = lambda x, **kw: (seen.append(tuple(x.shape)), forward(x, **kw))[1]  # type: ignore[method-assign]
    with torch.no_grad():
        rows = evaluate.chroma_table(dataset, {"designed": "designed", "own-cqt": model}, split=None)
    assert seen and all(s[1] == 252 for s in seen)
    n_frames = 1 + int(4 * 22050) // 1024  # 4 s items at hop 1024
    assert all(s[2] == n_frames for s in seen)
    designed, own = rows
    assert designed["items"] == own["items"] == 3
    assert own["majmin"] > 0.9 and abs(own["majmin"] - designed["majmin"]) < 0.05


def test_chroma_of_designed_reads_the_frontends_octave():
    from dlmir.frontends import CQT, MelSpectrogram

    cqt = np.random.default_rng(0).random((72, 5)).astype(np.float32)
    fe12 = CQT(n_bins=72, bins_per_octave=12)  # 6 octaves from C1, one bin per semitone
    chroma = evaluate.chroma_of("designed", cqt, frontend=fe12)
    np.testing.assert_allclose(chroma, cqt.reshape(6, 12, 5).sum(axis=0), rtol=1e-6)
    with pytest.raises(evaluate.ParameterError, match="CQT front end"):
        evaluate.chroma_of("designed", cqt, frontend=MelSpectrogram())
