"""LearnedChroma: designed start equals the octave-folded log-CQT; shapes; training step; save/load."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import ParameterError
from dlmir.models import LearnedChroma, load, save
from dlmir.train.regularizers import Regularization, apply_max_norm, l1_penalty


def _cqt(n_bins: int = 192, frames: int = 20, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.gamma(0.5, 0.05, size=(2, n_bins, frames)).astype(np.float32))


def test_octave_init_reproduces_designed_chroma_exactly():
    x = _cqt()
    model = LearnedChroma(init="octave", output="linear", log_gain=100.0)
    designed = librosa.filters.cq_to_chroma(192, bins_per_octave=24, n_chroma=12, fmin=librosa.note_to_hz("C1"))
    expected = np.einsum("cf,bft->bct", designed, np.log1p(100.0 * x.numpy().astype(np.float64)))
    got = model(x).detach().numpy()
    assert got.shape == (2, 12, 20)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert model.weight.shape == (12, 192)


def test_octave_init_with_context_uses_centre_frame_only():
    x = _cqt(frames=9)
    plain = LearnedChroma(output="linear")
    ctx = LearnedChroma(output="linear", context=2)
    np.testing.assert_allclose(ctx(x).detach().numpy(), plain(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_patch_input_equals_centre_frame_of_feature_input():
    x = _cqt(frames=7)
    model = LearnedChroma(context=1, init="random", seed=3)
    full = model(x)  # (2, 12, 7)
    # patch around frame 3 of item 0: frames 2,3,4 as (1, 1, 3, n_bins)
    patch = x[0, :, 2:5].T.reshape(1, 1, 3, 192)
    out = model(patch)
    assert out.shape == (1, 12, 1)
    np.testing.assert_allclose(out[0, :, 0].detach().numpy(), full[0, :, 3].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_tanh_output_sums_to_one():
    out = LearnedChroma(init="octave")(_cqt())
    np.testing.assert_allclose(out.sum(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    assert float(out.detach().min()) > 0


def test_one_training_step_lowers_loss_on_fixed_batch():
    torch.manual_seed(0)
    x = _cqt(frames=16)
    target = torch.zeros(2, 12, 16)
    target[:, [0, 4, 7], :] = 1 / 3
    for layers in (1, 2):
        model = LearnedChroma(layers=layers, hidden=16, init="random", seed=0)
        model.fit_standardization(x)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        before = torch.nn.functional.mse_loss(model(x), target)
        before.backward()
        opt.step()
        after = torch.nn.functional.mse_loss(model(x), target)
        assert float(after) < float(before)


def test_standardization_and_pca_init():
    x = _cqt(frames=50)
    model = LearnedChroma(layers=2, hidden=8, hidden_init="pca", seed=0).fit_standardization(x)
    z = model.features(x).transpose(1, 2).reshape(-1, 192)
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-4)
    # hidden units are orthogonal directions (principal axes)
    w = model["hidden"].weight.detach()
    gram = (w / w.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T
    np.testing.assert_allclose(gram.numpy(), np.eye(8), atol=1e-4)


def test_regularizers():
    model = LearnedChroma(init="random", seed=1)
    w = model["chroma"].weight
    assert float(l1_penalty(model)) == pytest.approx(float(w.abs().sum()), rel=1e-6)
    with torch.no_grad():
        w[0] *= 1000
    changed = apply_max_norm(model, 0.5)
    assert changed >= 1
    assert float(w.norm(dim=1).max()) <= 0.5 + 1e-6
    with pytest.raises(ParameterError):
        Regularization(max_norm=0)


def test_save_load_roundtrip(tmp_path):
    model = LearnedChroma(layers=2, hidden=5, context=1, init="random", seed=2)
    model.fit_standardization(_cqt(frames=10))
    save(model, tmp_path / "run")
    back = load(tmp_path / "run")
    x = _cqt(frames=6, seed=5)
    np.testing.assert_allclose(back(x).detach().numpy(), model.eval()(x).detach().numpy(), rtol=1e-6)
    assert back.config == model.config


def test_bad_parameters_raise():
    with pytest.raises(ParameterError):
        LearnedChroma(layers=0)
    with pytest.raises(ParameterError):
        LearnedChroma(init="pca")
    with pytest.raises(ParameterError, match="192"):
        LearnedChroma()(torch.zeros(1, 84, 3))
    with pytest.raises(ParameterError):
        load("/nonexistent/run")


def test_octave_init_equals_chroma_frontend_on_audio():
    from dlmir.frontends import CQT, Chroma

    sr = 22050
    t = np.arange(sr) / sr
    y = torch.from_numpy(
        (0.3 * np.sin(2 * np.pi * 261.63 * t) + 0.2 * np.sin(2 * np.pi * 392.0 * t)).astype(np.float32)
    )
    cqt = CQT(sr=sr, hop_length=512, n_bins=192, bins_per_octave=24)(y)
    model = LearnedChroma(output="linear", log_gain=100.0)
    # tuning=0.0: the model's CQT is at A440, while the Chroma default estimates this signal's tuning
    chroma = Chroma(sr=sr, hop_length=512, bins_per_octave=24, n_octaves=8, log_gain=100.0, norm=None, tuning=0.0)
    designed = chroma(y)
    np.testing.assert_allclose(model(cqt).detach().numpy(), designed.numpy(), rtol=1e-4, atol=1e-4)


def test_deep_model_stages_and_effective_weight():
    model = LearnedChroma(layers=4, hidden=8, context=1, hidden_dropout=0.5, init="random", seed=3)
    hidden = [n for n in model.names if n.startswith("hidden") and "dropout" not in n]
    assert hidden == ["hidden", "hidden2", "hidden3"]
    assert [n for n in model.names if n.startswith("hidden_dropout")] == [
        "hidden_dropout",
        "hidden_dropout2",
        "hidden_dropout3",
    ]
    # hand-derived: the effective linear map is the product W_out W_3 W_2 W_1, (12, 3 * 192)
    w = model["chroma"].weight @ model["hidden3"].weight @ model["hidden2"].weight @ model["hidden"].weight
    assert model.weight.shape == (12, 3 * 192)
    np.testing.assert_allclose(model.weight.detach().numpy(), w.detach().numpy(), rtol=1e-6)
    x = _cqt(frames=5, seed=1)
    model.eval()
    out = model(x)
    assert out.shape == (x.shape[0], 12, 5)
    np.testing.assert_allclose(out.sum(1).detach().numpy(), 1.0, rtol=1e-6)  # softmax(tanh) output
    np.testing.assert_array_equal(out.detach().numpy(), model(x).detach().numpy())  # no dropout in eval mode


def test_weight_matrix_of_a_context_model_is_its_response_to_a_steady_input():
    from dlmir.display import weight_matrix

    model = LearnedChroma(context=2, init="random", output="linear", seed=5).eval()
    frame = np.random.default_rng(0).gamma(0.5, 0.1, size=192).astype(np.float32)
    x = torch.from_numpy(np.repeat(frame[None, :, None], 9, axis=2))  # (1, 192 bins, 9 frames), steady
    out = model(x)[0, :, 4].detach().numpy()  # a centre frame: all 5 context frames inside the signal
    w = weight_matrix(model)
    assert w.shape == (12, 192)
    want = w @ np.log1p(100.0 * frame) + model["chroma"].bias.detach().numpy()  # fresh model: identity standardisation
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def _triad(sr: int, seconds: float = 1.0) -> np.ndarray:
    """C major triad (C4 E4 G4, two harmonics each) at ``sr`` Hz, float32."""
    t = np.arange(int(sr * seconds)) / sr
    f0s = (261.63, 329.63, 392.0)
    return (0.1 * sum(np.sin(2 * np.pi * f * h * t) / h for f in f0s for h in (1, 2))).astype(np.float32)


def test_loaded_model_rebuilds_its_own_frontend(tmp_path):
    from dlmir.evaluate import chroma_of, chroma_of_audio
    from dlmir.frontends import CQT
    from dlmir.models import read_config, set_frontend

    # another CQT than the chord CQT: 16 kHz, hop 256, 12 bins per octave, 6 octaves from C2
    fe = CQT(sr=16000, hop_length=256, fmin=librosa.note_to_hz("C2"), n_bins=72, bins_per_octave=12)
    model = LearnedChroma(n_bins=72, bins_per_octave=12, fmin=fe.config["fmin"], init="random", seed=3)
    set_frontend(model, fe)
    save(model, tmp_path / "run")
    assert read_config(tmp_path / "run")["frontend"] == fe.config
    back = load(tmp_path / "run")
    assert isinstance(back.frontend, CQT) and back.frontend.config == fe.config
    assert back.frontend_config == fe.config
    assert not any(k.startswith("frontend") for k in back.state_dict())  # not saved with the weights

    y = _triad(16000)
    with torch.no_grad():
        want = model.eval()(fe(torch.from_numpy(y)))[0].numpy()
        got = back(back.frontend(torch.from_numpy(y)))[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # evaluation computes the model's features with that front end (audio resampled to its rate)
    chroma, used = chroma_of_audio(back, y, sr=16000)
    assert used is back.frontend
    np.testing.assert_allclose(chroma, want, rtol=1e-5, atol=1e-6)
    y22 = librosa.resample(y, orig_sr=16000, target_sr=22050)
    assert chroma_of_audio(back, y22, sr=22050)[0].shape == want.shape
    # a model saved with the wrong front end, or fed the default chord CQT, fails loudly
    with pytest.raises(ParameterError, match="n_bins"):
        set_frontend(LearnedChroma(), fe)
    with pytest.raises(ParameterError, match="72"):
        chroma_of(back, np.zeros((192, 5), np.float32))


def test_model_without_frontend_is_saved_with_the_chord_cqt(tmp_path):
    from dlmir.frontends.presets import CHORD_CQT, chord_frontend
    from dlmir.models import read_config

    save(LearnedChroma(), tmp_path / "run")
    assert read_config(tmp_path / "run")["frontend"] == CHORD_CQT
    assert load(tmp_path / "run").frontend.config == chord_frontend().config
    assert load("default").frontend.config == chord_frontend().config  # the shipped model
