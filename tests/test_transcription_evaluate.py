"""Tests for dlmir.transcription.evaluate: mir_eval multipitch and note scores, item discovery, the designed
baseline on a rendered file scored against its own MIDI."""

from __future__ import annotations

import warnings
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from transcription_fixtures import write_rendered_triad  # noqa: I001

from dlmir.data.notes import NoteList, piano_roll, roll_to_multipitch, write_midi, write_notes_csv
from dlmir.errors import ParameterError
from dlmir.transcription import NoteTranscriber
from dlmir.transcription.evaluate import (
    COLUMNS,
    evaluate_transcription,
    find_transcription_items,
    score_notes,
    transcription_table,
)

SR = 22050
REF = NoteList([0.25, 0.25, 1.0], [1.25, 1.25, 1.5], [60, 64, 67], [100, 100, 100])


def _direct(ref: NoteList, est: NoteList, n: int) -> dict[str, float]:
    """The scores from mir_eval called directly, on the same 10 ms grid of ``n`` frames."""
    rt, rf = roll_to_multipitch(piano_roll(ref, n, 100.0)["frames"], 100.0)
    et, ef = roll_to_multipitch(piano_roll(est, n, 100.0)["frames"], 100.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp = mir_eval.multipitch.evaluate(rt, rf, et, ef)
        ri, rp = np.stack([ref.onset, ref.offset], 1), ref.pitch_hz()
        ei, ep = np.stack([est.onset, est.offset], 1).reshape(-1, 2), est.pitch_hz()
        on = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, offset_ratio=None)[:3]
        onoff = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep)[:3]
    return dict(zip(COLUMNS, [mp["Precision"], mp["Recall"], mp["Accuracy"], *on, *onoff], strict=True))


def test_perfect_estimate_scores_one() -> None:
    scores = score_notes(REF, REF, duration=2.0)
    assert list(scores) == list(COLUMNS)
    assert all(v == pytest.approx(1.0) for v in scores.values())


def test_hand_derived_scores() -> None:
    # 60 right; 64 a semitone off; 67 with its onset 30 ms late and its offset 0.3 s early
    est = NoteList([0.25, 0.25, 1.03], [1.25, 1.25, 1.2], [60, 65, 67], [90, 90, 90])
    s = score_notes(REF, est, duration=2.0)
    assert s["note P"] == pytest.approx(2 / 3) and s["note R"] == pytest.approx(2 / 3)
    # with offsets: 67's offset misses by 0.3 s > max(0.05, 0.2 x 0.5 s)
    assert s["note+off F"] == pytest.approx(1 / 3)
    # frames (10 ms, centres in [onset, offset)): ref 100 + 100 + 50 = 250 active; est 100 + 100 + 17 = 217
    # correct = 100 (60) + 17 (67 over 1.03..1.2) = 117
    assert s["frame P"] == pytest.approx(117 / 217)
    assert s["frame R"] == pytest.approx(117 / 250)
    assert s["frame Acc"] == pytest.approx(117 / (250 + 217 - 117))
    assert s == pytest.approx(_direct(REF, est, 201))


def test_empty_estimate_scores_zero_and_empty_reference_raises() -> None:
    s = score_notes(REF, NoteList.empty(), duration=2.0)
    assert all(v == 0.0 for v in s.values())
    with pytest.raises(Exception, match="no note"):
        score_notes(NoteList.empty(), REF)


def test_find_items_in_a_folder(tmp_path: Path) -> None:
    y = np.zeros(SR, np.float32)
    (tmp_path / "sub").mkdir()
    for stem in ("a", "b", "c", "sub/d"):
        sf.write(tmp_path / f"{stem}.wav", y, SR)
    write_midi(tmp_path / "a.mid", REF)
    (tmp_path / "a.txt").write_text("0 1 60\n")  # the MIDI is preferred
    (tmp_path / "b.txt").write_text("250\t1250\t60\n")  # milliseconds
    write_notes_csv(tmp_path / "sub" / "d.notes.csv", REF)
    with pytest.warns(UserWarning, match="1 audio file"):
        items = find_transcription_items(tmp_path)
    assert [(i.id, i.notes.name) for i in items] == [("a", "a.mid"), ("b", "b.txt"), ("sub/d", "d.notes.csv")]
    with pytest.raises(ParameterError, match="dlmir dataset"):
        find_transcription_items(tmp_path, split="test")
    with pytest.raises(ParameterError, match="no such folder"):
        find_transcription_items(tmp_path / "nope")


def test_find_items_in_a_dataset(tmp_path: Path) -> None:
    from dlmir.data.manifest import write_manifest

    (tmp_path / "labels").mkdir()
    rows = []
    for i, split in enumerate(["train", "test", "test"]):
        rows.append({"id": f"x{i}", "source": "progression", "split": split, "duration": 1.0,
                     "audio": f"audio/x{i}.flac"})  # fmt: skip
        write_notes_csv(tmp_path / "labels" / f"x{i}.notes.csv", REF)
    write_manifest(tmp_path, rows)
    assert [i.id for i in find_transcription_items(tmp_path)] == ["x1", "x2"]
    assert [i.id for i in find_transcription_items(tmp_path, split="train")] == ["x0"]
    with pytest.raises(ParameterError, match="no item of split 'valid'"):
        find_transcription_items(tmp_path, split="valid")


def _rendered(tmp_path: Path) -> NoteList:
    return write_rendered_triad(tmp_path, "piece")


def test_designed_baseline_on_a_rendered_file(tmp_path: Path) -> None:
    ref = _rendered(tmp_path)
    (tmp_path / "broken.wav").write_text("not audio")
    (tmp_path / "broken.txt").write_text("0 1 60\n")
    scores = evaluate_transcription(tmp_path)
    assert scores.models == ["designed"]
    assert list(scores.per_file) == ["piece"] and len(scores.failed) == 1 and "broken.wav" in scores.failed[0]
    got = scores.per_file["piece"]["designed"]
    # the designed baseline transcribes the four notes exactly (pitch, onsets within 50 ms)
    assert got["note P"] == 1.0 and got["note R"] == 1.0 and got["note F"] == 1.0
    # every number equals mir_eval called directly on the designed transcription
    est = NoteTranscriber("designed").transcribe(sf.read(tmp_path / "piece.wav", dtype="float32")[0], SR)
    assert got == pytest.approx(_direct(ref, est, int(np.ceil(2.7 * 100)) + 1))
    table = transcription_table(scores)
    assert table.splitlines()[0].startswith("| model | items | frame P")
    assert "| designed | 1 | " in table and "| 100.0 | 100.0 | 100.0 |" in table
