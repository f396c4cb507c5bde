"""dlmir.data.render_stream: RenderStream (fresh excerpts from 2 DataLoader workers, distinct, seeded, exact frame
classes checked by hand) and Excerpts.from_folder (tiling a track; features shared with ChordDataset's cache)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from dlmir.data.excerpts import Excerpts, excerpt_frames_for
from dlmir.data.render_stream import RenderStream
from dlmir.data.synth import SOUNDFONTS

HAS_TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() or Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file()
needs_sf = pytest.mark.skipif(not HAS_TIMGM, reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)")
SR, HOP, T = 22050, 512, 96


def _stream(**kw) -> RenderStream:  # noqa: ANN003
    args = dict(
        soundfonts=["timgm6mb"],
        production="realistic",
        seed=7,
        excerpt_frames=T,
        pieces_per_epoch=8,
        max_excerpts_per_piece=1,
        arrange_kwargs={"n_chords": 3, "tempo": 140.0},
    )
    return RenderStream(**{**args, **kw})


def _collect(stream: RenderStream, workers: int = 2) -> list:
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    return list(loader)


@pytest.fixture(scope="module")
def two_workers() -> list:
    return _collect(_stream(return_info=True))


@needs_sf
def test_two_workers_yield_distinct_excerpts_of_the_right_shape(two_workers: list) -> None:
    assert len(two_workers) == 8
    seeds = [tuple(info["seed"]) for _, _, info in two_workers]
    assert sorted(s[-1] for s in seeds) == list(range(8))  # pieces 0..7, each once, over both workers
    firsts = [x[:, 0] for x, _, _ in two_workers]
    for i in range(8):
        x, c, _ = two_workers[i]
        assert x.shape == (192, T) and x.dtype == torch.float32 and c.shape == (T,) and c.dtype == torch.int64
        assert torch.isfinite(x).all() and (c >= -1).all() and (c < 157).all()
        for j in range(i):
            assert not torch.equal(firsts[i], firsts[j])


@needs_sf
def test_classes_are_frame_targets_of_the_returned_labels(two_workers: list) -> None:
    from dlmir.chords import reduce
    from dlmir.chords.vocabulary import ChordVocabulary
    from dlmir.data.frames import frame_targets

    vocab = ChordVocabulary("full")
    for x, c, info in two_workers:
        full, _ = frame_targets(info["intervals"], info["labels"], info["n_frames"], sr=SR, hop_length=HOP)
        start = info["start"]
        part = full[start : start + T]
        np.testing.assert_array_equal(c[: len(part)].numpy(), part)
        assert (c[len(part) :] == -1).all() and (x[:, len(part) :] == 0).all()
    # by hand: frame f of excerpt 0 is centred at (start + f) * 512 / 22050 s; its class is the label there
    x, c, info = two_workers[0]
    intervals, labels = info["intervals"], info["labels"]
    checked = 0
    for f in (5, 40, 90):
        t = (info["start"] + f) * HOP / SR
        k = int(np.flatnonzero((intervals[:, 0] <= t) & (t < intervals[:, 1]))[0])
        if min(t - intervals[k, 0], intervals[k, 1] - t) < 0.05:
            continue  # too close to a boundary to call by hand
        assert int(c[f]) == vocab.index(reduce(labels[k], "full"))
        checked += 1
    assert checked >= 2
    # the labels come scaled by the production's detune: they end where the audio ends
    assert abs(info["intervals"][-1, 1] - info["seconds"]) < 1.0 / SR + 1e-9


@needs_sf
def test_stream_is_deterministic_for_a_base_seed_and_epochs_differ(two_workers: list) -> None:
    again = _collect(_stream())
    assert len(again) == 8
    for (x, c, _), (x2, c2) in zip(two_workers, again, strict=True):
        assert torch.equal(x, x2) and torch.equal(c, c2)
    stream = _stream(pieces_per_epoch=2)
    stream.set_epoch(1)
    other = _collect(stream, workers=0)
    assert len(other) == 2 and not torch.equal(other[0][0], two_workers[0][0])
    # one worker renders the same pieces (content does not depend on the worker count), in order 0..7
    one = _collect(_stream(pieces_per_epoch=3), workers=0)
    by_piece = {info["seed"][-1]: (x, c) for x, c, info in two_workers}
    for k, (x, c) in enumerate(one):
        assert torch.equal(c, by_piece[k][1])
        assert torch.allclose(x, by_piece[k][0], atol=0.05 * float(x.abs().max()))


def test_stream_arguments() -> None:
    from dlmir.errors import ParameterError

    if Path(SOUNDFONTS["fluidr3"].paths[0]).is_file():
        with pytest.raises(ParameterError, match="held-out"):
            RenderStream(["fluidr3"])
    with pytest.raises(ParameterError, match="production"):
        RenderStream(["timgm6mb"], production="loud")
    assert excerpt_frames_for(12.0) == 517 and RenderStream(["timgm6mb"], excerpt_seconds=6.0).excerpt_frames == 258
    s = RenderStream(["timgm6mb"], excerpt_frames=100)
    assert s.starts(80, 30) == [0]  # shorter than an excerpt: one, padded
    assert s.starts(250, 30) == [30, 130]  # 230 would hold only 20 frames (< half)
    assert s.starts(120, 30) == [0]  # from the offset less than one excerpt is left: start at 0
    assert s.starts(300, 30) == [30, 130, 230]  # the last holds 70 frames (>= half): kept, padded
    assert s.piece_seed(4, passes=1) == [0, 0, 1, 0, 4]


def _write_track(folder: Path, name: str, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(folder / f"{name}.wav", y.astype(np.float32), SR)
    half = seconds / 2
    (folder / f"{name}.lab").write_text(f"0.000\t{half:.3f}\tA:min\n{half:.3f}\t{seconds:.3f}\tC:maj\n")


def test_excerpts_from_folder_tile_each_track(tmp_path: Path) -> None:
    from dlmir.chords.vocabulary import ChordVocabulary
    from dlmir.data.datasets import ChordDataset

    _write_track(tmp_path, "a", 5.0, 0)
    _write_track(tmp_path, "b", 2.0, 1)
    seq = Excerpts.from_folder(tmp_path, frames=50)
    ds = ChordDataset(tmp_path)  # same cache folder: the features were computed once
    assert len(list((tmp_path / "features").iterdir())) == 1
    vocab = ChordVocabulary("full")
    start = 0
    for t, (track_id, features, _, _) in enumerate(ds.tracks()):
        assert seq.ids[t] == track_id
        n = features.shape[1]
        items = [seq[i] for i in range(start, start + math.ceil(n / 50))]
        start += len(items)
        assert all(x.shape == (192, 50) and c.shape == (50,) for x, c in items)
        x = torch.cat([x for x, _ in items], dim=1)
        c = torch.cat([c for _, c in items])
        np.testing.assert_array_equal(x[:, :n].numpy(), features)
        assert (x[:, n:] == 0).all() and (c[n:] == -1).all()
        assert set(c[:n].tolist()) == {vocab.index("A:min"), vocab.index("C:maj")}
    assert start == len(seq) == math.ceil(216 / 50) + math.ceil(87 / 50)
