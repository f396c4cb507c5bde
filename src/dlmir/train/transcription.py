"""Training the note transcriber (:class:`dlmir.models.transcriber.Transcriber`) on audio with exact note rolls.

Items are dicts (a ``DataLoader`` stacks them into batches) of

- ``audio``: float32 ``(samples,)`` at the model's sample rate (22050 Hz);
- ``frames``, ``onsets``, ``offsets``: float32 ``(88, n_frames)`` 0/1 rolls of MIDI 21..108 on the model's frame
  grid, ``n_frames = 1 + samples // hop_length`` (hop 256: :func:`dlmir.data.notes.piano_roll`).

``dlmir.data.note_stream.NoteStream`` renders them on the fly (an ``IterableDataset``: an epoch is then
``config.steps_per_epoch`` batches); :class:`NoteExcerpts` cuts them from a dlmir dataset folder whose items have
``labels/<id>.notes.csv`` (or from any folder of audio with notes of the same stem: ``.notes.csv``, ``.csv``,
``.mid``). The model's front end (its CQT) turns the audio into its input inside the training step, without
gradient; ``augment=['rotate']`` then transposes each item by a random whole number of semitones (CQT shifted
by 3 bins per semitone, rolls by one row, zero fill).

The loss is :meth:`Transcriber.loss <dlmir.models.transcriber.Transcriber.loss>` (weighted binary cross-entropy of
the three heads). Validation logs ``val_loss``, ``val_frame_p`` / ``val_frame_r`` / ``val_frame_f1`` (frame
roll at threshold 0.5 against the target frames, counts summed over each batch) and, when
:mod:`dlmir.transcription` is installed, ``val_note_f1`` (notes decoded with
:func:`dlmir.transcription.decode.notes_from_activations`, ``mir_eval.transcription`` F-measure with onsets
only, per excerpt). The loop is :mod:`dlmir.train.base`'s: checkpoints with exact resume, the best model by
validation loss in the run folder (with its front end), one-cycle learning rate.

Speed, default model (40 thousand parameters), one thread of the shared 2-core development CPU: forward +
backward + AdamW on a batch of 8 x 4 s takes ~1.7 s (CQT included: ~0.07 s).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.base import TrainModule, fit_run
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization

__all__ = [
    "ROLLS",
    "NoteExcerpts",
    "NoteItems",
    "TranscriptionModule",
    "TranscriptionTrainConfig",
    "frame_counts",
    "shift_pitch",
    "train_transcription",
    "tune_decoding",
]

DECODE_GRID: dict[str, tuple[float, ...]] = {
    "frame_threshold": (0.1, 0.15, 0.2, 0.3),
    "onset_threshold": (0.02, 0.05, 0.1),
    "offset_threshold": (0.5, 1.0),
}
"""Decoding thresholds :func:`tune_decoding` tries (``offset_threshold`` 1.0: offsets unused, notes end where the
frame activation falls)."""

ROLLS = ("frames", "onsets", "offsets")
"""The target rolls of an item (and the heads of the model)."""


@dataclass
class TranscriptionTrainConfig(TrainConfig):
    """:class:`~dlmir.train.config.TrainConfig` for the transcriber, plus:

    steps_per_epoch : batches per epoch (required for a stream; ``None``: the whole dataset).
    threads : intra-op threads on CPU while training (default 1: fastest on a busy CPU).
    note_metrics : decode notes in validation and log ``val_note_f1`` (needs :mod:`dlmir.transcription`).
    data : the data settings, recorded for ``--resume`` (the CLI fills it).
    """

    epochs: int = 10
    batch_size: int = 8
    lr: float = 2e-3
    loss: str = "bce"
    schedule: str = "onecycle"
    patience: int = 0
    max_semitones: int = 3
    steps_per_epoch: int | None = None
    threads: int | None = 1
    note_metrics: bool = True
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ParameterError(f"steps_per_epoch must be >= 1 (or None), got {self.steps_per_epoch}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be >= 1 (or None), got {self.threads}")
        bad = [a for a in self.augment if a != "rotate"]
        if bad:
            raise ParameterError(f"the transcriber augments on the fly with 'rotate' only; got {bad}")

    def _check_loss(self) -> None:
        if self.loss != "bce":
            raise ParameterError(f"the transcriber trains with loss 'bce' (weighted, per head), got {self.loss!r}")


# -- data -------------------------------------------------------------------------------------------------
def _notes_file(root: Path, row_id: str, audio: Path, extra: dict[str, str]) -> Path | None:
    """The note file of an item: the manifest's ``notes`` column, ``labels/<id>.notes.csv``, or a file of the
    audio's stem beside it (``.notes.csv``, ``.csv``, ``.mid``, ``.midi``)."""
    from dlmir.data.notes import NOTES_SUFFIX

    if extra.get("notes"):
        return root / extra["notes"]
    for cand in (root / "labels" / f"{row_id}{NOTES_SUFFIX}",
                 *(audio.with_name(audio.stem + s) for s in (NOTES_SUFFIX, ".csv", ".mid", ".midi"))):  # fmt: skip
        if cand.is_file():
            return cand
    return None


class NoteExcerpts(Dataset):
    """Fixed-length excerpts of whole tracks with their note rolls, as dicts (see the module docstring).

    Parameters
    ----------
    tracks : per track ``(audio (samples,) float32, notes NoteList)``.
    seconds : excerpt length; items are cut on a grid of ``seconds`` from 0 (the last one zero-padded), or, with
        ``jitter``, from a random offset per track and epoch (:meth:`set_epoch`) drawn from ``seed``.
    sr, hop_length : the model's audio rate and frame hop.
    ids : track names.

    :meth:`from_folder` reads a split of a dlmir dataset (or a folder of audio with notes of the same stem).
    """

    def __init__(
        self,
        tracks: list[tuple[np.ndarray, Any]],
        *,
        seconds: float = 4.0,
        sr: float = 22050,
        hop_length: int = 256,
        jitter: bool = False,
        seed: int = 0,
        ids: list[str] | None = None,
    ) -> None:
        if not seconds > 0:
            raise ParameterError(f"seconds per excerpt must be > 0, got {seconds}")
        self.tracks, self.sr, self.hop_length = tracks, float(sr), int(hop_length)
        self.samples = int(round(seconds * sr))
        self.jitter, self.seed, self.epoch = jitter, int(seed), 0
        self.ids = ids or [str(i) for i in range(len(tracks))]
        self._index = [
            (t, k) for t, (y, _) in enumerate(tracks) for k in range(max(1, math.ceil(len(y) / self.samples)))
        ]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        from dlmir.data.notes import piano_roll

        t, k = self._index[i]
        y, notes = self.tracks[t]
        offset = 0
        if self.jitter:
            offset = int(np.random.default_rng((self.seed, self.epoch, t)).integers(0, self.samples))
        start = max(0, min(k * self.samples + offset, len(y) - self.samples))
        audio = np.zeros(self.samples, dtype=np.float32)
        part = y[start : start + self.samples]
        audio[: len(part)] = part
        t0 = start / self.sr
        n_frames = 1 + self.samples // self.hop_length
        roll = piano_roll(notes.clipped(t0, t0 + self.samples / self.sr), n_frames, self.sr / self.hop_length)
        return {"audio": torch.from_numpy(audio), **{r: torch.from_numpy(roll[r]) for r in ROLLS}}

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        seconds: float = 4.0,
        sr: float = 22050,
        hop_length: int = 256,
        jitter: bool = False,
        seed: int = 0,
        max_items: int | None = None,
    ) -> NoteExcerpts:
        """Excerpts of the tracks of ``split`` of a dlmir dataset (``manifest.csv``; notes in the manifest's
        ``notes`` column or ``labels/<id>.notes.csv``), or of every audio file of ``root`` with notes of the same
        stem (``split=None`` and no manifest); at most ``max_items`` tracks, the first ones."""
        from dlmir.data.manifest import MANIFEST, read_manifest
        from dlmir.data.notes import read_notes
        from dlmir.io import load

        root = Path(root)
        found: list[tuple[str, Path, Path]] = []
        if (root / MANIFEST).is_file():
            for row in read_manifest(root, split=split):
                audio = root / row.audio
                notes = _notes_file(root, row.id, audio, row.extra)
                if notes is not None:
                    found.append((row.id, audio, notes))
        elif root.is_dir():
            for audio in sorted(root.iterdir()):
                if audio.suffix.lower() in (".wav", ".flac", ".mp3", ".ogg", ".aiff"):
                    notes = _notes_file(root, audio.stem, audio, {})
                    if notes is not None:
                        found.append((audio.stem, audio, notes))
        found = found[:max_items] if max_items else found
        if not found:
            where = f"{root}" + (f" (split {split!r})" if split else "")
            raise ParameterError(f"{where}: no audio with note annotations (labels/<id>.notes.csv) found")
        tracks = [(load(a, sr=sr)[0], read_notes(n)) for _, a, n in found]
        return cls(tracks, seconds=seconds, sr=sr, hop_length=hop_length, jitter=jitter, seed=seed,
                   ids=[f[0] for f in found])  # fmt: skip


class NoteItems(Dataset):
    """A fixed list of items (dicts of ``audio`` and the three rolls), e.g. the first ``n`` of a stream
    (:meth:`from_stream`): a validation set rendered once, for runs without a dataset folder with notes."""

    def __init__(self, items: list[dict[str, Any]], *, sr: float = 22050) -> None:
        self.items = [{k: torch.as_tensor(np.asarray(v)) for k, v in it.items() if k in ("audio", *ROLLS)}
                      for it in items]  # fmt: skip
        self.sr = float(sr)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]

    @classmethod
    def from_stream(cls, stream: Any, n: int) -> NoteItems:
        """The first ``n`` items of ``stream`` (an iterable of item dicts, e.g. a ``NoteStream``)."""
        if n < 1:
            raise ParameterError(f"need n >= 1 items, got {n}")
        items = []
        for item in stream:
            items.append(item[0] if isinstance(item, tuple) else item)
            if len(items) >= n:
                break
        return cls(items, sr=float(getattr(stream, "sr", 22050)))


# -- metrics and augmentation ------------------------------------------------------------------------------
def frame_counts(logits: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> tuple[int, int, int]:
    """``(true positives, false positives, false negatives)`` of ``sigmoid(logits) >= threshold`` against the 0/1
    ``target`` (same shape)."""
    pred = torch.sigmoid(logits.float()) >= threshold
    ref = target > 0.5
    return int((pred & ref).sum()), int((pred & ~ref).sum()), int((~pred & ref).sum())


def shift_pitch(
    cqt: torch.Tensor, rolls: dict[str, torch.Tensor], semitones: torch.Tensor, *, bins_per_semitone: int = 3
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Transpose a batch by ``semitones`` ``(batch,)`` (int): the CQT ``(batch, n_bins, frames)`` shifts by
    ``bins_per_semitone`` bins per semitone, each roll ``(batch, 88, frames)`` by one row, zero fill."""
    from dlmir.data.augment import shift_bins

    st = semitones.to(cqt.device)
    return shift_bins(cqt, st * bins_per_semitone, dim=1), {k: shift_bins(v, st, dim=1) for k, v in rolls.items()}


def _unpack(batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(audio (batch, samples), rolls)`` of a batch of dicts, or of tuples ``(audio, frames, onsets, offsets)``."""
    if isinstance(batch, dict):
        missing = [k for k in ("audio", *ROLLS) if k not in batch]
        if missing:
            raise ParameterError(f"transcription items need 'audio', 'frames', 'onsets', 'offsets'; missing {missing}")
        return batch["audio"], {k: batch[k] for k in ROLLS}
    audio, *rolls = batch
    return audio, dict(zip(ROLLS, rolls, strict=True))


class TranscriptionModule(TrainModule):
    """LightningModule training a :class:`~dlmir.models.transcriber.Transcriber` (see the module docstring)."""

    def _cqt(self, audio: torch.Tensor) -> torch.Tensor:
        fe = self.model.frontend
        fe.to(audio.device)
        with torch.no_grad(), torch.autocast(audio.device.type, enabled=False):
            return fe(audio.float()).float()

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        audio, rolls = _unpack(batch)
        cqt = self._cqt(audio)
        n = min(cqt.shape[-1], rolls["frames"].shape[-1])
        cqt, rolls = cqt[..., :n], {k: v[..., :n].float() for k, v in rolls.items()}
        if train and "rotate" in self.config.augment:
            from dlmir.data.augment import random_semitones

            cqt, rolls = shift_pitch(cqt, rolls, random_semitones(cqt.shape[0], self.config.max_semitones))
        out = self.model(cqt)
        loss = self.model.loss(out, rolls)
        if train:
            return loss, loss, {}
        tp, fp, fn = frame_counts(out["frames"], rolls["frames"])
        p = tp / max(tp + fp, 1)
        r = tp / max(tp + fn, 1)
        metrics = {"frame_p": (p, tp + fp), "frame_r": (r, tp + fn),
                   "frame_f1": (2 * p * r / max(p + r, 1e-9), tp + fp + fn)}  # fmt: skip
        if self.config.note_metrics:
            f1 = _note_f1(out, rolls, self.model.frame_rate, self.model.config.get("decode") or {})
            if f1 is not None:
                metrics["note_f1"] = (f1, cqt.shape[0])
        return loss, loss, metrics

    def validation_step(self, batch, batch_idx):
        audio, _ = _unpack(batch)
        loss, _, metrics = self.compute(batch, False)
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=len(audio))
        for name, (value, weight) in metrics.items():
            if weight > 0:
                self.log(f"val_{name}", float(value), on_epoch=True, sync_dist=True, batch_size=int(weight))


def _note_f1(
    out: dict[str, torch.Tensor], rolls: dict[str, torch.Tensor], frame_rate: float, decode: dict[str, float]
) -> float | None:
    """Mean over the batch of the onset-only note F-measure (``mir_eval.transcription``, 50 ms) of the notes
    decoded from the probabilities (with the model's ``decode`` thresholds, else 0.5) against the notes decoded from
    the target rolls; ``None`` when :mod:`dlmir.transcription` is unavailable."""
    try:
        from dlmir.transcription.decode import notes_from_activations
    except ImportError:
        return None
    import mir_eval

    scores = []
    for b in range(out["frames"].shape[0]):
        probs = {k: torch.sigmoid(out[k][b].float()).cpu().numpy() for k in ROLLS}
        truth = {k: rolls[k][b].cpu().numpy() for k in ROLLS}
        est = notes_from_activations(probs["frames"], probs["onsets"], frame_rate=frame_rate, **decode)
        ref = notes_from_activations(truth["frames"], truth["onsets"], frame_rate=frame_rate)
        if not len(ref) and not len(est):
            scores.append(1.0)
            continue
        if not len(ref) or not len(est):
            scores.append(0.0)
            continue
        ri, ei = np.stack([ref.onset, ref.offset], 1), np.stack([est.onset, est.offset], 1)
        rp, ep = 440.0 * 2 ** ((ref.pitch - 69) / 12.0), 440.0 * 2 ** ((est.pitch - 69) / 12.0)
        _, _, f, _ = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, ei, ep, offset_ratio=None)
        scores.append(float(f))
    return float(np.mean(scores))


def train_transcription(
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None = None,
    *,
    config: TranscriptionTrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train a :class:`~dlmir.models.transcriber.Transcriber` on audio with note rolls.

    Parameters
    ----------
    model : the transcriber (its front end, ``model.frontend``, makes its input from the audio).
    train_set : ``NoteStream`` (set ``config.steps_per_epoch``) or :class:`NoteExcerpts` (module docstring).
    val_set : fixed items (:class:`NoteExcerpts` of a valid split), or ``None`` (no validation; the model is
        saved after every epoch).
    config : :class:`TranscriptionTrainConfig`. reg : weight decay etc. run_dir : checkpoint and best-model folder.
    resume : continue ``run_dir``'s checkpoint (``config.epochs`` is the total).
    stop_after_epochs : stop after this many epochs of this call (tests).

    Returns
    -------
    dict with ``epoch``, ``step``, ``history`` (per epoch ``train_loss``, ``val_loss``, ``val_frame_f1``,
    ``val_note_f1``, ...) and ``model``.
    """
    from dlmir.models.transcriber import Transcriber

    if not isinstance(model, Transcriber):
        raise ParameterError(f"train_transcription trains a dlmir.models.Transcriber, got {type(model).__name__}")
    config = config or TranscriptionTrainConfig()
    if not isinstance(config, TranscriptionTrainConfig):
        raise ParameterError(f"transcription training takes a TranscriptionTrainConfig, got {type(config).__name__}")
    sr = getattr(train_set, "sr", None)
    if sr is not None and not math.isclose(float(sr), model.sr):
        raise ParameterError(f"the training audio is at {sr} Hz, the model reads {model.sr} Hz")
    reg = reg or Regularization()
    return fit_run(
        TranscriptionModule,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_dir=run_dir,
        resume=resume,
        stop_after_epochs=stop_after_epochs,
    )


def tune_decoding(
    model: torch.nn.Module,
    sources: list[tuple[str | os.PathLike[str], str | None]],
    *,
    limit: int | None = None,
    grid: dict[str, tuple[float, ...]] | None = None,
    progress: bool = False,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Choose the decoding thresholds of a transcriber on held-out tracks (never the test split).

    Every track of each ``(dataset, split)`` of ``sources`` (at most ``limit`` per source) is run through the
    model once (:class:`dlmir.transcription.NoteTranscriber`); its activations are decoded with every combination
    of ``grid`` (default :data:`DECODE_GRID`) and scored with :func:`dlmir.transcription.evaluate.score_notes`.

    Returns
    -------
    ``(best, rows)``: the thresholds with the highest mean of note F (onsets) and frame accuracy over all tracks,
    and one row per combination (thresholds, ``note F``, ``frame Acc``, ``note+off F``, ``objective``), best first.
    """
    from itertools import product

    from tqdm.auto import tqdm

    from dlmir.data.notes import read_notes
    from dlmir.io import load
    from dlmir.transcription.api import NoteTranscriber
    from dlmir.transcription.evaluate import find_transcription_items, score_notes

    grid = dict(grid or DECODE_GRID)
    tr = NoteTranscriber(model)
    tracks = []
    items = [it for root, split in sources for it in find_transcription_items(root, split=split)[:limit]]
    for item in tqdm(items, desc="activations", disable=not progress):
        y, sr = load(item.audio, sr=tr.sr)
        tracks.append((read_notes(item.notes), tr.activations(y, sr)))
    if not tracks:
        raise ParameterError(f"no tracks with notes in {sources}")
    names = list(grid)
    rows = []
    for values in tqdm(list(product(*(grid[n] for n in names))), desc="thresholds", disable=not progress):
        tr.settings.update(dict(zip(names, values, strict=True)))
        scores = [score_notes(ref, tr.decode(act), duration=act.duration) for ref, act in tracks]
        row = dict(zip(names, values, strict=True))
        for col in ("note F", "frame Acc", "note+off F"):
            row[col] = float(np.mean([s[col] for s in scores]))
        row["objective"] = (row["note F"] + row["frame Acc"]) / 2
        rows.append(row)
    rows.sort(key=lambda r: -r["objective"])
    return {n: float(rows[0][n]) for n in names}, rows
