"""Seeded production and degradation of rendered audio: what clean General-MIDI renders lack.

A clean FluidSynth render has no room, no mixing, no mastering, sits exactly on A440 and never passed
through a codec. Real recordings have all of these (``DESIGN.md``, "Realistic audio"). This module turns
rendered stems (or a rendered mix) into audio that has been *produced* and *degraded*, with every random
choice drawn from a seed and recorded in a JSON-serialisable dict, so an item's production can be written
into a dataset manifest and replayed bit for bit.

The chain, in order (:func:`produce`)::

    stems ──process_stem──> mix ──> detune ──> room ──> master ──> degrade ──> audio
    (per role: EQ, compression,       (cents)   (RIR or    (bus comp,  (clip, hiss, noise,
     amp + cab, chorus)                          Freeverb)  limiter)    band limit, MP3/OGG)

Every random stage (:func:`process_stem`, :func:`mix`, :func:`room`, :func:`master`, :func:`degrade`) has the
shape ``stage(y, sr, rng=None, *, preset=..., params=None) -> (y, params)``: called with a
:class:`numpy.random.Generator` (or an int seed) it draws its parameters from the preset's ranges; called
with ``params`` (a dict it returned before) it applies exactly those and draws nothing. :func:`detune` takes
its ``cents`` directly.

Audio is mono float32 ``(samples,)`` throughout (a ``(channels, samples)`` input is averaged to mono).
Levels are in dBFS (0 dB = full scale 1.0), frequencies in Hz, times in ms or seconds as named, tuning in
cents (100 cents = 1 semitone).

Presets (:data:`PRESETS`):

- ``"clean"``: identity. Stems are summed as given, nothing else is applied; the output is only rescaled
  if its peak exceeds 1.
- ``"realistic"``: what a mixed, mastered commercial or home recording looks like; each effect is applied
  with a probability, so some items stay close to clean.
- ``"heavy"``: the same effects with higher probabilities and harsher ranges (low-bitrate codecs,
  telephone band limits, SNR down to 10 dB, clipping).

Tuning changes timing: :func:`detune` resamples, so a recording detuned by ``c`` cents is also faster by
the factor ``r = 2 ** (c / 1200)``. The output is trimmed or zero-padded back to the input length, and the
returned ``time_scale = 1 / r`` is what label times must be multiplied by (``params["detune"]["time_scale"]``
in :func:`produce`'s record). At +-50 cents that is a 2.9 % change: 0.87 s over 30 s.

Speed, per 30 s of 22.05 kHz audio on the 2-core development CPU (shared, so upper estimates; 20 seeds):
``"realistic"`` median 0.30 s, mean 0.49 s from a mix, median 0.47 s / mean 0.60 s from four stems;
``"heavy"`` about 1.0 s / 1.3 s. The MP3/OGG round trip (about 0.3 s) is the largest single cost.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dlmir.data.augment import add_noise, codec_roundtrip, mp3_roundtrip
from dlmir.errors import AudioError, ParameterError

ROLES = ("drums", "bass", "comping", "lead", "other")
PRESET_NAMES = ("clean", "realistic", "heavy")
PARAMS_VERSION = 1
REFERENCE_RMS_DB = -20.0  # stems and mixes are brought to this RMS (dBFS) before level-dependent effects
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_RIR_MAX_ORDER = 6  # image-source order for early reflections; the late tail is synthesised (see rir())

# Probabilities (``p_*``) and ranges (``(low, high)``) per preset. Ranges are uniform unless noted log-uniform.
PRESETS: dict[str, dict[str, Any]] = {
    "clean": {},
    "realistic": {
        "tilt_db": (-6.0, 6.0),
        "n_peaks": (1, 2),
        "peak_gain_db": (-8.0, 6.0),
        "p_compressor": {"drums": 0.9, "bass": 0.8, "lead": 0.8, "comping": 0.6, "other": 0.5},
        "p_distortion": {"comping": 0.3, "lead": 0.3, "other": 0.1},
        "drive_db": (6.0, 30.0),
        "p_chorus": {"comping": 0.25, "other": 0.25},
        "mix_jitter_db": 3.0,
        "p_detune": 0.8,
        "cents": (-50.0, 50.0),
        "p_room": 0.85,
        "p_rir": 0.6,  # else Freeverb
        "rt60_s": (0.2, 2.5),  # log-uniform
        "wet": (0.2, 1.0),
        "p_master": 0.9,
        "limiter_drive_db": (0.0, 10.0),
        "p_clip": 0.1,
        "clip_db": (1.0, 4.0),
        "p_hiss": 0.15,
        "hiss_snr_db": (30.0, 50.0),
        "p_noise": 0.3,
        "noise_snr_db": (15.0, 40.0),
        "p_bandlimit": 0.2,
        "p_codec": 0.4,
        "codec_quality": (0.3, 0.95),
    },
    "heavy": {
        "tilt_db": (-9.0, 9.0),
        "n_peaks": (1, 2),
        "peak_gain_db": (-12.0, 9.0),
        "p_compressor": {"drums": 1.0, "bass": 1.0, "lead": 1.0, "comping": 0.9, "other": 0.8},
        "p_distortion": {"comping": 0.5, "lead": 0.5, "other": 0.2},
        "drive_db": (10.0, 36.0),
        "p_chorus": {"comping": 0.4, "other": 0.4},
        "mix_jitter_db": 6.0,
        "p_detune": 1.0,
        "cents": (-50.0, 50.0),
        "p_room": 1.0,
        "p_rir": 0.6,
        "rt60_s": (0.4, 2.5),
        "wet": (0.5, 1.0),
        "p_master": 1.0,
        "limiter_drive_db": (4.0, 14.0),
        "p_clip": 0.4,
        "clip_db": (2.0, 8.0),
        "p_hiss": 0.4,
        "hiss_snr_db": (20.0, 40.0),
        "p_noise": 0.7,
        "noise_snr_db": (10.0, 30.0),
        "p_bandlimit": 0.6,
        "p_codec": 0.8,
        "codec_quality": (0.6, 0.99),
    },
}

# Mix levels relative to the loudest role (dB, before jitter): the voice / lead is usually on top,
# drums and bass strong, accompaniment underneath.
ROLE_LEVEL_DB = {"lead": 0.0, "drums": -1.0, "bass": -2.0, "comping": -4.0, "other": -6.0}

_STAGES = ("stems", "mix", "detune", "room", "master", "degrade")


# --------------------------------------------------------------------------------------------------- helpers


def _pb():  # noqa: ANN202 - module object
    try:
        import pedalboard
    except ImportError as exc:  # pragma: no cover - a declared dependency
        from dlmir.errors import DependencyError

        raise DependencyError("dlmir.data.production needs pedalboard: pip install 'pedalboard>=0.9'") from exc
    return pedalboard


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _chance(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0


def _to_rms(y: np.ndarray, rms_db: float) -> np.ndarray:
    r = _rms(y)
    return y if r == 0.0 else (y * (10.0 ** (rms_db / 20.0) / r)).astype(np.float32)


def _mono(y: np.ndarray, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.mean(axis=0)
    if y.ndim != 1:
        raise ParameterError(f"{name} must be mono audio (samples,) or (channels, samples), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{name} contains NaN or infinite samples; check the render before producing it")
    return y.astype(np.float32, copy=False)


def _preset(preset: str) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ParameterError(f"unknown production preset {preset!r}; choose from {PRESET_NAMES}")
    return PRESETS[preset]


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def role_of(name: str) -> str:
    """The role of a stem named ``name``: the role itself (``"bass"``), or one prefixed by it
    (``"lead_vocal"``, ``"comping:2"``, ``"drums2"``); anything else is ``"other"``."""
    low = name.lower()
    for role in ROLES:
        if low == role or (low.startswith(role) and not low[len(role)].isalpha()):
            return role
    return "other"


# --------------------------------------------------------------------------------------------------- stems


def sample_stem_params(role: str, sr: int, rng: np.random.Generator, *, preset: str = "realistic") -> dict:
    """Draw one stem's processing (see :func:`process_stem`) from ``preset``'s ranges."""
    if role not in ROLES:
        raise ParameterError(f"unknown stem role {role!r}; choose from {ROLES}")
    cfg = _preset(preset)
    params: dict[str, Any] = {
        "role": role,
        "highpass_hz": None,
        "tilt_db": 0.0,
        "peaks": [],
        "compressor": None,
        "distortion": None,
        "chorus": None,
    }
    if not cfg:
        return params
    top = 0.45 * sr
    if role == "bass":
        params["highpass_hz"] = _u(rng, 25.0, 45.0)
    elif role != "drums" and _chance(rng, 0.5):
        params["highpass_hz"] = _u(rng, 60.0, 120.0)
    params["tilt_db"] = _u(rng, *cfg["tilt_db"])
    n_peaks = int(rng.integers(cfg["n_peaks"][0], cfg["n_peaks"][1] + 1))
    params["peaks"] = [
        {"hz": _logu(rng, 80.0, min(10000.0, top)), "gain_db": _u(rng, *cfg["peak_gain_db"]), "q": _logu(rng, 0.5, 4.0)}
        for _ in range(n_peaks)
    ]
    if _chance(rng, cfg["p_compressor"].get(role, 0.0)):
        params["compressor"] = {
            "threshold_db": _u(rng, REFERENCE_RMS_DB - 8.0, REFERENCE_RMS_DB + 8.0),
            "ratio": _u(rng, 2.0, 8.0),
            "attack_ms": _logu(rng, 1.0, 30.0),
            "release_ms": _u(rng, 50.0, 300.0),
        }
    if _chance(rng, cfg["p_distortion"].get(role, 0.0)):
        params["distortion"] = {
            "drive_db": _u(rng, *cfg["drive_db"]),
            "cab_highpass_hz": _u(rng, 70.0, 120.0),
            "cab_lowpass_hz": min(_u(rng, 3000.0, 6000.0), top),
        }
    if _chance(rng, cfg["p_chorus"].get(role, 0.0)):
        params["chorus"] = {
            "rate_hz": _u(rng, 0.2, 1.5),
            "depth": _u(rng, 0.1, 0.4),
            "centre_delay_ms": _u(rng, 5.0, 12.0),
            "feedback": _u(rng, 0.0, 0.2),
            "mix": _u(rng, 0.3, 0.6),
        }
    return params


def apply_stem_params(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """Apply recorded stem processing; level-neutral (output RMS = input RMS)."""
    y = _mono(y)
    keys = ("highpass_hz", "tilt_db", "peaks", "compressor", "distortion", "chorus")
    if not any(params[k] for k in keys) or _rms(y) == 0.0:
        return y
    pb = _pb()
    board = []
    if params["highpass_hz"]:
        board.append(pb.HighpassFilter(cutoff_frequency_hz=params["highpass_hz"]))
    if params["tilt_db"]:
        board.append(pb.LowShelfFilter(cutoff_frequency_hz=300.0, gain_db=-params["tilt_db"] / 2))
        board.append(pb.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=params["tilt_db"] / 2))
    for peak in params["peaks"]:
        board.append(pb.PeakFilter(cutoff_frequency_hz=peak["hz"], gain_db=peak["gain_db"], q=peak["q"]))
    if params["compressor"]:
        board.append(pb.Compressor(**params["compressor"]))
    if params["distortion"]:
        d = params["distortion"]
        board.append(pb.Distortion(drive_db=d["drive_db"]))
        board.append(pb.HighpassFilter(cutoff_frequency_hz=d["cab_highpass_hz"]))
        board.append(pb.LowpassFilter(cutoff_frequency_hz=d["cab_lowpass_hz"]))
    if params["chorus"]:
        board.append(pb.Chorus(**params["chorus"]))
    level = 20.0 * math.log10(_rms(y))
    out = pb.Pedalboard(board)(_to_rms(y, REFERENCE_RMS_DB), sr)
    return _to_rms(np.asarray(out, dtype=np.float32), level)


def process_stem(
    y: np.ndarray,
    sr: int,
    role: str,
    rng: np.random.Generator | int | None = None,
    *,
    preset: str = "realistic",
    params: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Mix-engineer one stem before the mix: EQ, compression, amp and cabinet, chorus.

    Parameters
    ----------
    y : ``(samples,)`` audio of one part.
    sr : sample rate in Hz.
    role : ``"drums" | "bass" | "comping" | "lead" | "other"``. Bass gets a 25-45 Hz high-pass; other
        non-drum roles a 60-120 Hz low cut half the time. Compression is most likely on drums, bass and lead;
        amp distortion (``drive_db`` 6-30 dB, then a "cabinet": high-pass 70-120 Hz, low-pass 3-6 kHz) on
        ``comping``/``lead`` (guitar-like parts, p=0.3) and rarely ``other``; chorus on pads (``comping`` /
        ``other``, p=0.25).
    rng : a Generator or int seed to draw parameters from (ignored when ``params`` is given).
    preset : see :data:`PRESETS`.
    params : a dict this function returned before, to replay it exactly.

    EQ: a tilt of ``tilt_db`` (low shelf at 300 Hz by ``-tilt/2`` dB, high shelf at 3 kHz by ``+tilt/2``)
    and 1-2 peaking bands (80 Hz-10 kHz log-uniform, -8..+6 dB, Q 0.5-4). The compressor works on the stem
    brought to -20 dBFS RMS, threshold -28..-12 dBFS, ratio 2-8, attack 1-30 ms, release 50-300 ms.

    Returns
    -------
    y : float32 ``(samples,)``, the same RMS as the input.
    params : the JSON-serialisable choices.
    """
    if params is None:
        params = sample_stem_params(role, sr, _rng(rng), preset=preset)
    return apply_stem_params(y, sr, params), params


# --------------------------------------------------------------------------------------------------- mix


def sample_mix_params(names: list[str], rng: np.random.Generator, *, preset: str = "realistic") -> dict:
    """Draw the mix levels (see :func:`mix`) for stems called ``names``."""
    cfg = _preset(preset)
    if not cfg:
        return {"normalize": False, "gains_db": {name: 0.0 for name in sorted(names)}}
    jitter = cfg["mix_jitter_db"]
    gains = {name: ROLE_LEVEL_DB[role_of(name)] + _u(rng, -jitter, jitter) for name in sorted(names)}
    return {"normalize": True, "gains_db": gains}


def mix(
    stems: dict[str, np.ndarray],
    sr: int,
    rng: np.random.Generator | int | None = None,
    *,
    preset: str = "realistic",
    params: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Sum stems at per-role levels into one mono track.

    ``stems`` maps names to ``(samples,)`` audio; a name's role comes from :func:`role_of`. Stems of unequal
    length are zero-padded to the longest. With a realistic/heavy preset each (non-silent) stem is brought to
    the same RMS, then given ``ROLE_LEVEL_DB[role]`` plus a uniform jitter of +-3 dB (heavy +-6), and the
    sum is brought to -20 dBFS RMS. With ``"clean"`` stems are summed as given (gains 0 dB).

    Returns float32 ``(samples,)`` and ``{"normalize": bool, "gains_db": {name: dB}}``.
    """
    if not stems:
        raise ParameterError("mix() needs at least one stem")
    arrays = {name: _mono(y, f"stem {name!r}") for name, y in stems.items()}
    n = max(len(y) for y in arrays.values())
    if params is None:
        params = sample_mix_params(list(arrays), _rng(rng), preset=preset)
    if set(params["gains_db"]) != set(arrays):
        raise ParameterError(f"mix params name stems {sorted(params['gains_db'])}, but got stems {sorted(arrays)}")
    out = np.zeros(n, dtype=np.float64)
    for name in sorted(arrays):
        y = arrays[name]
        if params["normalize"]:
            y = _to_rms(y, REFERENCE_RMS_DB)
        out[: len(y)] += y * 10.0 ** (params["gains_db"][name] / 20.0)
    out = out.astype(np.float32)
    return (_to_rms(out, REFERENCE_RMS_DB) if params["normalize"] else out), params


# --------------------------------------------------------------------------------------------------- tuning


def detune(y: np.ndarray, sr: int, cents: float) -> tuple[np.ndarray, float]:
    """Shift the whole recording by ``cents`` by resampling (a tape-speed / off-A440 tuning offset).

    Playing ``y`` faster by ``r = 2 ** (cents / 1200)`` raises every frequency by ``cents`` and shortens
    every duration by ``1 / r``. The result is trimmed (``cents < 0``) or zero-padded at the end
    (``cents > 0``) back to ``len(y)`` samples.

    Returns
    -------
    y : float32 ``(samples,)``, same length as the input.
    time_scale : ``1 / r``; an event at ``t`` seconds in the input is at ``t * time_scale`` in the output, so
        multiply label times by it (labels past the end are cut). 1.0 when ``cents == 0``.
    """
    import soxr

    y = _mono(y)
    if cents == 0:
        return y, 1.0
    if not -1200.0 < cents < 1200.0:
        raise ParameterError(f"cents must be within +-1200 (one octave), got {cents}")
    ratio = 2.0 ** (cents / 1200.0)
    out = soxr.resample(y, sr * ratio, sr, quality="HQ").astype(np.float32)
    n = len(y)
    out = np.pad(out, (0, n - len(out))) if len(out) < n else out[:n]
    return out, 1.0 / ratio


# --------------------------------------------------------------------------------------------------- room


def _rir_geometry(rt60: float, rng: np.random.Generator) -> dict:
    """Room dimensions that can reach ``rt60`` with absorption < 1, plus source and mic positions (m)."""
    import pyroomacoustics as pra

    length = _u(rng, 3.0, 8.0) * (1.0 + rt60)
    width = length * _u(rng, 0.5, 0.9)
    height = _u(rng, 2.5, 4.0) + rt60 * _u(rng, 0.0, 3.0)
    dims = [length, width, height]
    for _ in range(50):  # a short RT60 in a big room needs absorption > 1: shrink the room until it fits
        if pra.inverse_sabine(rt60, dims)[0] < 0.95:
            break
        dims = [d * 0.85 for d in dims]
    dims = [max(d, 2.0) for d in dims]

    def point(z_lo: float, z_hi: float) -> list[float]:
        m = 0.5
        return [_u(rng, m, dims[0] - m), _u(rng, m, dims[1] - m), _u(rng, z_lo, min(z_hi, dims[2] - m))]

    for _ in range(100):
        source, mic = point(1.0, 2.0), point(1.0, 2.0)
        if 0.8 <= math.dist(source, mic) <= 8.0:
            break
    return {"dims_m": dims, "source_m": source, "mic_m": mic}


def _rir_lead() -> int:
    import pyroomacoustics as pra

    return int(pra.constants.get("frac_delay_length")) // 2


@functools.lru_cache(maxsize=32)
def _rir_cached(sr: int, key: str) -> np.ndarray:
    p = json.loads(key)
    return _compute_rir(sr, p)


def _compute_rir(sr: int, p: dict) -> np.ndarray:
    import pyroomacoustics as pra
    from scipy import signal

    dims, rt60 = p["dims_m"], p["rt60_s"]
    absorption = min(pra.inverse_sabine(rt60, dims)[0], 0.99)
    room = pra.ShoeBox(dims, fs=sr, materials=pra.Material(absorption), max_order=_RIR_MAX_ORDER, air_absorption=False)
    room.add_source(p["source_m"])
    room.add_microphone(p["mic_m"])
    room.compute_rir()
    early = np.asarray(room.rir[0][0], dtype=np.float64)
    c = float(pra.constants.get("c"))
    distance = math.dist(p["source_m"], p["mic_m"])
    half = _rir_lead()
    direct = int(round(distance / c * sr)) + half  # sample of the direct sound in pyroomacoustics' RIR
    free = pra.ShoeBox(dims, fs=sr, materials=pra.Material(absorption), max_order=0, air_absorption=False)
    free.add_source(p["source_m"])
    free.add_microphone(p["mic_m"])
    free.compute_rir()
    direct_energy = float(np.sum(np.square(free.rir[0][0], dtype=np.float64)))
    early = early[direct - half :] / math.sqrt(direct_energy)  # direct sound at tap ``half``, energy 1

    # Late tail: exponentially decaying noise in 4 bands, high bands decaying faster (air, soft furnishings).
    # The image sources of order <= N include every reflection up to about N * (smallest dimension) / c;
    # the tail's gain is fitted to the early part's energy over the second half of that time, and the early
    # part is cross-faded into the tail over it (an energy-continuous hybrid, as in ISM + stochastic tails).
    t_complete = max(_RIR_MAX_ORDER * min(dims) / c - distance / c, 0.02)  # seconds after the direct sound
    n_tail = int(max(1.1 * rt60, 1.5 * t_complete) * sr)
    t = np.arange(n_tail) / sr  # time after the direct sound
    noise = np.random.default_rng(p["tail_seed"]).standard_normal(n_tail)
    edges = [500.0, 2000.0, 6000.0]
    factors = [1.15, 1.0, 1.0 - 0.5 * p["hf_damping"], 1.0 - p["hf_damping"]]
    tail = np.zeros(n_tail)
    for band, factor in enumerate(factors):
        lo = edges[band - 1] if band else None
        hi = edges[band] if band < len(edges) else None
        if lo is not None and lo >= 0.45 * sr:
            continue
        if hi is not None and hi >= 0.45 * sr:
            hi = None
        if lo is None:
            sos = signal.butter(4, hi, "lowpass", fs=sr, output="sos")
        elif hi is None:
            sos = signal.butter(4, lo, "highpass", fs=sr, output="sos")
        else:
            sos = signal.butter(4, [lo, hi], "bandpass", fs=sr, output="sos")
        tail += signal.sosfilt(sos, noise) * np.exp(-6.9078 * t / (rt60 * max(factor, 0.2)))
    early_t = np.zeros(n_tail)  # the early part on the tail's time axis (direct sound at t = 0)
    m = min(n_tail, len(early) - half)
    early_t[:m] = early[half : half + m]
    window = (t >= t_complete / 2) & (t < t_complete)
    gain = math.sqrt(float(np.sum(early_t[window] ** 2)) / max(float(np.sum(tail[window] ** 2)), 1e-30))
    fade = np.clip((t - t_complete / 2) / (t_complete / 2), 0.0, 1.0)
    w_early = np.cos(0.5 * np.pi * fade) ** 2
    rir = np.zeros(half + n_tail)
    rir[:half] = early[:half]  # the fractional-delay filter's lead-in before the direct sound
    rir[half:] = w_early * early_t + (1.0 - w_early) * gain * tail
    return rir.astype(np.float32)


def rir(sr: int, params: dict) -> np.ndarray:
    """The room impulse response ``(taps,)`` that :func:`room` convolves with (for ``params["kind"] == "rir"``).

    A hybrid: pyroomacoustics' image-source method (shoebox ``dims_m``, source ``source_m`` and mic ``mic_m``
    in metres, uniform wall absorption from Sabine's formula for ``rt60_s``, reflection order 6) gives the
    direct sound and early reflections; a seeded (``tail_seed``) noise tail decaying by 60 dB in ``rt60_s``
    seconds (faster above 2 kHz by ``hf_damping``) gives the late reverberation, which the image-source
    method would need thousands of image sources to reach. The tail takes over (energy-matched cross-fade)
    where order-6 images stop being complete, 6 x the smallest room dimension / c after emission. The direct
    sound is at tap 40 with unit energy (40 taps of pyroomacoustics' fractional-delay filter precede it).
    The decay in the 0.5-2 kHz band matches ``rt60_s`` within about 5 % (Schroeder T20). The last 32 rooms
    are cached. Returns float32 ``(taps,)``, about ``1.1 * rt60_s * sr`` taps.
    """
    keys = ("dims_m", "source_m", "mic_m", "rt60_s", "hf_damping", "tail_seed")
    return _rir_cached(int(sr), json.dumps({k: params[k] for k in keys}, sort_keys=True)).copy()


def sample_room_params(sr: int, rng: np.random.Generator, *, preset: str = "realistic") -> dict | None:
    """Draw a room (see :func:`room`), or ``None`` (dry) with probability ``1 - p_room``."""
    cfg = _preset(preset)
    if not cfg or not _chance(rng, cfg["p_room"]):
        return None
    wet = _u(rng, *cfg["wet"])
    if _chance(rng, cfg["p_rir"]):
        rt60 = _logu(rng, *cfg["rt60_s"])
        return {
            "kind": "rir",
            "rt60_s": rt60,
            **_rir_geometry(rt60, rng),
            "hf_damping": _u(rng, 0.2, 0.7),
            "tail_seed": _seed(rng),
            "wet": wet,
        }
    return {
        "kind": "freeverb",
        "room_size": _u(rng, 0.1, 0.95),
        "damping": _u(rng, 0.2, 0.8),
        "wet_level": _u(rng, 0.1, 0.5),
        "dry_level": _u(rng, 0.5, 1.0),
    }


def apply_room_params(y: np.ndarray, sr: int, params: dict | None) -> np.ndarray:
    """Apply a recorded room; level-neutral (output RMS = input RMS), direct sound time-aligned with the input."""
    y = _mono(y)
    if params is None or _rms(y) == 0.0:
        return y
    if params["kind"] == "rir":
        from scipy.signal import fftconvolve

        h = rir(sr, params)
        half = _rir_lead()  # the direct sound's tap: the wet path starts there, aligned with the dry
        wet = fftconvolve(y.astype(np.float64), h.astype(np.float64))[half : half + len(y)]
        out = (1.0 - params["wet"]) * y + params["wet"] * wet
    elif params["kind"] == "freeverb":
        pb = _pb()
        keys = ("room_size", "damping", "wet_level", "dry_level")
        out = pb.Reverb(**{k: params[k] for k in keys}, width=1.0)(y, sr)
    else:
        raise ParameterError(f"unknown room kind {params['kind']!r}; expected 'rir' or 'freeverb'")
    return _to_rms(np.asarray(out, dtype=np.float32), 20.0 * math.log10(_rms(y)))


def room(
    y: np.ndarray,
    sr: int,
    rng: np.random.Generator | int | None = None,
    *,
    preset: str = "realistic",
    params: dict | None = None,
) -> tuple[np.ndarray, dict | None]:
    """Put the recording in a room: a simulated impulse response or an algorithmic reverb.

    ``kind="rir"`` (p=0.6 of rooms): :func:`rir` for a random shoebox with RT60 log-uniform in 0.2-2.5 s
    (dry studio to church; the room grows with RT60: about 3-8 m long at 0.2 s, up to 11-28 m at 2.5 s),
    source-mic distance 0.8-8 m, convolved (FFT) and mixed ``(1 - wet) * dry + wet * room`` with ``wet``
    in 0.2-1. ``kind="freeverb"``: pedalboard's Reverb with ``room_size`` 0.1-0.95, ``damping`` 0.2-0.8,
    ``wet_level`` 0.1-0.5, ``dry_level`` 0.5-1. Returned ``params=None`` means dry (p=0.15 realistic); to
    replay a dry record call ``apply_room_params(y, sr, None)`` (``room(params=None)`` draws a room).

    Returns float32 ``(samples,)`` (same length and RMS, the tail past the end is cut) and the params.
    """
    if params is None:
        params = sample_room_params(sr, _rng(rng), preset=preset)
    return apply_room_params(y, sr, params), params


# --------------------------------------------------------------------------------------------------- master


def limit(y: np.ndarray, sr: int, *, drive_db: float, ceiling_db: float = -0.3, release_ms: float = 100.0):
    """Brickwall-limit ``y`` as a mastering limiter does: normalise its peak to 0 dBFS, add ``drive_db`` dB of
    gain into pedalboard's (JUCE's) Limiter, and set the output ceiling to ``ceiling_db`` dBFS.

    More drive is a louder master with a lower crest factor (peak / RMS). Returns float32 ``(samples,)``
    whose peak is at most ``10 ** (ceiling_db / 20)``.
    """
    y = _mono(y)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak == 0.0:
        return y
    pb = _pb()
    limiter = pb.Limiter(threshold_db=-float(drive_db), release_ms=float(release_ms))
    out = np.asarray(limiter((y / peak).astype(np.float32), sr), dtype=np.float64)  # JUCE: output peak <= 1
    ceiling = 10.0 ** (ceiling_db / 20.0)
    return np.clip(out * ceiling, -ceiling, ceiling).astype(np.float32)


def sample_master_params(rng: np.random.Generator, *, preset: str = "realistic") -> dict | None:
    """Draw mastering (see :func:`master`), or ``None`` with probability ``1 - p_master``."""
    cfg = _preset(preset)
    if not cfg or not _chance(rng, cfg["p_master"]):
        return None
    return {
        "compressor": {
            "threshold_db": _u(rng, REFERENCE_RMS_DB - 6.0, REFERENCE_RMS_DB + 6.0),
            "ratio": _u(rng, 1.5, 4.0),
            "attack_ms": _u(rng, 5.0, 30.0),
            "release_ms": _u(rng, 50.0, 300.0),
        },
        "drive_db": _u(rng, *cfg["limiter_drive_db"]),
        "ceiling_db": _u(rng, -1.0, -0.1),
        "release_ms": _u(rng, 50.0, 200.0),
    }


def apply_master_params(y: np.ndarray, sr: int, params: dict | None) -> np.ndarray:
    """Apply recorded mastering: bus compressor at -20 dBFS RMS, then :func:`limit`."""
    y = _mono(y)
    if params is None or _rms(y) == 0.0:
        return y
    pb = _pb()
    y = pb.Compressor(**params["compressor"])(_to_rms(y, REFERENCE_RMS_DB), sr)
    return limit(y, sr, drive_db=params["drive_db"], ceiling_db=params["ceiling_db"], release_ms=params["release_ms"])


def master(
    y: np.ndarray,
    sr: int,
    rng: np.random.Generator | int | None = None,
    *,
    preset: str = "realistic",
    params: dict | None = None,
) -> tuple[np.ndarray, dict | None]:
    """Master the mix: a bus compressor (at -20 dBFS RMS: threshold -26..-14 dBFS, ratio 1.5-4, attack 5-30 ms,
    release 50-300 ms), then a limiter (:func:`limit`, drive 0-10 dB realistic / 4-14 heavy, ceiling -1 to
    -0.1 dBFS). The loudness target is set by the drive: more drive, louder and flatter.

    Returns float32 ``(samples,)`` with peak at most the ceiling, and the params (``None``: not mastered).
    """
    if params is None:
        params = sample_master_params(_rng(rng), preset=preset)
    return apply_master_params(y, sr, params), params


# --------------------------------------------------------------------------------------------------- degrade


def ogg_roundtrip(y: np.ndarray, sr: int, *, quality: float = 0.5) -> np.ndarray:
    """Ogg Vorbis encode + decode in memory (:func:`dlmir.data.augment.codec_roundtrip` with ``format="OGG"``);
    ``quality`` in ``[0, 1]``, 1 taken as 0.999 (libsndfile's lowest bitrate)."""
    return codec_roundtrip(y, sr, format="OGG", quality=min(float(quality), 0.999))


def lowpass(y: np.ndarray, sr: int, cutoff_hz: float, *, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass (``order`` poles, applied forwards and backwards: -6 dB at
    ``cutoff_hz`` and twice the attenuation of one pass, e.g. about 56 dB at 1.5 x the cutoff for order 8).
    No delay, so labels stay aligned. Returns float32 ``(samples,)``."""
    from scipy import signal

    if not 0.0 < cutoff_hz < sr / 2:
        raise ParameterError(f"cutoff_hz must be in (0, sr/2) = (0, {sr / 2}), got {cutoff_hz}")
    sos = signal.butter(order, cutoff_hz, "lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, np.asarray(y, dtype=np.float64)).astype(np.float32)


def _noise_signal(n: int, sr: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "white":
        return rng.standard_normal(n)
    if kind in ("pink", "hiss"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1.0 / sr)
        if kind == "pink":  # power ~ 1/f above 20 Hz
            shape = 1.0 / np.sqrt(np.maximum(f, 20.0))
        else:  # tape hiss: white with its energy tilted up towards 3-10 kHz (a gentle first-order rise)
            shape = np.sqrt(1.0 + (f / 3000.0) ** 2) / np.sqrt(1.0 + (f / 12000.0) ** 2)
        return np.fft.irfft(spectrum * shape, n)
    if kind == "hum":  # mains hum: 50 or 60 Hz and harmonics with 1/k amplitudes, a slow wobble
        base = 50.0 if rng.random() < 0.5 else 60.0
        t = np.arange(n) / sr
        out = np.zeros(n)
        for k in range(1, 9):
            if k * base >= sr / 2:
                break
            out += np.sin(2 * np.pi * k * base * t + rng.uniform(0, 2 * np.pi)) / k
        return out * (1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t))
    raise ParameterError(f"unknown noise kind {kind!r}; choose from 'white', 'pink', 'hum', 'hiss'")


def noise(y: np.ndarray, sr: int, *, kind: str, snr_db: float, seed: int) -> np.ndarray:
    """Add ``kind`` noise (``"white"``, ``"pink"`` (1/f), ``"hum"`` (50/60 Hz + 7 harmonics), ``"hiss"``
    (tape: white rising towards 3-10 kHz)) drawn from ``seed``, at exactly ``snr_db`` dB below ``y``'s power
    (via :func:`dlmir.data.augment.add_noise`). Silent input is returned unchanged. Float32 ``(samples,)``."""
    y = _mono(y)
    if _rms(y) == 0.0:
        return y
    return add_noise(y, snr_db, noise=_noise_signal(len(y), sr, kind, np.random.default_rng(seed)))


def sample_degrade_params(sr: int, rng: np.random.Generator, *, preset: str = "realistic") -> dict:
    """Draw degradations (see :func:`degrade`); each entry is ``None`` when that degradation is off."""
    cfg = _preset(preset)
    params: dict[str, Any] = {"clip": None, "hiss": None, "noise": None, "bandlimit": None, "codec": None}
    if not cfg:
        return params
    if _chance(rng, cfg["p_clip"]):
        params["clip"] = {"clip_db": _u(rng, *cfg["clip_db"])}
    if _chance(rng, cfg["p_hiss"]):
        params["hiss"] = {"snr_db": _u(rng, *cfg["hiss_snr_db"]), "seed": _seed(rng)}
    if _chance(rng, cfg["p_noise"]):
        kind = ("white", "pink", "hum")[int(rng.integers(3))]
        params["noise"] = {"kind": kind, "snr_db": _u(rng, *cfg["noise_snr_db"]), "seed": _seed(rng)}
    if _chance(rng, cfg["p_bandlimit"]):
        options = [("lowpass", f) for f in (4000, 8000, 11000) if f < 0.45 * sr]
        options += [("resample", f) for f in (8000, 16000) if f < sr]
        if options:
            kind, hz = options[int(rng.integers(len(options)))]
            params["bandlimit"] = {"kind": kind, "hz": hz}
    if _chance(rng, cfg["p_codec"]):
        fmt = "mp3" if rng.random() < 0.6 else "ogg"
        if fmt == "ogg" or sr in _MP3_RATES:
            params["codec"] = {"format": fmt, "quality": _u(rng, *cfg["codec_quality"])}
    return params


def apply_degrade_params(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """Apply recorded degradations in the order clip, hiss, noise, band limit, codec."""
    import soxr

    y = _mono(y)
    if params["clip"]:
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        threshold = peak * 10.0 ** (-params["clip"]["clip_db"] / 20.0)
        y = np.clip(y, -threshold, threshold) if peak > 0 else y
    if params["hiss"]:
        y = noise(y, sr, kind="hiss", snr_db=params["hiss"]["snr_db"], seed=params["hiss"]["seed"])
    if params["noise"]:
        p = params["noise"]
        y = noise(y, sr, kind=p["kind"], snr_db=p["snr_db"], seed=p["seed"])
    if params["bandlimit"]:
        b = params["bandlimit"]
        if b["kind"] == "lowpass":
            y = lowpass(y, sr, b["hz"])
        else:
            n = len(y)
            y = soxr.resample(soxr.resample(y, sr, b["hz"], quality="HQ"), b["hz"], sr, quality="HQ")
            y = np.pad(y, (0, max(0, n - len(y))))[:n]
    if params["codec"]:
        c = params["codec"]
        if c["format"] == "mp3":
            y = mp3_roundtrip(y, sr, quality=min(c["quality"], 0.999))
        else:
            y = ogg_roundtrip(y, sr, quality=c["quality"])
    return np.asarray(y, dtype=np.float32)


def degrade(
    y: np.ndarray,
    sr: int,
    rng: np.random.Generator | int | None = None,
    *,
    preset: str = "realistic",
    params: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Archival and consumer-audio damage, each with a preset probability (realistic / heavy):

    - ``clip`` (0.1 / 0.4): hard clipping ``clip_db`` 1-4 / 2-8 dB below the peak;
    - ``hiss`` (0.15 / 0.4): tape hiss at SNR 30-50 / 20-40 dB;
    - ``noise`` (0.3 / 0.7): white, pink or mains hum at SNR 15-40 / 10-30 dB;
    - ``bandlimit`` (0.2 / 0.6): low-pass at 4, 8 or 11 kHz (:func:`lowpass`), or resampling to 8 or 16 kHz
      and back (telephone / wideband speech);
    - ``codec`` (0.4 / 0.8): MP3 (:func:`dlmir.data.augment.mp3_roundtrip`) or Ogg Vorbis
      (:func:`ogg_roundtrip`) at ``quality`` 0.3-0.95 / 0.6-0.99, about 25-50 kbit/s MP3 at 22.05 kHz,
      33-85 at 44.1 kHz (128 at quality 0).

    Returns float32 ``(samples,)`` and the params.
    """
    if params is None:
        params = sample_degrade_params(sr, _rng(rng), preset=preset)
    return apply_degrade_params(y, sr, params), params


# --------------------------------------------------------------------------------------------------- produce


@dataclass
class ProductionParams:
    """Every random choice of one :func:`produce` call, JSON-serialisable (:meth:`to_dict`, :meth:`to_json`).

    ``stems``: per stem name, :func:`process_stem`'s params (``None`` when a mix was given); ``mix``:
    :func:`mix`'s; ``detune``: ``{"cents", "time_scale"}``; ``room``, ``master``: ``None`` or their params;
    ``degrade``: :func:`degrade`'s. ``sr`` and ``n_samples`` describe the audio they were drawn for.
    """

    preset: str
    seed: int
    sr: int
    n_samples: int
    stems: dict[str, dict] | None = None
    mix: dict | None = None
    detune: dict = field(default_factory=lambda: {"cents": 0.0, "time_scale": 1.0})
    room: dict | None = None
    master: dict | None = None
    degrade: dict = field(default_factory=dict)
    version: int = PARAMS_VERSION

    def to_dict(self) -> dict:
        return copy.deepcopy(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict | str) -> ProductionParams:
        d = json.loads(d) if isinstance(d, str) else copy.deepcopy(dict(d))
        if d.get("version") != PARAMS_VERSION:
            raise ParameterError(
                f"production params version {d.get('version')!r} is not {PARAMS_VERSION}; re-draw them with a seed"
            )
        return cls(**d)


def sample_params(
    stems_or_mix: dict[str, np.ndarray] | np.ndarray,
    sr: int,
    *,
    seed: int,
    preset: str = "realistic",
    max_cents: float | None = None,
) -> ProductionParams:
    """Draw every choice :func:`produce` would make for ``seed``, without processing audio.

    Each stage draws from its own generator (``seed`` and the stage's index; a stem's from ``seed`` and a CRC
    of its name), so adding a stem does not change the room, and renaming one does not change the others.
    ``max_cents`` narrows the preset's global detune range to ``+-max_cents`` (e.g. 25 for note transcription,
    so the nominal MIDI pitch stays the nearest semitone); every other draw is unchanged.
    """
    _preset(preset)
    is_mix = not isinstance(stems_or_mix, dict)
    names = [] if is_mix else sorted(stems_or_mix)
    n = len(_mono(stems_or_mix)) if is_mix else max(len(_mono(y, n)) for n, y in stems_or_mix.items())

    def child(stage: str, *extra: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), _STAGES.index(stage), *extra])

    cfg = PRESETS[preset]
    params = ProductionParams(preset=preset, seed=int(seed), sr=int(sr), n_samples=int(n))
    if not is_mix:
        params.stems = {
            name: sample_stem_params(role_of(name), sr, child("stems", zlib.crc32(name.encode())), preset=preset)
            for name in names
        }
        params.mix = sample_mix_params(names, child("mix"), preset=preset)
    rng = child("detune")
    if cfg and _chance(rng, cfg["p_detune"]):
        lo, hi = cfg["cents"]
        if max_cents is not None:
            if not max_cents >= 0:
                raise ParameterError(f"max_cents must be >= 0 cents, got {max_cents}")
            lo, hi = max(lo, -float(max_cents)), min(hi, float(max_cents))
        cents = _u(rng, lo, hi)
    else:
        cents = 0.0
    params.detune = {"cents": cents, "time_scale": 1.0 / 2.0 ** (cents / 1200.0)}
    params.room = sample_room_params(sr, child("room"), preset=preset)
    params.master = sample_master_params(child("master"), preset=preset)
    params.degrade = sample_degrade_params(sr, child("degrade"), preset=preset)
    return params


def produce(
    stems_or_mix: dict[str, np.ndarray] | np.ndarray,
    sr: int,
    *,
    seed: int | None = None,
    preset: str = "realistic",
    params: ProductionParams | dict | str | None = None,
    return_params: bool = True,
    max_cents: float | None = None,
) -> tuple[np.ndarray, dict] | np.ndarray:
    """Produce and degrade rendered audio: stems -> :func:`process_stem` -> :func:`mix` -> :func:`detune` ->
    :func:`room` -> :func:`master` -> :func:`degrade`.

    Parameters
    ----------
    stems_or_mix : ``{name: (samples,)}`` stems (roles from their names, :func:`role_of`), or one
        ``(samples,)`` / ``(channels, samples)`` mix (then the stem stages are skipped).
    sr : sample rate in Hz (the MP3 codec is only drawn for 8-48 kHz rates libsndfile supports).
    seed : the seed of every random choice; ``None`` draws one from the OS and records it.
    preset : ``"clean"`` (identity), ``"realistic"`` or ``"heavy"`` (:data:`PRESETS`).
    params : a record returned before (dict, JSON string or :class:`ProductionParams`): replays it exactly,
        ignoring ``seed`` and ``preset``.
    return_params : return ``(audio, params_dict)`` (default) or only the audio.
    max_cents : limit the drawn global detune to ``+-max_cents`` (:func:`sample_params`); ignored with ``params``.

    Returns
    -------
    audio : float32 ``(samples,)``, the input's length (the longest stem's), finite, peak <= 1.
    params : JSON-serialisable dict (:meth:`ProductionParams.to_dict`). The same seed (or params) gives
        bit-identical audio on the same machine. ``params["detune"]["time_scale"]`` scales label times.
    """
    if params is None:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        record = sample_params(stems_or_mix, sr, seed=seed, preset=preset, max_cents=max_cents)
    else:
        record = params if isinstance(params, ProductionParams) else ProductionParams.from_dict(params)
        if record.sr != sr:
            raise ParameterError(f"params were drawn for sr={record.sr} Hz, but the audio is at sr={sr} Hz")
    is_mix = not isinstance(stems_or_mix, dict)
    if is_mix != (record.stems is None):
        recorded, given = ("stems", "a mix") if is_mix else ("a mix", "stems")
        raise ParameterError(f"params were recorded for {recorded}, but got {given}; pass what they were drawn for")

    if is_mix:
        y = _mono(stems_or_mix)
    else:
        if set(record.stems) != set(stems_or_mix):
            raise ParameterError(f"params name stems {sorted(record.stems)}, got {sorted(stems_or_mix)}")
        processed = {
            name: apply_stem_params(stems_or_mix[name], sr, record.stems[name]) for name in sorted(stems_or_mix)
        }
        y, _ = mix(processed, sr, params=record.mix)
    y, _ = detune(y, sr, record.detune["cents"])
    y = apply_room_params(y, sr, record.room)
    y = apply_master_params(y, sr, record.master)
    y = apply_degrade_params(y, sr, record.degrade)
    y = np.nan_to_num(y.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y / peak
    y = y.astype(np.float32)
    return (y, record.to_dict()) if return_params else y


__all__ = [
    "PRESETS",
    "PRESET_NAMES",
    "ROLES",
    "ROLE_LEVEL_DB",
    "ProductionParams",
    "apply_degrade_params",
    "apply_master_params",
    "apply_room_params",
    "apply_stem_params",
    "degrade",
    "detune",
    "limit",
    "lowpass",
    "master",
    "mix",
    "noise",
    "ogg_roundtrip",
    "process_stem",
    "produce",
    "rir",
    "role_of",
    "room",
    "sample_degrade_params",
    "sample_master_params",
    "sample_mix_params",
    "sample_params",
    "sample_room_params",
    "sample_stem_params",
]
