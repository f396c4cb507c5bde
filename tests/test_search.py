"""Random search: 2 trials write a results table and the best config; draws are random, not a grid."""

from __future__ import annotations

import csv
import json

import numpy as np
import optuna
import pytest
import torch
from chord_fixtures import synthetic_dataset  # noqa: I001

from dlmir.annotations import read_annotation
from dlmir.data.datasets import build_split, chord_tracks
from dlmir.data.frames import frame_templates
from dlmir.frontends import extract
from dlmir.frontends.presets import chord_frontend
from dlmir.io import load
from dlmir.train import TrainConfig
from dlmir.train.search import random_search, sample_trial


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory.mktemp("chords"), n_items=4, chords=4)


def test_two_trials_write_table_and_best(dataset, tmp_path):
    tr, va = build_split(dataset, "train", frame_step=4), build_split(dataset, "valid", frame_step=4)
    cfg = TrainConfig(epochs=1, batch_size=64, progress_bar=False)
    best = random_search(tr, va, tmp_path, trials=2, seed=1, config=cfg)
    with (tmp_path / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert {"lr", "hidden", "dropout", "weight_decay", "l1", "val_loss"} <= set(rows[0])
    assert best["val_loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows))
    saved = json.loads((tmp_path / "best.json").read_text())
    assert saved["model"]["layers"] in (1, 2) and saved["train"]["lr"] == pytest.approx(
        float(rows[best["trial"]]["lr"])
    )


def test_sampler_is_random_and_seeded():
    def draws(seed):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        out = []
        for _ in range(20):
            trial = study.ask()
            out.append(sample_trial(trial)[1]["lr"])
            study.tell(trial, 0.0)
        return out

    a, b = draws(0), draws(0)
    assert a == b
    assert len(set(a)) == 20 and all(1e-4 <= v <= 3e-2 for v in a)  # continuous draws, not grid points


def test_audio_augmented_split_adds_one_copy_per_augmentation(dataset):
    plain = build_split(dataset, "test", frame_step=4)
    augmented = build_split(dataset, "test", frame_step=4, augment=["noise", "codec"])
    assert len(augmented) == 3 * len(plain)
    x0, _, t0 = _stacked(plain)
    x1, _, t1 = _stacked(augmented)
    assert x1[: len(x0)].equal(x0)  # one test item: original frames, then its noisy and MP3 copies
    assert not x1[len(x0) : 2 * len(x0)].equal(x0)
    assert t1[len(x0) : 2 * len(x0)].equal(t0)  # same targets


def _stacked(ds):
    return [torch.stack(parts) for parts in zip(*(ds[i] for i in range(len(ds))), strict=True)]


@pytest.mark.parametrize("augment", [[], ["noise"]])
def test_split_patches_are_cut_from_the_cqt_with_zero_padding(dataset, augment):
    context, step = 3, 4
    split = build_split(dataset, "test", context=context, frame_step=step, augment=augment)
    track = chord_tracks(dataset, "test")[0]
    fe = chord_frontend()
    cqt = extract(fe, load(track.audio, sr=fe.sr)[0])  # (bins, frames) of the unaugmented item
    intervals, labels = read_annotation(track.annotation)
    _, valid = frame_templates(intervals, labels, cqt.shape[1], sr=fe.sr, hop_length=fe.hop_length)
    centres = np.flatnonzero(valid)[::step]
    for k in (0, 1, len(centres) // 2, len(centres) - 1):
        f = centres[k]
        want = np.zeros((2 * context + 1, cqt.shape[0]), np.float32)
        for j in range(-context, context + 1):
            if 0 <= f + j < cqt.shape[1]:
                want[j + context] = cqt[:, f + j]
        patch = split[k][0]
        assert patch.shape == (1, 2 * context + 1, cqt.shape[0])
        np.testing.assert_allclose(patch[0].numpy(), want, atol=1e-5 * float(np.abs(cqt).max()))
