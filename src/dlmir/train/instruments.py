"""Training instrument recognisers (:class:`~dlmir.models.InstrumentMLP`, :class:`~dlmir.models.InstrumentCNN`) on a
rendered note dataset (``dlmir data instruments``), on the shared Lightning loop (:mod:`dlmir.train.base`).

Data (:func:`prepare_notes`): every note of a split, as rendered (variant 0) and in ``variants`` played-and-recorded
variations (:func:`dlmir.instruments.augment.vary_note`: pitch shift within the instrument's range, articulation,
dynamics with a noise floor, realistic production), each peak-normalised and reduced to what the models read:
the note CQT ``(192, 87)`` (float16, magnitude) and the 120 designed features
(:mod:`dlmir.instruments.features`). Defaults: training notes get 2 variations, validation notes 1, test notes 0.
The arrays are cached in ``DATASET/features/instruments-<key>/`` in chunks of :data:`CHUNK` notes (the key hashes
the split, variations, augmentations, production preset, seed and front ends), so preparing is done once and
resumes after an interruption; ``jobs`` worker processes prepare chunks in parallel (one thread each).

Batch augmentation of the CNN (``config.augment``, on the fly, from the step's seed):

- ``shift``: transpose each note by up to ``max_semitones`` semitones in the CQT (2 bins a semitone, zero fill),
  only within its instrument's range;
- ``crop``: with probability 0.5 a batch is cut to a random length of 24-87 frames (0.55-2 s), each note at the
  onset (half the time) or at a random frame: notes of real recordings are short, or cut in the middle;
- ``legato``: 15 % of the notes run into another note of the same class (from the batch) at frame 20-66, their
  own decaying under it: phrases, not isolated notes;
- ``mix``: 15 % of the notes are mixed with another note of the batch at -12..0 dB, and their target becomes
  the mixture of the two classes in proportion to their power, so a mixture gets a split, low-confidence answer.

The MLP trains on the designed features of every variant (no batch augmentation). Both use the negative
log-likelihood of the softmax (:func:`dlmir.models.instruments.note_loss`); the history has ``train_loss``,
``val_loss`` and ``val_accuracy`` per epoch, the best model (by validation loss) is saved in ``run_dir`` with its
front end (``config.json`` + ``model.safetensors``), the checkpoint allows an exact resume. On CPU one thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from dataclasses import asdict, dataclass, field, replace
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
    "BATCH_AUGMENTATIONS",
    "CHUNK",
    "INSTRUMENT_SPACE",
    "InstrumentModule",
    "InstrumentTrainConfig",
    "NoteArrays",
    "NoteDataset",
    "augment_batch",
    "build_model",
    "prepare_notes",
    "random_search_instruments",
    "train_instruments",
]

CHUNK = 256
"""Notes per cached chunk."""
CACHE_VERSION = 1
BATCH_AUGMENTATIONS = ("shift", "crop", "legato", "mix")
"""On-the-fly CNN augmentations (module docstring)."""
DEFAULT_VARIANTS = {"train": 2, "valid": 1, "test": 0}


# -- data ---------------------------------------------------------------------------------------------------
@dataclass
class NoteArrays:
    """One split's prepared notes.

    Attributes
    ----------
    cqt : ``(n, 192, 87)`` float16 CQT magnitude (peak-normalised audio). features : ``(n, 120)`` float32.
    label : ``(n,)`` int64 class index into ``classes``. pitch : ``(n,)`` int64 sounding MIDI pitch.
    variant : ``(n,)`` int64 (0: as rendered). ids : ``n`` item ids. classes : class names.
    """

    cqt: np.ndarray
    features: np.ndarray
    label: np.ndarray
    pitch: np.ndarray
    variant: np.ndarray
    ids: list[str]
    classes: list[str]

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def subset(self, index: np.ndarray | list[int]) -> NoteArrays:
        """The rows ``index``."""
        idx = np.asarray(index, dtype=np.int64)
        return NoteArrays(self.cqt[idx], self.features[idx], self.label[idx], self.pitch[idx], self.variant[idx],
                          [self.ids[i] for i in idx], list(self.classes))  # fmt: skip


def _cache_key(split: str, variants: int, augment: tuple[str, ...], preset: str, seed: int, ids: list[str]) -> str:
    from dlmir.instruments.features import MFCC_CONFIG, NOTE_CQT

    blob = json.dumps(
        {"v": CACHE_VERSION, "split": split, "variants": variants, "augment": list(augment), "preset": preset,
         "seed": seed, "cqt": NOTE_CQT, "mfcc": MFCC_CONFIG, "ids": hashlib.sha1("\n".join(ids).encode()).hexdigest()},
        sort_keys=True, default=str,
    )  # fmt: skip
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _prepare_chunk(
    dataset: str, rows: list[dict[str, Any]], variants: int, augment: tuple[str, ...], preset: str, seed: int,
    classes: list[str], target: str,
) -> str:  # fmt: skip
    """Compute one chunk (a worker's job) and write it to ``target`` (npz, atomically)."""
    import soundfile as sf

    from dlmir.instruments.augment import vary_note
    from dlmir.instruments.features import SR, features_from, peak_normalize
    from dlmir.instruments.recognition import WINDOW, window_inputs

    torch.set_num_threads(1)
    audio, label, pitch, variant, ids = [], [], [], [], []
    for row in rows:
        y, sr = sf.read(os.path.join(dataset, row["audio"]), dtype="float32", always_2d=False)
        if y.ndim == 2:
            y = y.mean(axis=1)
        if sr != SR:
            raise ParameterError(f"{row['audio']}: the note dataset is at {sr} Hz, instrument training needs {SR}")
        y = np.pad(y, (0, max(0, WINDOW - len(y))))[:WINDOW]
        for v in range(variants + 1):
            if v == 0:
                out, p = y, int(row["pitch"])
            else:
                out, rec = vary_note(
                    y, SR, instrument=row["instrument"], pitch=int(row["pitch"]), dynamic=row["dynamic"] or "mf",
                    seed=[int(seed), zlib.crc32(row["id"].encode()), v], augment=augment, preset=preset,
                )  # fmt: skip
                p = int(rec["pitch"])
            audio.append(peak_normalize(out))
            label.append(classes.index(row["instrument"]))
            pitch.append(p)
            variant.append(v)
            ids.append(row["id"])
    cqt, mfcc = window_inputs(np.stack(audio))
    feats = features_from(cqt, mfcc)
    tmp = f"{target}.part.npz"
    np.savez(
        tmp, cqt=cqt.numpy().astype(np.float16), features=feats.astype(np.float32), label=np.array(label),
        pitch=np.array(pitch), variant=np.array(variant), ids=np.array(ids),
    )  # fmt: skip
    os.replace(tmp, target)
    return target


def prepare_notes(
    dataset: str | os.PathLike[str],
    split: str,
    *,
    variants: int | None = None,
    augment: tuple[str, ...] | list[str] | None = None,
    preset: str = "realistic",
    seed: int = 0,
    classes: list[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    jobs: int = 1,
    progress: bool = True,
    limit: int | None = None,
) -> NoteArrays:
    """The prepared notes of one split of a note dataset (module docstring), computed once and cached.

    Parameters
    ----------
    dataset : a dataset folder built by ``dlmir data instruments``.
    split : ``train``, ``valid`` or ``test``.
    variants : variations per note besides the rendered one (default: train 2, valid 1, test 0).
    augment : :data:`~dlmir.instruments.augment.NOTE_AUGMENTATIONS` the variations use (default: all).
    preset : production preset of the variations. seed : seed of the variations.
    classes : class order of ``label`` (default: the 15 classes).
    cache_dir : where the chunks go (default ``DATASET/features/instruments-<key>``).
    jobs : worker processes. progress : show a progress bar. limit : only the first ``limit`` notes (tests).
    """
    from tqdm.auto import tqdm

    from dlmir.data.manifest import read_manifest
    from dlmir.instruments.augment import NOTE_AUGMENTATIONS
    from dlmir.models.instruments import default_classes

    classes = default_classes() if classes is None else list(classes)
    variants = DEFAULT_VARIANTS.get(split, 0) if variants is None else int(variants)
    augment = tuple(NOTE_AUGMENTATIONS if augment is None else augment)
    if variants < 0:
        raise ParameterError(f"variants must be >= 0, got {variants}")
    bad = [a for a in augment if a not in NOTE_AUGMENTATIONS]
    if bad:
        raise ParameterError(f"unknown note augmentation(s) {bad}; choose from {NOTE_AUGMENTATIONS}")
    rows = [r for r in read_manifest(dataset, split=split) if r.source == "instrument"]
    rows = [r for r in rows if r.instrument in classes][:limit]
    if not rows:
        raise ParameterError(
            f"{dataset}: no instrument notes in the {split!r} split; build one with `dlmir data instruments`"
        )
    plain = [{k: r.get(k) for k in ("id", "audio", "instrument", "pitch", "dynamic")} for r in rows]
    key = _cache_key(split, variants, augment, preset, seed, [r["id"] for r in plain])
    folder = Path(cache_dir) if cache_dir is not None else Path(dataset) / "features" / f"instruments-{split}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [plain[i : i + CHUNK] for i in range(0, len(plain), CHUNK)]
    targets = [str(folder / f"chunk-{k:05d}.npz") for k in range(len(chunks))]
    todo = [k for k, t in enumerate(targets) if not Path(t).is_file()]
    bar = tqdm(total=sum(len(chunks[k]) for k in todo), desc=f"preparing {split} notes", unit="note",
               disable=not progress or not todo)  # fmt: skip
    args = (str(dataset),)
    if jobs <= 1 or len(todo) <= 1:
        for k in todo:
            _prepare_chunk(*args, chunks[k], variants, augment, preset, seed, classes, targets[k])
            bar.update(len(chunks[k]))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
            futures = {
                pool.submit(_prepare_chunk, *args, chunks[k], variants, augment, preset, seed, classes, targets[k]): k
                for k in todo
            }
            for fut in as_completed(futures):
                fut.result()
                bar.update(len(chunks[futures[fut]]))
    bar.close()
    (folder / "prepared.json").write_text(
        json.dumps({"dataset": str(dataset), "split": split, "variants": variants, "augment": list(augment),
                    "preset": preset, "seed": seed, "notes": len(plain), "classes": classes}, indent=2) + "\n"
    )  # fmt: skip
    parts = [np.load(t) for t in targets]
    return NoteArrays(
        cqt=np.concatenate([p["cqt"] for p in parts]),
        features=np.concatenate([p["features"] for p in parts]),
        label=np.concatenate([p["label"] for p in parts]).astype(np.int64),
        pitch=np.concatenate([p["pitch"] for p in parts]).astype(np.int64),
        variant=np.concatenate([p["variant"] for p in parts]).astype(np.int64),
        ids=[str(s) for p in parts for s in p["ids"]],
        classes=classes,
    )


class NoteDataset(Dataset):
    """Items ``(x, label, pitch)`` of prepared notes: ``x`` the CQT ``(192, 87)`` (``kind="cqt"``) or the features
    ``(120,)`` (``kind="features"``), float32; ``label`` int64; ``pitch`` int64 (sounding MIDI pitch)."""

    def __init__(self, notes: NoteArrays, kind: str = "cqt") -> None:
        if kind not in ("cqt", "features"):
            raise ParameterError(f"kind must be 'cqt' or 'features', got {kind!r}")
        self.notes, self.kind = notes, kind

    def __len__(self) -> int:
        return len(self.notes)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.notes
        x = n.cqt[i] if self.kind == "cqt" else n.features[i]
        return torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.tensor(n.label[i]), torch.tensor(n.pitch[i])


# -- batch augmentation -------------------------------------------------------------------------------------
def _ranges(classes: list[str]) -> torch.Tensor:
    from dlmir.data.instruments import INSTRUMENTS

    return torch.tensor([[INSTRUMENTS[c].low, INSTRUMENTS[c].high] if c in INSTRUMENTS else [0, 127] for c in classes])


def augment_batch(
    x: torch.Tensor,
    label: torch.Tensor,
    pitch: torch.Tensor,
    *,
    classes: list[str],
    augment: tuple[str, ...] | list[str] = BATCH_AUGMENTATIONS,
    max_semitones: int = 3,
    bins_per_octave: int = 24,
    p_crop: float = 0.5,
    p_legato: float = 0.15,
    p_mix: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch of note CQTs ``x`` ``(batch, n_bins, frames)`` (module docstring); returns the new CQTs
    (``(batch, n_bins, frames')``) and targets ``(batch, n_classes)`` (class distributions)."""
    from dlmir.data.augment import shift_bins

    g = generator
    b, _, frames = x.shape
    n_classes = len(classes)
    target = torch.nn.functional.one_hot(label, n_classes).float()
    x = x / x.flatten(1).amax(1).clamp_min(1e-10)[:, None, None]
    if "shift" in augment and max_semitones > 0:
        rng = _ranges(classes).to(label.device)[label]
        lo = torch.clamp(rng[:, 0] - pitch, min=-max_semitones, max=0)
        hi = torch.clamp(rng[:, 1] - pitch, min=0, max=max_semitones)
        k = lo + (torch.rand(b, generator=g) * (hi - lo + 1).float()).floor().long().clamp(max=hi - lo)
        x = shift_bins(x, k * (bins_per_octave // 12), dim=1)
    if "legato" in augment and frames > 40:
        for i in torch.nonzero(torch.rand(b, generator=g) < p_legato).flatten().tolist():
            mates = torch.nonzero((label == label[i]) & (torch.arange(b) != i)).flatten()
            if not len(mates):
                continue
            j = int(mates[int(torch.randint(len(mates), (), generator=g))])
            t0 = int(torch.randint(20, min(67, frames - 10), (), generator=g))
            decay = torch.exp(-torch.arange(frames - t0, dtype=x.dtype) / 4.0)
            level = 0.5 + 0.5 * float(torch.rand((), generator=g))
            new = x[i].clone()
            new[:, t0:] = x[i, :, t0:] * decay + level * x[j, :, : frames - t0]
            x = x.clone()
            x[i] = new
    if "mix" in augment:
        chosen = torch.nonzero(torch.rand(b, generator=g) < p_mix).flatten()
        if len(chosen):
            partner = torch.randint(b, (len(chosen),), generator=g)
            gain = 10.0 ** (-12.0 * torch.rand(len(chosen), generator=g) / 20.0)  # -12..0 dB
            w = (gain**2 / (1.0 + gain**2))[:, None]
            x = x.clone()
            mixed = x[chosen] + gain[:, None, None] * x[partner]
            target = target.clone()
            target[chosen] = (1 - w) * target[chosen] + w * target[partner]
            x[chosen] = mixed
    if "crop" in augment and frames > 24 and float(torch.rand((), generator=g)) < p_crop:
        length = int(torch.randint(24, frames + 1, (), generator=g))
        start = (torch.rand(b, generator=g) * (frames - length + 1)).floor().long()
        start = torch.where(torch.rand(b, generator=g) < 0.5, torch.zeros_like(start), start)
        idx = start[:, None] + torch.arange(length)[None, :]
        x = torch.gather(x, 2, idx[:, None, :].expand(-1, x.shape[1], -1))
    return x, target


# -- training -----------------------------------------------------------------------------------------------
@dataclass
class InstrumentTrainConfig(TrainConfig):
    """:class:`~dlmir.train.config.TrainConfig` for instrument models (see it for the shared fields).

    Attributes
    ----------
    loss : ``"nll"`` (the only one: the softmax's negative log-likelihood, soft targets for mixtures).
    augment : on-the-fly CNN augmentations, from :data:`BATCH_AUGMENTATIONS` (the MLP ignores them).
    max_semitones : largest ``shift`` transposition (within the instrument's range).
    steps_per_epoch : batches per epoch (``None``: the whole training set).
    threads : intra-op threads on CPU (default 1).
    data : how the data was made (dataset, variations, production), recorded with the run (the CLI fills it).
    init : where the CNN trunk's initial weights came from (:func:`dlmir.pretrain.init.init_from`'s record; empty:
        a fresh initialisation); :func:`train_instruments` fills it from its ``init`` argument.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    loss: str = "nll"
    patience: int = 0
    max_semitones: int = 3
    schedule: str = "onecycle"
    augment: list[str] = field(default_factory=lambda: list(BATCH_AUGMENTATIONS))
    steps_per_epoch: int | None = None
    threads: int | None = 1
    data: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [a for a in self.augment if a not in BATCH_AUGMENTATIONS]
        if bad:
            raise ParameterError(f"instrument models augment batches with {BATCH_AUGMENTATIONS}; got {bad}")
        augment, self.augment = self.augment, []
        try:
            super().__post_init__()
        finally:
            self.augment = augment
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ParameterError(f"steps_per_epoch must be >= 1 (or None), got {self.steps_per_epoch}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be >= 1 (or None), got {self.threads}")

    def _check_loss(self) -> None:
        if self.loss != "nll":
            raise ParameterError(f"instrument models train with loss 'nll', got {self.loss!r}")


class InstrumentModule(TrainModule):
    """LightningModule training an :class:`~dlmir.models.InstrumentMLP` or :class:`~dlmir.models.InstrumentCNN`."""

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        from dlmir.models.instruments import note_loss

        x, label, pitch = batch
        model = self.model
        target: torch.Tensor = label
        if train and model.input_kind == "cqt" and self.config.augment:
            x, target = augment_batch(
                x, label, pitch, classes=model.classes, augment=self.config.augment,
                max_semitones=self.config.max_semitones, bins_per_octave=int(model.config["bins_per_octave"]),
            )  # fmt: skip
        logits = model(x).float()
        loss = note_loss(logits, target)
        hit = float((logits.argmax(-1) == label).float().mean())
        return loss, loss, {"accuracy": (hit, len(label))}

    def best_extra(self, row: dict[str, float]) -> dict[str, Any]:
        return {"train": asdict(self.config), "reg": self.reg.to_dict(), "best": row}


def build_model(kind: str, *, classes: list[str] | None = None, seed: int = 0, **kwargs: Any) -> torch.nn.Module:
    """An untrained ``"mlp"`` (:class:`~dlmir.models.InstrumentMLP`) or ``"cnn"`` (:class:`~dlmir.models.InstrumentCNN`)
    with the note front end attached; ``kwargs`` go to the constructor."""
    from dlmir.instruments.features import NOTE_CQT
    from dlmir.models import set_frontend
    from dlmir.models.instruments import InstrumentCNN, InstrumentMLP

    if kind == "mlp":
        model = InstrumentMLP(classes=classes, seed=seed, **kwargs)
    elif kind == "cnn":
        model = InstrumentCNN(classes=classes, seed=seed, **kwargs)
    else:
        raise ParameterError(f"model must be 'mlp' or 'cnn', got {kind!r}")
    return set_frontend(model, NOTE_CQT)


def train_instruments(
    model: torch.nn.Module,
    train_notes: NoteArrays,
    val_notes: NoteArrays | None = None,
    *,
    config: InstrumentTrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    init: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train an :class:`~dlmir.models.InstrumentMLP` or :class:`~dlmir.models.InstrumentCNN` on prepared notes
    (:func:`prepare_notes`).

    ``init``: a ``dlmir pretrain --model instruments`` run folder whose pre-trained trunk is copied into the CNN
    first (:func:`dlmir.pretrain.init.init_from`; recorded in ``config.init``; ignored when resuming).

    The MLP's standardisation is fitted on ``train_notes``' features first (unless resuming). Returns the summary
    of :func:`dlmir.train.base.fit`: ``epoch``, ``step``, ``history`` (``train_loss``, ``val_loss``,
    ``val_accuracy`` per epoch) and ``model``.
    """
    config = config or InstrumentTrainConfig()
    if not isinstance(config, InstrumentTrainConfig):
        raise ParameterError(f"instrument training takes an InstrumentTrainConfig, got {type(config).__name__}")
    kind = getattr(model, "input_kind", None)
    if kind not in ("cqt", "features"):
        raise ParameterError(f"instrument training knows InstrumentMLP and InstrumentCNN, not {type(model).__name__}")
    if list(train_notes.classes) != list(model.classes):
        raise ParameterError(f"the notes' classes {train_notes.classes} differ from the model's {model.classes}")
    reg = reg or Regularization()
    if kind == "features" and not resume:  # a resumed model gets its standardisation back from the checkpoint
        feats = train_notes.features.astype(np.float64)
        model.set_standardization(feats.mean(axis=0), feats.std(axis=0))
    if init is not None and not resume:
        from dlmir.pretrain.init import init_from

        config.init = init_from(model, init)  # an MLP has no trunk: init_from says so
    train_set = NoteDataset(train_notes, kind)
    val_set = NoteDataset(val_notes, kind) if val_notes is not None else None
    return fit_run(
        InstrumentModule,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_dir=run_dir,
        resume=resume,
        stop_after_epochs=stop_after_epochs,
    )


# -- random search ------------------------------------------------------------------------------------------
INSTRUMENT_SPACE: dict[str, tuple[float, float]] = {
    "lr": (3e-4, 3e-3),
    "dropout": (0.0, 0.5),
    "width": (0.5, 2.0),
    "weight_decay": (1e-5, 1e-1),
}
"""Ranges of the instrument search: learning rate (log-uniform), dropout (uniform), width multiplier of the hidden
layers (MLP) or convolution channels (CNN) (log-uniform), AdamW weight decay (log-uniform)."""


def _widened(kind: str, width: float) -> dict[str, Any]:
    if kind == "mlp":
        return {"hidden": [max(8, round(256 * width))] * 2}
    return {"channels": [max(4, round(c * width)) for c in (16, 32, 48, 64)], "embedding": max(16, round(128 * width))}


def random_search_instruments(
    kind: str,
    train_notes: NoteArrays,
    val_notes: NoteArrays,
    out: str | os.PathLike[str],
    *,
    trials: int = 8,
    seed: int = 0,
    config: InstrumentTrainConfig | None = None,
    objective: str = "val_loss",
) -> dict[str, Any]:
    """Random search (:func:`dlmir.train.search.run_study`) over :data:`INSTRUMENT_SPACE` for an ``"mlp"`` or a
    ``"cnn"``: each trial a :func:`train_instruments` run in ``OUT/trial-NNN``; ``OUT/trials.csv`` and
    ``OUT/best.json`` (``model``, ``train`` and ``reg`` sections, as ``dlmir train instruments --config`` reads)."""
    from dlmir.train.search import run_study

    config = config or InstrumentTrainConfig(progress_bar=False)
    out = Path(out)

    def run(trial) -> dict[str, Any]:
        s = INSTRUMENT_SPACE
        draw = {
            "lr": trial.suggest_float("lr", *s["lr"], log=True),
            "dropout": trial.suggest_float("dropout", *s["dropout"]),
            "width": trial.suggest_float("width", *s["width"], log=True),
            "weight_decay": trial.suggest_float("weight_decay", *s["weight_decay"], log=True),
        }
        model_kw = {"dropout": draw["dropout"], **_widened(kind, draw["width"])}
        cfg = replace(config, lr=draw["lr"], seed=seed + trial.number)
        reg = Regularization(weight_decay=draw["weight_decay"])
        model = build_model(kind, classes=list(train_notes.classes), seed=seed + trial.number, **model_kw)
        summary = train_instruments(model, train_notes, val_notes, config=cfg, reg=reg,
                                    run_dir=out / f"trial-{trial.number:03d}")  # fmt: skip
        hist = [h for h in summary["history"] if "val_loss" in h]
        best = min(hist, key=lambda h: h["val_loss"]) if hist else {}
        return {
            "trial": trial.number,
            **draw,
            "val_loss": best.get("val_loss", float("nan")),
            "val_accuracy": best.get("val_accuracy", float("nan")),
            "epochs": summary["epoch"],
            "_model": {"kind": kind, **model_kw},
            "_train": asdict(cfg),
            "_reg": reg.to_dict(),
        }

    _, best = run_study(run, out, trials=trials, seed=seed, key=objective)
    doc = {
        "trial": best["trial"],
        "val_loss": best["val_loss"],
        "val_accuracy": best["val_accuracy"],
        "model": best["_model"],
        "train": best["_train"],
        "reg": best["_reg"],
    }
    (out / "best.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc
