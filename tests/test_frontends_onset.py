"""OnsetStrength against librosa.onset.onset_strength (synthetic and real recordings), gradients, errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends import OnsetStrength
from dlmir.io import load

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = sorted((DATA / "real-music").glob("*.ogg")) if DATA.exists() else []
needs_data = pytest.mark.skipif(not REAL, reason=f"shared test recordings not found under {DATA}/real-music")


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def clicks(n: int = 44100, sr: int = 22050, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decaying 880 Hz notes every 0.25 s plus a little noise; returns audio and onset sample indices."""
    rng = np.random.default_rng(seed)
    onsets = np.arange(sr // 8, n - sr // 8, sr // 4)
    y = 1e-3 * rng.standard_normal(n)
    t = np.arange(sr // 5) / sr
    note = np.sin(2 * np.pi * 880 * t) * np.exp(-t * 30)
    for o in onsets:
        seg = y[o : o + note.size]  # a view: adding into it edits y
        seg += note[: seg.size]
    return y, onsets


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(lag=2),
        dict(max_size=3),
        dict(max_size=4, lag=3, hop_length=256),
        dict(center=False),
        dict(n_mels=64, fmax=8000.0, n_fft=1024, hop_length=441),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_onset_strength_matches_librosa(kw: dict, dtype: type) -> None:
    y, _ = clicks()
    y = y.astype(dtype)
    ref = librosa.onset.onset_strength(y=y.astype(np.float64), sr=22050, **kw)
    out = OnsetStrength(**kw)(y)
    assert tuple(out.shape) == (1, 1, ref.shape[-1])
    assert rel_err(out[0, 0].numpy(), ref) <= 1e-3


def test_onset_peaks_at_note_onsets() -> None:
    y, onsets = clicks()
    env = OnsetStrength(hop_length=256)(y)[0, 0].numpy()
    peaks = librosa.util.peak_pick(env, pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.5, wait=5)
    frames = librosa.samples_to_frames(onsets, hop_length=256)
    peaks = peaks[env[peaks] > 0.5 * env.max()]  # strong peaks only (the signal's start is a weak one)
    assert len(peaks) == len(frames)
    assert np.max(np.abs(peaks - frames)) <= 2  # within 2 frames (23 ms)


@needs_data
@pytest.mark.parametrize("path", REAL, ids=[p.stem[:20] for p in REAL])
def test_onset_real_recordings(path: Path) -> None:
    y, sr = load(path, duration=10.0)
    ref = librosa.onset.onset_strength(y=y, sr=sr)
    out = OnsetStrength(sr=sr)(y)[0, 0].numpy()
    assert out.shape == ref.shape
    assert rel_err(out, ref) <= 1e-3


def test_stage_names_and_config() -> None:
    fe = OnsetStrength(lag=2)
    assert fe.names == ["stft", "modulus", "mel", "db", "diff", "rectify", "mean", "align"]
    assert fe.config["lag"] == 2 and fe.config["hop_length"] == 512 and fe.hop_length == 512


def test_gradcheck_reaches_input_and_band_weights() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(1, 96, dtype=torch.float64, generator=gen, requires_grad=True)
    fe = OnsetStrength(sr=8000, n_fft=32, hop_length=16, n_mels=6, top_db=None, trainable=True).double()
    names = ["stages.mel.weight", "stages.mean.weight"]
    mel, mean = (dict(fe.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def f(y: torch.Tensor, mel: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(fe, {names[0]: mel, names[1]: mean}, (y,))

    assert torch.autograd.gradcheck(f, (y, mel, mean), fast_mode=True)


@pytest.mark.parametrize("frozen", [(), ("mel",), ("stft", "mean"), ("stft", "mel", "mean")])
def test_one_optimiser_step_changes_trainable_only(frozen: tuple[str, ...]) -> None:
    y, _ = clicks(8000)
    x = torch.as_tensor(y, dtype=torch.float32).requires_grad_(True)  # so backward runs even when all is frozen
    fe = OnsetStrength(n_fft=256, hop_length=128, n_mels=16, trainable=True)
    if frozen:  # freeze() with no names would freeze every stage
        fe.freeze(*frozen)
    assert fe.trainable_stages == [s for s in ("stft", "mel", "mean") if s not in frozen]
    params = dict(fe.named_parameters())
    before = {name: p.detach().clone() for name, p in params.items()}
    opt = torch.optim.Adam(fe.parameters(), lr=1e-2)
    fe(x).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # the gradient passes through the frozen stages
    for name, p in params.items():
        if name.split(".")[1] in frozen:  # "stages.<stage>.<parameter>"
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    opt.step()
    for name, p in params.items():
        assert torch.equal(before[name], p) == (name.split(".")[1] in frozen), name


@pytest.mark.parametrize(
    ("kw", "match"),
    [(dict(lag=0), "lag"), (dict(max_size=0), "max_size"), (dict(fmax=1e5), "Nyquist"), (dict(hop_length=0), "hop")],
)
def test_bad_parameters_raise(kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        OnsetStrength(**kw)


def test_short_signal_raises_audio_error() -> None:
    with pytest.raises(AudioError, match="shorter than one frame"):
        OnsetStrength()(np.zeros(1000))
