"""Note transcription of audio: ``transcribe(y, sr) -> NoteList``, for the designed baseline or a learned model.

One path for every model::

    audio -> front end (blocks with overlap) -> activations (88 pitches x frames) -> notes (onset-gated decoding)

- **designed** (:func:`designed_transcriber`): :class:`~dlmir.transcription.salience.HarmonicSalience` (CQT ->
  log -> harmonic summation -> fundamental gate), then :func:`~dlmir.transcription.salience.salience_activations`
  (the salience over the recording's maximum, within ``relative_threshold`` of its frame's strongest pitch, local
  maxima over pitch) and :func:`~dlmir.transcription.decode.notes_from_activations` with onsets from the rise
  of the activation.
- **learned**: a module with the contract of ``dlmir.models.Transcriber``: ``model(x)`` maps its front end's
  output ``x`` (``dlmir.models.model_frontend(model)``: audio ``(batch, samples)`` -> ``(batch, features,
  frames)``) to ``dict(frames=logits, onsets=logits, offsets=logits)``, each ``(batch, 88, frames)``; the
  sigmoids of the logits are decoded with onsets (and offsets when present). ``"default"`` is the shipped
  ``load("transcriber")``; until one ships, it falls back to the designed baseline with a warning.

Long inputs run in blocks of ``block_seconds`` of audio with enough context each side that the frames equal one
call on the whole signal (:func:`dlmir.frontends.streaming.stream_context`); files are read block by block
(:func:`dlmir.frontends.streaming.stream_frames`). Only the activations of the whole recording are kept:
``3 x 88`` float32 per frame, 91 MB per hour at hop 256 / 22050 Hz (the designed baseline: 30 MB).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.data.notes import NoteList
from dlmir.errors import ParameterError
from dlmir.transcription.decode import notes_from_activations
from dlmir.transcription.salience import MIN_PITCH, N_PITCHES, HarmonicSalience, salience_activations

__all__ = [
    "DESIGNED_DEFAULTS",
    "shipped_transcriber_available",
    "LEARNED_DEFAULTS",
    "Activations",
    "NoteTranscriber",
    "designed_transcriber",
    "transcribe",
    "transcribe_file",
]

SHIPPED_NAME = "transcriber"
"""Key of the shipped learned transcriber in :data:`dlmir.models.io.SHIPPED`."""
DESIGNED_DEFAULTS: dict[str, float] = {
    "frame_threshold": 0.3,
    "onset_threshold": 0.15,
    "offset_threshold": 0.5,
    "relative_threshold": 0.5,
    "octave_ratio": 0.7,
    "median_frames": 9,
    "min_duration_s": 0.1,
}
"""Decoding thresholds of the designed baseline (activations relative to the recording's peak salience; chosen on
8 rendered pieces of random 1-4 note chords, TimGM6mb: frame accuracy 0.59, note F (onsets) 0.63; the median filter
over 9 frames added 0.01-0.02 to both there and on 12 held-out chorales and progressions)."""
LEARNED_DEFAULTS: dict[str, float] = {
    "frame_threshold": 0.5,
    "onset_threshold": 0.5,
    "offset_threshold": 0.5,
    "relative_threshold": 0.0,
    "octave_ratio": 0.0,
    "median_frames": 1,
    "min_duration_s": 0.05,
}
"""Decoding thresholds of a learned transcriber (probabilities)."""
LEVEL_DB = -12.0
"""RMS level (dBFS) a recording is brought to before a learned transcriber sees it: the produced training audio
sits near it (band renders: median -10.5 dBFS, chord renders -14.3)."""


@dataclass
class Activations:
    """Per-pitch activations of one recording, row ``i`` = MIDI ``21 + i``, frame ``k`` centred at ``k / frame_rate``.

    ``frames`` float32 ``(88, n_frames)`` in ``[0, 1]``; ``onsets``/``offsets`` the same or ``None`` (the designed
    baseline has none); ``salience`` the designed salience before thresholding (``None`` for a learned model);
    ``duration`` the audio's length in seconds.
    """

    frames: np.ndarray
    onsets: np.ndarray | None
    offsets: np.ndarray | None
    frame_rate: float
    duration: float
    salience: np.ndarray | None = None


class _LearnedHead(nn.Module):
    """The streaming head of a learned transcriber: sigmoids of frames, onsets (and offsets) stacked on axis -2."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.gain = 1.0  # level normalisation of the recording (see NoteTranscriber.level_db)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        param = next(self.model.parameters(), None)
        if param is not None and param.device != x.device:  # e.g. a model on CUDA after a CPU front end
            x = x.to(param.device)
        if self.gain != 1.0:  # the CQT magnitude is linear in the audio: same as scaling the recording
            x = x * self.gain
        out = self.model(x)
        if not isinstance(out, dict) or "frames" not in out:
            raise ParameterError(
                f"{type(self.model).__name__} must return dict(frames=..., onsets=..., offsets=...) logits, "
                f"got {type(out).__name__}"
            )
        parts = [out["frames"], out.get("onsets"), out.get("offsets")]
        shape = out["frames"].shape
        if shape[-2] != N_PITCHES:
            raise ParameterError(f"{type(self.model).__name__} gave {shape[-2]} pitch rows, expected {N_PITCHES}")
        missing = torch.full_like(out["frames"], -1.0, dtype=torch.float32)
        stacked = torch.cat([torch.sigmoid(p.float()) if p is not None else missing for p in parts], dim=-2)
        return stacked.to(x.device if param is None else torch.device("cpu"))

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        hook = getattr(self.model, "streaming_context", None)
        if callable(hook):
            left, right = hook(hop_length)
            return int(left), int(right)
        from dlmir.frontends.streaming import _cascade_context

        left, right, _ = _cascade_context(self.model, hop_length)
        return left, right


def shipped_transcriber_available() -> bool:
    """Whether this dlmir ships a learned transcriber (``load("transcriber")`` works)."""
    from dlmir.models.io import CONFIG_NAME, SHIPPED, shipped_model_dir

    return SHIPPED_NAME in SHIPPED and (shipped_model_dir(SHIPPED_NAME) / CONFIG_NAME).is_file()


def _load_model(model: Any) -> nn.Module | None:
    """The learned module for ``model`` (``None``: the designed baseline)."""
    if isinstance(model, HarmonicSalience):
        return None
    if isinstance(model, nn.Module):
        return model.eval()
    if isinstance(model, str) and model == "designed":
        return None
    if isinstance(model, str) and model in ("default", SHIPPED_NAME):
        from dlmir.models.io import load

        if not shipped_transcriber_available():
            warnings.warn(
                "no learned transcriber is shipped with this dlmir (models.SHIPPED['transcriber'] is missing or has "
                "no config.json); using the designed baseline (--model designed)",
                stacklevel=3,
            )
            return None
        return load(SHIPPED_NAME)
    if isinstance(model, (str, os.PathLike)):
        from dlmir.models.io import load

        if not Path(model).exists():
            raise ParameterError(f"model must be 'default', 'designed', a model folder or an nn.Module; {model!r} "
                                 "is none of them (no such folder)")  # fmt: skip
        return load(model).eval()
    raise ParameterError(f"model must be 'default', 'designed', a model folder or an nn.Module, got {model!r}")


class NoteTranscriber:
    """A loaded transcription model and its decoder, reused over many recordings (module docstring).

    Parameters
    ----------
    model : ``"default"`` (the shipped learned transcriber, else the designed baseline with a warning),
        ``"designed"``, a saved model folder, a loaded transcriber module, or a
        :class:`~dlmir.transcription.salience.HarmonicSalience` (a designed salience with other parameters).
    frame_threshold, onset_threshold, offset_threshold, min_duration_s : float or None
        Decoding (:func:`~dlmir.transcription.decode.notes_from_activations`); ``None``: the model kind's default
        (:data:`DESIGNED_DEFAULTS`, :data:`LEARNED_DEFAULTS`).
    relative_threshold, octave_ratio : float or None
        Designed baseline only (:func:`~dlmir.transcription.salience.salience_activations`): a pitch sounds only
        within ``relative_threshold`` of its frame's strongest salience, and not when it is weaker than
        ``octave_ratio`` times the pitch an octave or a twelfth below (its likely source); ``median_frames`` (odd)
        median-filters the activations over time.
    block_seconds : float or None
        Seconds of audio per block (memory is bounded by it); ``None``: one block.
    level_db : float or None
        Learned models only: each recording is scaled so its RMS level is ``level_db`` dBFS before the model sees
        it (:data:`LEVEL_DB`, about the level of the produced training audio; the learned model is not
        level-invariant: a real piano recording at -23 dBFS gave a ninth of the notes it gives at -12);
        ``None``: as recorded.

    Examples
    --------
    >>> import librosa
    >>> from dlmir.transcription import NoteTranscriber
    >>> y = librosa.tone(440.0, sr=22050, duration=1.0)
    >>> NoteTranscriber("designed").transcribe(y, 22050).pitch.tolist()
    [69]
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike[str] = "default",
        *,
        frame_threshold: float | None = None,
        onset_threshold: float | None = None,
        offset_threshold: float | None = None,
        min_duration_s: float | None = None,
        relative_threshold: float | None = None,
        octave_ratio: float | None = None,
        median_frames: int | None = None,
        block_seconds: float | None = 60.0,
        level_db: float | None = LEVEL_DB,
    ) -> None:
        self.model = _load_model(model)
        self.level_db = level_db
        if self.model is None:
            self.frontend = model if isinstance(model, HarmonicSalience) else HarmonicSalience()
            self.head: nn.Module | None = None
            defaults = DESIGNED_DEFAULTS
        else:
            from dlmir.models.io import model_frontend

            self.frontend = model_frontend(self.model)
            self.head = _LearnedHead(self.model)
            defaults = {**LEARNED_DEFAULTS, **(getattr(self.model, "config", {}).get("decode") or {})}  # tuned
        given = dict(frame_threshold=frame_threshold, onset_threshold=onset_threshold,
                     offset_threshold=offset_threshold, min_duration_s=min_duration_s,
                     relative_threshold=relative_threshold, octave_ratio=octave_ratio,
                     median_frames=median_frames)  # fmt: skip
        self.settings = {k: float(defaults[k] if v is None else v) for k, v in given.items()}
        if block_seconds is not None and not block_seconds > 0:
            raise ParameterError(f"block_seconds must be > 0 seconds (or None: one block), got {block_seconds}")
        self.block_seconds = block_seconds

    # -- properties ------------------------------------------------------------------------------------------
    @property
    def designed(self) -> bool:
        """Whether this is the designed baseline (no learned model)."""
        return self.model is None

    @property
    def name(self) -> str:
        return "designed" if self.model is None else type(self.model).__name__

    @property
    def sr(self) -> float:
        return float(self.frontend.config.get("sr", 22050))

    @property
    def hop_length(self) -> int:
        return int(self.frontend.config["hop_length"])

    @property
    def frame_rate(self) -> float:
        """Frames per second of the activations (``sr / hop_length`` of the front end)."""
        return self.sr / self.hop_length

    def __repr__(self) -> str:
        return f"NoteTranscriber({self.name}, {self.settings})"

    # -- activations -----------------------------------------------------------------------------------------
    def _streamable(self) -> bool:
        from dlmir.frontends.streaming import stream_context

        try:
            stream_context(self.frontend, head=self.head)
        except ParameterError:
            return False
        return True

    def _run_blocks(self, y: np.ndarray) -> np.ndarray:
        """The front end (and head) over ``y`` in blocks whose frames equal one call on the whole signal."""
        from dlmir.frontends.streaming import stream_context
        from dlmir.io import check_signal

        check_signal(torch.from_numpy(y), min_samples=self.frontend.min_samples)
        head = self.head if self._streamable() else None
        hop, n = self.hop_length, y.shape[0]
        left, right, align = stream_context(self.frontend, head=head)
        if self.block_seconds is None:
            core = n + align
        else:
            core = max(align, int(round(self.block_seconds * self.sr / align)) * align)
        pieces: list[np.ndarray] = []
        first = 0
        with torch.inference_mode():
            while True:
                last = first + core + right >= n
                start = max(0, first - left)
                if last:
                    start = max(0, min(start, ((n - self.frontend.min_samples) // align) * align))
                stop = n if last else first + core + right
                out = self.frontend(torch.from_numpy(np.ascontiguousarray(y[start:stop])))
                if head is not None:
                    out = head(out)
                lo = (first - start) // hop
                hi = out.shape[-1] if last else lo + core // hop
                pieces.append(out[0, :, lo:hi].float().cpu().numpy())
                if last:
                    break
                first += core
            out = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
            if self.head is not None and head is None:  # a model whose context is unknown: run it once
                out = self.head(torch.from_numpy(out)[None])[0].float().cpu().numpy()
        return out

    def _set_gain(self, mean_square: float) -> None:
        """Scale the learned head's input so a recording of this mean square (of samples) sits at ``level_db``."""
        if self.head is None:
            return
        gain = 1.0
        if self.level_db is not None and mean_square > 1e-12:
            gain = float(np.clip(10 ** (self.level_db / 20) / np.sqrt(mean_square), 1e-2, 1e3))
        self.head.gain = gain

    def _file_mean_square(self, path: str | os.PathLike[str]) -> float:
        """Mean square of a file's samples, read block by block (bounded memory)."""
        from dlmir.frontends.streaming import AudioStream

        total, n, block = 0.0, 0, 1 << 20
        with AudioStream(path, sr=self.sr) as stream:
            while n < stream.n_samples:
                y = stream.read(n, min(n + block, stream.n_samples)).astype(np.float64)
                total += float(np.sum(y * y))
                n += y.shape[0]
                if y.shape[0] == 0:
                    break
        return total / max(n, 1)

    def _run_file(self, path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
        from dlmir.frontends.streaming import AudioStream, stream_frames

        if self.head is not None and self.level_db is not None:
            self._set_gain(self._file_mean_square(path))
        head = self.head if self._streamable() else None
        with AudioStream(path, sr=self.sr) as stream:
            duration = stream.n_samples / self.sr
        blocks = [b for _, b in stream_frames(self.frontend, path, sr=self.sr, block_seconds=self.block_seconds,
                                              head=head)]  # fmt: skip
        out = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        del blocks
        if self.head is not None and head is None:
            with torch.inference_mode():
                out = self.head(torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))[None])[0].cpu().numpy()
        return np.asarray(out, dtype=np.float32), duration

    def _activations(self, out: np.ndarray, duration: float) -> Activations:
        if self.head is None:
            frames = salience_activations(out, relative_threshold=self.settings["relative_threshold"],
                                          octave_ratio=self.settings["octave_ratio"],
                                          median_frames=int(self.settings["median_frames"]))  # fmt: skip
            return Activations(frames, None, None, self.frame_rate, duration, salience=out)
        n = N_PITCHES
        frames, onsets, offsets = out[:n], out[n : 2 * n], out[2 * n : 3 * n]
        return Activations(
            frames,
            None if np.all(onsets < 0) else onsets,
            None if np.all(offsets < 0) else offsets,
            self.frame_rate,
            duration,
        )

    def activations(self, y: np.ndarray, sr: float) -> Activations:
        """:class:`Activations` of a mono signal ``y`` ``(samples,)`` at ``sr`` Hz (resampled to the model's rate)."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"expected one mono signal of shape (samples,), got {y.shape}")
        if float(sr) != self.sr:
            import librosa

            y = librosa.resample(y, orig_sr=float(sr), target_sr=self.sr)
        self._set_gain(float(np.mean(np.square(y, dtype=np.float64))) if y.size else 0.0)
        return self._activations(self._run_blocks(y), y.shape[0] / self.sr)

    def activations_file(self, path: str | os.PathLike[str]) -> Activations:
        """:class:`Activations` of an audio file, streamed from disk in blocks."""
        out, duration = self._run_file(path)
        return self._activations(out, duration)

    # -- notes -----------------------------------------------------------------------------------------------
    def decode(self, act: Activations) -> NoteList:
        """Notes of :class:`Activations` (:func:`~dlmir.transcription.decode.notes_from_activations`)."""
        s = self.settings
        return notes_from_activations(
            act.frames, act.onsets, act.offsets, act.frame_rate, frame_threshold=s["frame_threshold"],
            onset_threshold=s["onset_threshold"], offset_threshold=s["offset_threshold"],
            min_duration_s=s["min_duration_s"], min_pitch=MIN_PITCH,
        )  # fmt: skip

    def transcribe(self, y: np.ndarray, sr: float) -> NoteList:
        """Notes of a mono signal ``y`` ``(samples,)`` at ``sr`` Hz (times in seconds from its start)."""
        return self.decode(self.activations(y, sr))

    def transcribe_file(self, path: str | os.PathLike[str]) -> NoteList:
        """Notes of an audio file, streamed in bounded memory (same notes as :meth:`transcribe` on the loaded
        signal)."""
        return self.decode(self.activations_file(path))


def designed_transcriber(**kwargs: Any) -> NoteTranscriber:
    """The designed baseline: :class:`NoteTranscriber` ``("designed", **kwargs)`` (CQT -> log -> harmonic
    summation -> fundamental gate -> thresholds -> notes)."""
    return NoteTranscriber("designed", **kwargs)


def transcribe(
    y: np.ndarray,
    sr: float,
    *,
    model: nn.Module | str | os.PathLike[str] = "default",
    **kwargs: Any,
) -> NoteList:
    """Notes of a mono signal ``y`` ``(samples,)`` at ``sr`` Hz.

    ``model``: ``"default"`` (the shipped learned transcriber; the designed baseline, with a warning, until one
    ships), ``"designed"``, a model folder or a loaded module; ``kwargs`` go to :class:`NoteTranscriber`
    (thresholds, ``block_seconds``). Long signals run in blocks (bounded memory). To transcribe many
    signals, build one :class:`NoteTranscriber`.

    Returns
    -------
    :class:`~dlmir.data.notes.NoteList`: onset and offset (s), MIDI pitch (21-108), velocity (1-127).
    """
    return NoteTranscriber(model, **kwargs).transcribe(y, sr)


def transcribe_file(
    path: str | os.PathLike[str], *, model: nn.Module | str | os.PathLike[str] = "default", **kwargs: Any
) -> NoteList:
    """Notes of an audio file, read in blocks (see :func:`transcribe`)."""
    return NoteTranscriber(model, **kwargs).transcribe_file(path)
