"""Audio in and out, with clear errors.

:func:`load` reads anything soundfile or librosa can decode (wav, flac, ogg, mp3, ...) to a mono
float32 signal at a chosen rate; :func:`check_signal` validates a signal before a front end sees it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError


def load(
    path: str | os.PathLike[str],
    *,
    sr: float | None = 22050,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, float]:
    """Load an audio file as float32 in ``[-1, 1]``.

    Parameters
    ----------
    path : path to the audio file.
    sr : target sampling rate in Hz; ``None`` keeps the file's own rate.
    mono : mix down to one channel (shape ``(samples,)``); otherwise ``(channels, samples)``.
    offset, duration : start and length to read, in seconds.

    Returns
    -------
    y : np.ndarray, float32, shape ``(samples,)`` (mono) or ``(channels, samples)``
    sr : the sampling rate of ``y`` in Hz

    Raises
    ------
    AudioError : the file is missing, cannot be decoded, is empty, or contains NaN/inf.
    ParameterError : ``sr``, ``offset`` or ``duration`` is invalid.
    """
    path = Path(path)
    if sr is not None and not sr > 0:
        raise ParameterError(f"sr must be a positive sampling rate in Hz, got {sr}")
    if offset < 0:
        raise ParameterError(f"offset must be >= 0 seconds, got {offset}")
    if duration is not None and not duration > 0:
        raise ParameterError(f"duration must be > 0 seconds, got {duration}")
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, file_sr = librosa.load(path, sr=sr, mono=mono, offset=offset, duration=duration, dtype=np.float32)
    except Exception as exc:  # soundfile/audioread raise many unrelated types
        if "not finite" in str(exc):  # librosa's mono mix-down validates the samples first
            raise AudioError(f"{path}: the audio contains NaN or infinite samples") from exc
        raise AudioError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from exc
    if y.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: the audio contains NaN or infinite samples")
    return y, float(file_sr)


def save(path: str | os.PathLike[str], y: np.ndarray | torch.Tensor, sr: int, *, subtype: str | None = None) -> Path:
    """Write ``y`` (``(samples,)`` or ``(channels, samples)``) to ``path``; the extension picks the format.

    The file is written to a temporary name and renamed, so an interrupted write never leaves
    a half-written file under the final name.
    """
    import soundfile as sf

    path = Path(path)
    data = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if data.ndim == 2:
        data = data.T
    tmp = path.with_name(f".{path.name}.part")
    fmt = path.suffix.lstrip(".").upper() or None
    sf.write(tmp, data, int(sr), subtype=subtype, format=fmt)
    os.replace(tmp, path)
    return path


def check_signal(y: torch.Tensor | np.ndarray, *, min_samples: int = 1, name: str = "y") -> torch.Tensor:
    """Validate audio for a front end and return it as a ``(batch, samples)`` floating tensor.

    Accepts ``(samples,)`` or ``(batch, samples)``, numpy or torch. Raises :class:`AudioError` for
    empty, non-finite or too-short audio (fewer than ``min_samples`` samples, e.g. one frame) and
    :class:`ParameterError` for a wrong shape or dtype.
    """
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    if not isinstance(y, torch.Tensor):
        raise ParameterError(f"{name} must be a torch.Tensor or numpy array, got {type(y).__name__}")
    if y.ndim == 1:
        y = y.unsqueeze(0)
    if y.ndim != 2:
        raise ParameterError(f"{name} must have shape (samples,) or (batch, samples); got {tuple(y.shape)}")
    if not torch.is_floating_point(y):
        raise ParameterError(f"{name} must be floating point (float32 or float64), got {y.dtype}")
    if y.shape[-1] == 0:
        raise AudioError(f"{name} is empty (0 samples)")
    # a finite sum proves every sample finite (one cheap pass); only a non-finite sum needs the full check
    if not bool(torch.isfinite(y.sum())) and not bool(torch.isfinite(y).all()):
        raise AudioError(f"{name} contains NaN or infinite samples")
    if y.shape[-1] < min_samples:
        raise AudioError(
            f"{name} has {y.shape[-1]} samples, shorter than one frame ({min_samples} samples); "
            "pass a longer signal or a smaller n_fft"
        )
    return y
