"""dlmir.analysis against oracles: impulse filters, designed = 0 change, hand-computed norms, linear saliency, top-k."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlmir.analysis import (
    compare,
    conv_profiles,
    designed_reference,
    filter_responses,
    input_gradient,
    octave_comparison,
    octave_share,
    relative_change,
    saliency_map,
    select_units,
    tensor_changes,
    top_k,
    view,
)
from dlmir.analysis.activations import collect, example_excerpts, patch
from dlmir.errors import ParameterError
from dlmir.filters import octave_matrix
from dlmir.frontends.presets import C1_HZ
from dlmir.frontends.tempo import Tempo
from dlmir.layers import Dense
from dlmir.models import LearnedChroma

SR = 22050


def _tone(midi: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f0 = librosa.midi_to_hz(midi)
    return (0.3 * sum(0.6**k * np.sin(2 * np.pi * (k + 1) * f0 * t) for k in range(4))).astype(np.float32)


# -- filters --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("b", [0, 2, 6])
def test_conv_impulse_filter_peaks_at_its_bin(b):
    w = torch.zeros(2, 1, 3, 7)
    w[0, 0, 1, b] = 1.0  # one-hot at pitch position b (middle frame)
    w[1, 0, :, b] = 0.5  # the same position on every frame
    profiles, offsets, kernels = conv_profiles(w)
    assert np.argmax(profiles[0]) == b and np.argmax(profiles[1]) == b
    assert offsets[b] == b - 3
    np.testing.assert_allclose(profiles[1, b], 1.5)
    assert kernels.shape == (2, 3, 7)


def test_conv_profile_is_the_response_to_a_steady_impulse():
    """profile[o, k] is what unit o at pitch j outputs for a steady impulse at input bin j + offset[k]."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(4, 2, 3, 5, generator=gen, dtype=torch.float64)
    profiles, offsets, _ = conv_profiles(w)
    p, n_bins, frames = 15, 32, 9
    x = torch.zeros(1, 2, frames, n_bins, dtype=torch.float64)
    x[..., p] = 1.0  # both input channels, every frame
    out = F.conv2d(x, w, padding=(1, 2))[0, :, frames // 2]  # an interior frame, (4, n_bins)
    for k, off in enumerate(offsets):
        np.testing.assert_allclose(out[:, int(p - off)].numpy(), profiles[:, k], rtol=1e-12)


def test_dense_impulse_filter_peaks_at_its_bin_and_frequency():
    net = LearnedChroma(context=1, output="linear")
    w = torch.zeros(12, 3 * 192)
    bins = [5 + 13 * c for c in range(12)]
    for c, b in enumerate(bins):
        w[c, 192 + b] = 1.0  # centre frame
        w[c, b] = 0.25  # and the previous frame: summed into the same bin
    net["chroma"].weight.data.copy_(w)
    resp = filter_responses(net)
    assert resp.layer == "chroma" and not resp.relative and resp.profiles.shape == (12, 192)
    assert list(resp.peaks()) == bins
    np.testing.assert_allclose(resp.profiles[np.arange(12), bins], 1.25)
    freqs = librosa.cqt_frequencies(192, fmin=C1_HZ, bins_per_octave=24)
    np.testing.assert_allclose(resp.peak_freqs(), freqs[bins], rtol=1e-9)
    assert resp.semitones_per_bin == 0.5


def test_octave_matrix_filters_have_energy_only_at_whole_cycles_per_octave():
    resp = filter_responses(LearnedChroma())  # the designed chroma: octave-periodic rows
    cycles, mag = resp.modulation()
    whole = np.isclose(cycles, np.round(cycles))
    assert cycles[-1] == pytest.approx(12.0)  # 24 bins per octave: Nyquist at 12 cycles per octave
    assert (mag[:, ~whole] ** 2).sum() < 1e-20 * (mag**2).sum()


def test_chord_cnn_first_layer_is_its_first_convolution():
    from dlmir.models import ChordCNN, InstrumentCNN

    resp = filter_responses(ChordCNN(channels=(4, 4), pitch_pool=(2, 2), embedding=8, hidden=8, seed=0))
    assert resp.layer.endswith("conv1") and resp.relative and resp.profiles.shape == (4, 3)
    assert resp.semitones_per_bin == 0.5
    inst = filter_responses(InstrumentCNN(channels=(4,), time_pool=(1,), pitch_pool=(1,), embedding=4, seed=0))
    assert inst.semitones_per_bin == 1.0  # mean-pooled over 2 bins (24 per octave) before conv1


def test_tempo_filters_are_the_bands_over_hz():
    t = Tempo()
    resp = filter_responses(t)
    assert resp.profiles.shape == (8, 1025) and resp.freqs[-1] == pytest.approx(SR / 2)
    peaks = resp.peak_freqs()
    assert np.all(np.diff(peaks) > 0)  # contiguous mel groups, low to high


# -- designed against learned -----------------------------------------------------------------------------
def test_designed_chroma_and_tempo_have_zero_change():
    for model in (LearnedChroma(seed=3), Tempo(trainable=True)):
        comp = compare(model)
        assert comp is not None and comp.reference == "designed" and comp.changes
        assert all(c.change_norm == 0.0 and c.relative == 0.0 for c in comp.changes)
    n = octave_comparison(LearnedChroma())
    assert n["relative_change"] == 0.0 and n["own_class"] == 12
    assert n["cosine"] == pytest.approx(1.0, abs=1e-12) and n["octave_share"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(n["octave_energy"], np.full(8, 1 / 8), rtol=1e-12)


def test_perturbed_chroma_change_equals_hand_computed_norm():
    model = LearnedChroma(output="sigmoid")
    delta = torch.zeros(12, 192)
    delta[3, 10], delta[7, 100] = 0.5, -1.25
    model["chroma"].weight.data += delta
    model["chroma"].bias.data += torch.tensor([0.3] + [0.0] * 11)
    octave = octave_matrix(192, 24, fmin=C1_HZ)
    expected = np.sqrt(0.5**2 + 1.25**2) / np.linalg.norm(octave)
    changes = {c.name: c for c in compare(model).changes}
    assert changes["stages.chroma.weight"].relative == pytest.approx(expected, rel=1e-6)
    assert changes["stages.chroma.bias"].relative == float("inf")
    assert changes["stages.chroma.bias"].change_norm == pytest.approx(0.3, rel=1e-6)
    assert changes["stages.standardize.std"].relative == 0.0
    assert octave_comparison(model)["relative_change"] == pytest.approx(expected, rel=1e-6)


def test_perturbed_tempo_band_weights_change_equals_hand_computed_norm():
    model = Tempo(trainable=True)
    new = torch.tensor([[0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]], dtype=model["weights"].weight.dtype)
    model["weights"].weight.data.copy_(new)
    designed = np.full(8, 1 / 8)
    expected = np.linalg.norm(new.numpy()[0] - designed) / np.linalg.norm(designed)
    changes = {c.name: c.relative for c in compare(model).changes}
    assert changes["stages.weights.weight"] == pytest.approx(expected, rel=1e-12)
    assert changes["stages.bands.weight"] == 0.0
    assert compare(model).numbers["band_weights"] == [0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]


def test_relative_change_and_octave_share_oracles():
    assert relative_change(np.array([3.0, 4.0]), np.array([0.0, 0.0])) == float("inf")
    assert relative_change(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_change(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)
    with pytest.raises(ParameterError):
        relative_change(np.zeros(2), np.zeros(3))
    w = np.zeros((2, 48))
    w[:, :24] = np.random.default_rng(0).normal(size=(2, 24))  # energy in the first of 2 octaves only
    assert octave_share(w, 24) == pytest.approx(0.5)
    assert octave_share(np.tile(w[:, :24], 2), 24) == pytest.approx(1.0)


def test_seeded_reference_rebuilds_the_start_and_deep_chroma_has_no_designed_tensors():
    from dlmir.analysis import seeded_reference
    from dlmir.models import ChordCNN

    net = ChordCNN(channels=(4, 4), pitch_pool=(2, 2), embedding=8, hidden=8, seed=5)
    assert all(c.change_norm == 0.0 for c in tensor_changes(net, seeded_reference(net)))
    with torch.no_grad():
        net.head.weight.mul_(2.0)
    changes = {c.name: c.relative for c in compare(net).changes}
    assert changes["head.weight"] == pytest.approx(1.0, rel=1e-6)
    deep = LearnedChroma(layers=2, hidden=8, context=1, seed=None)
    assert designed_reference(deep) is None and filter_responses(deep).layer == "hidden"
    assert filter_responses(deep).profiles.shape == (8, 192)
    comp = compare(deep)  # no seed, no designed tensors: the octave comparison of its effective map only
    assert comp.reference == "octave matrix" and not comp.changes and 0 < comp.numbers["octave_share"] < 1


# -- saliency ---------------------------------------------------------------------------------------------
def test_saliency_of_a_linear_model_is_its_weight():
    gen = torch.Generator().manual_seed(1)
    layer = Dense(torch.randn(5, 16, generator=gen, dtype=torch.float64))
    x = torch.rand(16, 7, generator=gen, dtype=torch.float64)
    grad, scores = input_gradient(layer, x, 3)
    assert scores.shape == (5, 7)
    np.testing.assert_allclose(grad.numpy(), np.repeat(layer.weight.detach().numpy()[3][:, None], 7, 1), rtol=1e-12)
    with pytest.raises(ParameterError):
        input_gradient(layer, x, 5)


def test_saliency_map_of_the_designed_linear_chroma_matches_its_derivative():
    """Designed linear chroma S_c = sum_t O[c] log(1 + C X_t): dS_c / dX = O[c, f] C / (1 + C X[f, t])."""
    model = LearnedChroma(output="linear")
    v = view(model)
    assert v.kind == "chroma"
    from dlmir.frontends.presets import chord_frontend
    from dlmir.models import set_frontend

    set_frontend(model, chord_frontend())
    sal = saliency_map(v, _tone(69))  # A4
    assert sal.target_name == "A" and sal.top == 9
    octave = octave_matrix(192, 24, fmin=C1_HZ)
    expected = octave[9][:, None] * 100.0 / (1.0 + 100.0 * sal.input.astype(np.float64))
    np.testing.assert_allclose(sal.gradient, expected, rtol=1e-4, atol=1e-6)
    x = sal.input.astype(np.float64)
    attribution = (octave[9][:, None] * 100.0 * x / (1.0 + 100.0 * x)).sum(1)
    np.testing.assert_allclose(sal.attribution_profile(), attribution, rtol=1e-4, atol=1e-6)
    chosen = saliency_map(v, _tone(69), target="C")
    assert chosen.target == 0 and chosen.top == 9
    with pytest.raises(ParameterError):
        saliency_map(v, _tone(69), target="H")


# -- top activating inputs --------------------------------------------------------------------------------
def test_top_k_returns_the_known_indices():
    acts = [np.zeros((3, 10)) for _ in range(4)]
    acts[2][0, 7] = 5.0
    acts[0][0, 1] = 4.0
    acts[0][0, 2] = 4.5  # the same excerpt twice: one hit per excerpt unless per_excerpt=False
    acts[3][1, 0] = 1.0
    acts[1][2, :] = -1.0  # unit 2: zeros in the other excerpts, ties broken by excerpt then frame
    hits = top_k(acts, 2)
    assert [(h.excerpt, h.frame, h.value) for h in hits[0]] == [(2, 7, 5.0), (0, 2, 4.5)]
    assert [(h.excerpt, h.frame) for h in hits[1]] == [(3, 0), (0, 0)]
    assert [(h.excerpt, h.frame) for h in hits[2]] == [(0, 0), (2, 0)]
    frames = top_k(acts, 3, per_excerpt=False)
    assert [(h.excerpt, h.frame) for h in frames[0]] == [(2, 7), (0, 2), (0, 1)]
    assert list(select_units(acts, 2)) == [0, 1]
    with pytest.raises(ParameterError):
        top_k(acts, 0)


def test_patch_pads_with_zeros():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(patch(x, 0, 2), [[0, 0, 0, 1, 2], [0, 0, 6, 7, 8]])
    np.testing.assert_array_equal(patch(x, 5, 1), [[4, 5, 0], [10, 11, 0]])


def test_designed_chroma_units_pick_their_own_tones():
    from dlmir.frontends.presets import chord_frontend
    from dlmir.models import set_frontend

    model = set_frontend(LearnedChroma(output="linear"), chord_frontend())
    excerpts = [(f"tone {m}", _tone(m)) for m in (60, 64, 67, 69)]  # C4 E4 G4 A4
    result = collect(view(model), excerpts, progress=False)
    assert len(result.acts) == 4 and result.acts[0].shape[0] == 12
    hits = top_k(result.acts, 1)
    for pc, name in ((0, "tone 60"), (4, "tone 64"), (7, "tone 67"), (9, "tone 69")):
        assert result.names[hits[pc][0].excerpt] == name


def test_example_excerpts_are_deterministic_and_bounded():
    a, b = example_excerpts(SR, seconds=0.5, render=False), example_excerpts(SR, seconds=0.5, render=False)
    assert [n for n, _ in a] == [n for n, _ in b] and len(a) > 20
    assert all(y.shape == (SR // 2,) and np.abs(y).max() <= 0.5 + 1e-6 for _, y in a)
    np.testing.assert_array_equal(a[3][1], b[3][1])


def test_example_excerpts_render_one_note_per_instrument():
    from dlmir.data.instruments import INSTRUMENTS
    from dlmir.data.synth import installed_soundfonts

    if "timgm6mb" not in installed_soundfonts():
        pytest.skip("FluidSynth soundfont timgm6mb not installed")
    rendered = example_excerpts(SR, seconds=0.5, soundfont="timgm6mb")[
        len(example_excerpts(SR, seconds=0.5, render=False)) :
    ]
    assert [n.split()[0] for n, _ in rendered] == list(INSTRUMENTS)
    for name, y in rendered:
        assert y.shape == (SR // 2,) and np.abs(y).max() == pytest.approx(0.5, rel=1e-5), name
