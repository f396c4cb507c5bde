"""``dlmir chords`` and ``dlmir evaluate chords`` (typer's CliRunner) on the bundled example and real recordings."""

from __future__ import annotations

import shutil
from pathlib import Path

import jams
import mir_eval
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

import dlmir.cli.chords  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.evaluate import CHORD_TABLE_METRICS, chords
from dlmir.examples import example_audio, example_labels

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = sorted((DATA / "real-music").glob("*.ogg")) if DATA.exists() else []

runner = CliRunner()


def test_writes_lab_readable_by_mir_eval(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chords", str(example_audio()), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lab = tmp_path / f"{example_audio().stem}.lab"
    intervals, labels = mir_eval.io.load_labeled_intervals(str(lab))
    ref_i, ref_l = mir_eval.io.load_labeled_intervals(str(example_labels()))
    assert chords(ref_i, ref_l, intervals, labels)["majmin"] >= 0.9


def test_prints_lab_lines_without_out() -> None:
    result = runner.invoke(app, ["chords", str(example_audio()), "--vocabulary", "majmin"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    fields = [line.split("\t") for line in lines]
    assert all(len(f) == 3 for f in fields) and float(fields[0][0]) == 0.0
    assert float(fields[-1][1]) == pytest.approx(sf.info(str(example_audio())).duration, abs=1e-3)
    assert {f[2] for f in fields} <= {"N", *(f"{r}:{q}" for r in "C C# D Eb E F F# G Ab A Bb B".split() for q in
                                            ("maj", "min"))}  # fmt: skip


def test_jams_output_validates(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chords", str(example_audio()), "-o", str(tmp_path), "--format", "jams"])
    assert result.exit_code == 0, result.output
    jam = jams.load(str(tmp_path / f"{example_audio().stem}.jams"), validate=True)
    ann = jam.search(namespace="chord")[0]
    assert len(ann.data) >= 8 and jam.file_metadata.duration == pytest.approx(12.75, abs=1e-3)


def test_bad_file_is_one_line_and_exit_1_while_the_good_one_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    out = tmp_path / "out"
    result = runner.invoke(app, ["chords", str(bad), str(example_audio()), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0]
    assert (out / f"{example_audio().stem}.lab").is_file()
    assert not (out / "broken.lab").exists()


def test_tab_prints_tablature() -> None:
    pytest.importorskip("dlmir.chords.fretboard", reason="tablature needs dlmir.chords.fretboard")
    result = runner.invoke(app, ["chords", str(example_audio()), "--tab"])
    assert result.exit_code == 0, result.output
    assert "e|" in result.stdout and "E|" in result.stdout and "C:maj" in result.stdout


def test_tab_without_fretboard_module_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import dlmir.chords

    monkeypatch.setitem(sys.modules, "dlmir.chords.fretboard", None)  # as if the module did not exist
    monkeypatch.delattr(dlmir.chords, "fretboard", raising=False)
    result = runner.invoke(app, ["chords", str(example_audio()), "--tab"])
    assert result.exit_code == 2
    assert "tablature is unavailable" in result.output and "--tab" in result.output


def test_bad_options_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chords", str(example_audio()), "--format", "mp3"])
    assert result.exit_code == 2 and "--format" in result.output
    result = runner.invoke(app, ["chords", str(example_audio()), "--model", str(tmp_path)])
    assert result.exit_code == 2 and "config.json" in result.output


def test_evaluate_chords_on_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "songs"
    folder.mkdir()
    shutil.copy(example_audio(), folder / "song.flac")
    shutil.copy(example_labels(), folder / "song.lab")
    out = tmp_path / "table"
    result = runner.invoke(app, ["evaluate", "chords", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("| model"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["model", "items", *CHORD_TABLE_METRICS]
    assert "| designed | 1 |" in result.stdout and "| default | 1 |" in result.stdout
    csv = out.with_suffix(".csv").read_text().splitlines()
    assert csv[0] == "model,items," + ",".join(CHORD_TABLE_METRICS)
    default = dict(zip(csv[0].split(","), csv[2].split(","), strict=True))
    assert default["model"] == "default" and float(default["majmin"]) >= 0.9


@pytest.mark.skipif(not REAL, reason=f"shared test recordings not found under {DATA}/real-music")
def test_every_real_recording(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chords", *map(str, REAL), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for path in REAL:
        intervals, labels = mir_eval.io.load_labeled_intervals(str(tmp_path / f"{path.stem}.lab"))
        assert len(labels) >= 1, path.name
        assert intervals[0, 0] == 0.0 and np.all(intervals[:, 1] > intervals[:, 0]), path.name
        np.testing.assert_allclose(intervals[1:, 0], intervals[:-1, 1], atol=1e-3)  # no overlaps, no gaps
        assert intervals[-1, 1] == pytest.approx(sf.info(str(path)).duration, abs=2e-3), path.name
