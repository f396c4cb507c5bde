"""Shared helpers of the rhythm tests: click tracks written to disk with their click times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def click_file(path: Path, bpm: float, seconds: float = 12.0) -> np.ndarray:
    """Write a click track (decaying 1 kHz clicks over faint noise) to ``path``; return the click times."""
    rng = np.random.default_rng(int(bpm))
    y = 1e-4 * rng.standard_normal(int(seconds * SR))
    times = np.arange(0.3, seconds - 0.3, 60.0 / bpm)
    t = np.arange(int(0.06 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)
    for onset in times:
        i = int(round(onset * SR))
        y[i : i + click.size] += click[: y.size - i]
    sf.write(path, y.astype(np.float32), SR)
    return times
