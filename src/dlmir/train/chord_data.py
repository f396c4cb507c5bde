"""Chord training data from a dataset folder (``manifest.csv``, ``audio/``, ``labels/``) as tensors.

This is the training/evaluation adapter of the learned-chroma pipeline: it reads the agreed dataset
layout, computes the default chord CQT (192 bins, 24 per octave from C1, hop 512 at 22050 Hz) of
each item, optionally after audio-domain augmentations (noise, MP3 codec; see
:mod:`dlmir.data.augment`), and returns frames as ``(patch, class_index, template)`` items:
patches ``(1, 2 * context + 1, n_bins)`` raw CQT magnitude, ``class_index`` -1 (unused by the chroma
loss), ``template`` the ``(12,)`` binary pitch classes of the reference chord from
:func:`mir_eval.chord.encode` (N: zeros). Frames labelled X (unknown) are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from dlmir.annotations import read_lab
from dlmir.chords import template
from dlmir.data.datasets import CHORD_CQT
from dlmir.data.manifest import ManifestRow
from dlmir.data.manifest import read_manifest as _read_manifest
from dlmir.errors import AnnotationError, ParameterError


def read_manifest(dataset: str | os.PathLike[str], split: str | None = None) -> list[ManifestRow]:
    """Rows of ``DATASET/manifest.csv`` (all, or those of ``split``) that have a chord ``lab`` file."""
    return [r for r in _read_manifest(dataset, split=split) if r["lab"]]


def chord_frontend(**overrides: Any):
    """The default chord CQT front end (:class:`dlmir.frontends.CQT`, magnitude)."""
    from dlmir.frontends.cqt import CQT

    return CQT(**{**CHORD_CQT, **overrides})


def item_audio(dataset: str | os.PathLike[str], row: ManifestRow, *, sr: int = 22050) -> np.ndarray:
    """The mono audio ``(samples,)`` of a manifest row."""
    from dlmir.io import load

    y, _ = load(Path(dataset) / row["audio"], sr=sr)
    return y


def cqt_of(y: np.ndarray, frontend=None) -> np.ndarray:
    """CQT magnitude ``(n_bins, frames)`` float32 of audio ``(samples,)``."""
    fe = frontend if frontend is not None else chord_frontend()
    with torch.inference_mode():
        return fe(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))[0].numpy()


def item_labels(dataset: str | os.PathLike[str], row: ManifestRow) -> tuple[np.ndarray, list[str]]:
    """Reference chord intervals ``(n, 2)`` (seconds) and Harte labels of a manifest row."""
    path = Path(dataset) / row["lab"]
    if not path.exists():
        raise AnnotationError(f"{path}: chord annotation listed in manifest.csv is missing")
    return read_lab(path)


def label_template(label: str) -> np.ndarray | None:
    """``(12,)`` binary absolute pitch classes of a Harte label (N: zeros; X or unparseable: None)."""
    try:
        return template(label)
    except AnnotationError:
        return None


def frame_templates(
    intervals: np.ndarray, labels: list[str], n_frames: int, *, sr: float, hop_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Templates ``(n_frames, 12)`` of the chord sounding at each frame centre (``i * hop_length / sr``
    seconds; N before/after the annotation) and a ``(n_frames,)`` bool mask (False for X frames)."""
    times = np.arange(n_frames) * hop_length / float(sr)
    templates = np.zeros((n_frames, 12), dtype=np.float32)
    valid = np.ones(n_frames, dtype=bool)
    cache: dict[str, np.ndarray | None] = {}
    for (start, end), label in zip(intervals, labels, strict=True):
        if label not in cache:
            cache[label] = label_template(label)
        sel = (times >= start) & (times < end)
        t = cache[label]
        if t is None:
            valid[sel] = False
        else:
            templates[sel] = t
    return templates, valid


def patches(cqt: np.ndarray, context: int, frames: np.ndarray) -> np.ndarray:
    """``(len(frames), 1, 2c+1, n_bins)`` patches of ``cqt`` ``(n_bins, n_frames)`` centred on ``frames``
    (zero padding past the edges)."""
    padded = np.pad(cqt, ((0, 0), (context, context)))
    idx = frames[:, None] + np.arange(2 * context + 1)[None, :]
    return padded.T[idx][:, None]  # (n, 2c+1, n_bins) -> (n, 1, 2c+1, n_bins)


def _from_chord_dataset(
    dataset: str | os.PathLike[str], split: str, *, context: int, frame_step: int, progress: bool
) -> TensorDataset | None:
    """Every ``frame_step``-th frame of :class:`dlmir.data.datasets.ChordDataset` (157-class labels, on-disk
    feature cache under ``DATASET/features/``) as tensors; None when that loader is not installed."""
    try:
        from dlmir.data.datasets import ChordDataset
    except ImportError:
        return None
    try:
        ds = ChordDataset(dataset, split=split, context=context, vocabulary="full", cache=True, progress=progress)
    except OSError:  # read-only dataset folder: keep the features in memory
        ds = ChordDataset(dataset, split=split, context=context, vocabulary="full", cache=False, progress=progress)
    items = [ds[i] for i in range(0, len(ds), frame_step)]
    return TensorDataset(*(torch.stack(parts) for parts in zip(*items, strict=True)))


def build_split(
    dataset: str | os.PathLike[str],
    split: str,
    *,
    context: int = 0,
    frame_step: int = 2,
    augment: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    max_items: int | None = None,
    progress: bool = False,
) -> TensorDataset:
    """Frames of one split as a :class:`~torch.utils.data.TensorDataset` of ``(patch, class_index, template)``.

    Parameters
    ----------
    dataset : dataset folder. split : ``'train'``, ``'valid'`` or ``'test'``.
    context : frames of context on each side. frame_step : keep every ``frame_step``-th frame.
    augment : audio-domain augmentations (``'noise'``, ``'codec'``): each adds one augmented copy of
        every item's frames (audio -> augmentation -> CQT), cached for the whole run.
    max_items : use at most this many items (the first ones of the manifest).

    Without audio augmentation and ``max_items``, frames come from :class:`dlmir.data.datasets.ChordDataset`
    (labels reduced to the 157-class vocabulary, class indices set, features cached on disk); otherwise
    they are computed here (class index -1, templates of the raw labels via :func:`mir_eval.chord.encode`).
    """
    if not augment and max_items is None:
        from_loader = _from_chord_dataset(dataset, split, context=context, frame_step=frame_step, progress=progress)
        if from_loader is not None:
            return from_loader
    from dlmir.data.augment import augment_audio

    rows = read_manifest(dataset, split)[:max_items]
    if not rows:
        raise ParameterError(f"{dataset}: no labelled items in split {split!r} of manifest.csv")
    fe = chord_frontend()
    all_patches, all_templates = [], []
    from tqdm import tqdm

    for i, row in enumerate(tqdm(rows, desc=f"CQT {split}", unit="item", disable=not progress)):
        y = item_audio(dataset, row)
        intervals, labels = item_labels(dataset, row)
        variants = [y] + [augment_audio(y, 22050, [kind], seed=seed + i) for kind in augment]
        for v in variants:
            cqt = cqt_of(v, fe)
            templ, valid = frame_templates(
                intervals, labels, cqt.shape[1], sr=CHORD_CQT["sr"], hop_length=CHORD_CQT["hop_length"]
            )
            keep = np.flatnonzero(valid)[::frame_step]
            all_patches.append(patches(cqt, context, keep).astype(np.float32))
            all_templates.append(templ[keep])
    x = torch.from_numpy(np.concatenate(all_patches))
    t = torch.from_numpy(np.concatenate(all_templates))
    return TensorDataset(x, torch.full((len(x),), -1, dtype=torch.long), t)


__all__ = [
    "CHORD_CQT",
    "build_split",
    "chord_frontend",
    "cqt_of",
    "frame_templates",
    "item_audio",
    "item_labels",
    "label_template",
    "patches",
    "read_manifest",
]
