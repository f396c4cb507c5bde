"""Exact notes for dataset items: ``labels/<id>.notes.csv`` beside each item's audio (``dlmir data notes``).

Every chord (progression, chorale) and band (arrangement) item of a dlmir dataset is rendered from MIDI, so its
notes are known exactly. The builders (:mod:`dlmir.data.build`) write them at build time; :func:`add_notes`
writes them for a dataset built before that, from its build records alone, without rendering audio:

- progressions and chorales: the build's plan (``build.json``: kind, size, seed) gives each item's generator
  arguments; the piece is generated again and its MIDI read. A piece whose GM programs or duration differ from
  its manifest row (the generator changed since the build) is skipped with a warning.
- band arrangements: the item's ``.done/<id>.json`` marker holds the arrangement's seed and arguments, the
  arrangement's drawn parameters and the production's ``time_scale`` (its detune resamples the audio); the
  arrangement is made again, checked against the recorded parameters (skipped with a warning when they differ)
  and its pitched parts' notes are multiplied by ``time_scale``. Drums have no pitch: never in the notes.
- instrument items (one note each) are left alone.

The files (:func:`dlmir.data.notes.write_notes_csv`): header ``onset,offset,pitch,velocity``, seconds with 4
decimals, notes cut to the audio's duration. The manifest gets a ``notes`` column (path relative to the
dataset) and the items' ``.done`` markers the same key, so a later resume of the build keeps it.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlmir.data.notes import NOTES_SUFFIX, NoteList, notes_from_midi, write_notes_csv
from dlmir.errors import ParameterError

if TYPE_CHECKING:
    from dlmir.data.build import ItemSpec

__all__ = ["NOTE_SOURCES", "add_notes", "arrangement_notes", "item_notes", "notes_path", "write_item_notes"]

NOTE_SOURCES: tuple[str, ...] = ("progression", "chorale", "arrangement")
"""Item sources that carry ``labels/<id>.notes.csv``."""


def notes_path(item_id: str) -> str:
    """``labels/<id>.notes.csv``: where an item's notes live, relative to the dataset folder."""
    return f"labels/{item_id}{NOTES_SUFFIX}"


def write_item_notes(dataset_dir: str | os.PathLike[str], item_id: str, notes: NoteList) -> str:
    """Write ``notes`` to ``DATASET/labels/<id>.notes.csv`` atomically (temporary name, then rename); returns the
    path relative to the dataset (the manifest's ``notes`` column)."""
    rel = notes_path(item_id)
    path = Path(dataset_dir) / rel
    tmp = path.with_name(f".{path.name}.part")
    write_notes_csv(tmp, notes)
    os.replace(tmp, path)
    return rel


def _cut(notes: NoteList, duration: float) -> NoteList:
    return notes.clipped(0.0, duration) if len(notes) and duration > 0 else notes


def arrangement_notes(arr: Any, time_scale: float, duration: float) -> NoteList:
    """The pitched notes of an :class:`~dlmir.data.arrangements.Arrangement` as heard in its produced audio:
    times multiplied by the production's ``time_scale``, cut to ``duration`` seconds (drums excluded)."""
    return _cut(notes_from_midi(arr.midi(), time_scale=float(time_scale)), duration)


def item_notes(spec: ItemSpec, *, duration: float, render: dict[str, Any] | None = None) -> NoteList:
    """The notes of item ``spec``'s audio (``duration`` seconds), generated again from its arguments.

    ``render``: a band item's render record (its ``.done`` marker's ``"render"``: ``arrange`` arguments and
    ``time_scale``), required for ``arrangement`` items.
    """
    from dlmir.data.build import _make_piece

    if spec.source in ("progression", "chorale"):
        return _cut(notes_from_midi(_make_piece(spec).midi), duration)
    if spec.source == "arrangement":
        if render is None:
            raise ParameterError(f"{spec.id}: an arrangement item's notes need its render record (time_scale)")
        return arrangement_notes(_make_piece(spec), render["time_scale"], duration)
    raise ParameterError(f"{spec.id}: {spec.source} items carry no notes file")


def _json_equal(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a, sort_keys=True)) == json.loads(json.dumps(b, sort_keys=True))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _chord_specs(root: Path, build: dict[str, Any]) -> dict[str, ItemSpec]:
    from dlmir.data.build import plan_chords

    specs = plan_chords(
        build.get("size", "default"),
        seed=int(build.get("seed", 0)),
        soundfonts=build.get("soundfonts") or None,
        test_soundfont=build.get("test_soundfont", "fluidr3"),
    )
    return {s.id: s for s in specs}


def _regenerate(root: Path, row: Any, specs: dict[str, ItemSpec] | None) -> tuple[NoteList | None, str]:
    """``(notes, "")`` of a manifest row, or ``(None, why)`` when the item cannot be regenerated exactly."""
    from dlmir.data.build import ItemSpec, _make_piece

    marker_path = root / ".done" / f"{row.id}.json"
    if row.source == "arrangement":
        if not marker_path.is_file():
            return None, f"no build record {marker_path}"
        render = json.loads(marker_path.read_text(encoding="utf-8")).get("render")
        if not render or "arrange" not in render or "time_scale" not in render:
            return None, f"{marker_path} holds no render record (arrange arguments, time_scale)"
        spec = ItemSpec(row.id, "arrangement", row.split, row.soundfont, row.piece_id, dict(render["arrange"]))
        arr = _make_piece(spec)
        if "arrangement" in render and not _json_equal(arr.params, render["arrangement"]):
            return None, "the arrangement made again differs from the recorded one (arrange() changed since)"
        return arrangement_notes(arr, render["time_scale"], row.duration), ""
    spec = (specs or {}).get(row.id)
    if spec is None:
        return None, "not in the build's plan (build.json: kind, size, seed)"
    piece = _make_piece(spec)
    programs = "+".join(str(int(p)) for p in piece.programs)
    if row.programs and programs != row.programs:
        return None, f"programs {programs} made again, {row.programs} in the manifest (the generator changed)"
    if abs(piece.duration - row.duration) > 2e-3:
        return None, f"duration {piece.duration:.3f} s made again, {row.duration:.3f} s in the manifest"
    return _cut(notes_from_midi(piece.midi), row.duration), ""


def add_notes(
    dataset_dir: str | os.PathLike[str], *, force: bool = False, progress: bool = True, split: str | None = None
) -> int:
    """Write ``labels/<id>.notes.csv`` for the items of an existing dataset (no audio is rendered).

    Parameters
    ----------
    dataset_dir : a dataset built by ``dlmir data chords`` or ``dlmir data band`` (``manifest.csv``,
        ``build.json``, ``.done/``).
    force : rewrite notes files that exist (default: only add the missing ones; their manifest column is set).
    progress : show a tqdm progress bar.
    split : only items of this split (``None``: all).

    Returns
    -------
    The number of notes files written. Items that cannot be regenerated exactly are skipped with a
    :class:`UserWarning` naming them and why; the manifest's ``notes`` column is set for every item that has
    a notes file (``""`` for the others).
    """
    from tqdm.auto import tqdm

    from dlmir.data.manifest import read_manifest, write_manifest

    root = Path(dataset_dir)
    rows = read_manifest(root)
    build_path = root / "build.json"
    build = json.loads(build_path.read_text(encoding="utf-8")) if build_path.is_file() else {}
    todo = [r for r in rows if r.source in NOTE_SOURCES and (split is None or r.split == split)]
    specs = None
    if any(r.source in ("progression", "chorale") for r in todo):
        if build.get("kind") != "chords":
            raise ParameterError(
                f"{root}: progression/chorale items need the chord build's record ({build_path} with kind "
                f"'chords'); found {build.get('kind')!r}"
            )
        specs = _chord_specs(root, build)
    written = 0
    skipped: list[str] = []
    for row in tqdm(todo, desc=f"notes {root.name}", unit="item", disable=not progress):
        rel = notes_path(row.id)
        path = root / rel
        if force or not path.is_file():
            notes, why = _regenerate(root, row, specs)
            if notes is None:
                skipped.append(f"{row.id} ({why})")
                continue
            write_item_notes(root, row.id, notes)
            written += 1
        row.extra["notes"] = rel
        marker_path = root / ".done" / f"{row.id}.json"
        if marker_path.is_file():
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
            if marker.get("notes") != rel:
                marker["notes"] = rel
                _write_json(marker_path, marker)
    if skipped:
        warnings.warn(
            f"{root}: {len(skipped)} item(s) skipped, their notes cannot be regenerated exactly: "
            + "; ".join(skipped[:10])
            + (" ..." if len(skipped) > 10 else ""),
            UserWarning,
            stacklevel=2,
        )
    for row in rows:
        if row.source in NOTE_SOURCES:
            row.extra["notes"] = notes_path(row.id) if (root / notes_path(row.id)).is_file() else ""
    write_manifest(root, rows)
    return written
