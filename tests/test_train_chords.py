"""Chord model training: ChordNet on excerpts and FretboardNet on patches learn a tiny fixed set, resume is exact,
the saved model recognises the example end to end, streams train for a fixed number of steps, and the CLI trains
on a ``--size ci`` dataset."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from chord_fixtures import guitar_chord
from torch.utils.data import IterableDataset, TensorDataset
from typer.testing import CliRunner

from dlmir.chords import VOCAB
from dlmir.data.excerpts import Excerpts
from dlmir.data.frames import context_patch, pad_context
from dlmir.errors import ParameterError
from dlmir.frontends.presets import chord_frontend
from dlmir.models import load, set_frontend
from dlmir.models.chords import ChordNet
from dlmir.models.fretboard import FretboardNet
from dlmir.train import read_state
from dlmir.train.chords import (
    ChordTrainConfig,
    frame_accuracy,
    patches_from_excerpts,
    rotate_batch,
    train_chords,
)

LABELS = ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "E:7", "B:dim", "N"]
SR = 22050


@pytest.fixture(scope="module")
def chord_cqts() -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per seed (0: training, 1: validation, other phases): CQTs ``(8, 192, 22)`` of 0.5 s of each of 8 chords
    and their class indices."""
    out = {}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        audio = torch.from_numpy(np.stack([guitar_chord(lab, 0.5, rng) for lab in LABELS]))
        with torch.no_grad():
            cqt = chord_frontend()(audio).float()
        out[seed] = (cqt, torch.tensor([VOCAB.index(lab) for lab in LABELS]))
    return out


def _excerpts(cqts, n: int, seed: int, chords: int = 4) -> TensorDataset:
    """``n`` excerpts ``(192, 4 x 22)`` of 4 random chords each (feature domain), with per-frame classes."""
    cqt, idx = cqts[min(seed, 1)]
    rng = np.random.default_rng(seed + 100)
    xs, ys = [], []
    for _ in range(n):
        order = rng.integers(len(LABELS), size=chords)
        xs.append(torch.cat([cqt[k] for k in order], dim=1))
        ys.append(torch.cat([idx[k].repeat(cqt.shape[-1]) for k in order]))
    return TensorDataset(torch.stack(xs), torch.stack(ys))


def _patches(excerpts: TensorDataset, context: int, frame_step: int = 2) -> TensorDataset:
    x, y = excerpts.tensors
    p, i = patches_from_excerpts(x, y, context, frame_step=frame_step)
    return TensorDataset(p, i, torch.from_numpy(np.asarray(VOCAB.templates, dtype=np.float32))[i])


def _chordnet(**kw) -> ChordNet:
    args = {"channels": (8, 8), "pitch_pool": (2, 2), "embedding": 32, "hidden": 32, "dropout": 0.0, "seed": 0}
    return ChordNet(**{**args, **kw})


def _fretboard(**kw) -> FretboardNet:
    args = {"context": 4, "channels": (8, 16, 16), "kernels": ((3, 13), (3, 13), (3, 9)),
            "pools": ((1, 2), (1, 2), (1, 2)), "hidden": 64, "dropout": 0.0, "seed": 1}  # fmt: skip
    return FretboardNet(**{**args, **kw})


def _config(**kw) -> ChordTrainConfig:
    return ChordTrainConfig(**{"progress_bar": False, "patience": 0, **kw})


def test_chordnet_learns_a_tiny_set(chord_cqts, tmp_path):
    train, valid = _excerpts(chord_cqts, 32, 0), _excerpts(chord_cqts, 8, 1)
    out = train_chords(_chordnet(), train, valid, config=_config(epochs=6, batch_size=8, lr=1e-2), run_dir=tmp_path)
    hist = out["history"]
    assert [h["step"] for h in hist] == [4 * (e + 1) for e in range(6)]
    assert hist[-1]["val_loss"] < 0.2 * hist[0]["val_loss"]
    assert hist[-1]["val_accuracy"] > 0.9, hist
    # the accuracy logged is the frame accuracy of the best model saved, on the validation excerpts
    model = load(tmp_path)
    x, y = valid.tensors
    with torch.no_grad():
        acc, count = frame_accuracy(model.frame_log_probs(x), y)
    best = json.loads((tmp_path / "config.json").read_text())["extra"]["best"]
    assert count == y.numel() and acc == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert best["val_loss"] == pytest.approx(min(h["val_loss"] for h in hist))


def test_fretboard_learns_a_tiny_set_of_patches(chord_cqts, tmp_path):
    net = _fretboard()
    train, valid = _patches(_excerpts(chord_cqts, 8, 0), net.context), _patches(_excerpts(chord_cqts, 4, 1), 4)
    out = train_chords(net, train, valid, config=_config(epochs=8, batch_size=64, lr=3e-3), run_dir=tmp_path)
    hist = out["history"]
    assert hist[-1]["val_loss"] < 0.2 * hist[0]["val_loss"]
    assert max(h["val_accuracy"] for h in hist[-3:]) > 0.9, hist
    assert load(tmp_path).config["model"] == "FretboardNet"


def test_fretboard_trains_on_excerpts_cut_into_patches(chord_cqts):
    # the same network on excerpts: the patches of every 4th labelled frame (a stream's items)
    out = train_chords(
        _fretboard(),
        _excerpts(chord_cqts, 8, 0),
        _excerpts(chord_cqts, 4, 1),
        config=_config(epochs=2, batch_size=4, lr=3e-3, frame_step=4, loss="mse+ce"),
    )
    assert len(out["history"]) == 2 and np.isfinite(out["history"][-1]["val_loss"])


def test_patches_from_excerpts_are_the_dataset_patches():
    rng = np.random.default_rng(0)
    cqt = torch.from_numpy(rng.uniform(size=(2, 5, 9)).astype(np.float32))
    classes = torch.tensor([[0, 1, -1, 3, 4, 5, 6, 7, 8], [9, -1, -1, 2, 3, 4, 5, 6, 7]])
    patches, index = patches_from_excerpts(cqt, classes, 2, frame_step=2, offset=1)
    # frames 1, 3, 5, 7 of each excerpt, less the unlabelled ones
    want = [(b, t) for b in range(2) for t in (1, 3, 5, 7) if classes[b, t] >= 0]
    assert index.tolist() == [int(classes[b, t]) for b, t in want]
    for k, (b, t) in enumerate(want):
        expected = context_patch(pad_context(cqt[b].numpy(), 2), t, 2)
        np.testing.assert_array_equal(patches[k].numpy(), np.asarray(expected))


def test_rotate_batch_transposes_excerpts_and_keeps_n_and_ignored_frames():
    x = torch.zeros(1, 192, 3)
    x[0, 48, :] = 1.0  # C2 at 24 bins per octave
    c, n = VOCAB.index("C:maj"), VOCAB.index("N")
    index = torch.tensor([[c, n, -1]])
    shifted, rotated = rotate_batch(x, index, torch.tensor([2]), bins_per_octave=24, n_classes=157)
    assert int(shifted[0, :, 0].argmax()) == 52
    assert rotated.tolist() == [[VOCAB.index("D:maj"), n, -1]]


def test_excerpts_cut_pad_and_jitter():
    features = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    classes = np.arange(10)
    fixed = Excerpts([(features, classes)], frames=4)
    assert len(fixed) == 3
    x, y = fixed[2]  # frames 8, 9, then padding
    assert y.tolist() == [8, 9, -1, -1] and x[:, 2:].abs().sum() == 0
    assert [fixed.start(i) for i in range(3)] == [(0, 0), (0, 4), (0, 8)] and fixed.ids == ["0"]
    moving = Excerpts([(features, classes)], frames=4, jitter=True, seed=3)
    starts = set()
    for epoch in range(8):
        moving.set_epoch(epoch)
        ys = [moving[i][1] for i in range(len(moving))]
        assert all(int(y.min()) >= 0 for y in ys)  # jittered excerpts stay inside the track
        starts.add(int(ys[1][0]))  # the first excerpt starts at 0, the next ones move
    assert len(starts) > 1
    with pytest.raises(ParameterError, match="classes"):
        Excerpts([(features, classes[:5])], frames=4)


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_resume_gives_the_weights_of_an_uninterrupted_run(chord_cqts, tmp_path, schedule):
    cqt, idx = chord_cqts[0]
    tracks = [(torch.cat([cqt[k] for k in order], 1).numpy(), np.repeat(idx[order].numpy(), 22))
              for order in ([0, 1, 2, 3], [4, 5, 6, 7], [7, 2, 5, 0])]  # fmt: skip
    data = Excerpts(tracks, frames=40, jitter=True, seed=1)  # new cuts every epoch
    cfg = _config(epochs=2, batch_size=3, lr=1e-2, seed=5, augment=["rotate"], schedule=schedule)
    straight = train_chords(_chordnet(dropout=0.1), data, config=cfg, run_dir=tmp_path / "a")
    first = train_chords(_chordnet(dropout=0.1), data, config=cfg, run_dir=tmp_path / "b", stop_after_epochs=1)
    assert first["epoch"] == 1 and read_state(tmp_path / "b")[0]["step"] == 3
    resumed = train_chords(_chordnet(dropout=0.1, seed=9), data, config=cfg, run_dir=tmp_path / "b", resume=True)
    assert resumed["epoch"] == 2 and resumed["step"] == straight["step"] == 6
    for (name, a), b in zip(
        straight["model"].state_dict().items(), resumed["model"].state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), (name, float((a.float() - b.float()).abs().max()))
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    with pytest.raises(ParameterError, match="hidden"):
        train_chords(_chordnet(hidden=16), data, config=cfg, run_dir=tmp_path / "b", resume=True)


class _Stream(IterableDataset):
    """An endless stream of the tiny excerpts, seeded by ``set_epoch`` (as a rendering stream would be)."""

    def __init__(self, data: TensorDataset) -> None:
        self.data, self.epoch = data, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        rng = np.random.default_rng(self.epoch)
        while True:
            yield self.data[int(rng.integers(len(self.data)))]


def test_a_stream_trains_for_steps_per_epoch(chord_cqts, tmp_path):
    stream = _Stream(_excerpts(chord_cqts, 16, 0))
    with pytest.raises(ParameterError, match="steps_per_epoch"):
        train_chords(_chordnet(), stream, config=_config(epochs=1))
    cfg = _config(epochs=2, batch_size=4, lr=1e-2, steps_per_epoch=3, schedule="onecycle")
    out = train_chords(_chordnet(), stream, _excerpts(chord_cqts, 4, 1), config=cfg, run_dir=tmp_path)
    assert [h["step"] for h in out["history"]] == [3, 6]
    assert all(np.isfinite(h["val_loss"]) for h in out["history"])


def test_configuration_errors(chord_cqts):
    with pytest.raises(ParameterError, match="loss"):
        ChordTrainConfig(loss="bce")
    with pytest.raises(ParameterError, match="ChordNet trains with"):
        train_chords(_chordnet(), _excerpts(chord_cqts, 2, 0), config=_config(loss="mse"))
    with pytest.raises(ParameterError, match="excerpts"):  # ChordNet cannot learn from single-frame patches
        train_chords(_chordnet(), _patches(_excerpts(chord_cqts, 2, 0), 4), config=_config())
    with pytest.raises(ParameterError, match="rotate"):
        ChordTrainConfig(augment=["noise"])
    with pytest.raises(ParameterError, match="steps_per_epoch"):
        ChordTrainConfig(steps_per_epoch=0)


def test_trained_chordnet_recognizes_the_example_end_to_end(tmp_path):
    from dlmir.annotations import read_annotation
    from dlmir.chords.recognition import ChordRecognizer
    from dlmir.examples import example_audio, example_labels

    folder = tmp_path / "example"  # a folder of audio + .lab (its features are cached there)
    folder.mkdir()
    shutil.copy(example_audio(), folder)
    shutil.copy(example_labels(), folder)
    train = Excerpts.from_folder(folder, None, seconds=3.0, jitter=True)
    valid = Excerpts.from_folder(folder, None, seconds=3.0)
    net = set_frontend(_chordnet(), train.frontend)
    cfg = _config(epochs=20, batch_size=2, lr=1e-2)
    out = train_chords(net, train, valid, config=cfg, run_dir=tmp_path / "run")
    assert out["history"][-1]["val_accuracy"] > 0.9
    assert load(tmp_path / "run").frontend.config == chord_frontend().config
    rec = ChordRecognizer(tmp_path / "run")
    intervals, labels = rec.recognize_file(example_audio())
    want_iv, want = read_annotation(example_labels())
    grid = np.arange(0.05, 12.7, 0.1)
    got_at = [labels[int(np.searchsorted(intervals[:, 1], t))] for t in grid]
    want_at = [want[int(np.searchsorted(want_iv[:, 1], t))] for t in grid]
    agree = np.mean([a == b for a, b in zip(got_at, want_at, strict=True)])
    assert agree > 0.9, list(zip(intervals.round(2).tolist(), labels, strict=True))


# -- the CLI ---------------------------------------------------------------------------------------------
runner = CliRunner()


@pytest.fixture(scope="module")
def ci_chords(tmp_path_factory):
    from dlmir.data.build import build_chords

    out = tmp_path_factory.mktemp("chords-ci")
    build_chords(out, size="ci", seed=0, jobs=2, progress=False)
    return out


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_trains_chordnet_on_a_ci_dataset_and_resumes(ci_chords, tmp_path):
    import dlmir.cli.learn_chords  # noqa: F401  (registers `dlmir train chords`)
    from dlmir.cli.app import app

    run = tmp_path / "run"
    args = ["train", "chords", str(ci_chords), "--model", "chordnet", "--out", str(run), "--steps-per-epoch", "2"]
    args += ["--batch-size", "4", "--excerpt-seconds", "4"]
    _ok(runner.invoke(app, [*args, "--epochs", "2", "--stop-after", "1"]))  # 1 epoch of a 2-epoch schedule
    state = read_state(run)[0]
    assert (state["epoch"], state["step"], state["train"]["epochs"]) == (1, 2, 2)
    assert (run / "model.safetensors").exists() and (run / "config.json").exists()
    doc = json.loads((run / "config.json").read_text())
    assert doc["model"]["model"] == "ChordNet" and doc["frontend"] == chord_frontend().config
    assert doc["extra"]["train"]["data"]["excerpt_seconds"] == 4.0
    assert {"val_loss", "val_accuracy"} <= set(doc["extra"]["best"])
    out = _ok(runner.invoke(app, [*args, "--epochs", "2", "--resume"]))
    assert "resuming" in out and read_state(run)[0]["step"] == 4
    assert load(run).config["model"] == "ChordNet"


def test_cli_trains_fretboard_on_dataset_patches(ci_chords, tmp_path):
    import dlmir.cli.learn_chords  # noqa: F401
    from dlmir.cli.app import app

    run = tmp_path / "fret"
    args = ["train", "chords", str(ci_chords), "--model", "fretboard", "--out", str(run), "--epochs", "1"]
    _ok(runner.invoke(app, [*args, "--steps-per-epoch", "2", "--batch-size", "32", "--frame-step", "8"]))
    model = load(run)
    assert model.config["model"] == "FretboardNet" and model.config["context"] == 10
    result = runner.invoke(app, ["train", "chords", "stream", "--out", str(tmp_path / "s"), "--steps-per-epoch", "1"])
    assert result.exit_code == 2 and "--valid" in result.output
    result = runner.invoke(app, ["train", "chords", str(ci_chords), "--model", "nope", "--out", str(tmp_path / "n")])
    assert result.exit_code == 2 and "chordnet" in result.output


def test_cli_trains_chordnet_on_a_rendered_stream(ci_chords, tmp_path):
    pytest.importorskip("dlmir.data.render_stream")
    import dlmir.cli.learn_chords  # noqa: F401
    from dlmir.cli.app import app

    run = tmp_path / "stream"
    args = ["train", "chords", "stream", "--valid", str(ci_chords), "--out", str(run), "--epochs", "1"]
    args += ["--steps-per-epoch", "2", "--batch-size", "2", "--excerpt-seconds", "3", "--production", "clean"]
    _ok(runner.invoke(app, [*args, "--soundfonts", "timgm6mb"]))
    state = read_state(run)[0]
    assert state["step"] == 2 and state["train"]["data"]["production"] == "clean"
    assert "val_accuracy" in state["history"][0] and load(run).config["model"] == "ChordNet"
