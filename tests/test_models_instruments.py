"""InstrumentMLP and InstrumentCNN: shapes, overfitting a tiny batch, save/load, level invariance; the batch
augmentation and the Lightning training loop of dlmir.train.instruments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlmir.errors import ParameterError
from dlmir.instruments.features import NOTE_CQT
from dlmir.models import InstrumentCNN, InstrumentMLP, build, load, save, set_frontend
from dlmir.models.instruments import PeakDB, default_classes, note_loss
from dlmir.train.instruments import InstrumentTrainConfig, NoteArrays, augment_batch, train_instruments


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a busy 2-core machine two threads make these small models 5-20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _overfit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


def test_mlp_is_the_practicum_network_and_overfits() -> None:
    torch.manual_seed(0)
    model = InstrumentMLP(seed=0, dropout=0.0)
    dense = [m for n, m in model.net if n.startswith("dense")]
    assert [tuple(d.weight.shape) for d in dense] == [(256, 120), (256, 256)]
    assert model.net["classify"].weight.shape == (15, 256) and model.classes == default_classes()
    x = torch.randn(45, 120)
    y = torch.arange(45) % 15
    assert _overfit(model, x, y, steps=150, lr=3e-3) == 1.0


def test_cnn_overfits_a_tiny_batch() -> None:
    torch.manual_seed(0)
    model = InstrumentCNN(seed=0, dropout=0.0, channels=(8, 8, 16, 16), embedding=32)
    x = torch.rand(10, 192, 40) ** 4
    y = torch.arange(10) % 15
    assert model(x).shape == (10, 15)
    assert _overfit(model, x, y, steps=80, lr=1e-2) == 1.0


def test_level_invariance_and_short_inputs() -> None:
    model = InstrumentCNN(seed=1).eval()
    x = torch.rand(3, 192, 87) ** 3
    with torch.no_grad():
        np.testing.assert_allclose(model(x), model(7.5 * x), atol=1e-4)
        assert model(x[:, :, :5]).shape == (3, 15)  # padded to min_frames
        assert model(x[0]).shape == (1, 15)
    db = PeakDB(80.0)(torch.tensor([[[1.0, 0.1, 1e-5, 0.0]]]))
    np.testing.assert_allclose(db.numpy().ravel(), [1.0, 0.75, 0.0, 0.0], atol=1e-6)  # 0, -20, -100, -inf dB


def test_loss_soft_targets_equal_indices() -> None:
    logits = torch.randn(6, 15)
    idx = torch.tensor([0, 3, 14, 2, 2, 7])
    onehot = torch.nn.functional.one_hot(idx, 15).float()
    assert note_loss(logits, onehot).item() == pytest.approx(note_loss(logits, idx).item(), rel=1e-6)
    with pytest.raises(ParameterError, match="soft targets"):
        note_loss(logits, torch.ones(6, 3))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_save_load_round_trip(kind: str, tmp_path) -> None:
    model = InstrumentMLP(seed=2) if kind == "mlp" else InstrumentCNN(seed=2, classes=["a", "b", "c"])
    if kind == "mlp":
        model.set_standardization(np.arange(120.0), np.full(120, 2.0))
    set_frontend(model, NOTE_CQT)
    save(model, tmp_path / kind)
    back = load(tmp_path / kind)
    assert type(back) is type(model) and back.classes == model.classes
    assert back.frontend.config == {**NOTE_CQT, **back.frontend.config} and back.frontend.config["n_bins"] == 192
    x = torch.randn(2, 120) if kind == "mlp" else torch.rand(2, 192, 30)
    model.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())
    assert type(build(model.config)) is type(model)


def test_construction_errors() -> None:
    with pytest.raises(ParameterError, match="distinct classes"):
        InstrumentMLP(classes=["a", "a"])
    with pytest.raises(ParameterError, match="one factor"):
        InstrumentCNN(channels=(8, 8), time_pool=(2,), pitch_pool=(2, 2))
    with pytest.raises(ParameterError, match="expects features"):
        InstrumentMLP()(torch.zeros(2, 7))
    with pytest.raises(ParameterError, match="expects a CQT"):
        InstrumentCNN()(torch.zeros(2, 84, 20))


def test_augment_batch_keeps_ranges_and_mixes_targets() -> None:
    classes = default_classes()
    b, frames = 64, 87
    x = torch.zeros(b, 192, frames)
    tuba, flute = classes.index("tuba"), classes.index("flute")
    label = torch.tensor([tuba, flute] * (b // 2))
    pitch = torch.tensor([58, 60] * (b // 2))  # tuba at its highest note, flute at its lowest
    bins = 2 * (pitch - 24)  # the fundamental's bin (C1 = bin 0, 2 bins a semitone)
    x[torch.arange(b), bins, :] = 1.0
    gen = torch.Generator().manual_seed(0)
    out, target = augment_batch(x, label, pitch, classes=classes, augment=["shift"], generator=gen)
    moved = out.amax(-1).argmax(-1) - bins
    assert torch.all(moved[label == tuba] <= 0) and torch.all(moved[label == flute] >= 0)  # never out of range
    assert torch.all(moved.abs() <= 6) and torch.any(moved != 0)
    out, target = augment_batch(x, label, pitch, classes=classes, augment=["mix", "crop", "legato"], p_mix=0.5,
                                generator=torch.Generator().manual_seed(1))  # fmt: skip
    torch.testing.assert_close(target.sum(-1), torch.ones(b))
    mixed = target.amax(-1) < 1.0
    assert mixed.any() and torch.all(target[mixed].amax(-1) >= 0.5 - 1e-6)  # the first note is the louder
    assert 24 <= out.shape[-1] <= frames


def _notes(n: int, seed: int) -> NoteArrays:
    rng = np.random.default_rng(seed)
    classes = default_classes()[:3]
    label = np.arange(n) % 3
    cqt = rng.random((n, 192, 30)).astype(np.float16) * 0.1
    cqt[np.arange(n), 40 + 30 * label, :] = 1.0  # each class: one loud bin
    feats = rng.normal(size=(n, 120)).astype(np.float32) + 3 * label[:, None]
    return NoteArrays(cqt, feats, label, np.full(n, 60), np.zeros(n, dtype=np.int64), [f"n{i}" for i in range(n)],
                      classes)  # fmt: skip


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_training_loop_learns_and_resumes(kind: str, tmp_path) -> None:
    from dlmir.train.instruments import build_model

    train, valid = _notes(24, 0), _notes(12, 1)
    cfg = InstrumentTrainConfig(
        epochs=3, batch_size=6, lr=3e-3, schedule="constant", progress_bar=False, augment=[], seed=0
    )
    model = build_model(kind, classes=train.classes, seed=0, **({"channels": (4, 4, 8, 8), "embedding": 8} if
                                                               kind == "cnn" else {}))  # fmt: skip
    first = train_instruments(model, train, valid, config=cfg, run_dir=tmp_path, stop_after_epochs=2)
    assert first["epoch"] == 2 and (tmp_path / "model.safetensors").is_file()
    model2 = build_model(kind, classes=train.classes, seed=0, **({"channels": (4, 4, 8, 8), "embedding": 8} if
                                                                kind == "cnn" else {}))  # fmt: skip
    done = train_instruments(model2, train, valid, config=cfg, run_dir=tmp_path, resume=True)
    assert done["epoch"] == 3 and [h["epoch"] for h in done["history"]] == [1, 2, 3]
    assert all(np.isfinite(h["val_loss"]) for h in done["history"])
    if kind == "mlp":  # separable features: learned in 12 steps (the CNN's batch norm needs more than that)
        assert done["history"][-1]["val_accuracy"] == 1.0
    saved = load(tmp_path)
    assert saved.classes == train.classes and saved.frontend.config["n_bins"] == 192


def test_config_errors() -> None:
    with pytest.raises(ParameterError, match="augment batches with"):
        InstrumentTrainConfig(augment=["rotate"])
    with pytest.raises(ParameterError, match="loss 'nll'"):
        InstrumentTrainConfig(loss="mse")
