"""A small learned transcriber: frame, onset and offset activations of the 88 piano pitches from a CQT.

:class:`Transcriber` follows basic-pitch (Bittner et al., 2022) in its input and size and Onsets-and-Frames
(Hawthorne et al., 2018) in its heads:

- input: the magnitude CQT of :data:`TRANSCRIBER_CQT` (3 bins per semitone, 36 per octave, 300 bins from a third of
  a semitone below A0 = MIDI 21, so that bin ``3 k + 1`` is centred on MIDI ``21 + k``; 264 bins cover the piano,
  36 more one octave of headroom for the harmonics; hop 256 samples at 22050 Hz, ~86.1 frames per second), as the
  model's attached front end (``model.frontend``, :func:`dlmir.models.set_frontend`);
- ``log(1 + C x)`` and a batch norm, then **harmonic stacking**: for each harmonic ``h`` of :data:`HARMONICS` the
  log CQT shifted down by ``round(36 log2 h)`` bins (zero fill), so that channel ``h`` of pitch bin ``b`` holds the
  energy at ``h`` times that pitch's frequency: ``(batch, n_harmonics, frames, 264)``;
- a 3 x 3 convolution at 3 bins per semitone; a (3 x 5) convolution with stride 3 over pitch down to one bin per
  semitone (88); a (5 x 3) convolution over (time, pitch); each followed by batch norm and a rectifier;
- three heads: **frames** (a 1 x 1 convolution of the trunk), **onsets** (a (5 x 3) convolution over the
  semitone features of the second layer and the frame probabilities, then a (3 x 1) one) and **offsets** (the same
  over the trunk and the frame probabilities).

Outputs are logits ``(batch, 88, frames)`` for MIDI 21..108 (row ``k`` is MIDI ``21 + k``); :meth:`Transcriber.loss`
is a weighted binary cross-entropy over the three rolls (``pos_weight`` for the sparse onsets and offsets). About
40 thousand parameters; the receptive field is :attr:`Transcriber.receptive_halo` frames each side, so long inputs
run in chunks (:meth:`Transcriber.frame_probs`) with results equal to the one-shot call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlmir.errors import AudioError, ParameterError

__all__ = [
    "HARMONICS",
    "HEADS",
    "MIN_PITCH",
    "N_PITCHES",
    "TRANSCRIBER_CQT",
    "Transcriber",
    "harmonic_stack",
]

MIN_PITCH = 21
"""MIDI number of the lowest output row (A0)."""
N_PITCHES = 88
"""Output rows: MIDI 21 (A0) .. 108 (C8)."""
BINS_PER_SEMITONE = 3
HEADS = ("frames", "onsets", "offsets")
"""The model's outputs, in this order."""

HARMONICS: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
"""Harmonics stacked as input channels (basic-pitch's): the sub-octave, the fundamental and harmonics 2..7."""

TRANSCRIBER_CQT: dict[str, Any] = {
    "frontend": "CQT",
    "sr": 22050,
    "hop_length": 256,
    "fmin": float(librosa.midi_to_hz(MIN_PITCH - 1.0 / BINS_PER_SEMITONE)),
    "n_bins": 300,
    "bins_per_octave": 36,
}
"""The transcriber's CQT: 300 bins at 36 per octave from MIDI 20.67 (a third of a semitone below A0) to ~8.5 kHz,
hop 256 samples at 22050 Hz (86.13 frames per second), magnitude."""

DEFAULT_POS_WEIGHT: dict[str, float] = {"frames": 1.0, "onsets": 5.0, "offsets": 3.0}
DEFAULT_HEAD_WEIGHT: dict[str, float] = {"frames": 1.0, "onsets": 1.0, "offsets": 0.5}


def harmonic_stack(x: torch.Tensor, shifts: list[int] | tuple[int, ...], n_out: int) -> torch.Tensor:
    """Harmonic stacking of ``x`` ``(batch, frames, n_bins)``: ``(batch, len(shifts), frames, n_out)`` where channel
    ``i`` at bin ``b`` is ``x[..., b + shifts[i]]`` (zero where that bin lies outside ``x``)."""
    n_bins = x.shape[-1]
    out = x.new_zeros((x.shape[0], len(shifts), x.shape[1], n_out))
    for i, s in enumerate(shifts):
        lo, hi = max(0, -s), min(n_out, n_bins - s)  # output bins whose source b + s lies in [0, n_bins)
        if hi > lo:
            out[:, i, :, lo:hi] = x[..., lo + s : hi + s]
    return out


def _block(c_in: int, c_out: int, kernel: tuple[int, int], *, stride=(1, 1), padding=(0, 0)) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class Transcriber(nn.Module):
    """Frame, onset and offset activations of MIDI 21..108 from a CQT (see the module docstring).

    Parameters
    ----------
    n_bins, bins_per_octave, fmin : shape of the input CQT (default :data:`TRANSCRIBER_CQT`: 300 bins at 36 per
        octave from a third of a semitone below A0); ``bins_per_octave`` must be 36 and ``n_bins`` at least 264.
    harmonics : harmonics stacked as input channels (:data:`HARMONICS`).
    channels : output channels of the three trunk convolutions (full resolution, to semitones, over time).
    head_channels : hidden channels of the onset and offset heads.
    log_gain : ``C`` of the input compression ``log(1 + C x)``.
    pos_weight, head_weight : defaults of :meth:`loss` (per head: weight of the positive class, weight of the
        head in the sum).
    decode : the decoding thresholds this model was tuned for (keyword arguments of
        :func:`dlmir.transcription.decode.notes_from_activations`: ``frame_threshold``, ``onset_threshold``,
        ``offset_threshold``, ``min_duration_s``), which :class:`dlmir.transcription.NoteTranscriber` uses by
        default; ``None``: its defaults (0.5). :func:`dlmir.train.transcription.tune_decoding` chooses them.
    seed : seed of the random initialisation (``None``: the global generator).

    Input and output
    ----------------
    :meth:`forward`: CQT magnitude ``(batch, n_bins, frames)`` -> ``{"frames", "onsets", "offsets"}``, logits
    ``(batch, 88, frames)``. :meth:`frame_probs`: the same as probabilities (sigmoids), chunked in eval mode.
    :meth:`predict`: audio ``(samples,)`` at 22050 Hz -> numpy probabilities ``(88, 1 + samples // 256)`` per head.
    """

    def __init__(
        self,
        n_bins: int = 300,
        bins_per_octave: int = 36,
        *,
        fmin: float = TRANSCRIBER_CQT["fmin"],
        harmonics: tuple[float, ...] | list[float] = HARMONICS,
        channels: tuple[int, ...] | list[int] = (16, 32, 32),
        head_channels: int = 16,
        log_gain: float = 100.0,
        pos_weight: Mapping[str, float] | None = None,
        head_weight: Mapping[str, float] | None = None,
        decode: Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if bins_per_octave != 12 * BINS_PER_SEMITONE:
            raise ParameterError(f"the Transcriber reads 36 CQT bins per octave, got {bins_per_octave}")
        n_out = N_PITCHES * BINS_PER_SEMITONE
        if n_bins < n_out:
            raise ParameterError(f"n_bins must cover the 88 pitches at 3 bins each (>= {n_out}), got {n_bins}")
        harmonics = tuple(float(h) for h in harmonics)
        if not harmonics or min(harmonics) <= 0:
            raise ParameterError(f"harmonics must be > 0, got {harmonics}")
        channels = tuple(int(c) for c in channels)
        if len(channels) != 3 or min(channels) < 1:
            raise ParameterError(f"channels needs three entries >= 1 (the trunk's convolutions), got {channels}")
        if head_channels < 1 or not log_gain > 0:
            raise ParameterError(f"head_channels must be >= 1 and log_gain > 0, got {head_channels}, {log_gain}")
        pos = {**DEFAULT_POS_WEIGHT, **dict(pos_weight or {})}
        weight = {**DEFAULT_HEAD_WEIGHT, **dict(head_weight or {})}
        for d in (pos, weight):
            if set(d) != set(HEADS) or min(d.values()) < 0:
                raise ParameterError(f"per-head weights take the keys {HEADS} and values >= 0, got {d}")
        known = {"frame_threshold", "onset_threshold", "offset_threshold", "min_duration_s"}
        if decode is not None and not set(decode) <= known:
            raise ParameterError(f"decode takes {sorted(known)}, got {sorted(decode)}")
        self.shifts = [int(round(bins_per_octave * math.log2(h))) for h in harmonics]
        self.n_stack = n_out
        c1, c2, c3 = channels
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.input_norm = nn.BatchNorm2d(1)
            self.conv1 = _block(len(harmonics), c1, (3, 3), padding=(1, 1))
            # bins 3k-1 .. 3k+3 around bin 3k+1, the centre of MIDI 21+k: one output per semitone
            self.conv2 = _block(c1, c2, (3, 5), stride=(1, BINS_PER_SEMITONE), padding=(1, 1))
            self.conv3 = _block(c2, c3, (5, 3), padding=(2, 1))
            self.frame_head = nn.Conv2d(c3, 1, (1, 1))
            self.onset_hidden = _block(c2 + 1, head_channels, (5, 3), padding=(2, 1))
            self.onset_head = nn.Conv2d(head_channels, 1, (3, 1), padding=(1, 0))
            self.offset_hidden = _block(c3 + 1, head_channels, (5, 3), padding=(2, 1))
            self.offset_head = nn.Conv2d(head_channels, 1, (3, 1), padding=(1, 0))
        self.log_gain = float(log_gain)
        self.receptive_halo = 1 + 1 + 2 + 2 + 1  # frames each side: conv1, conv2, conv3, head hidden, head
        self.config: dict[str, Any] = {
            "model": "Transcriber",
            "n_bins": int(n_bins),
            "bins_per_octave": int(bins_per_octave),
            "fmin": float(fmin),
            "harmonics": list(harmonics),
            "channels": list(channels),
            "head_channels": int(head_channels),
            "log_gain": float(log_gain),
            "pos_weight": pos,
            "head_weight": weight,
            "decode": None if decode is None else {k: float(v) for k, v in decode.items()},
            "seed": seed,
        }
        from dlmir.models.io import set_frontend

        set_frontend(self, {**TRANSCRIBER_CQT, "n_bins": int(n_bins), "fmin": float(fmin)})

    # -- shapes -----------------------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        return int(self.config["n_bins"])

    @property
    def sr(self) -> float:
        """Sample rate of the input audio (Hz), from the front end."""
        return float(self.frontend_config["sr"])  # type: ignore[attr-defined]

    @property
    def hop_length(self) -> int:
        """Samples between frames."""
        return int(self.frontend_config["hop_length"])  # type: ignore[attr-defined]

    @property
    def frame_rate(self) -> float:
        """Frames per second (``sr / hop_length``)."""
        return self.sr / self.hop_length

    @property
    def pitches(self) -> np.ndarray:
        """MIDI numbers of the output rows ``(88,)``: 21..108."""
        return np.arange(MIN_PITCH, MIN_PITCH + N_PITCHES)

    def _check(self, cqt: torch.Tensor) -> torch.Tensor:
        if cqt.ndim == 2:
            cqt = cqt.unsqueeze(0)
        if cqt.ndim != 3 or cqt.shape[1] != self.n_bins:
            raise ParameterError(
                f"Transcriber expects a CQT magnitude of shape (batch, {self.n_bins}, frames); got {tuple(cqt.shape)}"
            )
        return cqt

    # -- the network ------------------------------------------------------------------------------------
    def _logits(self, cqt: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 3, frames, 88)`` (frames, onsets, offsets) of a CQT ``(batch, n_bins, frames)``."""
        x = torch.log1p(self.log_gain * cqt.transpose(1, 2).clamp_min(0))  # (batch, frames, n_bins)
        x = self.input_norm(x.unsqueeze(1)).squeeze(1)
        x = harmonic_stack(x, self.shifts, self.n_stack)  # (batch, harmonics, frames, 264)
        h2 = self.conv2(self.conv1(x))  # (batch, c2, frames, 88)
        h3 = self.conv3(h2)
        frames = self.frame_head(h3)  # (batch, 1, frames, 88)
        p = torch.sigmoid(frames)
        onsets = self.onset_head(self.onset_hidden(torch.cat([h2, p], dim=1)))
        offsets = self.offset_head(self.offset_hidden(torch.cat([h3, p], dim=1)))
        return torch.cat([frames, onsets, offsets], dim=1)

    def forward(self, cqt: torch.Tensor, *, chunk_frames: int | None = None) -> dict[str, torch.Tensor]:
        """CQT magnitude ``(batch, n_bins, frames)`` -> ``{"frames", "onsets", "offsets"}`` logits ``(batch, 88,
        frames)``. With ``chunk_frames`` (eval mode only), the network runs on chunks overlapping by
        :attr:`receptive_halo` frames; the result equals the one-shot call."""
        from dlmir.models.chords import _run_chunked

        cqt = self._check(cqt)
        fn = lambda c: self._logits(c).transpose(2, 3)  # noqa: E731  (batch, 3, 88, frames)
        out = _run_chunked(fn, cqt, self.receptive_halo, None if self.training else chunk_frames)
        return {name: out[:, i] for i, name in enumerate(HEADS)}

    def frame_probs(self, cqt: torch.Tensor, *, chunk_frames: int | None = 4096) -> dict[str, torch.Tensor]:
        """Probabilities ``(batch, 88, frames)`` of every head (sigmoids of :meth:`forward`) of a CQT
        ``(batch, n_bins, frames)``; in eval mode, inputs longer than ``chunk_frames`` run in chunks."""
        return {k: torch.sigmoid(v) for k, v in self.forward(cqt, chunk_frames=chunk_frames).items()}

    @torch.no_grad()
    def predict(self, audio: np.ndarray | torch.Tensor, *, chunk_frames: int | None = 4096) -> dict[str, np.ndarray]:
        """Activations of mono audio ``(samples,)`` at :attr:`sr`: ``{"frames", "onsets", "offsets"}``, float32
        probabilities ``(88, 1 + samples // hop_length)`` (row ``k`` = MIDI ``21 + k``; frame ``t`` centred at
        ``t * hop_length / sr`` seconds). The model runs in eval mode (restored afterwards)."""
        y = torch.as_tensor(np.asarray(audio, dtype=np.float32) if not torch.is_tensor(audio) else audio).float()
        if y.ndim != 1:
            raise AudioError(f"predict takes mono audio (samples,), got shape {tuple(y.shape)}")
        if y.numel() == 0:
            raise AudioError("predict got empty audio")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            cqt = self.frontend(y.unsqueeze(0)).to(device)  # type: ignore[attr-defined]
            probs = self.frame_probs(cqt, chunk_frames=chunk_frames)
        finally:
            self.train(was_training)
        return {k: v[0].float().cpu().numpy() for k, v in probs.items()}

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        """Audio context (samples) each side that exact block processing needs: :attr:`receptive_halo` hops each
        way (:mod:`dlmir.frontends.streaming`)."""
        return self.receptive_halo * int(hop_length), self.receptive_halo * int(hop_length)

    # -- training -----------------------------------------------------------------------------------------
    def loss(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        *,
        pos_weight: Mapping[str, float] | None = None,
        head_weight: Mapping[str, float] | None = None,
    ) -> torch.Tensor:
        """Weighted binary cross-entropy of the logits ``outputs[head]`` ``(batch, 88, frames)`` against the 0/1
        rolls ``targets[head]`` of the same shape: per head the mean over every cell, positives weighted by
        ``pos_weight[head]``, then the sum of the heads times ``head_weight[head]`` (defaults: the model's
        config)."""
        pos = {**self.config["pos_weight"], **dict(pos_weight or {})}
        weight = {**self.config["head_weight"], **dict(head_weight or {})}
        total = None
        for name in HEADS:
            if weight[name] == 0:
                continue
            logits = outputs[name].float()
            target = torch.as_tensor(targets[name], device=logits.device).float()
            if target.shape != logits.shape:
                raise ParameterError(f"{name}: target of shape {tuple(target.shape)}, logits {tuple(logits.shape)}")
            pw = torch.tensor(float(pos[name]), device=logits.device)
            term = weight[name] * F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw)
            total = term if total is None else total + term
        if total is None:
            raise ParameterError("every head has weight 0: nothing to train")
        return total
