"""dlmir.rhythm.beats: the dynamic program against librosa's on the same envelope and tempo, hand-made novelty
curves, click tracks at several tempi, tempo of a novelty, silence / NaN / short clips, pluggable novelty."""

from __future__ import annotations

import librosa
import mir_eval
import numpy as np
import pytest
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.rhythm.beats import beat_local_score, beat_tempo, dp_beats, novelty_tempo, track_beats
from dlmir.rhythm.onsets import onset_novelty
from dlmir.rhythm.tempo import estimate_tempo

SR = 22050
FPS = SR / 512


def click_track(bpm: float, *, seconds: float = 10.0, seed: int = 0, accent: bool = False):
    """Decaying 1 kHz clicks at ``bpm`` from 0.4 s on over faint noise; with ``accent`` a weaker click halfway
    between beats (an off-beat the tracker must not take). Returns audio and beat times."""
    rng = np.random.default_rng(seed)
    y = 1e-4 * rng.standard_normal(int(seconds * SR))
    beats = np.arange(0.4, seconds - 0.2, 60.0 / bpm) + rng.uniform(0.0, 0.02)
    t = np.arange(int(0.06 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)
    events = [(b, 1.0) for b in beats] + ([(b + 30.0 / bpm, 0.3) for b in beats] if accent else [])
    for time, gain in events:
        i = int(round(time * SR))
        if i < y.size:
            y[i : i + click.size] += gain * click[: y.size - i]
    return y.astype(np.float32), beats


def test_local_score_is_a_gaussian_smoothing() -> None:
    x = np.zeros(50)
    x[20] = 1.0
    fpb = 16
    score = beat_local_score(x, fpb)
    sigma = fpb / 32.0
    expected = np.exp(-0.5 * ((np.arange(50) - 20) / sigma) ** 2) * (np.abs(np.arange(50) - 20) <= fpb)
    np.testing.assert_allclose(score, expected / x.std(ddof=1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bpm", [72.0, 117.45, 160.0])
@pytest.mark.parametrize("trim", [True, False])
def test_dp_matches_librosa_on_the_same_envelope(bpm: float, trim: bool) -> None:
    y, _ = click_track(100, seed=2, accent=True)
    y = y + 0.02 * np.random.default_rng(3).standard_normal(y.size).astype(np.float32)
    env = librosa.onset.onset_strength(y=y, sr=SR, aggregate=np.median)
    _, ref = librosa.beat.beat_track(onset_envelope=env, sr=SR, bpm=bpm, trim=trim)
    np.testing.assert_array_equal(dp_beats(env, FPS, bpm, trim=trim, librosa_compatible=True), ref)


def test_impulse_train_gives_its_impulses() -> None:
    x = np.zeros(400)
    beats = np.arange(13, 400, 20)
    x[beats] = 1.0
    np.testing.assert_array_equal(dp_beats(x, FPS, 60 * FPS / 20), beats)
    # an impulse train a little off the period: the beats still sit on the impulses
    np.testing.assert_array_equal(dp_beats(x, FPS, 60 * FPS / 21), beats)
    assert novelty_tempo(x, FPS) == pytest.approx(60 * FPS / 20, rel=0.01)


def test_tempo_of_a_novelty_prefers_the_level_near_120() -> None:
    x = np.zeros(1000)
    x[::16] = 1.0  # 161.5 BPM: also 80.7 (every other impulse); the prior near 120 BPM picks 161.5
    assert novelty_tempo(x, FPS) == pytest.approx(60 * FPS / 16, rel=0.01)
    assert novelty_tempo(np.zeros(1000), FPS) == 120.0  # nothing to go on: the prior's centre
    assert novelty_tempo(x[:10], FPS) == 120.0  # too short for any lag


def test_the_tempo_followed() -> None:
    y, _ = click_track(100, seconds=6.0, seed=4)
    curve, fps = onset_novelty(y, SR)
    assert beat_tempo(y, SR, curve, fps) == estimate_tempo(y, SR).bpm1  # the project's tempo estimator
    assert beat_tempo(y, SR, curve, fps, tempo_model="novelty") == novelty_tempo(curve, fps)
    short = y[: SR // 2]  # shorter than the estimator's slowest period (2 s): the novelty's tempo answers
    curve, fps = onset_novelty(short, SR)
    assert beat_tempo(short, SR, curve, fps) == novelty_tempo(curve, fps)
    # the beats follow the tempo they are given
    beats = track_beats(y, SR, bpm=100.0)
    assert np.median(np.diff(beats)) == pytest.approx(0.6, abs=1.5 / FPS)


@pytest.mark.parametrize("bpm", [60, 90, 120, 150])
def test_click_tracks_beat_f_measure(bpm: float) -> None:
    y, beats = click_track(bpm, seed=bpm)
    found = track_beats(y, SR)  # the tempo estimated
    assert mir_eval.beat.f_measure(beats, found) >= 0.95
    # weaker clicks between the beats: at the given tempo the tracker keeps to the beats
    accented, _ = click_track(bpm, seed=bpm, accent=True)
    assert mir_eval.beat.f_measure(beats, track_beats(accented, SR, bpm=bpm)) >= 0.95
    # the designed novelty's one-frame lag is taken off: beats land within 15 ms of the clicks
    matched = [found[np.argmin(np.abs(found - b))] - b for b in beats]
    assert np.max(np.abs(matched)) <= 0.015


def test_silence_has_no_beats() -> None:
    out = track_beats(np.zeros(3 * SR, dtype=np.float32), SR)
    assert out.shape == (0,) and out.dtype == np.float64
    assert dp_beats(np.zeros(100), FPS, 120.0).size == 0


def test_nan_and_bad_parameters_are_clear_errors() -> None:
    y, _ = click_track(120, seconds=3.0)
    bad = y.copy()
    bad[5] = np.inf
    with pytest.raises(AudioError, match="NaN or infinite"):
        track_beats(bad, SR)
    for bpm in (0.0, -60.0, float("nan")):
        with pytest.raises(ParameterError, match="bpm"):
            track_beats(y, SR, bpm=bpm)
    with pytest.raises(ParameterError, match="tightness"):
        dp_beats(np.ones(50), FPS, 120.0, tightness=0.0)
    with pytest.raises(ParameterError, match="NaN"):
        dp_beats(np.array([0.0, np.nan, 1.0]), FPS, 120.0)


def test_one_second_clip_does_not_crash() -> None:
    y, beats = click_track(120, seconds=1.0)
    out = track_beats(y, SR)
    assert out.ndim == 1 and np.all(np.diff(out) > 0) and np.all((out >= 0) & (out <= 1.0))
    assert mir_eval.beat.f_measure(beats, track_beats(y, SR, bpm=120)) == 1.0
    with pytest.raises(AudioError, match="shorter than one frame"):
        track_beats(y[:500], SR)


class Envelope(torch.nn.Module):
    """A stand-in for a learned novelty: the rectified rise of a 256-sample RMS envelope, (batch, 1, frames)."""

    sr, hop_length = 11025, 256

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        rms = y.unfold(-1, self.hop_length, self.hop_length).pow(2).mean(-1).sqrt()
        return torch.relu(torch.diff(rms, dim=-1, prepend=rms[:, :1]))[:, None]


def test_any_novelty_module_plugs_in() -> None:
    y, beats = click_track(90, seed=7)
    assert mir_eval.beat.f_measure(beats, track_beats(y, SR, novelty=Envelope())) >= 0.95
