"""Evaluating transcription with mir_eval: multipitch frames and notes, every model on the same audio in one run.

Sources (:func:`find_transcription_items`):

- a dlmir dataset (``manifest.csv``): the items of one split (default ``test``) with notes, from the manifest's
  ``notes`` column or ``labels/<id>.notes.csv`` (the exact notes of the MIDI that made the audio);
- any folder of audio with note annotations of the same stem, searched recursively: MIDI (``.mid``, ``.midi``)
  or text (``.notes.csv``, ``.csv``, ``.tsv``, ``.txt``, ``.notes``: onset, offset, pitch[, velocity] in seconds
  or milliseconds, MIDI numbers or Hz), read by :func:`dlmir.data.notes.read_notes`.

Each audio file is loaded once per sampling rate and transcribed by every model (:class:`NoteTranscriber`; the
designed baseline is always one of them). Scores per file (:func:`score_notes`), all with mir_eval:

- ``frame P``, ``frame R``, ``frame Acc``: :func:`mir_eval.multipitch.evaluate` on the reference and estimated
  notes rolled onto a 10 ms grid (:func:`dlmir.data.notes.piano_roll`, :func:`~dlmir.data.notes.roll_to_multipitch`;
  a note sounds in the frames whose centre lies in ``[onset, offset)``), so every model is scored on the same grid;
- ``note P``, ``note R``, ``note F``: :func:`mir_eval.transcription.precision_recall_f1_overlap` with onsets only
  (``offset_ratio=None``; onset within 50 ms, pitch within 50 cents);
- ``note+off P``, ``note+off R``, ``note+off F``: the same with offsets (``offset_ratio=0.2``, at least 50 ms).

The table is the mean over files of the per-file scores (MIREX's convention); :func:`transcription_table` writes
it in Markdown, :meth:`TranscriptionScores.csv_rows` the per-file rows for a CSV.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.data.notes import MIDI_EXTENSIONS, NOTES_SUFFIX, NoteList, piano_roll, read_notes, roll_to_multipitch
from dlmir.errors import AnnotationError, AudioError, DlmirError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "COLUMNS",
    "TranscriptionItem",
    "TranscriptionScores",
    "evaluate_transcription",
    "find_transcription_items",
    "score_notes",
    "transcription_table",
]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus", ".m4a")
ANNOTATION_SUFFIXES = (*MIDI_EXTENSIONS, NOTES_SUFFIX, ".csv", ".tsv", ".txt", ".notes")
"""Annotation file endings, in order of preference when one audio stem has several."""
COLUMNS: tuple[str, ...] = (
    "frame P", "frame R", "frame Acc", "note P", "note R", "note F", "note+off P", "note+off R", "note+off F",
)  # fmt: skip
GRID_RATE = 100.0
"""Frames per second of the multipitch grid (10 ms, MIREX's)."""


@dataclass(frozen=True)
class TranscriptionItem:
    """One annotated recording: ``id`` (for tables), ``audio`` path, ``notes`` annotation path."""

    id: str
    audio: Path
    notes: Path


def _annotation_stem(path: Path) -> tuple[str, int] | None:
    """``(stem, preference)`` of an annotation file name, or ``None`` when it is not one."""
    name = path.name.lower()
    for rank, suffix in enumerate(ANNOTATION_SUFFIXES):
        if name.endswith(suffix):
            return path.name[: len(path.name) - len(suffix)], rank
    return None


def find_transcription_items(root: str | os.PathLike[str], *, split: str | None = None) -> list[TranscriptionItem]:
    """The ``(audio, notes)`` pairs of a dlmir dataset split or of a folder (module docstring), sorted by id.

    Raises
    ------
    ParameterError : ``root`` is not a folder, a dataset split has no notes, or nothing was found.
    """
    from dlmir.data.manifest import MANIFEST, read_manifest

    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: no such folder")
    if (root / MANIFEST).is_file():
        split = "test" if split is None else split
        items = []
        for row in read_manifest(root, split=split):
            notes = row.get("notes") or ""
            path = root / notes if notes else root / "labels" / f"{row.id}{NOTES_SUFFIX}"
            if path.is_file():
                items.append(TranscriptionItem(row.id, root / row.audio, path))
        if not items:
            raise ParameterError(
                f"{root}: no item of split {split!r} has notes (a 'notes' column in {MANIFEST} or "
                f"labels/<id>{NOTES_SUFFIX}); add them with `dlmir data notes {root}`"
            )
        return sorted(items, key=lambda i: i.id)
    if split is not None:
        raise ParameterError(f"{root}: split={split!r} needs a dlmir dataset (manifest.csv); this folder has none")
    audio: dict[tuple[Path, str], Path] = {}
    notes: dict[tuple[Path, str], tuple[int, Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "features")
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            found = _annotation_stem(p)
            if found is not None:
                key = (p.parent, found[0])
                if key not in notes or found[1] < notes[key][0]:
                    notes[key] = (found[1], p)
            elif p.suffix.lower() in AUDIO_EXTENSIONS:
                audio[(p.parent, p.stem)] = p
    items = []
    for key, path in audio.items():
        ann = notes.get(key)
        if ann is None:  # the annotation may sit in a sibling folder with the same stem (audio/, labels/)
            same = [v for (d, s), v in notes.items() if s == key[1]]
            ann = min(same) if len(same) == 1 else None
        if ann is not None:
            items.append(TranscriptionItem(path.relative_to(root).with_suffix("").as_posix(), path, ann[1]))
    if not items:
        raise ParameterError(
            f"{root}: no audio file with a note annotation of the same stem (MIDI, or onset/offset/pitch text: "
            f"{', '.join(ANNOTATION_SUFFIXES)})"
        )
    lonely = len(audio) - len(items)
    if lonely:
        warnings.warn(f"{root}: {lonely} audio file(s) without a note annotation skipped", stacklevel=2)
    return sorted(items, key=lambda i: i.id)


def _intervals(notes: NoteList) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([notes.onset, notes.offset], axis=1).reshape(-1, 2), notes.pitch_hz()


def score_notes(
    reference: NoteList, estimate: NoteList, *, duration: float | None = None, grid_rate: float = GRID_RATE
) -> OrderedDict[str, float]:
    """mir_eval scores (the :data:`COLUMNS`, in ``[0, 1]``) of ``estimate`` against ``reference``.

    The multipitch grid spans ``[0, max(duration, last offset))`` at ``grid_rate`` frames per second. Reference
    notes of zero length (mir_eval's intervals must be positive) are left out of the note scores.

    Raises
    ------
    AnnotationError : the reference holds no note.
    """
    import mir_eval

    keep = reference.offset > reference.onset
    ref = NoteList(reference.onset[keep], reference.offset[keep], reference.pitch[keep], reference.velocity[keep])
    if len(ref) == 0:
        raise AnnotationError("the reference holds no note (of positive length)")
    est = estimate
    end = max(float(duration or 0.0), ref.duration, est.duration)
    n = int(np.ceil(end * grid_rate)) + 1
    ref_t, ref_f = roll_to_multipitch(piano_roll(ref, n, grid_rate)["frames"], grid_rate)
    est_t, est_f = roll_to_multipitch(piano_roll(est, n, grid_rate)["frames"], grid_rate)
    out: OrderedDict[str, float] = OrderedDict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns for empty estimates (scores 0)
        mp = mir_eval.multipitch.evaluate(ref_t, ref_f, est_t, est_f)
        out["frame P"], out["frame R"], out["frame Acc"] = mp["Precision"], mp["Recall"], mp["Accuracy"]
        ri, rp = _intervals(ref)
        ei, ep = _intervals(est)
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, offset_ratio=None)
        out["note P"], out["note R"], out["note F"] = p, r, f
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep)
        out["note+off P"], out["note+off R"], out["note+off F"] = p, r, f
    return OrderedDict((k, float(v)) for k, v in out.items())


@dataclass
class TranscriptionScores:
    """Scores of several models on the same files: ``per_file`` id -> model -> scores (:data:`COLUMNS`),
    ``failed`` one message per file left out (unreadable audio or annotation), ``source`` what was evaluated."""

    models: list[str]
    per_file: OrderedDict[str, OrderedDict[str, OrderedDict[str, float]]] = field(default_factory=OrderedDict)
    failed: list[str] = field(default_factory=list)
    source: str = ""

    def mean(self, model: str) -> OrderedDict[str, float]:
        """Mean over the scored files of each column of ``model`` (NaN when no file was scored)."""
        files = [s[model] for s in self.per_file.values()]
        return OrderedDict((c, float(np.mean([f[c] for f in files])) if files else float("nan")) for c in COLUMNS)

    def rows(self) -> list[dict[str, object]]:
        """One row per model: ``{"model", "items", <column>: mean}``."""
        return [{"model": m, "items": len(self.per_file), **self.mean(m)} for m in self.models]

    def csv_rows(self) -> list[dict[str, object]]:
        """Per file and model, then the means (``file`` = ``"mean"``)."""
        rows: list[dict[str, object]] = [
            {"file": item, "model": m, **scores[m]} for item, scores in self.per_file.items() for m in self.models
        ]
        return rows + [{"file": "mean", **row} for row in self.rows()]


def _transcribers(models: dict[str, Any], **kwargs: Any) -> OrderedDict[str, Any]:
    from dlmir.transcription.api import NoteTranscriber

    out: OrderedDict[str, Any] = OrderedDict()
    for name, model in models.items():
        out[name] = model if isinstance(model, NoteTranscriber) else NoteTranscriber(model, **kwargs)
    return out


def evaluate_transcription(
    source: str | os.PathLike[str] | list[TranscriptionItem],
    models: dict[str, Any] | None = None,
    *,
    split: str | None = None,
    designed: bool = True,
    progress: bool = False,
    limit: int | None = None,
    **kwargs: Any,
) -> TranscriptionScores:
    """Transcribe every item with every model and score it (module docstring).

    Parameters
    ----------
    source : a dlmir dataset or a folder (:func:`find_transcription_items`), or the items themselves.
    models : ``{name: "default" | "designed" | model folder | module | NoteTranscriber}``; the designed baseline
        is added first as ``"designed"`` unless ``designed=False`` or one of them already is.
    split : a dataset's split (default ``test``).
    progress : show a progress bar.
    limit : only the first ``limit`` items (quick checks).
    kwargs : passed to :class:`~dlmir.transcription.api.NoteTranscriber` for models given by name.

    Returns
    -------
    :class:`TranscriptionScores`; files that cannot be read are listed in ``failed``.

    Raises
    ------
    AudioError : no file could be scored.
    """
    from tqdm.auto import tqdm

    from dlmir.io import load

    items = find_transcription_items(source, split=split) if not isinstance(source, list) else list(source)
    items = items[:limit] if limit is not None else items
    if not items:
        raise ParameterError("no items to evaluate")
    chosen: dict[str, Any] = dict(models or {})
    if designed and "designed" not in chosen:
        chosen = {"designed": "designed", **chosen}
    if not chosen:
        raise ParameterError("no model to evaluate")
    transcribers = _transcribers(chosen, **kwargs)
    result = TranscriptionScores(list(transcribers), source=str(source) if not isinstance(source, list) else "")
    bar = tqdm(items, desc="evaluate transcription", unit="file", disable=not progress)
    for item in bar:
        try:
            try:
                reference = read_notes(item.notes)
            except (DlmirError, OSError) as exc:
                raise AnnotationError(f"{item.notes}: {exc}" if str(item.notes) not in str(exc) else str(exc)) from None
            signals: dict[float, tuple[np.ndarray, float]] = {}
            scores: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
            for name, tr in transcribers.items():
                if tr.sr not in signals:
                    y, sr = load(item.audio, sr=tr.sr)
                    signals[tr.sr] = (y, float(sr))
                y, sr = signals[tr.sr]
                estimate = tr.transcribe(y, sr)
                try:
                    scores[name] = score_notes(reference, estimate, duration=len(y) / sr)
                except AnnotationError as exc:
                    raise AnnotationError(f"{item.notes}: {exc}") from None
        except (DlmirError, OSError) as exc:
            message = str(exc)
            named = str(item.audio) in message or str(item.notes) in message
            result.failed.append(message if named else f"{item.audio}: {message}")
            continue
        result.per_file[item.id] = scores
    if not result.per_file:
        raise AudioError(f"no file of {source} could be scored; first error: {result.failed[0]}")
    return result


def transcription_table(scores: TranscriptionScores, *, per_file: bool = False) -> str:
    """Markdown: the mean scores (%) per model, or with ``per_file`` one row per file and model."""
    from dlmir.evaluate import markdown_table

    rows = scores.csv_rows()[: -len(scores.models)] if per_file else scores.rows()
    return markdown_table(rows)
