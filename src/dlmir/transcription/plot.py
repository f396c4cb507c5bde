"""A piano roll of transcribed notes over the CQT of the audio (``dlmir transcribe --plot``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dlmir.data.notes import NoteList

__all__ = ["plot_piano_roll"]


def plot_piano_roll(
    notes: NoteList,
    cqt: np.ndarray,
    path: str | os.PathLike[str],
    *,
    frame_rate: float,
    bins_per_semitone: int = 3,
    min_pitch: int = 21,
    reference: NoteList | None = None,
    title: str | None = None,
    max_frames: int = 20000,
) -> Path:
    """Draw ``notes`` as boxes over a CQT magnitude and write a PNG (matplotlib, Agg).

    Parameters
    ----------
    notes : the transcribed notes (times in seconds).
    cqt : CQT magnitude ``(n_bins, frames)`` whose bin ``bins_per_semitone * i + bins_per_semitone // 2`` is
        centred on MIDI ``min_pitch + i`` (the designed salience's CQT: 36 bins per octave from A0), shown in dB.
    frame_rate : frames per second of ``cqt``; frame ``k`` is centred at ``k / frame_rate`` s.
    reference : true notes, drawn as outlines (evaluation plots).
    max_frames : longer CQTs are decimated in time for drawing.

    Returns
    -------
    The PNG's path (parent folders created).
    """
    import matplotlib

    matplotlib.use("Agg")
    import librosa
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    cqt = np.asarray(cqt, dtype=np.float32)
    step = max(1, int(np.ceil(cqt.shape[1] / max_frames)))
    shown = cqt[:, ::step]
    db = librosa.amplitude_to_db(shown, ref=float(shown.max()) if shown.size and shown.max() > 0 else 1.0)
    duration = cqt.shape[1] / frame_rate
    lo = min_pitch - (bins_per_semitone // 2 + 0.5) / bins_per_semitone
    hi = lo + cqt.shape[0] / bins_per_semitone
    width = float(np.clip(duration * 1.2, 6.0, 24.0))
    fig, ax = plt.subplots(figsize=(width, 6.0))
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=(-0.5 / frame_rate, duration - 0.5 / frame_rate,
              lo, hi), vmin=-80, vmax=0, interpolation="nearest")  # fmt: skip
    if reference is not None:
        for a, b, p in zip(reference.onset, reference.offset, reference.pitch, strict=True):
            ax.add_patch(Rectangle((a, p - 0.5), b - a, 1.0, fill=False, edgecolor="white", linewidth=1.0))
    for a, b, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True):
        ax.add_patch(Rectangle((a, p - 0.45), b - a, 0.9, facecolor="cyan", alpha=0.35 + 0.5 * v / 127,
                               edgecolor="cyan", linewidth=0.8))  # fmt: skip
    pitches = np.concatenate([notes.pitch, reference.pitch if reference is not None else []]).astype(int)
    y0, y1 = (max(lo, pitches.min() - 12), min(hi, pitches.max() + 12)) if pitches.size else (lo, hi)
    ax.set_ylim(y0, y1)
    ticks = [p for p in range(12, 128, 12 if y1 - y0 > 30 else 3) if y0 <= p <= y1]
    ax.set_yticks(ticks, [librosa.midi_to_note(p) for p in ticks])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch")
    ax.set_title(title or f"{len(notes)} notes")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
