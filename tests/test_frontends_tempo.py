"""The Tempo cascade: click tracks at known BPM, librosa's onset strength inside it, gradients, silence, errors."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends import Tempo
from dlmir.frontends.tempo import SILENCE, TempoPrior, band_matrix, pick_tempi
from dlmir.layers import Autocorrelation, CombResonators

SR = 22050


def clicks(bpm: float, *, seconds: float = 6.0, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """Decaying 1 kHz clicks every ``60 / bpm`` s, starting at a random phase; float32 at 22050 Hz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    t = np.arange(int(0.02 * SR)) / SR
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.003)
    for start in np.arange(rng.uniform(0, 60 / bpm), seconds, 60 / bpm):
        i = int(round(start * SR))
        seg = y[i : i + click.size]
        seg += click[: seg.size]
    y += noise * rng.standard_normal(n)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def fe() -> Tempo:
    return Tempo()


@pytest.mark.parametrize("bpm", [66.0, 75.0, 90.0, 104.0, 120.0, 137.0, 150.0, 165.0, 183.0, 200.0])
def test_click_tracks_give_their_bpm_within_one_percent(fe: Tempo, bpm: float) -> None:
    bpm1, bpm2, strength = fe.estimate(clicks(bpm, seconds=8.0, seed=int(bpm)))
    assert abs(bpm1[0] - bpm) <= 0.01 * bpm
    assert abs(math.log(bpm2[0] / bpm1[0])) > math.log(1.05) and 0.5 <= strength[0] <= 1.0


def test_a_batch_gives_each_items_tempo(fe: Tempo) -> None:
    bpms = [70.0, 95.0, 128.0]
    batch = np.stack([clicks(b, seed=i, noise=0.01) for i, b in enumerate(bpms)])
    np.testing.assert_allclose(fe.bpm(batch), bpms, rtol=0.01)
    with torch.inference_mode():
        whole = fe(torch.from_numpy(batch))
        alone = fe(torch.from_numpy(batch[1]))
    assert whole.shape == (3, fe.tempi.size)
    np.testing.assert_allclose(whole[1].numpy(), alone[0].numpy(), rtol=1e-4, atol=1e-7)


def test_stages_and_the_onset_curve_is_librosas_onset_strength(fe: Tempo) -> None:
    assert fe.names == ["stft", "modulus", "mel", "db", "diff", "rectify", "bands", "weights", "smooth",
                        "standardize", "periodicity", "pool", "spectrum", "prior"]  # fmt: skip
    y = clicks(97.0, seconds=4.0, noise=0.01)
    with torch.inference_mode():
        curve = fe.run_until(torch.from_numpy(y), "weights")[0, 0].numpy()
    ref = librosa.onset.onset_strength(y=y, sr=SR)
    # uniform band weights over equal groups of mel bands: the mean flux over bands; librosa shifts it by
    # lag + n_fft // (2 hop) = 3 frames (dlmir.frontends.onset.FrameAlign)
    np.testing.assert_allclose(curve[: ref.size - 3], ref[3:], rtol=1e-4, atol=1e-4 * ref.max())
    np.testing.assert_allclose(fe.band_weights(), np.full(8, 1 / 8))
    np.testing.assert_allclose(band_matrix(8, 128).sum(1), 1.0)
    assert isinstance(fe["periodicity"], CombResonators) and fe["periodicity"].n_tempi == fe.tempi.size == 160


def test_every_stage_is_frozen_by_default_and_trainable_on_request(fe: Tempo) -> None:
    assert fe.trainable_stages == []
    learned = Tempo(trainable=True)
    assert set(learned.trainable_stages) == {"stft", "mel", "bands", "weights", "smooth", "periodicity", "prior"}
    learned.freeze("stft", "mel")
    assert "stft" not in learned.trainable_stages and "weights" in learned.trainable_stages


def test_gradients_reach_the_band_weights_from_a_loss_on_the_tempo_spectrum() -> None:
    model = Tempo(trainable=True).freeze("stft", "mel")
    y = torch.from_numpy(np.stack([clicks(100.0, seed=1, noise=0.01), clicks(140.0, seed=2, noise=0.01)]))
    spectrum = model(y)
    target = torch.tensor([np.argmin(abs(model.tempi - 100.0)), np.argmin(abs(model.tempi - 140.0))])
    loss = torch.nn.functional.cross_entropy(torch.log(spectrum + 1e-6), target)
    loss.backward()
    for name in ("weights", "bands", "periodicity", "prior", "smooth"):
        grads = [p.grad for p in model[name].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert any(float(g.abs().sum()) > 0 for g in grads), name
    assert float(model["weights"].weight.grad.abs().min()) > 0  # every band's weight moves


def test_a_gradient_step_on_the_band_weights_lowers_the_loss() -> None:
    model = Tempo(trainable=True).freeze()
    model.unfreeze("weights")
    y = torch.from_numpy(clicks(100.0, seed=3, noise=0.05))
    target = torch.tensor([int(np.argmin(abs(model.tempi - 100.0)))])

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(torch.log(model(y) + 1e-6), target)

    before = loss()
    before.backward()
    with torch.no_grad():
        w = model["weights"].weight
        w -= 1e-3 * w.grad / w.grad.abs().max()
    assert float(loss().detach()) < float(before.detach())


def test_silence_has_no_tempo_and_short_or_nan_audio_is_an_error(fe: Tempo) -> None:
    bpm1, bpm2, strength = fe.estimate(np.zeros(3 * SR, dtype=np.float32))
    assert np.isnan(bpm1[0]) and np.isnan(bpm2[0]) and np.isnan(strength[0])
    with torch.inference_mode():
        assert float(fe(np.zeros(3 * SR, dtype=np.float32)).max()) <= SILENCE
    with pytest.raises(AudioError, match=r"1\.00 s long.*at least 2\.00 s"):
        fe(clicks(120.0, seconds=1.0))
    bad = clicks(120.0, seconds=3.0)
    bad[100] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        fe.estimate(bad)
    assert fe.min_seconds == pytest.approx(2.0, abs=1e-4)
    assert Tempo(min_bpm=60).estimate(clicks(120.0, seconds=1.2))[0][0] == pytest.approx(120.0, rel=0.02)


def test_the_autocorrelation_variant_and_no_prior() -> None:
    ac = Tempo(periodicity="autocorrelation")
    assert isinstance(ac["periodicity"], Autocorrelation)
    assert ac.bpm(clicks(90.0, seed=5))[0] == pytest.approx(90.0, rel=0.01)
    flat = Tempo(prior=False)
    assert "prior" not in flat.names and flat.bpm(clicks(120.0, seed=6))[0] == pytest.approx(120.0, rel=0.01)


def test_the_prior_is_librosas_log_normal() -> None:
    tempi = np.array([30.0, 60.0, 120.0, 240.0])
    w = TempoPrior(tempi, start_bpm=120, std_bpm=1.0).weights().double().numpy()
    np.testing.assert_allclose(w, np.exp(-0.5 * np.log2(tempi / 120) ** 2), rtol=1e-6)


def test_pick_tempi_on_hand_made_spectra() -> None:
    tempi = 60.0 * 2.0 ** (np.arange(25) / 12)  # 60..240 BPM, 12 per octave
    s = np.zeros(25)
    s[12] = 4.0  # 120 BPM
    s[[11, 13]] = 2.0  # symmetric shoulders: the parabola's vertex is the bin itself
    s[0] = 3.0  # 60 BPM, at the edge: not a local maximum
    s[19] = 1.0  # 169.7 BPM: the other local maximum
    s[5] = 0.5
    bpm1, bpm2, strength = pick_tempi(s, tempi)
    assert bpm1 == pytest.approx(120.0) and bpm2 == pytest.approx(tempi[19]) and strength == pytest.approx(0.8)
    s[13] = 3.0  # shoulder higher on the right: vertex at offset 0.5 (3 - 2) / (2 - 8 + 3) ... towards 13
    offset = 0.5 * (2.0 - 3.0) / (2.0 - 2 * 4.0 + 3.0)
    assert pick_tempi(s, tempi)[0] == pytest.approx(120.0 * 2 ** (offset / 12))
    assert np.isnan(pick_tempi(np.zeros(25), tempi)[0]) and np.isnan(pick_tempi(np.full(25, np.nan), tempi)[2])
    with pytest.raises(ParameterError, match="grid"):
        pick_tempi(np.zeros(24), tempi)


def test_the_config_rebuilds_the_same_cascade(fe: Tempo) -> None:
    params = {k: v for k, v in fe.config.items() if k != "frontend"}
    assert fe.config["frontend"] == "Tempo" and Tempo(**params).config == fe.config
    other = Tempo(**{**params, "half_energy": 3.0, "n_bands": 4})
    assert other.config["half_energy"] == 3.0 and other["bands"].weight.shape == (4, 128)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"periodicity": "wavelet"}, "periodicity"),
        ({"n_bands": 0}, "n_bands"),
        ({"max_bpm": 3000}, "faster than one beat per frame|periods >= 2"),
        ({"min_bpm": 200, "max_bpm": 100}, "min_bpm < max_bpm"),
        ({"start_bpm": -1}, "start_bpm"),
        ({"periodicity": "autocorrelation", "ac_size": 1.0}, "ac_size"),
    ],
)
def test_invalid_parameters_raise(kw: dict, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        Tempo(**kw)


def test_a_trained_tempo_model_saves_and_loads_like_the_other_models(tmp_path) -> None:
    from dlmir.models import load, read_config, save
    from dlmir.rhythm.tempo import estimate_tempo

    model = Tempo(trainable=True, n_bands=4)
    with torch.no_grad():
        model["weights"].weight.copy_(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64))
        model["periodicity"].gain.mul_(0.95)
    folder = save(model, tmp_path / "tempo", extra={"note": "test"})
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}
    doc = read_config(folder)
    assert doc["model"]["model"] == "Tempo" and doc["model"]["n_bands"] == 4 and doc["frontend"]["frontend"] == "Tempo"
    loaded = load(folder)
    assert isinstance(loaded, Tempo) and not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    y = clicks(118.0, seed=9)
    np.testing.assert_allclose(loaded.estimate(y), model.estimate(y))
    assert estimate_tempo(y, SR, model=folder).bpm1 == pytest.approx(float(model.bpm(y)[0]))


def test_a_saved_tempo_stores_only_what_left_its_designed_values(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    from dlmir.models import load, read_config, save

    model = Tempo(trainable=True, n_bands=4)
    with torch.no_grad():
        model["weights"].weight.copy_(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64))
    folder = save(model, tmp_path / "tempo")
    stored = load_file(str(folder / "model.safetensors"))
    designed = read_config(folder)["designed"]
    # the band weights were learned: stored; the DFT and mel matrices are still designed: rebuilt from the config
    assert "stages.weights.weight" in stored and "stages.weights.weight" not in designed
    assert any("stft" in k for k in designed) and any("mel" in k for k in designed)
    assert not set(stored) & set(designed)
    assert set(stored) | set(designed) == set(model.state_dict())
    assert (folder / "model.safetensors").stat().st_size < 100_000
    loaded = load(folder)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    # a learned tensor missing from the file is an error, not a silent return to the designed value
    save_file({k: v for k, v in stored.items() if k != "stages.weights.weight"}, str(folder / "model.safetensors"))
    with pytest.raises(ParameterError, match="missing"):
        load(folder)
