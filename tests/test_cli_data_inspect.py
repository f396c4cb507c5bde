"""``dlmir data check`` / ``dlmir data features`` on tiny synthetic datasets (typer's CliRunner).

Oracles: hand counts of the dataset written here, and the front end applied directly to the audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_data_datasets import SR, make_chord_dataset
from typer.testing import CliRunner

import dlmir.cli.data_inspect  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.data.cache import feature_key
from dlmir.data.manifest import read_manifest, write_manifest
from dlmir.frontends import MelSpectrogram, extract
from dlmir.frontends.presets import chord_frontend
from dlmir.io import load

runner = CliRunner()


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    items = {
        "a": ("train", [("C:maj", 1.0), ("G:7", 0.5)]),
        "b": ("valid", [("A:min", 1.0)]),
        "c": ("test", [("N", 0.25), ("F:maj", 0.75)]),
    }
    return make_chord_dataset(tmp_path / "ds", items)


def test_check_prints_counts_and_passes(dataset: Path) -> None:
    result = runner.invoke(app, ["data", "check", str(dataset), "--top", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 items, 0.001 h" in out  # 3.5 s
    assert "durations: min 1.000 s, median 1.000 s, max 1.500 s" in out
    assert "per quality (seconds): maj 1.8, min 1.0, 7 0.5, N 0.2" in out  # C 1.0 + F 0.75; 0.25 prints as 0.2
    assert "per root (seconds):    C 1.0, F 0.8, G 0.5, A 1.0" in out
    assert "chord classes present (full 157-class vocabulary): 5" in out  # C:maj G:7 A:min F:maj N
    assert "top 2 labels" in out and "C:maj" in out and "A:min" in out
    assert "pieces shared between splits: none" in out and "missing or malformed items: none" in out


def test_check_fails_on_leak_and_broken_label(dataset: Path) -> None:
    rows = read_manifest(dataset)
    rows[0].piece = rows[2].piece = "prog1"
    write_manifest(dataset, rows)
    (dataset / "labels" / "b.lab").write_text("0.0\t1.0\tA:min\noops\n")
    result = runner.invoke(app, ["data", "check", str(dataset)])
    assert result.exit_code == 1, result.output
    assert "1 piece(s) appear in more than one split" in result.output
    assert "prog1: test, train" in result.output
    assert "b.lab:2" in result.output
    bad = runner.invoke(app, ["data", "check", str(dataset / "nope")])
    assert bad.exit_code == 2 and "manifest.csv" in bad.output


def test_features_fills_cache_once(dataset: Path) -> None:
    result = runner.invoke(app, ["data", "features", str(dataset), "--frontend", "mel", "--hop-length", "256"])
    assert result.exit_code == 0, result.output
    assert "3 computed, 0 already cached" in result.output
    fe = MelSpectrogram(sr=SR, hop_length=256)
    y, _ = load(dataset / "audio" / "b.flac", sr=SR)
    np.testing.assert_allclose(np.load(dataset / "features" / feature_key(fe) / "b.npy"), extract(fe, y), rtol=1e-6)
    again = runner.invoke(app, ["data", "features", str(dataset), "--frontend", "mel", "--hop-length", "256"])
    assert again.exit_code == 0 and "0 computed, 3 already cached" in again.output


def test_features_default_cqt_split_and_failure(dataset: Path) -> None:
    result = runner.invoke(app, ["data", "features", str(dataset), "--split", "valid"])
    assert result.exit_code == 0, result.output
    fe = chord_frontend()
    x = np.load(dataset / "features" / feature_key(fe) / "b.npy")
    assert x.shape[0] == 192 and x.shape[1] == 1 + int(1.0 * SR) // 512
    assert not (dataset / "features" / feature_key(fe) / "a.npy").exists()
    (dataset / "audio" / "c.flac").write_bytes(b"not audio")
    failed = runner.invoke(app, ["data", "features", str(dataset), "--frontend", "mel"])
    assert failed.exit_code == 1 and "failed: c:" in failed.output
