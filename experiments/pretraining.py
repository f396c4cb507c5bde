"""Label budgets: chord and instrument accuracy with 1 %, 10 % and 100 % of a fixed training set, trained from
scratch vs fine-tuned from a trunk pre-trained without labels (masked CQT reconstruction, :mod:`dlmir.pretrain`).

One command, every run skipped when its result exists (so an interrupted run resumes where it stopped):

    .venv/bin/python experiments/pretraining.py [--runs runs/pretraining] [--chord-data ../data-default] \\
        [--instrument-data data-out/instruments] [--pretrain-steps 240 300] [--chord-steps 150] \\
        [--instrument-steps 300] [--full-size]

1. Pre-training data: the training audio of both sets, without labels (the train split of the chord dataset, e.g.
   ``dlmir data build``'s progressions + chorales, and every training note of ``dlmir data instruments``), read as
   random excerpts (:class:`dlmir.pretrain.data.AudioExcerpts`). Two trunks are pre-trained on it (each excerpt
   drawn with probability proportional to its file's duration): the chord trunk (ChordCNN's ``_conv_trunk``, 6 s
   excerpts of the chord CQT, batch 8) and the instrument CNN's trunk (2 s excerpts of the note CQT, batch 32).
2. Label budgets: 1 %, 10 % and 100 % of the training split, drawn once at random (seed 0; chords by track,
   instruments by note, stratified by class, each note with its two prepared variations). Every run takes the same
   number of optimiser steps whatever its budget (a small set is repeated), the same seed, learning rate
   (AdamW, one cycle) and augmentation; the two arms of a budget differ only in the trunk's initial weights.
   Model selection: the epoch of lowest validation loss (chords: the first 16 tracks of the valid split;
   instruments: the prepared valid split).
3. Held-out scores: chords: mir_eval ``majmin`` (and ``root``), duration-weighted over the test split, Viterbi
   decoding over the 25 major/minor classes (:func:`dlmir.evaluate.chord_table`, what ``dlmir evaluate chords
   --vocabulary majmin`` runs); instruments: accuracy on the test split's notes as rendered (FluidR3 GM, a
   soundfont no model heard), each note's 2 s window prepared as the training notes are (``prepare_notes(...,
   "test", variants=0)``, batched: much faster here than ``dlmir evaluate instruments``' per-file loop).
4. Writes ``experiments/results/pretraining.md`` (table, settings, wall times), ``pretraining.json`` and
   ``pretraining.png`` (accuracy vs budget, from scratch and pre-trained, one panel per task).

Models (CPU-sized by default): ChordCNN (channels 8, 8, 16, 16, embedding 64, one temporal convolution of 64
channels, majmin) and InstrumentCNN (channels 8, 16, 24, 32, embedding 64); ``--full-size`` uses the default
architectures instead. Steps are options, so a GPU user can scale them up.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
BUDGETS = (0.01, 0.1, 1.0)
CHORD_ARCH = {"channels": [8, 8, 16, 16], "embedding": 64, "hidden": 64, "temporal_layers": 1}
INSTRUMENT_ARCH = {"channels": [8, 16, 24, 32], "embedding": 64}
ARMS = ("scratch", "pretrained")


def _tag(budget: float) -> str:
    return f"{round(budget * 100):03d}"


def _done(run: Path) -> dict | None:
    f = run / "done.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _finish(run: Path, summary: dict, seconds: float, **info) -> dict:
    hist = summary["history"]
    best = min((h for h in hist if "val_loss" in h), key=lambda h: h["val_loss"], default=hist[-1] if hist else {})
    doc = {"seconds": round(seconds, 1), "steps": summary["step"], "best": best, "history": hist, **info}
    (run / "done.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def manifest(dataset: Path, split: str) -> list[dict[str, str]]:
    with (dataset / "manifest.csv").open() as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == split]


# -- 1. pre-training ----------------------------------------------------------------------------------
def pretrain_trunk(kind: str, files: list[tuple[str, float]], run: Path, *, steps: int, arch: dict, seed: int) -> dict:
    """Pre-train the chord (``kind='chords'``) or instrument trunk on ``files``; returns its done record."""
    from dlmir.frontends.presets import CHORD_CQT, frontend_from_config
    from dlmir.instruments.features import NOTE_CQT
    from dlmir.models import set_frontend
    from dlmir.pretrain import AudioExcerpts, MaskedCQT
    from dlmir.train.pretrain import PretrainConfig, pretrain

    if (done := _done(run)) is not None:
        return done
    chords = kind == "chords"
    fe = frontend_from_config(CHORD_CQT if chords else NOTE_CQT)
    dims = {k: fe.config[k] for k in ("n_bins", "bins_per_octave", "fmin")}
    trunk = {"model": "ChordCNN" if chords else "InstrumentCNN", **arch, "seed": seed}
    net = set_frontend(MaskedCQT(trunk, seed=seed, **dims), fe)
    batch, seconds = (8, 6.0) if chords else (32, 2.0)
    epochs = 2
    per_epoch = max(1, steps // epochs)
    data = AudioExcerpts(files, frontend=fe, seconds=seconds, items=per_epoch * batch, seed=seed)
    print(f"pre-training the {kind} trunk: {data!r}, {epochs} x {per_epoch} steps of {batch}", flush=True)
    info = {"files": len(files), "hours": round(data.hours, 2), "excerpt_seconds": seconds}
    cfg = PretrainConfig(epochs=epochs, steps_per_epoch=per_epoch, batch_size=batch, seed=seed, progress_bar=False,
                         data=info)  # fmt: skip
    resume = (run / "checkpoint").is_dir()
    t0 = time.time()
    summary = pretrain(net, data, config=cfg, run_dir=run, resume=resume)
    return _finish(run, summary, time.time() - t0, hours=round(data.hours, 2), files=len(files), batch=batch,
                   excerpt_seconds=seconds)  # fmt: skip


# -- 2. label budgets -----------------------------------------------------------------------------------
def chord_runs(args, pre_dir: Path, runs: Path) -> dict[str, dict]:
    from dlmir.data.excerpts import Excerpts
    from dlmir.models import build, set_frontend
    from dlmir.train.chords import ChordTrainConfig, train_chords

    todo = [(b, arm) for b in args.budgets for arm in ARMS if _done(runs / f"chords-{arm}-{_tag(b)}") is None]
    out: dict[str, dict] = {}
    full = val = None
    if todo:
        full = Excerpts.from_folder(args.chord_data, "train", seconds=6.0, vocabulary="majmin", jitter=True,
                                    seed=args.seed, progress=True)  # fmt: skip
        val = Excerpts.from_folder(args.chord_data, "valid", seconds=6.0, vocabulary="majmin", max_items=16)
    n_tracks = len(manifest(args.chord_data, "train"))
    order = np.random.default_rng(args.seed).permutation(n_tracks)
    batch = 8
    per_epoch = max(1, args.chord_steps // 3)
    for budget in args.budgets:
        k = max(1, math.ceil(budget * n_tracks))
        chosen = sorted(order[:k].tolist())
        for arm in ARMS:
            run = runs / f"chords-{arm}-{_tag(budget)}"
            name = f"{arm}-{_tag(budget)}"
            if (done := _done(run)) is not None:
                out[name] = done
                continue
            assert full is not None and val is not None
            tracks = [full.track(t) for t in chosen]
            ids = [full.ids[t] for t in chosen]
            excerpts_per_pass = sum(max(1, math.ceil(f.shape[1] / full.frames)) for f, _ in tracks)
            reps = max(1, math.ceil(per_epoch * batch / excerpts_per_pass))  # equal steps for every budget
            data = Excerpts(tracks * reps, frames=full.frames, jitter=True, seed=args.seed, ids=ids * reps,
                            frontend=full.frontend, vocabulary=full.vocabulary)  # fmt: skip
            arch = {"model": "ChordCNN", **args.chord_arch, "vocabulary": "majmin", "seed": args.seed}
            dims = {key: full.frontend.config[key] for key in ("n_bins", "bins_per_octave", "fmin")}
            net = set_frontend(build({**arch, **dims}), full.frontend)
            minutes = sum(f.shape[1] for f, _ in tracks) * full.frontend.hop_length / 22050 / 60
            cfg = ChordTrainConfig(
                epochs=3, steps_per_epoch=per_epoch, batch_size=batch, lr=1e-3, schedule="onecycle", patience=0,
                augment=["rotate"], seed=args.seed, progress_bar=False,
                data={"dataset": str(args.chord_data), "budget": budget, "tracks": k, "minutes": round(minutes, 1)},
            )  # fmt: skip
            print(f"chords {name}: {k} tracks ({minutes:.1f} min), {3 * per_epoch} steps", flush=True)
            t0 = time.time()
            summary = train_chords(net, data, val, config=cfg, run_dir=run, resume=(run / "checkpoint").is_dir(),
                                   init=pre_dir if arm == "pretrained" else None)  # fmt: skip
            out[name] = _finish(run, summary, time.time() - t0, items=k, minutes=round(minutes, 1), budget=budget,
                                arm=arm, init=cfg.init)  # fmt: skip
    return out


def instrument_runs(args, pre_dir: Path, runs: Path) -> dict[str, dict]:
    from dlmir.train.instruments import InstrumentTrainConfig, build_model, prepare_notes, train_instruments
    from dlmir.train.regularizers import Regularization

    todo = [(b, arm) for b in args.budgets for arm in ARMS if _done(runs / f"instruments-{arm}-{_tag(b)}") is None]
    out: dict[str, dict] = {}
    rows = [r for r in manifest(args.instrument_data, "train")]
    classes = sorted({r["instrument"] for r in rows})
    rng = np.random.default_rng(args.seed)
    order = {c: rng.permutation([r["id"] for r in rows if r["instrument"] == c]).tolist() for c in classes}
    batch = 32
    per_epoch = max(1, args.instrument_steps // 3)
    train = val = None
    if todo:
        train = prepare_notes(args.instrument_data, "train", variants=2, seed=0)
        val = prepare_notes(args.instrument_data, "valid", variants=1, seed=0)
    for budget in args.budgets:
        chosen = {i for c in classes for i in order[c][: max(1, math.ceil(budget * len(order[c])))]}
        for arm in ARMS:
            run = runs / f"instruments-{arm}-{_tag(budget)}"
            name = f"{arm}-{_tag(budget)}"
            if (done := _done(run)) is not None:
                out[name] = done
                continue
            assert train is not None and val is not None
            idx = np.array([i for i, s in enumerate(train.ids) if s in chosen])
            reps = max(1, math.ceil(per_epoch * batch / len(idx)))
            notes = train.subset(np.tile(idx, reps)) if reps > 1 else train.subset(idx)
            net = build_model("cnn", classes=list(train.classes), seed=args.seed, **args.instrument_arch)
            cfg = InstrumentTrainConfig(
                epochs=3, steps_per_epoch=per_epoch, batch_size=batch, lr=1e-3, seed=args.seed, progress_bar=False,
                data={"dataset": str(args.instrument_data), "budget": budget, "notes": len(chosen)},
            )  # fmt: skip
            print(f"instruments {name}: {len(chosen)} notes ({len(idx)} with variations), {3 * per_epoch} steps",
                  flush=True)  # fmt: skip
            t0 = time.time()
            summary = train_instruments(net, notes, val, config=cfg, reg=Regularization(1e-4), run_dir=run,
                                        resume=(run / "checkpoint").is_dir(),
                                        init=pre_dir if arm == "pretrained" else None)  # fmt: skip
            out[name] = _finish(run, summary, time.time() - t0, items=len(chosen), budget=budget, arm=arm,
                                init=cfg.init)  # fmt: skip
    return out


# -- 3. held-out scores ---------------------------------------------------------------------------------
def note_accuracy(args, models: dict[str, str]) -> dict[str, dict]:
    """Accuracy and balanced accuracy of each instrument model on the test split's notes as rendered (the 2 s
    window at the onset, prepared once like the training notes: ``prepare_notes(..., "test", variants=0)``)."""
    import torch

    from dlmir.models import load
    from dlmir.train.instruments import prepare_notes

    test = prepare_notes(args.instrument_data, "test", variants=0, seed=0)
    if args.max_eval:
        test = test.subset(np.arange(min(args.max_eval, len(test))))
    out = {}
    for name, folder in models.items():
        model = load(folder)
        with torch.inference_mode():
            pred = np.concatenate([model.log_probs(torch.from_numpy(test.cqt[i : i + 256].astype(np.float32)))
                                   .argmax(-1).numpy() for i in range(0, len(test), 256)])  # fmt: skip
        hit = pred == test.label
        recall = [float(hit[test.label == c].mean()) for c in np.unique(test.label)]
        out[name] = {"accuracy": float(hit.mean()), "balanced": float(np.mean(recall)), "items": len(test)}
    return out


def scores(args, runs: Path, path: Path) -> dict:
    """Held-out scores of every run (cached in ``path``; recomputed for runs newer than it)."""
    from dlmir.evaluate import chord_table

    doc = json.loads(path.read_text()) if path.is_file() else {"chords": {}, "instruments": {}}
    for task in ("chords", "instruments"):
        names = [f"{arm}-{_tag(b)}" for b in args.budgets for arm in ARMS]
        stale = [n for n in names if n not in doc[task]
                 or (runs / f"{task}-{n}" / "done.json").stat().st_mtime > doc[task][n]["time"]]  # fmt: skip
        if not stale:
            continue
        t0 = time.time()
        models = {n: str(runs / f"{task}-{n}") for n in stale}
        if task == "chords":
            rows = chord_table(args.chord_data, models, split="test", vocabulary="majmin", metrics=("root", "majmin"),
                               progress=True, max_items=args.max_eval or None)  # fmt: skip
            for row in rows:
                doc[task][row["model"]] = {"majmin": row["majmin"], "root": row["root"], "items": row["items"],
                                           "time": time.time()}  # fmt: skip
        else:
            for n, acc in note_accuracy(args, models).items():
                doc[task][n] = {**acc, "time": time.time()}
        doc.setdefault("eval_seconds", {})[task] = round(time.time() - t0, 1)
        path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


# -- 4. report ------------------------------------------------------------------------------------------
def plot(doc: dict, budgets: list[float], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = [100 * b for b in budgets]
    panels = (("chords", "majmin", "chords: majmin (test split)"),
              ("instruments", "accuracy", "instruments: accuracy (test split)"))  # fmt: skip
    for ax, (task, key, title) in zip(axes, panels, strict=True):
        for arm, style in (("scratch", "o--"), ("pretrained", "s-")):
            y = [100 * doc[task][f"{arm}-{_tag(b)}"][key] for b in budgets]
            ax.plot(x, y, style, label="from scratch" if arm == "scratch" else "pre-trained trunk")
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g} %" for v in x])
        ax.set_xlabel("labelled training data")
        ax.set_ylabel("%")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=120)
    plt.close(fig)


def report(args, pre: dict, chord: dict, inst: dict, doc: dict, wall: float) -> str:
    b = args.budgets
    lines = [
        "# Pre-training on unlabeled audio: label budgets",
        "",
        "Written by `experiments/pretraining.py` (command below). Each row: a model trained on a share of a fixed",
        "training split, from scratch or fine-tuned from a trunk pre-trained by masked CQT reconstruction",
        "(`dlmir.pretrain`: time and pitch blocks of the input zeroed, the trunk's features decode the missing cells;",
        "no labels) on the training audio of both sets; scored on the held-out test split. Same seed, steps, learning",
        "rate and augmentation in both arms; only the trunk's initial weights differ.",
        "",
        "| task | budget | labelled items | from scratch | pre-trained | difference |",
        "|---|---|---|---|---|---|",
    ]
    for task, runs, key, unit in (("chords (majmin)", chord, "majmin", "tracks"),
                                  ("instruments (accuracy)", inst, "accuracy", "notes")):  # fmt: skip
        t = "chords" if task.startswith("chords") else "instruments"
        for budget in b:
            s, p = doc[t][f"scratch-{_tag(budget)}"][key], doc[t][f"pretrained-{_tag(budget)}"][key]
            items = runs[f"scratch-{_tag(budget)}"]["items"]
            extra = f" ({runs[f'scratch-{_tag(budget)}']['minutes']} min)" if t == "chords" else ""
            lines.append(f"| {task} | {100 * budget:g} % | {items} {unit}{extra} | {100 * s:.1f} | {100 * p:.1f} | "
                         f"{100 * (p - s):+.1f} |")  # fmt: skip
    lines += ["", "![accuracy vs label budget](pretraining.png)", ""]
    if 0.1 in b and 1.0 in b:
        lines += ["## The issue's goal", ""]
        for t, key in (("chords", "majmin"), ("instruments", "accuracy")):
            p10, s100 = doc[t]["pretrained-010"][key], doc[t]["scratch-100"][key]
            verdict = "reached" if p10 >= s100 else "not reached"
            lines.append(f"- {t}: pre-trained at 10 % {100 * p10:.1f} vs from scratch at 100 % {100 * s100:.1f}: "
                         f"{verdict} ({100 * (p10 - s100):+.1f}).")  # fmt: skip
        lines.append("")
    c0, i0 = pre["chords"], pre["instruments"]
    chord_s = sum(r["seconds"] for r in chord.values())
    inst_s = sum(r["seconds"] for r in inst.values())
    eval_s = sum(doc.get("eval_seconds", {}).values())
    total = c0["seconds"] + i0["seconds"] + chord_s + inst_s + eval_s
    chord_h = args.chord_steps * 8 * 6.0 / 3600

    def gain(task: str, key: str, budget: float) -> float:
        return 100 * (doc[task][f"pretrained-{_tag(budget)}"][key] - doc[task][f"scratch-{_tag(budget)}"][key])

    def losses(d: dict) -> str:
        return " -> ".join(f"{h['train_loss']:.3f}" for h in d["history"])

    lines += [
        "## Settings and budget",
        "",
        f"- Pre-training audio: {c0['files']} files, {c0['hours']} h (the train split of `{args.chord_data.name}`, "
        f"and every training note of `{args.instrument_data.name}`), no labels. Chord trunk: {c0['steps']} steps of "
        f"{c0['batch']} x {c0['excerpt_seconds']:g} s excerpts, masked-reconstruction loss per epoch {losses(c0)} "
        f"(1.0 = predicting each item's mean); instrument trunk: {i0['steps']} steps of {i0['batch']} x "
        f"{i0['excerpt_seconds']:g} s, loss {losses(i0)}.",
        f"- Chords: ChordCNN {json.dumps(args.chord_arch)}, majmin vocabulary, {args.chord_steps} steps of 8 x 6 s "
        "excerpts per run (3 epochs; rotate augmentation; AdamW 1e-3, one cycle); the budget's tracks drawn at random "
        "from the train split and repeated so that every run takes the same steps; validation: 16 valid tracks.",
        f"- Instruments: InstrumentCNN {json.dumps(args.instrument_arch)}, {args.instrument_steps} steps of 32 "
        "notes per run (3 epochs; shift, crop, legato, mix; AdamW 1e-3, one cycle); the budget's notes drawn per class "
        "from the train split, each with its two prepared variations; validation: the valid split.",
        f"- Held-out: chords: {doc['chords']['scratch-100']['items']} test tracks, mir_eval majmin (root: in the "
        f"JSON), Viterbi over 25 classes; instruments: {doc['instruments']['scratch-100']['items']} test notes "
        "as rendered (FluidR3 GM, an unseen soundfont; the 2 s window at the onset), accuracy.",
        f"- Compute: one CPU thread on the shared 2-core machine (other training runs beside it, load 4-12). "
        f"{total / 60:.0f} min in all (the recorded phases; data loading aside): pre-training "
        f"{c0['seconds'] / 60:.1f} + {i0['seconds'] / 60:.1f} min, chord runs {chord_s / 60:.1f} min, instrument "
        f"runs {inst_s / 60:.1f} min, scoring {eval_s / 60:.1f} min. This invocation: {wall / 60:.1f} min (runs "
        "already done are read back). Scale with the step options on a GPU.",
        "",
        "## Reading",
        "",
        f"- Every run takes the same number of steps, so what a budget changes is how often each labelled item comes "
        f"back: chords, {args.chord_steps} steps x 8 excerpts x 6 s = {chord_h:.1f} h of excerpts per run, "
        + ", ".join(
            f"{chord_h * 60 / chord[f'scratch-{_tag(x)}']['minutes']:.1f} passes over the {100 * x:g} % set" for x in b
        )
        + "; "  # fmt: skip
        f"instruments, {args.instrument_steps} steps x 32 = {32 * args.instrument_steps} notes per run, "
        + ", ".join(
            f"{32 * args.instrument_steps / (3 * inst[f'scratch-{_tag(x)}']['items']):.1f} passes over the "
            f"{100 * x:g} % set (with its variations)"
            for x in b
        )
        + ".",  # fmt: skip
        "- Pre-trained minus from scratch, per budget: chords "
        + ", ".join(f"{gain('chords', 'majmin', x):+.1f}" for x in b)
        + "; instruments "
        + ", ".join(f"{gain('instruments', 'accuracy', x):+.1f}" for x in b)
        + " points (one seed per run: the spread over seeds was not measured).",
        "- Chords, mir_eval root (from scratch / pre-trained): "
        + ", ".join(
            f"{100 * x:g} % {100 * doc['chords'][f'scratch-{_tag(x)}']['root']:.1f} / "
            f"{100 * doc['chords'][f'pretrained-{_tag(x)}']['root']:.1f}"
            for x in b
        )
        + "; final training loss (from scratch / pre-trained): chords "
        + ", ".join(
            f"{chord[f'scratch-{_tag(x)}']['history'][-1]['train_loss']:.2f} / "
            f"{chord[f'pretrained-{_tag(x)}']['history'][-1]['train_loss']:.2f}"
            for x in b
        )  # fmt: skip
        + "; instruments "
        + ", ".join(
            f"{inst[f'scratch-{_tag(x)}']['history'][-1]['train_loss']:.2f} / "
            f"{inst[f'pretrained-{_tag(x)}']['history'][-1]['train_loss']:.2f}"
            for x in b
        )  # fmt: skip
        + ".",
        "",
        "Command:",
        "",
        "```",
        args.command,
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "pretraining")
    ap.add_argument("--chord-data", type=Path, default=ROOT.parent / "data-default")
    ap.add_argument("--instrument-data", type=Path, default=ROOT / "data-out" / "instruments")
    ap.add_argument("--pretrain-steps", type=int, nargs=2, default=[240, 300], metavar=("CHORDS", "INSTRUMENTS"))
    ap.add_argument("--chord-steps", type=int, default=150, help="Optimiser steps per chord run (batch 8 x 6 s).")
    ap.add_argument("--instrument-steps", type=int, default=300, help="Optimiser steps per instrument run (32 notes).")
    ap.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS))
    ap.add_argument("--full-size", action="store_true", help="The default ChordCNN and InstrumentCNN architectures.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--results", type=Path, default=RESULTS, help="Folder of pretraining.md/.json/.png.")
    ap.add_argument("--max-eval", type=int, default=0, help="Score only the first N test items (quick checks).")
    args = ap.parse_args()
    import sys

    import torch

    torch.set_num_threads(1)
    args.command = "python experiments/pretraining.py " + " ".join(sys.argv[1:])
    args.chord_arch = {} if args.full_size else CHORD_ARCH
    args.instrument_arch = {} if args.full_size else INSTRUMENT_ARCH
    runs: Path = args.runs
    runs.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    from dlmir.pretrain import find_audio

    files = [str(args.chord_data / r["audio"]) for r in manifest(args.chord_data, "train")]
    files += [str(args.instrument_data / r["audio"]) for r in manifest(args.instrument_data, "train")]
    need = [k for k in ("chords", "instruments") if _done(runs / f"pretrain-{k}") is None]
    listed = find_audio(files) if need else []
    pre = {
        "chords": pretrain_trunk("chords", listed, runs / "pretrain-chords", steps=args.pretrain_steps[0],
                                 arch=args.chord_arch, seed=args.seed),
        "instruments": pretrain_trunk("instruments", listed, runs / "pretrain-instruments",
                                      steps=args.pretrain_steps[1], arch=args.instrument_arch, seed=args.seed),
    }  # fmt: skip
    inst = instrument_runs(args, runs / "pretrain-instruments", runs)
    chord = chord_runs(args, runs / "pretrain-chords", runs)
    args.results.mkdir(parents=True, exist_ok=True)
    doc = scores(args, runs, args.results / "pretraining.json")
    plot(doc, args.budgets, args.results / "pretraining.png")
    text = report(args, pre, chord, inst, doc, time.time() - t_start)
    (args.results / "pretraining.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
