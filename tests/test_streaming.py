"""Streaming front ends: blocks of a long file equal one call on the whole signal, at every seam.

Oracle: the one-shot result ``extract(fe, dlmir.io.load(path, sr=sr)[0])`` (itself checked against librosa in
the front ends' own tests). Tolerance: 1e-5 relative (to the array's largest value); most kinds match exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from dlmir.errors import AudioError
from dlmir.frontends import CQT, extract, extract_file, frontend
from dlmir.frontends import streaming as st
from dlmir.frontends.streaming import AudioStream, NpyFrameWriter, stream_context, stream_frames, write_frames
from dlmir.io import load
from dlmir.models import LearnedChroma

BLOCK = 3.0  # seconds: ~7 seams in the 20 s signal
RTOL = 1e-5


def _music(n: int, sr: int, *, seed: int = 0, channels: int = 2) -> np.ndarray:
    """``(n, channels)`` float32: changing chords with harmonics, a loudness swell, a silent gap, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    root = 110.0 * 2.0 ** (rng.integers(0, 12, size=n // sr + 2)[(t * 1.0).astype(int)] / 12.0)
    y = sum(0.1 / k * np.sin(2 * np.pi * k * r * root * t) for k in (1, 2, 3) for r in (1.0, 1.26, 1.5))
    y = y * (1.0 + 0.8 * np.sin(2 * np.pi * 0.2 * t)) + 0.01 * rng.standard_normal(n)
    y[int(5.0 * sr) : int(5.6 * sr)] = 0.0
    cols = [y] + [0.7 * y + 0.02 * rng.standard_normal(n) for _ in range(channels - 1)]
    return np.stack(cols, axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def long_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "long.wav"
    sf.write(path, _music(int(44100 * 20.3), 44100), 44100, subtype="FLOAT")  # stereo, 44.1 kHz like real files
    return path


def _one_shot(fe, path: Path, sr: float = 22050, head=None) -> np.ndarray:
    y, _ = load(path, sr=sr)
    out = extract(fe, y)
    if head is not None:
        with torch.inference_mode():
            out = head(torch.from_numpy(out)[None])[0].numpy()
    return out


def _streamed(fe, path: Path, *, sr: float = 22050, block: float | None = BLOCK, head=None):
    blocks = list(stream_frames(fe, path, sr=sr, block_seconds=block, head=head))
    starts = [s for s, _ in blocks]
    got = np.concatenate([b for _, b in blocks], axis=1)
    assert starts == list(np.cumsum([0] + [b.shape[1] for _, b in blocks[:-1]]))  # no gap, no overlap
    return got, starts


def _close(got: np.ndarray, want: np.ndarray, starts: list[int]) -> None:
    assert got.shape == want.shape
    scale = float(np.abs(want).max())
    assert len(starts) >= 2 or got.shape[1] < 200
    for s in starts[1:]:  # the frames either side of every seam, explicitly
        np.testing.assert_allclose(got[:, s - 3 : s + 3], want[:, s - 3 : s + 3], rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("kind", ["stft", "mel", "mfcc", "cqt", "chroma", "onset"])
def test_each_kind_equals_one_shot_at_every_seam(long_file: Path, kind: str) -> None:
    fe = frontend(kind, sr=22050, hop_length=512)
    got, starts = _streamed(fe, long_file)
    assert len(starts) == 7
    _close(got, _one_shot(fe, long_file), starts)


def test_chroma_with_fixed_tuning_and_onset_options(long_file: Path) -> None:
    fe = frontend("chroma", sr=22050, tuning=0.25, norm=2, threshold=0.01)
    got, starts = _streamed(fe, long_file)
    _close(got, _one_shot(fe, long_file), starts)
    fe = frontend("onset", sr=22050, lag=3, max_size=5, center=False, hop_length=256)
    got, starts = _streamed(fe, long_file)
    _close(got, _one_shot(fe, long_file), starts)


def test_learned_chroma_with_context_per_cqt_block(long_file: Path) -> None:
    fe = CQT(sr=22050, n_bins=84, bins_per_octave=12)
    net = LearnedChroma(84, 12, layers=2, hidden=16, context=4, seed=0).eval()
    left, right, _ = stream_context(fe, head=net)
    assert (left, right) == tuple(np.add(stream_context(fe)[:2], 4 * 512))  # the model's context frames added
    got, starts = _streamed(fe, long_file, head=net)
    _close(got, _one_shot(fe, long_file, head=net), starts)


def test_cli_chroma_streams_the_default_model(long_file: Path, tmp_path: Path) -> None:
    import dlmir.cli.chroma  # noqa: F401  (registers the command)
    from dlmir.cli.app import app
    from dlmir.models import load as load_model
    from dlmir.models import model_frontend

    result = CliRunner().invoke(app, ["chroma", str(long_file), "--out", str(tmp_path), "--block-seconds", "4"])
    assert result.exit_code == 0, result.output
    net = load_model("default")
    want = _one_shot(model_frontend(net), long_file, head=net)
    got = np.load(tmp_path / "long.npy")
    assert got.shape == want.shape == (12, want.shape[1])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL)


def test_context_is_needed(long_file: Path, monkeypatch) -> None:
    """The seams are a real test: without the derived overlap the CQT's seam frames differ."""
    fe = frontend("cqt", sr=22050)
    monkeypatch.setattr(st, "stream_context", lambda fe, head=None: (512, 512, 512))
    got, starts = _streamed(fe, long_file)
    want = _one_shot(fe, long_file)
    s = starts[1]
    assert np.abs(got[:, s - 1 : s + 1] - want[:, s - 1 : s + 1]).max() > 1e-3 * np.abs(want).max()


@pytest.mark.parametrize("extra", ["core", "core+right", "core+right+1", "2core", "short"])
def test_block_boundaries(tmp_path: Path, extra: str) -> None:
    """Files shorter than, exactly, and just over one block (the last-block rule)."""
    fe = frontend("mel", sr=22050)
    left, right, align = stream_context(fe)
    core = int(round(BLOCK * 22050 / align)) * align
    n = {"core": core, "core+right": core + right, "core+right+1": core + right + 1, "2core": 2 * core}.get(extra, 3000)
    path = tmp_path / "x.wav"
    sf.write(path, _music(n, 22050, channels=1), 22050, subtype="FLOAT")
    got, starts = _streamed(fe, path)
    assert len(starts) == (1 if extra in ("core", "core+right", "short") else 2)
    _close(got, _one_shot(fe, path), starts)


def test_last_block_is_never_shorter_than_a_frame(tmp_path: Path) -> None:
    fe = frontend("stft", n_fft=4096, hop_length=512)
    _, right, align = stream_context(fe)
    core = int(round(1.0 * 22050 / align)) * align
    path = tmp_path / "x.wav"
    sf.write(path, _music(core + right + 7, 22050, channels=1), 22050, subtype="FLOAT")
    got, starts = _streamed(fe, path, block=1.0)
    _close(got, _one_shot(fe, path), starts)


@pytest.mark.parametrize(("file_sr", "channels", "sr"), [(48000, 2, 22050), (22050, 1, 22050), (44100, 2, 16000)])
def test_other_rates_and_channels(tmp_path: Path, file_sr: int, channels: int, sr: int) -> None:
    path = tmp_path / "x.flac"
    sf.write(path, _music(int(file_sr * 9.7), file_sr, channels=channels), file_sr, subtype="PCM_24")
    with AudioStream(path, sr=sr) as stream:  # the streamed decoder equals dlmir.io.load sample for sample
        y = np.concatenate([stream.read(a, a + 10_000) for a in range(0, stream.n_samples, 10_000)])
    np.testing.assert_array_equal(y, load(path, sr=sr)[0])
    fe = frontend("cqt", sr=sr, n_bins=72)
    got, starts = _streamed(fe, path, sr=sr, block=2.0)
    _close(got, _one_shot(fe, path, sr=sr), starts)


def test_extract_file_and_npy_writer(long_file: Path, tmp_path: Path) -> None:
    written = extract_file(long_file, "mfcc", tmp_path, n_mfcc=13, block_seconds=BLOCK)
    got = np.load(written[0])
    fe = frontend("mfcc", sr=22050, n_mfcc=13)
    want = _one_shot(fe, long_file)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())
    np.testing.assert_array_equal(np.load(written[0], mmap_mode="r")[:, 100:110], got[:, 100:110])
    assert [p.name for p in tmp_path.iterdir()] == ["long.npy"]  # no partial file left
    w = NpyFrameWriter(tmp_path / "w.npy")
    a = np.arange(24, dtype=np.float32).reshape(3, 8)
    w.write(a[:, :5])
    w.write(a[:, 5:])
    w.close()
    np.testing.assert_array_equal(np.load(tmp_path / "w.npy"), a)


def test_streamed_tuning_equals_librosa(tmp_path: Path) -> None:
    import librosa

    sr = 22050
    t = np.arange(int(sr * 12.0)) / sr
    cents = 0.3  # 30 cents sharp of A440
    y = sum(np.sin(2 * np.pi * f * 2 ** (cents / 12) * t) / (i + 1) for i, f in enumerate((220.0, 277.18, 329.63)))
    path = tmp_path / "detuned.wav"
    sf.write(path, (0.2 * y).astype(np.float32), sr, subtype="FLOAT")
    yl, _ = load(path, sr=sr)
    want = librosa.estimate_tuning(y=yl, sr=sr, bins_per_octave=36)
    assert st.estimate_tuning_file(path, sr=sr, bins_per_octave=36, block_seconds=2.0) == pytest.approx(want)


def test_errors(tmp_path: Path) -> None:
    fe = frontend("mel", sr=22050)
    with pytest.raises(AudioError, match="no such file"):
        list(stream_frames(fe, tmp_path / "missing.wav"))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio" * 50)
    with pytest.raises(AudioError, match="cannot decode audio"):
        list(stream_frames(fe, bad))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match="no audio samples"):
        list(stream_frames(fe, empty))
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(500, dtype=np.float32), 22050)
    with pytest.raises(AudioError, match=r"short.wav: y has 500 samples, shorter than one frame \(2048 samples\)"):
        write_frames(fe, short, tmp_path / "short.npy")
    assert not list(tmp_path.glob("*.npy"))
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(30000, np.nan, dtype=np.float32), 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        list(stream_frames(fe, nan))


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 6, 7, 8, 9])
def test_mixdown_is_np_mean_bit_for_bit(channels: int) -> None:
    """The streamed mix-down (sums of the channels, divided) is the former ``np.mean(raw.T, axis=0)``, the float
    rounding and the sign of zero included: random, 16-bit, tiny (subnormal) and signed-zero samples."""
    rng = np.random.default_rng(channels)
    n = 60_000
    raw = rng.standard_normal((n, channels)).astype(np.float32)
    raw[:10_000] = rng.integers(-(2**15), 2**15, size=(10_000, channels)) / 32768  # PCM_16 values
    raw[10_000:20_000] *= np.float32(1e-39)  # subnormal
    raw[20_000:30_000] = rng.choice(
        np.array([0.0, -0.0, 1e-45, -1e-45, 0.5, -1.0], dtype=np.float32), (10_000, channels)
    )
    raw[30_000:30_010] = -0.0  # every channel -0.0: the mean is +0.0
    raw = raw.astype(np.float32)
    got = st._mixdown(raw)
    want = np.mean(raw.T, axis=0) if channels > 1 else raw[:, 0]
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_file_streams_to_the_mean_of_its_channels(tmp_path: Path, channels: int) -> None:
    """A stereo (and a 5.1) file at the front end's rate streams to exactly ``np.mean`` of its channels, the
    mix-down of ``dlmir.io.load``, over reads that straddle the decoder's pieces."""
    path = tmp_path / "x.wav"
    y = _music(int(22050 * 13.3), 22050, channels=channels)
    y[1000:1200] = -0.0
    sf.write(path, y, 22050, subtype="FLOAT")
    with AudioStream(path, sr=22050) as stream:
        got = np.concatenate([stream.read(a, a + 70_001) for a in range(0, stream.n_samples, 70_001)])
    want = np.mean(sf.read(path, dtype="float32", always_2d=True)[0].T, axis=0)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    np.testing.assert_array_equal(got.view(np.uint32), load(path, sr=22050)[0].view(np.uint32))
