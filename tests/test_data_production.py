"""dlmir.data.production: seeded production/degradation chain. Oracles are hand-derived values (equal-tempered
frequencies, exponential decay of a reverberant tail, SNR definitions, Butterworth attenuation)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import signal

from dlmir.data import production as P
from dlmir.errors import ParameterError

SR = 22050


def _sine(f: float, seconds: float = 2.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _stems(seconds: float = 2.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    drums = rng.standard_normal(len(t)) * np.exp(-30 * (t % 0.5))
    return {
        "drums": (0.3 * drums).astype(np.float32),
        "bass": _sine(55.0, seconds, 0.3),
        "comping": (_sine(261.63, seconds, 0.1) + _sine(329.63, seconds, 0.1) + _sine(392.0, seconds, 0.1)),
        "lead_vocal": _sine(440.0, seconds, 0.2),
    }


def _mix(seconds: float = 2.0) -> np.ndarray:
    return P.mix(_stems(seconds), SR, preset="clean")[0]


def _peak_hz(y: np.ndarray) -> float:
    """Spectral peak with 2**20-point zero padding (0.021 Hz bins) and parabolic interpolation."""
    n = 2**20
    mag = np.abs(np.fft.rfft(y * np.hanning(len(y)), n))
    k = int(np.argmax(mag))
    a, b, c = np.log(mag[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / n


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    return 10 * math.log10(np.mean(clean**2) / np.mean((noisy.astype(np.float64) - clean) ** 2))


# ------------------------------------------------------------------------------------------- produce


@pytest.mark.parametrize("preset", ["realistic", "heavy"])
@pytest.mark.parametrize("kind", ["mix", "stems"])
def test_same_seed_identical_different_seed_different(preset: str, kind: str) -> None:
    x = _mix() if kind == "mix" else _stems()
    a, pa = P.produce(x, SR, seed=3, preset=preset)
    b, pb = P.produce(x, SR, seed=3, preset=preset)
    c, _ = P.produce(x, SR, seed=4, preset=preset)
    assert pa == pb
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("preset", ["clean", "realistic", "heavy"])
@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_length_dtype_finite_peak(preset: str, seed: int) -> None:
    for x, n in ((_mix(2.0), int(2.0 * SR)), (_stems(2.0), int(2.0 * SR))):
        y, params = P.produce(x, SR, seed=seed, preset=preset)
        assert y.dtype == np.float32 and y.shape == (n,)
        assert np.all(np.isfinite(y))
        assert np.max(np.abs(y)) <= 1.0
        assert params["n_samples"] == n and params["sr"] == SR
        json.dumps(params)  # serialisable as is


def test_stems_of_unequal_length_pad_to_longest() -> None:
    stems = {"bass": _sine(55.0, 1.0), "lead": _sine(440.0, 2.0)}
    y, _ = P.produce(stems, SR, seed=0)
    assert y.shape == (2 * SR,)


def test_clean_preset_is_identity() -> None:
    x = _mix()
    x = (0.9 * x / np.max(np.abs(x))).astype(np.float32)  # peak <= 1, so not rescaled
    y, params = P.produce(x, SR, seed=0, preset="clean")
    np.testing.assert_array_equal(y, x)
    assert params["room"] is None and params["master"] is None and params["detune"]["cents"] == 0.0
    stems = {name: 0.2 * y for name, y in _stems().items()}
    y, _ = P.produce(stems, SR, seed=0, preset="clean")
    np.testing.assert_allclose(y, sum(stems.values()), atol=1e-6)  # summed as given


def test_clean_preset_rescales_only_overloud_input() -> None:
    x = _sine(440.0, amp=2.0)
    y, _ = P.produce(x, SR, seed=0, preset="clean")
    assert np.max(np.abs(y)) == 1.0
    np.testing.assert_allclose(y, x / np.max(np.abs(x)), atol=1e-7)


@pytest.mark.parametrize("kind", ["mix", "stems"])
def test_params_roundtrip_through_json_reproduces_audio(kind: str) -> None:
    x = _mix() if kind == "mix" else _stems()
    for seed in range(4):  # several seeds so that rooms, codecs and noises are all exercised
        y, params = P.produce(x, SR, seed=seed, preset="heavy")
        text = json.dumps(params)
        replay = P.produce(x, SR, params=json.loads(text), seed=999, preset="clean")[0]  # seed/preset ignored
        np.testing.assert_array_equal(y, replay)
        np.testing.assert_array_equal(y, P.produce(x, SR, params=text, return_params=False))
        np.testing.assert_array_equal(y, P.produce(x, SR, params=P.ProductionParams.from_dict(params))[0])


def test_all_heavy_stages_exercised_across_seeds() -> None:
    """The seeds the round-trip test uses draw every kind of stage at least once (or the test would be hollow)."""
    seen = set()
    for seed in range(4):
        p = P.sample_params(_stems(), SR, seed=seed, preset="heavy").to_dict()
        seen.add(p["room"]["kind"])
        seen.update(k for k, v in p["degrade"].items() if v)
        seen.update(k for s in p["stems"].values() for k in ("compressor", "distortion", "chorus") if s[k])
    assert {"rir", "freeverb", "codec", "noise", "clip", "compressor"} <= seen


def test_none_seed_is_drawn_and_recorded() -> None:
    x = _mix()
    y, params = P.produce(x, SR, seed=None)
    assert isinstance(params["seed"], int)
    np.testing.assert_array_equal(y, P.produce(x, SR, seed=params["seed"])[0])


def test_stage_generators_are_independent() -> None:
    """Adding a stem changes neither the room, the mastering nor the other stems' processing."""
    stems = _stems()
    a = P.sample_params(stems, SR, seed=7).to_dict()
    b = P.sample_params({**stems, "other": _sine(100.0)}, SR, seed=7).to_dict()
    for key in ("detune", "room", "master", "degrade"):
        assert a[key] == b[key]
    for name in stems:
        assert a["stems"][name] == b["stems"][name]


def test_invalid_arguments() -> None:
    x = _mix()
    with pytest.raises(ParameterError, match="preset"):
        P.produce(x, SR, seed=0, preset="loud")
    _, params = P.produce(x, SR, seed=0)
    with pytest.raises(ParameterError, match="sr=22050"):
        P.produce(x, 16000, params=params)
    with pytest.raises(ParameterError, match="recorded for a mix"):
        P.produce(_stems(), SR, params=params)
    with pytest.raises(ParameterError, match="role"):
        P.process_stem(x, SR, "vocals", 0)
    with pytest.raises(ParameterError, match="version"):
        P.ProductionParams.from_dict({**params, "version": 0})
    with pytest.raises(ParameterError, match="mono"):
        P.produce(np.zeros((2, 2, 10), np.float32), SR, seed=0)


@pytest.mark.parametrize(
    ("name", "role"),
    [("bass", "bass"), ("lead_vocal", "lead"), ("comping:2", "comping"), ("drums2", "drums"), ("bassoon", "other")],
)
def test_role_of(name: str, role: str) -> None:
    assert P.role_of(name) == role


# ------------------------------------------------------------------------------------------- stages


def test_process_stem_is_level_neutral_and_replayable() -> None:
    x = _sine(220.0) + 0.05 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    for role in P.ROLES:
        y, params = P.process_stem(x, SR, role, np.random.default_rng(1), preset="heavy")
        assert y.shape == x.shape
        assert math.isclose(
            np.sqrt(np.mean(y.astype(float) ** 2)), np.sqrt(np.mean(x.astype(float) ** 2)), rel_tol=1e-4
        )
        np.testing.assert_array_equal(y, P.process_stem(x, SR, role, params=params)[0])


def test_process_stem_tilt_moves_spectral_balance() -> None:
    """A +12 dB tilt (shelves -6 dB at 300 Hz, +6 dB at 3 kHz) raises a 6 kHz sine ~12 dB against a 100 Hz one."""
    low, high = _sine(100.0, amp=0.3), _sine(6000.0, amp=0.3)
    params = {"role": "other", "highpass_hz": None, "tilt_db": 12.0, "peaks": [], "compressor": None}
    params.update(distortion=None, chorus=None)
    y = P.apply_stem_params(low + high, SR, params)
    spec = np.abs(np.fft.rfft(y[SR // 2 :]))  # 1.5 s: 2/3 Hz bins, 100 Hz and 6 kHz on bins
    ratio_db = 20 * np.log10(spec[int(6000 * 1.5)] / spec[int(100 * 1.5)])
    assert 10.0 < ratio_db < 13.0


def test_mix_levels() -> None:
    stems = {"lead": _sine(440.0, amp=0.5), "bass": _sine(55.0, amp=0.01)}
    params = {"normalize": True, "gains_db": {"lead": 0.0, "bass": -6.0}}
    y, _ = P.mix(stems, SR, params=params)
    assert math.isclose(20 * np.log10(np.sqrt(np.mean(y.astype(float) ** 2))), -20.0, abs_tol=1e-3)
    spec = np.abs(np.fft.rfft(y))  # 2 s: 0.5 Hz bins
    assert math.isclose(20 * np.log10(spec[880] / spec[110]), 6.0, abs_tol=0.05)  # stems equalised, then -6 dB
    _, drawn = P.mix(stems, SR, np.random.default_rng(0))
    assert -3.0 <= drawn["gains_db"]["lead"] <= 3.0 and -5.0 <= drawn["gains_db"]["bass"] <= 1.0


@pytest.mark.parametrize(("cents", "expected_hz"), [(100.0, 466.1638), (-50.0, 427.4741), (0.0, 440.0)])
def test_detune_moves_sine_peak(cents: float, expected_hz: float) -> None:
    assert math.isclose(440.0 * 2 ** (cents / 1200), expected_hz, abs_tol=1e-3)  # equal temperament
    y, scale = P.detune(_sine(440.0, 3.0), SR, cents)
    assert y.shape == (3 * SR,)
    assert math.isclose(scale, 2 ** (-cents / 1200), rel_tol=1e-12)
    n_valid = min(len(y), int(3 * SR * scale) - 100)  # +cents: zero padding at the end, left out
    assert abs(_peak_hz(y[:n_valid]) - expected_hz) < 1.0


@pytest.mark.parametrize("cents", [100.0, -50.0])
def test_detune_time_scale_moves_events(cents: float) -> None:
    """A click at 2.0 s lands at 2.0 * time_scale s: 1.888 s at +100 cents, 2.058 s at -50."""
    x = np.zeros(3 * SR, np.float32)
    x[2 * SR] = 1.0
    y, scale = P.detune(x, SR, cents)
    assert abs(np.argmax(np.abs(y)) / SR - 2.0 * scale) < 1e-3


def _click(seconds: float = 3.0) -> np.ndarray:
    x = np.zeros(int(seconds * SR), np.float32)
    burst = np.random.default_rng(0).standard_normal(int(0.01 * SR)) * np.hanning(int(0.01 * SR))
    x[SR // 2 : SR // 2 + len(burst)] = burst
    return x


def _tail_fraction(y: np.ndarray) -> float:
    """Energy in 0.1-0.6 s after the click's end, as a fraction of all energy."""
    end = SR // 2 + int(0.01 * SR)
    tail = y[end + int(0.1 * SR) : end + int(0.6 * SR)].astype(float)
    return float(np.sum(tail**2) / np.sum(y.astype(float) ** 2))


def _room_params(rt60: float, *, wet: float = 1.0, seed: int = 0) -> dict:
    return {
        "kind": "rir",
        "rt60_s": rt60,
        "dims_m": [20.0, 14.0, 8.0] if rt60 > 1 else [5.0, 4.0, 3.0],
        "source_m": [2.0, 2.0, 1.5],
        "mic_m": [4.5, 3.0, 1.6],
        "hf_damping": 0.4,
        "tail_seed": seed,
        "wet": wet,
    }


def test_reverb_increases_decay() -> None:
    """Exponential energy decay exp(-13.8 t / RT60): after 0.1 s a 2.0 s hall keeps exp(-0.69) = 50 % of its
    reverberant energy and a 0.2 s studio exp(-6.9) = 0.1 %. Measured share of all energy in 0.1-0.6 s after
    the click: hall 18.6 %, studio 0.016 %, dry exactly 0. Freeverb (damping 0.3, wet 0.5): room_size 0.95
    23 %, 0.5 8 %, 0.1 3.7 % (its shortest decay is still long)."""
    x = _click()
    assert _tail_fraction(P.apply_room_params(x, SR, None)) == 0.0  # None = dry (room(params=None) draws one)
    hall = _tail_fraction(P.room(x, SR, params=_room_params(2.0))[0])
    studio = _tail_fraction(P.room(x, SR, params=_room_params(0.2))[0])
    assert hall > 0.10 and studio < 0.005 and hall > 50 * studio
    fv = {"kind": "freeverb", "damping": 0.3, "wet_level": 0.5, "dry_level": 0.5}
    big = _tail_fraction(P.room(x, SR, params={**fv, "room_size": 0.95})[0])
    small = _tail_fraction(P.room(x, SR, params={**fv, "room_size": 0.1})[0])
    assert big > 0.15 and small < 0.05 and big > 5 * small


@pytest.mark.parametrize("rt60", [0.5, 2.0])
def test_rir_mid_band_rt60(rt60: float) -> None:
    """Schroeder backward integration of the 500-2000 Hz band; T20 (-5 to -25 dB) x 3 within 15 % of RT60."""
    h = P.rir(SR, _room_params(rt60)).astype(float)
    assert np.argmax(np.abs(h[:81])) == 40  # direct sound at the documented tap
    band = signal.sosfilt(signal.butter(4, [500, 2000], "bandpass", fs=SR, output="sos"), h)
    edc = 10 * np.log10(np.cumsum(band[::-1] ** 2)[::-1] / np.sum(band**2))
    t20 = (np.argmax(edc < -25) - np.argmax(edc < -5)) / SR
    assert abs(3 * t20 - rt60) < 0.15 * rt60


def test_room_keeps_direct_sound_aligned_and_level() -> None:
    x = _click()
    y, _ = P.room(x, SR, params=_room_params(0.5, wet=0.5))
    assert math.isclose(np.sum(y.astype(float) ** 2), np.sum(x.astype(float) ** 2), rel_tol=1e-4)
    impulse = np.zeros(SR, np.float32)
    impulse[1000] = 1.0
    y, _ = P.room(impulse, SR, params=_room_params(0.5, wet=0.5))
    assert np.argmax(np.abs(y)) == 1000  # the direct sound is not delayed: labels stay aligned
    assert np.max(np.abs(y[: 1000 - 41])) < 1e-6  # nothing before the 40-tap fractional-delay lead-in


def test_sampled_rooms_in_range() -> None:
    rt60s = []
    for seed in range(40):
        p = P.sample_room_params(SR, np.random.default_rng(seed))
        if p and p["kind"] == "rir":
            rt60s.append(p["rt60_s"])
            assert 0.8 <= math.dist(p["source_m"], p["mic_m"]) <= 8.0
            assert all(0 < c < d for c, d in zip(p["mic_m"], p["dims_m"], strict=True))
    assert rt60s and min(rt60s) >= 0.2 and max(rt60s) <= 2.5


@pytest.mark.parametrize(("drive_db", "ceiling_db"), [(0.0, -0.1), (12.0, -1.0), (20.0, -3.0)])
def test_limiter_peak_below_ceiling(drive_db: float, ceiling_db: float) -> None:
    x = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.2
    y = P.limit(x, SR, drive_db=drive_db, ceiling_db=ceiling_db)
    assert np.max(np.abs(y)) <= 10 ** (ceiling_db / 20) + 1e-7
    crest = np.max(np.abs(y)) / np.sqrt(np.mean(y.astype(float) ** 2))
    crest_in = np.max(np.abs(x)) / np.sqrt(np.mean(x.astype(float) ** 2))
    if drive_db >= 12:  # Gaussian noise has a crest of ~4.5 (13 dB) over 44100 samples; the limiter flattens it
        assert crest < 0.6 * crest_in


def test_master_output_below_ceiling() -> None:
    for seed in range(5):
        y, params = P.master(_mix(), SR, np.random.default_rng(seed), preset="heavy")
        assert np.max(np.abs(y)) <= 10 ** (params["ceiling_db"] / 20) + 1e-7


def test_lowpass_removes_6k_keeps_1k() -> None:
    """Order-8 Butterworth, forwards and backwards: |H(6k)|^2 = 1 / (1 + 1.5**16) per pass -> -56 dB."""
    x = _sine(6000.0)
    y = P.lowpass(x, SR, 4000.0)
    middle = slice(SR // 4, -SR // 4)  # away from the filter's edge transients
    assert 10 * np.log10(np.mean(x[middle].astype(float) ** 2) / np.mean(y[middle].astype(float) ** 2)) > 40.0
    kept = P.lowpass(_sine(1000.0), SR, 4000.0)
    assert abs(10 * np.log10(np.mean(kept.astype(float) ** 2) / np.mean(_sine(1000.0).astype(float) ** 2))) < 0.01
    via_degrade = P.degrade(_sine(6000.0), SR, params={**_no_degrade(), "bandlimit": {"kind": "lowpass", "hz": 4000}})
    assert np.sqrt(np.mean(via_degrade[0].astype(float) ** 2)) < 0.1 * np.sqrt(np.mean(_sine(6000.0) ** 2))


def test_resample_bandlimit_removes_above_new_nyquist() -> None:
    params = {**_no_degrade(), "bandlimit": {"kind": "resample", "hz": 8000}}
    y, _ = P.degrade(_sine(6000.0), SR, params=params)  # 6 kHz is above 8 kHz's 4 kHz Nyquist
    assert y.shape == (2 * SR,) and np.sqrt(np.mean(y.astype(float) ** 2)) < 0.01
    y, _ = P.degrade(_sine(1000.0), SR, params=params)
    assert np.corrcoef(y[1000:-1000], _sine(1000.0)[1000:-1000])[0, 1] > 0.999


def _no_degrade() -> dict:
    return {"clip": None, "hiss": None, "noise": None, "bandlimit": None, "codec": None}


@pytest.mark.parametrize("kind", ["white", "pink", "hum", "hiss"])
@pytest.mark.parametrize("snr_db", [10.0, 25.0, 40.0])
def test_noise_measured_snr(kind: str, snr_db: float) -> None:
    x = _sine(440.0)
    y = P.noise(x, SR, kind=kind, snr_db=snr_db, seed=1)
    assert abs(_snr_db(x, y) - snr_db) < 1.0
    np.testing.assert_array_equal(y, P.noise(x, SR, kind=kind, snr_db=snr_db, seed=1))


def test_noise_spectra() -> None:
    """Pink: power ~ 1/f, so the 200-400 Hz octave holds as much as 2-4 kHz (white: 10x less). Hum: 50 or 60 Hz."""
    z = np.zeros(4 * SR, np.float32)
    z[0] = 1e-3  # a non-silent reference, so the noise level is defined

    def octave_db(y: np.ndarray, lo: float) -> float:
        f, pxx = signal.welch(y, SR, nperseg=4096)
        return 10 * np.log10(np.sum(pxx[(f >= lo) & (f < 2 * lo)]))

    pink = P.noise(z, SR, kind="pink", snr_db=0.0, seed=0)
    white = P.noise(z, SR, kind="white", snr_db=0.0, seed=0)
    assert abs(octave_db(pink, 200) - octave_db(pink, 2000)) < 1.0
    assert abs(octave_db(white, 2000) - octave_db(white, 200) - 10.0) < 1.0
    hum = P.noise(z, SR, kind="hum", snr_db=0.0, seed=0).astype(float)
    peak = np.argmax(np.abs(np.fft.rfft(hum))) / 4.0
    assert peak in (50.0, 60.0)


def test_clip_threshold() -> None:
    x = _sine(440.0, amp=0.8)
    y, _ = P.degrade(x, SR, params={**_no_degrade(), "clip": {"clip_db": 6.0}})
    assert math.isclose(np.max(np.abs(y)), 0.8 * 10 ** (-6 / 20), rel_tol=1e-6)


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])
def test_codec_roundtrip(fmt: str) -> None:
    x = _sine(440.0)
    params = {**_no_degrade(), "codec": {"format": fmt, "quality": 0.9}}
    y, _ = P.degrade(x, SR, params=params)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, P.degrade(x, SR, params=params)[0])
    lag = np.argmax(signal.correlate(y, x, mode="full", method="fft")) - (len(x) - 1)
    assert abs(lag) < 3000  # codec delay is small (MP3 padding is trimmed or about a frame)
    assert np.corrcoef(np.roll(y, -lag)[3000:-3000], x[3000:-3000])[0, 1] > 0.95


def test_sampled_degrade_ranges() -> None:
    seen = {"lowpass": set(), "resample": set(), "codec": set()}
    for seed in range(60):
        p = P.sample_degrade_params(SR, np.random.default_rng(seed), preset="heavy")
        if p["noise"]:
            assert 10.0 <= p["noise"]["snr_db"] <= 30.0
        if p["bandlimit"]:
            seen[p["bandlimit"]["kind"]].add(p["bandlimit"]["hz"])
        if p["codec"]:
            seen["codec"].add(p["codec"]["format"])
            assert 0.6 <= p["codec"]["quality"] <= 0.99
    assert seen["lowpass"] <= {4000, 8000} and seen["resample"] <= {8000, 16000}  # 11 kHz >= 0.45 * 22050
    assert seen["codec"] == {"mp3", "ogg"}
