"""Torch datasets over chord and instrument data: frames of features in, class indices and templates out.

:class:`ChordDataset` reads EITHER a dlmir dataset (``manifest.csv``, see :mod:`dlmir.data.manifest`) OR any
folder of audio files with ``.lab``/``.jams`` chord annotations matched by file stem, searched recursively
(Isophonics- or Billboard-style trees). :class:`InstrumentDataset` reads the instrument items of a dlmir
dataset. Features come from a :class:`~dlmir.frontends.base.FrontEnd` (default: the chord CQT,
:data:`dlmir.frontends.presets.CHORD_CQT`) and are cached on disk by :class:`~dlmir.data.cache.FeatureCache`.

This is the one chord pipeline: training (``dlmir train chroma`` / ``search chroma``, via :func:`build_split`),
evaluation (:func:`dlmir.evaluate.chroma_table`, via :func:`chord_tracks`) and the per-frame targets
(:mod:`dlmir.data.frames`) all read data through here.

Both datasets hold each track's features in memory (a few MB per track) and build their frame index once;
they pickle, so ``DataLoader(num_workers>0)`` works.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dlmir.chords.vocabulary import ChordVocabulary
from dlmir.data.cache import FeatureCache, frontend_sr
from dlmir.data.frames import context_patch, frame_targets, pad_context
from dlmir.errors import ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.presets import chord_frontend

__all__ = [
    "AUDIO_EXTENSIONS",
    "ChordDataset",
    "InstrumentDataset",
    "Track",
    "build_split",
    "chord_tracks",
    "find_pairs",
]

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
ANNOTATION_EXTENSIONS: tuple[str, ...] = (".lab", ".jams")
_EXAMPLES = 5


@dataclass(frozen=True)
class Track:
    """One annotated recording: ``id``, ``audio`` path and ``annotation`` path (``.lab`` or ``.jams``)."""

    id: str
    audio: Path
    annotation: Path


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n].lower() == b[-1 - n].lower():
        n += 1
    return n


def find_pairs(root: str | os.PathLike[str]) -> tuple[list[Track], list[Path], list[Path]]:
    """Pair audio files with chord annotations under ``root`` (recursively) by file stem.

    Audio: :data:`AUDIO_EXTENSIONS`; annotations: ``.lab`` (preferred) or ``.jams``. When several audio files
    share an annotation's stem, the one whose parent folders match most (from the innermost outwards) wins,
    so ``audio/Artist/Album/01.wav`` pairs with ``chordlab/Artist/Album/01.lab``. The ``features/`` folder
    is skipped.

    Returns
    -------
    tracks : paired tracks, sorted by id (the audio path relative to ``root`` without extension).
    unpaired_audio, unpaired_annotations : files left without a partner.
    """
    root = Path(root)
    audio: dict[str, list[Path]] = {}
    annotations: dict[tuple[str, tuple[str, ...]], Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d != "features"]
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            suffix = p.suffix.lower()
            if name.startswith("."):
                continue
            if suffix in AUDIO_EXTENSIONS:
                audio.setdefault(p.stem, []).append(p)
            elif suffix in ANNOTATION_EXTENSIONS:
                key = (p.stem, p.relative_to(root).parent.parts)
                if key not in annotations or suffix == ".lab":
                    annotations[key] = p
    tracks: list[Track] = []
    used: set[Path] = set()
    unpaired_ann: list[Path] = []
    for (stem, parts), ann in sorted(annotations.items()):
        candidates = [a for a in audio.get(stem, []) if a not in used]
        if not candidates:
            unpaired_ann.append(ann)
            continue
        best = max(candidates, key=lambda a: _common_suffix(a.relative_to(root).parent.parts, parts))
        used.add(best)
        tracks.append(Track(best.relative_to(root).with_suffix("").as_posix(), best, ann))
    unpaired_audio = sorted(a for paths in audio.values() for a in paths if a not in used)
    return sorted(tracks, key=lambda t: t.id), unpaired_audio, unpaired_ann


def _audio_duration(path: Path) -> float | None:
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # soundfile cannot read the header; the frame count decides instead
        return None


class _FeatureSource:
    """Features of tracks under one front end: from the on-disk cache or computed in memory."""

    def __init__(
        self,
        root: Path,
        frontend: FrontEnd,
        audio: dict[str, Path],
        cache: bool | str | os.PathLike[str],
        progress: bool,
    ) -> None:
        cache_dir = None if isinstance(cache, bool) else Path(cache)
        self.cache = FeatureCache(root, frontend, audio=audio, cache_dir=cache_dir)
        self.use_cache = cache is not False
        if self.use_cache:
            self.cache.ensure(progress=progress)

    def get(self, item_id: str) -> np.ndarray:
        return self.cache.get(item_id) if self.use_cache else self.cache.compute(item_id)


def chord_tracks(root: str | os.PathLike[str], split: str | None = None) -> list[Track]:
    """The annotated chord recordings of a dataset folder, in a stable order.

    ``root`` is a dlmir dataset (``manifest.csv``: its non-instrument rows with a ``lab`` or ``jams``, of
    ``split`` when given) or any folder of audio + ``.lab``/``.jams`` files paired by :func:`find_pairs`
    (``split`` must then be ``None``; unpaired files are named in one warning).
    """
    from dlmir.data.manifest import MANIFEST, read_manifest

    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: no such dataset folder")
    if (root / MANIFEST).is_file():
        rows = read_manifest(root, split=split)
        return [
            Track(r.id, root / r.audio, root / (r.lab or r.jams))
            for r in rows
            if r.source != "instrument" and (r.lab or r.jams)
        ]
    if split is not None:
        raise ParameterError(
            f"{root}: split={split!r} needs a dlmir dataset (manifest.csv); this folder has none, use split=None"
        )
    tracks, unpaired_audio, unpaired_ann = find_pairs(root)
    if unpaired_audio or unpaired_ann:
        names = [p.name for p in [*unpaired_audio, *unpaired_ann][:_EXAMPLES]]
        warnings.warn(
            f"{root}: {len(unpaired_audio)} audio file(s) without annotation and {len(unpaired_ann)} "
            f"annotation(s) without audio (matched by file stem) were skipped, e.g. {', '.join(names)}",
            stacklevel=3,
        )
    return tracks


class ChordDataset(Dataset):
    """Frames of chord audio as ``(patch, class_index, template)`` items.

    Parameters
    ----------
    root : a dlmir dataset folder (with ``manifest.csv``) or any folder of audio + ``.lab``/``.jams`` files.
    split : ``train``, ``valid`` or ``test`` (dlmir datasets only); ``None`` takes every item.
    frontend : the front end computing features ``(n_bins, frames)``; default: the chord CQT
        (:func:`dlmir.frontends.presets.chord_frontend`).
    context : frames on either side of the centre frame in each patch.
    vocabulary : ``"full"`` (157 classes) or ``"majmin"`` (25), or a :class:`ChordVocabulary`.
    transform : optional callable applied to each item tuple ``(patch, index, template)``, returning one.
    cache : ``True``: store features on disk under ``root/features/<feature_key>/`` and reuse them; a folder:
        store them under ``<folder>/<feature_key>/`` instead (for read-only datasets); ``False``: compute them in
        memory.
    progress : show a progress bar while computing features.
    frame_step : serve every ``frame_step``-th valid frame of each track (1: all).
    augment : audio-domain augmentations (``'noise'``, ``'codec'``, :mod:`dlmir.data.augment`): each adds one
        augmented copy of every track (audio -> augmentation -> front end; computed in memory, not cached),
        served right after the track's own frames, with the same targets.
    seed : seed of the augmentations (track ``t`` uses ``seed + t``).
    max_items : use at most this many tracks (the first ones).

    Items
    -----
    patch : float32 tensor ``(1, 2 * context + 1, n_bins)`` (frames x bins; zeros beyond the track's ends).
    index : int64 tensor ``()``, the class of the frame's label after :func:`dlmir.chords.reduce`.
    template : float32 tensor ``(12,)``, the binary pitch classes of that class (``N``: zeros).

    Frames take the label at their centre (:func:`dlmir.data.frames.frame_targets`; ``N`` outside the
    annotation). Labels not reducible to the vocabulary (``X``) are excluded from the frames and reported in
    one warning (count and first examples; also kept in :attr:`excluded`). Annotations running past the end of
    the audio are trimmed, with a warning.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str | None = None,
        frontend: FrontEnd | None = None,
        context: int = 0,
        vocabulary: str | ChordVocabulary = "full",
        transform: Callable[[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], Any] | None = None,
        cache: bool | str | os.PathLike[str] = True,
        progress: bool = False,
        frame_step: int = 1,
        augment: list[str] | tuple[str, ...] = (),
        seed: int = 0,
        max_items: int | None = None,
    ) -> None:
        from dlmir.annotations import read_annotation

        self.root = Path(root)
        if not self.root.is_dir():
            raise ParameterError(f"{root}: no such dataset folder")
        if context < 0:
            raise ParameterError(f"context must be >= 0 frames, got {context}")
        if frame_step < 1:
            raise ParameterError(f"frame_step must be >= 1 frame, got {frame_step}")
        if max_items is not None and max_items < 1:
            raise ParameterError(f"max_items must be >= 1 (or None: all), got {max_items}")
        from dlmir.data.augment import AUDIO_AUGMENTATIONS

        unknown = [a for a in augment if a not in AUDIO_AUGMENTATIONS]
        if unknown:
            raise ParameterError(f"unknown audio augmentation(s) {unknown}; choose from {AUDIO_AUGMENTATIONS}")
        self.context = int(context)
        self.frame_step = int(frame_step)
        self.augment = tuple(augment)
        self.vocabulary = vocabulary if isinstance(vocabulary, ChordVocabulary) else ChordVocabulary(vocabulary)
        self.transform = transform
        self.frontend = chord_frontend() if frontend is None else frontend
        self.split = split
        self.track_list = chord_tracks(self.root, split)[:max_items]
        if not self.track_list:
            raise ParameterError(f"{self.root}: no annotated audio found" + (f" in split {split!r}" if split else ""))
        source = _FeatureSource(self.root, self.frontend, {t.id: t.audio for t in self.track_list}, cache, progress)
        sr, hop = frontend_sr(self.frontend), self.frontend.hop_length
        self.ids: list[str] = []
        self._features: list[np.ndarray] = []  # per track, then per augmented copy: (frames + 2 * context, n_bins)
        self._originals: list[int] = []  # index in _features of each track's own (unaugmented) features
        self._annotations: list[tuple[np.ndarray, list[str]]] = []
        track_idx: list[np.ndarray] = []
        frame_idx: list[np.ndarray] = []
        classes: list[np.ndarray] = []
        excluded: Counter[str] = Counter()
        trimmed: list[str] = []
        for t, track in enumerate(self.track_list):
            intervals, labels = read_annotation(track.annotation)
            variants = [source.get(track.id)]
            if self.augment:
                variants += self._augmented(track, t, seed, sr)
            n_frames = variants[0].shape[-1]
            duration = _audio_duration(track.audio) or n_frames * hop / sr
            if len(intervals) and intervals[:, 1].max() > duration + hop / sr:
                trimmed.append(f"{track.id} ({intervals[:, 1].max():.3f} s > {duration:.3f} s)")
            cls, per_frame = frame_targets(
                intervals, labels, n_frames, sr=sr, hop_length=hop, vocabulary=self.vocabulary
            )
            excluded.update(lab for lab, c in zip(per_frame, cls, strict=True) if c < 0)
            keep = np.flatnonzero(cls >= 0)[:: self.frame_step]
            self.ids.append(track.id)
            self._annotations.append((intervals, labels))
            self._originals.append(len(self._features))
            for features in variants:
                if features.shape[-1] < n_frames:  # an augmented copy a few samples short: zeros after its end
                    features = np.pad(features, ((0, 0), (0, n_frames - features.shape[-1])))
                track_idx.append(np.full(keep.size, len(self._features), dtype=np.int32))
                self._features.append(pad_context(features[:, :n_frames], self.context))
                frame_idx.append(keep.astype(np.int32))
                classes.append(cls[keep])
        self._track_idx = np.concatenate(track_idx)
        self._frame_idx = np.concatenate(frame_idx)
        self.targets = np.concatenate(classes)
        self.excluded: dict[str, int] = dict(excluded)
        if excluded:
            examples = ", ".join(f"{lab!r} ({n} frames)" for lab, n in excluded.most_common(_EXAMPLES))
            warnings.warn(
                f"{self.root}: {sum(excluded.values())} frames with labels not reducible to the "
                f"{self.vocabulary.name!r} vocabulary were excluded; e.g. {examples}",
                stacklevel=2,
            )
        if trimmed:
            warnings.warn(
                f"{self.root}: {len(trimmed)} annotation(s) run past the end of the audio and were trimmed: "
                + ", ".join(trimmed[:_EXAMPLES]),
                stacklevel=2,
            )

    def _augmented(self, track: Track, t: int, seed: int, sr: float) -> list[np.ndarray]:
        """Features ``(n_bins, frames)`` of each audio-augmented copy of ``track`` (seeded by ``seed + t``)."""
        from dlmir.data.augment import augment_audio
        from dlmir.frontends import extract
        from dlmir.io import load

        y, _ = load(track.audio, sr=sr)
        return [
            extract(self.frontend, augment_audio(y, int(sr), [kind], seed=seed + t)).astype(np.float32, copy=False)
            for kind in self.augment
        ]

    @property
    def n_bins(self) -> int:
        """Feature bins per frame."""
        return int(self._features[0].shape[1])

    def __len__(self) -> int:
        return int(self._track_idx.size)

    def __getitem__(self, i: int) -> Any:
        t, f = int(self._track_idx[i]), int(self._frame_idx[i])
        patch = context_patch(self._features[t], f, self.context)
        index = int(self.targets[i])
        item = (
            patch,
            torch.tensor(index, dtype=torch.int64),
            torch.from_numpy(self.vocabulary.templates[index].astype(np.float32)),
        )
        return self.transform(item) if self.transform is not None else item

    def class_counts(self) -> np.ndarray:
        """Frames per class, shape ``(n_classes,)`` int64 (e.g. for class weights)."""
        return np.bincount(self.targets, minlength=len(self.vocabulary))

    def tracks(self) -> Iterator[tuple[str, np.ndarray, np.ndarray, list[str]]]:
        """Whole tracks for evaluation: ``(id, features (n_bins, frames) float32, intervals (n, 2) s, labels)``."""
        originals = [self._features[k] for k in self._originals]
        for item_id, padded, (intervals, labels) in zip(self.ids, originals, self._annotations, strict=True):
            n = padded.shape[0] - 2 * self.context
            yield item_id, padded[self.context : self.context + n].T.copy(), intervals, labels

    def __repr__(self) -> str:
        return (
            f"ChordDataset({str(self.root)!r}, split={self.split!r}, tracks={len(self.ids)}, frames={len(self)}, "
            f"vocabulary={self.vocabulary.name!r}, context={self.context})"
        )


def build_split(
    dataset: str | os.PathLike[str],
    split: str | None,
    *,
    frontend: FrontEnd | None = None,
    context: int = 0,
    frame_step: int = 2,
    augment: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    max_items: int | None = None,
    vocabulary: str | ChordVocabulary = "full",
    progress: bool = False,
) -> ChordDataset:
    """One split of a dataset as the :class:`ChordDataset` training and search use.

    The parameters are :class:`ChordDataset`'s (``frame_step`` defaults to 2 here). Features are cached on disk
    under ``DATASET/features/``; when the dataset folder is read-only they are kept in memory instead.
    """
    kw: dict[str, Any] = dict(
        split=split,
        frontend=frontend,
        context=context,
        vocabulary=vocabulary,
        progress=progress,
        frame_step=frame_step,
        augment=augment,
        seed=seed,
        max_items=max_items,
    )
    try:
        return ChordDataset(dataset, cache=True, **kw)
    except OSError:  # read-only dataset folder: keep the features in memory
        return ChordDataset(dataset, cache=False, **kw)


class InstrumentDataset(Dataset):
    """Instrument notes of a dlmir dataset as ``(patch, class_index)`` items.

    Parameters
    ----------
    root : a dlmir dataset folder whose manifest has ``instrument`` rows.
    split : ``train``, ``valid``, ``test`` or ``None`` (all).
    frontend : the front end (default: the chord CQT, :func:`dlmir.frontends.presets.chord_frontend`).
    frames : frames per patch, taken from the start of each note (its attack); zeros past the note's end.
    transform : optional callable applied to each ``(patch, index)`` item.
    cache, progress : as :class:`ChordDataset`.

    Attributes
    ----------
    classes : sorted instrument names of the whole manifest (all splits, so indices agree across splits).
    ids, pitches, dynamics : per item, from the manifest.

    Items
    -----
    patch : float32 tensor ``(1, frames, n_bins)``; index : int64 tensor ``()`` into :attr:`classes`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str | None = None,
        frontend: FrontEnd | None = None,
        frames: int = 43,
        transform: Callable[[tuple[torch.Tensor, torch.Tensor]], Any] | None = None,
        cache: bool | str | os.PathLike[str] = True,
        progress: bool = False,
    ) -> None:
        from dlmir.data.manifest import read_manifest

        self.root = Path(root)
        if frames < 1:
            raise ParameterError(f"frames must be >= 1, got {frames}")
        self.frames = int(frames)
        self.transform = transform
        self.frontend = chord_frontend() if frontend is None else frontend
        all_rows = [r for r in read_manifest(self.root) if r.source == "instrument"]
        self.classes: list[str] = sorted({r.instrument for r in all_rows})
        rows = [r for r in all_rows if split is None or r.split == split]
        if not rows:
            raise ParameterError(f"{self.root}: no instrument items" + (f" in split {split!r}" if split else ""))
        source = _FeatureSource(self.root, self.frontend, {r.id: self.root / r.audio for r in rows}, cache, progress)
        self.ids = [r.id for r in rows]
        self.pitches = [r.pitch for r in rows]
        self.dynamics = [r.dynamic for r in rows]
        self.targets = np.array([self.classes.index(r.instrument) for r in rows], dtype=np.int64)
        patches = []
        for r in rows:
            feats = source.get(r.id)[:, : self.frames]
            patch = np.zeros((self.frames, feats.shape[0]), dtype=np.float32)
            patch[: feats.shape[1]] = feats.T
            patches.append(patch)
        self._patches = np.stack(patches)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Any:
        item = (torch.from_numpy(self._patches[i].copy()).unsqueeze(0), torch.tensor(int(self.targets[i])))
        return self.transform(item) if self.transform is not None else item

    def __repr__(self) -> str:
        return f"InstrumentDataset({str(self.root)!r}, items={len(self)}, classes={self.classes})"
