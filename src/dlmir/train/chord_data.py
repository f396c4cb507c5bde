"""Chord training data from a dataset folder (``manifest.csv``, ``audio/``, ``labels/``) as tensors.

This is the training/evaluation adapter of the learned-chroma pipeline: it reads the agreed dataset
layout, computes the default chord CQT (192 bins, 24 per octave from C1, hop 512 at 22050 Hz) of
each item, optionally after audio-domain augmentations (noise, MP3 codec; see
:mod:`dlmir.data.augment`), and returns frames as ``(patch, class_index, template)`` items, cut from
the stored per-item CQT when an item is read (memory grows with the frames, not with the context):
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
from torch.utils.data import Dataset, Subset

from dlmir.annotations import read_lab
from dlmir.chords import template
from dlmir.data.datasets import CHORD_CQT, context_patch, pad_context
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


class FrameWindows(Dataset):
    """Frames of several CQTs as ``(patch, class_index, template)`` items, each patch cut on access.

    Parameters
    ----------
    cqts : per item, CQT magnitude ``(n_bins, frames)``.
    frames : per item, the centre frames ``(k,)`` to serve.
    templates : per item, ``(k, 12)`` binary pitch classes of those frames (N: zeros).
    context : frames on either side of the centre (zeros past the item's ends).

    Items are ``(patch (1, 2 * context + 1, n_bins) float32, class_index -1 int64, template (12,) float32)``.
    """

    def __init__(
        self, cqts: list[np.ndarray], frames: list[np.ndarray], templates: list[np.ndarray], *, context: int
    ) -> None:
        if not (len(cqts) == len(frames) == len(templates)):
            raise ParameterError(f"{len(cqts)} CQTs, {len(frames)} frame lists and {len(templates)} template lists")
        self.context = int(context)
        self._padded = [pad_context(c, self.context) for c in cqts]
        self._item = torch.from_numpy(
            np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)]).astype(np.int64)
        )
        self._frame = torch.from_numpy(np.concatenate(frames).astype(np.int64))
        self._templates = torch.from_numpy(np.concatenate(templates).astype(np.float32).reshape(-1, 12))

    def __len__(self) -> int:
        return int(self._frame.numel())

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        patch = context_patch(self._padded[int(self._item[i])], int(self._frame[i]), self.context)
        return patch, torch.tensor(-1, dtype=torch.int64), self._templates[i]


def _from_chord_dataset(
    dataset: str | os.PathLike[str], split: str, *, context: int, frame_step: int, progress: bool
) -> Dataset | None:
    """Every ``frame_step``-th frame of :class:`dlmir.data.datasets.ChordDataset` (157-class labels, on-disk
    feature cache under ``DATASET/features/``, patches cut on access); None when that loader is not installed."""
    try:
        from dlmir.data.datasets import ChordDataset
    except ImportError:
        return None
    try:
        ds = ChordDataset(dataset, split=split, context=context, vocabulary="full", cache=True, progress=progress)
    except OSError:  # read-only dataset folder: keep the features in memory
        ds = ChordDataset(dataset, split=split, context=context, vocabulary="full", cache=False, progress=progress)
    return Subset(ds, range(0, len(ds), frame_step))


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
) -> Dataset:
    """Frames of one split as a dataset of ``(patch, class_index, template)`` items.

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
    cqts, frames, templates = [], [], []
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
            cqts.append(cqt)
            frames.append(keep)
            templates.append(templ[keep])
    return FrameWindows(cqts, frames, templates, context=context)


__all__ = [
    "CHORD_CQT",
    "FrameWindows",
    "build_split",
    "chord_frontend",
    "cqt_of",
    "frame_templates",
    "item_audio",
    "item_labels",
    "label_template",
    "read_manifest",
]
