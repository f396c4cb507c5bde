"""Notes files of built datasets: a ci chord build and a ci band build write labels/<id>.notes.csv per item
(manifest column ``notes``); the notes are those of the MIDI (pretty_midi, times scaled by the recorded detune
for band items, drums excluded) and sound in the audio (CQT energy at labelled pitch/frames far above the rest);
``add_notes`` / ``dlmir data notes`` regenerate byte-identical files from the build records alone and skip, with
a warning, an item whose record no longer matches."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import librosa
import numpy as np
import pytest

from dlmir.data.synth import SOUNDFONTS

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() and not Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file(),
    reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)",
)
HAS_FLUIDR3 = Path(SOUNDFONTS["fluidr3"].paths[0]).is_file()


@pytest.fixture(scope="module")
def chords(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlmir.data.build import build_chords

    out = tmp_path_factory.mktemp("notes") / "chords"
    build_chords(out, size="ci", seed=0, jobs=1, progress=False)
    return out


@pytest.fixture(scope="module")
def band(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlmir.data.build import build_band

    out = tmp_path_factory.mktemp("notes") / "band"
    build_band(out, size="ci", seed=0, jobs=1, progress=False)
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


HOP = 256


def cqt_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """CQT in dB, 1 bin per semitone over MIDI 20..109 (rows 1..88 are MIDI 21..108), hop 256, tuning estimated
    (produced items are detuned by up to +-50 cents)."""
    tuning = librosa.estimate_tuning(y=audio, sr=sr)
    c = np.abs(librosa.cqt(audio, sr=sr, hop_length=HOP, fmin=librosa.midi_to_hz(20), n_bins=90, tuning=tuning))
    return librosa.amplitude_to_db(c, ref=np.max)


def pitch_peak_fraction(db: np.ndarray, sr: int, notes: object) -> float:
    """Share of labelled (pitch, frame) cells whose CQT level is a local maximum across pitch: high when the
    labelled pitches sound, near 0 a semitone off."""
    from dlmir.data.notes import piano_roll

    roll = piano_roll(notes, db.shape[1], sr / HOP)["frames"].astype(bool)  # type: ignore[arg-type]
    mid = db[1:-1]
    return float(((mid >= db[:-2]) & (mid >= db[2:]))[roll].mean())


def onset_rise(db: np.ndarray, sr: int, notes: object) -> float:
    """Median rise (dB) of each note's CQT row from the 3 frames before its labelled onset to the 3 from it:
    largest when the labelled onsets are where the notes start."""
    rises = []
    for a, p in zip(notes.onset, notes.pitch, strict=True):  # type: ignore[attr-defined]
        k, r = int(round(a * sr / HOP)), int(p) - 20
        if 3 <= k < db.shape[1] - 3 and 1 <= r <= 88:
            rises.append(db[r, k : k + 3].max() - db[r, k - 3 : k].min())
    return float(np.median(rises))


def _check_dataset(out: Path) -> None:
    from dlmir.data.notes import read_notes
    from dlmir.io import load

    rows = _rows(out)
    assert rows and all(r["notes"] == f"labels/{r['id']}.notes.csv" for r in rows)
    for r in rows:
        notes = read_notes(out / r["notes"])
        assert len(notes) > 0 and notes.offset.max() <= float(r["duration"]) + 1e-4
        y, sr = load(out / r["audio"], sr=22050)
        db = cqt_db(y, sr)
        # the labelled pitches sound (measured 0.69-0.96 here) and a semitone off they do not (<= 0.08)
        frac = pitch_peak_fraction(db, sr, notes)
        assert frac > 0.6 and frac > 4 * max(pitch_peak_fraction(db, sr, notes.transposed(t)) for t in (-1, 1))
        # the labelled onsets are where notes start: later, earlier or time-stretched by 3 % they fit worse
        rise = onset_rise(db, sr, notes)
        controls = [notes.shifted(0.1), notes.shifted(-0.1), notes.scaled(1.03), notes.scaled(0.97)]
        assert rise > max(onset_rise(db, sr, c) for c in controls), r["id"]


def test_chord_items_have_their_midi_notes(chords: Path) -> None:
    from dlmir.data.build import _make_piece, plan_chords
    from dlmir.data.notes import read_notes

    _check_dataset(chords)
    specs = {s.id: s for s in plan_chords("ci", seed=0)}
    for r in _rows(chords):
        midi = _make_piece(specs[r["id"]]).midi
        want = sorted(
            (round(n.start, 4), round(min(n.end, float(r["duration"])), 4), n.pitch)
            for inst in midi.instruments
            if not inst.is_drum
            for n in inst.notes
        )
        got = read_notes(chords / r["notes"])
        assert sorted(zip(got.onset.tolist(), got.offset.tolist(), got.pitch.tolist(), strict=True)) == want


def test_band_items_notes_scaled_by_detune_without_drums(band: Path) -> None:
    from dlmir.data.arrangements import arrange
    from dlmir.data.notes import read_notes

    _check_dataset(band)
    scales = []
    for r in _rows(band):
        render = json.loads((band / ".done" / f"{r['id']}.json").read_text())["render"]
        ts = render["time_scale"]
        scales.append(ts)
        arr = arrange(seed=render["arrange"]["seed"], durations_or_intervals=render["arrange"]["beats"], tempo=110.0)
        drums = [n for pm in arr.parts.values() for i in pm.instruments if i.is_drum for n in i.notes]
        want = sorted(
            (round(n.start * ts, 4), n.pitch)
            for pm in arr.parts.values()
            for inst in pm.instruments
            if not inst.is_drum
            for n in inst.notes
            if n.start * ts < float(r["duration"])
        )
        got = read_notes(band / r["notes"])
        assert sorted(zip(got.onset.tolist(), got.pitch.tolist(), strict=True)) == want
        assert len(got) == len(want) and (not drums or len(got) < len(want) + len(drums))
    assert any(abs(ts - 1.0) > 1e-3 for ts in scales)  # some items are detuned: scaling is exercised


def test_add_notes_regenerates_identical_files(chords: Path, band: Path, tmp_path: Path) -> None:
    from dlmir.data.dataset_notes import add_notes

    for src in (chords, band):
        out = tmp_path / src.name
        shutil.copytree(src, out)
        before = {p.name: p.read_bytes() for p in (out / "labels").glob("*.notes.csv")}
        assert len(before) == len(_rows(out))
        # an older dataset: no notes files, no column, no marker key
        for p in (out / "labels").glob("*.notes.csv"):
            p.unlink()
        for m in (out / ".done").glob("*.json"):
            d = json.loads(m.read_text())
            d.pop("notes", None)
            m.write_text(json.dumps(d))
        rows = _rows(out)
        with open(out / "manifest.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "notes"], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        assert add_notes(out, progress=False) == len(before)
        after = {p.name: p.read_bytes() for p in (out / "labels").glob("*.notes.csv")}
        assert after == before
        assert all(r["notes"] for r in _rows(out))
        assert all("notes" in json.loads(m.read_text()) for m in (out / ".done").glob("*.json"))
        assert add_notes(out, progress=False) == 0  # nothing missing


def test_add_notes_skips_an_item_that_no_longer_matches(band: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import dlmir.cli.data_build  # noqa: F401 - registers the commands
    from dlmir.cli.app import app

    out = tmp_path / "band"
    shutil.copytree(band, out)
    rows = _rows(out)
    marker = out / ".done" / f"{rows[0]['id']}.json"
    d = json.loads(marker.read_text())
    d["render"]["arrangement"]["tempo"] += 1.0  # as if arrange() had changed since the build
    marker.write_text(json.dumps(d))
    result = CliRunner().invoke(app, ["data", "notes", str(out), "--force", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{len(rows) - 1} notes files written; {len(rows)} of {len(rows)} items have notes" in result.output
    assert "1 item(s) skipped" in result.output and rows[0]["id"] in result.output
