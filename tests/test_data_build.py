"""Dataset builders: ci chord set (labels, splits, held-out soundfont, durations), resume, build parameters,
plans, instruments. Split oracle: SHA-1 of piece ids computed here with hashlib, expected splits hard-coded."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from dlmir.annotations import read_jams, read_lab
from dlmir.data.build import (
    VELOCITY_JITTER,
    build_chords,
    build_instruments,
    note_velocity,
    plan_chords,
    plan_instruments,
    split_of,
)
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


# (piece id, first 8 hex digits of SHA-1(id), split): u = first 8 bytes / 2**64; test below 0.15 (0x26666666...),
# valid below 0.25 (0x40000000...), else train. Derived once with hashlib and written down here.
HAND_SPLITS = [
    ("prog-00000", "a49648d5", "train"),
    ("prog-00006", "597d1457", "train"),
    ("prog-00007", "0819f78f", "test"),
    ("prog-00013", "3613154c", "valid"),
    ("prog-00023", "2e41fd5b", "valid"),
    ("prog-00037", "1c2b44bb", "test"),
]


@pytest.mark.parametrize(("piece", "sha1_prefix", "split"), HAND_SPLITS)
def test_split_of_hand_derived(piece: str, sha1_prefix: str, split: str) -> None:
    assert hashlib.sha1(piece.encode()).hexdigest()[:8] == sha1_prefix
    assert split_of(piece) == split
    assert split_of(piece, test=0.0, valid=0.0) == "train"


def test_splits_by_piece_and_held_out_soundfont(ci_chords) -> None:  # noqa: ANN001
    from dlmir.data.manifest import summarize

    out, _ = ci_chords
    rows = _rows(out)
    pieces: dict[str, set[str]] = {}
    for r in rows:
        pieces.setdefault(r["piece"], set()).add(r["split"])
        assert (r["soundfont"] == "FluidR3_GM") == (r["split"] == "test")
    assert all(len(s) == 1 for s in pieces.values())  # no piece in two splits
    assert summarize(out)["shared_pieces"] == {}
    # ci takes the first progressions filling the quota train 3, valid 1, test 1 (splits from HAND_SPLITS' rule)
    progressions = {r["piece"]: r["split"] for r in rows if r["source"] == "progression"}
    assert progressions == {
        "prog-00000": "train", "prog-00001": "train", "prog-00002": "train",
        "prog-00007": "test", "prog-00013": "valid",
    }  # fmt: skip


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


def test_resume_with_other_seed_or_soundfonts_refuses(ci_chords) -> None:  # noqa: ANN001
    out, _ = ci_chords
    recorded = json.loads((out / "build.json").read_text())
    assert recorded["kind"] == "chords" and recorded["size"] == "ci" and recorded["seed"] == 0
    assert recorded["soundfonts"] == ["timgm6mb"] and recorded["test_soundfont"] == "fluidr3"
    before = {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()}
    with pytest.raises(ParameterError, match=r"built with --seed 0; this build asks for --seed 1.*another folder"):
        build_chords(out, size="ci", seed=1, jobs=1, progress=False)
    with pytest.raises(ParameterError, match=r"--soundfont timgm6mb; this build asks for --soundfont musescore"):
        build_chords(out, size="ci", soundfonts=["musescore"], jobs=1, progress=False)
    with pytest.raises(ParameterError, match=r"--test-soundfont fluidr3; this build asks for --test-soundfont muse"):
        build_chords(out, size="ci", test_soundfont="musescore", jobs=1, progress=False)
    with pytest.raises(ParameterError, match=r"--size ci; this build asks for --size 0.5h"):  # ci items are excerpts
        build_chords(out, size="0.5h", soundfonts=["timgm6mb"], jobs=1, progress=False)
    with pytest.raises(ParameterError, match="holds a chords dataset"):
        build_instruments(out, size="ci", jobs=1, progress=False)
    assert json.loads((out / "build.json").read_text()) == recorded  # nothing written, nothing rendered
    assert {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()} == before


def test_build_parameters_other_size_is_fine_force_overrides(tmp_path: Path) -> None:
    from dlmir.data.build import TRAIN_SOUNDFONTS, _build_params, _check_build

    def params(size: str, seed: int = 0) -> dict:
        return _build_params("chords", size, seed, TRAIN_SOUNDFONTS, "fluidr3")

    _check_build(tmp_path, params("0.5h"), force=False)
    _check_build(tmp_path, params("2h"), force=False)  # growing a build
    assert json.loads((tmp_path / "build.json").read_text())["size"] == "2h"
    with pytest.raises(ParameterError, match="--seed 0; this build asks for --seed 3"):
        _check_build(tmp_path, params("2h", seed=3), force=False)
    _check_build(tmp_path, params("2h", seed=3), force=True)
    assert json.loads((tmp_path / "build.json").read_text())["seed"] == 3
    (tmp_path / "build.json").write_text("{")
    with pytest.raises(ParameterError, match="not valid JSON"):
        _check_build(tmp_path, params("2h"), force=False)


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
        assert r["velocity"] == "80"  # seed 0: the nominal mf velocity
    with pytest.raises(ParameterError, match="--seed 0; this build asks for --seed 2"):
        build_instruments(tmp_path, size="ci", seed=2, jobs=1, progress=False)


def test_instrument_seed_draws_velocities() -> None:
    nominal = {"pp": 32, "mf": 80, "ff": 120}
    zero = plan_instruments("default", seed=0)
    assert all(s.params["velocity"] == nominal[s.params["dynamic"]] for s in zero)
    one, again, two = (plan_instruments("default", seed=k) for k in (1, 1, 2))
    assert [s.id for s in one] == [s.id for s in zero] and [s.split for s in one] == [s.split for s in zero]
    v1 = [s.params["velocity"] for s in one]
    assert v1 == [s.params["velocity"] for s in again]  # a fixed function of (seed, id): resumable
    assert v1 != [s.params["velocity"] for s in two]
    for s in one:
        v, n = s.params["velocity"], nominal[s.params["dynamic"]]
        assert 1 <= v <= 127 and abs(v - n) <= VELOCITY_JITTER
    spread = {d: {s.params["velocity"] for s in one if s.params["dynamic"] == d} for d in nominal}
    assert max(spread["pp"]) < min(spread["mf"]) and max(spread["mf"]) < min(spread["ff"])  # dynamics stay apart
    assert len(spread["mf"]) == 2 * VELOCITY_JITTER + 1  # every offset -12..12 drawn over ~1,900 notes
    assert note_velocity("ff", "x", 0) == 120 and note_velocity("pp", "x", 5) == note_velocity("pp", "x", 5)


def test_cli_errors_and_registration(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import dlmir.cli.data_build  # noqa: F401 - registers the commands
    from dlmir.cli.app import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["data", "chords", str(tmp_path / "x"), "--size", "ci", "--soundfont", "/nonexistent/a.sf2"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
    result = runner.invoke(app, ["data", "instruments", str(tmp_path / "y"), "--size", "huge"])
    assert result.exit_code == 2
    assert "'ci' or 'default'" in result.output


def test_cli_defaults_build_the_real_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import dlmir.cli.data_build  # noqa: F401 - registers the commands
    import dlmir.data.build as build
    from dlmir.cli.app import app

    calls: list[tuple[str, dict]] = []

    class Stats:
        def summary(self) -> str:
            return "ok"

    def fake(name: str):  # noqa: ANN202
        def run(**kwargs: object) -> Stats:
            calls.append((name, kwargs))
            return Stats()

        return run

    monkeypatch.setattr(build, "build_chords", fake("chords"))
    monkeypatch.setattr(build, "build_instruments", fake("instruments"))
    runner = CliRunner()
    assert runner.invoke(app, ["data", "chords", str(tmp_path / "c")]).exit_code == 0
    assert runner.invoke(app, ["data", "instruments", str(tmp_path / "i"), "--seed", "4", "--force"]).exit_code == 0
    assert runner.invoke(app, ["data", "chords", str(tmp_path / "c"), "--size", "ci"]).exit_code == 0
    (_, chords), (_, instruments), (_, ci) = calls
    assert chords["size"] == "default" and chords["seed"] == 0 and chords["force"] is False
    assert instruments["size"] == "default" and instruments["seed"] == 4 and instruments["force"] is True
    assert ci["size"] == "ci"


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
