"""Dataset builders: ci chord set (labels, splits, held-out soundfont, durations), resume, plans, instruments."""

from __future__ import annotations

import csv
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from dlmir.annotations import read_jams, read_lab
from dlmir.data.build import build_chords, build_instruments, plan_chords, plan_instruments, split_of
from dlmir.errors import ParameterError


@pytest.fixture(scope="module")
def ci_chords(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("chords-ci")
    stats = build_chords(out, size="ci", seed=0, jobs=2, progress=False)
    return out, stats


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ci_build_contents(ci_chords) -> None:  # noqa: ANN001
    out, stats = ci_chords
    rows = _rows(out)
    assert stats.items == len(rows) == 8 and stats.rendered == 8
    assert stats.splits == {"train": 5, "valid": 1, "test": 2}
    assert {r["source"] for r in rows} == {"progression", "chorale"}
    total = 0.0
    for r in rows:
        info = sf.info(out / r["audio"])
        assert info.samplerate == 22050 and info.channels == 1
        assert info.frames / 22050 == pytest.approx(float(r["duration"]), abs=1e-3)
        total += float(r["duration"])
        intervals, labels = read_lab(out / r["lab"])
        for label in labels:
            mir_eval.chord.encode(label)
        assert intervals[-1, 1] == pytest.approx(float(r["duration"]), abs=1e-3)
        j_intervals, j_labels = read_jams(out / r["jams"])
        assert j_labels == labels
        np.testing.assert_allclose(j_intervals, intervals, atol=1e-6)
    assert stats.seconds == pytest.approx(total)


def test_splits_by_piece_and_held_out_soundfont(ci_chords) -> None:  # noqa: ANN001
    out, _ = ci_chords
    rows = _rows(out)
    pieces: dict[str, set[str]] = {}
    for r in rows:
        pieces.setdefault(r["piece"], set()).add(r["split"])
        assert r["split"] == split_of(r["piece"])
        assert (r["soundfont"] == "FluidR3_GM") == (r["split"] == "test")
    assert all(len(s) == 1 for s in pieces.values())


def test_resume_renders_only_missing_items(ci_chords, tmp_path: Path) -> None:  # noqa: ANN001
    out, _ = ci_chords
    rows = _rows(out)
    victim = rows[1]
    mtimes = {r["id"]: (out / r["audio"]).stat().st_mtime_ns for r in rows}
    (out / victim["audio"]).unlink()
    stats = build_chords(out, size="ci", seed=0, jobs=1, progress=False)
    assert stats.rendered == 1 and stats.items == 8
    for r in rows:
        changed = (out / r["audio"]).stat().st_mtime_ns != mtimes[r["id"]]
        assert changed == (r["id"] == victim["id"])
    assert _rows(out) == rows


def test_plans_are_stable() -> None:
    small = plan_chords("0.05h", seed=0)
    large = plan_chords("0.2h", seed=0)
    by_id = {s.id: s for s in large}
    for s in small:  # a piece keeps its split and soundfont when the build grows
        assert by_id[s.id].split == s.split and by_id[s.id].soundfont == s.soundfont
    assert {s.soundfont for s in large if s.split != "test"} == {"timgm6mb", "musescore"}
    fractions = np.mean([split_of(f"prog-{k:05d}") == "test" for k in range(4000)])
    assert fractions == pytest.approx(0.15, abs=0.02)
    default = plan_chords("default")  # 5 h: 2.5 h / 30 s progressions + 2.5 h / 45 s chorales
    assert sum(s.source == "progression" for s in default) == 300
    assert sum(s.source == "chorale" for s in default) == 200
    with pytest.raises(ParameterError, match="also a training soundfont"):
        plan_chords("ci", soundfonts=["fluidr3"])
    with pytest.raises(ParameterError, match="size"):
        plan_chords("big")


def test_instrument_plan_and_ci_build(tmp_path: Path) -> None:
    default = plan_instruments("default")
    assert 5000 <= len(default) <= 6000
    assert {s.soundfont for s in default if s.split == "test"} == {"fluidr3"}
    assert all(s.params["pitch"] % 6 == 5 for s in default if s.split == "valid")
    stats = build_instruments(tmp_path, size="ci", jobs=2, progress=False)
    rows = _rows(tmp_path)
    assert stats.items == len(rows) == 45
    assert {r["split"] for r in rows} == {"train", "valid", "test"}
    assert len({r["instrument"] for r in rows}) == 15
    for r in rows:
        assert sf.info(tmp_path / r["audio"]).frames == 2 * 22050


def test_cli_errors_and_registration(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import dlmir.cli.data_build  # noqa: F401 - registers the commands
    from dlmir.cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["data", "chords", str(tmp_path / "x"), "--soundfont", "/nonexistent/a.sf2"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = runner.invoke(app, ["data", "instruments", str(tmp_path / "y"), "--size", "huge"])
    assert result.exit_code == 2
    assert "'ci' or 'default'" in result.output


def test_silent_instrument_note_is_skipped_once(tmp_path: Path) -> None:
    from dlmir.data.build import ItemSpec, render_items

    params = {"instrument": "contrabass", "dynamic": "pp"}
    specs = [  # FluidR3 GM's contrabass has no pp sample above MIDI 57 (renders silent); 48 exists
        ItemSpec("cb60", "instrument", "test", "fluidr3", "cb60", {**params, "pitch": 60}),
        ItemSpec("cb48", "instrument", "test", "fluidr3", "cb48", {**params, "pitch": 48}),
    ]
    stats = render_items(tmp_path, specs, jobs=1, progress=False)
    assert (stats.items, stats.skipped, stats.rendered) == (1, 1, 2)
    assert [r["id"] for r in _rows(tmp_path)] == ["cb48"]
    again = render_items(tmp_path, specs, jobs=1, progress=False)
    assert (again.items, again.skipped, again.rendered) == (1, 1, 0)
