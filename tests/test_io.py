"""Audio I/O: every bad input gives its clear error; wav/flac/ogg round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from dlmir.errors import AudioError, DlmirError, ParameterError
from dlmir.frontends import MelSpectrogram
from dlmir.io import check_signal, load, save

SR = 22050


def sine(seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file") as info:
        load(tmp_path / "nope.wav")
    assert "nope.wav" in str(info.value)


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="is a directory"):
        load(tmp_path)


def test_undecodable_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.wav"
    bad.write_bytes(b"this is not a RIFF header" * 40)
    with pytest.raises(AudioError, match="cannot decode audio") as info:
        load(bad)
    assert "garbage.wav" in str(info.value)
    assert isinstance(info.value, DlmirError)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="no audio samples"):
        load(empty)


def test_all_nan_file(tmp_path: Path) -> None:
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(4096, np.nan, dtype=np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load(nan, sr=None)


def test_shorter_than_one_frame(tmp_path: Path) -> None:
    short = tmp_path / "short.wav"
    sf.write(short, sine(0.01), SR)  # 220 samples < n_fft = 2048
    y, sr = load(short)
    assert y.shape == (220,) and sr == SR
    with pytest.raises(AudioError, match=r"220 samples, shorter than one frame \(2048 samples\)"):
        MelSpectrogram(sr=sr)(y)


@pytest.mark.parametrize(
    ("kw", "match"), [(dict(sr=0), "sr"), (dict(offset=-1.0), "offset"), (dict(duration=0.0), "duration")]
)
def test_bad_load_parameters(tmp_path: Path, kw: dict, match: str) -> None:
    path = tmp_path / "ok.wav"
    sf.write(path, sine(), SR)
    with pytest.raises(ParameterError, match=match):
        load(path, **kw)


@pytest.mark.parametrize(("ext", "tol"), [("wav", 1e-4), ("flac", 1e-4), ("ogg", 0.05)])
def test_round_trip(tmp_path: Path, ext: str, tol: float) -> None:
    y = sine(1.0)
    path = save(tmp_path / f"tone.{ext}", y, SR)
    assert path.exists() and not (tmp_path / f".tone.{ext}.part").exists()
    back, sr = load(path, sr=None)
    assert sr == SR and back.dtype == np.float32
    n = min(back.size, y.size)
    assert abs(back.size - y.size) <= (0 if ext != "ogg" else 2048)
    # 16-bit PCM quantisation (wav/flac) is ~3e-5; Vorbis is lossy
    assert (
        float(np.max(np.abs(back[:n] - y[:n]))) <= tol
        if ext != "ogg"
        else float(np.linalg.norm(back[:n] - y[:n]) / np.linalg.norm(y[:n])) <= tol
    )


def test_round_trip_stereo_and_torch(tmp_path: Path) -> None:
    stereo = torch.from_numpy(np.stack([sine(0.2, 440.0), sine(0.2, 660.0)]))
    path = save(tmp_path / "st.wav", stereo, SR, subtype="FLOAT")
    back, _ = load(path, sr=None, mono=False)
    assert back.shape == (2, stereo.shape[1])
    assert np.allclose(back, stereo.numpy(), atol=1e-7)
    mono, _ = load(path, sr=None)
    assert np.allclose(mono, stereo.numpy().mean(0), atol=1e-6)


def test_load_resamples_and_crops(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, np.tile(sine(1.0), 3), SR)
    y, sr = load(path, sr=11025, offset=0.5, duration=1.0)
    assert sr == 11025 and y.shape == (11025,)


def test_check_signal_errors() -> None:
    assert check_signal(np.zeros(10, dtype=np.float32)).shape == (1, 10)
    with pytest.raises(AudioError, match="empty"):
        check_signal(np.zeros(0))
    with pytest.raises(AudioError, match="NaN or infinite"):
        check_signal(np.array([0.0, np.inf]))
    with pytest.raises(AudioError, match="NaN or infinite"):
        check_signal(np.array([np.inf, -np.inf, 0.0], dtype=np.float32))  # the sum is NaN
    big = np.full(10, 3e38, dtype=np.float32)  # finite samples whose float32 sum overflows: accepted
    assert torch.equal(check_signal(big)[0], torch.from_numpy(big))
    with pytest.raises(ParameterError, match="floating point"):
        check_signal(np.zeros(10, dtype=np.int32))
    with pytest.raises(ParameterError, match="numpy array"):
        check_signal([0.0, 1.0])  # type: ignore[arg-type]
