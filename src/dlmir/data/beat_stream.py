"""Audio excerpts with exact beats and tempo, rendered on the fly: :class:`BeatStream`.

Every item is a new band arrangement (:func:`dlmir.data.arrangements.arrange`: drums across styles and meters,
fills, bass, comping, lead; drums absent in ~15 % of pieces) rendered through a training soundfont and produced
(``"realistic"`` by default: rooms, EQ, compression, codecs, detuning), cut into excerpts of raw audio with the
beat times that every part was placed on (exact, scaled by the production's detune like the labels) and the
excerpt's tempo. Tempi: half of the pieces draw a tempo log-uniformly from ``tempo_range`` (default 50-220 BPM),
the others keep their style's range (e.g. ballad 56-84, rock 90-150); some pieces drift slowly (+-3 %).

Items: ``(audio, beats, bpm)``: ``audio`` float32 ``(excerpt_samples,)`` (zero-padded past the piece's end),
``beats`` float32 ``(max_beats,)`` beat times in seconds from the excerpt's start, padded with ``-1``, and
``bpm`` float32 ``()``: 60 / the median inter-beat interval inside the excerpt. A ``DataLoader`` stacks them
into ``(batch, samples)``, ``(batch, max_beats)`` and ``(batch,)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from dlmir.errors import AudioError, ParameterError

__all__ = ["BeatExcerpts", "BeatStream", "excerpt_bpm"]


def excerpt_bpm(beats: np.ndarray) -> float:
    """Tempo in BPM of beat times ``beats`` (seconds): 60 / median inter-beat interval (``nan`` for < 2 beats)."""
    beats = np.asarray(beats, dtype=np.float64)
    if beats.size < 2:
        return float("nan")
    return float(60.0 / np.median(np.diff(beats)))


class BeatStream(IterableDataset):
    """An endless (or fixed-length) stream of freshly rendered band excerpts ``(audio, beats, bpm)``.

    Parameters
    ----------
    soundfonts : training soundfonts (default: every installed registry soundfont but ``test_soundfont``).
    test_soundfont : the held-out soundfont; refused in ``soundfonts``.
    production : ``"realistic"`` (default), ``"clean"`` or ``"heavy"`` (:data:`dlmir.data.production.PRESETS`).
    seed : seed of the whole stream (piece ``k`` of pass ``p`` of epoch ``e`` on rank ``r``: ``[seed, e, p, r, k]``
        plus a tag, so beat pieces differ from :class:`~dlmir.data.render_stream.RenderStream`'s).
    sr : sample rate in Hz.
    excerpt_seconds : seconds per excerpt.
    tempo_range : ``(low, high)`` BPM of the log-uniform draw.
    p_uniform_tempo : probability that a piece draws its tempo from ``tempo_range`` (else its style's range).
    max_beats : beats kept per excerpt (padding ``-1``; enough for ``excerpt_seconds`` at 300 BPM by default).
    pieces_per_epoch : pieces per pass (all workers together); ``None``: endless.
    max_excerpts_per_piece : at most this many excerpts of one piece.
    arrange_kwargs : extra keyword arguments of :func:`~dlmir.data.arrangements.arrange`.

    Workers render pieces ``k = w, w + W, ...`` as :class:`~dlmir.data.render_stream.RenderStream` does, with one
    :class:`~dlmir.data.synth.Renderer` per soundfont each; a piece whose stem renders silent is skipped.
    """

    def __init__(
        self,
        soundfonts: Sequence[str] | None = None,
        *,
        test_soundfont: str = "fluidr3",
        production: str = "realistic",
        seed: int = 0,
        sr: int = 22050,
        excerpt_seconds: float = 12.0,
        tempo_range: tuple[float, float] = (50.0, 220.0),
        p_uniform_tempo: float = 0.5,
        max_beats: int | None = None,
        pieces_per_epoch: int | None = None,
        max_excerpts_per_piece: int | None = None,
        arrange_kwargs: dict[str, Any] | None = None,
    ) -> None:
        from dlmir.data.production import PRESET_NAMES
        from dlmir.data.render_stream import stream_soundfonts

        if production not in PRESET_NAMES:
            raise ParameterError(f"production must be one of {', '.join(PRESET_NAMES)}, got {production!r}")
        if not excerpt_seconds > 0:
            raise ParameterError(f"excerpt_seconds must be > 0 seconds, got {excerpt_seconds}")
        lo, hi = (float(t) for t in tempo_range)
        if not 20 <= lo <= hi <= 400:
            raise ParameterError(f"tempo_range must satisfy 20 <= low <= high <= 400 BPM, got {tempo_range}")
        if not 0.0 <= p_uniform_tempo <= 1.0:
            raise ParameterError(f"p_uniform_tempo must be in [0, 1], got {p_uniform_tempo}")
        if pieces_per_epoch is not None and pieces_per_epoch < 1:
            raise ParameterError(f"pieces_per_epoch must be >= 1 (or None: endless), got {pieces_per_epoch}")
        self.soundfonts = stream_soundfonts(soundfonts, test_soundfont)
        self.test_soundfont = test_soundfont
        self.production = production
        self.seed = int(seed)
        self.sr = int(sr)
        self._cutter = _Cutter(self.sr, excerpt_seconds, max_beats)
        self.excerpt_samples = self._cutter.excerpt_samples
        self.tempo_range = (lo, hi)
        self.p_uniform_tempo = float(p_uniform_tempo)
        self.max_beats = self._cutter.max_beats
        self.pieces_per_epoch = pieces_per_epoch
        self.max_excerpts_per_piece = max_excerpts_per_piece
        self.arrange_kwargs = dict(arrange_kwargs or {})
        self.epoch = 0
        self.skipped = 0
        self._passes = 0
        self._renderers: dict[str, Any] = {}

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: its pieces differ from every other epoch's (call before iterating)."""
        self.epoch = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderers"] = {}
        return state

    def piece_seed(self, k: int, *, passes: int = 0, rank: int = 0) -> list[int]:
        """The seed of piece ``k`` (the trailing ``2`` tags beat pieces apart from chord pieces)."""
        return [self.seed, self.epoch, int(passes), int(rank), int(k), 2]

    def render_piece(self, seed: list[int]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Render the piece of ``seed``: ``audio (samples,)`` float32, ``beats (n,)`` seconds, info dict.

        Raises :class:`~dlmir.errors.AudioError` when a stem renders silent in the drawn soundfont.
        """
        from dlmir.data.arrangements import arrange, render_arrangement
        from dlmir.data.render_stream import cached_renderer, draw_piece

        s_arr, rng, soundfont, production_seed, offset = draw_piece(seed, self.soundfonts, self.excerpt_samples)
        kwargs = dict(self.arrange_kwargs)
        if "tempo" not in kwargs and rng.random() < self.p_uniform_tempo:
            lo, hi = self.tempo_range
            kwargs["tempo"] = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        arr = arrange(seed=s_arr, **kwargs)
        y, _intervals, _labels, beats, info = render_arrangement(
            arr,
            soundfont,
            sr=self.sr,
            production=self.production,
            seed=production_seed,
            renderer=cached_renderer(self._renderers, soundfont, self.sr),
        )
        meta = {
            "seed": list(seed),
            "soundfont": soundfont,
            "production": info["production"],
            "offset": offset,
            "tempo": float(arr.tempo),
            "seconds": len(y) / self.sr,
        }
        return y.astype(np.float32, copy=False), np.asarray(beats, dtype=np.float64)[:, 0], meta

    def starts(self, n_samples: int, offset: int) -> list[int]:
        """First samples of the excerpts of a piece of ``n_samples`` samples cut from ``offset``."""
        out = self._cutter.starts(n_samples, offset)
        if self.max_excerpts_per_piece is not None:
            out = out[: self.max_excerpts_per_piece]
        return out

    def excerpt(self, y: np.ndarray, beats: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """The item ``(audio, beats, bpm)`` of the excerpt of ``y`` from sample ``start`` (see the module doc)."""
        return self._cutter.excerpt(y, beats, start)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.float32]]:
        from dlmir.data.render_stream import worker_piece_seeds

        for seed in worker_piece_seeds(self):
            try:
                y, beats, meta = self.render_piece(seed)
            except AudioError:
                self.skipped += 1
                continue
            for start in self.starts(len(y), meta["offset"]):
                audio, padded, bpm = self.excerpt(y, beats, start)
                if np.isfinite(bpm):
                    yield audio, padded, bpm

    def __repr__(self) -> str:
        return (
            f"BeatStream(soundfonts={self.soundfonts}, production={self.production!r}, seed={self.seed}, "
            f"excerpt_samples={self.excerpt_samples}, tempo_range={self.tempo_range})"
        )


class BeatExcerpts(torch.utils.data.Dataset):
    """Fixed excerpts ``(audio, beats, bpm)`` of whole tracks with beat annotations (validation and test).

    Items are those of :class:`BeatStream`; track ``t`` gives the excerpts starting at samples ``0, n, 2n, ...``
    (``n`` = excerpt samples) that hold at least half an excerpt of audio (a track shorter than that: one, from 0)
    and at least 2 beats. :meth:`from_folder` reads a ``dlmir data band`` split (or any folder of audio with
    ``.beats`` files of the same stem: one beat time in seconds per line, extra columns ignored).
    """

    def __init__(
        self, tracks: Sequence[tuple[np.ndarray, np.ndarray]], *, sr: int, excerpt_seconds: float = 12.0
    ) -> None:
        self.sr = int(sr)
        self._cutter = _Cutter(self.sr, excerpt_seconds)
        self.items: list[tuple[np.ndarray, np.ndarray, np.float32]] = []
        for y, beats in tracks:
            for start in self._cutter.starts(len(y)):
                audio, padded, bpm = self._cutter.excerpt(y, np.asarray(beats, dtype=np.float64), start)
                if np.isfinite(bpm):
                    self.items.append((audio, padded, bpm))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        return self.items[i]

    @classmethod
    def from_folder(
        cls,
        root: str | Any,
        split: str | None = None,
        *,
        sr: int = 22050,
        excerpt_seconds: float = 12.0,
        max_items: int | None = None,
    ) -> BeatExcerpts:
        """Excerpts of one split of a dlmir band dataset (``manifest.csv`` with a ``beats`` column), or of every
        audio file with a ``.beats`` file of the same stem under ``root``
        (:func:`dlmir.rhythm.evaluate.find_rhythm_pairs`)."""
        from dlmir.io import load
        from dlmir.rhythm.evaluate import find_rhythm_pairs, read_beats

        pairs = find_rhythm_pairs(root, "beats", split=split)
        if max_items is not None:
            pairs = pairs[:max_items]
        tracks = [(load(p.audio, sr=sr)[0], read_beats(p.annotation)) for p in pairs]
        return cls(tracks, sr=sr, excerpt_seconds=excerpt_seconds)


class _Cutter:
    """Cutting tracks into ``(audio, beats, bpm)`` excerpts (shared by the stream and the fixed excerpts)."""

    def __init__(self, sr: int, excerpt_seconds: float, max_beats: int | None = None) -> None:
        if not excerpt_seconds > 0:
            raise ParameterError(f"excerpt_seconds must be > 0 seconds, got {excerpt_seconds}")
        self.sr = int(sr)
        self.excerpt_samples = int(round(excerpt_seconds * self.sr))
        self.max_beats = int(max_beats or int(np.ceil(excerpt_seconds * 300 / 60)) + 2)

    def starts(self, n_samples: int, offset: int = 0) -> list[int]:
        t = self.excerpt_samples
        if n_samples <= t:
            return [0]
        offset = offset % t
        if n_samples - offset < t:
            offset = 0
        return [s for s in range(offset, n_samples, t) if n_samples - s >= t / 2]

    def excerpt(self, y: np.ndarray, beats: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
        t = self.excerpt_samples
        audio = np.zeros(t, dtype=np.float32)
        seg = y[start : start + t]
        audio[: len(seg)] = seg
        t0, t1 = start / self.sr, (start + len(seg)) / self.sr
        inside = beats[(beats >= t0) & (beats < t1)] - t0
        padded = np.full(self.max_beats, -1.0, dtype=np.float32)
        padded[: min(len(inside), self.max_beats)] = inside[: self.max_beats]
        return audio, padded, np.float32(excerpt_bpm(inside))
