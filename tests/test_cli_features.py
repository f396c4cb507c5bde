"""``dlmir features`` on the real recordings and on bad files (typer's CliRunner)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
from typer.testing import CliRunner

import dlmir.cli.features  # noqa: F401  (registers the command)
from dlmir.cli.app import app
from dlmir.frontends import compute, extract, extract_file, frontend
from dlmir.io import load

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = sorted((DATA / "real-music").glob("*.ogg")) if DATA.exists() else []
needs_real = pytest.mark.skipif(not REAL, reason=f"shared test recordings not found under {DATA}/real-music")

runner = CliRunner()


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def shortest() -> Path:
    return min(REAL, key=lambda p: librosa.get_duration(path=p))


@needs_real
def test_mel_with_plot_matches_librosa(tmp_path: Path) -> None:
    path = shortest()
    result = runner.invoke(app, ["features", str(path), "--kind", "mel", "--out", str(tmp_path), "--plot"])
    assert result.exit_code == 0, result.output
    assert "wrote mel features for 1 of 1 file(s)" in result.output
    feature = np.load(tmp_path / f"{path.stem}.npy")
    y, sr = load(path, sr=22050)
    ref = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=512)
    assert feature.shape == ref.shape and feature.dtype == np.float32
    assert rel_err(feature, ref) <= 1e-3
    png = tmp_path / f"{path.stem}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_real
@pytest.mark.parametrize("kind", ["stft", "mfcc", "onset"])
def test_kinds_sr_and_hop(tmp_path: Path, kind: str) -> None:
    path = shortest()
    args = ["features", str(path), "--kind", kind, "--out", str(tmp_path), "--sr", "16000", "--hop-length", "256"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    feature = np.load(tmp_path / f"{path.stem}.npy")
    y, sr = load(path, sr=16000)
    if kind == "stft":
        ref = np.abs(librosa.stft(y, hop_length=256))
    elif kind == "mfcc":
        ref = librosa.feature.mfcc(y=y, sr=sr, hop_length=256)
    else:
        ref = librosa.onset.onset_strength(y=y, sr=sr, hop_length=256)[None]
    assert feature.shape == ref.shape
    assert rel_err(feature, ref) <= 1e-3


@needs_real
@pytest.mark.parametrize("kind", ["cqt", "chroma"])
def test_cqt_and_chroma(tmp_path: Path, kind: str) -> None:
    path = shortest()
    result = runner.invoke(app, ["features", str(path), "--kind", kind, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    feature = np.load(tmp_path / f"{path.stem}.npy")
    y, sr = load(path, sr=22050)
    if kind == "cqt":
        ref = np.abs(librosa.cqt(y, sr=sr, hop_length=512))
    else:
        ref = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512)  # both estimate the tuning (the default)
    assert feature.shape == ref.shape
    assert rel_err(feature, ref) <= 1e-2


def test_bad_files_are_named_and_the_rest_processed(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all" * 64)
    missing = tmp_path / "missing.flac"
    good = tmp_path / "tone.wav"  # 2 s of 440 Hz: synthetic, so the test runs without ../shared
    import soundfile as sf

    sf.write(good, 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 22050).astype(np.float32), 22050)
    out = tmp_path / "out"
    result = runner.invoke(app, ["features", str(bad), str(good), str(missing), "--kind", "onset", "--out", str(out)])
    assert result.exit_code == 1
    assert f"failed: {bad}: cannot decode audio" in result.output
    assert f"failed: {missing}: no such file" in result.output
    assert "wrote onset features for 1 of 3 file(s)" in result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{good.stem}.npy"]  # no partial files left


def test_too_short_file_and_bad_parameters(tmp_path: Path) -> None:
    import soundfile as sf

    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(500, dtype=np.float32), 22050)
    result = runner.invoke(app, ["features", str(short), "--kind", "mel", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"failed: {short}: y has 500 samples, shorter than one frame (2048 samples)" in result.output
    result = runner.invoke(app, ["features", str(short), "--kind", "mel", "--out", str(tmp_path), "--hop-length", "0"])
    assert result.exit_code == 2 and "hop_length must be a positive integer" in result.output
    result = runner.invoke(app, ["features", str(short), "--kind", "spectrum", "--out", str(tmp_path)])
    assert result.exit_code == 2


@needs_real
def test_extract_and_compute_agree(tmp_path: Path) -> None:
    path = shortest()
    written = extract_file(path, "mfcc", tmp_path, n_mfcc=13)
    y, sr = load(path)
    assert np.allclose(np.load(written[0]), compute("mfcc", y, sr, n_mfcc=13), atol=1e-4)
    assert np.allclose(np.load(written[0]), extract(frontend("mfcc", sr=sr, n_mfcc=13), y), atol=1e-4)
    assert np.load(written[0]).shape[0] == 13
