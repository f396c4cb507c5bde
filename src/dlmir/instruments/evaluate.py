"""Evaluating instrument recognisers on labelled notes: a held-out dataset split, or any folder of real notes.

Sources (:func:`evaluation_items`):

- a dlmir note dataset (``dlmir data instruments``: a folder with ``manifest.csv``): the notes of one split
  (default ``test``, rendered with the held-out soundfont);
- any folder with one sub-folder per class (``DIR/<class>/**/<audio>``), the class named as dlmir does or by an
  alias (:mod:`dlmir.instruments.aliases`: ``double bass`` = ``contrabass``, ``horn`` = ``french_horn``, ...).

Every file goes through what ``dlmir instrument`` does (:class:`~dlmir.instruments.recognition.InstrumentRecognizer`:
note windows, per-window probabilities, pooled), with the front ends computed once per file for all the models
compared, so every model and baseline of one table saw the same windows. ``production`` (``"realistic"`` or
``"heavy"``) first turns each note into a played-and-recorded variation (dynamics, noise floor, room, EQ,
codecs; :func:`dlmir.instruments.augment.vary_note`, seeded by the item), a stand-in for real recordings.

Scores per model (:class:`ModelScores`): ``accuracy`` (top-1), ``top3`` (the class among the three most probable),
``balanced`` (the mean of the per-class recalls), ``recall`` per class and the confusion matrix (rows: true class,
columns: answered class; counts). :func:`markdown_table` formats them, :func:`plot_confusion` draws one matrix.
Files that cannot be classified (undecodable, silent) are listed in :attr:`Evaluation.failed`, not scored.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlmir.errors import AudioError, DlmirError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "Evaluation",
    "ModelScores",
    "companions",
    "evaluate_instruments",
    "evaluation_items",
    "markdown_table",
    "plot_confusion",
]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus")
"""Audio files a class folder may hold (other files are ignored)."""


@dataclass
class Item:
    """One labelled note or recording: audio path, true class, and (dataset notes) pitch and dynamic."""

    path: Path
    label: str
    pitch: int | None = None
    dynamic: str = ""
    id: str = ""


def evaluation_items(
    source: str | os.PathLike[str], *, split: str = "test", classes: list[str] | None = None
) -> list[Item]:
    """The labelled items of a dataset split or of a class-per-folder collection (module docstring).

    Raises
    ------
    ParameterError : the source does not exist, a sub-folder names no known class (the message lists them), or
        there is no audio file.
    """
    from dlmir.data.manifest import MANIFEST, read_manifest
    from dlmir.instruments.aliases import canonical
    from dlmir.models.instruments import default_classes

    classes = default_classes() if classes is None else list(classes)
    source = Path(source)
    if not source.is_dir():
        raise ParameterError(f"{source}: not a folder (give a note dataset or a folder with one sub-folder per class)")
    if (source / MANIFEST).is_file():
        rows = [r for r in read_manifest(source, split=split) if r.source == "instrument" and r.instrument in classes]
        items = [Item(source / r.audio, r.instrument, r.pitch, r.dynamic, r.id) for r in rows]
    else:
        items = []
        bad = []
        for sub in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                label = canonical(sub.name, classes=classes)
            except ParameterError:
                bad.append(sub.name)
                continue
            files = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            items += [Item(f, label, id=str(f.relative_to(source))) for f in files]
        if bad:
            raise ParameterError(
                f"{source}: sub-folder(s) {', '.join(repr(b) for b in bad)} name no instrument class; name each after "
                f"one of {', '.join(classes)} or an alias (dlmir.instruments.aliases.ALIASES)"
            )
    if not items:
        raise ParameterError(f"{source}: no labelled audio found (split {split!r} for a dataset; DIR/<class>/*.wav)")
    return items


@dataclass
class ModelScores:
    """Scores of one model on one evaluation (module docstring)."""

    name: str
    classes: list[str]
    confusion: np.ndarray
    top3_hits: int
    n: int

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion)) / max(1, self.n)

    @property
    def top3(self) -> float:
        return self.top3_hits / max(1, self.n)

    @property
    def recall(self) -> dict[str, float]:
        """Per true class present: the share of its items answered correctly."""
        out = {}
        for i, c in enumerate(self.classes):
            total = self.confusion[i].sum()
            if total:
                out[c] = float(self.confusion[i, i] / total)
        return out

    @property
    def balanced(self) -> float:
        r = self.recall
        return float(np.mean(list(r.values()))) if r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "accuracy": self.accuracy, "top3": self.top3,
                "balanced": self.balanced, "recall": self.recall, "classes": self.classes,
                "confusion": self.confusion.tolist()}  # fmt: skip


@dataclass
class Evaluation:
    """The scores of every model on the same items: ``scores`` by model name, ``failed`` ``[(path, message)]``,
    ``predictions`` ``{model: [(id, true, [(class, prob)] top 3)]}``."""

    scores: dict[str, ModelScores]
    failed: list[tuple[str, str]] = field(default_factory=list)
    predictions: dict[str, list[tuple[str, str, list[tuple[str, float]]]]] = field(default_factory=dict)
    source: str = ""
    condition: str = "as recorded"


def companions(model_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Models stored beside a model (compared with it in one table): ``MODEL/baselines/*.json`` and every
    sub-folder of ``MODEL`` holding a ``config.json``; ``{name: path}``."""
    folder = Path(model_dir)
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if (sub / "config.json").is_file():
            found[sub.name] = sub
    for js in sorted((folder / "baselines").glob("*.json")):
        found[js.stem] = js
    return found


def evaluate_instruments(
    models: dict[str, Any],
    source: str | os.PathLike[str],
    *,
    split: str = "test",
    production: str | None = None,
    seed: int = 0,
    progress: bool = True,
    limit: int | None = None,
) -> Evaluation:
    """Score every model of ``models`` (``{name: "default" | folder | baseline .json | model | Scorer}``) on the
    labelled items of ``source`` (:func:`evaluation_items`); see the module docstring.

    Parameters
    ----------
    production : ``None`` (the audio as it is), ``"realistic"`` or ``"heavy"``: produce each note first.
    seed : seed of the production (with the item's id).
    limit : only the first ``limit`` items (quick checks).
    """
    from tqdm.auto import tqdm

    from dlmir.instruments.augment import vary_note
    from dlmir.instruments.features import SR
    from dlmir.instruments.recognition import load_scorer, note_windows, pool, window_audio, window_inputs
    from dlmir.io import load

    if not models:
        raise ParameterError("give at least one model to evaluate")
    scorers = {name: load_scorer(m, name=name) for name, m in models.items()}
    classes = next(iter(scorers.values())).classes
    items = evaluation_items(source, split=split, classes=classes)[:limit]
    index = {c: i for i, c in enumerate(classes)}
    conf = {n: np.zeros((len(classes), len(classes)), dtype=np.int64) for n in scorers}
    top3 = dict.fromkeys(scorers, 0)
    preds: dict[str, list[tuple[str, str, list[tuple[str, float]]]]] = {n: [] for n in scorers}
    failed: list[tuple[str, str]] = []
    bar = tqdm(items, desc="evaluating", unit="file", disable=not progress)
    for item in bar:
        try:
            y, _ = load(item.path, sr=SR)
            if production is not None:
                augment = ("dynamics", "production") if item.pitch is not None else ("production",)
                y, _ = vary_note(
                    y, SR, instrument=item.label, pitch=item.pitch or 60, dynamic=item.dynamic or "mf",
                    seed=[int(seed), zlib.crc32(item.id.encode())], augment=augment, preset=production,
                )  # fmt: skip
            wins = note_windows(y, SR, name=str(item.path))
            cqt, mfcc = window_inputs(window_audio(y, [s for s, _ in wins]))
        except (DlmirError, OSError) as exc:
            failed.append((str(item.path), str(exc)))
            continue
        weights = np.array([r for _, r in wins])
        for name, scorer in scorers.items():
            probs = pool(scorer.log_probs(cqt, mfcc), weights)
            order = np.argsort(-probs, kind="stable")
            answer = scorer.classes[int(order[0])]
            conf[name][index[item.label], index.get(answer, index[item.label])] += answer in index
            top = [(scorer.classes[int(i)], float(probs[int(i)])) for i in order[:3]]
            top3[name] += item.label in [c for c, _ in top]
            preds[name].append((item.id or str(item.path), item.label, top))
    if len(failed) == len(items):
        raise AudioError(f"no file of {source} could be classified; first error: {failed[0][1]}")
    n = len(items) - len(failed)
    scores = {name: ModelScores(name, list(classes), conf[name], top3[name], n) for name in scorers}
    condition = "as recorded" if production is None else f"{production} production"
    return Evaluation(scores, failed, preds, str(source), condition)


def markdown_table(evaluations: list[Evaluation], *, per_class: bool = True) -> str:
    """Markdown: one row per model with accuracy, top-3 and balanced accuracy (%) under each evaluation, then
    (``per_class``) the per-class recall (%) of each model under the first evaluation."""
    if not evaluations:
        raise ParameterError("no evaluation to tabulate")
    names = list(evaluations[0].scores)
    head = ["model"]
    for ev in evaluations:
        head += [f"accuracy ({ev.condition})", f"top-3 ({ev.condition})", f"balanced ({ev.condition})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [name]
        for ev in evaluations:
            s = ev.scores.get(name)
            cells += [
                "" if s is None else f"{100 * v:.1f}" for v in ((s.accuracy, s.top3, s.balanced) if s else (0, 0, 0))
            ]
        lines.append("| " + " | ".join(cells) + " |")
    ev = evaluations[0]
    n = next(iter(ev.scores.values())).n
    lines.append("")
    lines.append(f"{n} items ({ev.source}); {len(ev.failed)} could not be classified.")
    if per_class:
        classes = [c for c in next(iter(ev.scores.values())).classes if c in next(iter(ev.scores.values())).recall]
        lines += ["", f"Per-class recall (%), {ev.condition}:", ""]
        lines.append("| class | " + " | ".join(names) + " |")
        lines.append("|" + "---|" * (len(names) + 1))
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(f"{100 * ev.scores[m].recall.get(c, 0.0):.0f}" for m in names) + " |")
    return "\n".join(lines) + "\n"


def plot_confusion(scores: ModelScores, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw ``scores``' confusion matrix (rows normalised to recall, counts written in the cells) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = scores.confusion.astype(np.float64)
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
    k = len(scores.classes)
    fig, ax = plt.subplots(figsize=(0.45 * k + 3, 0.45 * k + 2.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            if conf[i, j]:
                ax.text(j, i, str(int(conf[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(k), scores.classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), scores.classes, fontsize=8)
    ax.set_xlabel("answered")
    ax.set_ylabel("true")
    ax.set_title(title or f"{scores.name}: accuracy {100 * scores.accuracy:.1f} % ({scores.n} items)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
