"""Beat and onset annotations, and their evaluation with mir_eval: dlmir and librosa on the same audio, in one run.

Annotation files (``.beats``, ``.onsets``) hold one time in seconds per line, possibly followed by more columns
(madmom's beat files add the beat's position in the bar); blank lines and lines starting with ``#`` are skipped.
:func:`read_events` reads them, :func:`write_events` writes them (3 decimals, MIREX and madmom's convention).

:func:`evaluate_beats` and :func:`evaluate_onsets` take ``(audio, annotation)`` pairs (:func:`find_rhythm_pairs`
finds them in a folder or in a dlmir dataset), load each audio file once, run every estimator on it -- dlmir's
designed tracker, librosa's (:func:`librosa.beat.beat_track`, :func:`librosa.onset.onset_detect` at their
defaults), and a learned novelty when given -- and score each with mir_eval: beats with
:func:`mir_eval.beat.evaluate` (``F-measure``, ``Correct Metric Level Total`` = CMLt, ``Any Metric Level Total`` =
AMLt and the rest of its scores; MIREX ignores beats in the first ``min_beat_time = 5`` s), onsets with
:func:`mir_eval.onset.evaluate` (``F-measure``, ``Precision``, ``Recall`` within ``window = 50`` ms). The mean over
files is the plain mean of per-file scores (MIREX's). :func:`rhythm_table` writes the Markdown table.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.errors import AnnotationError, DlmirError, ParameterError

__all__ = [
    "BEAT_COLUMNS",
    "ONSET_COLUMNS",
    "RhythmPair",
    "RhythmScores",
    "beat_estimators",
    "evaluate_beats",
    "evaluate_onsets",
    "find_rhythm_pairs",
    "onset_estimators",
    "read_beats",
    "read_events",
    "read_onsets",
    "rhythm_table",
    "write_events",
]

TASKS = ("beats", "onsets")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus", ".m4a")
BEAT_COLUMNS: OrderedDict[str, str] = OrderedDict(
    [("F-measure", "F-measure"), ("CMLt", "Correct Metric Level Total"), ("AMLt", "Any Metric Level Total")]
)
"""Columns of the beat table -> mir_eval's score names."""
ONSET_COLUMNS: OrderedDict[str, str] = OrderedDict(
    [("F-measure", "F-measure"), ("Precision", "Precision"), ("Recall", "Recall")]
)
"""Columns of the onset table -> mir_eval's score names."""

Estimator = Callable[[np.ndarray, float], np.ndarray]


# -- annotation files ----------------------------------------------------------------------------------------------
def read_events(path: str | os.PathLike[str]) -> np.ndarray:
    """Times ``(n,)`` float64 in seconds from a ``.beats``/``.onsets`` file: the first column of each line.

    Fields are separated by whitespace or commas; further columns (a beat's position in the bar) are ignored;
    blank lines and ``#`` comments are skipped. The times are returned sorted.

    Raises
    ------
    AnnotationError : the file is missing, or a line's first field is not a finite time >= 0 (the message names
        file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    times: list[float] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            first = re.split(r"[\s,]+", text)[0]
            try:
                t = float(first)
            except ValueError:
                raise AnnotationError(f"{path}:{number}: expected a time in seconds, got {first!r}") from None
            if not np.isfinite(t) or t < 0:
                raise AnnotationError(f"{path}:{number}: times must be finite and >= 0 seconds, got {first!r}")
            times.append(t)
    return np.sort(np.asarray(times, dtype=np.float64))


def read_beats(path: str | os.PathLike[str]) -> np.ndarray:
    """Beat times ``(n,)`` in seconds from a ``.beats`` file (``time [position]`` lines; :func:`read_events`)."""
    return read_events(path)


def read_onsets(path: str | os.PathLike[str]) -> np.ndarray:
    """Onset times ``(n,)`` in seconds from a ``.onsets`` file (one time per line; :func:`read_events`)."""
    return read_events(path)


def write_events(path: str | os.PathLike[str], times: Iterable[float]) -> Path:
    """Write times in seconds, one per line with 3 decimals (MIREX / madmom); an empty file for no events.

    Written to a temporary name and renamed, so an interrupted write never leaves a partial file.
    """
    path = Path(path)
    text = "".join(f"{float(t):.3f}\n" for t in times)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


# -- pairs of audio and annotations ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RhythmPair:
    """One annotated recording: ``id`` (a name for tables), ``audio`` path, ``annotation`` path."""

    id: str
    audio: Path
    annotation: Path


def _as_pairs(pairs: Iterable[Any]) -> list[RhythmPair]:
    out = []
    for p in pairs:
        if isinstance(p, RhythmPair):
            out.append(p)
        elif isinstance(p, (tuple, list)) and len(p) == 2:
            out.append(RhythmPair(Path(p[0]).stem, Path(p[0]), Path(p[1])))
        elif isinstance(p, (tuple, list)) and len(p) == 3:
            out.append(RhythmPair(str(p[0]), Path(p[1]), Path(p[2])))
        else:
            raise ParameterError(f"pairs must hold (audio, annotation) or (id, audio, annotation), got {p!r}")
    if not out:
        raise ParameterError("no files to evaluate")
    return out


def _common_suffix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n].lower() == b[-1 - n].lower():
        n += 1
    return n


def find_rhythm_pairs(
    root: str | os.PathLike[str], task: str = "beats", *, split: str | None = None
) -> list[RhythmPair]:
    """The ``(audio, .beats|.onsets)`` pairs of a folder or a dlmir dataset, sorted by id.

    ``root`` is a dlmir dataset (``manifest.csv``, as built by ``dlmir data band``: the rows of ``split``, default
    ``test``, with a ``beats`` column) or any folder searched recursively for audio files and ``<stem>.beats`` /
    ``<stem>.onsets`` annotations of the same stem (when several audio files share a stem, the one whose folders
    match the annotation's most wins). Audio without an annotation is skipped with one warning.

    Raises
    ------
    ParameterError : ``root`` is not a folder, ``task`` is unknown, a dataset has no such annotations, or nothing
        was found.
    """
    from dlmir.data.manifest import MANIFEST, read_manifest

    if task not in TASKS:
        raise ParameterError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: no such folder")
    if (root / MANIFEST).is_file():
        split = "test" if split is None else split
        rows = read_manifest(root, split=split)
        pairs = [RhythmPair(r.id, root / r.audio, root / r.get(task)) for r in rows if r.get(task)]
        if not pairs:
            raise ParameterError(
                f"{root}: no item of split {split!r} has {task} annotations (a '{task}' column in {MANIFEST}); "
                "band datasets (dlmir data band) have beats"
            )
        return sorted(pairs, key=lambda p: p.id)
    if split is not None:
        raise ParameterError(f"{root}: split={split!r} needs a dlmir dataset (manifest.csv); this folder has none")
    audio: dict[str, list[Path]] = {}
    annotations: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "features")
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            if p.suffix.lower() in AUDIO_EXTENSIONS:
                audio.setdefault(p.stem, []).append(p)
            elif p.suffix.lower() == f".{task}":
                annotations.append(p)
    pairs = []
    used: set[Path] = set()
    for ann in annotations:
        candidates = [a for a in audio.get(ann.stem, []) if a not in used]
        if not candidates:
            continue
        parts = ann.relative_to(root).parent.parts
        best = max(candidates, key=lambda a: _common_suffix(a.relative_to(root).parent.parts, parts))
        used.add(best)
        pairs.append(RhythmPair(best.relative_to(root).with_suffix("").as_posix(), best, ann))
    if not pairs:
        raise ParameterError(f"{root}: no audio file with a .{task} annotation of the same stem")
    lonely = sorted(a.name for paths in audio.values() for a in paths if a not in used)
    if lonely:
        warnings.warn(
            f"{root}: {len(lonely)} audio file(s) without a .{task} annotation skipped, e.g. {', '.join(lonely[:5])}",
            stacklevel=2,
        )
    return sorted(pairs, key=lambda p: p.id)


# -- estimators ---------------------------------------------------------------------------------------------------
def _librosa_beats(y: np.ndarray, sr: float) -> np.ndarray:
    import librosa

    return np.asarray(librosa.beat.beat_track(y=y, sr=sr, units="time")[1], dtype=np.float64)


def _librosa_onsets(y: np.ndarray, sr: float) -> np.ndarray:
    import librosa

    return np.asarray(librosa.onset.onset_detect(y=y, sr=sr, units="time"), dtype=np.float64)


def beat_estimators(novelty: Any = None) -> OrderedDict[str, Estimator]:
    """``{"dlmir": designed tracker, "librosa": beat_track}``, and ``"learned"`` (the tracker on ``novelty``, a
    module) when given; each maps ``(y, sr)`` to beat times in seconds."""
    from dlmir.rhythm.beats import track_beats

    out: OrderedDict[str, Estimator] = OrderedDict()
    out["dlmir"] = lambda y, sr: track_beats(y, sr)
    out["librosa"] = _librosa_beats
    if novelty is not None:
        out["learned"] = lambda y, sr: track_beats(y, sr, novelty=novelty)
    return out


def onset_estimators(novelty: Any = None) -> OrderedDict[str, Estimator]:
    """``{"dlmir": designed detector, "librosa": onset_detect}``, and ``"learned"`` (peak picking on ``novelty``,
    a module) when given; each maps ``(y, sr)`` to onset times in seconds."""
    from dlmir.rhythm.onsets import detect_onsets

    out: OrderedDict[str, Estimator] = OrderedDict()
    out["dlmir"] = lambda y, sr: detect_onsets(y, sr)
    out["librosa"] = _librosa_onsets
    if novelty is not None:
        out["learned"] = lambda y, sr: detect_onsets(y, sr, novelty=novelty)
    return out


# -- scores -------------------------------------------------------------------------------------------------------
@dataclass
class RhythmScores:
    """Scores of several estimators on the same files.

    ``task``: ``beats`` or ``onsets``; ``columns``: table column -> mir_eval score name; ``per_file``: file id ->
    estimator -> mir_eval's ordered dict of scores (in ``[0, 1]``, Information gain in bits); ``failed``: one
    message per file that could not be scored (unreadable audio or annotation), which is left out of the means.
    """

    task: str
    estimators: list[str]
    columns: OrderedDict[str, str]
    per_file: OrderedDict[str, OrderedDict[str, OrderedDict[str, float]]] = field(default_factory=OrderedDict)
    failed: list[str] = field(default_factory=list)

    def mean(self, estimator: str) -> OrderedDict[str, float]:
        """The mean over scored files of every mir_eval score of ``estimator`` (NaN when no file was scored)."""
        files = [scores[estimator] for scores in self.per_file.values()]
        if not files:
            return OrderedDict((name, float("nan")) for name in self.columns.values())
        return OrderedDict((k, float(np.mean([f[k] for f in files]))) for k in files[0])

    def rows(self) -> list[dict[str, object]]:
        """One row per estimator: ``{"estimator": name, "items": n, <column>: mean score}`` (columns as in the
        table: F-measure, CMLt, AMLt for beats; F-measure, Precision, Recall for onsets)."""
        rows: list[dict[str, object]] = []
        for name in self.estimators:
            mean = self.mean(name)
            rows.append({"estimator": name, "items": len(self.per_file),
                         **{col: mean[key] for col, key in self.columns.items()}})  # fmt: skip
        return rows

    def file_rows(self) -> list[dict[str, object]]:
        """One row per file and estimator: ``{"file", "estimator", <column>: score}``."""
        return [
            {"file": item, "estimator": name, **{col: scores[name][key] for col, key in self.columns.items()}}
            for item, scores in self.per_file.items()
            for name in self.estimators
        ]


def _score_pairs(
    pairs: Iterable[Any],
    task: str,
    estimators: dict[str, Estimator],
    score: Callable[[np.ndarray, np.ndarray], OrderedDict[str, float]],
    columns: OrderedDict[str, str],
    *,
    sr: float,
    progress: bool,
    check: Callable[[np.ndarray], None] | None = None,
) -> RhythmScores:
    from tqdm import tqdm

    from dlmir.io import load

    items = _as_pairs(pairs)
    if not estimators:
        raise ParameterError("no estimators to evaluate")
    result = RhythmScores(task, list(estimators), columns)
    bar = tqdm(items, desc=f"evaluate {task}", unit="file", disable=not progress)
    for item in bar:
        try:
            reference = read_events(item.annotation)
            if check is not None:
                try:
                    check(reference)
                except AnnotationError as exc:
                    raise AnnotationError(f"{item.annotation}: {exc}") from None
            y, file_sr = load(item.audio, sr=sr)
            scores: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
            for name, estimate in estimators.items():
                est = np.asarray(estimate(y, file_sr), dtype=np.float64)
                scores[name] = score(reference, est)
        except (DlmirError, OSError) as exc:
            message = str(exc)
            result.failed.append(message if str(item.audio) in message or str(item.annotation) in message
                                 else f"{item.audio}: {message}")  # fmt: skip
            continue
        result.per_file[item.id] = scores
    return result


def evaluate_beats(
    pairs: Iterable[Any],
    *,
    estimators: dict[str, Estimator] | None = None,
    novelty: Any = None,
    min_beat_time: float = 5.0,
    sr: float = 22050,
    progress: bool = False,
) -> RhythmScores:
    """Beat scores (mir_eval) of dlmir's and librosa's trackers (and a learned novelty's) on the same files.

    Parameters
    ----------
    pairs : ``(audio, annotation)`` or ``(id, audio, annotation)`` tuples, or :class:`RhythmPair` s
        (:func:`find_rhythm_pairs`).
    estimators : name -> ``f(y, sr) -> beat times (s)``; default :func:`beat_estimators` ``(novelty)``.
    novelty : a novelty module for a ``"learned"`` row (see :func:`dlmir.rhythm.onsets.onset_novelty`).
    min_beat_time : beats (reference and estimated) before this time in seconds are ignored, as MIREX does (5 s);
        a file with fewer than two reference beats after it is reported in ``failed`` (lower ``min_beat_time``
        for short clips).
    sr : the rate (Hz) every audio file is loaded at.
    progress : show a progress bar.

    Returns
    -------
    :class:`RhythmScores` (per file: all of :func:`mir_eval.beat.evaluate`'s scores; table: F-measure, CMLt, AMLt).
    """
    import mir_eval

    if not min_beat_time >= 0:
        raise ParameterError(f"min_beat_time must be >= 0 seconds, got {min_beat_time!r}")

    def check(reference: np.ndarray) -> None:
        if np.count_nonzero(reference >= min_beat_time) < 2:
            raise AnnotationError(
                f"fewer than two reference beats after min_beat_time={min_beat_time:g} s; lower min_beat_time "
                "(--min-beat-time) to score short clips"
            )

    def score(reference: np.ndarray, estimate: np.ndarray) -> OrderedDict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mir_eval warns for an empty estimate (a score of 0)
            return mir_eval.beat.evaluate(reference, estimate, min_beat_time=min_beat_time)

    chosen = beat_estimators(novelty) if estimators is None else estimators
    return _score_pairs(pairs, "beats", chosen, score, BEAT_COLUMNS, sr=sr, progress=progress, check=check)


def evaluate_onsets(
    pairs: Iterable[Any],
    *,
    estimators: dict[str, Estimator] | None = None,
    novelty: Any = None,
    window: float = 0.05,
    sr: float = 22050,
    progress: bool = False,
) -> RhythmScores:
    """Onset scores (mir_eval: F-measure, Precision, Recall within ``window`` seconds, 50 ms by default) of dlmir's
    and librosa's detectors (and a learned novelty's) on the same files; arguments as :func:`evaluate_beats`.
    A file whose reference has no onsets is reported in ``failed``."""
    import mir_eval

    if not window > 0:
        raise ParameterError(f"window must be > 0 seconds, got {window!r}")

    def check(reference: np.ndarray) -> None:
        if reference.size == 0:
            raise AnnotationError("the annotation holds no onsets")

    def score(reference: np.ndarray, estimate: np.ndarray) -> OrderedDict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mir_eval.onset.evaluate(reference, estimate, window=window)

    chosen = onset_estimators(novelty) if estimators is None else estimators
    return _score_pairs(pairs, "onsets", chosen, score, ONSET_COLUMNS, sr=sr, progress=progress, check=check)


def rhythm_table(scores: RhythmScores | Sequence[dict[str, object]], *, per_file: bool = False) -> str:
    """A Markdown table of the mean scores (in %, one row per estimator: dlmir, librosa, learned when given), or
    with ``per_file`` one row per file and estimator."""
    from dlmir.evaluate import markdown_table

    if isinstance(scores, RhythmScores):
        rows = scores.file_rows() if per_file else scores.rows()
    else:
        rows = list(scores)
    return markdown_table(rows)
