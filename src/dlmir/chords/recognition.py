"""Chord recognition from audio: a model's frame posteriors, then one Viterbi over the whole recording.

Every chord model goes through one path::

    audio -> model.frontend (CQT) -> model.frame_log_probs -> smoothing (Viterbi) -> segments (.lab / JAMS)

- A **chord model** (e.g. ``dlmir.models.chords.ChordNet``, ``dlmir.models.fretboard.FretboardNet``) exposes
  ``frame_log_probs(cqt)``: ``(batch, n_bins, frames)`` -> ``(batch, 157, frames)`` log-probabilities over the
  classes of :class:`dlmir.chords.ChordVocabulary` ``("full")`` (or its own ``labels``).
- A **chroma model** (the shipped ``'default'`` learned chroma, any :class:`~dlmir.models.LearnedChroma`) or the
  designed chroma (``'designed'``: the octave-folding matrix on the CQT magnitude, as
  :func:`dlmir.evaluate.chroma_of`) is wrapped by :class:`TemplateChordModel`: chroma -> correlation with each
  chord template -> ``log_softmax(beta * score)``, exactly the frame posteriors of
  :func:`dlmir.chords.decode.decode` (same templates, same no-chord threshold, same ``beta``).

Smoothing (:func:`smooth`) is the decoder's HMM: a self-transition probability ``p_self``, the rest spread evenly
over the other classes, uniform initial and marginal state probabilities (librosa's
``viterbi_discriminative(prob, transition_loop(n, p_self))``), computed in ``O(classes x frames)`` on the
log-posteriors; ``'median'`` median-filters the log-posteriors over time before the frame-wise arg-max (decode
filters the raw template scores instead, so the two can differ where scores are close), ``'none'`` is the
frame-wise arg-max. Segments follow :mod:`dlmir.frames` (changes half-way between frame centres, the last
segment ending at the audio's duration).

Long files (:meth:`ChordRecognizer.recognize_file`) are streamed in blocks by
:func:`dlmir.frontends.streaming.stream_frames` with the model as its ``head`` (the model's context frames
added to the block overlap), so the CQT is never held whole; the posteriors of all blocks are kept, as
float32 ``(classes, frames)``, for one Viterbi over the whole sequence: 157 classes x 155,000 frames (1 h at
hop 512 / 22050 Hz) = 97 MB, plus 49 MB of uint16 back-pointers during the Viterbi.

Guitar tablature (:meth:`Chords.tab_text`): a model that plays frets (``frame_frets(cqt)`` -> ``(batch, 6,
frames)`` fret per string, low E first, ``-1`` muted, or a :class:`~dlmir.models.fretboard.FretboardNet`) gives
each segment the most frequent fret of each string over its frames; otherwise each label gets its canonical shape
(:func:`dlmir.chords.fretboard.fretboard_shape`, the fretboard network's targets).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.chords.decode import BETA, METHODS, NO_CHORD_THRESHOLD, correlations, frames_to_segments
from dlmir.chords.vocabulary import VOCABULARIES, ChordVocabulary, reduce
from dlmir.errors import DependencyError, ParameterError

__all__ = [
    "ChordRecognizer",
    "Chords",
    "TemplateChordModel",
    "VocabularyChordModel",
    "chord_model",
    "recognize",
    "frame_frets",
    "provides_frets",
    "require_fretboard",
    "recognize_file",
    "smooth",
]


# -- models -------------------------------------------------------------------------------------------
class TemplateChordModel(nn.Module):
    """A chroma (learned or designed) turned into a chord model: template correlations -> ``log_softmax(beta s)``.

    Parameters
    ----------
    chroma : a chroma model (``(batch, n_bins, frames) -> (batch, 12, frames)``, e.g. a loaded
        :class:`~dlmir.models.LearnedChroma`) or ``'designed'`` / ``'designed-log'`` (the octave-equivalence matrix
        on the CQT magnitude, or on ``log(1 + 100 CQT)``, as :func:`dlmir.evaluate.chroma_of`).
    vocabulary : ``'full'`` (157 classes) or ``'majmin'`` (25): the templates scored.
    frontend : the CQT front end the chroma reads; default: the chroma model's own (``model.frontend``), or the
        chord CQT (:data:`dlmir.frontends.presets.CHORD_CQT`) for the designed chroma.
    beta, no_chord_threshold : as :func:`dlmir.chords.decode.decode`.

    Attributes
    ----------
    labels : Harte labels of the classes, ``N`` last; frontend : the front end (not a submodule).
    """

    def __init__(
        self,
        chroma: nn.Module | str,
        *,
        vocabulary: str = "full",
        frontend: Any = None,
        beta: float = BETA,
        no_chord_threshold: float = NO_CHORD_THRESHOLD,
    ) -> None:
        super().__init__()
        from dlmir.models.io import model_frontend

        vocab = ChordVocabulary(vocabulary)
        self.vocabulary = vocab.name
        self.labels = list(vocab.labels)
        self.beta = float(beta)
        self.no_chord_threshold = float(no_chord_threshold)
        self.register_buffer("templates", torch.from_numpy(np.asarray(vocab.templates, dtype=np.float64)))
        fe = model_frontend(chroma, frontend)
        self.__dict__["frontend"] = fe  # a plain attribute, as dlmir.models.io.set_frontend does
        if isinstance(chroma, str):
            from dlmir.evaluate import DESIGNED
            from dlmir.filters import octave_matrix

            if chroma not in DESIGNED:
                raise ParameterError(f"unknown chroma {chroma!r}; pass a chroma model or one of {DESIGNED}")
            if "bins_per_octave" not in fe.config:
                raise ParameterError(f"designed chroma needs a CQT front end, got {fe.config.get('frontend')!r}")
            n_bins = int(fe.config["n_bins"])
            m = octave_matrix(n_bins, int(fe.config["bins_per_octave"]), fmin=fe.config.get("fmin"))
            self.register_buffer("octave", torch.from_numpy(m))
            self.designed: str | None = chroma
            self.chroma = None
        else:
            self.designed = None
            self.chroma = chroma

    def __repr__(self) -> str:
        inner = self.designed or type(self.chroma).__name__
        return f"TemplateChordModel({inner}, vocabulary={self.vocabulary!r}, beta={self.beta})"

    def frame_chroma(self, cqt: torch.Tensor) -> torch.Tensor:
        """Chroma ``(batch, 12, frames)`` of a CQT magnitude ``(batch, n_bins, frames)``."""
        if self.chroma is not None:
            return self.chroma(cqt.float())
        x = cqt.float()
        if self.designed == "designed-log":
            x = torch.log1p(100.0 * x)
        return torch.einsum("cb,nbt->nct", self.octave, x)

    def frame_scores(self, cqt: torch.Tensor) -> torch.Tensor:
        """Template correlations ``(batch, n_classes, frames)`` (:func:`dlmir.chords.decode.correlations`, float64)."""
        chroma = self.frame_chroma(cqt).double()
        scores = [correlations(c.T, self.templates, no_chord_threshold=self.no_chord_threshold).T for c in chroma]
        return torch.stack(scores)

    def frame_log_probs(self, cqt: torch.Tensor) -> torch.Tensor:
        """``log_softmax(beta * scores)`` over the classes: ``(batch, n_classes, frames)``, float64."""
        return torch.log_softmax(self.beta * self.frame_scores(cqt), dim=1)

    def forward(self, cqt: torch.Tensor) -> torch.Tensor:
        return self.frame_log_probs(cqt)

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        """Samples of audio context each side of a block (:mod:`dlmir.frontends.streaming`): the chroma model's."""
        if self.chroma is None:
            return 0, 0
        return _module_context(self.chroma, hop_length)


class VocabularyChordModel(nn.Module):
    """A chord model (``frame_log_probs``) with its posteriors mapped to another vocabulary.

    For ``'majmin'`` the probabilities of the full classes are summed by :func:`dlmir.chords.reduce`
    (``C:maj7``, ``C:7``, ``C:maj6`` -> ``C:maj``; ``C:min7``, ``C:min6`` -> ``C:min``) and the classes that reduce
    to ``X`` (dim, aug, sus, hdim7, dim7) are left out, the rest renormalised: the posterior given that the
    chord is in the smaller vocabulary. A model whose labels already are the vocabulary's passes through.
    """

    def __init__(self, model: nn.Module, *, vocabulary: str = "full", labels: Sequence[str] | None = None) -> None:
        super().__init__()
        self.model = model
        self.__dict__["frontend"] = getattr(model, "frontend", None)
        source = list(labels if labels is not None else _model_labels(model))
        vocab = ChordVocabulary(vocabulary)
        self.vocabulary = vocab.name
        self.labels = list(vocab.labels)
        self.source_labels = source
        if source == self.labels:
            self.mapping = None
        else:
            targets = [reduce(lab, vocab.name) for lab in source]
            mapping = torch.zeros(len(self.labels), len(source), dtype=torch.bool)
            for j, t in enumerate(targets):
                if t in vocab.labels:
                    mapping[vocab.labels.index(t), j] = True
            self.register_buffer("mapping", mapping)

    def frame_log_probs(self, cqt: torch.Tensor) -> torch.Tensor:
        lp = self.model.frame_log_probs(cqt)
        if lp.shape[1] != len(self.source_labels):
            raise ParameterError(
                f"{type(self.model).__name__}.frame_log_probs gave {lp.shape[1]} classes, expected "
                f"{len(self.source_labels)} (its labels)"
            )
        if self.mapping is None:
            return lp
        masked = torch.where(self.mapping[None, :, :, None], lp[:, None], torch.full_like(lp[:, None], -torch.inf))
        out = torch.logsumexp(masked, dim=2)  # (batch, n_target, frames)
        return out - torch.logsumexp(out, dim=1, keepdim=True)

    def forward(self, cqt: torch.Tensor) -> torch.Tensor:
        return self.frame_log_probs(cqt)

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        return _module_context(self.model, hop_length)


def _model_labels(model: nn.Module) -> list[str]:
    labels = getattr(model, "labels", None)
    if labels is not None:
        return [str(lab) for lab in labels]
    vocabulary = getattr(model, "vocabulary", None)
    if isinstance(vocabulary, ChordVocabulary):
        return list(vocabulary.labels)
    if isinstance(vocabulary, str) and vocabulary in VOCABULARIES:
        return list(ChordVocabulary(vocabulary).labels)
    return list(ChordVocabulary("full").labels)


def _module_context(module: nn.Module, hop_length: int) -> tuple[int, int]:
    """Samples of context ``(left, right)`` a model needs each side of a block: its own ``streaming_context`` hook
    when it has one (e.g. :class:`~dlmir.models.fretboard.FretboardNet`), else derived from its stages."""
    hook = getattr(module, "streaming_context", None)
    if callable(hook):
        left, right = hook(hop_length)
        return int(left), int(right)
    from dlmir.frontends.streaming import _cascade_context

    left, right, _ = _cascade_context(module, hop_length)
    return left, right


def chord_model(model: nn.Module | str | os.PathLike[str] = "default", *, vocabulary: str = "full") -> nn.Module:
    """A chord model over ``vocabulary``: an ``nn.Module`` with ``frame_log_probs``, ``labels`` and ``frontend``.

    ``model`` is ``'default'`` (the shipped learned chroma), ``'designed'`` / ``'designed-log'``, a saved model
    folder (:func:`dlmir.models.load`), or a loaded module. Chroma models are wrapped by
    :class:`TemplateChordModel`; chord models (with ``frame_log_probs``) by :class:`VocabularyChordModel`.
    """
    if vocabulary not in VOCABULARIES:
        raise ParameterError(f"vocabulary must be one of {VOCABULARIES}, got {vocabulary!r}")
    if isinstance(model, str) and model in ("designed", "designed-log"):
        return TemplateChordModel(model, vocabulary=vocabulary)
    if isinstance(model, (str, os.PathLike)):
        from dlmir.models import load

        model = load(model)
    if isinstance(model, (TemplateChordModel, VocabularyChordModel)):
        if model.vocabulary == vocabulary:
            return model.eval()
        if isinstance(model, VocabularyChordModel):
            return chord_model(model.model, vocabulary=vocabulary)
        inner = model.chroma if model.chroma is not None else model.designed
        return TemplateChordModel(inner, vocabulary=vocabulary, frontend=model.frontend,  # type: ignore[arg-type]
                                  beta=model.beta, no_chord_threshold=model.no_chord_threshold).eval()  # fmt: skip
    if not isinstance(model, nn.Module):
        raise ParameterError(f"model must be 'default', 'designed', a model folder or an nn.Module, got {model!r}")
    model.eval()
    if callable(getattr(model, "frame_log_probs", None)):
        return VocabularyChordModel(model, vocabulary=vocabulary).eval()
    return TemplateChordModel(model, vocabulary=vocabulary).eval()


# -- smoothing ----------------------------------------------------------------------------------------
def smooth(
    log_probs: np.ndarray, *, method: str = "viterbi", p_self: float = 0.9, median_frames: int = 9
) -> np.ndarray:
    """Class index per frame ``(frames,)`` from log-posteriors ``(n_classes, frames)``.

    ``'viterbi'``: the loop HMM of :func:`dlmir.chords.decode.decode` (self-transition ``p_self``);
    ``'median'``: arg-max of the log-posteriors median-filtered over ``median_frames`` frames (odd);
    ``'none'``: frame-wise arg-max.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < p_self < 1.0:
        raise ParameterError(f"p_self (self-transition probability) must be in (0, 1), got {p_self}")
    if median_frames < 1 or median_frames % 2 == 0:
        raise ParameterError(f"median_frames must be an odd number of frames >= 1, got {median_frames}")
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2 or log_probs.shape[1] == 0:
        raise ParameterError(f"log_probs must have shape (n_classes, frames) with frames >= 1, got {log_probs.shape}")
    if method == "viterbi":
        from dlmir.chords.decode import viterbi_loop

        return viterbi_loop(log_probs, p_self)
    if method == "median":
        from scipy.ndimage import median_filter

        log_probs = median_filter(log_probs, size=(1, median_frames), mode="nearest")
    return np.asarray(log_probs.argmax(axis=0), dtype=np.int64)


# -- results ------------------------------------------------------------------------------------------
TAB_COLUMNS = 8
"""Segments per line of tablature in :meth:`Chords.tab_text`."""


def require_fretboard():
    """:mod:`dlmir.chords.fretboard` (canonical shapes and ASCII tablature), or a clear error when absent."""
    try:
        from dlmir.chords import fretboard
    except ModuleNotFoundError as exc:
        if exc.name != "dlmir.chords.fretboard":
            raise
        raise DependencyError(
            "guitar tablature is unavailable: this dlmir has no dlmir.chords.fretboard module (canonical shapes "
            "and tablature); update dlmir, or run without --tab"
        ) from None
    return fretboard


@dataclass
class Chords:
    """Recognised chords of one recording.

    Attributes
    ----------
    intervals : float64 ``(n, 2)``, start and end in seconds (contiguous, from 0 to ``duration``).
    labels : ``n`` Harte labels.
    duration : the audio's length in seconds.
    shapes : ``n`` guitar shapes (6 frets, low E first, ``None`` muted) played by a fretboard model, or ``None``:
        :meth:`tab_text` then takes each label's canonical shape (:func:`dlmir.chords.fretboard.fretboard_shape`).
    """

    intervals: np.ndarray
    labels: list[str]
    duration: float
    shapes: list[tuple[int | None, ...]] | None = None

    def lab_lines(self) -> list[str]:
        """``start<TAB>end<TAB>label`` lines, 3 decimals (as :func:`dlmir.annotations.write_lab`)."""
        return [f"{s:.3f}\t{e:.3f}\t{lab}" for (s, e), lab in zip(self.intervals, self.labels, strict=True)]

    def tab_text(self, *, columns: int = TAB_COLUMNS) -> str:
        """ASCII guitar tablature (:func:`dlmir.chords.fretboard.tab`), ``columns`` segments per system, each system
        headed by ``# start-end s``; shapes from the model (:attr:`shapes`) or canonical ones.

        Raises
        ------
        DependencyError : :mod:`dlmir.chords.fretboard` is not available.
        """
        fb = require_fretboard()
        shapes = self.shapes if self.shapes is not None else [fb.fretboard_shape(lab) for lab in self.labels]
        systems = []
        for i in range(0, len(self.labels), columns):
            j = min(i + columns, len(self.labels))
            head = f"# {self.intervals[i, 0]:.3f}-{self.intervals[j - 1, 1]:.3f} s"
            systems.append(head + "\n" + fb.tab(shapes[i:j], self.labels[i:j]))
        return "\n\n".join(systems)


def _segment_frets(frets: np.ndarray, intervals: np.ndarray, *, sr: float, hop: int) -> list[tuple[int | None, ...]]:
    """Per segment, the most frequent fret of each string over its frames; ``frets`` ``(6, frames)``, ``-1`` muted."""
    from dlmir.frames import time_to_frames

    n = frets.shape[1]
    shapes: list[tuple[int | None, ...]] = []
    for start, end in intervals:
        lo, hi = time_to_frames(np.array([start, end]), sr=sr, hop_length=hop)
        lo = int(np.clip(lo, 0, n - 1))
        hi = int(np.clip(hi, lo + 1, n))
        shape = []
        for row in np.rint(frets[:, lo:hi]).astype(np.int64):
            values, counts = np.unique(row, return_counts=True)
            f = int(values[np.argmax(counts)])
            shape.append(None if f < 0 else f)
        shapes.append(tuple(shape))
    return shapes


def frame_frets(model: nn.Module, cqt: torch.Tensor) -> torch.Tensor:
    """Fret per string and frame ``(batch, 6, frames)`` (low E first, ``-1`` muted) played by a fretboard model:
    its ``frame_frets(cqt)``, or the arg-max state of :meth:`dlmir.models.fretboard.FretboardNet.frames`
    (``output='frets'``: state 0 muted, state ``f + 1`` fret ``f``)."""
    inner = model.model if isinstance(model, VocabularyChordModel) else model
    hook = getattr(inner, "frame_frets", None)
    if callable(hook):
        return hook(cqt)
    return inner.frames(cqt, output="frets").argmax(dim=2) - 1


def provides_frets(model: nn.Module) -> bool:
    """Whether a chord model plays frets (``frame_frets``, or a :class:`~dlmir.models.fretboard.FretboardNet`)."""
    inner = model.model if isinstance(model, VocabularyChordModel) else model
    return callable(getattr(inner, "frame_frets", None)) or type(inner).__name__ == "FretboardNet"


# -- the recogniser -----------------------------------------------------------------------------------
class _Head(nn.Module):
    """The streaming head: log-posteriors (float32), then frets when asked, stacked on the feature axis."""

    def __init__(self, model: nn.Module, frets: bool) -> None:
        super().__init__()
        self.model = model
        self.frets = frets

    def forward(self, cqt: torch.Tensor) -> torch.Tensor:
        lp = self.model.frame_log_probs(cqt).float()
        if not self.frets:
            return lp
        return torch.cat([lp, frame_frets(self.model, cqt).to(lp.dtype)], dim=1)

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        return _module_context(self.model, hop_length)


class ChordRecognizer:
    """A loaded chord model and its decoder, reused over many recordings.

    Parameters
    ----------
    model : ``'default'`` (the shipped learned chroma + templates), ``'designed'``, a saved model folder, or a
        loaded model (a chroma model or a chord model with ``frame_log_probs``); see :func:`chord_model`.
    vocabulary : ``'full'`` (157 classes: 13 qualities x 12 roots + N) or ``'majmin'`` (25).
    method : ``'viterbi'`` | ``'median'`` | ``'none'`` (:func:`smooth`).
    p_self, median_frames : smoothing parameters (:func:`smooth`).

    Examples
    --------
    >>> from dlmir.chords.recognize import ChordRecognizer
    >>> from dlmir.examples import example_audio
    >>> rec = ChordRecognizer("default")
    >>> intervals, labels = rec.recognize_file(example_audio())
    >>> labels[:3]
    ['N', 'C:maj', 'C:7']
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike[str] = "default",
        *,
        vocabulary: str = "full",
        method: str = "viterbi",
        p_self: float = 0.9,
        median_frames: int = 9,
    ) -> None:
        self.model = chord_model(model, vocabulary=vocabulary)
        self.method, self.p_self, self.median_frames = method, float(p_self), int(median_frames)
        smooth(np.zeros((2, 1)), method=method, p_self=p_self, median_frames=median_frames)  # check early
        from dlmir.models.io import model_frontend

        self.frontend = model_frontend(self.model)
        self.labels: list[str] = list(self.model.labels)

    @property
    def has_frets(self) -> bool:
        """Whether the model gives frets per frame (``frame_frets``) for tablature."""
        return provides_frets(self.model)

    @property
    def sr(self) -> float:
        from dlmir.data.cache import frontend_sr

        return frontend_sr(self.frontend)

    @property
    def hop_length(self) -> int:
        return self.frontend.hop_length

    def log_probs(self, cqt: np.ndarray) -> np.ndarray:
        """Frame log-posteriors ``(n_classes, frames)`` float32 of a CQT magnitude ``(n_bins, frames)``."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(cqt, dtype=np.float32))[None]
            return self.model.frame_log_probs(x)[0].float().cpu().numpy()

    def segments(self, log_probs: np.ndarray, *, duration: float | None = None) -> tuple[np.ndarray, list[str]]:
        """Smoothed segments ``(intervals (n, 2) s, labels)`` of log-posteriors ``(n_classes, frames)``."""
        idx = smooth(log_probs, method=self.method, p_self=self.p_self, median_frames=self.median_frames)
        return frames_to_segments(
            [self.labels[i] for i in idx], sr=self.sr, hop_length=self.hop_length, duration=duration
        )

    def _result(self, out: np.ndarray, duration: float, tab: bool) -> Chords:
        n = len(self.labels)
        intervals, labels = self.segments(out[:n], duration=duration)
        shapes = None
        if tab and out.shape[0] > n:
            shapes = _segment_frets(out[n:], intervals, sr=self.sr, hop=self.hop_length)
        return Chords(intervals, labels, duration, shapes)

    def analyze(self, y: np.ndarray, sr: float, *, tab: bool = False) -> Chords:
        """:class:`Chords` of a mono signal ``y`` ``(samples,)`` at ``sr`` Hz (resampled to the front end's rate)."""
        from dlmir.frontends import extract

        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"expected one mono signal of shape (samples,), got {y.shape}")
        if float(sr) != self.sr:
            import librosa

            y = librosa.resample(y, orig_sr=float(sr), target_sr=self.sr)
        cqt = extract(self.frontend, y)
        head = _Head(self.model, frets=tab and self.has_frets)
        with torch.inference_mode():
            out = head(torch.from_numpy(np.ascontiguousarray(cqt, dtype=np.float32))[None])[0].cpu().numpy()
        return self._result(out, len(y) / self.sr, tab)

    def analyze_file(
        self, path: str | os.PathLike[str], *, block_seconds: float | None = 60.0, tab: bool = False
    ) -> Chords:
        """:class:`Chords` of an audio file, streamed in blocks of ``block_seconds`` (``None``: one block).

        The CQT and the model run block by block (:func:`dlmir.frontends.streaming.stream_frames`); the
        float32 posteriors of all blocks are joined for one Viterbi over the whole file. A model whose context
        the streaming module cannot derive (a recurrent model such as ``ChordNet``, or one without a
        ``streaming_context(hop_length) -> (left, right)`` method) gets the CQT streamed in blocks and joined
        (192 bins x 155,000 frames = 119 MB per hour, float32), then runs once on the whole of it.
        """
        from dlmir.frontends.streaming import AudioStream, stream_context, stream_frames

        path = Path(path)
        head = _Head(self.model, frets=tab and self.has_frets)
        try:
            stream_context(self.frontend, head=head)
            streamed_head: nn.Module | None = head
        except ParameterError:  # context unknown (e.g. a recurrent model): stream the CQT, run the model once
            streamed_head = None
        with AudioStream(path, sr=self.sr) as stream:
            duration = stream.n_samples / self.sr
        blocks = [
            b
            for _, b in stream_frames(self.frontend, path, sr=self.sr, block_seconds=block_seconds, head=streamed_head)
        ]
        out = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        del blocks
        if streamed_head is None:
            with torch.inference_mode():
                out = head(torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))[None])[0].cpu().numpy()
        return self._result(out, duration, tab)

    def recognize(self, y: np.ndarray, sr: float) -> tuple[np.ndarray, list[str]]:
        """Chord segments ``(intervals (n, 2) in seconds, Harte labels)`` of a mono signal at ``sr`` Hz."""
        res = self.analyze(y, sr)
        return res.intervals, res.labels

    def recognize_file(
        self, path: str | os.PathLike[str], *, block_seconds: float | None = 60.0
    ) -> tuple[np.ndarray, list[str]]:
        """Chord segments of an audio file, streamed in bounded memory (see :meth:`analyze_file`)."""
        res = self.analyze_file(path, block_seconds=block_seconds)
        return res.intervals, res.labels

    def __repr__(self) -> str:
        return f"ChordRecognizer({self.model!r}, method={self.method!r}, p_self={self.p_self})"


def recognize(
    y: np.ndarray,
    sr: float,
    *,
    model: nn.Module | str | os.PathLike[str] = "default",
    vocabulary: str = "full",
    method: str = "viterbi",
) -> tuple[np.ndarray, list[str]]:
    """Chords of a mono signal ``y`` ``(samples,)`` at ``sr`` Hz.

    Returns
    -------
    intervals : float64 ``(n, 2)``, start and end in seconds, contiguous from 0 to ``len(y) / sr``.
    labels : ``n`` Harte labels of ``vocabulary`` (``N`` = no chord).

    To analyse many signals, build one :class:`ChordRecognizer` (the model is loaded once).
    """
    return ChordRecognizer(model, vocabulary=vocabulary, method=method).recognize(y, sr)


def recognize_file(
    path: str | os.PathLike[str],
    *,
    model: nn.Module | str | os.PathLike[str] = "default",
    vocabulary: str = "full",
    method: str = "viterbi",
    block_seconds: float | None = 60.0,
) -> tuple[np.ndarray, list[str]]:
    """Chords of an audio file, streamed in blocks of ``block_seconds`` (memory bounded by the block, plus the
    float32 posteriors: 97 MB per hour for 157 classes). Same result as :func:`recognize` on the loaded signal."""
    rec = ChordRecognizer(model, vocabulary=vocabulary, method=method)
    return rec.recognize_file(path, block_seconds=block_seconds)
