"""Designed front ends: classic MIR features as frozen (or trainable) cascades of the layer vocabulary.

Each front end takes librosa's keyword names and defaults, accepts ``(samples,)`` or ``(batch, samples)``
audio (torch or numpy) and returns ``(batch, features, frames)``; ``trainable=True`` unfreezes the designed
parameters. :func:`compute` is the one-call door used by the ``dlmir features`` command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlmir.errors import ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.chroma import Chroma
from dlmir.frontends.cqt import CQT
from dlmir.frontends.mel import MFCC, MelSpectrogram
from dlmir.frontends.onset import OnsetStrength
from dlmir.frontends.stft import STFT
from dlmir.frontends.tempo import Tempo

KINDS = ("stft", "mel", "mfcc", "cqt", "chroma", "onset")


def frontend(kind: str, *, sr: float = 22050, hop_length: int = 512, **kwargs: Any) -> FrontEnd:
    """Build the front end named ``kind`` (one of :data:`KINDS`) at ``sr`` Hz and ``hop_length`` samples.

    Extra keyword arguments go to the front end's constructor (librosa's names).
    """
    if kind == "stft":
        return STFT(hop_length=hop_length, **kwargs)
    if kind == "mel":
        return MelSpectrogram(sr=sr, hop_length=hop_length, **kwargs)
    if kind == "mfcc":
        return MFCC(sr=sr, hop_length=hop_length, **kwargs)
    if kind == "onset":
        return OnsetStrength(sr=sr, hop_length=hop_length, **kwargs)
    if kind == "cqt":
        return CQT(sr=sr, hop_length=hop_length, **kwargs)
    if kind == "chroma":
        return Chroma(sr=sr, hop_length=hop_length, **kwargs)
    raise ParameterError(f"unknown feature kind {kind!r}; choose one of {', '.join(KINDS)}")


def compute(kind: str, y: np.ndarray | torch.Tensor, sr: float, *, hop_length: int = 512, **kwargs: Any) -> np.ndarray:
    """Compute one feature for one signal and return it as numpy ``(features, frames)``.

    Parameters
    ----------
    kind : one of ``'stft' | 'mel' | 'mfcc' | 'cqt' | 'chroma' | 'onset'``.
    y : audio, shape ``(samples,)``, at ``sr`` Hz.
    sr : sampling rate of ``y`` in Hz.
    hop_length : samples between frames.
    **kwargs : passed to the front end (librosa's names, e.g. ``n_mels``, ``n_fft``).

    Returns
    -------
    np.ndarray, float32 (or float64 for float64 input), shape ``(features, frames)``; the magnitude for the
    complex transforms (``stft``, ``cqt``).
    """
    return extract(frontend(kind, sr=sr, hop_length=hop_length, **kwargs), y)


def extract(fe: FrontEnd, y: np.ndarray | torch.Tensor) -> np.ndarray:
    """Apply a built front end to one signal ``(samples,)`` and return numpy ``(features, frames)``.

    Runs under :func:`torch.inference_mode`; complex outputs (``stft``, ``cqt``) are returned as magnitudes.
    Use it to run one front end (from :func:`frontend`) over many signals without rebuilding it.
    """
    y_t = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
    if y_t.ndim != 1:
        raise ParameterError(f"expected one mono signal of shape (samples,), got {tuple(y_t.shape)}")
    with torch.inference_mode():
        out = fe(y_t)[0]
        if torch.is_complex(out):
            out = out.abs()
    return out.cpu().numpy()


def extract_file(
    path: str | os.PathLike[str],
    kind: str,
    out_dir: str | os.PathLike[str],
    *,
    sr: float = 22050,
    hop_length: int = 512,
    plot: bool = False,
    fe: FrontEnd | None = None,
    block_seconds: float | None = 60.0,
    **kwargs: Any,
) -> list[Path]:
    """Compute ``kind`` for one audio file and write ``<out_dir>/<stem>.npy`` (and ``<stem>.png`` with ``plot``).

    The array has shape ``(features, frames)`` (magnitudes for ``stft``/``cqt``), float32. Files are written
    under a temporary name and renamed, so a failure never leaves a partial file. Returns the written paths.
    Pass ``fe`` (from :func:`frontend`) to reuse one front end over many files instead of building it per file.

    The audio is streamed from disk in overlapping blocks of ``block_seconds`` (``None``: one block), so memory
    does not grow with the file's length; the frames equal one call on the whole signal
    (:mod:`dlmir.frontends.streaming`). The ``.npy`` is stored frame-major (``fortran_order``); :func:`numpy.load`
    returns the same ``(features, frames)`` array.

    Raises
    ------
    AudioError : the file is missing, undecodable, empty, NaN, or shorter than one frame.
    ParameterError : a front-end parameter is invalid.
    """
    from dlmir.frontends.streaming import write_frames

    path, out_dir = Path(path), Path(out_dir)
    fe = frontend(kind, sr=sr, hop_length=hop_length, **kwargs) if fe is None else fe
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{path.stem}.npy"
    write_frames(fe, path, target, sr=sr, block_seconds=block_seconds)
    file_sr = float(sr)
    written = [target]
    if plot:
        import matplotlib.pyplot as plt

        from dlmir.display import plot_feature

        png = out_dir / f"{path.stem}.png"
        feature = np.load(target, mmap_mode="r")
        fig = plot_feature(
            feature, kind, sr=file_sr, hop_length=hop_length, config=fe.config, title=f"{path.name}: {kind}", path=png
        )
        plt.close(fig)
        written.append(png)
    return written


__all__ = [
    "CQT",
    "KINDS",
    "MFCC",
    "STFT",
    "Chroma",
    "FrontEnd",
    "MelSpectrogram",
    "OnsetStrength",
    "Tempo",
    "compute",
    "extract",
    "extract_file",
    "frontend",
]
