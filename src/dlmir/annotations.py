"""Chord annotations in and out: ``.lab`` and JAMS files, and labels per frame.

Annotations are held the way :mod:`mir_eval` holds them: ``intervals`` (float64 ndarray ``(n, 2)``, start and
end in seconds) and ``labels`` (list of ``n`` Harte strings). :func:`read_lab` gives the same numbers as
:func:`mir_eval.io.load_labeled_intervals`; :func:`write_lab` writes ``start<TAB>end<TAB>label`` with at
least 3 decimals, and more when the times need them to read back as the same floats, so a read/write/read
round trip is exact (float equality). Writes go to a temporary name and are renamed, so an interrupted
write never leaves a half-written file.

(DESIGN.md places this in ``io.py``; it lives here so that ``io.py`` stays audio-only.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.chords.vocabulary import NO_CHORD, parse
from dlmir.errors import AnnotationError

__all__ = ["frame_labels", "read_annotation", "read_jams", "read_lab", "write_jams", "write_lab"]

_MAX_DECIMALS = 17


def _check(path: Path, intervals: np.ndarray, labels: Sequence[str], *, where: Sequence[str] | None = None) -> None:
    """Validate intervals (finite, start >= 0, end >= start) and labels (parseable Harte)."""
    for i, ((start, end), label) in enumerate(zip(intervals, labels, strict=True)):
        at = where[i] if where is not None else f"{path.name}: interval {i}"
        if not (np.isfinite(start) and np.isfinite(end)):
            raise AnnotationError(f"{at}: times must be finite seconds, got {start!r} {end!r}")
        if start < 0:
            raise AnnotationError(f"{at}: start time {start} s is negative")
        if end < start:
            raise AnnotationError(f"{at}: end time {end} s is before start time {start} s; fix the annotation")
        try:
            parse(label)
        except AnnotationError as exc:
            raise AnnotationError(f"{at}: {exc}") from None


def _checked_for_writing(path: Path, intervals: Any, labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Intervals as ``(n, 2)`` float seconds and labels as a list, validated by :func:`_check` (writers)."""
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    labels = list(labels)
    if len(labels) != len(intervals):
        raise AnnotationError(f"{path}: {len(intervals)} intervals but {len(labels)} labels")
    _check(path, intervals, labels)
    return intervals, labels


def read_lab(path: str | os.PathLike[str], *, check_labels: bool = True) -> tuple[np.ndarray, list[str]]:
    """Read a chord ``.lab`` file (``start end label`` per line, whitespace separated, seconds).

    Blank lines and lines starting with ``#`` are skipped. Same result as
    :func:`mir_eval.io.load_labeled_intervals`.

    Parameters
    ----------
    path : the ``.lab`` file.
    check_labels : also check that every label parses as Harte syntax (via :mod:`mir_eval.chord`).

    Returns
    -------
    intervals : np.ndarray, float64, shape ``(n, 2)``, start and end in seconds.
    labels : list of ``n`` Harte labels.

    Raises
    ------
    AnnotationError : the file is missing, a line is malformed (message ``file:line: ...``), an end time
        precedes its start, or (``check_labels``) a label is not Harte syntax.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not a UTF-8 text file ({exc})") from None
    rows: list[tuple[float, float]] = []
    labels: list[str] = []
    where: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split(None, 2)
        if len(fields) != 3:
            raise AnnotationError(f"{path.name}:{lineno}: expected 'start end label', got {line!r}")
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise AnnotationError(f"{path.name}:{lineno}: start and end must be seconds, got {line!r}") from None
        rows.append((start, end))
        labels.append(fields[2].strip())
        where.append(f"{path.name}:{lineno}")
    intervals = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    if check_labels:
        _check(path, intervals, labels, where=where)
    else:
        for (start, end), at in zip(intervals, where, strict=True):
            if end < start:
                raise AnnotationError(f"{at}: end time {end} s is before start time {start} s; fix the annotation")
    return intervals, labels


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals (>= 3, <= 17) that print every value so that it reads back as the same float."""
    for d in range(3, _MAX_DECIMALS + 1):
        if all(float(f"{v:.{d}f}") == v for v in values.ravel()):
            return d
    return _MAX_DECIMALS


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_lab(
    path: str | os.PathLike[str], intervals: np.ndarray | Sequence[Sequence[float]], labels: Sequence[str]
) -> Path:
    """Write ``start<TAB>end<TAB>label`` lines (seconds), atomically.

    Times get 3 decimals (MIREX/madmom convention), or more (up to 17) when needed so that
    :func:`read_lab` returns exactly the same floats.

    Parameters
    ----------
    path : output ``.lab`` file (parent folders are created).
    intervals : shape ``(n, 2)``, start and end in seconds.
    labels : ``n`` Harte labels.

    Raises
    ------
    AnnotationError : lengths differ, an end precedes its start, or a label is not Harte syntax.
    """
    path = Path(path)
    intervals, labels = _checked_for_writing(path, intervals, labels)
    d = _decimals(intervals)
    lines = [f"{s:.{d}f}\t{e:.{d}f}\t{lab}\n" for (s, e), lab in zip(intervals, labels, strict=True)]
    _atomic_write_text(path, "".join(lines))
    return path


def read_jams(
    path: str | os.PathLike[str], *, namespace: str = "chord", index: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Read the ``index``-th annotation of ``namespace`` from a JAMS file.

    Returns
    -------
    intervals : np.ndarray, float64, shape ``(n, 2)``, seconds; labels : list of ``n`` labels.

    Raises
    ------
    AnnotationError : the file is missing or not JAMS, or holds no such annotation.
    """
    import jams

    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such JAMS file")
    try:
        jam = jams.load(str(path), validate=False)
    except Exception as exc:  # jams raises json/schema errors of many types
        raise AnnotationError(f"{path}: cannot read JAMS ({type(exc).__name__}: {exc})") from None
    found = jam.search(namespace=namespace)
    if len(found) <= index:
        raise AnnotationError(
            f"{path}: has {len(found)} annotation(s) in namespace {namespace!r}, cannot take number {index}"
        )
    intervals, labels = found[index].to_interval_values()
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    labels = [str(lab) for lab in labels]
    _check(path, intervals, labels)
    return intervals, labels


def write_jams(
    path: str | os.PathLike[str],
    intervals: np.ndarray | Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    duration: float | None = None,
    namespace: str = "chord",
    title: str = "",
    annotator: str = "dlmir",
) -> Path:
    """Write one annotation as a JAMS file (validated against the JAMS schema), atomically.

    Parameters
    ----------
    path : output ``.jams`` file.
    intervals : shape ``(n, 2)``, seconds; labels : ``n`` Harte labels.
    duration : track duration in seconds (default: the last end time).
    namespace : JAMS namespace (``chord`` accepts any Harte label).
    title, annotator : stored in the file and annotation metadata.
    """
    import jams

    path = Path(path)
    intervals, labels = _checked_for_writing(path, intervals, labels)
    if duration is None:
        duration = float(intervals[:, 1].max()) if len(intervals) else 0.0
    jam = jams.JAMS()
    jam.file_metadata.duration = float(duration)
    jam.file_metadata.title = title
    ann = jams.Annotation(namespace=namespace, duration=float(duration))
    ann.annotation_metadata.annotator.name = annotator
    ann.annotation_metadata.data_source = "dlmir"
    for (start, end), lab in zip(intervals, labels, strict=True):
        ann.append(time=float(start), duration=float(end - start), value=lab, confidence=None)
    jam.annotations.append(ann)
    try:
        jam.validate()
    except Exception as exc:
        raise AnnotationError(f"{path}: the annotation is not valid JAMS ({exc})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.jams")
    jam.save(str(tmp))
    os.replace(tmp, path)
    return path


def read_annotation(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str]]:
    """Read a chord annotation from ``.lab`` (or ``.txt``/``.chords``) or ``.jams``, chosen by extension."""
    path = Path(path)
    if path.suffix.lower() == ".jams":
        return read_jams(path)
    return read_lab(path)


def frame_labels(
    intervals: np.ndarray,
    labels: Sequence[str],
    n_frames: int,
    *,
    sr: float,
    hop_length: int,
    fill: str = NO_CHORD,
) -> list[str]:
    """The label sounding at the centre of each frame.

    Frame ``t`` is centred at ``t * hop_length / sr`` seconds (:func:`dlmir.frames.frame_times`, the
    convention of :mod:`dlmir.frames`; librosa's ``frames_to_time``). A time belongs to the interval with
    ``start <= time < end``; where intervals overlap the later one in the list wins; times outside every
    interval get ``fill``.

    Parameters
    ----------
    intervals : shape ``(n, 2)``, seconds; labels : ``n`` labels.
    n_frames : number of frames.
    sr : sampling rate in Hz; hop_length : samples between frames.
    fill : label outside the annotation (default ``'N'``).

    Returns
    -------
    list of ``n_frames`` labels.
    """
    from dlmir.frames import frame_times

    times = frame_times(n_frames, sr=sr, hop_length=hop_length)
    intervals = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    which = np.full(n_frames, -1, dtype=np.int64)
    for i, (start, end) in enumerate(intervals):
        which[(times >= start) & (times < end)] = i
    labels = list(labels)
    return [labels[i] if i >= 0 else fill for i in which]
