"""Figures of front-end outputs (spectrograms, mel, MFCC, CQT, chroma, onset strength) with proper axes.

Uses matplotlib's non-interactive Agg backend and :func:`librosa.display.specshow`, so time is in seconds
and frequency in Hz / notes / pitch classes, as MIR readers expect.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

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


__all__ = ["plot_feature"]
