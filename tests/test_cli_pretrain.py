"""CLI: ``dlmir pretrain`` on a folder of two short synthetic files, resume, and the no-audio error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from chord_fixtures import synthetic_dataset  # noqa: I001
from typer.testing import CliRunner

import dlmir.cli.learn_chords  # noqa: F401  (registers `dlmir train chords`)
import dlmir.cli.pretrain  # noqa: F401  (registers `dlmir pretrain`)
from dlmir.cli.app import app
from dlmir.models import load
from dlmir.models.chords import ChordCNN
from dlmir.pretrain import init_from, trunk_state

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def audio_dir(tmp_path):
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    (tmp_path / "audio" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "audio" / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 6
    sf.write(tmp_path / "audio" / "sub" / "b.wav", chord.astype(np.float32), 44100)  # resampled on reading
    return tmp_path / "audio"


def _ok(result):
    assert result.exit_code == 0, result.output
    return result.output


def test_pretrain_writes_the_run_and_resumes(audio_dir, tmp_path):
    run = tmp_path / "run"
    common = ["pretrain", str(audio_dir), "--out", str(run), "--model", "cnn", "--channels", "4,4,8,8",
              "--embedding", "16", "--batch-size", "2", "--steps-per-epoch", "2", "--excerpt-seconds", "1"]  # fmt: skip
    out = _ok(runner.invoke(app, [*common, "--epochs", "2", "--stop-after", "1"]))
    assert "epoch 1, step 2" in out
    for name in ("model.safetensors", "config.json", "checkpoint/state.json", "checkpoint/state.safetensors"):
        assert (run / name).is_file(), name
    doc = json.loads((run / "config.json").read_text())
    assert doc["model"]["model"] == "MaskedCQT" and doc["model"]["trunk"]["model"] == "ChordCNN"
    assert doc["model"]["trunk"]["channels"] == [4, 4, 8, 8] and doc["frontend"]["frontend"] == "CQT"
    first = trunk_state(load(run))
    out = _ok(runner.invoke(app, [*common, "--epochs", "2", "--resume"]))
    assert "resuming" in out and "epoch 2, step 4" in out
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 4 and len(state["history"]) == 2
    assert state["train"]["data"]["sources"] == [str(audio_dir)]
    second = trunk_state(load(run))
    assert any(not torch.equal(first[k], second[k]) for k in first)  # the second epoch trained
    model = ChordCNN(channels=[4, 4, 8, 8], embedding=16)
    assert init_from(model, run)["pretrain_step"] == 4
    assert all(torch.equal(second[k], v) for k, v in trunk_state(model).items())


def test_a_folder_without_audio_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    result = runner.invoke(app, ["pretrain", str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "no audio found in" in result.output and ".wav" in result.output
    assert not (tmp_path / "run").exists()


def test_train_chords_init_from_the_cli(audio_dir, tmp_path):
    pre = tmp_path / "pre"
    _ok(runner.invoke(app, ["pretrain", str(audio_dir), "--out", str(pre), "--model", "cnn", "--channels", "4,4,8,8",
                            "--embedding", "16", "--batch-size", "2", "--steps-per-epoch", "1", "--epochs", "1",
                            "--excerpt-seconds", "1"]))  # fmt: skip
    dataset = synthetic_dataset(tmp_path / "chords", n_items=3, chords=3)
    arch = {"model": "ChordCNN", "channels": [4, 4, 8, 8], "embedding": 16, "hidden": 16, "temporal_layers": 1}
    (tmp_path / "best.json").write_text(json.dumps({"model": arch, "train": {"lr": 1e-3}}))
    run = tmp_path / "run"
    args = ["train", "chords", str(dataset), "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
            "--excerpt-seconds", "2", "--init", str(pre)]  # fmt: skip
    _ok(runner.invoke(app, [*args, "--config", str(tmp_path / "best.json"), "--out", str(run)]))
    init = json.loads((run / "config.json").read_text())["extra"]["train"]["init"]
    assert init["run"] == str(pre.resolve()) and init["family"] == "chord" and init["pretrain_step"] == 1
    result = runner.invoke(app, [*args, "--model", "cnn", "--out", str(tmp_path / "bad")])  # default channels
    assert result.exit_code == 2 and "does not fit" in result.output and "channels" in result.output
