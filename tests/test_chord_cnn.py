"""ChordCNN, the plain convolutional chord baseline: shapes and receptive field, exact chunked and streamed
inference, overfitting a tiny batch, save/load, its loss against hand values, training through
:func:`dlmir.train.chords.train_chords` and the ``dlmir train chords --model cnn`` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from chord_fixtures import guitar_chord, synthetic_dataset
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from dlmir.chords import VOCAB, ChordVocabulary
from dlmir.errors import ParameterError
from dlmir.frontends.presets import CHORD_CQT, chord_frontend
from dlmir.models import ChordCNN, Fretboard, FretboardNet, build, load, save
from dlmir.train.chords import ChordTrainConfig, frame_accuracy, train_chords

LABELS = ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "E:7", "B:dim", "N"]


def _small(**kw) -> ChordCNN:
    args = {"channels": (8, 8), "pitch_pool": (2, 2), "embedding": 32, "hidden": 32, "temporal_kernel": 5,
            "dropout": 0.0, "seed": 0}  # fmt: skip
    return ChordCNN(**{**args, **kw})


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chord_cqts() -> tuple[torch.Tensor, torch.Tensor]:
    """CQT magnitudes ``(8, 192, 22)`` of 0.5 s of 8 distinct chords (the chord CQT), and their class indices."""
    rng = np.random.default_rng(0)
    audio = torch.from_numpy(np.stack([guitar_chord(lab, 0.5, rng) for lab in LABELS]))
    with torch.no_grad():
        cqt = chord_frontend()(audio).float()
    return cqt, torch.tensor([VOCAB.index(lab) for lab in LABELS])


def _sequences(cqts, n: int, seed: int, chords: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` excerpts ``(192, chords x 22)`` of random chords of the fixture, with their per-frame classes."""
    cqt, idx = cqts
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        order = rng.integers(len(LABELS), size=chords)
        xs.append(torch.cat([cqt[k] for k in order], dim=1))
        ys.append(torch.cat([idx[k].repeat(cqt.shape[-1]) for k in order]))
    return torch.stack(xs), torch.stack(ys)


def test_shapes_config_and_receptive_field():
    model = ChordCNN(seed=0)
    # trunk: 4 blocks of 3 x 3 convolutions (1 frame each side each); 2 temporal convolutions of 13 frames (6 each)
    assert model.receptive_halo == 4 + 2 * 6
    assert model.streaming_context(512) == (16 * 512, 16 * 512)
    assert model.config == {
        "model": "ChordCNN", "n_bins": 192, "bins_per_octave": 24, "channels": [16, 16, 32, 32],
        "pitch_pool": [1, 2, 1, 2], "embedding": 128, "hidden": 128, "temporal_kernel": 13, "temporal_layers": 2,
        "dropout": 0.2, "log_gain": 100.0, "vocabulary": "full", "fmin": CHORD_CQT["fmin"], "seed": 0,
    }  # fmt: skip
    assert model.labels == VOCAB.labels
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 192, 30) * 0.05)
        assert {k: tuple(v.shape) for k, v in out.items()} == {"chord": (2, 157, 30)}
        lp = _small(vocabulary="majmin").eval().frame_log_probs(torch.rand(192, 9) * 0.05)  # no batch axis
    assert lp.shape == (1, 25, 9)
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(1, 9))
    assert _small(vocabulary="majmin").labels == ChordVocabulary("majmin").labels
    # 0 temporal layers: the head reads the embedding (32 units) directly; the trunk alone sees 2 frames each side
    flat = _small(temporal_layers=0)
    assert flat.receptive_halo == 2 and flat.head.weight.shape == (157, 32)


def test_one_input_frame_reaches_exactly_the_receptive_field(one_thread):
    model = _small().eval()  # halo: 2 (trunk) + 2 x 2 (two temporal kernels of 5) = 6 frames each side
    assert model.receptive_halo == 6
    x = torch.rand(1, 192, 40) * 0.05
    y = x.clone()
    y[..., 20] += 0.5
    with torch.no_grad():
        diff = (model(y)["chord"] - model(x)["chord"]).abs().amax(dim=(0, 1))
    assert torch.nonzero(diff > 1e-6).flatten().tolist() == list(range(14, 27))


def test_chunked_frame_log_probs_equal_one_shot(one_thread):
    model = _small(dropout=0.3)
    model.train()
    with torch.no_grad():
        model(torch.rand(3, 192, 40) * 0.05)  # move the batch-norm statistics away from their start
    model.eval()
    cqt = torch.rand(2, 192, 101) * 0.05
    with torch.no_grad():
        whole = model.frame_log_probs(cqt, chunk_frames=1000)
        chunked = model.frame_log_probs(cqt, chunk_frames=16)
        tiny = model.frame_log_probs(cqt, chunk_frames=3)  # chunks smaller than the halo
        model.receptive_halo = 0  # chunks without their context: the seams differ (the test can fail)
        seams = model.frame_log_probs(cqt, chunk_frames=16)
    assert whole.shape == (2, 157, 101)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiny, whole, rtol=1e-5, atol=1e-5)
    assert float((seams - whole).abs().max()) > 1e-3


def test_overfits_a_tiny_batch(chord_cqts, one_thread):
    x, y = _sequences(chord_cqts, 4, seed=0)
    model = _small()
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = model.loss(model(x), y)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[0] == pytest.approx(math.log(157), rel=0.5)  # near chance at the start
    assert losses[-1] < 0.05 * losses[0], losses[::5]
    model.eval()
    with torch.no_grad():
        acc, count = frame_accuracy(model(x)["chord"], y)
    assert count == y.numel() and acc == 1.0


def test_loss_hand_values():
    model = _small()
    logits = torch.zeros(1, 157, 3)
    logits[0, 5, 0] = 2.0
    index = torch.tensor([[5, 7, -1]])
    # frame 0: -log(e^2 / (156 + e^2)); frame 1: log 157 (uniform); frame 2 ignored
    want = (math.log(156 + math.e**2) - 2.0 + math.log(157)) / 2
    assert float(model.loss({"chord": logits}, index)) == pytest.approx(want, rel=1e-6)
    assert float(model.loss({"chord": logits}, torch.full((1, 3), -1))) == 0.0


def test_save_load_round_trip(tmp_path):
    model = _small(vocabulary="majmin", dropout=0.1)
    cqt = torch.rand(2, 192, 30) * 0.05
    model.train()
    with torch.no_grad():
        model(cqt)
    model.eval()
    with torch.no_grad():
        expected = model.frame_log_probs(cqt)
    folder = save(model, tmp_path / "m")
    doc = json.loads((folder / "config.json").read_text())
    assert doc["model"]["model"] == "ChordCNN" and doc["vocabulary"].startswith("chords (majmin")
    loaded = load(folder)
    assert type(loaded) is ChordCNN and not loaded.training
    assert loaded.frontend.config == chord_frontend().config
    with torch.no_grad():
        assert torch.equal(loaded.frame_log_probs(cqt), expected)
    assert build(doc["model"]).config == model.config


def test_the_same_seed_gives_the_same_weights():
    a, b, c = _small(seed=3).state_dict(), _small(seed=3).state_dict(), _small(seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["temporal.stages.tconv1.weight"], c["temporal.stages.tconv1.weight"])


def test_trains_with_train_chords(chord_cqts, tmp_path, one_thread):
    train = TensorDataset(*_sequences(chord_cqts, 16, seed=0))
    valid = TensorDataset(*_sequences(chord_cqts, 4, seed=1))
    cfg = ChordTrainConfig(epochs=4, batch_size=8, lr=1e-2, progress_bar=False, patience=0)
    out = train_chords(_small(), train, valid, config=cfg, run_dir=tmp_path)
    hist = out["history"]
    assert [h["step"] for h in hist] == [2, 4, 6, 8]
    assert hist[-1]["val_loss"] < 0.5 * hist[0]["val_loss"], hist
    model = load(tmp_path)
    assert type(model) is ChordCNN
    x, y = valid.tensors
    with torch.no_grad():
        acc, _ = frame_accuracy(model.frame_log_probs(x), y)
    best = json.loads((tmp_path / "config.json").read_text())["extra"]["best"]
    assert acc == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert json.loads((tmp_path / "config.json").read_text())["extra"]["train"]["loss"] == "auto"
    with pytest.raises(ParameterError, match="ChordCNN trains with"):
        train_chords(_small(), train, config=ChordTrainConfig(loss="structured", progress_bar=False))


def test_recognizer_streams_a_chord_cnn_exactly(tmp_path):
    """A frame-local model streams block by block: the same posteriors as on the whole signal."""
    from dlmir.chords.recognition import ChordRecognizer
    from dlmir.examples import example_audio
    from dlmir.io import load as load_audio

    model = _small(seed=1)
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 192, 40) * 0.05)
    save(model.eval(), tmp_path / "m")
    rec = ChordRecognizer(tmp_path / "m", method="none")
    y, sr = load_audio(example_audio(), sr=rec.sr)
    whole = rec.analyze(y, sr)
    streamed = rec.analyze_file(example_audio(), block_seconds=2.0)
    assert streamed.labels == whole.labels
    np.testing.assert_allclose(streamed.intervals, whole.intervals, atol=1e-6)


def test_fretboard_alias_and_invalid_arguments():
    assert Fretboard is FretboardNet
    with pytest.raises(ParameterError, match="temporal_kernel"):
        ChordCNN(temporal_kernel=4)
    with pytest.raises(ParameterError, match="temporal_layers"):
        ChordCNN(temporal_layers=-1)
    with pytest.raises(ParameterError, match="pitch_pool"):
        ChordCNN(pitch_pool=(2,))
    with pytest.raises(ParameterError, match="CQT magnitude"):
        _small()(torch.zeros(1, 84, 10))


# -- the CLI ---------------------------------------------------------------------------------------------
runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("chords"), n_items=4, chords=4)


def test_cli_trains_a_cnn_and_evaluates_it(dataset, tmp_path):
    import dlmir.cli.chords  # noqa: F401  (registers `dlmir evaluate chords`)
    import dlmir.cli.learn_chords  # noqa: F401  (registers `dlmir train chords`)
    from dlmir.cli.app import app

    run = tmp_path / "run"
    args = ["train", "chords", str(dataset), "--model", "cnn", "--out", str(run), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--steps-per-epoch", "2", "--batch-size", "2", "--excerpt-seconds", "2"])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "config.json").read_text())
    assert doc["model"]["model"] == "ChordCNN" and doc["extra"]["train"]["batch_size"] == 2
    assert type(load(run)) is ChordCNN
    result = runner.invoke(app, ["evaluate", "chords", str(dataset), "--model", str(run), "--method", "none"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| run |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1" and len(cells) == 9  # the one test item; root, majmin, ..., tetrads in %
    assert all(0.0 <= float(c) <= 100.0 for c in cells[2:])
