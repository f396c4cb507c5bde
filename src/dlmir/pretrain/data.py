"""Unlabeled audio for pre-training: excerpts of any folder of audio (:class:`AudioExcerpts`), or dlmir's renders
without their labels (:class:`UnlabeledStream`).

Both yield items ``(features,)``: a 1-tuple holding float32 ``(n_bins, frames)`` front-end features (the chord CQT
by default) of one excerpt, so a ``DataLoader`` gives ``[(batch, n_bins, frames)]``.

:class:`AudioExcerpts` reads only the excerpt from disk: soundfile seeks to the excerpt's first sample and reads its
samples (wav, flac, ogg, mp3 and whatever else libsndfile decodes); files soundfile cannot open are decoded by
librosa with ``offset`` and ``duration`` (audioread streams them, holding no more than the excerpt). A file of
hours costs no more memory than a file of seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends.base import FrontEnd

__all__ = ["AUDIO_EXTENSIONS", "AudioExcerpts", "UnlabeledStream", "find_audio", "read_excerpt"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".m4a")
"""File name endings :func:`find_audio` picks up (case-insensitive)."""


def find_audio(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[tuple[str, float]]:
    """Every audio file under ``sources`` (folders, searched recursively, and single files), with its duration in
    seconds: ``[(path, seconds), ...]`` sorted by path. Files whose header cannot be read, and empty files, are left
    out.

    Raises :class:`~dlmir.errors.AudioError` when nothing playable is found (naming the sources and the endings
    looked for), or a source does not exist.
    """
    import soundfile as sf

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [Path(s) for s in sources]
    files: list[Path] = []
    for src in sources:
        if not src.exists():
            raise AudioError(f"{src}: no such file or folder")
        if src.is_dir():
            files += [p for p in src.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
        else:
            files.append(src)
    out: list[tuple[str, float]] = []
    for path in sorted(set(files)):
        try:
            info = sf.info(str(path))
            seconds = float(info.frames) / float(info.samplerate)
        except Exception:  # not a soundfile format (m4a, some mp3): ask librosa / audioread
            try:
                import librosa

                seconds = float(librosa.get_duration(path=str(path)))
            except Exception:
                continue
        if seconds > 0:
            out.append((str(path), seconds))
    if not out:
        where = ", ".join(str(s) for s in sources)
        raise AudioError(
            f"no audio found in {where} (looked recursively for {', '.join(AUDIO_EXTENSIONS)}); pre-training needs "
            "a folder of audio files, or 'stream'"
        )
    return out


def read_excerpt(path: str | os.PathLike[str], start: float, seconds: float, sr: float) -> np.ndarray:
    """``seconds`` of mono float32 audio at ``sr`` Hz from ``start`` seconds into ``path``, zero-padded past the end
    of the file: ``(round(seconds * sr),)``. Only the excerpt is read (soundfile seek + read; otherwise librosa with
    ``offset``/``duration``)."""
    import soundfile as sf

    n_out = int(round(seconds * sr))
    try:
        with sf.SoundFile(str(path)) as f:
            file_sr = float(f.samplerate)
            first = min(int(round(start * file_sr)), f.frames)
            f.seek(first)
            raw = f.read(int(math.ceil(seconds * file_sr)) + 1, dtype="float32", always_2d=True)
        y = raw.mean(axis=1) if raw.shape[1] > 1 else raw[:, 0]
        if file_sr != sr and y.size:
            import soxr

            y = soxr.resample(y, file_sr, sr, quality="soxr_hq").astype(np.float32, copy=False)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        import librosa

        try:
            y, _ = librosa.load(str(path), sr=sr, mono=True, offset=float(start), duration=float(seconds))
        except Exception as exc:
            raise AudioError(f"{path}: cannot decode ({exc})") from exc
    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: the audio contains NaN or infinite samples")
    return np.pad(y, (0, max(0, n_out - y.size)))[:n_out]


def _fit_frames(features: np.ndarray, frames: int) -> np.ndarray:
    out = np.zeros((features.shape[0], frames), dtype=np.float32)
    n = min(frames, features.shape[1])
    out[:, :n] = features[:, :n]
    return out


class AudioExcerpts(Dataset):
    """Random excerpts of a set of audio files, as front-end features: a map-style dataset of ``items`` per epoch.

    Parameters
    ----------
    files : ``[(path, seconds), ...]`` (:func:`find_audio`) or folders/files to search.
    frontend : front end of the features (default: the chord CQT). Its ``sr`` is the reading rate.
    seconds : excerpt length; ``frames``: its frames (:func:`dlmir.data.excerpts.excerpt_frames_for`).
    items : items per epoch.
    seed : seed of the draws.

    Item ``i`` of epoch ``e`` (:meth:`set_epoch`) draws, from ``(seed, e, i)`` only, a file (with probability
    proportional to its duration, so every second of audio is equally likely) and a start uniform over the file
    (from 0 for a file shorter than the excerpt, which is zero-padded). The same ``(seed, epoch, index)`` always
    gives the same excerpt, whatever the workers or ranks, so a resumed run sees what the interrupted one would have.
    A file that fails to decode gives silence (zeros) and is counted in :attr:`failed` of the process that read it.
    """

    def __init__(
        self,
        files: Sequence[tuple[str, float]] | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        frontend: FrontEnd | None = None,
        seconds: float = 6.0,
        items: int = 1024,
        seed: int = 0,
    ) -> None:
        from dlmir.data.cache import frontend_sr
        from dlmir.data.excerpts import excerpt_frames_for
        from dlmir.frontends.presets import chord_frontend

        if not seconds > 0:
            raise ParameterError(f"seconds per excerpt must be > 0, got {seconds}")
        if items < 1:
            raise ParameterError(f"items per epoch must be >= 1, got {items}")
        listed = isinstance(files, (list, tuple)) and files and isinstance(files[0], tuple)
        self.files: list[tuple[str, float]] = [(str(p), float(s)) for p, s in files] if listed else find_audio(files)  # type: ignore[misc]
        self.frontend = chord_frontend() if frontend is None else frontend
        self.sr = float(frontend_sr(self.frontend))
        self.seconds = float(seconds)
        self.frames = int(excerpt_frames_for(seconds, self.frontend))
        self.items, self.seed, self.epoch = int(items), int(seed), 0
        weights = np.array([s for _, s in self.files], dtype=np.float64)
        self._cdf = np.cumsum(weights) / weights.sum()
        self.failed = 0

    @property
    def hours(self) -> float:
        """Hours of audio in :attr:`files`."""
        return float(sum(s for _, s in self.files)) / 3600.0

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's excerpts (called by the training loop before every epoch)."""
        self.epoch = int(epoch)

    def draw(self, i: int) -> tuple[str, float]:
        """``(path, start seconds)`` of item ``i`` this epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        k = min(int(np.searchsorted(self._cdf, rng.random(), side="right")), len(self.files) - 1)
        path, dur = self.files[k]
        return path, float(rng.random() * max(0.0, dur - self.seconds))

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        from dlmir.frontends import extract

        path, start = self.draw(i)
        try:
            y = read_excerpt(path, start, self.seconds, self.sr)
            features = extract(self.frontend, y)
        except AudioError:
            self.failed += 1
            return (torch.zeros(int(self.frontend.config.get("n_bins", 0)) or 1, self.frames),)
        return (torch.from_numpy(_fit_frames(np.asarray(features, dtype=np.float32), self.frames)),)

    def __repr__(self) -> str:
        return (
            f"AudioExcerpts(files={len(self.files)}, hours={self.hours:.2f}, seconds={self.seconds:g}, "
            f"frames={self.frames}, items={self.items}, seed={self.seed})"
        )


class UnlabeledStream(IterableDataset):
    """dlmir's rendered band excerpts without their labels: the items ``(features,)`` of a
    :class:`~dlmir.data.render_stream.RenderStream` (``kwargs`` go to it: soundfonts, production, seed,
    excerpt_seconds, frontend, ...). An ``IterableDataset``: an epoch is ``steps_per_epoch`` batches."""

    def __init__(self, **kwargs: Any) -> None:
        from dlmir.data.render_stream import RenderStream

        self.stream = RenderStream(**kwargs)
        self.frontend = self.stream.frontend

    def set_epoch(self, epoch: int) -> None:
        self.stream.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor]]:
        for x, _ in self.stream:
            yield (x,)

    def __repr__(self) -> str:
        return f"UnlabeledStream({self.stream!r})"
