"""The layer vocabulary, stage by stage, against hand-derived values and torch/librosa references."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import ParameterError
from dlmir.layers import (
    AmplitudeToDB,
    Cascade,
    Conv1d,
    Conv2d,
    Dense,
    FullWaveRectify,
    HalfWaveRectify,
    HistogramPool,
    LogCompression,
    Modulus,
    Normalize,
    OctaveFold,
    Sigmoid,
    Softmax,
    Tanh,
    TimePool,
)

# -- affine --------------------------------------------------------------------------------------


def test_dense_hand_values() -> None:
    w = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
    layer = Dense(w, np.array([0.5, 0.0, -1.0]))
    x = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]], dtype=torch.float64)  # (1, 2 features, 2 frames)
    expected = torch.tensor([[[5.5, 2.5], [-2.0, -1.0], [4.0, 0.0]]], dtype=torch.float64)
    assert torch.equal(layer(x), expected)
    assert (layer.in_features, layer.out_features) == (2, 3)
    with pytest.raises(ParameterError, match="expects 2 features"):
        layer(torch.zeros(1, 3, 4))
    with pytest.raises(ParameterError, match="2-D"):
        Dense(np.zeros(3))


def test_dense_random_is_seeded_and_trainable() -> None:
    a, b = Dense.random(8, 4, seed=3), Dense.random(8, 4, seed=3)
    assert torch.equal(a.weight, b.weight) and a.trainable
    assert abs(float(a.weight.detach().std()) - 1 / np.sqrt(8)) < 0.2


def test_conv1d_matches_torch() -> None:
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(3, 2, 5, generator=gen), torch.randn(3, generator=gen)
    x = torch.randn(4, 2, 50, generator=gen)
    layer = Conv1d(w, b, stride=2)
    out = layer(x)
    assert out.shape == (4, 3, (50 - 5) // 2 + 1)
    assert torch.allclose(out, torch.nn.functional.conv1d(x, w, b, stride=2))
    # hand value: a length-2 box filter sums neighbours
    box = Conv1d(np.ones((1, 1, 2)))
    assert box(torch.tensor([[[1.0, 2.0, 4.0]]])).tolist() == [[[3.0, 6.0]]]


def test_conv2d_matches_torch_and_random_he_init() -> None:
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(2, 1, 3, 3, generator=gen)
    x = torch.randn(2, 1, 10, 12, generator=gen)
    assert torch.allclose(Conv2d(w, padding=1)(x), torch.nn.functional.conv2d(x, w, padding=1))
    layer = Conv2d.random(4, 64, (5, 5), seed=0)
    assert layer.trainable
    assert abs(float(layer.weight.detach().std()) - np.sqrt(2 / 100)) < 0.01


# -- nonlinearities ------------------------------------------------------------------------------


def test_rectifiers_and_squashers_hand_values() -> None:
    x = torch.tensor([-2.0, 0.0, 3.0])
    assert HalfWaveRectify()(x).tolist() == [0.0, 0.0, 3.0]
    assert FullWaveRectify()(x).tolist() == [2.0, 0.0, 3.0]
    assert torch.allclose(Tanh()(x), torch.tanh(x))
    assert Sigmoid()(torch.tensor([0.0])).item() == 0.5
    s = Softmax()(torch.tensor([[[0.0], [float(np.log(3.0))]]]))  # over features
    assert torch.allclose(s.flatten(), torch.tensor([0.25, 0.75]))


def test_modulus_powers_and_finite_gradient_at_zero() -> None:
    z = torch.tensor([3 + 4j, 0j], dtype=torch.complex128, requires_grad=True)
    assert Modulus(1.0)(z).tolist() == [5.0, 0.0]
    assert Modulus(2.0)(z).tolist() == [25.0, 0.0]
    assert torch.allclose(Modulus(0.5)(z.detach()), torch.tensor([np.sqrt(5.0), 0.0], dtype=torch.float64))
    Modulus(1.0)(z).sum().backward()
    assert torch.isfinite(torch.view_as_real(z.grad)).all()
    # d|z|/dz at 3+4j is the unit phasor (0.6, 0.8); at 0 the gradient is 0
    assert torch.allclose(torch.view_as_real(z.grad), torch.tensor([[0.6, 0.8], [0.0, 0.0]], dtype=torch.float64))
    x = torch.tensor([-2.0])
    assert Modulus(1.0)(x).item() == 2.0  # real input: |x|
    with pytest.raises(ParameterError, match="power"):
        Modulus(0.0)


def test_log_compression_hand_value_and_trainable_gain() -> None:
    layer = LogCompression(gain=10.0, trainable=True)
    assert torch.allclose(layer(torch.tensor([0.0, 0.9])), torch.tensor([0.0, float(np.log(10.0))]))
    assert layer.trainable
    with pytest.raises(ParameterError, match="gain"):
        LogCompression(gain=0.0)


@pytest.mark.parametrize("top_db", [None, 80.0, 30.0])
@pytest.mark.parametrize("ref", [1.0, 0.5])
def test_amplitude_to_db_matches_librosa(top_db: float | None, ref: float) -> None:
    rng = np.random.default_rng(0)
    s = rng.random((1, 16, 20)) ** 8  # wide dynamic range
    s[0, 0, 0] = 0.0
    ours = AmplitudeToDB(kind="power", ref=ref, top_db=top_db)(torch.as_tensor(s)).numpy()
    assert np.allclose(ours, librosa.power_to_db(s, ref=ref, top_db=top_db), atol=1e-9)
    amp = np.sqrt(s)
    ours_amp = AmplitudeToDB(kind="amplitude", ref=ref, amin=1e-5, top_db=top_db)(torch.as_tensor(amp)).numpy()
    assert np.allclose(ours_amp, librosa.amplitude_to_db(amp, ref=ref, amin=1e-5, top_db=top_db), atol=1e-9)


def test_amplitude_to_db_top_db_is_per_batch_item() -> None:
    s = np.stack([np.full((2, 3), 1.0), np.full((2, 3), 1e-6)])
    s[1, 0, 0] = 1e-12
    out = AmplitudeToDB(top_db=20.0)(torch.as_tensor(s)).numpy()
    for i in range(2):
        assert np.allclose(out[i], librosa.power_to_db(s[i], top_db=20.0))
    with pytest.raises(ParameterError, match="kind"):
        AmplitudeToDB(kind="energy")
    with pytest.raises(ParameterError, match="top_db"):
        AmplitudeToDB(top_db=-1.0)


# -- pooling -------------------------------------------------------------------------------------


def test_time_pool_kinds_hand_values() -> None:
    x = torch.tensor([[[1.0, 5.0, 3.0, 7.0]]])
    assert TimePool("max")(x).tolist() == [[[7.0]]]
    assert TimePool("mean")(x).tolist() == [[[4.0]]]
    assert TimePool("sum")(x).tolist() == [[[16.0]]]
    assert TimePool("median")(x).tolist() == [[[3.0]]]  # torch's lower median
    assert torch.allclose(TimePool("std")(x), torch.tensor([[[np.sqrt(5.0)]]], dtype=torch.float32))
    assert TimePool("max", kernel_size=2)(x).tolist() == [[[5.0, 7.0]]]
    assert TimePool("mean", kernel_size=2, stride=1)(x).tolist() == [[[3.0, 4.0, 5.0]]]
    with pytest.raises(ParameterError, match="pooling kind"):
        TimePool("mode")
    with pytest.raises(ParameterError, match="kernel_size"):
        TimePool("max", kernel_size=5)(x)


def test_histogram_pool_hand_values() -> None:
    # centres 0, 0.5, 1; value 0.25 splits its vote between the first two centres
    x = torch.tensor([[[0.0, 0.25, 1.0, 2.0]]])
    out = HistogramPool(3, low=0.0, high=1.0)(x)
    assert torch.allclose(out, torch.tensor([[[1.5, 0.5, 2.0]]]) / 4)
    assert torch.allclose(out.sum(-1), torch.ones(1, 1))
    with pytest.raises(ParameterError, match="n_bins"):
        HistogramPool(1)


def test_octave_fold_matches_hand_sum_and_librosa_chroma_positions() -> None:
    x = torch.arange(1.0, 25.0).reshape(1, 24, 1)  # two octaves of 12 bins
    out = OctaveFold(12)(x)
    assert out.flatten().tolist() == [float(i + 1 + i + 13) for i in range(12)]
    assert OctaveFold(12, kind="max")(x).flatten().tolist() == [float(i + 13) for i in range(12)]
    # start_bin: first row is pitch class 9 (A); row 3 is then pitch class 0 (C)
    one_hot = torch.zeros(1, 12, 1)
    one_hot[0, 3, 0] = 1.0
    folded = OctaveFold(12, start_bin=9)(one_hot)
    assert folded.flatten().tolist() == [1.0] + [0.0] * 11
    mean = OctaveFold(12, start_bin=9, kind="mean")(torch.ones(1, 15, 1))
    assert torch.allclose(mean, torch.ones(1, 12, 1))


def test_normalize_matches_librosa() -> None:
    rng = np.random.default_rng(2)
    s = rng.standard_normal((1, 12, 30))
    s[0, :, 0] = 0.0  # a silent frame stays zero
    for norm in (np.inf, 1, 2):
        ours = Normalize(norm)(torch.as_tensor(s)).numpy()
        assert np.allclose(ours[0], librosa.util.normalize(s[0], norm=norm, axis=-2))
    with pytest.raises(ParameterError, match="norm"):
        Normalize(3)


# -- cascade -------------------------------------------------------------------------------------


def test_cascade_list_replace_freeze_unfreeze() -> None:
    net = Cascade(proj=Dense.random(4, 3, seed=0), rect=HalfWaveRectify(), pool=TimePool("max"))
    assert net.names == ["proj", "rect", "pool"] and len(net) == 3
    x = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0))
    w, b = net["proj"].weight, net["proj"].bias
    expected = torch.relu(torch.einsum("of,bft->bot", w, x) + b[:, None]).amax(-1, keepdim=True)
    assert torch.allclose(net(x), expected)
    assert torch.allclose(net.run_until(x, "proj"), torch.einsum("of,bft->bot", w, x) + b[:, None])
    assert net.trainable_stages == ["proj"]
    net.freeze()
    assert net.trainable_stages == []
    net.unfreeze("proj")
    assert net.trainable_stages == ["proj"]
    old = net.replace("rect", Tanh())
    assert isinstance(old, HalfWaveRectify) and isinstance(net["rect"], Tanh)
    with pytest.raises(ParameterError, match="no stage named"):
        net["nope"]
    with pytest.raises(ParameterError, match="already exists"):
        net.append("proj", Tanh())
    with pytest.raises(ParameterError, match="nn.Module"):
        net.append("f", lambda t: t)  # type: ignore[arg-type]


def test_stage_freeze_unfreeze_and_as_parameter_precision() -> None:
    layer = Dense(np.eye(3))
    assert not layer.trainable and layer.weight.dtype == torch.float64  # numpy float64 keeps its precision
    assert layer.unfreeze().trainable and not layer.freeze().trainable
    x = torch.ones(1, 3, 2, requires_grad=True)
    layer.unfreeze()
    layer(x).sum().backward()
    assert torch.equal(layer.weight.grad, torch.full((3, 3), 2.0, dtype=torch.float64))  # sum over 2 frames
