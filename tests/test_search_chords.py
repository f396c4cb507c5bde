"""Random search over chord models: the shared study loop (best = min / max of the finite trials), seeded draws,
two tiny trials through the library and through ``dlmir search chords``, and ``dlmir train chords --config``
reading the best trial."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import optuna
import pytest
import torch
from chord_fixtures import synthetic_dataset
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from dlmir.data.excerpts import Excerpts
from dlmir.errors import ParameterError
from dlmir.models import ChordCNN, ChordNet, load
from dlmir.train.chords import ChordTrainConfig, frame_accuracy
from dlmir.train.search import (
    CHORD_SPACE,
    random_search_chords,
    run_study,
    sample_chord_trial,
    scaled_channels,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """4 tracks of 4 one-second chords: 2 train, 1 valid, 1 test."""
    return synthetic_dataset(tmp_path_factory.mktemp("chords"), n_items=4, chords=4)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _rows(path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _draws(seed: int, n: int, **kw) -> list[dict[str, float | int]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample_chord_trial(trial, **kw))
        study.tell(trial, 0.0)
    return out


def test_scaled_channels_hand_values():
    assert scaled_channels([16, 16, 32, 32], 0.5) == [8, 8, 16, 16]
    assert scaled_channels([16, 32], 1.3) == [21, 42]  # 20.8 -> 21, 41.6 -> 42
    assert scaled_channels([16, 32], 0.01) == [1, 1]


def test_draws_are_seeded_continuous_and_in_range():
    a, b, c = _draws(0, 20), _draws(0, 20), _draws(1, 20)
    assert a == b and a != c
    assert len({d["lr"] for d in a}) == 20  # continuous draws, not grid points
    for d in a:
        assert set(d) == set(CHORD_SPACE)
        for k, (lo, hi) in CHORD_SPACE.items():
            assert lo <= d[k] <= hi, (k, d[k])
        assert isinstance(d["embedding"], int) and isinstance(d["hidden"], int)
    fixed = _draws(0, 3, space={"lr": (1e-3, 1e-3), "hidden": (8, 8)}, seconds=False)
    assert all(d["lr"] == 1e-3 and d["hidden"] == 8 and "excerpt_seconds" not in d for d in fixed)
    with pytest.raises(ParameterError, match="unknown search dimensions"):
        _draws(0, 1, space={"momentum": (0.0, 1.0)})


def test_run_study_picks_the_best_finite_trial(tmp_path):
    losses = [3.0, float("nan"), 1.0, 2.0]

    def objective(trial):
        k = trial.number
        return {"trial": k, "val_loss": losses[k], "val_accuracy": 0.1 * k, "_private": "x"}

    rows, best = run_study(objective, tmp_path / "a", trials=4, seed=0)
    assert best["trial"] == 2 and len(rows) == 4
    table = _rows(tmp_path / "a" / "trials.csv")
    assert list(table[0]) == ["trial", "val_loss", "val_accuracy"]  # private columns stay out
    assert [float(r["val_loss"]) for r in table][2:] == [1.0, 2.0] and math.isnan(float(table[1]["val_loss"]))
    _, best = run_study(objective, tmp_path / "b", trials=4, seed=0, key="val_accuracy")
    assert best["trial"] == 3  # maximised (trial 1's accuracy is finite: only its loss diverged)
    with pytest.raises(ParameterError, match="finite val_loss"):
        run_study(lambda t: {"trial": t.number, "val_loss": float("inf")}, tmp_path / "c", trials=2, seed=0)
    with pytest.raises(ParameterError, match="objective"):
        run_study(objective, tmp_path / "d", trials=1, seed=0, key="f1")


def _excerpts(root, split: str, seconds: float) -> TensorDataset:
    ex = Excerpts.from_folder(root, split, seconds=seconds)
    items = [ex[i] for i in range(len(ex))]
    return TensorDataset(torch.stack([x for x, _ in items]), torch.stack([y for _, y in items]))


def test_two_library_trials_of_a_small_chordnet(dataset, tmp_path, one_thread):
    train, valid = _excerpts(dataset, "train", 2.0), _excerpts(dataset, "valid", 2.0)
    cfg = ChordTrainConfig(epochs=2, batch_size=2, steps_per_epoch=2, patience=0, progress_bar=False)
    defaults = {"channels": (4, 4), "pitch_pool": (2, 2)}
    space = {"embedding": (8, 16), "hidden": (8, 16)}
    best = random_search_chords(
        train, valid, tmp_path, model="ChordNet", trials=2, seed=1, config=cfg, model_defaults=defaults, space=space
    )
    rows = _rows(tmp_path / "trials.csv")
    assert [int(r["trial"]) for r in rows] == [0, 1]
    assert all(math.isfinite(float(r["val_loss"])) for r in rows)
    assert "excerpt_seconds" not in rows[0]  # a fixed training set: the excerpt length is not searched
    assert best["val_loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows))
    # the parameters are the seeded sampler's draws, and they built the trials' models
    want = _draws(1, 2, space=space, seconds=False)
    for row, draw in zip(rows, want, strict=True):
        assert float(row["lr"]) == pytest.approx(draw["lr"]) and int(row["hidden"]) == draw["hidden"]
        model = load(tmp_path / row["run"])
        assert type(model) is ChordNet and model.config["seed"] == 1 + int(row["trial"])
        assert model.config["channels"] == scaled_channels([4, 4], draw["width"])
        assert model.config["embedding"] == draw["embedding"] and model.config["dropout"] == draw["dropout"]
        assert (tmp_path / row["run"] / "model.safetensors").is_file()
        # the accuracy in the table is the saved model's frame accuracy on the validation excerpts
        x, y = valid.tensors
        with torch.no_grad():
            acc, _ = frame_accuracy(model.frame_log_probs(x), y)
        assert acc == pytest.approx(float(row["val_accuracy"]), abs=1e-6)
    doc = json.loads((tmp_path / "best.json").read_text())
    assert doc["run"] == f"trial-{doc['trial']:03d}" and doc["model"]["model"] == "ChordNet"
    assert doc["train"]["lr"] == pytest.approx(float(rows[doc["trial"]]["lr"]))
    with pytest.raises(ParameterError, match="ChordNet"):
        random_search_chords(train, valid, tmp_path / "x", model="FretboardNet")


def test_cli_searches_a_cnn_and_trains_the_best(dataset, tmp_path, one_thread):
    import dlmir.cli.learn_chords  # noqa: F401  (registers `dlmir train chords`)
    import dlmir.cli.search_chords  # noqa: F401  (registers `dlmir search chords`)
    from dlmir.cli.app import app

    out = tmp_path / "search"
    args = ["search", "chords", str(dataset), "--model", "cnn", "--trials", "2", "--out", str(out), "--epochs", "1"]
    args += ["--steps-per-epoch", "1", "--batch-size", "2", "--excerpt-seconds", "2", "--seconds", "1,3"]
    result = runner.invoke(app, [*args, "--seed", "3"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "trials.csv")
    assert len(rows) == 2 and all(math.isfinite(float(r["val_loss"])) for r in rows)
    best = json.loads((out / "best.json").read_text())
    assert best["val_loss"] == min(float(r["val_loss"]) for r in rows)
    assert f"best: trial {best['trial']}" in result.output
    draws = _draws(3, 2, space={"excerpt_seconds": (1.0, 3.0)})
    valid = _excerpts(dataset, "valid", 2.0)  # every trial is scored on the same 2-s validation excerpts
    for row, draw in zip(rows, draws, strict=True):
        assert float(row["excerpt_seconds"]) == pytest.approx(draw["excerpt_seconds"])
        run = out / row["run"]
        assert (run / "model.safetensors").is_file()
        doc = json.loads((run / "config.json").read_text())
        assert doc["model"]["model"] == "ChordCNN"
        assert doc["extra"]["train"]["data"]["excerpt_seconds"] == pytest.approx(draw["excerpt_seconds"])
        assert doc["extra"]["best"]["val_loss"] == pytest.approx(float(row["val_loss"]))
        x, y = valid.tensors
        with torch.no_grad():
            acc, _ = frame_accuracy(load(run).frame_log_probs(x), y)
        assert acc == pytest.approx(float(row["val_accuracy"]), abs=1e-6)
    # `dlmir train chords --config best.json` trains the best trial's architecture, learning rate and excerpts
    run = tmp_path / "retrain"
    args = ["train", "chords", str(dataset), "--config", str(out / "best.json"), "--out", str(run), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--steps-per-epoch", "1", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    model, doc = load(run), json.loads((run / "config.json").read_text())
    assert type(model) is ChordCNN
    for key in ("channels", "embedding", "hidden", "dropout", "temporal_kernel"):
        assert model.config[key] == best["model"][key]
    assert doc["extra"]["train"]["lr"] == pytest.approx(best["train"]["lr"])
    assert doc["extra"]["train"]["data"]["excerpt_seconds"] == pytest.approx(best["params"]["excerpt_seconds"])


def test_cli_errors(dataset, tmp_path):
    import dlmir.cli.search_chords  # noqa: F401
    from dlmir.cli.app import app

    base = ["search", "chords", str(dataset), "--out", str(tmp_path / "s"), "--trials", "1"]
    for extra, message in [
        (["--model", "fretboard"], "chordnet"),
        (["--seconds", "8"], "LOW,HIGH"),
        (["--lr", "0,1e-3"], "0 < LOW"),
    ]:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2 and message in result.output, result.output
    result = runner.invoke(app, ["search", "chords", "stream", "--out", str(tmp_path / "t"), "--trials", "1"])
    assert result.exit_code == 2 and "--valid" in result.output
    assert not np.any([(tmp_path / n).exists() for n in ("s", "t")])  # nothing trained
