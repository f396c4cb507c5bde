"""dlmir.data.datasets: chord frames from dlmir datasets and from plain audio+.lab trees; instrument notes.

Oracles: the front end applied directly to the audio (features), hand-derived frame labels (frame t is centred
at t * hop_length / sr seconds), the vocabulary's classes and templates (themselves tested against mir_eval).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from dlmir.annotations import write_jams, write_lab
from dlmir.chords import ChordVocabulary, pitch_classes
from dlmir.data.datasets import ChordDataset, InstrumentDataset, find_pairs
from dlmir.data.manifest import ManifestRow, write_manifest
from dlmir.errors import ParameterError
from dlmir.frontends import MelSpectrogram, extract
from dlmir.io import load

SR = 22050
HOP = 512


def render(chords: list[tuple[str, float]], *, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Sum of sines on the chord's pitch classes (octaves 3-5) per segment; silence for N/X."""
    rng = np.random.default_rng(seed)
    out = []
    for label, seconds in chords:
        t = np.arange(int(round(seconds * sr))) / sr
        y = 1e-3 * rng.standard_normal(t.size)
        pcs = () if label in ("N", "X") else pitch_classes(label)
        for pc in pcs:
            for octave in (3, 4, 5):
                y += np.sin(2 * np.pi * 440.0 * 2 ** ((12 * (octave + 1) + pc - 69) / 12) * t)
        out.append(y)
    y = np.concatenate(out)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def make_chord_dataset(
    root: Path,
    items: dict[str, tuple[str, list[tuple[str, float]]]],
    *,
    instruments: dict[str, tuple[str, str, int]] | None = None,
    cut_audio: dict[str, float] | None = None,
) -> Path:
    """A dlmir dataset: ``items`` = {id: (split, [(label, seconds), ...])}, optional instrument notes
    {id: (split, instrument, midi)}, ``cut_audio`` = {id: seconds of audio removed from the end}."""
    rows = []
    for i, (item_id, (split, chords)) in enumerate(items.items()):
        y = render(chords, seed=i)
        cut = int((cut_audio or {}).get(item_id, 0.0) * SR)
        y = y[: y.size - cut]
        (root / "audio").mkdir(parents=True, exist_ok=True)
        sf.write(root / "audio" / f"{item_id}.flac", y, SR)
        ends = np.cumsum([s for _, s in chords])
        intervals = np.stack([np.r_[0.0, ends[:-1]], ends], axis=1)
        labels = [lab for lab, _ in chords]
        write_lab(root / "labels" / f"{item_id}.lab", intervals, labels)
        write_jams(root / "labels" / f"{item_id}.jams", intervals, labels, duration=y.size / SR)
        rows.append(
            ManifestRow(
                id=item_id,
                source="progression",
                split=split,
                duration=y.size / SR,
                audio=f"audio/{item_id}.flac",
                lab=f"labels/{item_id}.lab",
                jams=f"labels/{item_id}.jams",
                soundfont="sine",
                programs="0",
            )
        )
    for j, (item_id, (split, instrument, midi)) in enumerate((instruments or {}).items()):
        t = np.arange(SR) / SR
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        y = (0.3 * np.sin(2 * np.pi * f0 * t * (1 + j)) * np.exp(-3 * t)).astype(np.float32)
        (root / "audio").mkdir(parents=True, exist_ok=True)
        sf.write(root / "audio" / f"{item_id}.flac", y, SR)
        rows.append(
            ManifestRow(
                id=item_id,
                source="instrument",
                split=split,
                duration=1.0,
                audio=f"audio/{item_id}.flac",
                instrument=instrument,
                pitch=midi,
                dynamic="mf",
            )
        )
    write_manifest(root, rows)
    return root


def mel() -> MelSpectrogram:
    return MelSpectrogram(sr=SR, hop_length=HOP, n_fft=1024, n_mels=24)


def expected_labels(chords: list[tuple[str, float]], n_frames: int) -> list[str]:
    ends = np.cumsum([s for _, s in chords])
    out = []
    for t in range(n_frames):
        time = t * HOP / SR
        k = int(np.searchsorted(ends, time, side="right"))
        out.append(chords[k][0] if k < len(chords) else "N")
    return out


ITEMS = {
    "a": ("train", [("C:maj", 0.5), ("A:min7", 0.5), ("G:7(#9)", 0.5)]),
    "b": ("train", [("N", 0.3), ("D:sus4(b7)", 0.6), ("C:5", 0.4), ("Eb:maj/3", 0.5)]),
    "c": ("test", [("F#:hdim7", 1.0), ("B:maj", 0.5)]),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chord_dataset(tmp_path_factory.mktemp("chords"), ITEMS)


def test_chord_frames_match_frontend_and_hand_labels(dataset: Path) -> None:
    vocab = ChordVocabulary("full")
    with pytest.warns(UserWarning, match=r"frames with labels not reducible.*'C:5'"):
        ds = ChordDataset(dataset, split="train", frontend=mel(), context=2)
    fe = mel()
    i = 0
    n_excluded = 0
    for item_id in ("a", "b"):
        y, _ = load(dataset / "audio" / f"{item_id}.flac", sr=SR)
        feats = extract(fe, y)  # (n_mels, frames)
        padded = np.pad(feats, ((0, 0), (2, 2)))
        labels = expected_labels(ITEMS[item_id][1], feats.shape[1])
        for t, lab in enumerate(labels):
            if lab == "C:5":  # power chord: not reducible (X), excluded
                n_excluded += 1
                continue
            patch, index, tmpl = ds[i]
            assert patch.shape == (1, 5, 24) and patch.dtype == torch.float32
            np.testing.assert_allclose(patch[0].numpy(), padded[:, t : t + 5].T, rtol=1e-5, atol=1e-6)
            assert index.dtype == torch.int64
            assert vocab.label(int(index)) == {"G:7(#9)": "G:7", "D:sus4(b7)": "D:sus4", "Eb:maj/3": "Eb:maj"}.get(
                lab, lab
            )
            np.testing.assert_array_equal(tmpl.numpy(), vocab.templates[int(index)])
            i += 1
    assert i == len(ds)
    assert ds.excluded == {"C:5": n_excluded} and n_excluded == 17  # 0.4 s of frames centred in [1.5, 1.9) s
    assert ds.class_counts().sum() == len(ds)


def test_majmin_vocabulary_and_tracks(dataset: Path) -> None:
    with pytest.warns(UserWarning, match="'F#:hdim7'"):
        ds = ChordDataset(dataset, split="test", frontend=mel(), vocabulary="majmin")
    counts = ds.class_counts()
    assert len(counts) == 25
    (item_id, feats, intervals, labels), *rest = list(ds.tracks())
    assert item_id == "c" and not rest and labels == ["F#:hdim7", "B:maj"]
    y, _ = load(dataset / "audio" / "c.flac", sr=SR)
    np.testing.assert_allclose(feats, extract(mel(), y), rtol=1e-5, atol=1e-6)
    n = feats.shape[1]
    hand = expected_labels(ITEMS["c"][1], n)
    assert counts[22] == hand.count("B:maj") and counts[24] == hand.count("N")  # B:maj = 11*2, N = 24
    assert len(ds) == n - hand.count("F#:hdim7")


def test_annotation_longer_than_audio_is_trimmed_with_warning(tmp_path: Path) -> None:
    make_chord_dataset(tmp_path, {"x": ("valid", [("C:maj", 1.0), ("G:maj", 1.0)])}, cut_audio={"x": 0.5})
    with pytest.warns(UserWarning, match=r"1 annotation\(s\) run past the end of the audio.*x \(2.000 s > 1.500 s\)"):
        ds = ChordDataset(tmp_path, frontend=mel(), cache=False)
    assert len(ds) == 1 + int(1.5 * SR) // HOP
    assert not (tmp_path / "features").exists()  # cache=False writes nothing


def test_plain_folder_of_audio_and_labels(tmp_path: Path) -> None:
    # Isophonics-style: audio/<artist>/<album>/<track>.wav, chordlab/<artist>/<album>/<track>.lab
    chords = [("E:min", 0.6), ("C:maj7", 0.6)]
    y = render(chords)
    for album in ("one", "two"):
        (tmp_path / "audio" / "Band" / album).mkdir(parents=True)
        sf.write(tmp_path / "audio" / "Band" / album / "01.wav", y, SR)
        write_lab(tmp_path / "chordlab" / "Band" / album / "01.lab", [[0, 0.6], [0.6, 1.2]], [c for c, _ in chords])
    sf.write(tmp_path / "audio" / "lonely.ogg", y, SR)
    write_jams(tmp_path / "jams" / "song.jams", [[0, 1.2]], ["A:min"])
    sf.write(tmp_path / "song.flac", y, SR)
    tracks, lone_audio, lone_ann = find_pairs(tmp_path)
    assert [(t.id, t.annotation.relative_to(tmp_path).as_posix()) for t in tracks] == [
        ("audio/Band/one/01", "chordlab/Band/one/01.lab"),
        ("audio/Band/two/01", "chordlab/Band/two/01.lab"),
        ("song", "jams/song.jams"),
    ]
    assert [p.name for p in lone_audio] == ["lonely.ogg"] and lone_ann == []
    with pytest.warns(UserWarning, match="1 audio file"):
        ds = ChordDataset(tmp_path, frontend=mel())
    n = 1 + y.size // HOP
    assert len(ds) == 3 * n
    vocab = ChordVocabulary("full")
    assert int(ds[2 * n + 5][1]) == vocab.index("A:min")
    assert len(list((tmp_path / "features").rglob("*.npy"))) == 3
    with pytest.raises(ParameterError, match="needs a dlmir dataset"):
        ChordDataset(tmp_path, split="train", frontend=mel())


def test_dataloader_workers_and_pickle(dataset: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = ChordDataset(dataset, split="train", frontend=mel(), context=1)
    # DataLoader workers receive the dataset by pickling it (our own object, never a file): 2 workers below
    loader = DataLoader(ds, batch_size=16, num_workers=2, shuffle=False)
    patches, indices, templates = (torch.cat(x) for x in zip(*loader, strict=True))
    assert patches.shape == (len(ds), 1, 3, 24) and templates.shape == (len(ds), 12)
    np.testing.assert_array_equal(indices.numpy(), ds.targets)
    assert torch.equal(patches[-1], ds[len(ds) - 1][0])


def test_instrument_dataset(tmp_path: Path) -> None:
    notes = {"n0": ("train", "violin", 69), "n1": ("train", "flute", 72), "n2": ("test", "cello", 48)}
    make_chord_dataset(tmp_path, {"a": ("train", [("C:maj", 0.5)])}, instruments=notes)
    ds = InstrumentDataset(tmp_path, split="train", frontend=mel(), frames=50)
    assert ds.classes == ["cello", "flute", "violin"]  # all splits, sorted
    assert ds.ids == ["n0", "n1"] and ds.targets.tolist() == [2, 1] and ds.pitches == [69, 72]
    patch, index = ds[1]
    assert patch.shape == (1, 50, 24) and int(index) == 1
    y, _ = load(tmp_path / "audio" / "n1.flac", sr=SR)
    feats = extract(mel(), y)  # 44 frames for 1 s: the last 6 rows of the patch are zeros
    np.testing.assert_allclose(patch[0, :44].numpy(), feats.T, rtol=1e-5, atol=1e-6)
    assert float(patch[0, 44:].abs().sum()) == 0.0
    with pytest.raises(ParameterError, match="no instrument items in split 'valid'"):
        InstrumentDataset(tmp_path, split="valid", frontend=mel())


def test_default_frontend_is_the_chord_cqt(dataset: Path) -> None:
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = ChordDataset(dataset, split="test", context=0, cache=False)
    assert ds.n_bins == 192 and ds.frontend.config["bins_per_octave"] == 24
    y, _ = load(dataset / "audio" / "c.flac", sr=SR)
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, fmin=librosa.note_to_hz("C1"), n_bins=192, bins_per_octave=24))
    _, feats, _, _ = next(ds.tracks())
    assert np.linalg.norm(feats - ref) / np.linalg.norm(ref) < 1e-3


def test_frame_targets_and_templates_by_hand() -> None:
    from dlmir.data.frames import frame_targets, frame_templates

    # hop 2 at 10 Hz: frames centred at 0, 0.2, ..., 1.0 s; [0.3, 0.7) holds the centres 0.4 and 0.6
    intervals = np.array([[0.0, 0.3], [0.3, 0.7], [0.7, 0.9]])
    labels = ["C:maj7", "C:5", "A:min(9)"]
    vocab = ChordVocabulary("full")
    classes, per_frame = frame_targets(intervals, labels, 6, sr=10, hop_length=2)
    assert per_frame == ["C:maj7", "C:maj7", "C:5", "C:5", "A:min(9)", "N"]
    want = [vocab.index("C:maj7")] * 2 + [-1, -1, vocab.index("A:min"), vocab.no_chord]
    np.testing.assert_array_equal(classes, want)
    templates, valid = frame_templates(intervals, labels, 6, sr=10, hop_length=2)
    np.testing.assert_array_equal(valid, [True, True, False, False, True, True])
    np.testing.assert_array_equal(np.flatnonzero(templates[0]), [0, 4, 7, 11])
    np.testing.assert_array_equal(templates[2:4], 0)  # X frames: zeros, masked out
    np.testing.assert_array_equal(np.flatnonzero(templates[4]), [0, 4, 9])
    np.testing.assert_array_equal(templates[5], 0)  # N
    majmin, _ = frame_targets(intervals, labels, 6, sr=10, hop_length=2, vocabulary="majmin")
    assert ChordVocabulary("majmin").label(int(majmin[0])) == "C:maj"


def test_frame_step_max_items_and_audio_augmented_copies(dataset: Path) -> None:
    from dlmir.data.augment import augment_audio
    from dlmir.data.datasets import build_split

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = ChordDataset(dataset, split="train", frontend=mel(), cache=False)
        first = ChordDataset(dataset, split="train", frontend=mel(), cache=False, frame_step=3, max_items=1)
        plain = ChordDataset(dataset, split="train", frontend=mel(), cache=False, frame_step=3)
        aug = build_split(dataset, "train", frontend=mel(), context=1, frame_step=3, augment=["noise"], seed=4)
    n_a = int(np.sum(full._track_idx == 0))  # the first track's valid frames
    assert first.ids == ["a"] and len(first) == len(range(0, n_a, 3))
    for k in range(len(first)):  # every 3rd valid frame of the track
        np.testing.assert_array_equal(first[k][0].numpy(), full[3 * k][0].numpy())
        assert int(first[k][1]) == int(full[3 * k][1])
    # each track's own frames, then its noisy copy's: same frames and targets, features of the noisy audio
    # (track t's noise seeded by seed + t)
    assert aug.ids == ["a", "b"] and len(aug) == 2 * len(plain)
    n = len(first)
    y, _ = load(dataset / "audio" / "a.flac", sr=SR)
    noisy = np.pad(extract(mel(), augment_audio(y, SR, ["noise"], seed=4 + 0)), ((0, 0), (1, 1)))
    for k in (0, n // 2, n - 1):
        patch, index, tmpl = aug[n + k]
        frame = int(aug._frame_idx[n + k])
        assert frame == 3 * k and int(index) == int(aug[k][1]) and tmpl.equal(aug[k][2])
        np.testing.assert_allclose(patch[0].numpy(), noisy[:, frame : frame + 3].T, rtol=1e-5, atol=1e-6)
        assert not patch.equal(aug[k][0])
    ids = [t[0] for t in aug.tracks()]
    assert ids == ["a", "b"]  # whole tracks for evaluation: the originals only
    with pytest.raises(ParameterError, match="augmentation"):
        ChordDataset(dataset, split="train", frontend=mel(), augment=["reverse"])
