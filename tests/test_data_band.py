"""``dlmir data band``: a ci band build (produced arrangements) that ChordDataset reads; splits by piece with the
held-out soundfont on test; .beats files against the arrangement; resume; build parameters; replay from .done."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dlmir.data.synth import SOUNDFONTS

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file() and not Path(SOUNDFONTS["timgm6mb"].paths[1]).is_file(),
    reason="no TimGM6mb soundfont (apt-get install timgm6mb-soundfont)",
)
HAS_FLUIDR3 = Path(SOUNDFONTS["fluidr3"].paths[0]).is_file()
needs_fluidr3 = pytest.mark.skipif(
    not HAS_FLUIDR3, reason="the held-out test soundfont FluidR3 GM is missing (apt-get install fluid-soundfont-gm)"
)


@pytest.fixture(scope="module")
def band(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from typer.testing import CliRunner

    import dlmir.cli.data_build  # noqa: F401 - registers the commands
    from dlmir.cli.app import app

    out = tmp_path_factory.mktemp("band") / "ci"
    result = CliRunner().invoke(app, ["data", "band", str(out), "--size", "ci", "--jobs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "6 items (6 rendered now)" in result.output
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@needs_fluidr3
def test_ci_band_build_is_a_chord_dataset(band: Path) -> None:
    from dlmir.data.datasets import ChordDataset
    from dlmir.data.manifest import summarize

    rows = _rows(band)
    assert len(rows) == 6 and {r["source"] for r in rows} == {"arrangement"}
    assert sorted(r["split"] for r in rows) == ["test", "test", "train", "train", "valid", "valid"]
    for r in rows:
        assert 8.0 < float(r["duration"]) < 13.0  # 4 chords x 4 beats at 110 BPM (+ tail), detuned a little
        info = sf.info(str(band / r["audio"]))
        assert info.samplerate == 22050 and info.channels == 1
        assert abs(info.duration - float(r["duration"])) < 1e-3
        assert r["beats"] == f"labels/{r['id']}.beats" and r["production"] == "realistic"
    summary = summarize(band)
    assert summary["ok"] and summary["shared_pieces"] == {} and summary["problems"] == []
    ds = ChordDataset(band, cache=False)
    assert len(ds.ids) == 6 and len(ds) > 1000
    assert len(ChordDataset(band, split="test", cache=False).ids) == 2
    build = json.loads((band / "build.json").read_text())
    assert build["kind"] == "band" and build["production"] == "realistic" and build["test_soundfont"] == "fluidr3"


@needs_fluidr3
def test_test_split_uses_the_held_out_soundfont(band: Path) -> None:
    for r in _rows(band):
        if r["split"] == "test":
            assert r["soundfont"] == "FluidR3_GM"
        else:
            assert r["soundfont"] == "TimGM6mb"
        assert r["piece"] == r["id"]


@needs_fluidr3
def test_beats_files_match_the_arrangement(band: Path) -> None:
    from dlmir.annotations import read_lab
    from dlmir.data.build import _make_piece, plan_band

    specs = {s.id: s for s in plan_band("ci")}
    for r in _rows(band):
        lines = (band / r["beats"]).read_text().splitlines()
        beats = np.array([[float(v) for v in line.split("\t")] for line in lines])
        marker = json.loads((band / ".done" / f"{r['id']}.json").read_text())
        arr = _make_piece(specs[r["id"]])
        scale = marker["render"]["time_scale"]
        expected = arr.beats * scale
        expected = expected[expected < float(r["duration"])]
        assert len(beats) == len(expected) > 0
        np.testing.assert_allclose(beats[:, 0], expected, atol=6e-4)  # written with 3 decimals
        np.testing.assert_array_equal(beats[:, 1], arr.beat_numbers[: len(beats)])
        # every chord starts on a beat of the file
        intervals, labels = read_lab(band / r["lab"])
        assert labels[:-1] == list(arr.labels[:-1])
        for start in intervals[1:-1, 0]:
            assert np.min(np.abs(beats[:, 0] - start)) < 1e-3


@needs_fluidr3
def test_marker_replays_the_item(band: Path) -> None:
    from dlmir.data.arrangements import render_arrangement
    from dlmir.data.build import _make_piece, plan_band

    spec = next(s for s in plan_band("ci") if s.split == "train")
    marker = json.loads((band / ".done" / f"{spec.id}.json").read_text())
    assert marker["render"]["production_seed"] == spec.params["production_seed"]
    y, *_ = render_arrangement(_make_piece(spec), spec.soundfont, sr=22050, params=marker["render"]["production"])
    stored, _ = sf.read(str(band / marker["audio"]), dtype="float32")
    assert y.shape == stored.shape
    assert np.max(np.abs(y - stored)) < 0.05  # FLAC is 16-bit; FluidSynth's voice pool differs slightly per chunk


@needs_fluidr3
def test_resume_renders_nothing_and_refuses_other_parameters(band: Path) -> None:
    from dlmir.data.build import build_band
    from dlmir.errors import ParameterError

    before = {p.name: p.stat().st_mtime_ns for p in (band / "audio").iterdir()}
    stats = build_band(band, size="ci", jobs=1, progress=False)
    assert (stats.items, stats.rendered) == (6, 0)
    assert {p.name: p.stat().st_mtime_ns for p in (band / "audio").iterdir()} == before
    with pytest.raises(ParameterError, match="--production realistic; this build asks for --production clean"):
        build_band(band, size="ci", production="clean", jobs=1, progress=False)
    with pytest.raises(ParameterError, match="--seed"):
        build_band(band, size="ci", seed=3, jobs=1, progress=False)


def test_plans() -> None:
    from dlmir.data.build import BAND_SHARES, plan_band, split_of
    from dlmir.errors import ParameterError

    ci = plan_band("ci")
    assert [s.split for s in ci] == [split_of(s.piece) for s in ci]
    assert plan_band("ci", seed=1)[0].params["production_seed"] != ci[0].params["production_seed"]
    big = plan_band("1h", soundfonts=["timgm6mb", "csound"])
    counts = {k: sum(s.split == k for s in big) for k in BAND_SHARES}
    assert counts["test"] == counts["valid"] == 2 * counts["train"] and 90 < len(big) < 120
    assert {s.soundfont for s in big if s.split == "test"} == {"fluidr3"}
    assert {s.soundfont for s in big if s.split != "test"} == {"timgm6mb", "csound"}
    small = plan_band("0.5h", soundfonts=["timgm6mb", "csound"])
    assert {s.id for s in small} <= {s.id for s in big}  # a build grows
    with pytest.raises(ParameterError, match="production"):
        plan_band("ci", production="loud")
    with pytest.raises(ParameterError, match="hold it out"):
        plan_band("ci", soundfonts=["fluidr3"])


def test_piece_with_a_silent_stem_is_skipped_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dlmir.data.arrangements as arrangements
    from dlmir.data.build import plan_band, render_items
    from dlmir.errors import AudioError

    def silent(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AudioError("the lead stem rendered silent with timgm6mb")

    monkeypatch.setattr(arrangements, "render_arrangement", silent)
    specs = [s for s in plan_band("ci") if s.split == "train"]
    stats = render_items(tmp_path, specs, jobs=1, progress=False)
    assert (stats.items, stats.skipped, stats.rendered) == (0, 2, 2)
    marker = json.loads((tmp_path / ".done" / f"{specs[0].id}.json").read_text())
    assert "rendered silent" in marker["skipped"]
    again = render_items(tmp_path, specs, jobs=1, progress=False)
    assert (again.items, again.skipped, again.rendered) == (0, 2, 0)
