"""Chord excerpts for sequence models, rendered on the fly: :class:`RenderStream`.

:class:`RenderStream` (an ``IterableDataset``): every item is a new band arrangement
(:func:`dlmir.data.arrangements.arrange`) rendered stem by stem through a training soundfont and produced
(:func:`dlmir.data.arrangements.render_arrangement`, preset ``"realistic"`` by default, ``"clean"`` for the
ablation), then turned into front-end features (the chord CQT by default) and exact per-frame classes
(:func:`dlmir.data.frames.frame_targets`, over the labels as scaled by the production's detune). Nothing is
written to disk and no piece repeats: training sees as much audio as it has time for. For validation, tile a
dataset folder (e.g. ``dlmir data band``'s valid/test splits) with :meth:`dlmir.data.excerpts.Excerpts.from_folder`.

:class:`RenderStream` and :class:`~dlmir.data.excerpts.Excerpts` yield the same items: ``(features, classes)``
with ``features`` float32 ``(n_bins, excerpt_frames)`` and ``classes`` int64 ``(excerpt_frames,)``: the
vocabulary class of each frame, ``-1`` for frames to ignore (labels reducible only to X, and padding past a
track's end, where the features are zeros). A ``DataLoader`` stacks them into ``(batch, n_bins, frames)`` and
``(batch, frames)``; use ``ignore_index=-1`` in the loss.

Speed: see :class:`RenderStream` (2 workers, 12 s excerpts: realistic 1.4 excerpts/s, clean 5.5 excerpts/s here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from dlmir.chords.vocabulary import ChordVocabulary
from dlmir.data.cache import frontend_sr
from dlmir.data.excerpts import DEFAULT_EXCERPT_SECONDS, _excerpt, excerpt_frames_for
from dlmir.data.frames import frame_targets
from dlmir.errors import AudioError, ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.presets import chord_frontend

__all__ = ["RenderStream"]


def worker_piece_seeds(stream: Any) -> Iterator[list[int]]:
    """The piece seeds this DataLoader worker (and distributed rank) renders in one pass over ``stream``.

    ``stream`` has ``piece_seed(k, passes=, rank=)``, ``pieces_per_epoch`` and a pass counter ``_passes``: worker
    ``w`` of ``W`` takes pieces ``k = w, w + W, ...`` (see :class:`RenderStream`); a worker process computes with
    one thread.
    """
    info = get_worker_info()
    worker, n_workers = (0, 1) if info is None else (info.id, info.num_workers)
    if info is not None:
        torch.set_num_threads(1)
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else 0
    passes = stream._passes
    stream._passes += 1
    k = worker
    while stream.pieces_per_epoch is None or k < stream.pieces_per_epoch:
        yield stream.piece_seed(k, passes=passes, rank=rank)
        k += n_workers


def draw_piece(
    seed: list[int], soundfonts: Sequence[str], span: int
) -> tuple[np.random.SeedSequence, np.random.Generator, str, int, int]:
    """What a stream's piece ``seed`` draws before it is arranged: ``(arrangement seed, generator for further
    draws, soundfont, production seed, excerpt offset in [0, span))``."""
    s_arr, s_rest = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(s_rest)
    soundfont = soundfonts[int(rng.integers(len(soundfonts)))]
    production_seed = int(rng.integers(2**31))
    offset = int(rng.integers(span))
    return s_arr, rng, soundfont, production_seed, offset


def cached_renderer(renderers: dict[str, Any], soundfont: str, sr: int) -> Any:
    """The :class:`~dlmir.data.synth.Renderer` of ``soundfont`` in ``renderers`` (one per soundfont, made on first
    use and kept: loading a soundfont takes seconds)."""
    from dlmir.data.synth import Renderer

    if soundfont not in renderers:
        renderers[soundfont] = Renderer(sr=sr)
    return renderers[soundfont]


def stream_soundfonts(soundfonts: Sequence[str] | None, test_soundfont: str) -> list[str]:
    """A stream's training soundfonts: ``soundfonts``, or every installed registry soundfont but
    ``test_soundfont`` (:func:`dlmir.data.synth.training_soundfonts`); the held-out one is refused (same file)."""
    from dlmir.data.synth import resolve_soundfont, training_soundfonts

    out = list(soundfonts) if soundfonts else training_soundfonts(test_soundfont)
    if not out:
        raise ParameterError(f"no training soundfont installed besides {test_soundfont!r}")
    held_out = resolve_soundfont(test_soundfont)[1].resolve()
    for sf in out:
        if resolve_soundfont(sf)[1].resolve() == held_out:
            raise ParameterError(f"soundfont {sf!r} is the held-out test soundfont {test_soundfont!r}; drop it")
    return out


def _vocab(vocabulary: str | ChordVocabulary) -> ChordVocabulary:
    return vocabulary if isinstance(vocabulary, ChordVocabulary) else ChordVocabulary(vocabulary)


class RenderStream(IterableDataset):
    """An endless (or fixed-length) stream of freshly rendered band excerpts ``(features, classes)``.

    Parameters
    ----------
    soundfonts : training soundfonts (registry names or paths); default: every installed registry soundfont but
        ``test_soundfont`` (:func:`dlmir.data.synth.training_soundfonts`). Each piece draws one uniformly.
    test_soundfont : the held-out soundfont; refused in ``soundfonts`` (same file).
    production : ``"realistic"`` (default), ``"clean"`` or ``"heavy"`` (:data:`dlmir.data.production.PRESETS`).
    seed : seed of the whole stream.
    excerpt_frames : frames per excerpt (default: ``excerpt_seconds`` of the front end's frames).
    excerpt_seconds : seconds per excerpt when ``excerpt_frames`` is not given (default 12 s: 517 chord-CQT frames).
    frontend : front end computing ``(n_bins, frames)`` features (default: the chord CQT,
        :func:`dlmir.frontends.presets.chord_frontend`). Its ``sr`` is the render rate.
    vocabulary : ``"full"`` (157 classes), ``"majmin"`` or a :class:`~dlmir.chords.ChordVocabulary`.
    pieces_per_epoch : pieces rendered per pass over the stream (all workers together); ``None``: endless.
    max_excerpts_per_piece : at most this many excerpts of one piece (``None``: every tile).
    arrange_kwargs : extra keyword arguments of :func:`~dlmir.data.arrangements.arrange` (e.g.
        ``{"n_chords": 4}`` for short pieces in tests).
    return_info : also yield a dict per excerpt (``seed``, ``soundfont``, ``start`` frame, ``intervals``,
        ``labels``, ``n_frames`` of the piece, ``production``) -- for tests and inspection.

    Seeds and repetition
    --------------------
    Piece ``k`` (a global counter over all workers) of pass ``p`` of epoch ``e`` on distributed rank ``r`` is
    arranged with seed ``[seed, e, p, r, k]``; worker ``w`` of ``W`` renders ``k = w, w + W, w + 2W, ...``.
    Different tuples give different pieces, so nothing repeats within or across epochs as long as the epoch
    differs: call :meth:`set_epoch` before each epoch (as with ``DistributedSampler``), or use
    ``persistent_workers=True`` (each worker's copy counts its own passes ``p``). The piece's soundfont, the
    production seed and the excerpts' offset are drawn from the same seed, so the *content* of piece ``k`` does
    not depend on the number of workers (only the order in which pieces arrive does; FluidSynth's voice pool
    may change the first samples of a note by ~1e-2 with what a worker rendered before).

    Excerpts
    --------
    Each piece is cut into tiles of ``excerpt_frames`` starting at a random offset in ``[0, excerpt_frames)``
    (a piece shorter than that gives one excerpt from frame 0); a tile that runs past the end is kept when at
    least half of it is audio, padded with zero features and classes ``-1``. Excerpts of one piece come out
    one after another; batches of a worker therefore hold a few pieces each (shuffle across pieces, if needed,
    with a buffer downstream).

    Workers
    -------
    Each ``DataLoader`` worker sets ``torch.set_num_threads(1)`` and keeps one
    :class:`~dlmir.data.synth.Renderer` per soundfont, created on first use and reused (MuseScore General
    takes 2-8 s to load once; a worker holding all 6 default soundfonts uses ~1.5 GB, MuseScore Full ~0.5 GB
    of it). A piece whose stem renders silent (a program missing from a soundfont) is
    skipped and counted in the worker's ``skipped``.

    Speed, measured on the shared 2-core development CPU (load ~4-5 from other training runs), ``DataLoader(
    num_workers=2)``, the 6 default soundfonts, 12 s excerpts (every tile), after the first ~30 s of soundfont
    loading: ``"realistic"`` 1.4 excerpts/s (17 s of audio per second), ``"clean"`` 5.5 excerpts/s (66 s/s).
    Production (rooms, effects, codecs) costs ~3/4 of a realistic excerpt's time; a training step that wants 16
    realistic 12 s excerpts waits ~11 s for them on 2 workers here, so give the stream every spare core.

    Examples
    --------
    >>> stream = RenderStream(production="realistic", seed=0)
    >>> loader = DataLoader(stream, batch_size=8, num_workers=2, persistent_workers=True)
    >>> for cqt, classes in loader: ...     # (8, 192, 517) float32, (8, 517) int64
    """

    def __init__(
        self,
        soundfonts: Sequence[str] | None = None,
        *,
        test_soundfont: str = "fluidr3",
        production: str = "realistic",
        seed: int = 0,
        excerpt_frames: int | None = None,
        excerpt_seconds: float = DEFAULT_EXCERPT_SECONDS,
        frontend: FrontEnd | None = None,
        vocabulary: str | ChordVocabulary = "full",
        pieces_per_epoch: int | None = None,
        max_excerpts_per_piece: int | None = None,
        arrange_kwargs: dict[str, Any] | None = None,
        return_info: bool = False,
    ) -> None:
        from dlmir.data.production import PRESET_NAMES

        if production not in PRESET_NAMES:
            raise ParameterError(f"production must be one of {', '.join(PRESET_NAMES)}, got {production!r}")
        if pieces_per_epoch is not None and pieces_per_epoch < 1:
            raise ParameterError(f"pieces_per_epoch must be >= 1 (or None: endless), got {pieces_per_epoch}")
        if max_excerpts_per_piece is not None and max_excerpts_per_piece < 1:
            raise ParameterError(f"max_excerpts_per_piece must be >= 1 (or None: all), got {max_excerpts_per_piece}")
        self.frontend = chord_frontend() if frontend is None else frontend
        self.sr = int(frontend_sr(self.frontend))
        self.hop_length = int(self.frontend.hop_length)
        if excerpt_frames is None and not excerpt_seconds > 0:
            raise ParameterError(f"excerpt_seconds must be > 0 seconds, got {excerpt_seconds}")
        self.excerpt_frames = int(excerpt_frames or excerpt_frames_for(excerpt_seconds, self.frontend))
        if self.excerpt_frames < 1:
            raise ParameterError(f"excerpt_frames must be >= 1, got {excerpt_frames}")
        self.soundfonts = stream_soundfonts(soundfonts, test_soundfont)
        self.test_soundfont = test_soundfont
        self.production = production
        self.seed = int(seed)
        self.vocabulary = _vocab(vocabulary)
        self.pieces_per_epoch = pieces_per_epoch
        self.max_excerpts_per_piece = max_excerpts_per_piece
        self.arrange_kwargs = dict(arrange_kwargs or {})
        self.return_info = return_info
        self.epoch = 0
        self.skipped = 0
        self._passes = 0
        self._renderers: dict[str, Any] = {}

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: its pieces differ from every other epoch's (call before iterating)."""
        self.epoch = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderers"] = {}  # FluidSynth synthesizers stay in the process that made them
        return state

    def _renderer(self, soundfont: str) -> Any:
        return cached_renderer(self._renderers, soundfont, self.sr)

    def piece_seed(self, k: int, *, passes: int = 0, rank: int = 0) -> list[int]:
        """The arrangement seed of piece ``k`` (see the class docstring)."""
        return [self.seed, self.epoch, int(passes), int(rank), int(k)]

    def render_piece(self, seed: list[int]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Render the piece of ``seed``: ``features (n_bins, frames)`` float32, ``classes (frames,)`` int64, info.

        Raises :class:`~dlmir.errors.AudioError` when a stem renders silent in the drawn soundfont.
        """
        from dlmir.data.arrangements import arrange, render_arrangement
        from dlmir.frontends import extract

        s_arr, _, soundfont, production_seed, offset = draw_piece(seed, self.soundfonts, self.excerpt_frames)
        arr = arrange(seed=s_arr, **self.arrange_kwargs)
        y, intervals, labels, _beats, info = render_arrangement(
            arr,
            soundfont,
            sr=self.sr,
            production=self.production,
            seed=production_seed,
            renderer=self._renderer(soundfont),
        )
        features = extract(self.frontend, y).astype(np.float32, copy=False)
        n_frames = features.shape[-1]
        classes, _ = frame_targets(
            intervals, labels, n_frames, sr=self.sr, hop_length=self.hop_length, vocabulary=self.vocabulary
        )
        meta = {
            "seed": list(seed),
            "soundfont": soundfont,
            "production": info["production"],
            "intervals": intervals,
            "labels": labels,
            "n_frames": n_frames,
            "offset": offset,
            "seconds": len(y) / self.sr,
        }
        return features, classes, meta

    def starts(self, n_frames: int, offset: int) -> list[int]:
        """First frames of the excerpts of a piece of ``n_frames`` frames cut from ``offset`` (see Excerpts)."""
        t = self.excerpt_frames
        if n_frames <= t:
            return [0]
        offset = offset % t
        if n_frames - offset < t:
            offset = 0
        out = [s for s in range(offset, n_frames, t) if n_frames - s >= t / 2]
        if self.max_excerpts_per_piece is not None:
            out = out[: self.max_excerpts_per_piece]
        return out

    def __iter__(self) -> Iterator[Any]:
        for seed in worker_piece_seeds(self):
            try:
                features, classes, meta = self.render_piece(seed)
            except AudioError:
                self.skipped += 1
                continue
            for start in self.starts(meta["n_frames"], meta["offset"]):
                x, c = _excerpt(features, classes, start, self.excerpt_frames)
                if self.return_info:
                    yield x, c, {**meta, "start": start}
                else:
                    yield x, c

    def __repr__(self) -> str:
        return (
            f"RenderStream(soundfonts={self.soundfonts}, production={self.production!r}, seed={self.seed}, "
            f"excerpt_frames={self.excerpt_frames}, pieces_per_epoch={self.pieces_per_epoch})"
        )
