"""Audio excerpts with exact note targets, rendered on the fly: :class:`NoteStream` (multi-pitch and notes).

Every item is a new piece rendered through a training soundfont and produced (``"realistic"`` by default), cut
into excerpts of raw audio with the piano rolls of the notes that made it (:func:`dlmir.data.notes.piano_roll`):
which MIDI pitches sound in each frame, where notes start and where they end. The notes come from the MIDI
itself, so they are exact; times are multiplied by the production's ``time_scale`` (its detune resamples the
recording), and the global detune is limited to +-``max_cents`` (25 by default, against the presets' +-50) so
the nominal MIDI pitch stays the nearest semitone of what sounds. Instruments' own small tuning offsets
(+-10 cents in band arrangements), the lead's vibrato, scoops and glides are part of the audio, not the labels.

Pieces (``sources``, drawn per piece with these weights by default):

- ``"arrangement"`` (0.5): a band arrangement (:func:`dlmir.data.arrangements.arrange`: drums, bass, comping,
  lead, pads), rendered stem by stem (:func:`~dlmir.data.arrangements.render_arrangement`); drums are heard
  but not labelled (they have no pitch).
- ``"chorale"`` (0.3): a Bach chorale (:func:`dlmir.data.chorales.generate_chorale`: four voices on a chamber
  ensemble -- strings, woodwinds, brass, organ, choir, piano), transposed by -5..+6 semitones; only chorales
  whose hymn tune is in the ``train`` split of the dataset builds (:func:`dlmir.data.build.split_of`), so the
  built valid/test chorales stay unheard.
- ``"progression"`` (0.2): a chord progression with a bass line (:func:`dlmir.data.progressions.generate_progression`).

Items are dicts (a ``DataLoader`` stacks them; :func:`collate` also keeps ``return_info``'s dicts):
``audio`` float32 ``(samples,)`` at ``sr`` (zero-padded past the piece's end), and ``frames``, ``onsets``,
``offsets`` float32 ``(n_pitches, n_frames)`` (default 88 keys, row ``i`` = MIDI ``21 + i``) at
``frame_rate = sr / hop_length``, with ``n_frames = 1 + samples // hop_length`` (librosa's centred frames:
frame ``k`` is centred at ``k * hop_length / sr`` seconds from the excerpt's start).

Seeds and workers are those of :class:`~dlmir.data.render_stream.RenderStream` (piece ``k`` of pass ``p`` of
epoch ``e`` on rank ``r``: ``[seed, e, p, r, k, 3]``; the trailing ``3`` tags note pieces apart from chord and
beat pieces); no piece repeats within or across epochs (call :meth:`NoteStream.set_epoch`). A chorale's score
does repeat across pieces (there are ~260 train chorales), each time with another tempo, key, ensemble,
soundfont and production.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from dlmir.data.notes import NoteList, notes_from_midi, piano_roll
from dlmir.errors import AudioError, ParameterError

__all__ = ["DEFAULT_SOURCES", "NoteStream", "collate"]

DEFAULT_SOURCES: dict[str, float] = {"arrangement": 0.5, "chorale": 0.3, "progression": 0.2}
"""Share of pieces per source (see the module docstring)."""
_PAD = 0.06  # render this much longer than the piece, so a detune that slows the audio does not cut the tail


def _train_chorales() -> list[int]:
    """Riemenschneider numbers of the chorales whose hymn tune the dataset builds put in ``train``."""
    from dlmir.data.build import split_of
    from dlmir.data.chorales import chorale_tune

    return [n for n in range(1, 372) if split_of(chorale_tune(n)) == "train"]


class NoteStream(IterableDataset):
    """An endless (or fixed-length) stream of freshly rendered excerpts with note targets (see the module doc).

    Parameters
    ----------
    soundfonts : training soundfonts (default: every installed registry soundfont but ``test_soundfont``).
    test_soundfont : the held-out soundfont; refused in ``soundfonts``.
    production : ``"realistic"`` (default), ``"clean"`` or ``"heavy"`` (:data:`dlmir.data.production.PRESETS`).
    max_cents : the production's global detune is drawn within +-this (cents; ``None``: the preset's +-50).
    seed : seed of the whole stream.
    sr : sample rate in Hz.
    seconds : seconds per excerpt.
    hop_length : samples per frame of the rolls.
    sources : ``{source: weight}`` over ``"arrangement"``, ``"chorale"``, ``"progression"``
        (default :data:`DEFAULT_SOURCES`).
    pieces_per_epoch : pieces per pass (all workers together); ``None``: endless.
    max_excerpts_per_piece : at most this many excerpts of one piece (``None``: every tile).
    arrange_kwargs : extra keyword arguments of :func:`~dlmir.data.arrangements.arrange` (``{"n_chords": 2}``
        for short pieces in tests).
    piece_seconds : chorales and progressions at most about this long (``None``: whole chorales,
        15-45 s progressions).
    min_pitch, n_pitches, onset_frames : of :func:`~dlmir.data.notes.piano_roll`.
    return_info : yield ``(item, info)``; ``info``: ``seed``, ``source``, ``soundfont``, ``production``
        (record), ``time_scale``, ``start`` (sample of the piece where the excerpt starts), ``notes``
        (:class:`~dlmir.data.notes.NoteList` of the excerpt, seconds from its start), ``piece`` (chorale
        number, arrangement params, ...). Use :func:`collate` in a ``DataLoader``.

    Workers
    -------
    As :class:`~dlmir.data.render_stream.RenderStream`: one thread and one
    :class:`~dlmir.data.synth.Renderer` per soundfont per worker; a piece with a part that renders silent in
    its soundfont is skipped and counted in ``skipped``.

    Examples
    --------
    >>> stream = NoteStream(seed=0)
    >>> loader = DataLoader(stream, batch_size=8, num_workers=2, persistent_workers=True)
    >>> for batch in loader: ...   # batch["audio"] (8, 220500), batch["frames"] (8, 88, 862), ...
    """

    def __init__(
        self,
        soundfonts: Sequence[str] | None = None,
        *,
        test_soundfont: str = "fluidr3",
        production: str = "realistic",
        max_cents: float | None = 25.0,
        seed: int = 0,
        sr: int = 22050,
        seconds: float = 10.0,
        hop_length: int = 256,
        sources: Mapping[str, float] | None = None,
        pieces_per_epoch: int | None = None,
        max_excerpts_per_piece: int | None = None,
        arrange_kwargs: dict[str, Any] | None = None,
        piece_seconds: float | None = None,
        min_pitch: int = 21,
        n_pitches: int = 88,
        onset_frames: int = 1,
        return_info: bool = False,
    ) -> None:
        from dlmir.data.beat_stream import _Cutter
        from dlmir.data.production import PRESET_NAMES
        from dlmir.data.render_stream import stream_soundfonts

        if production not in PRESET_NAMES:
            raise ParameterError(f"production must be one of {', '.join(PRESET_NAMES)}, got {production!r}")
        if max_cents is not None and not max_cents >= 0:
            raise ParameterError(f"max_cents must be >= 0 cents (or None), got {max_cents}")
        if not seconds > 0 or int(hop_length) < 1 or int(sr) < 1:
            raise ParameterError(f"need seconds > 0, hop_length >= 1, sr >= 1; got {seconds}, {hop_length}, {sr}")
        if pieces_per_epoch is not None and pieces_per_epoch < 1:
            raise ParameterError(f"pieces_per_epoch must be >= 1 (or None: endless), got {pieces_per_epoch}")
        if max_excerpts_per_piece is not None and max_excerpts_per_piece < 1:
            raise ParameterError(f"max_excerpts_per_piece must be >= 1 (or None: all), got {max_excerpts_per_piece}")
        if piece_seconds is not None and not piece_seconds > 0:
            raise ParameterError(f"piece_seconds must be > 0 seconds (or None), got {piece_seconds}")
        sources = dict(DEFAULT_SOURCES if sources is None else sources)
        unknown = set(sources) - set(DEFAULT_SOURCES)
        if unknown or not sources or any(w < 0 for w in sources.values()) or not sum(sources.values()) > 0:
            raise ParameterError(
                f"sources must map some of {sorted(DEFAULT_SOURCES)} to weights >= 0 (not all 0), got {sources}"
            )
        self.soundfonts = stream_soundfonts(soundfonts, test_soundfont)
        self.test_soundfont = test_soundfont
        self.production = production
        self.max_cents = None if max_cents is None else float(max_cents)
        self.seed = int(seed)
        self.sr = int(sr)
        self.hop_length = int(hop_length)
        self.frame_rate = self.sr / self.hop_length
        self._cutter = _Cutter(self.sr, seconds)
        self.excerpt_samples = self._cutter.excerpt_samples
        self.n_frames = 1 + self.excerpt_samples // self.hop_length
        self.sources = {k: float(v) for k, v in sources.items() if v > 0}
        self.pieces_per_epoch = pieces_per_epoch
        self.max_excerpts_per_piece = max_excerpts_per_piece
        self.arrange_kwargs = dict(arrange_kwargs or {})
        self.piece_seconds = piece_seconds
        self.min_pitch, self.n_pitches, self.onset_frames = int(min_pitch), int(n_pitches), int(onset_frames)
        self.return_info = return_info
        self.epoch = 0
        self.skipped = 0
        self._passes = 0
        self._renderers: dict[str, Any] = {}
        self._chorales: list[int] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: its pieces differ from every other epoch's (call before iterating)."""
        self.epoch = int(epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_renderers"] = {}  # FluidSynth synthesizers stay in the process that made them
        return state

    def piece_seed(self, k: int, *, passes: int = 0, rank: int = 0) -> list[int]:
        """The seed of piece ``k`` (the trailing ``3`` tags note pieces apart from chord and beat pieces)."""
        return [self.seed, self.epoch, int(passes), int(rank), int(k), 3]

    def _renderer(self, soundfont: str) -> Any:
        from dlmir.data.render_stream import cached_renderer

        return cached_renderer(self._renderers, soundfont, self.sr)

    def render_midi(
        self, midi: Any, soundfont: str, duration: float, *, production_seed: int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Render a ``pretty_midi.PrettyMIDI`` as one mix and produce it; ``(audio, production record)``.

        ``audio`` float32 ``(round(duration * time_scale * sr),)``: the MIDI's events at ``t`` seconds sound at
        ``t * record["detune"]["time_scale"]``. Raises :class:`~dlmir.errors.AudioError` when it renders silent.
        """
        from dlmir.data.production import produce

        n = round(duration * self.sr)
        pad = int(math.ceil(duration * _PAD * self.sr)) + 64
        y = self._renderer(soundfont).render(midi, soundfont, duration=(n + pad) / self.sr, peak=0.9)
        y, record = produce(y, self.sr, seed=production_seed, preset=self.production, max_cents=self.max_cents)  # type: ignore[misc]
        n_out = min(len(y), round(duration * float(record["detune"]["time_scale"]) * self.sr))
        return y[:n_out].astype(np.float32, copy=False), record

    def _arrangement(self, s_arr: Any, soundfont: str, production_seed: int) -> tuple[np.ndarray, NoteList, dict]:
        from dlmir.data.arrangements import arrange, render_arrangement
        from dlmir.data.production import sample_params

        arr = arrange(seed=s_arr, **self.arrange_kwargs)
        # the record produce() would draw for these stems (names and padded length as render_arrangement
        # makes them), with the detune limited to +-max_cents
        n = round(arr.duration * self.sr) + int(math.ceil(arr.duration * _PAD * self.sr)) + 64
        stub = {role: np.zeros(n, np.float32) for role in arr.parts}
        params = sample_params(stub, self.sr, seed=production_seed, preset=self.production, max_cents=self.max_cents)
        y, _intervals, _labels, _beats, info = render_arrangement(
            arr, soundfont, sr=self.sr, params=params.to_dict(), renderer=self._renderer(soundfont)
        )
        notes = notes_from_midi(arr.midi(), time_scale=info["time_scale"])
        return y, notes, {"production": info["production"], "piece": info["arrangement"]}

    def _piece(self, source: str, s_arr: Any, rng: np.random.Generator) -> tuple[Any, float, dict]:
        """The ``(midi, duration, piece info)`` of a chorale or progression."""
        piece_seed = [int(v) for v in s_arr.generate_state(4)]
        if source == "progression":
            from dlmir.data.progressions import generate_progression

            piece = generate_progression(piece_seed, target_duration=self.piece_seconds)
            return piece.midi, piece.duration, {"seed": piece_seed}
        from dlmir.data.chorales import generate_chorale

        if self._chorales is None:
            self._chorales = _train_chorales()
        number = self._chorales[int(rng.integers(len(self._chorales)))]
        shift = int(rng.integers(-5, 7))
        max_beats = None if self.piece_seconds is None else max(4, int(self.piece_seconds))  # 60-96 BPM
        piece = generate_chorale(number, piece_seed, max_beats=max_beats)
        for inst in piece.midi.instruments:
            for note in inst.notes:
                note.pitch = int(np.clip(note.pitch + shift, 0, 127))
        return piece.midi, piece.duration, {"number": number, "transpose": shift, "seed": piece_seed}

    def render_piece(self, seed: list[int]) -> tuple[np.ndarray, NoteList, dict[str, Any]]:
        """Render the piece of ``seed``: ``audio (samples,)`` float32, its notes (seconds in the audio), info.

        Raises :class:`~dlmir.errors.AudioError` when a part renders silent in the drawn soundfont.
        """
        from dlmir.data.render_stream import draw_piece

        s_arr, rng, soundfont, production_seed, offset = draw_piece(seed, self.soundfonts, self.excerpt_samples)
        names = list(self.sources)
        weights = np.array([self.sources[k] for k in names])
        source = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        if source == "arrangement":
            y, notes, extra = self._arrangement(s_arr, soundfont, production_seed)
        else:
            midi, duration, piece = self._piece(source, s_arr, rng)
            y, record = self.render_midi(midi, soundfont, duration, production_seed=production_seed)
            notes = notes_from_midi(midi, time_scale=float(record["detune"]["time_scale"]))
            extra = {"production": record, "piece": piece}
        end = len(y) / self.sr
        notes = notes.clipped(0.0, end) if len(notes) else notes
        meta = {
            "seed": list(seed),
            "source": source,
            "soundfont": soundfont,
            "time_scale": float(extra["production"]["detune"]["time_scale"]),
            "offset": offset,
            "seconds": end,
            **extra,
        }
        return y, notes, meta

    def starts(self, n_samples: int, offset: int) -> list[int]:
        """First samples of the excerpts of a piece of ``n_samples`` samples cut from ``offset``."""
        out = self._cutter.starts(n_samples, offset)
        if self.max_excerpts_per_piece is not None:
            out = out[: self.max_excerpts_per_piece]
        return out

    def excerpt(self, y: np.ndarray, notes: NoteList, start: int) -> tuple[dict[str, np.ndarray], NoteList]:
        """The item of the excerpt of ``y`` (and its ``notes``) from sample ``start``, and the excerpt's notes
        (cut to it, seconds from its start). Notes sounding across the excerpt's edges are active in its frames
        but have no onset (offset) mark there."""
        t = self.excerpt_samples
        audio = np.zeros(t, dtype=np.float32)
        seg = y[start : start + t]
        audio[: len(seg)] = seg
        t0, t1 = start / self.sr, (start + t) / self.sr
        # the roll from the unclipped notes: one that began before the excerpt (or ends after it) gets no onset
        # (offset) mark at the excerpt's edge, only its active frames
        keep = (notes.onset < t1) & (notes.offset > t0)
        overlapping = NoteList(notes.onset[keep], notes.offset[keep], notes.pitch[keep], notes.velocity[keep])
        roll = piano_roll(
            overlapping.shifted(-t0),
            self.n_frames,
            self.frame_rate,
            min_pitch=self.min_pitch,
            n_pitches=self.n_pitches,
            onset_frames=self.onset_frames,
        )
        return {"audio": audio, **roll}, (overlapping.clipped(t0, t1) if len(overlapping) else overlapping)

    def __iter__(self) -> Iterator[Any]:
        from dlmir.data.render_stream import worker_piece_seeds

        for seed in worker_piece_seeds(self):
            try:
                y, notes, meta = self.render_piece(seed)
            except AudioError:
                self.skipped += 1
                continue
            for start in self.starts(len(y), meta["offset"]):
                item, inside = self.excerpt(y, notes, start)
                if self.return_info:
                    yield item, {**meta, "start": start, "notes": inside}
                else:
                    yield item

    def __repr__(self) -> str:
        return (
            f"NoteStream(soundfonts={self.soundfonts}, production={self.production!r}, max_cents={self.max_cents}, "
            f"seed={self.seed}, sources={self.sources}, excerpt_samples={self.excerpt_samples}, "
            f"hop_length={self.hop_length})"
        )


def collate(batch: list[Any]) -> Any:
    """Stack a list of :class:`NoteStream` items into tensors ``audio (batch, samples)``, ``frames``/``onsets``/
    ``offsets (batch, n_pitches, n_frames)``; items ``(item, info)`` (``return_info``) give ``(stacked, infos)``."""
    if batch and isinstance(batch[0], tuple):
        items, infos = zip(*batch, strict=True)
        return collate(list(items)), list(infos)
    return {k: torch.from_numpy(np.stack([b[k] for b in batch])) for k in batch[0]}
