"""Comb-filter resonators and autocorrelation: closed forms, hand-derived responses, librosa's tempogram, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from dlmir.errors import ParameterError
from dlmir.layers import Autocorrelation, CombResonators
from dlmir.layers.resonator import (
    MAX_GAIN,
    bpm_grid,
    bpm_to_delay,
    comb_filter,
    comb_gains,
    comb_impulse_response,
    interpolation_taps,
)


def impulse(n: int, batch: int = 1, channels: int = 1) -> torch.Tensor:
    x = torch.zeros(batch, channels, n, dtype=torch.float64)
    x[..., 0] = 1.0
    return x


def response(delays: list[float], gains: list[float], n: int, interpolation: str = "cubic") -> np.ndarray:
    """Impulse responses ``(n_tempi, n)`` of a float64 bank (gains exactly as given)."""
    y = comb_filter(impulse(n), torch.tensor(delays, dtype=torch.float64), torch.tensor(gains, dtype=torch.float64),
                    interpolation=interpolation)  # fmt: skip
    return y[0, 0].numpy()


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
@pytest.mark.parametrize(("delay", "gain"), [(2.0, 0.5), (5.0, 0.8), (43.0, 0.95), (17.0, 0.3)])
def test_integer_delay_impulse_response_is_the_geometric_echo_train(
    delay: float, gain: float, interpolation: str
) -> None:
    h = response([delay], [gain], 400, interpolation)[0]
    expected = np.zeros(400)
    m = np.arange(0, 400, int(delay))
    expected[m] = (1 - gain) * gain ** (m // int(delay))  # hand-derived: h[mT] = (1 - a) a^m, zeros elsewhere
    np.testing.assert_allclose(h, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("interpolation", ["cubic", "linear"])
def test_fractional_delays_equal_the_closed_form_filter(interpolation: str) -> None:
    delays = [2.5, 7.3, 8.6, 21.533, 86.13]
    gains = [0.7, 0.9, 0.5, 0.93, 0.6]
    h = response(delays, gains, 600, interpolation)
    for row, d, a in zip(h, delays, gains, strict=True):
        np.testing.assert_allclose(row, comb_impulse_response(d, a, 600, interpolation=interpolation), atol=1e-14)


def test_linear_first_echo_is_split_between_two_frames() -> None:
    h = response([7.25], [0.8], 20, "linear")[0]
    assert (
        h[0] == pytest.approx(0.2)
        and h[7] == pytest.approx(0.2 * 0.8 * 0.75)
        and h[8] == pytest.approx(0.2 * 0.8 * 0.25)
    )
    assert np.count_nonzero(h[1:7]) == 0


def test_cubic_taps_interpolate_cubics_exactly_and_are_passive() -> None:
    f = np.linspace(0, 1, 11, endpoint=False)
    whole, offsets, coef = interpolation_taps(10 + f, "cubic")
    assert np.all(whole == 10) and list(offsets) == [-1, 0, 1, 2]
    np.testing.assert_allclose(coef.sum(1), 1.0, atol=1e-12)
    poly = np.poly1d([0.3, -1.2, 2.0, 0.5])
    # y[t - d - o] sampled from a cubic: interpolation at t - d - f is exact
    np.testing.assert_allclose((coef * poly(-offsets.astype(float))[None, :]).sum(1), poly(-f), atol=1e-12)
    w = np.linspace(0, np.pi, 257)
    response_mag = np.abs(coef @ np.exp(-1j * np.outer(offsets, w)))
    assert response_mag.max() <= 1 + 1e-9  # |H| <= 1 at every frequency: a stable comb for every gain < 1


def test_comb_gains_halve_the_echo_energy_after_the_half_energy_time() -> None:
    fps = 22050 / 512
    delays = bpm_to_delay(np.array([40.0, 120.0, 250.0]), frame_rate=fps)
    a = comb_gains(delays, frame_rate=fps, half_energy=1.5, unit="seconds")
    echoes_in_half_time = 1.5 * fps / delays  # number of periods in 1.5 s
    np.testing.assert_allclose(a ** (2 * echoes_in_half_time), 0.5)
    b = comb_gains(delays, frame_rate=fps, half_energy=2.5)  # in periods: the same gain for every tempo
    np.testing.assert_allclose(b ** (2 * 2.5), 0.5)
    assert b[0] == b[-1] == pytest.approx(0.8706, abs=1e-4)
    with pytest.raises(ParameterError, match="half_energy"):
        comb_gains(delays, frame_rate=fps, half_energy=0)
    with pytest.raises(ParameterError, match="unit"):
        comb_gains(delays, frame_rate=fps, unit="beats")


def test_steady_state_of_a_matched_pulse_train() -> None:
    # pulses of height 1 every T frames into a comb of period T: y at the m-th pulse is 1 - a^(m+1)
    x = torch.zeros(1, 1, 200, dtype=torch.float64)
    x[..., ::10] = 1.0
    y = comb_filter(x, torch.tensor([10.0]), torch.tensor([0.7], dtype=torch.float64))[0, 0, 0].numpy()
    m = np.arange(20)
    np.testing.assert_allclose(y[::10], 1 - 0.7 ** (m + 1), atol=1e-14)
    assert np.count_nonzero(y.reshape(20, 10)[:, 1:]) == 0


def test_batch_and_channels_are_independent_and_the_grad_path_equals_the_fast_path() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 300, generator=gen, dtype=torch.float64)
    bank = CombResonators.from_bpm(bpm_grid(60, 240, bins_per_octave=6), frame_rate=22050 / 512)
    gain = bank.gain.detach().double()
    with torch.no_grad():
        fast = comb_filter(x, bank.delays, gain)
    assert fast.shape == (3, 2, bank.n_tempi, 300)
    for b in range(3):
        for c in range(2):
            np.testing.assert_allclose(
                fast[b, c].numpy(), comb_filter(x[b : b + 1, c : c + 1], bank.delays, gain)[0, 0]
            )
    slow = comb_filter(x.clone().requires_grad_(True), bank.delays, gain)
    np.testing.assert_allclose(slow.detach().numpy(), fast.numpy(), atol=1e-15)


def test_gradients_reach_the_gains_and_the_input() -> None:
    x = torch.rand(1, 1, 60, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    gain = torch.tensor([0.6, 0.8, 0.4], dtype=torch.float64, requires_grad=True)
    delays = torch.tensor([3.5, 5.0, 7.25])
    assert torch.autograd.gradcheck(lambda x, g: comb_filter(x, delays, g).std(-1), (x, gain))
    bank = CombResonators(delays, [0.6, 0.8, 0.4], trainable=True)
    bank(x.detach().float()).std(-1).sum().backward()
    assert bank.gain.grad is not None and torch.all(bank.gain.grad != 0) and bank.trainable
    assert not CombResonators(delays, [0.6, 0.8, 0.4]).trainable


def test_gains_are_clipped_when_applied() -> None:
    bank = CombResonators([4.0], [0.5], trainable=True)
    with torch.no_grad():
        bank.gain.fill_(1.5)  # training could push a gain past 1
    y = bank(impulse(4000).float())
    assert torch.isfinite(y).all() and float(y.detach()[0, 0, 0, 4 * 900]) == pytest.approx(
        (1 - MAX_GAIN) * MAX_GAIN**900, rel=1e-3
    )


def test_bpm_grid() -> None:
    t = bpm_grid(30, 300, bins_per_octave=48)
    assert t[0] == 30 and t[-1] <= 300 < t[-1] * 2 ** (1 / 48) and t.size == 160
    np.testing.assert_allclose(np.diff(np.log2(t)), 1 / 48)
    assert bpm_grid(60, 240, bins_per_octave=12)[-1] == pytest.approx(240)
    np.testing.assert_allclose(bpm_to_delay(120.0, frame_rate=50.0), 25.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: CombResonators([1.5], [0.5]), "periods >= 2"),
        (lambda: CombResonators([4.0], [1.0]), r"\[0, 1\)"),
        (lambda: CombResonators([4.0, 5.0], [0.5]), "one value per delay"),
        (lambda: CombResonators([4.0], [0.5], interpolation="sinc"), "interpolation"),
        (lambda: comb_filter(torch.zeros(10), torch.tensor([4.0]), torch.tensor([0.5])), "batch, channels, frames"),
        (lambda: bpm_grid(300, 30), "min_bpm < max_bpm"),
        (lambda: Autocorrelation([1.0, 400.0], win_length=384), "lags"),
    ],
)
def test_invalid_parameters_raise(call, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        call()


def tempogram(env: np.ndarray, win: int) -> np.ndarray:
    """librosa's tempogram, written out: centred windows (zero padding), periodic Hann, autocorrelation, / lag 0."""
    padded = np.pad(env, win // 2)
    window = scipy.signal.get_window("hann", win, fftbins=True)
    out = np.empty((win, env.size))
    for t in range(env.size):
        seg = padded[t : t + win] * window
        ac = np.correlate(seg, seg, mode="full")[win - 1 :]
        out[:, t] = ac / ac[0] if ac[0] > 0 else ac
    return out


def test_autocorrelation_equals_the_tempogram_at_integer_lags() -> None:
    rng = np.random.default_rng(3)
    env = np.zeros(700)
    env[50:650] = rng.random(600) * (rng.random(600) < 0.2)  # zero at both ends: librosa's ramp padding is zeros
    win = 128
    lags = np.arange(1, win - 1, dtype=float)
    ref = tempogram(env, win)
    ours = Autocorrelation(lags, win_length=win)(torch.from_numpy(env)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours, ref[1 : win - 1], atol=1e-10)
    half = Autocorrelation([10.5], win_length=win)(torch.from_numpy(env)[None, None])[0, 0, 0].numpy()
    np.testing.assert_allclose(half, 0.5 * (ref[10] + ref[11]), atol=1e-10)  # linear interpolation between lags
    strided = Autocorrelation(lags, win_length=win, hop_length=4)(torch.from_numpy(env)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(strided, ref[1 : win - 1, ::4], atol=1e-10)


def test_the_written_out_tempogram_is_librosas() -> None:
    import librosa

    env = np.zeros(300)
    env[40:260] = np.random.default_rng(4).random(220)
    ref = librosa.feature.tempogram(onset_envelope=env, sr=22050, hop_length=512, win_length=64)
    np.testing.assert_allclose(tempogram(env, 64), ref, atol=1e-10)
