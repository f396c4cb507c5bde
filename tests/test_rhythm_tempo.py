"""estimate_tempo, tempo annotation files and the tempo evaluation (Acc1, Acc2, P-score; dlmir against librosa)."""

from __future__ import annotations

import math
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from dlmir.errors import AnnotationError, AudioError, ParameterError
from dlmir.frontends import Tempo
from dlmir.rhythm.tempo import (
    TempoEstimate,
    click_track,
    estimate_tempo,
    evaluate_tempo,
    find_tempo_pairs,
    librosa_tempo,
    read_tempo_annotation,
    tempo_scores,
)

SR = 22050
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "annotated"
needs_data = pytest.mark.skipif(not (DATA / "madmom_sample.tempo").is_file(), reason=f"no shared data at {DATA}")


def clicks(bpm: float, *, seconds: float = 6.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Decaying 1 kHz clicks every ``60 / bpm`` s from a random phase, with a little noise; float32."""
    rng = np.random.default_rng(seed)
    y = 0.01 * rng.standard_normal(int(seconds * sr))
    t = np.arange(int(0.02 * sr)) / sr
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.003)
    for start in np.arange(rng.uniform(0, 60 / bpm), seconds, 60 / bpm):
        seg = y[int(round(start * sr)) : int(round(start * sr)) + click.size]
        seg += click[: seg.size]
    return y.astype(np.float32)


def drums(bpm: float, *, seconds: float = 8.0, seed: int = 0) -> np.ndarray:
    """A rock beat on a 16th-note grid: kick on 1 and 3 (and the 'and' of 3 at random), snare on 2 and 4, hi-hat
    on every 8th note with accents on the beats, each hit with 5 ms of timing jitter; float32 at 22050 Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = 0.01 * rng.standard_normal(n)
    t = np.arange(int(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.02)) * t) * np.exp(-t / 0.08)
    sixteenth = 60.0 / bpm / 4
    for k, start in enumerate(np.arange(rng.uniform(0, 4 * sixteenth), seconds, sixteenth)):
        i = max(0, int(round((start + rng.normal(0, 0.005)) * SR)))
        seg = y[i : i + t.size]
        m, step = seg.size, k % 16
        if step in (0, 8) or (step == 10 and rng.random() < 0.5):
            seg += kick[:m]
        if step in (4, 12):
            seg += 0.5 * rng.standard_normal(m) * np.exp(-t[:m] / 0.06)
        if step % 2 == 0:
            seg += (0.25 if step % 4 == 0 else 0.15) * np.diff(rng.standard_normal(m + 1)) * np.exp(-t[:m] / 0.015)
    return (0.8 * y / np.abs(y).max()).astype(np.float32)


def acc(estimate: float, reference: float) -> tuple[bool, bool]:
    """Acc1 and Acc2 by hand: within 4 %, and also at 2, 3, 1/2 or 1/3 times the reference."""
    near = [abs(estimate - reference * f) <= 0.04 * reference * f for f in (1, 2, 3, 1 / 2, 1 / 3)]
    return near[0], any(near)


def test_estimate_tempo_of_clicks_and_the_docstring_example() -> None:
    est = estimate_tempo(clicks(111.0), SR)
    assert isinstance(est, TempoEstimate) and est.has_tempo
    assert est.bpm1 == pytest.approx(111.0, rel=0.01) and 0.5 <= est.strength <= 1.0
    assert round(estimate_tempo(click_track(120.0), SR).bpm1) == 120
    assert estimate_tempo(torch.from_numpy(clicks(95.0)), SR).bpm1 == pytest.approx(95.0, rel=0.01)


def test_other_rates_are_resampled_and_models_can_be_passed() -> None:
    assert estimate_tempo(clicks(84.0, sr=44100), 44100).bpm1 == pytest.approx(84.0, rel=0.01)
    assert estimate_tempo(clicks(84.0, sr=16000), 16000.0).bpm1 == pytest.approx(84.0, rel=0.01)
    flat = Tempo(prior=False)
    assert estimate_tempo(clicks(140.0), SR, model=flat).bpm1 == pytest.approx(140.0, rel=0.01)


def test_silence_is_no_tempo_and_bad_audio_raises() -> None:
    est = estimate_tempo(np.zeros(3 * SR, dtype=np.float32), SR)
    assert not est.has_tempo and all(math.isnan(v) for v in est) and est.line() == "nan nan nan"
    with pytest.raises(AudioError, match="at least 2.00 s"):
        estimate_tempo(clicks(120.0, seconds=1.0), SR)
    bad = clicks(120.0)
    bad[1000] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        estimate_tempo(bad, SR)
    with pytest.raises(AudioError, match="NaN"):
        estimate_tempo(np.full(3 * 44100, np.nan, dtype=np.float32), 44100)  # also through the resampler
    with pytest.raises(ParameterError, match="mono"):
        estimate_tempo(np.zeros((2, 3 * SR), dtype=np.float32), SR)
    with pytest.raises(ParameterError, match="sr"):
        estimate_tempo(clicks(120.0), 0)
    with pytest.raises(ParameterError, match="floating"):
        estimate_tempo(np.zeros(3 * SR, dtype=np.int16), SR)


def test_a_model_that_is_not_a_tempo_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError):
        estimate_tempo(clicks(120.0), SR, model=tmp_path)  # no config.json
    with pytest.raises(ParameterError, match="Tempo"):
        estimate_tempo(clicks(120.0), SR, model=torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_read_tempo_annotations(tmp_path: Path) -> None:
    (tmp_path / "a.bpm").write_text("90.0\n")
    (tmp_path / "b.tempo").write_text("# comment\n\n 87.5 175\t 0.7\n")
    (tmp_path / "c.tempo").write_text("60 120\n")
    assert read_tempo_annotation(tmp_path / "a.bpm")[0] == 90.0 and math.isnan(
        read_tempo_annotation(tmp_path / "a.bpm")[1]
    )
    assert read_tempo_annotation(tmp_path / "b.tempo") == (87.5, 175.0, 0.7)
    assert read_tempo_annotation(tmp_path / "c.tempo") == (60.0, 120.0, 0.5)
    for name, text, match in [
        ("empty.bpm", "# nothing\n", "no tempo"),
        ("words.bpm", "fast\n", "line 1"),
        ("neg.tempo", "# x\n-87 175 0.7\n", "line 2"),
        ("weight.tempo", "87 175 1.5\n", "strength"),
        ("many.tempo", "1 2 0.3 4\n", "t1 t2 s1"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(AnnotationError, match=match):
            read_tempo_annotation(tmp_path / name)
    with pytest.raises(AnnotationError, match="cannot read"):
        read_tempo_annotation(tmp_path / "missing.bpm")


@needs_data
def test_read_the_shared_annotations() -> None:
    assert read_tempo_annotation(DATA / "madmom_sample.tempo") == (87.5, 175.0, 0.7)
    assert read_tempo_annotation(DATA / "trumpet_90bpm.bpm").bpm1 == 90.0


def test_scores_by_hand() -> None:
    ref = TempoEstimate(87.5, 175.0, 0.7)
    # bpm1 within 4 % of 87.5; P-score: 87.5 hit (88), 175 missed (120 is 31 % off): weight 0.7
    assert list(tempo_scores(ref, TempoEstimate(88.0, 120.0, 0.6)).values()) == [1.0, 1.0, pytest.approx(0.7)]
    # bpm1 at twice the dominant tempo: Acc1 0, Acc2 1; both reference tempi hit: P-score 1
    assert list(tempo_scores(ref, TempoEstimate(175.5, 87.0, 0.6)).values()) == [0.0, 1.0, 1.0]
    single = TempoEstimate(90.0, math.nan, 1.0)
    assert list(tempo_scores(single, TempoEstimate(60.0, 30.0, 0.5)).values()) == [0.0, 0.0, 0.0]
    assert list(tempo_scores(single, TempoEstimate(30.0, 91.0, 0.5)).values()) == [0.0, 1.0, 1.0]  # 90 / 3; 91
    assert list(tempo_scores(single, TempoEstimate(math.nan, math.nan, math.nan)).values()) == [0.0, 0.0, 0.0]
    # the dominant tempo of an annotation whose second tempo carries more weight
    assert TempoEstimate(60.0, 120.0, 0.3).dominant == 120.0 and TempoEstimate(60.0, 120.0, 0.5).dominant == 60.0


def write_folder(folder: Path, bpms: list[float]) -> None:
    for i, bpm in enumerate(bpms):
        sf.write(folder / f"clip{i}.wav", clicks(bpm, seed=i), SR)
        if i % 2:
            (folder / f"clip{i}.tempo").write_text(f"# clip {i}\n{bpm} {2 * bpm} 0.6\n")
        else:
            (folder / f"clip{i}.bpm").write_text(f"{bpm}\n")


def test_evaluate_tempo_scores_designed_learned_and_librosa_on_the_same_audio(tmp_path: Path) -> None:
    bpms = [80.0, 100.0, 133.0]
    write_folder(tmp_path, bpms)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "broken.bpm").write_text("120\n")
    (tmp_path / "lonely.wav").write_bytes(b"no annotation: not listed")
    pairs = find_tempo_pairs(tmp_path)
    assert [p[0].name for p in pairs] == ["broken.wav", "clip0.wav", "clip1.wav", "clip2.wav"]
    report = evaluate_tempo(pairs, model=Tempo(prior=False))
    assert len(report.failed) == 1 and "broken.wav" in report.failed[0]
    assert [r["estimator"] for r in report.summary] == ["dlmir designed", "dlmir learned", "librosa"]
    assert all(r["files"] == 3 for r in report.summary)
    designed = report.summary[0]
    assert designed["Acc1"] == designed["Acc2"] == 1.0
    # P-score by hand: clips 0 and 2 (.bpm) have one reference tempo, hit by bpm1; clip 1 (.tempo) is 100 BPM with
    # weight 0.6 and 200 BPM with 0.4, hit if either estimate is within 8 % of it
    rows = [r for r in report.per_file if r["estimator"] == "dlmir designed"]
    clip1 = rows[1]
    hit200 = min(abs(clip1["bpm1"] - 200), abs(clip1["bpm2"] - 200)) <= 0.08 * 200
    assert [r["P-score"] for r in rows] == [1.0, pytest.approx(0.6 + 0.4 * hit200), 1.0]
    assert designed["P-score"] == pytest.approx((2 + 0.6 + 0.4 * hit200) / 3)
    rows = [r for r in report.per_file if r["estimator"] == "librosa"]
    for row, bpm, (audio, _) in zip(rows, bpms, pairs[1:], strict=True):
        y, _ = librosa.load(audio, sr=SR)
        expected = float(librosa.feature.tempo(y=y, sr=SR)[0])
        assert row["bpm1"] == pytest.approx(expected) and row["Acc1"] == float(acc(expected, bpm)[0])
    assert f"| dlmir designed | 100.0 | 100.0 | {100 * designed['P-score']:.1f} | 3 |" in report.markdown()


def test_find_tempo_pairs_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no audio file"):
        find_tempo_pairs(tmp_path)
    with pytest.raises(ParameterError, match="not a folder"):
        find_tempo_pairs(tmp_path / "nowhere")
    sf.write(tmp_path / "x.wav", clicks(90.0), SR)
    (tmp_path / "x.bpm").write_text("90\n")
    (tmp_path / "x.tempo").write_text("90 180 0.5\n")
    assert find_tempo_pairs(tmp_path)[0][1].name == "x.tempo"


def test_designed_estimator_is_at_least_as_accurate_as_librosa_on_synthetic_rhythms() -> None:
    """Clicks at 15 tempi from 40 to 240 BPM and rock beats at 8 tempi from 70 to 180 BPM, random phases."""
    cases = [(clicks(b, seed=i), b) for i, b in enumerate(np.linspace(40, 240, 15))]
    cases += [(drums(b, seed=i), b) for i, b in enumerate(np.linspace(70, 180, 8))]
    ours = np.array([acc(estimate_tempo(y, SR).bpm1, b) for y, b in cases])
    theirs = np.array([acc(librosa_tempo(y, SR).bpm1, b) for y, b in cases])
    assert ours[:, 0].mean() >= theirs[:, 0].mean()  # Acc1
    assert ours[:, 1].mean() >= theirs[:, 1].mean() and ours[:, 1].mean() == 1.0  # Acc2


@needs_data
def test_the_shared_annotated_clips() -> None:
    report = evaluate_tempo(find_tempo_pairs(DATA))
    assert not report.failed and [r["files"] for r in report.summary] == [2, 2]
    designed, peer = report.summary
    assert designed["P-score"] >= peer["P-score"] and designed["Acc2"] >= peer["Acc2"]
    madmom = next(r for r in report.per_file if r["file"] == "madmom_sample.wav" and r["estimator"] == "dlmir designed")
    assert madmom["P-score"] >= 0.3  # 175 BPM, the annotation's second tempo, is one of the two estimates
