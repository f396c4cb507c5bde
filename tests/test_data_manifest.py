"""dlmir.data.manifest: write/read round trip, validation errors, and summarize() against hand counts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_data_datasets import make_chord_dataset

from dlmir.data.manifest import COLUMNS, ManifestRow, read_manifest, summarize, write_manifest
from dlmir.errors import ParameterError


def row(item_id: str, **kw: object) -> ManifestRow:
    base: dict = {
        "id": item_id,
        "source": "progression",
        "split": "train",
        "duration": 1.5,
        "audio": f"a/{item_id}.flac",
    }
    return ManifestRow(**{**base, **kw})


def test_round_trip_and_columns(tmp_path: Path) -> None:
    rows = [
        row("p0", lab="labels/p0.lab", programs="0+24", soundfont="TimGM6mb", piece="prog7"),
        row("i0", source="instrument", split="test", instrument="violin", pitch=69, dynamic="ff", duration=1.0004),
    ]
    rows[0].extra["tempo"] = "120"
    write_manifest(tmp_path, rows)
    with (tmp_path / "manifest.csv").open() as fh:
        header = next(csv.reader(fh))
    assert header == [*COLUMNS, "tempo"]
    back = read_manifest(tmp_path)
    assert back[0] == rows[0]
    assert back[1].duration == 1.0 and back[1].pitch == 69  # durations are stored with 3 decimals
    assert back[0]["audio"] == "a/p0.flac" and back[0]["tempo"] == "120" and back[0].piece_id == "prog7"
    assert [r.id for r in read_manifest(tmp_path, split="test")] == ["i0"]
    # plain dict rows (as csv gives them) are accepted too
    write_manifest(tmp_path, [r.to_dict() for r in back])
    assert read_manifest(tmp_path) == back


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([row("a"), row("a")], "duplicate id 'a'"),
        ([row("a", source="mix")], "source 'mix' is not one of"),
        ([row("a", split="dev")], "split 'dev' is not one of"),
        ([row("a", duration=-1.0)], "duration must be >= 0"),
        ([row("a", source="instrument", instrument="oboe", pitch=200, dynamic="mf")], "pitch"),
        ([row("a", source="instrument", instrument="oboe", pitch=60, dynamic="loud")], "dynamic 'loud'"),
    ],
)
def test_validation(tmp_path: Path, rows: list[ManifestRow], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        write_manifest(tmp_path, rows)


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="no manifest.csv"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("id,split\nx,train\n")
    with pytest.raises(ParameterError, match="header lacks column"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("id,source,split,duration,audio\nx,chorale,train,abc,a.flac\n")
    with pytest.raises(ParameterError, match=r"manifest.csv:2: duration must be seconds"):
        read_manifest(tmp_path)


def test_summarize_counts(tmp_path: Path) -> None:
    items = {
        "a": ("train", [("C:maj", 1.0), ("C:maj7", 0.5), ("G:7(#9)", 0.5)]),
        "b": ("valid", [("N", 0.5), ("C:5", 0.5), ("A:min", 1.0)]),
    }
    make_chord_dataset(tmp_path, items, instruments={"n0": ("test", "cello", 48)})
    s = summarize(tmp_path, top=3)
    assert s["items"] == 3 and s["hours"] == pytest.approx(5.0 / 3600, abs=1e-6)
    assert s["splits"]["train"] == {"items": 1, "hours": pytest.approx(2.0 / 3600, abs=1e-6)}
    assert s["sources"]["instrument"]["items"] == 1
    assert s["durations"] == {"min": 1.0, "median": 2.0, "max": 2.0}
    # seconds per reduced label: C:maj 1.0, A:min 1.0, C:maj7 0.5, G:7 0.5, N 0.5, X 0.5
    assert s["n_classes"] == 5
    assert [(lab, round(sec, 3), n) for lab, sec, n in s["top_labels"]] == [
        ("C:maj", 1.0, 1), ("A:min", 1.0, 1), ("C:maj7", 0.5, 1),
    ]  # fmt: skip
    assert s["qualities"] == pytest.approx({"maj": 1.0, "min": 1.0, "maj7": 0.5, "7": 0.5, "N": 0.5, "X": 0.5})
    assert s["roots"] == pytest.approx({"C": 1.5, "G": 0.5, "A": 1.0})
    assert s["instruments"] == {"cello": 1} and s["shared_pieces"] == {} and s["problems"] == [] and s["ok"]


def test_summarize_finds_leaks_and_broken_items(tmp_path: Path) -> None:
    make_chord_dataset(tmp_path, {"a": ("train", [("C:maj", 1.0)]), "b": ("test", [("D:min", 1.0)])})
    rows = read_manifest(tmp_path)
    rows[0].piece = rows[1].piece = "bwv269"
    rows.append(row("c", lab="labels/c.lab"))
    write_manifest(tmp_path, rows)
    (tmp_path / "labels" / "b.lab").write_text("0.0 1.0 D:min\n1.0 0.5 G\n")
    s = summarize(tmp_path)
    assert s["shared_pieces"] == {"bwv269": ["test", "train"]}
    assert [(i, m.split(": ", 1)[-1] if i == "c" and "no such" in m else m) for i, m in s["problems"]] == [
        ("b", "b.lab:2: end time 0.5 s is before start time 1.0 s; fix the annotation"),
        ("c", "audio file a/c.flac is missing"),
        ("c", "no such annotation file"),
    ]
    assert not s["ok"]
