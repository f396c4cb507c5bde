"""mir_eval wrappers, one function per task; score names are mir_eval's own.

Chord scores are duration-weighted (mir_eval's weighted accuracy per file); across files,
:func:`chords_many` weights each file by its annotated duration (MIREX's weighted chord symbol recall).
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from dlmir.errors import AnnotationError, ParameterError

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


def chroma_of(variant: object, cqt: np.ndarray) -> np.ndarray:
    """Chroma ``(12, frames)`` of a CQT magnitude ``(n_bins, frames)`` (default chord CQT: 192 bins, 24/octave).

    ``variant`` is a model (``(batch, n_bins, frames) -> (batch, 12, frames)``), ``'designed'``
    (the octave-equivalence matrix applied to the CQT magnitude: :func:`librosa.feature.chroma_cqt`
    up to its per-frame normalisation, which cosine matching ignores) or ``'designed-log'`` (the same
    on ``log(1 + 100 CQT)``).
    """
    import torch

    from dlmir.filters import octave_matrix

    if isinstance(variant, str):
        if variant not in DESIGNED:
            raise ParameterError(f"unknown chroma variant {variant!r}; use a model or one of {DESIGNED}")
        m = octave_matrix(cqt.shape[0], 24)
        return m @ (np.log1p(100.0 * cqt) if variant == "designed-log" else cqt)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(cqt, dtype=np.float32))[None]
        return variant(x)[0].float().numpy()  # type: ignore[operator]


def chroma_table(
    dataset: str | os.PathLike[str],
    variants: dict[str, object],
    *,
    split: str = "test",
    vocabulary: str = "majmin",
    method: str = "viterbi",
    metrics: tuple[str, ...] = CHORD_METRICS,
    max_items: int | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """Chord recognition scores of several chroma variants on one split of a dataset folder.

    Every variant's chroma goes through the same decoder (:func:`dlmir.chords.decode.decode`: cosine
    template matching against the ``vocabulary`` + ``method`` smoothing) and is scored against the
    reference ``.lab`` with :func:`chords_many` (duration-weighted over files).

    A variant given as :data:`REFERENCE` is the annotation itself: each frame's chroma is the binary
    template of the reference chord (N: zeros). It scores what a perfect chroma would get through this
    decoder -- below 100 because some chords share their pitch classes (``C:maj6`` = ``A:min7``,
    ``C:min6`` = ``A:hdim7``, ``C:sus2`` = ``G:sus4``), which no chroma can tell apart.

    Returns one row per variant: ``{"variant": name, "items": n, <metric>: score in [0, 1], ...}``.
    """
    from tqdm import tqdm

    from dlmir.chords.decode import decode, vocabulary_templates
    from dlmir.train.chord_data import (
        CHORD_CQT,
        chord_frontend,
        cqt_of,
        frame_templates,
        item_audio,
        item_labels,
        read_manifest,
    )

    rows = read_manifest(dataset, split)[:max_items]
    if not rows:
        raise ParameterError(f"{dataset}: no labelled items in split {split!r}")
    templates, labels = vocabulary_templates(vocabulary)
    fe = chord_frontend()
    pairs: dict[str, list] = {name: [] for name in variants}
    for row in tqdm(rows, desc=f"evaluate {split}", unit="item", disable=not progress):
        cqt = cqt_of(item_audio(dataset, row), fe)
        ref_i, ref_l = item_labels(dataset, row)
        for name, variant in variants.items():
            if isinstance(variant, str) and variant == REFERENCE:
                frames, _ = frame_templates(
                    ref_i, ref_l, cqt.shape[1], sr=CHORD_CQT["sr"], hop_length=CHORD_CQT["hop_length"]
                )
                chroma = frames.T.astype(np.float64)
            else:
                chroma = chroma_of(variant, cqt)
            est_i, est_l = decode(
                chroma,
                sr=CHORD_CQT["sr"],
                hop_length=CHORD_CQT["hop_length"],
                templates=templates,
                labels=labels,
                method=method,
            )
            pairs[name].append((ref_i, ref_l, est_i, est_l))
    table = []
    for name in variants:
        scores = chords_many(pairs[name], metrics=metrics)
        table.append({"variant": name, "items": len(rows), **scores})
    return table


__all__ = [
    "CHORD_METRICS",
    "DESIGNED",
    "REFERENCE",
    "chroma_of",
    "chroma_table",
    "beats",
    "chord_files",
    "chords",
    "chords_many",
    "markdown_table",
    "onsets",
    "tempo",
]
