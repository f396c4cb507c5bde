"""mir_eval wrappers, one function per task; score names are mir_eval's own.

Chord scores are duration-weighted (mir_eval's weighted accuracy per file); across files,
:func:`chords_many` weights each file by its annotated duration (MIREX's weighted chord symbol recall).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from dlmir.errors import AnnotationError, ParameterError

if TYPE_CHECKING:
    from dlmir.frontends.base import FrontEnd

CHORD_METRICS = ("root", "majmin", "triads", "sevenths", "tetrads")


def chords(
    ref_intervals: np.ndarray,
    ref_labels: list[str],
    est_intervals: np.ndarray,
    est_labels: list[str],
) -> OrderedDict[str, float]:
    """All of :func:`mir_eval.chord.evaluate`'s scores (root, majmin, triads, sevenths, tetrads, *_inv,
    thirds, mirex, seg, overseg, underseg) for one file; intervals ``(n, 2)`` in seconds, Harte labels."""
    import mir_eval

    try:
        return mir_eval.chord.evaluate(ref_intervals, list(ref_labels), est_intervals, list(est_labels))
    except ValueError as exc:  # mir_eval raises ValueError / InvalidChordException for bad labels/intervals
        raise AnnotationError(f"chord evaluation failed: {exc}") from exc


def chord_files(reference: str | os.PathLike[str], estimate: str | os.PathLike[str]) -> OrderedDict[str, float]:
    """:func:`chords` for two ``.lab`` files (``start end label`` lines, seconds)."""
    from dlmir.annotations import read_lab

    ref_i, ref_l = read_lab(reference)
    est_i, est_l = read_lab(estimate)
    return chords(ref_i, ref_l, est_i, est_l)


def chords_many(
    pairs: list[tuple[np.ndarray, list[str], np.ndarray, list[str]]],
    *,
    metrics: tuple[str, ...] = CHORD_METRICS,
) -> OrderedDict[str, float]:
    """Duration-weighted mean over files of each chord ``metric`` (each file weighted by its reference
    duration, as MIREX's WCSR). ``pairs`` holds ``(ref_intervals, ref_labels, est_intervals, est_labels)``."""
    if not pairs:
        raise ParameterError("no files to evaluate")
    totals: OrderedDict[str, float] = OrderedDict((m, 0.0) for m in metrics)
    weight = 0.0
    for ref_i, ref_l, est_i, est_l in pairs:
        scores = chords(ref_i, ref_l, est_i, est_l)
        dur = float(np.sum(ref_i[:, 1] - ref_i[:, 0]))
        for m in metrics:
            totals[m] += scores[m] * dur
        weight += dur
    return OrderedDict((m, v / weight) for m, v in totals.items())


def onsets(reference: np.ndarray, estimate: np.ndarray, *, window: float = 0.05) -> OrderedDict[str, float]:
    """:func:`mir_eval.onset.evaluate` (F-measure, Precision, Recall) with a ``window`` in seconds."""
    import mir_eval

    return mir_eval.onset.evaluate(np.asarray(reference), np.asarray(estimate), window=window)


def beats(reference: np.ndarray, estimate: np.ndarray) -> OrderedDict[str, float]:
    """:func:`mir_eval.beat.evaluate` (F-measure, Cemgil, P-score, CMLt, AMLt, ...); times in seconds."""
    import mir_eval

    return mir_eval.beat.evaluate(np.asarray(reference), np.asarray(estimate))


def tempo(reference_tempi: np.ndarray, reference_weight: float, estimated_tempi: np.ndarray) -> OrderedDict[str, float]:
    """:func:`mir_eval.tempo.evaluate` (P-score, One-correct, Both-correct); two tempi each, in BPM."""
    import mir_eval

    return mir_eval.tempo.evaluate(np.asarray(reference_tempi), float(reference_weight), np.asarray(estimated_tempi))


def markdown_table(rows: list[dict[str, object]], *, floatfmt: str = "{:.1f}", scale: float = 100.0) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys); floats shown as ``floatfmt`` of ``value * scale``."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "| " + " | ".join("---" for _ in keys) + " |"]
    for row in rows:
        cells = [floatfmt.format(v * scale) if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


DESIGNED = ("designed", "designed-log")
REFERENCE = "reference"
"""Variant name for the reference chroma: each frame's annotated chord template (the decoder's ceiling)."""


def chroma_of(variant: object, cqt: np.ndarray, *, frontend: FrontEnd | None = None) -> np.ndarray:
    """Chroma ``(12, frames)`` of a CQT magnitude ``(n_bins, frames)`` computed by ``frontend``.

    ``variant`` is a model (``(batch, n_bins, frames) -> (batch, 12, frames)``; its input must come from its
    own front end, ``model.frontend``), ``'designed'`` (the octave-equivalence matrix applied to the CQT
    magnitude: :func:`librosa.feature.chroma_cqt` up to its per-frame normalisation, which cosine matching
    ignores) or ``'designed-log'`` (the same on ``log(1 + 100 CQT)``). ``frontend`` is the CQT front end that
    computed ``cqt`` (its ``bins_per_octave`` and ``fmin`` place the designed matrix); default: the chord CQT
    (:data:`dlmir.frontends.presets.CHORD_CQT`).
    """
    import torch

    from dlmir.filters import octave_matrix

    if isinstance(variant, str):
        if variant not in DESIGNED:
            raise ParameterError(f"unknown chroma variant {variant!r}; use a model or one of {DESIGNED}")
        from dlmir.frontends.presets import CHORD_CQT

        config = getattr(frontend, "config", None) or CHORD_CQT
        if "bins_per_octave" not in config:
            raise ParameterError(f"designed chroma needs a CQT front end, got {config.get('frontend')!r}")
        m = octave_matrix(cqt.shape[0], int(config["bins_per_octave"]), fmin=config.get("fmin"))
        return m @ (np.log1p(100.0 * cqt) if variant == "designed-log" else cqt)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(cqt, dtype=np.float32))[None]
        return variant(x)[0].float().numpy()  # type: ignore[operator]


def chroma_of_audio(
    variant: object, y: np.ndarray, *, sr: float, frontend: FrontEnd | None = None
) -> tuple[np.ndarray, FrontEnd]:
    """Chroma ``(12, frames)`` of audio ``y`` ``(samples,)`` at ``sr`` Hz, through the variant's own front end.

    A model reads its ``model.frontend`` (:func:`dlmir.models.load` rebuilds it from ``config.json``); a
    designed variant reads ``frontend`` (default: the chord CQT). The audio is resampled to the front end's
    rate when it differs. Returns the chroma and that front end (its ``sr`` and ``hop_length`` time the
    frames, :mod:`dlmir.frames`).
    """
    from dlmir.data.cache import frontend_sr
    from dlmir.frontends import extract
    from dlmir.models.io import model_frontend

    fe = model_frontend(variant, frontend)
    target = frontend_sr(fe)
    if float(sr) != target:
        import librosa

        y = librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=float(sr), target_sr=target)
    return chroma_of(variant, extract(fe, y), frontend=fe), fe


def chroma_table(
    dataset: str | os.PathLike[str],
    variants: dict[str, object],
    *,
    frontend: FrontEnd | None = None,
    split: str | None = "test",
    vocabulary: str = "majmin",
    method: str = "viterbi",
    metrics: tuple[str, ...] = CHORD_METRICS,
    max_items: int | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """Chord recognition scores of several chroma variants on one split of a dataset folder.

    Each variant computes its features with its own front end: a model with the one it was trained on
    (``model.frontend``, rebuilt from its ``config.json`` by :func:`dlmir.models.load`), the designed and
    reference variants with ``frontend`` (default: the chord CQT); the decoder reads each variant's frames at
    its front end's ``sr`` and ``hop_length``. Items are :func:`dlmir.data.datasets.chord_tracks` of
    ``dataset`` (a dlmir dataset's ``split``, or any folder of audio + ``.lab``/``.jams`` with ``split=None``).

    Every variant's chroma goes through the same decoder (:func:`dlmir.chords.decode.decode`: cosine
    template matching against the ``vocabulary`` + ``method`` smoothing) and is scored against the
    reference ``.lab`` with :func:`chords_many` (duration-weighted over files).

    A variant given as :data:`REFERENCE` is the annotation itself: each frame's chroma is the binary
    template of the reference chord (N: zeros). It scores what a perfect chroma would get through this
    decoder -- below 100 because some chords share their pitch classes (``C:maj6`` = ``A:min7``,
    ``C:min6`` = ``A:hdim7``, ``C:sus2`` = ``G:sus4``), which no chroma can tell apart.

    Returns one row per variant: ``{"variant": name, "items": n, <metric>: score in [0, 1], ...}``.
    """
    from dlmir.chords.decode import decode, vocabulary_templates
    from dlmir.data.cache import frontend_sr
    from dlmir.data.frames import frame_templates
    from dlmir.frontends.presets import chord_frontend
    from dlmir.models.io import model_frontend

    templates, labels = vocabulary_templates(vocabulary)
    base = chord_frontend() if frontend is None else frontend
    fronts = {name: model_frontend(variant, base) for name, variant in variants.items()}  # type: ignore[arg-type]

    def estimate(name: str, cqt: np.ndarray, fe: FrontEnd, ref_i: np.ndarray, ref_l: list[str], duration: float):
        sr, hop = frontend_sr(fe), fe.hop_length
        variant = variants[name]
        if isinstance(variant, str) and variant == REFERENCE:
            frames, _ = frame_templates(ref_i, ref_l, cqt.shape[1], sr=sr, hop_length=hop)
            chroma = frames.T.astype(np.float64)
        else:
            chroma = chroma_of(variant, cqt, frontend=fe)
        return decode(
            chroma, sr=sr, hop_length=hop, templates=templates, labels=labels, method=method, duration=duration
        )

    return _score_tracks(
        dataset, fronts, estimate, split=split, metrics=metrics, max_items=max_items, progress=progress, key="variant"
    )


def _score_tracks(
    dataset: str | os.PathLike[str],
    fronts: dict[str, FrontEnd],
    estimate,
    *,
    split: str | None,
    metrics: tuple[str, ...],
    max_items: int | None,
    progress: bool,
    key: str,
) -> list[dict[str, object]]:
    """The per-track loop shared by :func:`chroma_table` and :func:`chord_table`.

    For each labelled track of ``dataset`` (:func:`dlmir.data.datasets.chord_tracks`): read the reference, load the
    audio once per sampling rate and compute each distinct front end's features once, then call
    ``estimate(name, features (n_bins, frames), front end, ref_intervals, ref_labels, duration_s)`` ->
    ``(est_intervals, est_labels)`` for each entry of ``fronts``. Returns one row per entry:
    ``{key: name, "items": n, <metric>: duration-weighted score}`` (:func:`chords_many`).
    """
    from tqdm import tqdm

    from dlmir.annotations import read_annotation
    from dlmir.data.cache import frontend_sr
    from dlmir.data.datasets import chord_tracks
    from dlmir.frontends import extract
    from dlmir.io import load

    tracks = chord_tracks(dataset, split)[:max_items]
    if not tracks:
        raise ParameterError(f"{dataset}: no labelled items" + (f" in split {split!r}" if split else ""))
    pairs: dict[str, list] = {name: [] for name in fronts}
    for track in tqdm(tracks, desc=f"evaluate {split or dataset}", unit="item", disable=not progress):
        ref_i, ref_l = read_annotation(track.annotation)
        audio: dict[float, np.ndarray] = {}  # per sampling rate
        features: dict[str, np.ndarray] = {}  # per front end (cache key)
        for name, fe in fronts.items():
            sr = frontend_sr(fe)
            if sr not in audio:
                audio[sr] = load(track.audio, sr=sr)[0]
            if fe.cache_key() not in features:
                features[fe.cache_key()] = extract(fe, audio[sr])
            est_i, est_l = estimate(name, features[fe.cache_key()], fe, ref_i, ref_l, len(audio[sr]) / sr)
            pairs[name].append((ref_i, ref_l, est_i, est_l))
    return [{key: name, "items": len(tracks), **chords_many(pairs[name], metrics=metrics)} for name in fronts]


CHORD_TABLE_METRICS = ("root", "majmin", "mirex", "thirds", "triads", "sevenths", "tetrads")
"""The scores :func:`chord_table` reports (mir_eval's names)."""


def chord_table(
    dataset: str | os.PathLike[str],
    models: dict[str, object],
    *,
    split: str | None = "test",
    vocabulary: str = "full",
    method: str = "viterbi",
    metrics: tuple[str, ...] = CHORD_TABLE_METRICS,
    max_items: int | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """Chord recognition scores of several chord recognisers on the same audio, in one run.

    ``models`` maps a row name to anything :class:`dlmir.chords.recognition.ChordRecognizer` takes: ``'designed'``
    (designed chroma + templates), ``'default'`` (the shipped learned chroma + templates), a saved model folder, or
    a loaded chroma or chord model (``frame_log_probs``); or to a built ``ChordRecognizer``. Every entry reads its
    own front end's features and goes through the same decoder (frame posteriors -> ``method`` smoothing over the
    ``vocabulary``). Items are :func:`dlmir.data.datasets.chord_tracks` of ``dataset``: a dlmir dataset's
    ``split``, or any folder of audio + ``.lab``/``.jams`` of the same stem with ``split=None``.

    Returns one row per model: ``{"model": name, "items": n, <metric>: score in [0, 1], ...}``, each score
    duration-weighted over files (:func:`chords_many`; ``metrics`` are :func:`mir_eval.chord.evaluate`'s names).
    """
    from dlmir.chords.recognition import ChordRecognizer

    recs = {
        name: m if isinstance(m, ChordRecognizer) else ChordRecognizer(m, vocabulary=vocabulary, method=method)
        for name, m in models.items()
    }
    if not recs:
        raise ParameterError("chord_table needs at least one model")

    def estimate(name: str, cqt: np.ndarray, fe: FrontEnd, ref_i: np.ndarray, ref_l: list[str], duration: float):
        rec = recs[name]
        return rec.segments(rec.log_probs(cqt), duration=duration)

    fronts = {name: rec.frontend for name, rec in recs.items()}
    return _score_tracks(
        dataset, fronts, estimate, split=split, metrics=metrics, max_items=max_items, progress=progress, key="model"
    )


__all__ = [
    "CHORD_METRICS",
    "CHORD_TABLE_METRICS",
    "DESIGNED",
    "REFERENCE",
    "chroma_of",
    "chroma_of_audio",
    "chroma_table",
    "beats",
    "chord_files",
    "chord_table",
    "chords",
    "chords_many",
    "markdown_table",
    "onsets",
    "tempo",
]
