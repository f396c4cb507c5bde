"""Synthetic notes for the transcriber tests: harmonic tones with exact note lists (no soundfont needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from dlmir.data.manifest import write_manifest
from dlmir.data.notes import NoteList, write_notes_csv

SR = 22050


def tones(notes: NoteList, seconds: float, *, sr: int = SR) -> np.ndarray:
    """Mono float32 audio ``(round(seconds * sr),)``: each note a sum of 6 harmonics (amplitude 1/h) under a
    decaying envelope with 5 ms attack and release, at 0.1 peak per note."""
    n = int(round(seconds * sr))
    y = np.zeros(n)
    for on, off, p in zip(notes.onset, notes.offset, notes.pitch, strict=True):
        a, b = int(round(on * sr)), min(n, int(round(off * sr)))
        t = np.arange(b - a) / sr
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        env = np.exp(-1.5 * t) * np.minimum(1, t / 0.005) * np.minimum(1, (t[-1] - t) / 0.005 + 1e-9)
        tone = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 7) if h * f0 < sr / 2 - 500)
        y[a:b] += 0.1 * env * tone
    return y.astype(np.float32)


def random_notes(seed: int, seconds: float, *, n: int = 8, low: int = 40, high: int = 84) -> NoteList:
    """``n`` notes with random onsets in ``[0, seconds - 0.6)``, durations 0.2-0.5 s, pitches ``low..high``."""
    rng = np.random.default_rng(seed)
    on = np.round(rng.uniform(0, seconds - 0.6, n), 3)
    off = np.round(on + rng.uniform(0.2, 0.5, n), 3)
    return NoteList(on, off, rng.integers(low, high + 1, n), np.full(n, 100))


def note_dataset(root: Path, *, splits: dict[str, int] | None = None, seconds: float = 3.0) -> Path:
    """A dlmir dataset folder of synthetic tracks (``audio/<id>.flac``, ``labels/<id>.notes.csv``, manifest)."""
    splits = splits or {"train": 2, "valid": 1}
    rows, k = [], 0
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    for split, count in splits.items():
        for _ in range(count):
            ident = f"tones-{k:03d}"
            notes = random_notes(k, seconds)
            sf.write(root / "audio" / f"{ident}.flac", tones(notes, seconds), SR)
            write_notes_csv(root / "labels" / f"{ident}.notes.csv", notes)
            rows.append({"id": ident, "source": "progression", "split": split, "duration": seconds,
                         "audio": f"audio/{ident}.flac"})  # fmt: skip
            k += 1
    write_manifest(root, rows)
    return root


def render_timgm(notes: list[tuple[int, float, float]], *, program: int = 0, duration: float = 1.5) -> tuple:
    """``(pitch, start, end)`` notes (seconds) of one GM ``program`` rendered with TimGM6mb at :data:`SR`: returns
    ``(audio float32 (round(duration * SR),), the PrettyMIDI)``. Skips the test when FluidSynth or the soundfont is
    missing (a user's machine without them)."""
    import pretty_midi
    import pytest

    from dlmir.data.synth import render
    from dlmir.errors import DependencyError, ParameterError

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    inst.notes = [pretty_midi.Note(100, p, a, b) for p, a, b in notes]
    pm.instruments.append(inst)
    try:
        return render(pm, "timgm6mb", sr=SR, duration=duration), pm
    except (DependencyError, ParameterError, OSError) as exc:
        pytest.skip(f"cannot render with FluidSynth/TimGM6mb: {exc}")


def write_rendered_triad(folder: Path, stem: str) -> NoteList:
    """Render C4 E4 G4 (0.25-1.25 s), then C5 (1.5-2.2 s) with the TimGM6mb piano into ``folder/<stem>.wav`` (2.7 s)
    and the score into ``folder/<stem>.mid``; returns the notes (:func:`render_timgm`)."""
    from dlmir.data.notes import notes_from_midi

    y, pm = render_timgm([(p, 0.25, 1.25) for p in (60, 64, 67)] + [(72, 1.5, 2.2)], duration=2.7)
    sf.write(folder / f"{stem}.wav", y, SR, subtype="FLOAT")
    pm.write(str(folder / f"{stem}.mid"))
    return notes_from_midi(pm)
