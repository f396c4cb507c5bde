"""dlmir.data.cache.FeatureCache: features equal the front end's, written once (atomically), reused after;
recomputed when the audio changes; a front end with other tensors gets another folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_data_datasets import SR, make_chord_dataset, mel

from dlmir.data.cache import FeatureCache, feature_key, safe_name
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
    assert cache.directory == dataset / "features" / feature_key(fe)
    assert json.loads((cache.directory / "frontend.json").read_text()) == json.loads(json.dumps(fe.config))
    for item_id in ("p1", "p2"):
        y, _ = load(dataset / "audio" / f"{item_id}.flac", sr=SR)
        stored = np.load(cache.path(item_id))
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored, extract(fe, y))
    names = sorted(p.name for p in cache.directory.iterdir())  # no .part files left
    assert names == ["frontend.json", "p1.audio.json", "p1.npy", "p2.audio.json", "p2.npy"]
    st = (dataset / "audio" / "p1.flac").stat()
    assert json.loads(cache.identity_path("p1").read_text()) == {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
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
    assert sorted(p.name for p in cache.directory.iterdir()) == [
        "frontend.json", "p1.audio.json", "p1.npy", "p2.audio.json", "p2.npy",
    ]  # fmt: skip
    assert cache.directory.parent == elsewhere and not (dataset / "features").exists()
    (tmp_path / "file").write_text("")
    blocked = FeatureCache(dataset, mel(), cache_dir=tmp_path / "file" / "sub")
    with pytest.raises(ParameterError, match="cannot create the feature cache folder"):
        blocked.ensure(progress=False)


def _counting(cache: FeatureCache, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    compute = cache.compute

    def counted(item_id: str) -> np.ndarray:
        calls.append(item_id)
        return compute(item_id)

    monkeypatch.setattr(cache, "compute", counted)
    return calls


def test_rewritten_audio_is_recomputed_unchanged_is_not(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FeatureCache(dataset, mel())
    calls = _counting(cache, monkeypatch)
    assert cache.ensure(progress=False) == 2 and calls == ["p1", "p2"]
    old = cache.get("p1")
    assert cache.ensure(progress=False) == 0 and calls == ["p1", "p2"]  # unchanged audio: nothing recomputed
    # re-render p1: other content, other length (as a re-rendered item would be)
    path = dataset / "audio" / "p1.flac"
    before = path.stat().st_mtime_ns
    t = np.arange(int(0.9 * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), SR)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a later mtime even on coarse-clock filesystems
    again = FeatureCache(dataset, mel())
    calls = _counting(again, monkeypatch)
    assert again.missing() == ["p1"]
    assert again.ensure(progress=False) == 1 and calls == ["p1"]
    new = again.get("p1")
    assert calls == ["p1"]  # stored with the new identity: not recomputed on the next read
    y, _ = load(path, sr=SR)
    np.testing.assert_array_equal(new, extract(mel(), y))
    assert new.shape != old.shape
    # same size, only the mtime changed (e.g. rewritten in place with the same length): recomputed too
    os.utime(path, ns=(before + 2 * 10**9, before + 2 * 10**9))
    assert again.missing() == ["p1"]
    again.get("p1")
    assert calls == ["p1", "p1"]


def test_sidecar_missing_or_corrupt_recomputes(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FeatureCache(dataset, mel())
    cache.ensure(progress=False)
    cache.identity_path("p1").unlink()  # e.g. a crash between the .npy and its identity
    cache.identity_path("p2").write_text("{not json")
    calls = _counting(cache, monkeypatch)
    assert cache.missing() == ["p1", "p2"]
    assert cache.ensure(progress=False) == 2 and calls == ["p1", "p2"]
    assert cache.missing() == []


def test_changed_frontend_weights_other_folder(dataset: Path) -> None:
    fe = mel()
    designed = FeatureCache(dataset, fe)
    assert FeatureCache(dataset, mel()).directory == designed.directory  # same config, same tensors
    # the key hashes the tensors' bytes: recompute it here from the front end's own tensors
    h = hashlib.sha1(fe.cache_key().encode())
    for name, t in sorted([*fe.named_parameters(), *fe.named_buffers()], key=lambda kv: kv[0]):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    assert designed.directory.name == h.hexdigest()[:16] != fe.cache_key()
    designed.ensure(progress=False)
    with torch.no_grad():  # a "trained" front end: one weight changed in place, config unchanged
        tensor = next(t for _, t in sorted([*fe.named_parameters(), *fe.named_buffers()], key=lambda kv: kv[0]))
        tensor.view(-1)[0] += 0.5
    changed = FeatureCache(dataset, fe)
    assert fe.config == mel().config and changed.directory != designed.directory
    assert changed.missing() == ["p1", "p2"]  # nothing reused from the designed front end's folder
    y, _ = load(dataset / "audio" / "p2.flac", sr=SR)
    np.testing.assert_array_equal(changed.get("p2"), extract(fe, y))
    assert not np.array_equal(changed.get("p2"), designed.get("p2"))
