"""``DATASET/manifest.csv``: one row per item of a dlmir dataset; read, write, validate, summarise.

The agreed layout::

    DATASET/
      manifest.csv          columns below, one row per item
      audio/<id>.flac       22050 Hz mono
      labels/<id>.lab       start<TAB>end<TAB>label (seconds, Harte labels)
      labels/<id>.jams      the same annotation as JAMS (namespace chord)
      build.json            the build's parameters (kind, size, seed, soundfonts; :mod:`dlmir.data.build`)
      features/<key>/<id>.npy   feature cache (:mod:`dlmir.data.cache`; key: front-end config and tensors)

Columns (:data:`COLUMNS`): ``id, source (progression|chorale|instrument|arrangement), split (train|valid|test),
soundfont (file stem), programs (GM program numbers joined by '+'), duration (seconds, 3 decimals),
audio, lab, jams`` (paths relative to DATASET; ``lab``/``jams`` may be empty), and for instruments
``instrument`` (class name), ``pitch`` (MIDI number), ``dynamic`` (pp|mf|ff). An optional ``piece``
column names the musical piece an item renders (several items may render one piece: transpositions,
soundfonts); :func:`summarize` checks that no piece appears in two splits (when the column is absent,
each ``id`` is its own piece). Unknown extra columns are kept (the builder adds ``velocity``, the MIDI
velocity an instrument note was rendered at).
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.errors import AnnotationError, ParameterError

__all__ = [
    "COLUMNS",
    "DYNAMICS",
    "MANIFEST",
    "SOURCES",
    "SPLITS",
    "ManifestRow",
    "read_manifest",
    "summarize",
    "validate_manifest",
    "write_manifest",
]

MANIFEST = "manifest.csv"
COLUMNS: tuple[str, ...] = (
    "id",
    "source",
    "split",
    "soundfont",
    "programs",
    "duration",
    "audio",
    "lab",
    "jams",
    "instrument",
    "pitch",
    "dynamic",
    "piece",
)
REQUIRED: tuple[str, ...] = ("id", "source", "split", "duration", "audio")
SOURCES: tuple[str, ...] = ("progression", "chorale", "instrument", "arrangement")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
DYNAMICS: tuple[str, ...] = ("pp", "mf", "ff")


@dataclass
class ManifestRow:
    """One item of a dataset. Also readable like a dict (``row["audio"]``) for code that uses csv rows.

    Attributes
    ----------
    id : unique item name (also the file stem of ``audio/<id>.flac``).
    source : ``progression``, ``chorale`` or ``instrument``.
    split : ``train``, ``valid`` or ``test``.
    soundfont : soundfont file stem; programs : GM programs joined by ``+``.
    duration : seconds.
    audio, lab, jams : paths relative to the dataset folder (``lab``/``jams`` may be ``""``).
    instrument, pitch, dynamic : instrument items only (class name, MIDI number, pp|mf|ff).
    piece : the piece this item renders (``""``: the item is its own piece).
    extra : any further columns, as strings.
    """

    id: str
    source: str
    split: str
    duration: float
    audio: str
    soundfont: str = ""
    programs: str = ""
    lab: str = ""
    jams: str = ""
    instrument: str = ""
    pitch: int | None = None
    dynamic: str = ""
    piece: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def piece_id(self) -> str:
        """The piece this item renders: ``piece`` when given, else ``id``."""
        return self.piece or self.id

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def to_dict(self) -> dict[str, str]:
        """The row as csv strings (duration with 3 decimals, empty strings for missing values)."""
        d = asdict(self)
        extra = d.pop("extra")
        d["duration"] = f"{self.duration:.3f}"
        d["pitch"] = "" if self.pitch is None else str(int(self.pitch))
        return {**{k: str(v) for k, v in d.items()}, **extra}


_FIELDS = {f.name for f in fields(ManifestRow)} - {"extra"}


def _row_from_dict(d: dict[str, str], where: str) -> ManifestRow:
    missing = [c for c in REQUIRED if not (d.get(c) or "").strip()]
    if missing:
        raise ParameterError(f"{where}: empty or missing column(s) {', '.join(missing)}")
    try:
        duration = float(d["duration"])
    except ValueError:
        raise ParameterError(f"{where}: duration must be seconds, got {d['duration']!r}") from None
    pitch_text = (d.get("pitch") or "").strip()
    try:
        pitch = int(float(pitch_text)) if pitch_text else None
    except ValueError:
        raise ParameterError(f"{where}: pitch must be a MIDI number, got {pitch_text!r}") from None
    known = {k: (v or "").strip() for k, v in d.items() if k in _FIELDS}
    extra = {k: (v or "") for k, v in d.items() if k not in _FIELDS and k is not None}
    known.update(duration=duration, pitch=pitch)  # type: ignore[arg-type]
    return ManifestRow(**known, extra=extra)  # type: ignore[arg-type]


def validate_manifest(rows: list[ManifestRow], *, where: str = MANIFEST) -> None:
    """Check the rows against the agreed columns; raise :class:`ParameterError` naming the first bad row.

    Checks: unique ids; ``source`` in :data:`SOURCES`; ``split`` in :data:`SPLITS`; ``duration >= 0``;
    instrument rows have ``instrument``, ``pitch`` in 0..127 and ``dynamic`` in :data:`DYNAMICS`.
    """
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        at = f"{where}:{i} ({row.id})"
        if row.id in seen:
            raise ParameterError(f"{at}: duplicate id {row.id!r}; ids must be unique")
        seen.add(row.id)
        if row.source not in SOURCES:
            raise ParameterError(f"{at}: source {row.source!r} is not one of {', '.join(SOURCES)}")
        if row.split not in SPLITS:
            raise ParameterError(f"{at}: split {row.split!r} is not one of {', '.join(SPLITS)}")
        if not (np.isfinite(row.duration) and row.duration >= 0):
            raise ParameterError(f"{at}: duration must be >= 0 seconds, got {row.duration}")
        if row.source == "instrument":
            if not row.instrument:
                raise ParameterError(f"{at}: instrument items need the 'instrument' column")
            if row.pitch is None or not 0 <= row.pitch <= 127:
                raise ParameterError(f"{at}: instrument items need a MIDI 'pitch' in 0..127, got {row.pitch}")
            if row.dynamic not in DYNAMICS:
                raise ParameterError(f"{at}: dynamic {row.dynamic!r} is not one of {', '.join(DYNAMICS)}")


def read_manifest(dataset_dir: str | os.PathLike[str], *, split: str | None = None) -> list[ManifestRow]:
    """Read and validate ``DATASET/manifest.csv``.

    Parameters
    ----------
    dataset_dir : the dataset folder.
    split : keep only rows of this split (``train``, ``valid``, ``test``); ``None`` keeps all.

    Raises
    ------
    ParameterError : no manifest, a missing required column, or an invalid row (message names the line).
    """
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        raise ParameterError(f"{dataset_dir}: no {MANIFEST}; build a dataset first (`dlmir data --help`)")
    if split is not None and split not in SPLITS:
        raise ParameterError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ParameterError(f"{path}: header lacks column(s) {', '.join(missing)}; found {', '.join(header)}")
        rows = [_row_from_dict(d, f"{path}:{i}") for i, d in enumerate(reader, start=2)]
    validate_manifest(rows, where=str(path))
    return [r for r in rows if split is None or r.split == split]


def write_manifest(dataset_dir: str | os.PathLike[str], rows: list[ManifestRow | dict[str, Any]]) -> Path:
    """Validate ``rows`` and write ``DATASET/manifest.csv`` atomically (temporary file, then rename).

    Rows may be :class:`ManifestRow` or dicts with the agreed columns. Columns are :data:`COLUMNS`
    followed by any extra columns in first-seen order.
    """
    dataset_dir = Path(dataset_dir)
    objs = [
        r if isinstance(r, ManifestRow) else _row_from_dict({k: str(v) for k, v in r.items()}, f"row {i}")
        for i, r in enumerate(rows)
    ]
    validate_manifest(objs, where="rows")
    extra_cols: list[str] = []
    for r in objs:
        extra_cols += [k for k in r.extra if k not in extra_cols and k not in COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*COLUMNS, *extra_cols], lineterminator="\n")
    writer.writeheader()
    for r in objs:
        writer.writerow(r.to_dict())
    dataset_dir.mkdir(parents=True, exist_ok=True)
    path = dataset_dir / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.part")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    return {"min": float(np.min(values)), "median": float(np.median(values)), "max": float(np.max(values))}


def summarize(dataset_dir: str | os.PathLike[str], *, top: int = 20) -> dict[str, Any]:
    """Everything ``dlmir data check`` prints, as a dict (the CLI only formats it).

    Reads the manifest and every item's annotation (``lab``, else ``jams``). Label statistics are in
    seconds and segment counts, after reduction to the full 157-class vocabulary (``X`` = not reducible).

    Returns
    -------
    dict with keys
        ``items`` (total), ``hours`` (total), ``splits`` / ``sources``: ``{name: {"items": n, "hours": h}}``;
        ``durations``: ``{"min", "median", "max"}`` seconds; ``n_classes``: classes of the full vocabulary
        present; ``top_labels``: ``[(label, seconds, segments)]`` (largest first, ``top`` of them);
        ``qualities`` / ``roots``: ``{name: seconds}``; ``shared_pieces``: ``{piece: [splits]}`` for pieces
        in more than one split (must be empty); ``problems``: ``[(id, message)]`` for items whose audio or
        labels are missing or malformed; ``instruments``: ``{class: items}``; ``ok``: no shared pieces and no
        problems.
    """
    from dlmir.annotations import read_annotation
    from dlmir.chords.vocabulary import NO_CHORD, QUALITIES, ROOTS, UNKNOWN, parse, reduce

    dataset_dir = Path(dataset_dir)
    rows = read_manifest(dataset_dir)
    splits: dict[str, dict[str, float]] = defaultdict(lambda: {"items": 0, "hours": 0.0})
    sources: dict[str, dict[str, float]] = defaultdict(lambda: {"items": 0, "hours": 0.0})
    piece_splits: dict[str, set[str]] = defaultdict(set)
    seconds: Counter[str] = Counter()
    segments: Counter[str] = Counter()
    problems: list[tuple[str, str]] = []
    instruments: Counter[str] = Counter()
    for row in rows:
        for table, key in ((splits, row.split), (sources, row.source)):
            table[key]["items"] += 1
            table[key]["hours"] += row.duration / 3600.0
        piece_splits[row.piece_id].add(row.split)
        if row.instrument:
            instruments[row.instrument] += 1
        if not (dataset_dir / row.audio).is_file():
            problems.append((row.id, f"audio file {row.audio} is missing"))
        ann = row.lab or row.jams
        if row.source != "instrument" and not ann:
            problems.append((row.id, "no lab or jams annotation for a chord item"))
        if not ann:
            continue
        try:
            intervals, labels = read_annotation(dataset_dir / ann)
        except AnnotationError as exc:
            problems.append((row.id, str(exc)))
            continue
        if len(intervals) and intervals[:, 1].max() > row.duration + 0.05:
            problems.append(
                (row.id, f"annotation ends at {intervals[:, 1].max():.3f} s, after the audio ({row.duration:.3f} s)")
            )
        for (start, end), label in zip(intervals, labels, strict=True):
            reduced = reduce(label, "full")
            seconds[reduced] += float(end - start)
            segments[reduced] += 1
    qualities: Counter[str] = Counter()
    roots: Counter[str] = Counter()
    for label, secs in seconds.items():
        if label in (NO_CHORD, UNKNOWN):
            qualities[label] += secs
            continue
        root, _, _ = parse(label)
        roots[ROOTS[root]] += secs  # type: ignore[index]
        qualities[label.split(":", 1)[1]] += secs
    qualities_sorted = {q: qualities[q] for q in [*QUALITIES, NO_CHORD, UNKNOWN] if q in qualities}
    shared = {p: sorted(s) for p, s in piece_splits.items() if len(s) > 1}
    n_classes = len([lab for lab in seconds if lab != UNKNOWN])
    return {
        "dataset": str(dataset_dir),
        "items": len(rows),
        "hours": float(sum(r.duration for r in rows) / 3600.0),
        "splits": {k: dict(v) for k, v in sorted(splits.items())},
        "sources": {k: dict(v) for k, v in sorted(sources.items())},
        "durations": _stats([r.duration for r in rows]),
        "n_classes": n_classes,
        "top_labels": [(lab, secs, segments[lab]) for lab, secs in seconds.most_common(top)],
        "qualities": qualities_sorted,
        "roots": {r: roots[r] for r in ROOTS if r in roots},
        "shared_pieces": shared,
        "problems": problems,
        "instruments": dict(sorted(instruments.items())),
        "ok": not shared and not problems,
    }
