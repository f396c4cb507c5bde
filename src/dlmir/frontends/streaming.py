"""Front ends over long recordings in bounded memory: overlapping blocks streamed from disk.

A front end's frame ``t`` depends only on the audio around sample ``t * hop_length`` (the STFT window, the
CQT's decimation filters and lowest-octave kernels, onset lag and alignment, a model's context frames) plus,
for the log-mel front ends with ``top_db``, one number taken over the whole signal: the loudest decibel value.
So a long file is processed in blocks of ``block_seconds`` of *core* audio, each read with enough context on
both sides (:func:`stream_context`) that the frames of its core equal those of one call on the whole signal;
the ``top_db`` floor is found by a first pass over the file. Memory is bounded by the block size, not the
file's length.

- :class:`AudioStream` reads a file in order as mono float32 at ``sr`` Hz, equal to :func:`dlmir.io.load`
  (soundfile blocks, channel mean, ``soxr.ResampleStream`` at ``soxr_hq``: bit-identical to librosa's
  one-shot ``soxr_hq`` resampling, measured on 44.1/48/32/16/8 kHz files).
- :func:`stream_frames` yields ``(start_frame, block)`` for any :class:`~dlmir.frontends.FrontEnd`, optionally
  followed by a frame-level model (``head``, e.g. :class:`~dlmir.models.chroma.LearnedChroma`).
- :func:`write_frames` writes the frames to a ``.npy`` in one sequential pass (:class:`NpyFrameWriter`).
- :func:`estimate_tuning_file` streams :func:`librosa.estimate_tuning` for ``Chroma(tuning=None)``.

The context rule per stage (in samples at ``sr``; contexts of the stages of a cascade add up):

==========================  ======================================================================
stage                       context (left, right)
==========================  ======================================================================
DFT (STFT, mel, MFCC, onset) ``(n_fft // 2, n_fft - n_fft // 2)`` centred; ``(0, n_fft)`` otherwise
MultirateFilterbank (CQT)   per octave ``o``: ``r_o + s_o * (n_fft_o // 2 + 1)`` on both sides, where
                            ``s_o`` is the octave's sample spacing and ``r_o`` the reach of the early
                            and half-band decimation FIRs above it (each: ``(taps - 1) / 2`` samples at
                            its own rate); the maximum over octaves
SpectralDifference (onset)  ``(lag * hop, 0)``
FrameAlign (onset)          ``(pad * hop, 0)``
Context (learned chroma)    ``(context * hop, context * hop)``
per-frame stages            0 (modulus, dense, dB, rectifiers, threshold, normalise, standardise, ...)
==========================  ======================================================================

Both sides are then rounded up to a whole number of hops plus one hop, and block boundaries fall on
multiples of ``hop_length`` and of the CQT's total decimation factor, so every block sees the same sample
phase as the whole signal. A stage dlmir does not know can declare its own context with a
``streaming_context(hop_length) -> (left, right)`` method (samples).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.io import check_signal
from dlmir.layers import (
    AmplitudeToDB,
    Cascade,
    Dense,
    FullWaveRectify,
    HalfWaveRectify,
    LogCompression,
    Modulus,
    Normalize,
    Sigmoid,
    Softmax,
    Tanh,
)

#: Seconds of core audio per block: about 60-250 MB of working memory for the default front ends.
DEFAULT_BLOCK_SECONDS = 60.0
_READ_FRAMES = 2**17  # file frames per soundfile read (1 MB of float32 stereo)


# -- audio ---------------------------------------------------------------------------------------------
class AudioStream:
    """Mono float32 audio at ``sr`` Hz read from a file in order; the samples equal :func:`dlmir.io.load`.

    Reads soundfile blocks, mixes channels to mono per block (their mean, as librosa), resamples with
    ``soxr.ResampleStream`` (quality ``soxr_hq``, librosa's default: bit-identical to the one-shot call), and
    pads or trims the end to ``ceil(frames * sr / file_sr)`` samples as librosa does. Only the samples from the
    last :meth:`read` start on are kept. Files soundfile cannot open are decoded whole by :func:`dlmir.io.load`
    (unbounded memory, same samples).

    Attributes
    ----------
    n_samples : int
        Length of the resampled mono signal in samples.
    file_sr : float
        The file's own sampling rate in Hz.
    """

    def __init__(self, path: str | os.PathLike[str], *, sr: float) -> None:
        import soundfile as sf

        self.path, self.sr = Path(path), float(sr)
        if not self.sr > 0:
            raise ParameterError(f"sr must be a positive sampling rate in Hz, got {sr}")
        if not self.path.exists():
            raise AudioError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise AudioError(f"{self.path}: is a directory, not an audio file")
        self._file = None
        self._resampler = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # sample index of self._buf[0]
        self._produced = 0  # samples produced so far (resampled)
        try:
            self._file = sf.SoundFile(self.path)
        except Exception:  # not a soundfile format: decode it whole (dlmir.io.load names the error)
            from dlmir.io import load

            self._buf, self.file_sr = load(self.path, sr=self.sr)
            self.n_samples = self._produced = int(self._buf.shape[0])
            return
        self.file_sr = float(self._file.samplerate)
        if self._file.frames == 0:
            self.close()
            raise AudioError(f"{self.path}: the file holds no audio samples")
        self.n_samples = int(math.ceil(self._file.frames * self.sr / self.file_sr))
        if self.file_sr != self.sr:
            import soxr

            self._resampler = soxr.ResampleStream(self.file_sr, self.sr, 1, dtype="float32", quality="soxr_hq")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pull(self) -> np.ndarray:
        """The next resampled mono samples (empty at the end)."""
        f = self._file
        if f is None:
            return np.zeros(0, dtype=np.float32)
        raw = f.read(_READ_FRAMES, dtype="float32", always_2d=True)
        last = f.tell() >= f.frames or raw.shape[0] == 0
        mono = _mixdown(raw)
        if not np.all(np.isfinite(mono)):
            raise AudioError(f"{self.path}: the audio contains NaN or infinite samples")
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(np.ascontiguousarray(mono), last=last)
        if last:
            self.close()
            want = self.n_samples - self._produced
            mono = np.pad(mono, (0, max(0, want - mono.shape[0])))[:want]  # librosa's fix_length
        self._produced += mono.shape[0]
        return mono.astype(np.float32, copy=False)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` (clipped to the signal), float32; ``start`` never goes back between calls."""
        stop = min(stop, self.n_samples)
        if start < self._buf_start:
            raise ParameterError(f"AudioStream reads forward only: sample {start} was already released")
        pieces, end = [self._buf], self._buf_start + self._buf.shape[0]
        while end < stop and (self._file is not None):
            chunk = self._pull()
            pieces.append(chunk)
            end += chunk.shape[0]
        buf = np.concatenate(pieces) if len(pieces) > 1 else self._buf
        self._buf = buf[start - self._buf_start :].copy() if start > self._buf_start else buf
        self._buf_start = max(start, self._buf_start)
        return self._buf[: stop - start].copy()


def _mixdown(raw: np.ndarray) -> np.ndarray:
    """Mono ``(frames,)`` of float32 ``raw`` ``(frames, channels)``: bit for bit ``np.mean(raw.T, axis=0)``, the
    mix-down of :func:`dlmir.io.load` (librosa's ``to_mono``), which streamed and one-shot loading must share.

    ``np.mean`` over the few contiguous channels of each frame adds them one by one from ``+0.0``, then divides
    by the count: the same sums column by column (vectorised over the frames, about 40x faster for stereo) give
    the same floats, ``+ 0.0`` turning an all ``-0.0`` sum into ``+0.0`` as the reduction does. From 8 channels
    numpy sums pairwise, so ``np.mean`` itself is used.
    """
    channels = raw.shape[1]
    if channels == 1:
        return raw[:, 0]
    if channels >= 8:
        return np.mean(raw.T, axis=0)
    mono = raw[:, 0] + raw[:, 1]
    for c in range(2, channels):
        mono += raw[:, c]
    mono += np.float32(0.0)
    mono /= np.float32(channels)
    return mono


# -- context ------------------------------------------------------------------------------------------
def _stage_context(stage: nn.Module, hop: int) -> tuple[int, int, int]:
    """``(left, right, align)`` in samples for one stage; ``align``: block starts must be multiples of it."""
    from dlmir.frontends.cqt import MultirateFilterbank
    from dlmir.frontends.onset import FrameAlign, SpectralDifference
    from dlmir.frontends.stft import DFT

    hook = getattr(stage, "streaming_context", None)
    if callable(hook):
        left, right = hook(hop)
        return int(left), int(right), 1
    if isinstance(stage, DFT):
        n = stage.n_fft
        return (n // 2, n - n // 2, stage.hop_length) if stage.center else (0, n, stage.hop_length)
    if isinstance(stage, MultirateFilterbank):
        spacing = stage.early_factor
        reach = 0 if stage.early_kernel is None else (stage.early_kernel.shape[-1] - 1) // 2
        half = (stage.half_kernel.shape[-1] - 1) // 2
        need = 0
        for n_fft, halve in zip(stage.n_fft, stage.decimate_after, strict=True):
            need = max(need, reach + spacing * (n_fft // 2 + 1))
            if halve:
                reach += spacing * half
                spacing *= 2
        return need, need, spacing
    if isinstance(stage, SpectralDifference):
        return stage.lag * hop, 0, 1
    if isinstance(stage, FrameAlign):
        return stage.pad * hop, 0, 1
    name = type(stage).__name__
    if name == "Context":  # dlmir.models.chroma.Context (not imported: models import front ends)
        return stage.context * hop, stage.context * hop, 1
    if isinstance(stage, Softmax) and stage.dim not in (-2, 1):
        pass  # a softmax over time needs every frame: unknown context
    elif isinstance(stage, _PER_FRAME) or name in _PER_FRAME_NAMES:
        return 0, 0, 1
    if isinstance(stage, Cascade):
        return _cascade_context(stage, hop)
    raise ParameterError(
        f"cannot stream stage {name}: dlmir does not know how many frames of context it needs; "
        "give it a streaming_context(hop_length) -> (left, right) method (samples), or run it on the whole signal"
    )


_PER_FRAME = (AmplitudeToDB, Dense, FullWaveRectify, HalfWaveRectify, LogCompression, Modulus, Normalize, Sigmoid)
_PER_FRAME += (Softmax, Tanh)
_PER_FRAME_NAMES = frozenset({"Threshold", "Standardize", "FeatureDropout", "SoftmaxTanh", "Identity"})


def _cascade_context(stages: nn.Module, hop: int) -> tuple[int, int, int]:
    modules = [m for _, m in stages] if isinstance(stages, Cascade) else [stages]
    left = right = 0
    align = 1
    for module in modules:
        lo, hi, al = _stage_context(module, hop)
        left, right, align = left + lo, right + hi, math.lcm(align, al)
    return left, right, align


def stream_context(fe: FrontEnd, *, head: nn.Module | None = None) -> tuple[int, int, int]:
    """``(left, right, align)`` in samples: the audio context each side of a block's core, and the alignment.

    ``left`` and ``right`` are whole numbers of hops, one hop more than the stages need (see the module's
    table); ``align`` is the multiple of ``hop_length`` (and of the CQT's total decimation factor) that block
    boundaries fall on. Raises :class:`ParameterError` for a stage whose context is unknown.
    """
    hop = fe.hop_length
    left, right, align = _cascade_context(fe, hop)
    if head is not None:
        lo, hi, al = _cascade_context(head, hop)
        left, right, align = left + lo, right + hi, math.lcm(align, al)
    align = math.lcm(align, hop)
    return (-(-left // hop) + 1) * hop, (-(-right // hop) + 1) * hop, align


# -- running ------------------------------------------------------------------------------------------
def _db_stages(fe: FrontEnd) -> list[tuple[str, AmplitudeToDB]]:
    return [(n, m) for n, m in fe if isinstance(m, AmplitudeToDB) and m.top_db is not None]


def _unclipped(stage: AmplitudeToDB) -> AmplitudeToDB:
    return AmplitudeToDB(kind=stage.kind, ref=stage.ref, amin=stage.amin, top_db=None)


def _run(
    fe: FrontEnd,
    y: np.ndarray,
    *,
    db: str | None = None,
    floor: torch.Tensor | None = None,
    until_db: bool = False,
) -> torch.Tensor:
    """The front end on one block ``(samples,)`` -> ``(features, frames)``; ``db`` names the ``top_db`` stage,
    run unclipped and then floored at ``floor`` (or, with ``until_db``, returned unclipped)."""
    x = torch.from_numpy(y)
    if db is None:
        out = fe(x)
    else:
        x = check_signal(x, min_samples=fe.min_samples)
        for name, stage in fe:
            if name == db:
                x = _unclipped(stage)(x)
                if until_db:
                    return x[0]
                x = torch.maximum(x, floor)
            else:
                x = stage(x)
        out = x
    if torch.is_complex(out):
        out = out.abs()
    return out[0]


def _blocks(
    fe: FrontEnd,
    stream_factory,
    *,
    block_seconds: float | None,
    head: nn.Module | None,
    run,
) -> Iterator[tuple[int, torch.Tensor]]:
    hop = fe.hop_length
    left, right, align = stream_context(fe, head=head)
    with stream_factory() as stream:
        n = stream.n_samples
        sr = stream.sr
        if block_seconds is None:
            core = n + align
        else:
            if not block_seconds > 0:
                raise ParameterError(
                    f"block_seconds must be > 0 seconds (or None: the whole file), got {block_seconds}"
                )
            core = max(align, int(round(block_seconds * sr / align)) * align)
        first = 0  # first core sample of this block (a multiple of align)
        while True:
            last = first + core + right >= n
            start = max(0, first - left)
            if last:  # the final block runs to the end; start early enough for one frame (min_samples)
                start = max(0, min(start, ((n - fe.min_samples) // align) * align))
            stop = n if last else first + core + right
            y = stream.read(start, stop)
            try:
                out = run(y)
            except AudioError as exc:
                raise AudioError(f"{stream.path}: {exc}") from exc
            if head is not None:
                out = head(out[None])[0]
            lo = (first - start) // hop
            hi = out.shape[-1] if last else lo + core // hop
            yield first // hop, out[..., lo:hi]
            if last:
                return
            first += core


def _fixed_tuning(fe: FrontEnd, path: str | os.PathLike[str], sr: float, block_seconds: float | None) -> FrontEnd:
    """``fe`` itself, or for a front end that estimates its tuning per signal (``config['tuning'] is None``),
    the same front end built with the tuning estimated on the whole file (:func:`estimate_tuning_file`)."""
    if "tuning" not in fe.config or fe.config["tuning"] is not None:
        return fe
    tuning = estimate_tuning_file(
        path, sr=sr, bins_per_octave=int(fe.config.get("bins_per_octave", 12)), block_seconds=block_seconds
    )
    params = {k: v for k, v in fe.config.items() if k != "frontend"}
    params["tuning"] = tuning
    return type(fe)(**params)


def stream_frames(
    fe: FrontEnd,
    path: str | os.PathLike[str],
    *,
    sr: float | None = None,
    block_seconds: float | None = DEFAULT_BLOCK_SECONDS,
    head: nn.Module | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Run ``fe`` (then ``head``) over an audio file block by block; yield ``(start_frame, block)``.

    Parameters
    ----------
    fe : a front end (from :func:`dlmir.frontends.frontend`, or any :class:`FrontEnd` whose stages have a
        known context, see the module docstring).
    path : audio file; read as :func:`dlmir.io.load` would (mono, resampled to ``sr``).
    sr : sampling rate in Hz; default the front end's ``sr`` (22050 for front ends without one, e.g. STFT).
    block_seconds : seconds of core audio per block; ``None`` processes the file in one block.
    head : optional frame-level model applied to each block's ``(1, features, frames)`` output, e.g. a
        :class:`~dlmir.models.chroma.LearnedChroma` on CQT frames (its ``context`` frames are added to the
        overlap).

    Yields
    ------
    ``(start_frame, block)``: ``block`` is numpy ``(features, frames)`` (magnitudes for complex front ends), the
    frames ``start_frame .. start_frame + frames - 1`` of the one-shot result; blocks follow each other without
    gaps or overlap. The values equal ``extract(fe, load(path, sr=sr)[0])`` up to float32 rounding
    (``tests/test_streaming.py`` checks 1e-5 relative), with two documented exceptions: MFCC/onset with
    ``top_db`` take a first pass to find the loudest value (so the file is decoded twice), and a front end
    with ``tuning=None`` gets its tuning from :func:`estimate_tuning_file` first.

    Raises
    ------
    AudioError : the file is missing, undecodable, empty, NaN, or shorter than one frame.
    ParameterError : a stage's context is unknown, or ``block_seconds`` is not positive.
    """
    sr = float(fe.config.get("sr", 22050) if sr is None else sr)
    fe = _fixed_tuning(fe, path, sr, block_seconds)

    def factory() -> AudioStream:
        return AudioStream(path, sr=sr)

    dbs = _db_stages(fe)
    if len(dbs) > 1:
        raise ParameterError(f"cannot stream a front end with {len(dbs)} top_db stages; run it on the whole signal")
    with torch.inference_mode():
        if not dbs:
            blocks = _blocks(fe, factory, block_seconds=block_seconds, head=head, run=lambda y: _run(fe, y))
        else:  # pass 1: the loudest dB value of the whole signal, then pass 2 with librosa's top_db floor
            name, stage = dbs[0]
            peak = None
            for _, block in _blocks(
                fe, factory, block_seconds=block_seconds, head=None, run=lambda y: _run(fe, y, db=name, until_db=True)
            ):
                if block.shape[-1]:
                    m = block.amax()
                    peak = m if peak is None else torch.maximum(peak, m)
            floor = peak - stage.top_db

            def run(y: np.ndarray) -> torch.Tensor:
                return _run(fe, y, db=name, floor=floor)

            blocks = _blocks(fe, factory, block_seconds=block_seconds, head=head, run=run)
        for start, block in blocks:
            yield start, block.cpu().numpy()


# -- writing ------------------------------------------------------------------------------------------
class NpyFrameWriter:
    """Write a ``(features, frames)`` ``.npy`` one block of frames at a time, in one sequential pass.

    The file is stored frame-major (``fortran_order=True`` in the ``.npy`` header), so each block's frames are
    appended as they come and neither the array nor a memory map of it is held in memory; the header, written
    with a fixed size of 128 bytes, gets the final shape on :meth:`close`. :func:`numpy.load` returns the same
    ``(features, frames)`` values (an F-contiguous array; ``np.ascontiguousarray`` makes it C-ordered).
    """

    _HEADER = 128

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._f = open(self.path, "wb")  # noqa: SIM115 -- closed in close()
        self._f.write(b"\0" * self._HEADER)
        self.n_features: int | None = None
        self.dtype: np.dtype | None = None
        self.n_frames = 0

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` ``(features, frames)``; every block has the same features and dtype."""
        if self.n_features is None:
            self.n_features, self.dtype = int(block.shape[0]), block.dtype
        if block.shape[0] != self.n_features or block.dtype != self.dtype:
            raise ParameterError(
                f"block of shape {block.shape} {block.dtype} does not continue ({self.n_features}, frames) {self.dtype}"
            )
        self._f.write(np.ascontiguousarray(block.T).tobytes())
        self.n_frames += int(block.shape[1])

    def close(self) -> Path:
        """Write the header with the final shape and close the file; returns its path."""
        dtype = self.dtype if self.dtype is not None else np.dtype(np.float32)
        shape = (self.n_features or 0, self.n_frames)
        text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": True, "shape": shape})
        size = self._HEADER - 10
        text = text.ljust(size - 1) + "\n"
        header = b"\x93NUMPY\x01\x00" + struct.pack("<H", size) + text.encode("latin1")
        if len(header) != self._HEADER:
            raise ParameterError(f"shape {shape} does not fit the .npy header")  # never for real shapes
        self._f.seek(0)
        self._f.write(header)
        self._f.close()
        return self.path


def write_frames(
    fe: FrontEnd,
    path: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    sr: float | None = None,
    block_seconds: float | None = DEFAULT_BLOCK_SECONDS,
    head: nn.Module | None = None,
) -> tuple[int, int]:
    """Stream ``fe`` (then ``head``) over ``path`` into the ``.npy`` file ``target``; returns its shape.

    Written under a temporary name in ``target``'s folder and renamed, so a failure leaves no partial file.
    Peak memory is bounded by ``block_seconds`` (see :func:`stream_frames`), not by the file's length.
    """
    target = Path(target)
    tmp = target.with_name(f".{target.stem}.part.npy")
    writer = NpyFrameWriter(tmp)
    try:
        for _, block in stream_frames(fe, path, sr=sr, block_seconds=block_seconds, head=head):
            writer.write(block)
        writer.close()
    except BaseException:
        writer._f.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return writer.n_features or 0, writer.n_frames


# -- tuning -------------------------------------------------------------------------------------------
_MAG_KEYS = 2**15  # magnitude histogram: the top 16 bits of a positive float32 (exponent, 7 mantissa bits)


def estimate_tuning_file(
    path: str | os.PathLike[str],
    *,
    sr: float = 22050,
    bins_per_octave: int = 12,
    resolution: float = 0.01,
    n_fft: int = 2048,
    block_seconds: float | None = DEFAULT_BLOCK_SECONDS,
) -> float:
    """:func:`librosa.estimate_tuning` of a whole file in bounded memory, in fractions of a bin.

    librosa's estimate: :func:`librosa.piptrack` on the ``n_fft``-point STFT magnitude (hop ``n_fft // 4``),
    keep the peaks at least as strong as the median peak, and take the mode of their deviations from the
    equal-tempered grid (a histogram at ``resolution``). Streamed: the STFT comes in exact blocks
    (:func:`stream_frames`), ``piptrack`` is per frame, and the peaks are counted in a joint histogram of
    (magnitude, deviation), so the whole file is analysed (no excerpt). The one approximation: the median is
    located to within one magnitude bin (0.8% wide), so peaks inside that bin count as above it.
    """
    import librosa

    from dlmir.frontends.stft import STFT

    n_res = int(np.ceil(1.0 / resolution))
    edges = np.linspace(-0.5, 0.5, n_res + 1)
    counts = np.zeros((_MAG_KEYS, n_res), dtype=np.int64)
    fe = STFT(n_fft=n_fft, hop_length=n_fft // 4)
    for _, S in stream_frames(fe, path, sr=sr, block_seconds=block_seconds):
        pitch, mag = librosa.piptrack(S=S, sr=sr, n_fft=n_fft)
        keep = pitch > 0
        freqs, mags = pitch[keep], mag[keep].astype(np.float32)
        if freqs.size == 0:
            continue
        residual = np.mod(bins_per_octave * librosa.hz_to_octs(freqs), 1.0)
        residual[residual >= 0.5] -= 1.0
        r_bin = np.clip(np.searchsorted(edges, residual, side="right") - 1, 0, n_res - 1)  # np.histogram's bins
        key = (np.abs(mags).view(np.uint32) >> 16).astype(np.int64)
        counts += np.bincount(key * n_res + r_bin, minlength=counts.size).reshape(counts.shape)
    per_key = counts.sum(axis=1)
    total = int(per_key.sum())
    if total == 0:
        return 0.0
    cum = np.cumsum(per_key)
    k_med = int(np.searchsorted(cum, (total + 1) // 2))  # the magnitude bin holding the median
    hist = counts[k_med:].sum(axis=0)
    if not hist.any():
        return 0.0
    return float(edges[int(np.argmax(hist))])


__all__ = [
    "DEFAULT_BLOCK_SECONDS",
    "AudioStream",
    "NpyFrameWriter",
    "estimate_tuning_file",
    "stream_context",
    "stream_frames",
    "write_frames",
]
