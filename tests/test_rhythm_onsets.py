"""dlmir.rhythm.onsets: peak picking (hand-derived and librosa's), onset times on click and note tracks with known
onsets, the madmom sample against librosa in the same test, silence / NaN / short clips, pluggable novelty."""

from __future__ import annotations

from pathlib import Path

import librosa
import mir_eval
import numpy as np
import pytest
import soundfile as sf
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.rhythm.onsets import detect_onsets, onset_novelty, peak_times, pick_peaks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "annotated"
SAMPLE = DATA / "madmom_sample.wav"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason=f"shared annotated clip not found under {DATA}")
SR = 22050


def click_track(bpm: float, *, seconds: float = 8.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decaying 1 kHz clicks (60 ms) at ``bpm`` from 0.5 s on, starting off the frame grid, over faint noise."""
    rng = np.random.default_rng(seed)
    y = 1e-4 * rng.standard_normal(int(seconds * SR))
    times = np.arange(0.5, seconds - 0.3, 60.0 / bpm) + rng.uniform(0.0, 0.02)
    t = np.arange(int(0.06 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)
    for onset in times:
        i = int(round(onset * SR))
        y[i : i + click.size] += click[: y.size - i]
    return y.astype(np.float32), times


def note_track(*, seconds: float = 8.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic notes of random pitch and loudness at irregular onsets (0.18-0.45 s apart), decaying, faded out."""
    rng = np.random.default_rng(seed)
    y = 1e-4 * rng.standard_normal(int(seconds * SR))
    times = 0.3 + np.cumsum(rng.uniform(0.18, 0.45, 40))
    times = times[times < seconds - 0.5]
    t = np.arange(int(0.4 * SR)) / SR
    envelope = np.exp(-8 * t) * np.minimum(1.0, t / 0.002) * np.minimum(1.0, (t[-1] - t) / 0.05)
    for onset in times:
        f0 = 110 * 2 ** (rng.integers(0, 36) / 12)
        note = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 5)) * envelope * rng.uniform(0.3, 1.0)
        i = int(round(onset * SR))
        y[i : i + note.size] += note[: y.size - i]
    return y.astype(np.float32), times


# -- peak picking -------------------------------------------------------------------------------------------------
def test_pick_peaks_hand_made_curves() -> None:
    x = np.zeros(30)
    x[[5, 12, 13, 20]] = [1.0, 0.6, 0.8, 0.05]
    # 5: alone; 12 rises into 13 (13 wins with a look-ahead, 12 without); 20: below the mean + delta
    assert pick_peaks(x, pre_max=1, post_max=2, pre_avg=3, post_avg=3, delta=0.1, wait=1).tolist() == [5, 13]
    assert pick_peaks(x, pre_max=1, post_max=1, pre_avg=3, post_avg=3, delta=0.1, wait=1).tolist() == [5, 12]
    assert pick_peaks(x, pre_max=1, post_max=2, pre_avg=3, post_avg=3, delta=0.01, wait=1).tolist() == [5, 13, 20]
    # wait: a peak within `wait` frames of the previous one is dropped (the earlier one wins)
    y = np.zeros(20)
    y[[4, 7]] = [1.0, 1.0]
    assert pick_peaks(y, wait=2).tolist() == [4, 7]  # 7 > 4 + 2
    assert pick_peaks(y, wait=3).tolist() == [4]  # 7 is not > 4 + 3
    # plateaus: every frame equal to the window maximum qualifies, `wait` thins them
    z = np.zeros(12)
    z[5:7] = 1.0
    assert pick_peaks(z, wait=0).tolist() == [5, 6] and pick_peaks(z, wait=1).tolist() == [5]
    assert pick_peaks(np.zeros(0)).size == 0 and pick_peaks(np.zeros(10)).size == 0


@pytest.mark.parametrize(
    "kw",
    [
        dict(pre_max=1, post_max=1, pre_avg=4, post_avg=5, delta=0.07, wait=1),
        dict(pre_max=3, post_max=3, pre_avg=10, post_avg=2, delta=0.02, wait=0),
        dict(pre_max=0, post_max=2, pre_avg=0, post_avg=1, delta=0.3, wait=5),
    ],
)
def test_pick_peaks_matches_librosa(kw: dict) -> None:
    x = np.random.default_rng(1).random(500) ** 3
    ref = librosa.util.peak_pick(x, **kw)
    np.testing.assert_array_equal(pick_peaks(x, **kw), ref)


def test_pick_peaks_rejects_bad_windows() -> None:
    with pytest.raises(ParameterError, match="post_max"):
        pick_peaks(np.ones(5), post_max=0)
    with pytest.raises(ParameterError, match="wait"):
        pick_peaks(np.ones(5), wait=-1)
    with pytest.raises(ParameterError, match="shape"):
        pick_peaks(np.ones((2, 5)))
    with pytest.raises(ParameterError, match="NaN"):
        pick_peaks(np.array([0.0, np.nan, 1.0]))


def test_peak_times_parabola_and_offset() -> None:
    x = np.zeros(10)
    x[4:7] = [1.0, 3.0, 2.0]  # vertex of the parabola through (4, 1), (5, 3), (6, 2): 5 + 1/6
    np.testing.assert_allclose(peak_times(x, np.array([5]), 10.0), [(5 + 1 / 6) / 10])
    np.testing.assert_allclose(peak_times(x, np.array([5]), 10.0, interpolate=False, offset=-1.0), [0.4])
    # end frames and flat neighbourhoods stay on the frame; times never go below 0
    np.testing.assert_allclose(peak_times(np.ones(4), np.array([0, 2, 3]), 4.0), [0.0, 0.5, 0.75])
    assert peak_times(x, np.array([5]), 10.0, offset=-9.0)[0] == 0.0


# -- onsets of audio ----------------------------------------------------------------------------------------------
def test_librosa_settings_give_librosas_onsets() -> None:
    y, _ = note_track(seed=3)
    ours = detect_onsets(y, SR, post_max=0.0, interpolate=False, offset=0.0)
    np.testing.assert_allclose(ours, librosa.onset.onset_detect(y=y.astype(np.float64), sr=SR, units="time"))


@pytest.mark.parametrize("bpm", [60, 90, 120, 150])
def test_clicks_found_within_10_ms(bpm: float) -> None:
    y, clicks = click_track(bpm, seed=bpm)
    onsets = detect_onsets(y, SR)
    assert len(onsets) == len(clicks)
    assert np.max(np.abs(onsets - clicks)) <= 0.010
    # librosa's onsets of the same audio are all found too, but later (about one frame)
    theirs = librosa.onset.onset_detect(y=y, sr=SR, units="time")
    assert len(theirs) == len(clicks)
    assert np.mean(np.abs(onsets - clicks)) < np.mean(np.abs(theirs - clicks))


@pytest.mark.parametrize("seed", [0, 1])
def test_note_tracks_score_at_least_librosa(seed: int) -> None:
    y, notes = note_track(seed=seed)
    ours = detect_onsets(y, SR)
    theirs = librosa.onset.onset_detect(y=y, sr=SR, units="time")
    f_ours = mir_eval.onset.f_measure(notes, ours, window=0.05)[0]
    f_theirs = mir_eval.onset.f_measure(notes, theirs, window=0.05)[0]
    assert f_ours == 1.0 and f_ours >= f_theirs
    assert np.max(np.abs(ours - notes)) <= 0.012
    # at a 20 ms tolerance the placement shows: every dlmir onset still counts
    assert mir_eval.onset.f_measure(notes, ours, window=0.02)[0] == 1.0


@needs_sample
def test_madmom_sample_at_least_librosa() -> None:
    y, sr = sf.read(str(SAMPLE), dtype="float32")
    y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    reference = np.loadtxt(DATA / "madmom_sample.onsets", comments="#")
    ours = detect_onsets(y, SR)
    theirs = librosa.onset.onset_detect(y=y, sr=SR, units="time")
    for window in (0.05, 0.025):
        f_ours = mir_eval.onset.evaluate(reference, ours, window=window)["F-measure"]
        f_theirs = mir_eval.onset.evaluate(reference, theirs, window=window)["F-measure"]
        assert f_ours >= f_theirs, (window, f_ours, f_theirs)
    assert mir_eval.onset.f_measure(reference, ours, window=0.05)[0] == 1.0  # all 15, as measured


# -- silence, NaN, short clips, other novelties ----------------------------------------------------------------------
def test_silence_has_no_onsets() -> None:
    out = detect_onsets(np.zeros(SR, dtype=np.float32), SR)
    assert out.shape == (0,) and out.dtype == np.float64


def test_nan_is_a_clear_error() -> None:
    y = np.zeros(SR, dtype=np.float32)
    y[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        detect_onsets(y, SR)


def test_one_second_clip_and_too_short_audio() -> None:
    y, clicks = click_track(120, seconds=1.0)
    onsets = detect_onsets(y, SR)
    assert len(onsets) == len(clicks) == 1 and abs(onsets[0] - clicks[0]) <= 0.010
    with pytest.raises(AudioError, match="shorter than one frame"):
        detect_onsets(y[:1000], SR)
    with pytest.raises(AudioError, match="empty"):
        detect_onsets(np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ParameterError, match="mono"):
        detect_onsets(np.zeros((2, SR), dtype=np.float32), SR)
    with pytest.raises(ParameterError, match="pre_avg"):
        detect_onsets(y, SR, pre_avg=-1.0)


class Envelope(torch.nn.Module):
    """A stand-in for a learned novelty: the rectified rise of a 256-sample RMS envelope, (batch, frames)."""

    def __init__(self, sr: float = 11025, hop_length: int = 256, squeeze: bool = True) -> None:
        super().__init__()
        self.sr, self.hop_length, self.squeeze = sr, hop_length, squeeze

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        frames = y.unfold(-1, self.hop_length, self.hop_length)
        rms = frames.pow(2).mean(-1).sqrt()
        out = torch.relu(torch.diff(rms, dim=-1, prepend=rms[:, :1]))
        return out if self.squeeze else out[:, None]


@pytest.mark.parametrize("squeeze", [True, False])
def test_any_novelty_module_plugs_in(squeeze: bool) -> None:
    y, clicks = click_track(90, seed=5)
    module = Envelope(squeeze=squeeze)
    curve, fps = onset_novelty(y, SR, novelty=module)  # resampled to the module's 11025 Hz
    assert fps == pytest.approx(11025 / 256) and curve.ndim == 1
    onsets = detect_onsets(y, SR, novelty=module)
    assert mir_eval.onset.f_measure(clicks, onsets, window=0.05)[0] == 1.0


def test_novelty_module_errors() -> None:
    y, _ = click_track(90, seconds=2.0)

    class NoRate(torch.nn.Module):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return y

    with pytest.raises(ParameterError, match="sampling rate"):
        detect_onsets(y, SR, novelty=NoRate())

    class Wrong(Envelope):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            return torch.zeros(1, 3, 10)

    with pytest.raises(ParameterError, match=r"\(batch, frames\)"):
        detect_onsets(y, SR, novelty=Wrong())
