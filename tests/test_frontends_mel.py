"""MelSpectrogram and MFCC against librosa (synthetic and real recordings), gradients, training, errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.filters import dct_matrix
from dlmir.frontends import MFCC, MelSpectrogram, OnsetStrength
from dlmir.io import load

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = sorted((DATA / "real-music").glob("*.ogg")) if DATA.exists() else []
needs_data = pytest.mark.skipif(not REAL, reason=f"shared test recordings not found under {DATA}/real-music")


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def tones(n: int = 22050, sr: int = 22050, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    y = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate([220.0, 330.0, 440.0, 1250.0]))
    return y * np.hanning(n) + 0.01 * rng.standard_normal(n)


MEL_CASES = [
    {},
    dict(n_mels=40, fmin=60.0, fmax=8000.0, htk=True),
    dict(power=1.0, norm=None, n_fft=1024, hop_length=256),
    dict(sr=16000, n_fft=512, hop_length=160, win_length=400, window="hamming", n_mels=64),
    dict(center=False, n_mels=32, norm=2.0),
]


@pytest.mark.parametrize("kw", MEL_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mel_matches_librosa(kw: dict, dtype: type) -> None:
    y = tones(sr=kw.get("sr", 22050)).astype(dtype)
    ref = librosa.feature.melspectrogram(y=y.astype(np.float64), **kw)
    out = MelSpectrogram(**kw)(y)
    assert out.dtype == torch.from_numpy(y).dtype
    assert tuple(out.shape) == (1, *ref.shape)
    assert rel_err(out[0].numpy(), ref) <= 1e-3
    if dtype is np.float64:
        assert rel_err(out[0].numpy(), ref) <= 1e-6  # float64 holds far tighter than required


MFCC_CASES = [
    {},
    dict(n_mfcc=13, lifter=22),
    dict(dct_type=3, norm=None, n_mels=40),
    dict(dct_type=1, norm=None, n_mfcc=12, n_mels=64, mel_norm=None),
    dict(sr=16000, n_fft=512, hop_length=160, n_mels=40, top_db=None),
]


@pytest.mark.parametrize("kw", MFCC_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mfcc_matches_librosa(kw: dict, dtype: type) -> None:
    y = tones(sr=kw.get("sr", 22050)).astype(dtype)
    lib_kw = dict(kw)
    top_db = lib_kw.pop("top_db", 80.0)
    if top_db is None:  # librosa.feature.mfcc has no top_db: build it from its parts
        mel_kw = {k: v for k, v in lib_kw.items() if k not in ("sr", "n_mfcc", "dct_type", "norm", "lifter")}
        s = librosa.power_to_db(
            librosa.feature.melspectrogram(y=y.astype(np.float64), sr=kw["sr"], **mel_kw), top_db=None
        )
        ref = librosa.feature.mfcc(S=s, n_mfcc=kw.get("n_mfcc", 20))
    else:
        ref = librosa.feature.mfcc(y=y.astype(np.float64), **lib_kw)
    out = MFCC(**kw)(y)
    assert tuple(out.shape) == (1, *ref.shape)
    assert rel_err(out[0].numpy(), ref) <= 1e-3


def test_dct_matrix_is_scipy_dct() -> None:
    s = np.random.default_rng(0).standard_normal((40, 7))
    for t in (1, 2, 3):
        assert np.allclose(dct_matrix(13, 40, dct_type=t, norm=None) @ s, scipy.fft.dct(s, type=t, axis=0)[:13])
    d = dct_matrix(40, 40)
    assert np.allclose(d @ d.T, np.eye(40))  # orthonormal DCT-II


def test_mfcc_top_db_per_batch_item() -> None:
    loud, quiet = tones(11025, seed=1), 1e-3 * tones(11025, seed=2)
    quiet[:4000] = 0.0  # silence in one item only: its floor must not depend on the other item
    fe = MFCC(n_mfcc=13)
    batch = fe(np.stack([loud, quiet]))
    for i, y in enumerate((loud, quiet)):
        assert rel_err(batch[i].numpy(), librosa.feature.mfcc(y=y, n_mfcc=13)) <= 1e-3


def test_long_batch_runs_in_chunks_with_same_result() -> None:
    """Items longer than 2**19 samples run one at a time; results equal the per-item calls."""
    ys = np.stack([tones(2**19 + 1000, seed=s) for s in range(3)]).astype(np.float32)
    ys[1] *= 1e-3
    for fe in (MelSpectrogram(), MFCC(), OnsetStrength()):
        with torch.inference_mode():
            batch = fe(ys)
            items = [fe(y)[0] for y in ys]
        assert batch.shape[0] == 3
        for i in range(3):
            assert torch.allclose(batch[i], items[i], rtol=1e-5, atol=1e-5 * float(items[i].abs().max()))


@needs_data
@pytest.mark.parametrize("path", REAL, ids=[p.stem[:20] for p in REAL])
def test_mel_and_mfcc_real_recordings(path: Path) -> None:
    y, sr = load(path, duration=10.0)
    ref_mel = librosa.feature.melspectrogram(y=y, sr=sr)
    assert rel_err(MelSpectrogram(sr=sr)(y)[0].numpy(), ref_mel) <= 1e-3
    ref_mfcc = librosa.feature.mfcc(y=y, sr=sr)
    assert rel_err(MFCC(sr=sr)(y)[0].numpy(), ref_mfcc) <= 1e-3


def test_stage_names() -> None:
    assert MelSpectrogram().names == ["stft", "modulus", "mel"]
    assert MFCC().names == ["stft", "modulus", "mel", "db", "dct"]


def test_gradcheck_mel_and_mfcc() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(1, 64, dtype=torch.float64, generator=gen, requires_grad=True)
    mel = MelSpectrogram(sr=8000, n_fft=32, hop_length=16, n_mels=6, trainable=True).double()
    names = ["stages.stft.real", "stages.mel.weight"]
    real, w = (dict(mel.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def f(y: torch.Tensor, real: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(mel, {names[0]: real, names[1]: w}, (y,))

    assert torch.autograd.gradcheck(f, (y, real, w), fast_mode=True)
    mfcc = MFCC(sr=8000, n_fft=32, hop_length=16, n_mels=6, n_mfcc=4, top_db=None, trainable=True).double()
    dct = mfcc["dct"].weight.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda y, d: torch.func.functional_call(mfcc, {"stages.dct.weight": d}, (y,)), (y, dct), fast_mode=True
    )


def test_one_optimiser_step_changes_trainable_only() -> None:
    y = torch.as_tensor(tones(8000), dtype=torch.float32)
    for trainable in (True, False):
        fe = MFCC(n_fft=256, hop_length=128, n_mels=20, n_mfcc=8, trainable=trainable)
        before = {n: p.detach().clone() for n, p in fe.named_parameters()}
        opt = torch.optim.Adam(fe.parameters(), lr=1e-2)
        x = y.clone().requires_grad_(True)
        fe(x).square().mean().backward()
        opt.step()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        changed = {n for n, p in fe.named_parameters() if not torch.equal(before[n], p)}
        assert changed == (
            {"stages.stft.real", "stages.stft.imag", "stages.mel.weight", "stages.dct.weight"} if trainable else set()
        )


@pytest.mark.parametrize(
    ("cls", "kw", "match"),
    [
        (MelSpectrogram, dict(fmax=20000.0), "Nyquist"),
        (MelSpectrogram, dict(fmin=-1.0), "fmin"),
        (MelSpectrogram, dict(fmin=5000.0, fmax=4000.0), "below fmax"),
        (MelSpectrogram, dict(n_mels=0), "n_mels"),
        (MelSpectrogram, dict(sr=0), "sr"),
        (MelSpectrogram, dict(power=0.0), "power"),
        (MelSpectrogram, dict(hop_length=-512), "hop_length"),
        (MelSpectrogram, dict(norm="l3"), "mel"),
        (MFCC, dict(n_mfcc=200), "n_mfcc"),
        (MFCC, dict(dct_type=4), "dct_type"),
        (MFCC, dict(norm="forward"), "norm"),
        (MFCC, dict(lifter=-1), "lifter"),
        (MFCC, dict(top_db=-5.0), "top_db"),
    ],
)
def test_bad_parameters_raise(cls: type, kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        cls(**kw)


def test_short_signal_raises_audio_error() -> None:
    for fe in (MelSpectrogram(), MFCC()):
        with pytest.raises(AudioError, match="shorter than one frame"):
            fe(np.zeros(2047, dtype=np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_mel_mfcc_on_cuda() -> None:
    y = tones()
    for fe, ref in ((MelSpectrogram(), librosa.feature.melspectrogram(y=y)), (MFCC(), librosa.feature.mfcc(y=y))):
        out = fe.to("cuda")(torch.as_tensor(y, device="cuda"))
        assert out.device.type == "cuda"
        assert rel_err(out[0].cpu().numpy(), ref) <= 1e-3
