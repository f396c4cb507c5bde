"""Designed note features (oracle: librosa's MFCC and CQT), class-name aliases, and the linear baselines
(oracle: scikit-learn's own predictions)."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import ParameterError
from dlmir.instruments.aliases import ALIASES, canonical, normalize_name
from dlmir.instruments.baselines import LinearBaseline, fit_baseline
from dlmir.instruments.features import FEATURE_NAMES, N_FEATURES, NOTE_CQT, features_from, note_features

SR = 22050


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a busy 2-core machine two threads make these small models 5-20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _note(f0: float = 220.0, seconds: float = 2.0, decay: float = 0.6, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    return (y * np.exp(-t / decay) * np.minimum(1.0, t / 0.02)).astype(np.float32)


def _oracle(y: np.ndarray) -> np.ndarray:
    """The 120 features written out with librosa (the module docstring's recipe)."""
    y = (0.9 * y / np.max(np.abs(y))).astype(np.float32)
    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20)
    c = np.abs(librosa.cqt(y, sr=SR, hop_length=512, fmin=NOTE_CQT["fmin"], n_bins=192, bins_per_octave=24)).astype(
        np.float64
    )
    p = c**2

    def db(x, ref):
        return 10 * np.log10(np.maximum(x / ref, 1e-8)) / 80

    spec = db(p, p.max()).mean(axis=1).reshape(48, 4).mean(axis=1)
    energy = p.sum(axis=0)
    env = np.array([part.mean() for part in np.array_split(db(energy, energy.max()), 12)])
    d = np.diff(m, axis=1)
    return np.concatenate([m.mean(1) / 100, m.std(1) / 10, d.std(1) / 10, spec, env])


def test_names_and_length() -> None:
    assert N_FEATURES == len(FEATURE_NAMES) == 120
    assert len(set(FEATURE_NAMES)) == 120
    assert FEATURE_NAMES[0] == "mfcc_mean_0" and FEATURE_NAMES[-1] == "env_11"


@pytest.mark.parametrize("f0", [110.0, 440.0])
def test_matches_librosa_recipe(f0: float) -> None:
    y = _note(f0)
    got = note_features(y, SR)
    want = _oracle(y)
    assert got.shape == (120,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_level_does_not_matter_and_batches_agree() -> None:
    y = _note(330.0)
    one = note_features(y)
    np.testing.assert_allclose(note_features(0.01 * y), one, atol=1e-5)
    both = note_features(np.stack([y, _note(150.0, seed=1)]))
    assert both.shape == (2, 120)
    np.testing.assert_allclose(both[0], one, atol=1e-5)


def test_envelope_sees_the_decay() -> None:
    y = _note(220.0, decay=0.15)  # gone (> 80 dB down) well before the end
    env = note_features(y)[-12:]
    assert env[0] > -0.1  # the attack part is the loudest
    assert env[-1] == pytest.approx(-1.0, abs=1e-3)  # the floor
    assert np.all(np.diff(env) <= 1e-6)


def test_errors() -> None:
    with pytest.raises(ParameterError, match="sr=22050"):
        note_features(_note(), 44100)
    with pytest.raises(ParameterError, match="at least 12 frames"):
        features_from(np.ones((192, 5)), np.ones((20, 5)))
    with pytest.raises(ParameterError, match="features_from takes"):
        features_from(np.ones((84, 40)), np.ones((20, 40)))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("Double Bass", "contrabass"),
        ("double-bass", "contrabass"),
        ("contrabass", "contrabass"),
        ("French Horn", "french_horn"),
        ("horn", "french_horn"),
        ("Violins", "violin"),
        ("alto saxophone", "alto_sax"),
        ("Sax", "alto_sax"),
        ("vc", "cello"),
        ("Acoustic_Guitar", "acoustic_guitar"),
    ],
)
def test_aliases(name: str, cls: str) -> None:
    assert canonical(name) == cls


def test_alias_table_and_errors() -> None:
    from dlmir.data.instruments import INSTRUMENTS

    assert set(ALIASES) == set(INSTRUMENTS)
    assert normalize_name("  Bb  Trumpet ") == "bb_trumpet"
    with pytest.raises(ParameterError, match="unknown instrument class 'kazoo'"):
        canonical("kazoo")
    with pytest.raises(ParameterError, match="unknown instrument class"):
        canonical("violin", classes=["piano", "flute"])


def _blobs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (3, 6))
    x = np.concatenate([c + rng.normal(0, 1.0, (n, 6)) for c in centres])
    labels = [c for c in ("oboe", "flute", "tuba") for _ in range(n)]
    return x * [1, 10, 0.1, 1, 1, 5] + 3, labels


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_baselines_match_sklearn_and_round_trip(kind: str, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x, labels = _blobs()
    classes = ["flute", "oboe", "tuba", "piano"]  # piano: never seen, never answered
    base = fit_baseline(x, labels, kind=kind, classes=classes)
    y = np.array([classes.index(v) for v in labels])
    clf = LinearSVC(C=1.0, max_iter=5000, random_state=0) if kind == "svm" else LogisticRegression(max_iter=5000)
    ref = make_pipeline(StandardScaler(), clf).fit(x, y)
    test, _ = _blobs(10, seed=1)
    np.testing.assert_allclose(base.scores(test)[:, :3], ref.decision_function(test), rtol=1e-6, atol=1e-8)
    if kind == "logreg":
        np.testing.assert_allclose(np.exp(base.log_probs(test))[:, :3], ref.predict_proba(test), atol=1e-9)
    assert "piano" not in base.predict(test)
    path = base.save(tmp_path / f"{kind}.json")
    assert json.loads(path.read_text())["model"] == "LinearBaseline"
    back = LinearBaseline.load(path)
    np.testing.assert_array_equal(back.scores(test), base.scores(test))
    assert back.classes == classes and back.kind == kind


def test_baseline_errors(tmp_path) -> None:
    x, labels = _blobs(5)
    with pytest.raises(ParameterError, match="kind must be"):
        fit_baseline(x, labels, kind="forest")
    with pytest.raises(ParameterError, match="not among the classes"):
        fit_baseline(x, labels, classes=["oboe", "flute"])
    with pytest.raises(ParameterError, match="at least two classes"):
        fit_baseline(x[:5], labels[:5])
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ParameterError, match="not a saved baseline"):
        LinearBaseline.load(tmp_path / "x.json")
