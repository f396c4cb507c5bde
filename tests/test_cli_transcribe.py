"""``dlmir transcribe`` and ``dlmir evaluate transcription`` (typer's CliRunner) on rendered audio."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from transcription_fixtures import write_rendered_triad  # noqa: I001
from typer.testing import CliRunner

import dlmir.cli.transcribe  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.data.notes import read_notes

SR = 22050
runner = CliRunner()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``triad.wav`` (C4 E4 G4, then C5; TimGM6mb piano) and its ``triad.mid``."""
    folder = tmp_path_factory.mktemp("rendered")
    write_rendered_triad(folder, "triad")
    return folder


def test_writes_midi_and_csv_read_back_with_the_same_notes(rendered: Path, tmp_path: Path) -> None:
    import pretty_midi

    bad = tmp_path / "broken.wav"
    bad.write_text("not audio")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["transcribe", str(rendered / "triad.wav"), str(bad), "-o", str(out), "--model", "designed", "--plot"]
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert "failed: 1 of 2 file(s)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["triad.csv", "triad.mid", "triad.png"]
    with (out / "triad.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["onset", "offset", "pitch", "velocity"]
    from_csv = read_notes(out / "triad.csv")
    assert sorted(from_csv.pitch.tolist()) == [60, 64, 67, 72]
    assert np.all(np.abs(np.sort(from_csv.onset) - [0.25, 0.25, 0.25, 1.5]) < 0.05)
    # pretty_midi reads the MIDI back with the same notes: times on its tick grid (220 per beat at 120 BPM, 2.27 ms,
    # rounded: within 1.14 ms) against the CSV's 4 decimals (0.05 ms)
    pm = pretty_midi.PrettyMIDI(str(out / "triad.mid"))
    notes = sorted((n.start, n.end, n.pitch, n.velocity) for n in pm.instruments[0].notes)
    want = sorted(zip(from_csv.onset, from_csv.offset, from_csv.pitch, from_csv.velocity, strict=True))
    assert [(p, v) for _, _, p, v in notes] == [(int(p), int(v)) for _, _, p, v in want]
    np.testing.assert_allclose([n[:2] for n in notes], [w[:2] for w in want], atol=1.2e-3)


def test_prints_notes_without_out(rendered: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(rendered / "triad.wav"), "-m", "designed"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "onset,offset,pitch,velocity"
    assert sorted(int(line.split(",")[2]) for line in lines[1:]) == [60, 64, 67, 72]


def test_bad_options(rendered: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(rendered / "triad.wav"), "--plot"])
    assert result.exit_code == 2 and "-o" in result.output
    result = runner.invoke(app, ["transcribe", str(rendered / "triad.wav"), "-m", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such folder" in result.output


def test_evaluate_transcription_writes_table(rendered: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    result = runner.invoke(app, ["evaluate", "transcription", str(rendered), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "| designed | 1 |" in result.output
    md = out.with_suffix(".md").read_text()
    assert md.splitlines()[0].startswith("| model | items | frame P | frame R | frame Acc | note P")
    with out.with_suffix(".csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # the designed baseline, then the shipped transcriber ("default"), each with its mean row
    pairs = [(r["file"], r["model"]) for r in rows]
    assert sorted(pairs) == sorted(
        [("triad", "designed"), ("mean", "designed"), ("triad", "default"), ("mean", "default")]
    )
    designed = {r["file"]: r for r in rows if r["model"] == "designed"}
    assert float(designed["triad"]["note F"]) == 1.0
