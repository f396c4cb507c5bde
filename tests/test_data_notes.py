"""dlmir.data.notes: MIDI and csv round trips (pretty_midi as oracle), ms/s and Hz detection, piano rolls on a
hand-made example (hand-derived frame counts), roll_to_multipitch against mir_eval, clear errors naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from dlmir.data.notes import (
    NoteList,
    notes_from_midi,
    piano_roll,
    read_notes,
    roll_to_multipitch,
    write_midi,
    write_notes_csv,
)
from dlmir.errors import AnnotationError, ParameterError


def _notes() -> NoteList:
    return NoteList(
        onset=np.array([0.5, 0.0, 0.0, 1.25]),
        offset=np.array([1.0, 0.5, 1.5, 2.0]),
        pitch=np.array([64, 60, 48, 67]),
        velocity=np.array([90, 100, 80, 70]),
    )


def test_sorted_by_onset_then_pitch() -> None:
    n = _notes()
    assert n.onset.tolist() == [0.0, 0.0, 0.5, 1.25]
    assert n.pitch.tolist() == [48, 60, 64, 67]
    assert n.onset.dtype == np.float64 and n.pitch.dtype == np.int64 and n.velocity.dtype == np.int64
    assert len(n) == 4 and len(NoteList.empty()) == 0


def test_midi_round_trip_through_pretty_midi(tmp_path: Path) -> None:
    n = _notes()
    path = tmp_path / "x.mid"
    write_midi(path, n, program=40)
    pm = pretty_midi.PrettyMIDI(str(path))  # the oracle reads what we wrote
    assert [i.program for i in pm.instruments] == [40]
    got = sorted((round(x.start, 3), round(x.end, 3), x.pitch, x.velocity) for x in pm.instruments[0].notes)
    want = sorted(zip(n.onset, n.offset, n.pitch.tolist(), n.velocity.tolist(), strict=True))
    assert got == [(float(a), float(b), p, v) for a, b, p, v in want]
    back = read_notes(path)
    np.testing.assert_allclose(back.onset, n.onset, atol=1e-3)
    np.testing.assert_allclose(back.offset, n.offset, atol=1e-3)
    assert back.pitch.tolist() == n.pitch.tolist() and back.velocity.tolist() == n.velocity.tolist()


def test_notes_from_midi_drums_and_time_scale() -> None:
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(100, 60, 1.0, 2.0))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(100, 36, 0.0, 0.1))
    pm.instruments += [piano, drums]
    assert notes_from_midi(pm).pitch.tolist() == [60]
    assert sorted(notes_from_midi(pm, include_drums=True).pitch.tolist()) == [36, 60]
    scaled = notes_from_midi(pm, time_scale=1.5)
    assert scaled.onset.tolist() == [1.5] and scaled.offset.tolist() == [3.0]


def test_csv_round_trip(tmp_path: Path) -> None:
    n = _notes()
    path = write_notes_csv(tmp_path / "x.notes.csv", n)
    assert path.read_text().splitlines()[0] == "onset,offset,pitch,velocity"
    assert path.read_text().splitlines()[1] == "0.0000,1.5000,48,80"
    assert read_notes(path) == n


def test_ms_and_seconds_auto(tmp_path: Path) -> None:
    (tmp_path / "ms.txt").write_text("0\t500\t60\n500\t1000\t64\n")
    (tmp_path / "s.tsv").write_text("onset\toffset\tpitch\n0 0.5 60\n0.5 1.0 64\n")
    ms, s = read_notes(tmp_path / "ms.txt"), read_notes(tmp_path / "s.tsv")
    assert ms.onset.tolist() == s.onset.tolist() == [0.0, 0.5]
    assert ms.offset.tolist() == s.offset.tolist() == [0.5, 1.0]
    assert ms.velocity.tolist() == [100, 100]
    # forced units override the guess
    assert read_notes(tmp_path / "s.tsv", unit="ms").offset.tolist() == [0.0005, 0.001]
    assert read_notes(tmp_path / "ms.txt", unit="s").offset.tolist() == [500.0, 1000.0]


def test_hz_pitch_column(tmp_path: Path) -> None:
    (tmp_path / "hz.csv").write_text("0.0,0.5,440.0\n0.5,1.0,261.63\n1.0,1.5,130.8127826502993\n")
    n = read_notes(tmp_path / "hz.csv")
    assert n.pitch.tolist() == [69, 60, 48]  # librosa.hz_to_midi, rounded
    np.testing.assert_allclose(n.pitch_hz(), [440.0, 261.6256, 130.8128], atol=1e-3)


def test_piano_roll_hand_example() -> None:
    # frame_rate 10: frame k centred at k/10 s. A 0.0-0.5 s C4 covers centres 0.0..0.4 -> frames 0-4 (5 frames);
    # E4 0.25-0.36 -> centres in [0.25, 0.36): 0.3 -> frame 3 only; onset nearest 0.25 -> frame 3 (round half up);
    # G4 0.91-0.93 contains no centre -> at least its onset frame 9; A0 (21) is row 0; C9 (120) is dropped.
    n = NoteList([0.0, 0.25, 0.91, 0.0, 0.0], [0.5, 0.36, 0.93, 1.2, 0.5], [60, 64, 67, 21, 120], [100] * 5)
    roll = piano_roll(n, 12, 10.0)
    assert set(roll) == {"frames", "onsets", "offsets"}
    assert all(r.shape == (88, 12) and r.dtype == np.float32 for r in roll.values())
    f, o, off = roll["frames"], roll["onsets"], roll["offsets"]
    assert np.flatnonzero(f[60 - 21]).tolist() == [0, 1, 2, 3, 4]
    assert np.flatnonzero(f[64 - 21]).tolist() == [3]
    assert np.flatnonzero(f[67 - 21]).tolist() == [9]
    assert np.flatnonzero(f[0]).tolist() == list(range(12))  # 0.0-1.2 s: centres 0.0..1.1
    assert f.sum() == 5 + 1 + 1 + 12 and o.sum() == 4
    assert np.flatnonzero(o[64 - 21]).tolist() == [3] and np.flatnonzero(off[64 - 21]).tolist() == [4]
    assert np.flatnonzero(off[60 - 21]).tolist() == [5]
    assert off[0].sum() == 0  # offset at frame 12: off the grid
    wide = piano_roll(n, 12, 10.0, onset_frames=2)
    assert np.flatnonzero(wide["onsets"][60 - 21]).tolist() == [0, 1]
    # librosa's centred frame count for 1.1 s at sr 22050, hop 256
    sr, hop = 22050, 256
    n_frames = 1 + int(1.1 * sr) // hop
    assert piano_roll(n, n_frames, sr / hop)["frames"].shape[1] == 95 == n_frames


def test_roll_to_multipitch_scores_perfect_with_mir_eval() -> None:
    import mir_eval

    n = _notes()
    roll = piano_roll(n, 30, 20.0)["frames"]
    times, freqs = roll_to_multipitch(roll, 20.0)
    assert times[3] == 0.15
    assert np.allclose(sorted(freqs[0]), [130.8127826, 261.6255653])  # C3 and C4 at t=0
    scores = mir_eval.multipitch.evaluate(times, freqs, times, freqs)
    assert scores["Accuracy"] == 1.0


def test_clipped_shifted_scaled() -> None:
    n = _notes()
    c = n.clipped(0.25, 1.3)
    assert c.pitch.tolist() == [48, 60, 64, 67]
    np.testing.assert_allclose(c.onset, [0.0, 0.0, 0.25, 1.0])
    np.testing.assert_allclose(c.offset, [1.05, 0.25, 0.75, 1.05])
    assert n.shifted(1.0).onset.tolist() == [1.0, 1.0, 1.5, 2.25]
    assert n.scaled(2.0).offset.tolist() == [3.0, 1.0, 2.0, 4.0]
    assert len(n.clipped(5.0, 6.0)) == 0


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("onset,offset,pitch\n0.0,0.5,60\n0.5,abc,64\n")
    with pytest.raises(AnnotationError, match=r"broken\.csv, line 3"):
        read_notes(bad)
    short = tmp_path / "short.txt"
    short.write_text("0.0 0.5\n")
    with pytest.raises(AnnotationError, match=r"short\.txt, line 1"):
        read_notes(short)
    backwards = tmp_path / "backwards.csv"
    backwards.write_text("1.0,0.5,60\n")
    with pytest.raises(AnnotationError, match=r"backwards\.csv, line 1: offset"):
        read_notes(backwards)
    midi = tmp_path / "notmidi.mid"
    midi.write_bytes(b"this is not midi")
    with pytest.raises(AnnotationError, match=r"notmidi\.mid"):
        read_notes(midi)
    with pytest.raises(AnnotationError, match=r"missing\.csv"):
        read_notes(tmp_path / "missing.csv")
    with pytest.raises(ParameterError):
        read_notes(bad, unit="minutes")
    with pytest.raises(ParameterError, match="ends before"):
        NoteList([1.0], [0.5], [60], [100])
