"""Whole chord tracks cut into fixed-length excerpts for sequence models (training and validation).

:class:`Excerpts` (a map-style ``Dataset``) holds per track ``features`` ``(n_bins, n_frames)`` and per-frame
``classes`` ``(n_frames,)`` and yields ``(features, classes)``: float32 ``(n_bins, frames)`` and int64
``(frames,)``, the vocabulary class of each frame, ``-1`` for frames to ignore (labels reducible only to X, and
padding past a track's end, where the features are zeros). :meth:`Excerpts.from_folder` reads the tracks of a
dlmir dataset (or any folder of audio + ``.lab``/``.jams``) with the features cached on disk exactly as
:class:`dlmir.data.datasets.ChordDataset` caches them (same folder, shared with it). A ``DataLoader`` stacks the
items into ``(batch, n_bins, frames)`` and ``(batch, frames)``; use ``ignore_index=-1`` in the loss.
:class:`dlmir.data.render_stream.RenderStream` yields the same items from freshly rendered audio.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from dlmir.chords.vocabulary import ChordVocabulary
from dlmir.data.cache import frontend_sr
from dlmir.errors import ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.presets import chord_frontend

__all__ = ["DEFAULT_EXCERPT_SECONDS", "Excerpts", "excerpt_frames_for"]

DEFAULT_EXCERPT_SECONDS = 12.0


def excerpt_frames_for(seconds: float, frontend: FrontEnd | None = None) -> int:
    """Frames of ``frontend`` (default: the chord CQT, 22050 Hz, hop 512) in ``seconds`` of audio (rounded)."""
    fe = chord_frontend() if frontend is None else frontend
    return max(1, round(seconds * frontend_sr(fe) / fe.hop_length))


def _excerpt(features: np.ndarray, classes: np.ndarray, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``features[:, start:start + length]`` and ``classes[start:start + length]``, zero / -1 padded to ``length``."""
    x = np.zeros((features.shape[0], length), dtype=np.float32)
    c = np.full(length, -1, dtype=np.int64)
    part = features[:, start : start + length]
    x[:, : part.shape[1]] = part
    c[: part.shape[1]] = classes[start : start + length]
    return torch.from_numpy(x), torch.from_numpy(c)


class Excerpts(Dataset):
    """Fixed-length excerpts ``(features (n_bins, frames) float32, classes (frames,) int64)`` of whole tracks.

    Parameters
    ----------
    tracks : per track, ``(features (n_bins, n_frames), classes (n_frames,))`` (-1: frames to ignore).
    frames : frames per excerpt (:func:`excerpt_frames_for` of the excerpt's seconds).
    jitter : shift each track's grid of excerpts by a random offset every epoch (:meth:`set_epoch`; the offset
        comes from ``seed``, the epoch and the track), so training sees other cuts each epoch. ``False``: the
        excerpts start at frames ``0, frames, 2 frames, ...`` (validation).
    seed : seed of the offsets.
    ids : the track ids (default ``"0", "1", ...``), kept as :attr:`ids`.
    frontend, vocabulary : what made the features and classes (kept as :attr:`frontend` and :attr:`vocabulary`;
        :meth:`from_folder` fills them).

    Items
    -----
    Track ``t`` of ``n`` frames gives ``ceil(n / frames)`` excerpts (at least one), in track order. Without
    jitter they start at frames ``0, frames, 2 frames, ...`` (no overlap) and the last one (or a track shorter
    than ``frames``) is padded with zero features and classes -1; with jitter, the whole grid moves back by the
    epoch's offset and the excerpts that would cross the track's ends are moved inside the track instead (a
    track shorter than ``frames`` is still padded). :meth:`start` gives an item's first frame this epoch.
    """

    def __init__(
        self,
        tracks: Iterable[tuple[np.ndarray, np.ndarray]],
        *,
        frames: int,
        jitter: bool = False,
        seed: int = 0,
        ids: Iterable[str] | None = None,
        frontend: FrontEnd | None = None,
        vocabulary: ChordVocabulary | None = None,
    ) -> None:
        if frames < 1:
            raise ParameterError(f"frames per excerpt must be >= 1, got {frames}")
        self.frames, self.jitter, self.seed, self.epoch = int(frames), bool(jitter), int(seed), 0
        self.frontend = frontend
        self.vocabulary = vocabulary
        self.root: Path | None = None  # the folder and split read by from_folder
        self.split: str | None = None
        self._features: list[np.ndarray] = []
        self._classes: list[np.ndarray] = []
        index: list[tuple[int, int]] = []
        for t, (features, classes) in enumerate(tracks):
            features = np.asarray(features, dtype=np.float32)
            classes = np.asarray(classes, dtype=np.int64)
            if features.ndim != 2 or classes.shape != (features.shape[1],):
                raise ParameterError(
                    f"track {t}: features must be (n_bins, n_frames) and classes (n_frames,); got "
                    f"{features.shape} and {classes.shape}"
                )
            self._features.append(features)
            self._classes.append(classes)
            index += [(t, k) for k in range(max(1, math.ceil(features.shape[1] / self.frames)))]
        if not index:
            raise ParameterError("no tracks to cut excerpts from")
        self._index = index
        self.ids: list[str] = [str(t) for t in range(len(self._features))] if ids is None else list(ids)
        if len(self.ids) != len(self._features):
            raise ParameterError(f"{len(self.ids)} ids for {len(self._features)} tracks")

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        seconds: float = DEFAULT_EXCERPT_SECONDS,
        frames: int | None = None,
        frontend: FrontEnd | None = None,
        vocabulary: str | ChordVocabulary = "full",
        jitter: bool = False,
        seed: int = 0,
        cache: bool | str | os.PathLike[str] = True,
        max_items: int | None = None,
        progress: bool = False,
    ) -> Excerpts:
        """Excerpts of ``seconds`` (or ``frames``) from one split of a dlmir dataset (e.g. ``dlmir data band``'s
        valid split), or of any folder of audio + ``.lab``/``.jams`` with ``split=None``
        (:func:`dlmir.data.datasets.chord_tracks`; at most ``max_items`` tracks, the first ones).

        Features are those of ``frontend`` (default: the chord CQT), cached on disk as
        :class:`~dlmir.data.datasets.ChordDataset` caches them (``cache``: as there; a read-only folder with the
        default ``cache=True`` falls back to computing them in memory); classes come from
        :func:`dlmir.data.frames.frame_targets` in ``vocabulary``. :attr:`ids` are the track ids, :attr:`root`
        and :attr:`split` what was read.
        """
        from dlmir.annotations import read_annotation
        from dlmir.data.datasets import _FeatureSource, chord_tracks
        from dlmir.data.frames import frame_targets

        root = Path(root)
        fe = chord_frontend() if frontend is None else frontend
        if frames is None and not seconds > 0:
            raise ParameterError(f"seconds per excerpt must be > 0, got {seconds}")
        if max_items is not None and max_items < 1:
            raise ParameterError(f"max_items must be >= 1 (or None: all), got {max_items}")
        vocab = vocabulary if isinstance(vocabulary, ChordVocabulary) else ChordVocabulary(vocabulary)
        found = chord_tracks(root, split)[:max_items]
        if not found:
            raise ParameterError(f"{root}: no annotated audio found" + (f" in split {split!r}" if split else ""))
        audio = {t.id: t.audio for t in found}
        try:
            source = _FeatureSource(root, fe, audio, cache, progress)
        except OSError:
            if cache is not True:
                raise
            source = _FeatureSource(root, fe, audio, False, progress)  # read-only dataset folder: in memory
        sr, hop = frontend_sr(fe), fe.hop_length
        tracks = []
        for track in found:
            features = source.get(track.id)
            intervals, labels = read_annotation(track.annotation)
            classes, _ = frame_targets(intervals, labels, features.shape[-1], sr=sr, hop_length=hop, vocabulary=vocab)
            tracks.append((features, classes))
        data = cls(
            tracks,
            frames=int(frames or excerpt_frames_for(seconds, fe)),
            jitter=jitter,
            seed=seed,
            ids=[t.id for t in found],
            frontend=fe,
            vocabulary=vocab,
        )
        data.root, data.split = root, split
        return data

    @property
    def n_bins(self) -> int:
        """Feature bins per frame."""
        return int(self._features[0].shape[0])

    def track(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Track ``t``'s whole ``features (n_bins, frames)`` and ``classes (frames,)``."""
        return self._features[t], self._classes[t]

    def set_epoch(self, epoch: int) -> None:
        """Choose this epoch's excerpt offsets (called by the training loop at the start of every epoch)."""
        self.epoch = int(epoch)

    def start(self, i: int) -> tuple[int, int]:
        """``(track, first frame)`` of item ``i`` this epoch (frames past the track's end are padding)."""
        t, k = self._index[i]
        n = self._features[t].shape[1]
        start = k * self.frames
        if self.jitter and n > self.frames:
            offset = int(np.random.default_rng((self.seed, self.epoch, t)).integers(self.frames))
            start = min(max(start - offset, 0), n - self.frames)
        return t, start

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t, start = self.start(i)
        return _excerpt(self._features[t], self._classes[t], start, self.frames)

    def __repr__(self) -> str:
        where = "" if self.root is None else f"{str(self.root)!r}, split={self.split!r}, "
        return (
            f"Excerpts({where}tracks={len(self._features)}, excerpts={len(self)}, frames={self.frames}, "
            f"jitter={self.jitter})"
        )
