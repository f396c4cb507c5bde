"""STFT front end against librosa.stft (synthetic and real recordings), both paths, gradients, errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends import STFT
from dlmir.io import load

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = sorted((DATA / "real-music").glob("*.ogg")) if DATA.exists() else []
needs_data = pytest.mark.skipif(not REAL, reason=f"shared test recordings not found under {DATA}/real-music")


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def chirp(n: int = 22050, sr: int = 22050, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    return np.sin(2 * np.pi * (110 * t + 2000 * t**2)) + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_fft=2048, hop_length=512),
        dict(n_fft=1024),  # default hop = win_length // 4
        dict(n_fft=1024, hop_length=300, win_length=700, window="hamming"),
        dict(n_fft=512, hop_length=128, window=("kaiser", 8.0), pad_mode="reflect"),
        dict(n_fft=512, hop_length=100, pad_mode="edge"),
        dict(n_fft=511, hop_length=128, center=False),  # odd n_fft
    ],
)
@pytest.mark.parametrize("trainable", [False, True])
def test_stft_matches_librosa_float64(kw: dict, trainable: bool) -> None:
    y = chirp()
    ref = librosa.stft(y, **kw)
    out = STFT(**kw, trainable=trainable)(y)
    assert out.dtype == torch.complex128
    assert tuple(out.shape) == (1, *ref.shape)
    x = out[0].detach().numpy()
    assert rel_err(x, ref) <= 1e-5
    assert rel_err(np.abs(x), np.abs(ref)) <= 1e-5


@pytest.mark.parametrize("trainable", [False, True])
def test_stft_float32_tolerance(trainable: bool) -> None:
    """float32 holds 1e-5 relative error against librosa in float64 (measured ~1e-7 fast, ~1e-6 conv path)."""
    y = chirp()
    ref = librosa.stft(y, n_fft=2048, hop_length=512)
    out = STFT(n_fft=2048, hop_length=512, trainable=trainable)(y.astype(np.float32))
    assert out.dtype == torch.complex64
    assert rel_err(out[0].detach().numpy(), ref) <= 1e-5


def test_fast_and_trainable_paths_agree_at_init() -> None:
    y = torch.as_tensor(chirp(8000))
    frozen, learned = STFT(n_fft=512, hop_length=128), STFT(n_fft=512, hop_length=128, trainable=True)
    assert frozen["stft"].uses_fast_path and not learned["stft"].uses_fast_path
    a, b = frozen(y), learned(y).detach()
    assert torch.allclose(a, b, atol=1e-6 * float(a.abs().max()), rtol=0)
    # a trainable STFT frozen again, still at its designed kernels, takes the fast path again
    learned.freeze()
    assert learned["stft"].uses_fast_path


def test_batch_equals_items_and_numpy_equals_torch() -> None:
    ys = np.stack([chirp(6000, seed=s) for s in range(3)]).astype(np.float32)
    fe = STFT(n_fft=256, hop_length=64)
    batch = fe(ys)
    assert tuple(batch.shape) == (3, 129, 1 + 6000 // 64)
    for i in range(3):
        one = fe(torch.from_numpy(ys[i]))
        assert torch.allclose(batch[i], one[0], atol=1e-5)


def test_blocked_cpu_path_equals_torch_stft() -> None:
    """Without autograd the CPU fast path FFTs cache-sized blocks of frames; it must equal torch.stft."""
    ys = torch.as_tensor(np.stack([chirp(30000, seed=s) for s in range(5)]), dtype=torch.float32)
    fe = STFT(n_fft=1024, hop_length=256)
    with torch.inference_mode():
        blocked = fe(ys)
    with torch.enable_grad():
        plain = fe(ys.clone().requires_grad_(True)).detach()  # an input needing gradients takes torch.stft
    ref = torch.stft(ys, 1024, 256, window=torch.hann_window(1024), pad_mode="constant", return_complex=True)
    assert torch.allclose(blocked, ref, atol=1e-4) and torch.allclose(plain, ref, atol=1e-4)


@pytest.mark.parametrize("pad_mode", ["constant", "reflect", "edge"])
def test_edge_frames_match_padding_definition(pad_mode: str) -> None:
    """The CPU path cuts edge frames from padded ends only; all frames must equal np.pad + frame + rfft."""
    rng = np.random.default_rng(1)
    for n_fft, hop, n in [(16, 3, 100), (16, 100, 1000), (17, 8, 64), (64, 100, 1000), (64, 8, 64), (512, 128, 5000)]:
        y = rng.standard_normal((2, n))
        padded = np.pad(y, ((0, 0), (n_fft // 2, n_fft // 2)), mode=pad_mode)
        frames = librosa.util.frame(padded, frame_length=n_fft, hop_length=hop, axis=-1)
        ref = np.fft.rfft(frames * librosa.filters.get_window("hann", n_fft)[:, None], axis=-2)
        with torch.inference_mode():
            out = STFT(n_fft=n_fft, hop_length=hop, pad_mode=pad_mode)(y).numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-10


@needs_data
@pytest.mark.parametrize("path", REAL, ids=[p.stem[:20] for p in REAL])
def test_stft_real_recordings(path: Path) -> None:
    y, sr = load(path, duration=10.0)
    ref = librosa.stft(y.astype(np.float64), n_fft=2048, hop_length=512)
    out = STFT(n_fft=2048, hop_length=512)(y.astype(np.float64))[0].numpy()
    assert rel_err(np.abs(out), np.abs(ref)) <= 1e-5
    out32 = STFT(n_fft=2048, hop_length=512)(y)[0].numpy()
    assert rel_err(np.abs(out32), np.abs(ref)) <= 1e-5


def test_gradcheck_reaches_input_and_kernels() -> None:
    fe = STFT(n_fft=8, hop_length=4, trainable=True).double()
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(2, 20, dtype=torch.float64, generator=gen, requires_grad=True)
    names = ["stages.stft.real", "stages.stft.imag"]
    real, imag = (dict(fe.named_parameters())[n].detach().clone().requires_grad_(True) for n in names)

    def f(y: torch.Tensor, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(fe, {names[0]: real, names[1]: imag}, (y,))
        return torch.view_as_real(out)

    assert torch.autograd.gradcheck(f, (y, real, imag), fast_mode=True)
    # the frozen fast path (torch.stft) also passes gradients to the input
    frozen = STFT(n_fft=8, hop_length=4).double()
    assert torch.autograd.gradcheck(lambda y: torch.view_as_real(frozen(y)), (y,), fast_mode=True)


def test_one_optimiser_step_changes_only_trainable_kernels() -> None:
    y = torch.as_tensor(chirp(4000), dtype=torch.float32)
    for trainable in (True, False):
        fe = STFT(n_fft=256, hop_length=64, trainable=trainable)
        before = [p.detach().clone() for p in fe.parameters()]
        opt = torch.optim.SGD(fe.parameters(), lr=1e-3)
        loss = fe(y).abs().square().mean() if trainable else fe(y.requires_grad_(True)).abs().square().mean()
        loss.backward()
        opt.step()
        changed = [not torch.equal(b, p) for b, p in zip(before, fe.parameters(), strict=True)]
        assert all(changed) if trainable else not any(changed)
    # after training the kernels no longer equal the DFT: frozen again, it must keep the learned kernels
    fe = STFT(n_fft=256, hop_length=64, trainable=True)
    with torch.no_grad():
        fe["stft"].real.mul_(1.5)
    fe.freeze()
    assert not fe["stft"].uses_fast_path
    hann = torch.hann_window(256)
    ref = torch.stft(y.detach(), 256, 64, window=hann, pad_mode="constant", return_complex=True)
    ref = torch.complex(1.5 * ref.real, ref.imag)  # hann here equals librosa's periodic hann
    out = fe(y.detach())[0]
    assert torch.allclose(out, ref, atol=1e-3)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(hop_length=-1), "hop_length"),
        (dict(hop_length=0), "hop_length"),
        (dict(n_fft=0), "n_fft"),
        (dict(n_fft=512, win_length=1024), "win_length"),
        (dict(window="no-such-window"), "window"),
        (dict(pad_mode="symmetric"), "pad_mode"),
    ],
)
def test_bad_parameters_raise(kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        STFT(**kw)


def test_bad_signals_raise() -> None:
    fe = STFT(n_fft=512, hop_length=128)
    with pytest.raises(AudioError, match="shorter than one frame"):
        fe(np.zeros(100, dtype=np.float32))
    with pytest.raises(AudioError, match="NaN"):
        fe(np.full(1000, np.nan))
    with pytest.raises(AudioError, match="empty"):
        fe(np.zeros(0))
    with pytest.raises(ParameterError, match="shape"):
        fe(np.zeros((1, 2, 1000)))
    with pytest.raises(ParameterError, match="floating point"):
        fe(np.zeros(1000, dtype=np.int16))
    with pytest.raises(ParameterError, match="float32 or float64"):
        fe(torch.zeros(1000, dtype=torch.float16))


def test_config_and_cache_key() -> None:
    a, b = STFT(n_fft=1024, hop_length=256), STFT(n_fft=1024, hop_length=128)
    assert a.config == {
        "frontend": "STFT",
        "n_fft": 1024,
        "hop_length": 256,
        "win_length": 1024,
        "window": "hann",
        "center": True,
        "pad_mode": "constant",
        "trainable": False,
    }
    assert a.cache_key() == STFT(n_fft=1024, hop_length=256).cache_key() != b.cache_key()
    assert a.names == ["stft"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_stft_on_cuda() -> None:
    y = chirp()
    ref = librosa.stft(y, n_fft=1024, hop_length=256)
    for trainable in (False, True):
        fe = STFT(n_fft=1024, hop_length=256, trainable=trainable).to("cuda")
        out = fe(torch.as_tensor(y, device="cuda"))
        assert out.device.type == "cuda"
        assert rel_err(out[0].detach().cpu().numpy(), ref) <= 1e-5
