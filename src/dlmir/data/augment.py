"""On-the-fly augmentations for chord/chroma training.

Feature domain (cheap, applied to each training batch):

- :func:`rotate` shifts CQT patches by whole semitones along the frequency axis and rotates the
  pitch-class targets to match. A shift of ``k`` bins is ``k * 12 / bins_per_octave`` semitones, so
  only multiples of ``bins_per_octave / 12`` bins are allowed. The CQT is rolled **with zero fill**
  at the edges (bins shifted past the top or bottom are dropped, the vacated bins are 0 = silence),
  not wrapped: wrapping would move the lowest octave into the highest. Pitch classes are cyclic,
  so the 12-d target and the chord root *are* rotated modulo 12.

Audio domain (need the features recomputed):

- :func:`add_noise` adds white (or given) noise at a chosen signal-to-noise ratio in dB;
- :func:`mp3_roundtrip` encodes to MP3 and decodes in memory (soundfile's bundled libsndfile),
  returning exactly as many samples as it was given.

How the audio-domain ones are applied: they are transforms on audio *before* the front end.
:func:`augment_audio` applies a list of them; the training command
(``dlmir train chroma --augment noise,codec``) computes, once per run, an augmented copy of each
training item's CQT (audio -> augmentation -> CQT) and trains on the original and augmented frames
together ("cached variants"); rotation is applied on the fly to every batch.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError

N_CLASSES_FULL = 157  # full vocabulary: index = root * 13 + quality, N = 156
N_CLASSES_MAJMIN = 25  # majmin: index = root * 2 + (0 maj | 1 min), N = 24


def semitones_to_bins(semitones: int, bins_per_octave: int) -> int:
    """Bins of a shift of ``semitones``; ``bins_per_octave`` must be a multiple of 12."""
    if bins_per_octave % 12:
        raise ParameterError(f"bins_per_octave must be a multiple of 12 for semitone shifts, got {bins_per_octave}")
    return int(semitones) * (bins_per_octave // 12)


def shift_bins(x: torch.Tensor, k: int | torch.Tensor, *, dim: int = -1) -> torch.Tensor:
    """Shift ``x`` by ``k`` bins along ``dim`` (up for ``k > 0``) with zero fill; ``k`` may be per item
    (a ``(batch,)`` tensor, item ``i`` of axis 0 shifted by ``k[i]``)."""
    n = x.shape[dim]
    ks = torch.as_tensor(k, device=x.device).reshape(-1)
    if ks.numel() == 1:
        ks = ks.expand(x.shape[0])
    idx = torch.arange(n, device=x.device)
    src = idx[None, :] - ks[:, None]  # (batch, n): output bin j reads input bin j - k
    valid = (src >= 0) & (src < n)
    src = src.clamp(0, n - 1)
    moved = x.movedim(dim, -1)
    shape = (x.shape[0],) + (1,) * (moved.ndim - 2) + (n,)
    gathered = torch.gather(moved, -1, src.reshape(shape).expand_as(moved))
    out = gathered * valid.reshape(shape).to(x.dtype)
    return out.movedim(-1, dim)


def rotate_class_index(
    index: torch.Tensor, semitones: torch.Tensor, *, n_classes: int = N_CLASSES_FULL
) -> torch.Tensor:
    """Transpose class indices of the agreed vocabularies (full 157 or majmin 25) by ``semitones``; N stays N."""
    per_root = {N_CLASSES_FULL: 13, N_CLASSES_MAJMIN: 2}.get(n_classes)
    if per_root is None:
        raise ParameterError(f"n_classes must be {N_CLASSES_FULL} or {N_CLASSES_MAJMIN} (majmin), not {n_classes}")
    index = torch.as_tensor(index)
    is_n = index == n_classes - 1
    root, quality = index // per_root, index % per_root
    rotated = ((root + semitones) % 12) * per_root + quality
    return torch.where(is_n, index, rotated)


def rotate(
    patches: torch.Tensor,
    templates: torch.Tensor,
    semitones: int | torch.Tensor,
    *,
    bins_per_octave: int = 24,
    index: torch.Tensor | None = None,
    n_classes: int = N_CLASSES_FULL,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Transpose CQT patches and their chord targets by whole ``semitones`` (per item or one for all).

    Parameters
    ----------
    patches : ``(batch, 1, frames, n_bins)`` CQT magnitude (or ``(batch, n_bins, frames)`` features:
        the bin axis is found as the one that is not 12 long... pass patches to be unambiguous).
    templates : ``(batch, 12)`` pitch-class targets, rolled (cyclically) by ``semitones``.
    semitones : int or ``(batch,)`` int tensor; positive shifts up.
    index : optional ``(batch,)`` class indices, transposed too (:func:`rotate_class_index`).

    Returns
    -------
    patches, templates, index (None when not given), rotated consistently.
    """
    batch = patches.shape[0]
    st = torch.as_tensor(semitones, device=patches.device).reshape(-1)
    if st.numel() == 1:
        st = st.expand(batch)
    step = semitones_to_bins(1, bins_per_octave)
    dim = -1 if patches.ndim == 4 else 1
    shifted = shift_bins(patches, st * step, dim=dim)
    pcs = torch.arange(12, device=templates.device)
    src = (pcs[None, :] - st.to(templates.device)[:, None]) % 12
    rolled = torch.gather(templates, 1, src)
    new_index = None if index is None else rotate_class_index(index, st.to(index.device), n_classes=n_classes)
    return shifted, rolled, new_index


def random_semitones(batch: int, max_semitones: int = 6, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(batch,)`` integer shifts uniform in ``[-max_semitones, max_semitones]``."""
    return torch.randint(-max_semitones, max_semitones + 1, (batch,), generator=generator)


def add_noise(y: np.ndarray, snr_db: float, *, noise: np.ndarray | None = None, seed: int | None = None) -> np.ndarray:
    """``y + g * noise`` with ``g`` chosen so that ``10 log10(P_y / P_noise) == snr_db``.

    ``y`` is audio ``(samples,)``; ``noise`` defaults to white Gaussian noise from ``seed``.
    Returns float32 ``(samples,)``.
    """
    y = np.asarray(y, dtype=np.float64)
    p_signal = float(np.mean(y**2))
    if p_signal == 0:
        raise AudioError("cannot add noise at an SNR to silent audio (signal power is 0)")
    if noise is None:
        noise = np.random.default_rng(seed).standard_normal(y.shape)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.shape != y.shape:
        raise ParameterError(f"noise shape {noise.shape} differs from the audio's {y.shape}")
    p_noise = float(np.mean(noise**2))
    gain = np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (y + gain * noise).astype(np.float32)


_STACK_MARGIN = 16 << 20  # bytes of stack beyond what libvorbis allocas, for the rest of the call chain
_STACK_LOCK = threading.Lock()


def _with_stack(nbytes: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a helper thread whose stack holds ``nbytes`` more than the margin; its result.

    libvorbis's encoder (``vorbis_analysis_wrote`` -> ``_preextrapolate_helper``) ``alloca()``s 4 bytes per frame
    of the first block written, and soundfile writes an array in one block: an Ogg Vorbis encode of more than
    about 2 M frames (95 s at 22.05 kHz) overflows the default 8 MiB main-thread stack and kills the process with
    SIGSEGV (a ``RenderStream`` worker rendering a long piece did). Writing in smaller blocks avoids it too but
    changes the encoded bits (the pre-extrapolation is fitted to the first block), hence to production records'
    replays; a big enough stack keeps the encode exactly as before.
    """
    size = max(_STACK_MARGIN + int(nbytes), threading.stack_size() or 0)
    size = -(-size // (1 << 20)) * (1 << 20)  # whole MiB (some platforms want page multiples)
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = exc

    with _STACK_LOCK:  # threading.stack_size is process-wide: set it only for this thread's creation
        old = threading.stack_size(size)
        try:
            thread = threading.Thread(target=run, name="dlmir-codec", daemon=True)
            thread.start()
        finally:
            threading.stack_size(old)
    thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def codec_roundtrip(y: np.ndarray, sr: int, *, format: str = "MP3", quality: float = 0.5) -> np.ndarray:
    """Encode ``y`` (``(samples,)``) with a lossy codec and decode it, in memory; returns float32 ``(samples,)``.

    ``format`` is ``"MP3"`` or ``"OGG"`` (Vorbis), both through soundfile's bundled libsndfile (>= 0.12 wheels).
    ``quality`` is libsndfile's ``compression_level`` in ``[0, 1)``: 0 is the highest bitrate, values near 1 the
    lowest (measured at 22050 Hz on noise: MP3 about 69 kbit/s at 0, 35 at 0.6, 25 at 0.95). The decoded signal
    is mixed to mono and cut or zero-padded to ``len(y)`` samples, so labels stay aligned.
    """
    import soundfile as sf

    codecs = {"MP3": {"format": "MP3"}, "OGG": {"format": "OGG", "subtype": "VORBIS"}}
    if format not in codecs:
        raise ParameterError(f"format must be one of {sorted(codecs)}, got {format!r}")
    if not 0.0 <= quality < 1.0:
        raise ParameterError(f"quality ({format} compression level) must be in [0, 1), got {quality}")
    if int(sr) <= 0:  # libsndfile's Vorbis encoder segfaults at sr=0 instead of failing
        raise ParameterError(f"sr must be a positive sample rate in Hz, got {sr}")
    buffer = io.BytesIO()
    y32 = np.asarray(y, dtype=np.float32)
    try:
        if format == "OGG":
            _with_stack(4 * y32.shape[0], sf.write, buffer, y32, int(sr), compression_level=quality, **codecs[format])
        else:
            sf.write(buffer, y32, int(sr), compression_level=quality, **codecs[format])
        buffer.seek(0)
        decoded, _ = sf.read(buffer, dtype="float32")
    except (sf.LibsndfileError, TypeError, RuntimeError) as exc:
        raise AudioError(f"{format} round trip failed at sr={sr} Hz ({exc}); MP3 needs sr in 8000..48000") from exc
    if decoded.ndim > 1:
        decoded = decoded.mean(axis=1)
    n = len(y)
    if len(decoded) < n:
        decoded = np.pad(decoded, (0, n - len(decoded)))
    return decoded[:n].astype(np.float32)


def mp3_roundtrip(y: np.ndarray, sr: int, *, quality: float = 0.5) -> np.ndarray:
    """MP3 encode + decode in memory: :func:`codec_roundtrip` with ``format="MP3"``."""
    return codec_roundtrip(y, sr, format="MP3", quality=quality)


AUDIO_AUGMENTATIONS = ("noise", "codec")


def augment_audio(
    y: np.ndarray,
    sr: int,
    kinds: list[str] | tuple[str, ...],
    *,
    snr_db: float = 20.0,
    quality: float = 0.7,
    seed: int | None = None,
) -> np.ndarray:
    """Apply the audio-domain augmentations named in ``kinds`` (``'noise'``, ``'codec'``) in order."""
    for kind in kinds:
        if kind == "noise":
            y = add_noise(y, snr_db, seed=seed)
        elif kind == "codec":
            y = mp3_roundtrip(y, sr, quality=quality)
        else:
            raise ParameterError(f"unknown audio augmentation {kind!r}; choose from {AUDIO_AUGMENTATIONS}")
    return y


__all__ = [
    "AUDIO_AUGMENTATIONS",
    "add_noise",
    "augment_audio",
    "codec_roundtrip",
    "mp3_roundtrip",
    "random_semitones",
    "rotate",
    "rotate_class_index",
    "semitones_to_bins",
    "shift_bins",
]
