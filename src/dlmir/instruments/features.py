"""Designed note features: the practicum's fixed-length timbre vector, from dlmir's front ends.

One note (or any window of audio) becomes a vector of :data:`N_FEATURES` = 120 numbers
(:data:`FEATURE_NAMES`), computed from two designed cascades, the chord CQT
(:data:`~dlmir.frontends.presets.CHORD_CQT`: 192 bins at 24 per octave from C1, hop 512 at 22050 Hz) and a
20-coefficient MFCC (:class:`~dlmir.frontends.MFCC`, librosa's defaults):

- ``mfcc_mean_k``, ``mfcc_std_k`` (k = 0..19): mean and standard deviation of each coefficient over the frames;
- ``mfcc_dstd_k``: standard deviation of its frame-to-frame difference (how fast the timbre moves);
- ``cqt_band_b`` (b = 0..47): the time-averaged CQT in dB (relative to the window's loudest bin, floored at
  -80 dB, divided by 80), pooled into 48 bands of two semitones (C1..C9): where the energy sits;
- ``env_j`` (j = 0..11): the frame energy in dB (relative to the loudest frame, floored at -80, divided by 80)
  averaged over 12 equal parts of the window: attack, sustain and decay.

The audio is peak-normalised first, so the vector does not depend on the recording level (a note played
louder differs only in timbre, as a real one does). :func:`note_features` takes audio; :func:`features_from`
takes the two front ends' outputs, so a recording's CQT and MFCC are computed once and sliced per note
(:mod:`dlmir.instruments.recognition`).

Shapes: audio ``(samples,)`` or ``(batch, samples)`` at ``sr`` = 22050 Hz; CQT magnitude ``(batch, 192,
frames)``; MFCC ``(batch, 20, frames)``; features ``(batch, 120)`` float32.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

from dlmir.errors import ParameterError

__all__ = [
    "FEATURE_NAMES",
    "MFCC_CONFIG",
    "NOTE_CQT",
    "NOTE_SECONDS",
    "N_FEATURES",
    "SR",
    "cqt_frontend",
    "features_from",
    "mfcc_frontend",
    "note_features",
    "peak_normalize",
]

SR = 22050
"""Sample rate (Hz) of every instrument front end."""
NOTE_SECONDS = 2.0
"""Length of one analysis window in seconds (a dataset note: 1.5 s held + 0.5 s release): 87 frames."""
N_MFCC = 20
N_BANDS = 48
N_ENVELOPE = 12
FLOOR_DB = 80.0
N_FEATURES = 3 * N_MFCC + N_BANDS + N_ENVELOPE
"""Length of the designed feature vector (120)."""

FEATURE_NAMES: tuple[str, ...] = (
    *(f"mfcc_mean_{k}" for k in range(N_MFCC)),
    *(f"mfcc_std_{k}" for k in range(N_MFCC)),
    *(f"mfcc_dstd_{k}" for k in range(N_MFCC)),
    *(f"cqt_band_{b}" for b in range(N_BANDS)),
    *(f"env_{j}" for j in range(N_ENVELOPE)),
)
"""Names of the :data:`N_FEATURES` features, in order (module docstring)."""


def _note_cqt() -> dict[str, Any]:
    from dlmir.frontends.presets import CHORD_CQT

    return dict(CHORD_CQT)


NOTE_CQT: dict[str, Any] = _note_cqt()
"""The CQT every instrument model reads: the chord CQT (192 bins, 24 per octave from C1, hop 512, 22050 Hz)."""

MFCC_CONFIG: dict[str, Any] = {"frontend": "MFCC", "sr": SR, "n_mfcc": N_MFCC, "hop_length": 512}
"""The MFCC of the designed features (librosa's defaults otherwise: n_fft 2048, 128 mel bands, top_db 80)."""


@lru_cache(maxsize=2)
def cqt_frontend():  # noqa: ANN201 - FrontEnd
    """The note CQT front end (:data:`NOTE_CQT`), built once per process."""
    from dlmir.frontends.presets import frontend_from_config

    return frontend_from_config(NOTE_CQT)


@lru_cache(maxsize=2)
def mfcc_frontend():  # noqa: ANN201 - FrontEnd
    """The MFCC front end of the designed features (:data:`MFCC_CONFIG`), built once per process."""
    from dlmir.frontends.presets import frontend_from_config

    return frontend_from_config(MFCC_CONFIG)


def peak_normalize(y: np.ndarray, *, peak: float = 0.9) -> np.ndarray:
    """``y`` scaled so its absolute peak is ``peak`` (silent rows are left at zero); ``(samples,)`` or
    ``(batch, samples)``, float32."""
    y = np.asarray(y, dtype=np.float32)
    top = np.max(np.abs(y), axis=-1, keepdims=True)
    return np.where(top > 0, y * (peak / np.maximum(top, 1e-12)), 0.0).astype(np.float32)


def _db(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``x`` (a power) in dB relative to its maximum over ``dims``, floored at -80, scaled by 1/80: [-1, 0]."""
    ref = x.amax(dim=dims, keepdim=True).clamp_min(1e-20)
    db = 10.0 * torch.log10((x / ref).clamp_min(10.0 ** (-FLOOR_DB / 10.0)))
    return db / FLOOR_DB


def features_from(cqt: torch.Tensor | np.ndarray, mfcc: torch.Tensor | np.ndarray) -> np.ndarray:
    """The designed features of windows given their CQT magnitude and MFCC.

    Parameters
    ----------
    cqt : ``(batch, 192, frames)`` (or ``(192, frames)``) CQT magnitude of :data:`NOTE_CQT`.
    mfcc : ``(batch, 20, frames)`` (or ``(20, frames)``) MFCC of :data:`MFCC_CONFIG`, same frames.

    Returns
    -------
    np.ndarray float32 ``(batch, 120)`` (or ``(120,)`` for unbatched input), :data:`FEATURE_NAMES` order.
    """
    c = torch.as_tensor(np.asarray(cqt) if not isinstance(cqt, torch.Tensor) else cqt).double()
    m = torch.as_tensor(np.asarray(mfcc) if not isinstance(mfcc, torch.Tensor) else mfcc).double()
    single = c.ndim == 2
    if single:
        c, m = c.unsqueeze(0), m.unsqueeze(0)
    if c.ndim != 3 or c.shape[1] != NOTE_CQT["n_bins"] or m.ndim != 3 or m.shape[1] != N_MFCC:
        raise ParameterError(
            f"features_from takes a CQT (batch, {NOTE_CQT['n_bins']}, frames) and an MFCC (batch, {N_MFCC}, frames); "
            f"got {tuple(c.shape)} and {tuple(m.shape)}"
        )
    frames = min(c.shape[-1], m.shape[-1])
    if frames < N_ENVELOPE:
        raise ParameterError(f"a window needs at least {N_ENVELOPE} frames for its envelope, got {frames}")
    c, m = c[..., :frames], m[..., :frames]
    dmfcc = m.diff(dim=-1)
    power = c.square()
    spectrum = _db(power, (1, 2)).mean(dim=-1)  # (batch, 192): time-averaged dB, relative to the loudest bin
    bands = spectrum.reshape(c.shape[0], N_BANDS, -1).mean(dim=-1)
    energy = _db(power.sum(dim=1), (1,))  # (batch, frames)
    envelope = torch.stack([part.mean(dim=-1) for part in torch.tensor_split(energy, N_ENVELOPE, dim=-1)], dim=-1)
    out = torch.cat(
        [m.mean(-1) / 100.0, m.std(-1, unbiased=False) / 10.0, dmfcc.std(-1, unbiased=False) / 10.0, bands, envelope],
        dim=-1,
    )
    out = out.float().numpy()
    return out[0] if single else out


def note_features(y: np.ndarray | torch.Tensor, sr: float = SR) -> np.ndarray:
    """The :data:`N_FEATURES` designed features of a note (or any window of audio).

    Parameters
    ----------
    y : audio ``(samples,)`` or ``(batch, samples)`` at ``sr`` Hz (22050; :data:`NOTE_SECONDS` = 2 s per note
        in the datasets, but any window of at least 12 frames, 0.26 s, works). Peak-normalised here.
    sr : must be :data:`SR`.

    Returns
    -------
    np.ndarray float32 ``(120,)`` or ``(batch, 120)`` (:data:`FEATURE_NAMES`).

    Examples
    --------
    >>> note_features(np.sin(2 * np.pi * 440 * np.arange(44100) / 22050)).shape
    (120,)
    """
    if float(sr) != SR:
        raise ParameterError(f"instrument features are computed at sr={SR} Hz, got {sr}; resample first")
    y_np = peak_normalize(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y)
    single = y_np.ndim == 1
    batch = torch.as_tensor(y_np[None] if single else y_np)
    with torch.inference_mode():
        cqt = cqt_frontend()(batch)
        cqt = cqt.abs() if torch.is_complex(cqt) else cqt
        mfcc = mfcc_frontend()(batch)
    out = features_from(cqt, mfcc)
    return out[0] if single else out
