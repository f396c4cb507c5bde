"""``dlmir onsets``, ``dlmir beats`` and ``dlmir evaluate onsets|beats`` (typer's CliRunner) on click tracks, silence,
broken files, a folder and a band-style dataset."""

from __future__ import annotations

from pathlib import Path

import mir_eval
import numpy as np
import soundfile as sf
from rhythm_fixtures import click_file as _click_file  # noqa: I001
from typer.testing import CliRunner

import dlmir.cli.rhythm  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.data.manifest import write_manifest
from dlmir.io import load
from dlmir.rhythm.beats import track_beats
from dlmir.rhythm.onsets import detect_onsets

SR = 22050
runner = CliRunner()


def click_file(path: Path, bpm: float, seconds: float = 8.0) -> np.ndarray:
    """:func:`rhythm_fixtures.click_file`, 8 s by default here."""
    return _click_file(path, bpm, seconds)


def test_onsets_prints_times_with_3_decimals(tmp_path: Path) -> None:
    audio = tmp_path / "clicks.wav"
    clicks = click_file(audio, 100.0)
    result = runner.invoke(app, ["onsets", str(audio)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert all(len(line.split(".")[1]) == 3 for line in lines)
    printed = np.array([float(line) for line in lines])
    np.testing.assert_allclose(printed, np.round(detect_onsets(load(audio)[0], SR), 3))
    assert mir_eval.onset.f_measure(clicks, printed)[0] == 1.0


def test_several_files_print_headers_or_write_files(tmp_path: Path) -> None:
    first, second = tmp_path / "one.wav", tmp_path / "two.flac"
    clicks = click_file(first, 90.0)
    click_file(second, 150.0)
    result = runner.invoke(app, ["beats", str(first), str(second)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"# {first}" and f"# {second}" in lines
    out = tmp_path / "out"
    result = runner.invoke(app, ["beats", str(first), str(second), "-o", str(out), "--bpm", "90"])
    assert result.exit_code == 0, result.output
    written = mir_eval.io.load_events(str(out / "one.beats"))
    np.testing.assert_allclose(written, np.round(track_beats(load(first)[0], SR, bpm=90.0), 3))
    assert (out / "two.beats").is_file()
    result = runner.invoke(app, ["beats", str(second), "--tempo-model", "novelty"])
    assert result.exit_code == 0, result.output
    printed = np.array([float(line) for line in result.stdout.split()])
    np.testing.assert_allclose(printed, np.round(track_beats(load(second)[0], SR, tempo_model="novelty"), 3))
    result = runner.invoke(app, ["onsets", str(first), "-o", str(out)])
    assert result.exit_code == 0 and len(mir_eval.io.load_events(str(out / "one.onsets"))) == len(clicks)


def test_bad_file_is_one_line_and_exit_1_while_the_good_one_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    good = tmp_path / "good.wav"
    click_file(good, 120.0)
    out = tmp_path / "out"
    result = runner.invoke(app, ["onsets", str(bad), str(good), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0]
    assert (out / "good.onsets").is_file() and not (out / "broken.onsets").exists()


def test_silence_and_nan_files(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(3 * SR, dtype=np.float32), SR)
    result = runner.invoke(app, ["beats", str(silent)])
    assert result.exit_code == 0 and result.stdout.strip() == ""
    result = runner.invoke(app, ["onsets", str(silent), "-o", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / "silent.onsets").read_text() == ""
    nan = tmp_path / "nan.wav"
    y = np.zeros(SR, dtype=np.float32)
    y[10] = np.nan
    sf.write(nan, y, SR, subtype="FLOAT")
    result = runner.invoke(app, ["beats", str(nan)])
    assert result.exit_code == 1 and "NaN" in result.output


def test_bad_options_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["beats", str(tmp_path / "x.wav"), "--bpm", "0"])
    assert result.exit_code == 2 and "--bpm" in result.output
    result = runner.invoke(app, ["onsets", str(tmp_path / "x.wav"), "--wait", "-1"])
    assert result.exit_code == 2 and "--wait" in result.output
    result = runner.invoke(app, ["beats", str(tmp_path / "x.wav"), "--tempo-model", str(tmp_path)])
    assert result.exit_code == 2 and "--tempo-model" in result.output and "config.json" in result.output
    result = runner.invoke(app, ["evaluate", "beats", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such folder" in result.output


def test_evaluate_onsets_on_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "songs"
    folder.mkdir()
    times = click_file(folder / "song.wav", 110.0)
    (folder / "song.onsets").write_text("# clicks\n" + "".join(f"{t:.4f}\n" for t in times))
    out = tmp_path / "table"
    result = runner.invoke(app, ["evaluate", "onsets", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("| estimator"))
    assert header == "| estimator | items | F-measure | Precision | Recall |"
    assert "| dlmir | 1 | 100.0 | 100.0 | 100.0 |" in result.stdout and "| librosa | 1 |" in result.stdout
    assert out.with_suffix(".md").read_text().startswith("| estimator")
    csv = out.with_suffix(".csv").read_text().splitlines()
    assert csv[0] == "file,estimator,items,F-measure,Precision,Recall"
    assert csv[1].startswith("song,dlmir,,1.0,") and csv[3].startswith("mean,dlmir,1,1.0,")


def test_evaluate_beats_on_a_band_dataset_reports_failures(tmp_path: Path) -> None:
    root = tmp_path / "band"
    (root / "audio").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = []
    for i, bpm in enumerate([100.0, 130.0]):
        item = f"band-{i:05d}"
        times = click_file(root / "audio" / f"{item}.flac", bpm, seconds=12.0)
        (root / "labels" / f"{item}.beats").write_text("".join(f"{t:.3f}\t{k % 4 + 1}\n" for k, t in enumerate(times)))
        rows.append({"id": item, "source": "arrangement", "split": "test", "duration": 12.0,
                     "audio": f"audio/{item}.flac", "beats": f"labels/{item}.beats"})  # fmt: skip
    write_manifest(root, rows)
    (root / "audio" / "band-00001.flac").write_bytes(b"broken")
    result = runner.invoke(app, ["evaluate", "beats", str(root)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "band-00001.flac" in errors[0]
    dlmir_row = next(line for line in result.stdout.splitlines() if line.startswith("| dlmir"))
    cells = [c.strip() for c in dlmir_row.strip("|").split("|")]
    assert cells[1] == "1" and float(cells[2]) >= 95.0  # F-measure in %
