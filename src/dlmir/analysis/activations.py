"""Top activating inputs: which excerpts (and frames) drive each selected unit hardest.

:func:`collect` runs a model over audio excerpts (a folder: :func:`folder_excerpts`; none given: the examples
dlmir synthesises itself, :func:`example_excerpts`) and keeps every excerpt's input representation and unit
activations; :func:`select_units` picks the units to show; :func:`top_k` finds each unit's ``k`` strongest
excerpts (one frame each, ``per_excerpt=True``) or frames; :func:`plot_top_activations` draws the input patches
around those frames (CQT, or mel for a Tempo cascade), one row per unit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff", ".m4a")


class Hit(NamedTuple):
    """One top activation: excerpt index, frame (in the input's frames) and the activation."""

    excerpt: int
    frame: int
    value: float


def top_k(acts: list[np.ndarray], k: int, *, per_excerpt: bool = True) -> list[list[Hit]]:
    """The ``k`` strongest activations of every unit.

    Parameters
    ----------
    acts : one ``(n_units, frames)`` array per excerpt (frames may differ between excerpts).
    k : how many per unit.
    per_excerpt : keep at most one frame (its strongest) per excerpt, so the ``k`` hits are ``k`` different
        excerpts; otherwise any frames.

    Returns
    -------
    ``n_units`` lists of up to ``k`` :class:`Hit`, strongest first (ties: lower excerpt, then lower frame).
    """
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    if not acts:
        return []
    n_units = acts[0].shape[0]
    if any(a.ndim != 2 or a.shape[0] != n_units for a in acts):
        raise ParameterError("every excerpt's activations must be (n_units, frames) with the same n_units")
    out: list[list[Hit]] = []
    for u in range(n_units):
        cands: list[Hit] = []
        for e, a in enumerate(acts):
            row = np.asarray(a[u], dtype=np.float64)
            if row.size == 0:
                continue
            if per_excerpt:
                f = int(np.argmax(row))
                cands.append(Hit(e, f, float(row[f])))
            else:
                top = np.argsort(-row, kind="stable")[:k]
                cands.extend(Hit(e, int(f), float(row[f])) for f in top)
        cands.sort(key=lambda h: (-h.value, h.excerpt, h.frame))
        out.append(cands[:k])
    return out


def select_units(acts: list[np.ndarray], n: int) -> np.ndarray:
    """The ``n`` units with the largest peak activation over all excerpts (ties: lower index first), in that
    order: the units the excerpts drive hardest (a unit that never activates is not worth a row)."""
    if not acts:
        return np.arange(0)
    peak = np.max(np.stack([a.max(axis=1) for a in acts if a.shape[1]]), axis=0)
    order = np.argsort(-peak, kind="stable")
    return order[: max(0, int(n))]


def _tone(midi: float, seconds: float, sr: float, *, partials: int = 8, decay: float = 0.8) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
    y = np.zeros_like(t)
    for h in range(1, partials + 1):
        if h * f0 < sr / 2:
            y += decay ** (h - 1) * np.sin(2 * np.pi * h * f0 * t)
    return y * np.minimum(1.0, t / 0.01) * np.exp(-t / (2 * seconds))


def example_excerpts(
    sr: float = 22050, *, seconds: float = 2.0, render: bool = True, soundfont: str = "fluidr3"
) -> list[tuple[str, np.ndarray]]:
    """Examples dlmir renders itself when no folder is given: ``(name, audio)`` pairs, float32 at ``sr`` Hz,
    ``seconds`` long each, peak 0.5.

    Harmonic tones (8 partials, and dull ones with 3) from C2 to C6 every 5 semitones; major and minor triads
    rooted at C3, D#3, F#3 and A3; click tracks at 60, 90, 120, 150 and 180 BPM; the shipped example recording
    (:func:`dlmir.examples.example_audio`, piano and bass chords) cut into excerpts; and with ``render``, one note
    (mf, the middle of its range) of each instrument class of :data:`dlmir.data.instruments.INSTRUMENTS` rendered
    through ``soundfont`` with FluidSynth (left out, silently, where FluidSynth or the soundfont is missing).
    Deterministic.
    """
    n = int(round(seconds * sr))
    out: list[tuple[str, np.ndarray]] = []
    import librosa

    for midi in range(36, 85, 5):
        name = librosa.midi_to_note(midi, unicode=False)
        out.append((f"tone {name}", _tone(midi, seconds, sr)))
        out.append((f"dull tone {name}", _tone(midi, seconds, sr, partials=3, decay=0.3)))
    for root in range(0, 12, 3):
        for quality, third in (("maj", 4), ("min", 3)):
            y = sum(_tone(48 + root + i, seconds, sr) for i in (0, third, 7))
            out.append((f"triad {librosa.midi_to_note(48 + root, octave=False, unicode=False)}:{quality}", y))
    for bpm in (60, 90, 120, 150, 180):
        y = np.zeros(n)
        period = 60.0 / bpm
        click = np.sin(2 * np.pi * 1000 * np.arange(int(0.01 * sr)) / sr) * np.hanning(int(0.01 * sr))
        for t0 in np.arange(0, seconds, period):
            i = int(t0 * sr)
            y[i : i + click.size] += click[: n - i]
        out.append((f"clicks {bpm} BPM", y))
    try:
        from dlmir.examples import example_audio
        from dlmir.io import load

        y, _ = load(example_audio(), sr=sr)
        for i, s in enumerate(range(0, y.size - n + 1, n)):
            out.append((f"example.flac {i * seconds:.0f}-{(i + 1) * seconds:.0f} s", y[s : s + n]))
    except (AudioError, OSError):  # pragma: no cover - the example ships with the package
        pass
    if render:
        out.extend(_rendered_notes(sr, seconds, soundfont))
    return [(name, (0.5 * y / (np.abs(y).max() or 1.0)).astype(np.float32)) for name, y in out]


def _rendered_notes(sr: float, seconds: float, soundfont: str) -> list[tuple[str, np.ndarray]]:
    """One rendered note per instrument class (see :func:`example_excerpts`); empty without FluidSynth."""
    import librosa

    from dlmir.errors import DlmirError

    try:
        from dlmir.data.instruments import INSTRUMENTS, generate_note
        from dlmir.data.synth import render

        out = []
        n = int(round(seconds * sr))
        for name, inst in INSTRUMENTS.items():
            pitch = (inst.low + inst.high) // 2
            piece = generate_note(name, pitch, "mf", note_duration=max(0.1, 0.75 * seconds), tail=0.25 * seconds)
            y = render(piece.midi, soundfont, sr=int(sr), duration=seconds)[:n]
            note = librosa.midi_to_note(pitch, unicode=False)
            out.append((f"{name} {note} ({soundfont})", np.pad(y, (0, n - y.size))))
        return out
    except (DlmirError, ImportError, OSError):
        return []


def folder_excerpts(
    folder: str | os.PathLike[str], sr: float = 22050, *, seconds: float = 2.0, max_excerpts: int = 200
) -> list[tuple[str, np.ndarray]]:
    """Audio files of ``folder`` (recursively, sorted) cut into consecutive excerpts of ``seconds`` (a file shorter
    than that is one excerpt), at most ``max_excerpts`` in all; ``(name, audio)`` pairs at ``sr`` Hz.

    Raises
    ------
    AudioError : the folder does not exist or holds no audio file dlmir can read.
    """
    from dlmir.io import load

    folder = Path(folder)
    if not folder.is_dir():
        raise AudioError(f"{folder}: not a folder of audio files")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise AudioError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    n = int(round(seconds * sr))
    out: list[tuple[str, np.ndarray]] = []
    for path in files:
        try:
            y, _ = load(path, sr=sr)
        except AudioError:
            continue
        starts = range(0, max(1, y.size - n + 1), n) if y.size >= n else [0]
        for s in starts:
            out.append((f"{path.name} {s / sr:.1f} s", y[s : s + n].astype(np.float32)))
            if len(out) >= max_excerpts:
                return out
    if not out:
        raise AudioError(f"{folder}: none of its {len(files)} audio files could be read")
    return out


@dataclass
class Activations:
    """Inputs and unit activations of a model over excerpts: ``names`` (one per excerpt), ``inputs`` (each
    ``(features, frames)``), ``acts`` (each ``(n_units, frames')``), ``stride`` (input frames per activation
    frame), ``unit_names`` and ``layer``."""

    names: list[str]
    inputs: list[np.ndarray]
    acts: list[np.ndarray]
    stride: int = 1
    unit_names: list[str] = field(default_factory=list)
    layer: str = ""

    def input_frame(self, frame: int) -> int:
        """The input frame at the centre of activation frame ``frame``."""
        return int(frame * self.stride + self.stride // 2)


def collect(view, excerpts: list[tuple[str, np.ndarray]], *, progress: bool = True) -> Activations:  # noqa: ANN001
    """Run :class:`~dlmir.analysis._models.ModelView` ``view`` over ``excerpts`` (``(name, audio)`` at the view's
    rate): the input representation and the unit activations of each (a tqdm bar when ``progress``)."""
    from tqdm import tqdm

    if not excerpts:
        raise ParameterError("no excerpts to run the model over")
    names = [n for n, _ in excerpts]
    inputs = view.inputs_of([y for _, y in excerpts])
    acts: list[np.ndarray] = []
    stride = 1
    with torch.inference_mode():
        for x in tqdm(inputs, desc="activations", unit="excerpt", disable=not progress, leave=False):
            a, stride = view.units(x)
            acts.append(a.float().cpu().numpy())
    return Activations(names, inputs, acts, stride, list(view.unit_names), view.unit_layer)


def patch(x: np.ndarray, frame: int, half_width: int) -> np.ndarray:
    """Frames ``frame - half_width .. frame + half_width`` of ``x`` ``(features, frames)``, zeros beyond its ends:
    ``(features, 2 half_width + 1)``."""
    padded = np.pad(x, ((0, 0), (half_width, half_width)))
    return padded[:, frame : frame + 2 * half_width + 1]


def plot_top_activations(
    result: Activations,
    units: np.ndarray,
    hits: list[list[Hit]],
    path: str | os.PathLike[str],
    *,
    axis=None,  # noqa: ANN001 - an analysis Axis
    half_width: int = 10,
    title: str = "",
) -> Path:
    """One row per unit of ``units`` (``hits[i]`` its top hits), one column per hit: the input patch around the
    hit's frame in dB (each patch relative to its own maximum), the frame marked; titled with the excerpt and the
    activation. Returns the PNG's path."""
    from dlmir.display import _plt

    plt = _plt()
    rows, cols = len(units), max((len(h) for h in hits), default=1)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 1.2, 1.9 * rows + 0.6), squeeze=False)
    ticks: tuple[list[int], list[str]] = ([], [])
    if axis is not None and axis.freqs is not None and axis.kind == "cqt":
        from dlmir.analysis.filters import _note_ticks

        ticks = _note_ticks(axis.freqs)
    for r, (u, row) in enumerate(zip(units, hits, strict=True)):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row):
                ax.axis("off")
                continue
            h = row[c]
            frame = result.input_frame(h.frame)
            p = patch(result.inputs[h.excerpt], frame, half_width)
            power = axis is not None and axis.kind == "mel"
            db = (10.0 if power else 20.0) * np.log10(np.maximum(p, 1e-10) / max(float(p.max()), 1e-10))
            ax.imshow(np.maximum(db, -80.0), origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
            ax.axvline(half_width, color="c", lw=0.6, alpha=0.8)
            ax.set_title(f"{result.names[h.excerpt]}\n{h.value:.3g}", fontsize=6)
            if c == 0:
                name = result.unit_names[u] if u < len(result.unit_names) else f"unit {u}"
                ax.set_ylabel(name, fontsize=7)
                if ticks[0]:
                    ax.set_yticks(ticks[0][::2], ticks[1][::2], fontsize=5)
    fig.suptitle(title or f"top activating inputs ({result.layer})", fontsize=9)
    # fixed margins: tight_layout over a grid of small axes costs seconds
    fig.subplots_adjust(left=0.9 / fig.get_figwidth(), right=0.99, top=1 - 0.55 / fig.get_figheight(),
                        bottom=0.02, wspace=0.08, hspace=0.45)  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


__all__ = [
    "Activations",
    "Hit",
    "collect",
    "example_excerpts",
    "folder_excerpts",
    "patch",
    "plot_top_activations",
    "select_units",
    "top_k",
]
