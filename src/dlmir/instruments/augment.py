"""Making rendered notes sound played and recorded: articulation, dynamics, pitch shift and production.

A rendered dataset note (:mod:`dlmir.data.instruments`) is a held, steady, peak-normalised note in a dry room.
:func:`vary_note` turns it into one a microphone might have picked up, with every random choice drawn from a seed
and returned as a JSON-serialisable record (the same seed gives the same audio):

1. **pitch shift** (``pitch`` in the augmentations): by resampling, up to ``max_semitones`` (default 3) and only
   within the instrument's range (:data:`~dlmir.data.instruments.INSTRUMENTS`), so a tuba is never shifted above
   its highest note; the formants move with it, as in a slightly different instrument;
2. **articulation** (``articulation``), one of: *plain* (as rendered), *vibrato* (frequency modulation of 4.5-7 Hz
   and 10-40 cents, starting 0.1-0.5 s into the note, as a pitch bend would make it: a modulated fractional
   delay), *tremolo* (amplitude modulation of 3-8 Hz, depth 10-35 %), *staccato* (the note released after
   0.12-0.45 s with a 40-150 ms exponential decay);
3. **dynamics** (``dynamics``): the note is brought to a level that depends on its dynamic (``pp`` -30..-18 dB,
   ``mf`` -16..-8 dB, ``ff`` -6..0 dB below full scale; the renders are peak-normalised, so a pp note was as loud
   as an ff one) and a noise floor of the recording chain is added at an absolute level (pink, -75..-55 dBFS,
   half the time): soft notes sit closer to the noise, as they do in a real recording;
4. **production** (``production``): :func:`dlmir.data.production.produce` with the ``realistic`` preset (or
   ``heavy``) on the note as one stem of role ``other``: microphone-like EQ (tilt and peaks), compression,
   sometimes chorus or amp distortion, a tuning offset of up to 50 cents, a simulated room (impulse response or
   reverb, RT60 0.2-2.5 s), mastering, hiss, noise, band limits and MP3/Ogg round trips, each with the preset's
   probability.

Legato (one note running into the next) and mixtures of instruments are made in the feature domain, per batch,
by the trainer (:mod:`dlmir.train.instruments`).

Audio is mono float32 ``(samples,)`` at ``sr`` Hz; the output has the input's length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlmir.errors import ParameterError

__all__ = ["NOTE_AUGMENTATIONS", "articulate", "pitch_shift", "set_dynamics", "vary_note"]

NOTE_AUGMENTATIONS = ("pitch", "articulation", "dynamics", "production")
"""Audio-domain variations :func:`vary_note` knows, applied in this order."""

ARTICULATIONS = ("plain", "vibrato", "tremolo", "staccato")
DYNAMIC_DB: dict[str, tuple[float, float]] = {"pp": (-30.0, -18.0), "mf": (-16.0, -8.0), "ff": (-6.0, 0.0)}
"""Peak level (dBFS) a note of each dynamic is brought to by :func:`set_dynamics`."""


def pitch_shift(y: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift ``y`` by ``semitones`` by resampling (pitch, formants and speed change together); the output is cut
    or zero-padded to ``len(y)``. Float32 ``(samples,)``."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if semitones == 0:
        return y.copy()
    ratio = 2.0 ** (semitones / 12.0)
    out = librosa.resample(y, orig_sr=float(sr) * ratio, target_sr=float(sr), res_type="soxr_hq")
    out = np.asarray(out, dtype=np.float32)[: len(y)]
    return np.pad(out, (0, len(y) - len(out))) if len(out) < len(y) else out


def _vibrato(y: np.ndarray, sr: int, *, rate_hz: float, cents: float, onset_s: float) -> np.ndarray:
    """Frequency modulation by a modulated delay: ``y(t - d(t))``, ``d' = -(2^(c/1200 sin) - 1)``, faded in."""
    n = len(y)
    t = np.arange(n) / sr
    ramp = np.clip((t - onset_s) / 0.3, 0.0, 1.0)
    ratio = 2.0 ** (cents * ramp * np.sin(2 * np.pi * rate_hz * t) / 1200.0)  # instantaneous frequency factor
    read = np.cumsum(ratio) - ratio[0]  # read position (samples) advancing at the modulated rate
    read = np.clip(read, 0, n - 1)
    return np.interp(read, np.arange(n), y).astype(np.float32)


def articulate(y: np.ndarray, sr: int, kind: str, params: dict[str, float]) -> np.ndarray:
    """Apply one articulation (``plain``, ``vibrato``, ``tremolo``, ``staccato``) with ``params`` (module
    docstring); float32 ``(samples,)`` of the input's length."""
    y = np.asarray(y, dtype=np.float32)
    if kind == "plain":
        return y.copy()
    if kind == "vibrato":
        return _vibrato(y, sr, rate_hz=params["rate_hz"], cents=params["cents"], onset_s=params["onset_s"])
    t = np.arange(len(y)) / sr
    if kind == "tremolo":
        gain = 1.0 - params["depth"] * 0.5 * (1.0 + np.sin(2 * np.pi * params["rate_hz"] * t))
        return (y * gain).astype(np.float32)
    if kind == "staccato":
        decay = np.exp(-np.maximum(t - params["length_s"], 0.0) / params["release_s"])
        return (y * decay).astype(np.float32)
    raise ParameterError(f"unknown articulation {kind!r}; choose from {ARTICULATIONS}")


def set_dynamics(y: np.ndarray, sr: int, dynamic: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Bring ``y`` to its dynamic's level (:data:`DYNAMIC_DB`) and, half the time, add a pink noise floor at
    -75..-55 dBFS RMS; returns the audio and the choices."""
    from dlmir.data.production import _noise_signal

    lo, hi = DYNAMIC_DB.get(dynamic, DYNAMIC_DB["mf"])
    level_db = float(rng.uniform(lo, hi))
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    out = y * (10.0 ** (level_db / 20.0) / peak) if peak > 0 else y.copy()
    record: dict[str, Any] = {"level_db": level_db, "floor_db": None}
    if rng.random() < 0.5:
        floor_db = float(rng.uniform(-75.0, -55.0))
        noise = _noise_signal(len(y), sr, "pink", np.random.default_rng(int(rng.integers(2**31))))
        noise = noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12) * 10.0 ** (floor_db / 20.0)
        out = out + noise
        record["floor_db"] = floor_db
    return np.asarray(out, dtype=np.float32), record


def vary_note(
    y: np.ndarray,
    sr: int,
    *,
    instrument: str,
    pitch: int,
    dynamic: str = "mf",
    seed: int | list[int] = 0,
    augment: tuple[str, ...] | list[str] = NOTE_AUGMENTATIONS,
    preset: str = "realistic",
    max_semitones: int = 3,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One played-and-recorded variation of a rendered note (module docstring).

    Parameters
    ----------
    y : the rendered note ``(samples,)`` at ``sr`` Hz.
    instrument, pitch, dynamic : its class (a key of :data:`~dlmir.data.instruments.INSTRUMENTS`), sounding MIDI
        pitch and dynamic (``pp``/``mf``/``ff``).
    seed : seed of every choice (an int or a list of ints, as :func:`numpy.random.default_rng` takes).
    augment : which of :data:`NOTE_AUGMENTATIONS` to apply.
    preset : production preset (``realistic`` or ``heavy``).
    max_semitones : largest pitch shift.

    Returns
    -------
    y : float32 ``(samples,)``, the input's length. record : the choices, with ``"pitch"`` the new sounding pitch.
    """
    from dlmir.data.instruments import INSTRUMENTS

    bad = [a for a in augment if a not in NOTE_AUGMENTATIONS]
    if bad:
        raise ParameterError(f"unknown note augmentation(s) {bad}; choose from {NOTE_AUGMENTATIONS}")
    if instrument not in INSTRUMENTS:
        raise ParameterError(f"unknown instrument {instrument!r}; choose from {', '.join(INSTRUMENTS)}")
    rng = np.random.default_rng(seed)
    inst = INSTRUMENTS[instrument]
    out = np.asarray(y, dtype=np.float32)
    record: dict[str, Any] = {"pitch": int(pitch), "shift": 0, "articulation": "plain"}
    if "pitch" in augment:
        lo, hi = max(-max_semitones, inst.low - pitch), min(max_semitones, inst.high - pitch)
        shift = int(rng.integers(lo, hi + 1)) if hi >= lo else 0
        out = pitch_shift(out, sr, shift)
        record.update(shift=shift, pitch=int(pitch) + shift)
    if "articulation" in augment:
        kind = ARTICULATIONS[int(rng.integers(len(ARTICULATIONS)))]
        params: dict[str, float] = {}
        if kind == "vibrato":
            params = {"rate_hz": rng.uniform(4.5, 7.0), "cents": rng.uniform(10.0, 40.0)}
            params["onset_s"] = rng.uniform(0.1, 0.5)
        elif kind == "tremolo":
            params = {"rate_hz": rng.uniform(3.0, 8.0), "depth": rng.uniform(0.1, 0.35)}
        elif kind == "staccato":
            params = {"length_s": rng.uniform(0.12, 0.45), "release_s": rng.uniform(0.04, 0.15)}
        params = {k: float(v) for k, v in params.items()}
        out = articulate(out, sr, kind, params)
        record.update(articulation=kind, articulation_params=params)
    if "dynamics" in augment:
        out, record["dynamics"] = set_dynamics(out, sr, dynamic, rng)
    if "production" in augment:
        from dlmir.data.production import produce

        prod_seed = int(rng.integers(2**31 - 1))
        out, params_record = produce({"other": out}, sr, seed=prod_seed, preset=preset)
        record["production"] = {"preset": preset, "seed": prod_seed, "room": params_record["room"] is not None,
                                "cents": params_record["detune"]["cents"]}  # fmt: skip
    out = np.nan_to_num(out).astype(np.float32)
    if not math.isfinite(float(np.max(np.abs(out)))):  # pragma: no cover - nan_to_num above
        raise ParameterError("a note variation produced non-finite audio")
    return out, record
