"""The README's fidelity table: every designed front end against librosa, on the real recordings.

For each front end at its librosa-equivalent settings, the relative Frobenius error
``||dlmir - librosa|| / ||librosa||`` of the magnitude output (float32), on the first 30 s of each recording
in ``../shared/data/real-music`` (synthetic chirps + noise when that folder is absent); the table shows the
largest error over the recordings, and for the CQT also the lowest octave's. Writes
``experiments/results/fidelity.md``.

    .venv/bin/python experiments/fidelity.py
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np

import dlmir.frontends as fe
from dlmir.frontends import extract
from dlmir.io import load

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real-music"
OUT = ROOT / "experiments" / "results" / "fidelity.md"
SR = 22050
SECONDS = 30


def recordings() -> tuple[list[tuple[str, np.ndarray]], str]:
    files = sorted(REAL.glob("*.ogg")) if REAL.is_dir() else []
    if files:
        return [(f.name, load(f, sr=SR)[0][: SR * SECONDS]) for f in files], f"{len(files)} real recordings"
    t = np.arange(SR * 10) / SR
    rng = np.random.default_rng(0)
    y = (0.5 * np.sin(2 * np.pi * 55 * np.exp(t / 3.0) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    return [("chirp", y)], "a synthetic chirp (real recordings absent)"


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# (name, dlmir call, dlmir front end, librosa reference, librosa call, tested bound, lowest-octave bins or 0)
ROWS: list[tuple[str, str, Callable[[], object], str, Callable[[np.ndarray], np.ndarray], str, int]] = [
    ("STFT", "`STFT()`", lambda: fe.STFT(), "`librosa.stft`", lambda y: np.abs(librosa.stft(y)), "1e-5", 0),
    ("mel", "`MelSpectrogram()`", lambda: fe.MelSpectrogram(sr=SR), "`librosa.feature.melspectrogram`",
     lambda y: librosa.feature.melspectrogram(y=y, sr=SR), "1e-3", 0),
    ("MFCC", "`MFCC()`", lambda: fe.MFCC(sr=SR), "`librosa.feature.mfcc`",
     lambda y: librosa.feature.mfcc(y=y, sr=SR), "1e-3", 0),
    ("onset strength", "`OnsetStrength()`", lambda: fe.OnsetStrength(sr=SR), "`librosa.onset.onset_strength`",
     lambda y: librosa.onset.onset_strength(y=y, sr=SR)[None], "1e-3", 0),
    ("CQT, 84 bins @ 12/oct", "`CQT()`", lambda: fe.CQT(sr=SR), "`librosa.cqt`",
     lambda y: np.abs(librosa.cqt(y, sr=SR)), "1e-2", 12),
    ("CQT, 192 bins @ 24/oct", "`CQT(n_bins=192, bins_per_octave=24)`",
     lambda: fe.CQT(sr=SR, n_bins=192, bins_per_octave=24), "`librosa.cqt`",
     lambda y: np.abs(librosa.cqt(y, sr=SR, n_bins=192, bins_per_octave=24)), "1e-2", 24),
    ("chroma", "`Chroma()`", lambda: fe.Chroma(sr=SR), "`librosa.feature.chroma_cqt(y=y, sr=sr)` (estimates tuning)",
     lambda y: librosa.feature.chroma_cqt(y=y, sr=SR), "1e-2", 0),
]  # fmt: skip


def main() -> None:
    audio, source = recordings()
    lines = [
        "| front end | dlmir | librosa reference | error | tested bound |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, call, make, ref_name, ref, bound, low in ROWS:
        front = make()
        errs, lows = [], []
        for _, y in audio:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = ref(y)
            got = extract(front, y)
            n = min(got.shape[-1], expected.shape[-1])
            errs.append(rel(got[..., :n], expected[..., :n]))
            if low:
                lows.append(rel(got[:low, :n], expected[:low, :n]))
        err = f"{max(errs):.1e}" + (f" (lowest octave {max(lows):.1e})" if lows else "")
        lines.append(f"| {name} | {call} | {ref_name} | {err} | {bound} |")
        print(lines[-1], flush=True)
    text = (
        "# Fidelity against librosa\n\n"
        f"Written by `experiments/fidelity.py`: largest relative Frobenius error over {source} (first "
        f"{SECONDS} s each, float32, magnitudes).\n\n" + "\n".join(lines) + "\n"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
