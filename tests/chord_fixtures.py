"""A tiny synthetic chord dataset in the agreed layout (manifest.csv, audio/*.flac, labels/*.lab), for tests.

Chords are sums of harmonic tones (a few octaves per pitch class, decaying partials): cheap to render
and labelled exactly. Used until/alongside ``dlmir.data.build.build_chords(tmp, size="ci")``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def render_chord(pcs: list[int], seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for pc in pcs:
        for octave in (3, 4, 5):
            f0 = 440.0 * 2 ** ((12 * (octave + 1) + pc - 69) / 12)
            for h in range(1, 5):
                if f0 * h < sr / 2:
                    y += rng.uniform(0.5, 1.0) / h**1.5 * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28))
    return y * np.exp(-t * 0.5)


def synthetic_dataset(root: Path, *, n_items: int = 6, seconds_per_chord: float = 1.0, chords: int = 6, seed: int = 0):
    sr = 22050
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    rows = []
    splits = ["train"] * (n_items - 2) + ["valid", "test"]
    for i in range(n_items):
        pieces, lines, t0 = [], [], 0.0
        for _ in range(chords):
            root_pc, minor = int(rng.integers(12)), int(rng.integers(2))
            pcs = [(root_pc + s) % 12 for s in ((0, 3, 7) if minor else (0, 4, 7))]
            pieces.append(render_chord(pcs, seconds_per_chord, sr, rng))
            lines.append(f"{t0:.3f}\t{t0 + seconds_per_chord:.3f}\t{ROOTS[root_pc]}:{'min' if minor else 'maj'}")
            t0 += seconds_per_chord
        y = np.concatenate(pieces)
        y = (0.3 * y / np.abs(y).max()).astype(np.float32)
        sf.write(root / "audio" / f"item{i}.flac", y, sr)
        (root / "labels" / f"item{i}.lab").write_text("\n".join(lines) + "\n")
        rows.append(
            {
                "id": f"item{i}",
                "source": "progression",
                "split": splits[i],
                "soundfont": "sine",
                "programs": "0",
                "duration": f"{len(y) / sr:.3f}",
                "audio": f"audio/item{i}.flac",
                "lab": f"labels/item{i}.lab",
                "jams": "",
            }
        )
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def guitar_chord(label: str, seconds: float, rng: np.random.Generator, *, sr: int = 22050) -> np.ndarray:
    """The pitches of the chord's guitar shape (:func:`dlmir.chords.fretboard.fretboard_shape`) as sums of 3
    harmonics with random phases, ``(samples,)`` float32 at ``sr`` Hz (``N``: silence)."""
    from dlmir.chords.fretboard import fretboard_shape
    from dlmir.chords.voicings import guitar_pitches

    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    if label != "N":
        pitches = guitar_pitches(fretboard_shape(label))
        for midi in pitches:
            f0 = 440.0 * 2 ** ((midi - 69) / 12)
            for h in range(1, 4):
                y += 0.5 ** (h - 1) * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
        y *= 0.1 / len(pitches)
    return y.astype(np.float32)
