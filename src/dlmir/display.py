"""Every figure dlmir draws (matplotlib, Agg backend): front-end features, learned weights, chromagrams, curves.

- :func:`plot_feature`: one front-end output (spectrogram, mel, MFCC, CQT, chroma, onset strength) with proper
  axes (:func:`librosa.display.specshow`: time in seconds, frequency in Hz / notes / pitch classes); returns the
  figure and optionally saves it.
- :func:`plot_weights` (with :func:`weight_matrix`), :func:`plot_chromagrams`, :func:`plot_curves`: learned
  models' weights, stacked chromagrams and training curves; each writes one PNG and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_feature(
    feature: np.ndarray,
    kind: str,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    config: dict[str, Any] | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Any:
    """Draw one feature ``(features, frames)`` and optionally save it as an image.

    Parameters
    ----------
    feature : np.ndarray, shape ``(features, frames)``
        Output of :func:`dlmir.frontends.compute` (magnitudes for ``stft``/``cqt``).
    kind : ``'stft' | 'mel' | 'mfcc' | 'cqt' | 'chroma' | 'onset'``
        What the feature is; picks the frequency axis and the dB scaling.
    sr : float
        Sampling rate in Hz of the audio the feature came from.
    hop_length : int
        Samples between frames.
    config : dict, optional
        The front end's ``config`` (for ``fmin``, ``fmax``, ``bins_per_octave``, ``n_fft``).
    title : str, optional
        Figure title.
    path : path, optional
        Where to save the figure (format from the extension, e.g. ``.png``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import librosa
    import librosa.display

    plt = _plt()

    from dlmir.errors import ParameterError

    feature = np.asarray(feature)
    if feature.ndim != 2:
        raise ParameterError(f"plot_feature expects (features, frames), got shape {feature.shape}")
    config = config or {}
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    common = dict(sr=sr, hop_length=hop_length, x_axis="time", ax=ax)
    if kind == "onset":
        times = librosa.frames_to_time(np.arange(feature.shape[-1]), sr=sr, hop_length=hop_length)
        ax.plot(times, feature[0], lw=1)
        ax.set(xlabel="Time (s)", ylabel="onset strength", xlim=(0, times[-1] if times.size else 1))
    else:
        if kind == "stft":
            data = librosa.amplitude_to_db(feature, ref=np.max)
            img = librosa.display.specshow(data, y_axis="log", n_fft=config.get("n_fft"), **common)
            label = "dB"
        elif kind == "mel":
            data = librosa.power_to_db(feature, ref=np.max)
            fmax = config.get("fmax") or sr / 2
            img = librosa.display.specshow(data, y_axis="mel", fmin=config.get("fmin", 0.0), fmax=fmax, **common)
            label = "dB"
        elif kind == "cqt":
            data = librosa.amplitude_to_db(feature, ref=np.max)
            fmin = config.get("fmin") or librosa.note_to_hz("C1")
            bpo = config.get("bins_per_octave", 12)
            img = librosa.display.specshow(data, y_axis="cqt_note", fmin=fmin, bins_per_octave=bpo, **common)
            label = "dB"
        elif kind == "chroma":
            img = librosa.display.specshow(feature, y_axis="chroma", cmap="gray_r", **common)
            label = "energy"
        elif kind == "mfcc":
            img = librosa.display.specshow(feature, **common)
            ax.set_ylabel("MFCC")
            label = "coefficient"
        else:
            plt.close(fig)
            raise ParameterError(f"unknown feature kind {kind!r} for plotting")
        fig.colorbar(img, ax=ax, label=label)
    ax.set_title(title or kind)
    if path is not None:
        path = Path(path)
        tmp = path.with_name(f".{path.stem}.part{path.suffix}")
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    return fig


def weight_matrix(model) -> np.ndarray:
    """The ``(12, n_bins)`` map of a learned chroma model as numpy: its weights (the effective linear map
    for ``layers >= 2``), and for a model with ``c`` frames of context the sum of the ``2c + 1`` frames'
    ``(12, n_bins)`` blocks, i.e. its response to a steady input (:func:`dlmir.analysis.filters.dense_profiles`)."""
    from dlmir.analysis.filters import dense_profiles

    return dense_profiles(model.weight, int(model.config["n_bins"])).astype(np.float32)


def plot_weights(panels: dict[str, np.ndarray], path: str | os.PathLike[str], *, bins_per_octave: int = 24) -> Path:
    """Side-by-side heat maps of ``(12, n_inputs)`` weight matrices (rows: pitch classes C..B; columns: CQT bins,
    octave boundaries marked every ``bins_per_octave`` bins). ``panels`` maps a title to a matrix."""
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.6 + 1.9 * n), squeeze=False)
    for ax, (title, w) in zip(axes[:, 0], panels.items(), strict=True):
        lim = float(np.abs(w).max()) or 1.0
        im = ax.imshow(w, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_yticks(range(12), PITCH_CLASSES, fontsize=6)
        for b in range(bins_per_octave, w.shape[1], bins_per_octave):
            ax.axvline(b - 0.5, color="k", lw=0.3, alpha=0.4)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1, 0].set_xlabel("input (CQT bin; lines mark octaves)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_chromagrams(
    panels: dict[str, np.ndarray], path: str | os.PathLike[str], *, sr: float = 22050, hop_length: int = 512
) -> Path:
    """Stacked chromagrams ``(12, frames)``, time in seconds; each frame min-max scaled to ``[0, 1]``."""
    plt = _plt()
    n = len(panels)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.2 + 1.8 * n), squeeze=False, sharex=True)
    for ax, (title, c) in zip(axes[:, 0], panels.items(), strict=True):
        c = np.asarray(c, dtype=np.float64)
        low = c.min(axis=0, keepdims=True)  # min-max: a softmax output (all positive) shows its contrast
        c = (c - low) / np.maximum(c.max(axis=0, keepdims=True) - low, 1e-12)
        extent = (0, c.shape[1] * hop_length / sr, -0.5, 11.5)
        ax.imshow(c, aspect="auto", origin="lower", cmap="magma", extent=extent, interpolation="nearest")
        ax.set_yticks(range(12), PITCH_CLASSES, fontsize=6)
        ax.set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(histories: dict[str, list[dict[str, float]]], path: str | os.PathLike[str]) -> Path:
    """Training (solid) and validation (dashed) loss per epoch for each run in ``histories``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, hist) in enumerate(histories.items()):
        color = f"C{i % 10}"
        epochs = [h["epoch"] for h in hist]
        ax.plot(epochs, [h["train_loss"] for h in hist], color=color, label=f"{name} train")
        val = [(h["epoch"], h["val_loss"]) for h in hist if "val_loss" in h]
        if val:
            ax.plot(*zip(*val, strict=True), color=color, ls="--", label=f"{name} valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["PITCH_CLASSES", "plot_chromagrams", "plot_curves", "plot_feature", "plot_weights", "weight_matrix"]
