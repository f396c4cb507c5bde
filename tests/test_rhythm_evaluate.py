"""dlmir.rhythm.evaluate: annotation readers against mir_eval's loaders, pairing audio with annotations in folders and
band datasets, mir_eval scores per file and mean, librosa in the same run, failures reported, the Markdown table."""

from __future__ import annotations

import shutil
from pathlib import Path

import mir_eval
import numpy as np
import pytest
from rhythm_fixtures import click_file  # noqa: I001

from dlmir.data.manifest import write_manifest
from dlmir.errors import AnnotationError, ParameterError
from dlmir.rhythm.evaluate import (
    BEAT_COLUMNS,
    RhythmPair,
    evaluate_beats,
    evaluate_onsets,
    find_rhythm_pairs,
    read_beats,
    read_events,
    read_onsets,
    rhythm_table,
    write_events,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "annotated"
needs_sample = pytest.mark.skipif(not (DATA / "madmom_sample.wav").exists(), reason=f"no shared clip under {DATA}")
SR = 22050


# -- readers ------------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # mir_eval's statistics of four beats
def test_readers_equal_mir_eval_loaders(tmp_path: Path) -> None:
    beats = tmp_path / "a.beats"
    beats.write_text("# manually annotated beats\n0.0913\t1\n0.7997\t2\n1.4806\t3\n2.1478  4\n")
    onsets = tmp_path / "a.onsets"
    onsets.write_text("# onsets\n0.0943\n0.2844\n0.4528\n")
    ref_beats, _ = mir_eval.io.load_delimited(str(beats), [float, int], comment="#")
    np.testing.assert_array_equal(read_beats(beats), ref_beats)
    np.testing.assert_array_equal(read_onsets(onsets), mir_eval.io.load_events(str(onsets)))
    blank = tmp_path / "blank.beats"
    blank.write_text(beats.read_text().replace("\n1.4806", "\n\n  \n1.4806"))  # blank lines are skipped too
    np.testing.assert_array_equal(read_beats(blank), ref_beats)
    est = np.array([0.1, 0.8, 1.5])
    assert mir_eval.beat.evaluate(read_beats(beats), est, min_beat_time=0) == mir_eval.beat.evaluate(
        np.asarray(ref_beats), est, min_beat_time=0
    )


@needs_sample
def test_readers_on_the_madmom_files() -> None:
    ref_beats, positions = mir_eval.io.load_delimited(str(DATA / "madmom_sample.beats"), [float, int], comment="#")
    np.testing.assert_array_equal(read_beats(DATA / "madmom_sample.beats"), ref_beats)
    assert positions == [1, 2, 3, 4]
    ref = mir_eval.io.load_events(str(DATA / "madmom_sample.onsets"))
    ours = read_onsets(DATA / "madmom_sample.onsets")
    np.testing.assert_array_equal(ours, ref)
    est = ref[::2] + 0.02
    assert mir_eval.onset.evaluate(ours, est) == mir_eval.onset.evaluate(ref, est)


def test_reader_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.beats"
    bad.write_text("0.5\nzero point six\n")
    with pytest.raises(AnnotationError, match=r"bad\.beats:2: expected a time"):
        read_events(bad)
    bad.write_text("0.5\n-1.0\n")
    with pytest.raises(AnnotationError, match=r"bad\.beats:2: .*>= 0"):
        read_events(bad)
    with pytest.raises(AnnotationError, match="no such annotation"):
        read_events(tmp_path / "missing.onsets")


def test_write_then_read(tmp_path: Path) -> None:
    path = write_events(tmp_path / "x.onsets", [0.12345, 1.5, 2.0])
    assert path.read_text() == "0.123\n1.500\n2.000\n"
    np.testing.assert_array_equal(read_events(path), [0.123, 1.5, 2.0])
    assert write_events(tmp_path / "none.beats", []).read_text() == ""
    assert read_events(tmp_path / "none.beats").shape == (0,)


# -- pairs --------------------------------------------------------------------------------------------------------
def test_pairs_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "audio" / "set").mkdir(parents=True)
    (tmp_path / "labels" / "set").mkdir(parents=True)
    for name in ("b", "a"):
        (tmp_path / "audio" / "set" / f"{name}.wav").write_bytes(b"")
        (tmp_path / "labels" / "set" / f"{name}.beats").write_text("1.0\n")
    (tmp_path / "audio" / "lonely.flac").write_bytes(b"")
    (tmp_path / "orphan.beats").write_text("1.0\n")
    with pytest.warns(UserWarning, match="1 audio file"):
        pairs = find_rhythm_pairs(tmp_path, "beats")
    assert [p.id for p in pairs] == ["audio/set/a", "audio/set/b"]
    assert pairs[0].annotation == tmp_path / "labels" / "set" / "a.beats"
    with pytest.raises(ParameterError, match="no audio file with a .onsets"):
        find_rhythm_pairs(tmp_path, "onsets")
    with pytest.raises(ParameterError, match="manifest"):
        find_rhythm_pairs(tmp_path, "beats", split="test")
    with pytest.raises(ParameterError, match="task"):
        find_rhythm_pairs(tmp_path, "tempo")


def band_dataset(root: Path) -> Path:
    """A two-item dataset laid out as ``dlmir data band`` writes it (manifest with a beats column)."""
    (root / "audio").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = []
    for i, (split, bpm) in enumerate([("test", 100.0), ("train", 120.0)]):
        item = f"band-{i:05d}"
        times = click_file(root / "audio" / f"{item}.flac", bpm)
        (root / "labels" / f"{item}.beats").write_text("".join(f"{t:.3f}\t{k % 4 + 1}\n" for k, t in enumerate(times)))
        rows.append({"id": item, "source": "arrangement", "split": split, "duration": 12.0,
                     "audio": f"audio/{item}.flac", "beats": f"labels/{item}.beats"})  # fmt: skip
    write_manifest(root, rows)
    return root


def test_pairs_in_a_band_dataset(tmp_path: Path) -> None:
    root = band_dataset(tmp_path / "band")
    assert [p.id for p in find_rhythm_pairs(root, "beats")] == ["band-00000"]  # the test split
    assert [p.id for p in find_rhythm_pairs(root, "beats", split="train")] == ["band-00001"]
    with pytest.raises(ParameterError, match="no item of split 'test' has onsets"):
        find_rhythm_pairs(root, "onsets")


# -- scores -------------------------------------------------------------------------------------------------------
def test_scores_are_mir_evals_per_file_and_mean(tmp_path: Path) -> None:
    pairs = []
    refs = {}
    for bpm in (90.0, 140.0):
        audio = tmp_path / f"c{int(bpm)}.wav"
        times = click_file(audio, bpm)
        write_events(tmp_path / f"c{int(bpm)}.beats", times)
        pairs.append((audio, tmp_path / f"c{int(bpm)}.beats"))
        refs[audio.stem] = read_events(tmp_path / f"c{int(bpm)}.beats")
    # fixed answers whatever the audio: c90's beats, and every other one of them (so c140 scores below 1)
    estimators = {"perfect": lambda y, sr: refs["c90"], "half": lambda y, sr: refs["c90"][::2]}
    scores = evaluate_beats(pairs, estimators=estimators)
    assert list(scores.per_file) == ["c90", "c140"] and scores.failed == []
    for item in ("c90", "c140"):
        for name, est in (("perfect", refs["c90"]), ("half", refs["c90"][::2])):
            assert scores.per_file[item][name] == mir_eval.beat.evaluate(refs[item], est)
    assert scores.per_file["c90"]["perfect"]["F-measure"] == 1.0
    rows = scores.rows()
    assert [r["estimator"] for r in rows] == ["perfect", "half"] and rows[0]["items"] == 2
    for row in rows:
        for col, key in BEAT_COLUMNS.items():
            expected = np.mean([scores.per_file[i][row["estimator"]][key] for i in ("c90", "c140")])
            assert row[col] == pytest.approx(expected)
    table = rhythm_table(scores).splitlines()
    assert table[0] == "| estimator | items | F-measure | CMLt | AMLt |"
    assert table[2].startswith("| perfect | 2 | ")


def test_dlmir_and_librosa_in_one_run_and_failures_reported(tmp_path: Path) -> None:
    audio = tmp_path / "clicks.wav"
    times = click_file(audio, 120.0)
    write_events(tmp_path / "clicks.onsets", times)
    write_events(tmp_path / "clicks.beats", times)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    write_events(tmp_path / "broken.onsets", [1.0])
    pairs = [RhythmPair("broken", broken, tmp_path / "broken.onsets"), (audio, tmp_path / "clicks.onsets")]
    onsets = evaluate_onsets(pairs)
    assert onsets.estimators == ["dlmir", "librosa"] and list(onsets.per_file) == ["clicks"]
    assert len(onsets.failed) == 1 and str(broken) in onsets.failed[0]
    assert onsets.per_file["clicks"]["dlmir"]["F-measure"] == 1.0
    assert onsets.per_file["clicks"]["dlmir"]["F-measure"] >= onsets.per_file["clicks"]["librosa"]["F-measure"]
    beats = evaluate_beats([(audio, tmp_path / "clicks.beats")])
    assert beats.per_file["clicks"]["dlmir"]["F-measure"] >= 0.95
    assert set(beats.per_file["clicks"]) == {"dlmir", "librosa"}
    rows = beats.file_rows()
    assert [(r["file"], r["estimator"]) for r in rows] == [("clicks", "dlmir"), ("clicks", "librosa")]


def test_short_clips_need_a_lower_min_beat_time(tmp_path: Path) -> None:
    audio = tmp_path / "short.wav"
    times = click_file(audio, 100.0, seconds=3.0)
    write_events(tmp_path / "short.beats", times)
    exact = {"exact": lambda y, sr: times}
    scores = evaluate_beats([(audio, tmp_path / "short.beats")], estimators=exact)
    assert not scores.per_file and "min_beat_time" in scores.failed[0] and "short.beats" in scores.failed[0]
    assert np.isnan(scores.rows()[0]["F-measure"])
    scores = evaluate_beats([(audio, tmp_path / "short.beats")], estimators=exact, min_beat_time=0.0)
    assert scores.per_file["short"]["exact"]["F-measure"] == 1.0
    with pytest.raises(ParameterError, match="no files"):
        evaluate_beats([])


@needs_sample
def test_madmom_sample_dlmir_at_least_librosa(tmp_path: Path) -> None:
    for name in ("madmom_sample.wav", "madmom_sample.onsets", "madmom_sample.beats"):
        shutil.copy(DATA / name, tmp_path / name)
    onsets = evaluate_onsets(find_rhythm_pairs(tmp_path, "onsets")).rows()
    assert onsets[0]["F-measure"] == 1.0 and onsets[0]["F-measure"] >= onsets[1]["F-measure"]
    beats = evaluate_beats(find_rhythm_pairs(tmp_path, "beats"), min_beat_time=0.0).rows()
    assert [r["estimator"] for r in beats] == ["dlmir", "librosa"]
    assert beats[0]["F-measure"] >= beats[1]["F-measure"]
