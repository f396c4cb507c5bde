"""dlmir.data.cache.FeatureCache: features equal the front end's, written once (atomically), reused after."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_data_datasets import SR, make_chord_dataset, mel

from dlmir.data.cache import FeatureCache, safe_name
from dlmir.errors import AudioError, ParameterError
from dlmir.frontends import STFT, extract
from dlmir.io import load


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    items = {"p1": ("train", [("C:maj", 0.6)]), "p2": ("valid", [("A:min", 0.4), ("E:7", 0.4)])}
    return make_chord_dataset(tmp_path, items)


def test_features_computed_once_and_equal_to_frontend(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fe = mel()
    cache = FeatureCache(dataset, fe)
    assert cache.ids == ["p1", "p2"] and cache.missing() == ["p1", "p2"]
    assert cache.ensure(progress=False) == 2
    assert cache.directory == dataset / "features" / fe.cache_key()
    assert json.loads((cache.directory / "frontend.json").read_text()) == json.loads(json.dumps(fe.config))
    for item_id in ("p1", "p2"):
        y, _ = load(dataset / "audio" / f"{item_id}.flac", sr=SR)
        stored = np.load(cache.path(item_id))
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored, extract(fe, y))
    assert sorted(p.name for p in cache.directory.iterdir()) == ["frontend.json", "p1.npy", "p2.npy"]  # no .part
    # second cache over the same front end: nothing recomputed
    again = FeatureCache(dataset, mel())

    def boom(item_id: str) -> np.ndarray:
        raise AssertionError(f"recomputed {item_id}")

    monkeypatch.setattr(again, "compute", boom)
    assert again.ensure(progress=False) == 0
    np.testing.assert_array_equal(again.get("p2"), np.load(cache.path("p2")))


def test_other_frontend_other_folder_and_rate_free_stft(dataset: Path) -> None:
    a, b = FeatureCache(dataset, mel()), FeatureCache(dataset, STFT(n_fft=512, hop_length=256))
    assert a.directory != b.directory
    x = b.get("p1")  # STFT has no sr: audio is loaded at 22050 Hz
    assert x.shape == (257, 1 + int(0.6 * SR) // 256)


def test_errors_and_skip(dataset: Path) -> None:
    with pytest.raises(ParameterError, match="must be a dlmir FrontEnd"):
        FeatureCache(dataset, "cqt")  # type: ignore[arg-type]
    (dataset / "audio" / "bad.flac").write_bytes(b"not audio")
    cache = FeatureCache(dataset, mel(), audio={"p1": dataset / "audio" / "p1.flac", "bad": dataset / "audio/bad.flac"})
    with pytest.raises(AudioError, match="bad.flac"):
        cache.ensure(progress=False)
    assert cache.ensure(progress=False, skip_errors=True) == 0  # p1 done by the first call before 'bad'
    assert [i for i, _ in cache.failures] == ["bad"] and "bad.flac" in cache.failures[0][1]
    with pytest.raises(ParameterError, match="unknown item id"):
        cache.get("nope")
    assert safe_name("Artist/Album/01") == "Artist__Album__01"


def test_cache_dir_for_read_only_datasets(dataset: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    cache = FeatureCache(dataset, mel(), cache_dir=elsewhere)
    assert cache.ensure(progress=False) == 2
    assert sorted(p.name for p in cache.directory.iterdir()) == ["frontend.json", "p1.npy", "p2.npy"]
    assert cache.directory.parent == elsewhere and not (dataset / "features").exists()
    (tmp_path / "file").write_text("")
    blocked = FeatureCache(dataset, mel(), cache_dir=tmp_path / "file" / "sub")
    with pytest.raises(ParameterError, match="cannot create the feature cache folder"):
        blocked.ensure(progress=False)
