"""Which instrument plays: classify a note, or a whole recording by pooling over its notes.

A recording (mono, resampled to 22050 Hz) is cut into **note windows** (:func:`note_windows`): a window of
:data:`~dlmir.instruments.features.NOTE_SECONDS` = 2 s starts at every detected onset (spectral flux of
:class:`~dlmir.frontends.OnsetStrength`, peaks picked by :func:`librosa.onset.onset_detect` with backtracking),
and where a sound is held longer than a second without an onset, another starts every second (an onset must rise
at least 0.5 dB per mel band, and 10 % of the largest rise, above its surroundings, so a steady tone has none; onsets
are at least 0.23 s apart). Windows that run past the end are
padded with silence, as the training notes end in silence. A window's loudness is the RMS of its first half second;
windows more than :data:`GATE_DB` = 30 dB below the loudest one, or below -70 dBFS, are dropped (tails, room
noise), and at most :data:`MAX_WINDOWS` of the loudest are kept.

Every window is classified on its own (the model's class probabilities), and the recording's answer is the mean
of the windows' probabilities, each weighted by its RMS amplitude: the share of the (audible) recording that
sounds like each class. :class:`InstrumentResult` keeps the pooled probabilities and the per-window ones.

Confidence: a single instrument in the training classes usually gets a top probability well above 0.5; a mixture
of instruments, or one the model does not know, spreads it. :attr:`InstrumentResult.confident` is ``top
probability >= LOW_CONFIDENCE`` (0.5), and ``dlmir instrument`` says so when it is not. Silence is not an
answer: :func:`note_windows` raises :class:`~dlmir.errors.AudioError` ("no note to classify").

Models (:func:`load_scorer`): ``"default"`` is the shipped model (``dlmir/assets/instruments``, see
:data:`SHIPPED_DIR`); a model folder written by ``dlmir train instruments`` (an
:class:`~dlmir.models.InstrumentCNN` or :class:`~dlmir.models.InstrumentMLP`); or a baseline's JSON file
(:class:`~dlmir.instruments.baselines.LinearBaseline`). Every scorer maps a batch of windows' CQT
``(n, 192, 87)`` and MFCC ``(n, 20, 87)`` to log-probabilities ``(n, n_classes)``, so an evaluation computes
the front ends once for all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.instruments.features import NOTE_SECONDS, SR, cqt_frontend, features_from, mfcc_frontend, peak_normalize

__all__ = [
    "GATE_DB",
    "LOW_CONFIDENCE",
    "MAX_WINDOWS",
    "SHIPPED_DIR",
    "InstrumentRecognizer",
    "InstrumentResult",
    "Scorer",
    "classify",
    "load_scorer",
    "note_windows",
    "window_audio",
    "window_inputs",
]

HOP = 512
WINDOW = int(round(NOTE_SECONDS * SR))  # samples per window: 44100
GRID_S = 1.0
HEAD_S = 0.5
ONSET_DELTA = 0.5  # onset strength (mean dB rise per mel band) a peak must exceed its surroundings by
GATE_DB = 30.0
"""Windows this many dB below the loudest window of the recording are not classified."""
FLOOR_DBFS = -70.0
SILENCE_DBFS = -80.0
MAX_WINDOWS = 256
"""At most this many windows (the loudest) are classified per recording."""
LOW_CONFIDENCE = 0.5
"""Below this top probability, an answer is reported as low-confidence."""


def _shipped_dir() -> Path:
    from dlmir.models.io import shipped_model_dir

    return shipped_model_dir("instruments")


SHIPPED_DIR = _shipped_dir()
"""Folder of the default instrument model (``config.json`` + ``model.safetensors``; ``dlmir.models.load("instruments")``
loads it too)."""


def _db(x: float) -> float:
    return 20.0 * float(np.log10(max(x, 1e-12)))


@lru_cache(maxsize=1)
def _onset_frontend():  # noqa: ANN202 - FrontEnd
    from dlmir.frontends import OnsetStrength

    return OnsetStrength(sr=SR, hop_length=HOP)


def note_windows(y: np.ndarray, sr: float = SR, *, name: str = "audio") -> list[tuple[int, float]]:
    """The note windows of a recording: ``[(start_sample, rms)]``, in time order (module docstring).

    Parameters
    ----------
    y : mono audio ``(samples,)`` at ``sr`` = 22050 Hz.
    name : what to call the audio in error messages (a file name).

    Raises
    ------
    AudioError : the audio is silent (peak below -80 dBFS) or holds no window above -70 dBFS.
    """
    import librosa

    if float(sr) != SR:
        raise ParameterError(f"note windows are cut at sr={SR} Hz, got {sr}; resample first")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or not y.size:
        raise AudioError(f"{name}: expected mono audio (samples,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(y)))
    if _db(peak) < SILENCE_DBFS:
        raise AudioError(f"{name}: the audio is silent (peak {_db(peak):.0f} dBFS): no note to classify")
    n_frames = 1 + len(y) // HOP
    onsets: np.ndarray = np.zeros(0, dtype=int)
    if len(y) > 4 * HOP:
        with torch.inference_mode():
            env = _onset_frontend()(torch.as_tensor(y))[0, 0].numpy().astype(np.float64)
        if env.max() > 0:  # peaks of at least ONSET_DELTA (and 7 % of the largest): a held tone has none
            delta = max(ONSET_DELTA, 0.1 * float(env.max() - env.min()))
            onsets = librosa.onset.onset_detect(
                onset_envelope=env, sr=SR, hop_length=HOP, units="frames", normalize=False, delta=delta, wait=10
            ).astype(int)
            if len(onsets):
                try:  # back to the preceding minimum of the onset strength: the start of the rise
                    onsets = librosa.onset.onset_backtrack(onsets, env).astype(int)
                except librosa.util.exceptions.ParameterError:  # no minimum before them: keep the peaks
                    pass
    grid = int(round(GRID_S * SR / HOP))
    starts: list[int] = sorted(set(int(o) for o in onsets))
    if not starts or starts[0] > grid:
        starts.insert(0, 0)
    filled: list[int] = []
    for k, s in enumerate(starts):  # held sounds: another window every second until the next onset
        nxt = starts[k + 1] if k + 1 < len(starts) else n_frames
        filled += list(range(s, max(s + 1, nxt - grid // 2), grid))
    samples = sorted({min(f * HOP, max(0, len(y) - HOP)) for f in filled})
    head = int(HEAD_S * SR)  # a window's loudness: its first half second (the note it starts, not the next one)
    rms = [float(np.sqrt(np.mean(np.square(y[s : s + head], dtype=np.float64)))) for s in samples]
    loudest = max(rms)
    keep = [(s, r) for s, r in zip(samples, rms, strict=True) if _db(r) >= max(_db(loudest) - GATE_DB, FLOOR_DBFS)]
    if not keep:
        raise AudioError(
            f"{name}: the audio is too quiet (loudest note {_db(loudest):.0f} dBFS RMS): no note to classify"
        )
    if len(keep) > MAX_WINDOWS:
        keep = sorted(sorted(keep, key=lambda w: -w[1])[:MAX_WINDOWS])
    return keep


def window_audio(y: np.ndarray, starts: list[int]) -> np.ndarray:
    """The windows of ``y`` starting at ``starts`` (samples), each :data:`WINDOW` samples (zero-padded at the
    end) and peak-normalised: ``(n, 44100)`` float32."""
    y = np.asarray(y, dtype=np.float32)
    out = np.zeros((len(starts), WINDOW), dtype=np.float32)
    for i, s in enumerate(starts):
        seg = y[s : s + WINDOW]
        out[i, : len(seg)] = seg
    return peak_normalize(out)


def window_inputs(windows: np.ndarray, *, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """CQT magnitude ``(n, 192, 87)`` and MFCC ``(n, 20, 87)`` of windows ``(n, samples)`` (float32)."""
    cqts, mfccs = [], []
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = torch.as_tensor(np.asarray(windows[i : i + batch], dtype=np.float32))
            c = cqt_frontend()(x)
            cqts.append(c.abs() if torch.is_complex(c) else c)
            mfccs.append(mfcc_frontend()(x))
    return torch.cat(cqts), torch.cat(mfccs)


class Scorer:
    """Windows' front-end outputs -> class log-probabilities; wraps a model or a baseline.

    Attributes
    ----------
    classes : class names, in score order. name : what tables call it. kind : ``"cnn"``, ``"mlp"``, ``"svm"``
    or ``"logreg"``. model : the wrapped ``nn.Module`` or :class:`~dlmir.instruments.baselines.LinearBaseline`.
    """

    def __init__(self, model: Any, *, name: str = "") -> None:
        from dlmir.instruments.baselines import LinearBaseline

        self.model = model
        if isinstance(model, LinearBaseline):
            self.kind = model.kind
        elif getattr(model, "input_kind", None) == "cqt":
            self.kind = "cnn"
        elif getattr(model, "input_kind", None) == "features":
            self.kind = "mlp"
        else:
            raise ParameterError(f"cannot classify instruments with a {type(model).__name__}")
        self.classes: list[str] = list(model.classes)
        self.name = name or self.kind

    def __repr__(self) -> str:
        return f"Scorer({self.name!r}, kind={self.kind!r}, {len(self.classes)} classes)"

    def log_probs(self, cqt: torch.Tensor, mfcc: torch.Tensor, *, batch: int = 64) -> np.ndarray:
        """``(n, n_classes)`` log-probabilities of windows given their CQT ``(n, 192, frames)`` and MFCC."""
        if self.kind in ("svm", "logreg"):
            return self.model.log_probs(features_from(cqt, mfcc))
        model = self.model
        model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, cqt.shape[0], batch):
                if self.kind == "cnn":
                    x = cqt[i : i + batch]
                else:
                    x = torch.as_tensor(features_from(cqt[i : i + batch], mfcc[i : i + batch]))
                out.append(model.log_probs(x.float()))
        return torch.cat(out).numpy().astype(np.float64)


def load_scorer(model: Any = "default", *, name: str = "") -> Scorer:
    """A :class:`Scorer` for ``model``: ``"default"`` (the shipped model), a model folder, a baseline ``.json``,
    a loaded model / baseline, or a :class:`Scorer` (returned as is)."""
    from dlmir.instruments.baselines import LinearBaseline

    if isinstance(model, Scorer):
        return model
    if isinstance(model, str | os.PathLike):
        text = str(model)
        if text == "default":
            if not (SHIPPED_DIR / "config.json").is_file():
                raise ParameterError(f"the default instrument model is missing from {SHIPPED_DIR}; reinstall dlmir")
            path = SHIPPED_DIR
            name = name or "default"
        else:
            path = Path(text)
        if path.suffix == ".json" and path.is_file():
            return Scorer(LinearBaseline.load(path), name=name or path.stem)
        if not path.is_dir():
            raise ParameterError(f"{path}: no such model folder (give a run folder, a baseline .json or 'default')")
        from dlmir.models import load

        loaded = load(path)
        return Scorer(loaded, name=name or path.name)
    return Scorer(model, name=name)


@dataclass
class InstrumentResult:
    """One recording's answer.

    Attributes
    ----------
    classes : class names. probs : ``(n_classes,)`` pooled probabilities (sum 1).
    windows : ``(n_windows, 2)`` start and end of each classified window in seconds.
    window_probs : ``(n_windows, n_classes)`` each window's probabilities. weights : ``(n_windows,)`` RMS weights.
    """

    classes: list[str]
    probs: np.ndarray
    windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    window_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes, best first: ``[(class, probability)]``."""
        order = np.argsort(-self.probs, kind="stable")[: max(1, int(k))]
        return [(self.classes[i], float(self.probs[i])) for i in order]

    @property
    def best(self) -> str:
        """The most probable class."""
        return self.top(1)[0][0]

    @property
    def confident(self) -> bool:
        """Whether the top probability reaches :data:`LOW_CONFIDENCE`."""
        return float(self.probs.max()) >= LOW_CONFIDENCE


def pool(log_probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of the windows' probabilities ``exp(log_probs)`` ``(n, n_classes)``: ``(n_classes,)``."""
    p = np.exp(np.asarray(log_probs, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(p), 1.0 / len(p))
    out = (w[:, None] * p).sum(axis=0)
    return out / out.sum()


class InstrumentRecognizer:
    """Classify recordings with one model (``"default"``, a model folder or a baseline ``.json``).

    Examples
    --------
    >>> rec = InstrumentRecognizer()
    >>> rec.analyze_file("trumpet.ogg").top(3)        # [('trumpet', 0.9...), ...]
    """

    def __init__(self, model: Any = "default") -> None:
        self.scorer = load_scorer(model)

    @property
    def classes(self) -> list[str]:
        return self.scorer.classes

    def analyze(self, y: np.ndarray, sr: float = SR, *, name: str = "audio") -> InstrumentResult:
        """Classify mono audio ``y`` ``(samples,)`` at ``sr`` Hz (resampled to 22050 Hz when needed)."""
        import librosa

        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=0)
        if float(sr) != SR:
            if not sr > 0:
                raise ParameterError(f"sr must be a positive sample rate in Hz, got {sr}")
            y = librosa.resample(y, orig_sr=float(sr), target_sr=SR, res_type="soxr_hq").astype(np.float32)
        wins = note_windows(y, SR, name=name)
        starts = [s for s, _ in wins]
        cqt, mfcc = window_inputs(window_audio(y, starts))
        logp = self.scorer.log_probs(cqt, mfcc)
        weights = np.array([r for _, r in wins])
        t = np.array(starts, dtype=np.float64) / SR
        return InstrumentResult(
            classes=list(self.classes),
            probs=pool(logp, weights),
            windows=np.stack([t, np.minimum(t + NOTE_SECONDS, len(y) / SR)], axis=1),
            window_probs=np.exp(logp),
            weights=weights,
        )

    def analyze_file(self, path: str | os.PathLike[str]) -> InstrumentResult:
        """:meth:`analyze` an audio file (anything :func:`dlmir.io.load` reads)."""
        from dlmir.io import load

        y, sr = load(path, sr=SR)
        return self.analyze(y, sr, name=str(path))


_RECOGNIZERS: dict[str, InstrumentRecognizer] = {}


def classify(y: np.ndarray, sr: float = SR, *, model: Any = "default", top: int = 3) -> list[tuple[str, float]]:
    """The ``top`` most probable instruments of a note or recording ``y`` ``(samples,)`` at ``sr`` Hz, best first:
    ``[(class, probability)]``. ``model``: ``"default"``, a model folder or a baseline ``.json`` (recognisers of
    named models are cached per process).

    Raises
    ------
    AudioError : silent audio (no note to classify).

    Examples
    --------
    >>> classify(y, 22050)                              # [('trumpet', 0.91), ('french_horn', 0.04), ...]
    """
    if isinstance(model, str | os.PathLike):
        key = str(model)
        if key not in _RECOGNIZERS:
            _RECOGNIZERS[key] = InstrumentRecognizer(model)
        rec = _RECOGNIZERS[key]
    else:
        rec = InstrumentRecognizer(model)
    return rec.analyze(y, sr).top(top)
