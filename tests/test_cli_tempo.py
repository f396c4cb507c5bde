"""``dlmir tempo``, ``dlmir evaluate tempo`` and ``dlmir plot tempo-model`` (typer's CliRunner)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

import dlmir.cli.tempo  # noqa: F401  (registers the commands)
from dlmir.cli.app import app
from dlmir.frontends import Tempo
from dlmir.models import save
from dlmir.rhythm.tempo import click_track

SR = 22050
runner = CliRunner()


def clicks(folder: Path, name: str, bpm: float, *, seconds: float = 6.0) -> Path:
    path = folder / name
    y = 0.01 * np.random.default_rng(int(bpm)).standard_normal(int(seconds * SR)) + click_track(bpm, seconds=seconds)
    sf.write(path, y.astype(np.float32), SR)
    return path


def fields(line: str) -> list[float]:
    return [float(v) for v in line.split()]


def test_prints_bpm1_bpm2_strength_per_file_with_a_header_for_several(tmp_path: Path) -> None:
    a, b = clicks(tmp_path, "a.wav", 96.0), clicks(tmp_path, "b.wav", 128.0)
    one = runner.invoke(app, ["tempo", str(a)])
    assert one.exit_code == 0, one.output
    bpm1, bpm2, strength = fields(one.stdout.strip())
    assert bpm1 == pytest.approx(96.0, rel=0.01) and abs(np.log(bpm2 / bpm1)) > np.log(1.05) and 0.5 <= strength <= 1
    two = runner.invoke(app, ["tempo", str(a), str(b)])
    assert two.exit_code == 0, two.output
    lines = two.stdout.strip().splitlines()
    assert lines[0] == f"# {a}" and lines[2] == f"# {b}"
    assert fields(lines[1])[0] == pytest.approx(96.0, rel=0.01) and fields(lines[3])[0] == pytest.approx(
        128.0, rel=0.01
    )


def test_silence_prints_no_tempo_and_a_bad_file_is_one_line_with_exit_1(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(3 * SR, dtype=np.float32), SR)
    short = clicks(tmp_path, "short.wav", 120.0, seconds=1.0)
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio")
    good = clicks(tmp_path, "good.wav", 110.0)
    result = runner.invoke(app, ["tempo", str(bad), str(quiet), str(short), str(good)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and str(bad) in errors[0] and str(short) in errors[1] and "at least 2.00 s" in errors[1]
    out = result.stdout.strip().splitlines()
    assert out[out.index(f"# {quiet}") + 1] == "nan nan nan"
    assert fields(out[out.index(f"# {good}") + 1])[0] == pytest.approx(110.0, rel=0.01)
    assert "failed: 2 of 4 file(s)" in result.stderr


def test_a_model_folder_and_a_bad_model(tmp_path: Path) -> None:
    folder = save(Tempo(prior=False), tmp_path / "flat")
    audio = clicks(tmp_path, "a.wav", 150.0)
    result = runner.invoke(app, ["tempo", str(audio), "--model", str(folder)])
    assert result.exit_code == 0, result.output
    assert fields(result.stdout)[0] == pytest.approx(150.0, rel=0.01)
    bad = runner.invoke(app, ["tempo", str(audio), "--model", str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and bad.stderr.startswith("error:") and len(bad.stderr.strip().splitlines()) == 1


def test_evaluate_tempo_prints_one_table_and_writes_md_and_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i, bpm in enumerate([85.0, 115.0]):
        clicks(data, f"c{i}.wav", bpm)
        (data / f"c{i}.bpm").write_text(f"{bpm}\n")
    learned = Tempo(trainable=True)
    with torch.no_grad():
        learned["weights"].weight.mul_(2.0)
    model = save(learned, tmp_path / "learned")
    result = runner.invoke(app, ["evaluate", "tempo", str(data), "--model", str(model), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert table[0] == "| estimator | Acc1 | Acc2 | P-score | files |"
    assert table[2] == "| dlmir designed | 100.0 | 100.0 | 100.0 | 2 |"
    assert table[3] == "| dlmir learned | 100.0 | 100.0 | 100.0 | 2 |"  # weights x 2: the same spectrum shape
    assert table[4].startswith("| librosa |") and table[4].endswith("| 2 |")
    assert (tmp_path / "t.md").read_text().strip() == "\n".join(table)
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == 6 and {r["estimator"] for r in rows} == {"dlmir designed", "dlmir learned", "librosa"}
    empty = runner.invoke(app, ["evaluate", "tempo", str(tmp_path / "learned")])
    assert empty.exit_code == 2 and "no audio file" in empty.stderr


def test_plot_tempo_model_writes_a_png(tmp_path: Path) -> None:
    model = save(Tempo(half_energy=4.0), tmp_path / "m")
    result = runner.invoke(app, ["plot", "tempo-model", str(model), "-o", str(tmp_path / "fig.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    alone = runner.invoke(app, ["plot", "tempo-model", "-o", str(tmp_path / "designed.png")])
    assert alone.exit_code == 0 and (tmp_path / "designed.png").stat().st_size > 10_000


def test_evaluate_tempo_reads_a_band_dataset_split_with_exact_beats(tmp_path: Path) -> None:
    data = tmp_path / "band"
    (data / "audio").mkdir(parents=True)
    (data / "labels").mkdir()
    rows = ["id,source,split,duration,audio,beats"]
    for i, (bpm, split) in enumerate([(90.0, "test"), (128.0, "test"), (100.0, "valid")]):
        clicks(data / "audio", f"b{i}.wav", bpm)
        beats = np.arange(0.0, 6.0, 60.0 / bpm)
        (data / "labels" / f"b{i}.beats").write_text("".join(f"{t:.4f} {k % 4 + 1}\n" for k, t in enumerate(beats)))
        rows.append(f"b{i},arrangement,{split},6.0,audio/b{i}.wav,labels/b{i}.beats")
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    result = runner.invoke(app, ["evaluate", "tempo", str(data), "--model", "none", "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    per_file = list(csv.DictReader((tmp_path / "t.csv").open()))
    # the test split only (2 files), the reference = 60 / the median beat interval
    assert len({r["file"] for r in per_file}) == 2
    assert sorted({r["reference"] for r in per_file}) == ["128.00 nan 1.00", "90.00 nan 1.00"]
    assert "| dlmir designed | 100.0 | 100.0 |" in result.stdout
