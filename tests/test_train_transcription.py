"""dlmir.train.transcription and ``dlmir train transcription``: items, augmentation, metrics, CLI run + resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transcription_fixtures import SR, note_dataset  # noqa: I001
from typer.testing import CliRunner

import dlmir.cli.learn_transcription  # noqa: F401  (registers the command)
from dlmir.cli.app import app
from dlmir.data.notes import read_notes
from dlmir.errors import ParameterError
from dlmir.models import Transcriber, load
from dlmir.train.checkpoint import read_state
from dlmir.train.transcription import (
    NoteExcerpts,
    NoteItems,
    TranscriptionTrainConfig,
    frame_counts,
    shift_pitch,
    train_transcription,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return note_dataset(tmp_path_factory.mktemp("notes") / "data")


def test_note_excerpts_cut_tracks_with_their_rolls(dataset: Path) -> None:
    data = NoteExcerpts.from_folder(dataset, "train", seconds=1.0)
    assert data.ids == ["tones-000", "tones-001"]
    assert len(data) == 2 * 3  # two 3 s tracks in 1 s tiles
    item = data[1]  # the second second of the first track
    assert item["audio"].shape == (SR,) and item["audio"].dtype == torch.float32
    n_frames = 1 + SR // 256
    assert all(item[k].shape == (88, n_frames) for k in ("frames", "onsets", "offsets"))
    notes = read_notes(dataset / "labels" / "tones-000.notes.csv")
    # hand-derived oracle: frame t (centred at 1 + t * 256 / SR s) of row p - 21 is on iff a note of pitch p
    # covers that time
    times = 1.0 + np.arange(n_frames) * 256 / SR
    expected = np.zeros((88, n_frames), np.float32)
    for on, off, p in zip(notes.onset, notes.offset, notes.pitch, strict=True):
        expected[p - 21, (times >= on) & (times < off)] = 1.0
    inner = slice(1, n_frames - 1)  # the excerpt's edge frames follow the clipping rule of piano_roll
    np.testing.assert_array_equal(item["frames"].numpy()[:, inner], expected[:, inner])
    first = NoteExcerpts.from_folder(dataset, "train", seconds=1.0)[0]
    np.testing.assert_array_equal(item["audio"].numpy(), data[1]["audio"].numpy())  # fixed cuts repeat
    assert not torch.equal(first["audio"], item["audio"])
    with pytest.raises(ParameterError, match="no audio with note annotations"):
        NoteExcerpts.from_folder(dataset, "test")


def test_shift_pitch_moves_cqt_by_three_bins_per_semitone() -> None:
    cqt = torch.arange(2 * 12 * 1, dtype=torch.float32).reshape(2, 12, 1)
    rolls = {"frames": torch.eye(4).reshape(1, 4, 4).repeat(2, 1, 1)}
    x, r = shift_pitch(cqt, rolls, torch.tensor([1, -1]))
    assert x[0, :, 0].tolist() == [0, 0, 0, *range(0, 9)]  # up one semitone: 3 bins, zero fill
    assert x[1, :, 0].tolist() == [*range(15, 24), 0, 0, 0]
    assert r["frames"][0].tolist()[1] == [1, 0, 0, 0] and r["frames"][0, 0].sum() == 0
    assert r["frames"][1].tolist()[0] == [0, 1, 0, 0] and r["frames"][1, 3].sum() == 0


def test_frame_counts() -> None:
    logits = torch.tensor([[3.0, -3.0, 3.0, -3.0]])
    target = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert frame_counts(logits, target) == (1, 1, 1)


def test_config_checks() -> None:
    with pytest.raises(ParameterError, match="bce"):
        TranscriptionTrainConfig(loss="mse")
    with pytest.raises(ParameterError, match="rotate"):
        TranscriptionTrainConfig(augment=["noise"])
    with pytest.raises(ParameterError, match="Transcriber"):
        train_transcription(torch.nn.Linear(2, 2), NoteItems([]))


def test_cli_trains_two_steps_and_resumes(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "transcription", str(dataset), "--out", str(out), "--steps-per-epoch", "2", "--batch-size", "2",
            "--workers", "0", "--excerpt-seconds", "1.0", "--valid-seconds", "3", "--channels", "4,8,8"]  # fmt: skip
    first = runner.invoke(app, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "checkpoint" / "state.json").is_file()
    state, _ = read_state(out)
    assert (state["epoch"], state["step"]) == (1, 2)
    row = state["history"][0]
    assert {"train_loss", "val_loss", "val_frame_f1"} <= set(row)
    model = load(out)
    assert isinstance(model, Transcriber) and model.config["channels"] == [4, 8, 8]
    assert json.loads((out / "config.json").read_text())["frontend"]["hop_length"] == 256
    again = runner.invoke(app, ["train", "transcription", str(dataset), "--out", str(out), "--epochs", "2",
                                "--workers", "0", "--resume"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output
    state, _ = read_state(out)
    assert (state["epoch"], state["step"]) == (2, 4) and len(state["history"]) == 2
    bad = runner.invoke(app, ["train", "transcription", "stream", "--out", str(tmp_path / "s"), "--epochs", "1"])
    assert bad.exit_code == 2 and "--valid" in bad.output


def test_tune_decoding_scores_every_combination(dataset: Path) -> None:
    from dlmir.train.transcription import tune_decoding

    model = Transcriber(seed=0, channels=(4, 8, 8)).eval()
    grid = {"frame_threshold": (0.4, 0.5), "onset_threshold": (0.3, 0.5)}
    best, rows = tune_decoding(model, [(dataset, "valid")], grid=grid)
    assert len(rows) == 4 and set(best) == set(grid)
    assert best == {k: rows[0][k] for k in grid}
    assert all(r["objective"] == pytest.approx((r["note F"] + r["frame Acc"]) / 2) for r in rows)
    assert rows[0]["objective"] == max(r["objective"] for r in rows)
