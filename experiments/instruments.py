"""Instrument recognition: the practicum's table (linear SVM, logistic regression, MLP on designed features) beside a
CNN learned from the CQT, on notes of a soundfont no model heard, as rendered and as produced.

One command, every step skipped when its output exists (so an interrupted run resumes):

    .venv/bin/python experiments/instruments.py [--dataset data-out/instruments] [--runs runs/instruments] \\
        [--jobs 2] [--cnn-epochs 8] [--cnn-steps 150] [--ship]

1. builds the note dataset when absent: ``dlmir data instruments DATASET --seed 1`` with every installed soundfont
   that is not the held-out FluidR3 GM or its near copy FluidR3 Mono (TimGM6mb, MuseScore General Lite and Full,
   sf_GMbank, OPL3 FM): 15 classes, every pitch of each range, pp/mf/ff with jittered velocities;
2. prepares the notes once (rendered + 2 played-and-recorded variations per training note: pitch shift within the
   range, articulation, dynamics with a noise floor, realistic production; cached in DATASET/features);
3. searches the MLP at random (``dlmir search instruments``, 6 trials) and trains the best configuration;
4. trains the CNN (``dlmir train instruments --model cnn``: batch augmentation shift, crop, legato, mix) and fits
   the linear SVM and logistic regression on the same training notes (RUN/cnn/baselines);
5. scores all four with ``dlmir evaluate instruments`` (again only when a model is newer than the saved scores, or
   with ``--reevaluate``) on the test split (the held-out FluidR3 GM soundfont), as
   rendered and with realistic production, and runs ``dlmir instrument`` on the real recordings in
   ``../shared/data/real-music`` when present; writes ``experiments/results/instruments.md`` (+ ``.json`` and the
   confusion matrices ``instruments-<model>.png``);
6. ``--ship`` copies the model with the higher validation accuracy (the MLP or the CNN), with the other and the
   baselines beside it, into ``src/dlmir/assets/instruments`` (the default of ``dlmir instrument``).

Budget: on the 2-core development CPU (shared with other jobs) the CNN trains at ~1.2 s per step of 64 notes, so
8 x 150 steps take ~25 min; the MLP search a few minutes; preparing the notes ~40 min with 2 processes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
ASSETS = ROOT / "src" / "dlmir" / "assets" / "instruments"
REAL = ROOT.parent / "shared" / "data" / "real-music"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]
SOUNDFONTS = ("timgm6mb", "musescore", "musescore-full", "csound", "opl3")
ASSETS_README = """# The default instrument recogniser

`dlmir instrument` and `dlmir.instruments.classify` use this folder (`model="default"`):

- `config.json` + `model.safetensors`: the shipped model (the model of `experiments/instruments.py` with the higher
  validation accuracy: an `InstrumentCNN` on the note CQT, or the practicum's `InstrumentMLP`); the other one is in
  its sub-folder (`mlp/` or `cnn/`) and the linear baselines fitted on the same training notes in `baselines/`
  (`svm.json`, `logreg.json`: standardisation + weights as JSON). `dlmir evaluate instruments default DIR` scores
  all of them in one table.
- Training data: `dlmir data instruments DATASET --seed 1 --soundfont timgm6mb --soundfont musescore --soundfont
  musescore-full --soundfont csound --soundfont opl3` (15 classes, every pitch of each range, pp/mf/ff; the test
  split rendered with FluidR3 GM, held out), every training note rendered and in two played-and-recorded variations
  (pitch shift, articulation, dynamics, realistic production), then `dlmir train instruments DATASET --model cnn
  --epochs 20 --steps-per-epoch 150` and `dlmir search instruments DATASET --model mlp` + `dlmir train instruments
  DATASET --model mlp --config best.json --epochs 30` (seed 0), as `experiments/instruments.py --cnn-epochs 20
  --ship` runs them. Scores: `experiments/results/instruments.md`.
"""


def run(args: list[str], log: Path | None = None) -> str:
    print("dlmir " + " ".join(args), flush=True)
    if log is None:
        out = subprocess.run([*DLMIR, *args], check=True, cwd=ROOT, capture_output=True, text=True)
        return out.stdout
    with log.open("a") as fh:
        subprocess.run([*DLMIR, *args], check=True, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    return ""


def saved_table(path: Path) -> str:
    """The Markdown table of a saved ``dlmir evaluate instruments --out`` JSON (no need to evaluate again)."""
    from dlmir.instruments.evaluate import Evaluation, ModelScores, markdown_table

    evals = []
    for doc in json.loads(path.read_text()):
        scores = {
            name: ModelScores(name, s["classes"], np.asarray(s["confusion"]), round(s["top3"] * s["n"]), s["n"])
            for name, s in doc["scores"].items()
        }
        evals.append(Evaluation(scores, [tuple(f) for f in doc["failed"]], source=doc["source"],
                                condition=doc["condition"]))  # fmt: skip
    return markdown_table(evals)


def best_val_accuracy(run_dir: Path) -> float:
    extra = json.loads((run_dir / "config.json").read_text()).get("extra", {})
    return float(extra.get("best", {}).get("val_accuracy", float("nan")))


def ship(source: Path, other: Path, baselines: Path) -> None:
    """Copy the model ``source`` (config + weights), ``other`` as a companion sub-folder and the baselines."""
    if ASSETS.exists():
        shutil.rmtree(ASSETS)
    ASSETS.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(source / name, ASSETS / name)
    kind = json.loads((other / "config.json").read_text())["model"]["model"].removeprefix("Instrument").lower()
    (ASSETS / kind).mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(other / name, ASSETS / kind / name)
    shutil.copytree(baselines, ASSETS / "baselines")
    (ASSETS / "README.md").write_text(ASSETS_README)
    print(f"shipped {source} -> {ASSETS} (with {kind} and the baselines)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=ROOT / "data-out" / "instruments")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "instruments")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--mlp-trials", type=int, default=6)
    ap.add_argument("--mlp-epochs", type=int, default=30)
    ap.add_argument("--cnn-epochs", type=int, default=8)
    ap.add_argument("--cnn-steps", type=int, default=150)
    ap.add_argument("--ship", action="store_true", help="Copy the better model into src/dlmir/assets/instruments.")
    ap.add_argument("--reevaluate", action="store_true", help="Evaluate again even if the saved scores are fresh.")
    args = ap.parse_args()
    data, runs = args.dataset, args.runs
    runs.mkdir(parents=True, exist_ok=True)
    if not (data / "manifest.csv").is_file():
        sf = [a for s in SOUNDFONTS for a in ("--soundfont", s)]
        run(["data", "instruments", str(data), "--seed", "1", *sf, "-j", str(args.jobs), "-q"], runs / "build.log")
    jobs = ["--jobs", str(args.jobs)]
    if not (runs / "search-mlp" / "best.json").is_file():
        search = ["--trials", str(args.mlp_trials), "--epochs", str(args.mlp_epochs), *jobs]
        run(["search", "instruments", str(data), "--model", "mlp", "--out", str(runs / "search-mlp"), *search],
            runs / "search-mlp.log")  # fmt: skip
    if not (runs / "mlp" / "model.safetensors").is_file():
        run(["train", "instruments", str(data), "--model", "mlp", "--out", str(runs / "mlp"), "--no-baselines",
             "--config", str(runs / "search-mlp" / "best.json"), "--epochs", str(args.mlp_epochs), *jobs],
            runs / "mlp.log")  # fmt: skip
    cnn = runs / "cnn"
    if not (cnn / "baselines" / "logreg.json").is_file():
        resume = ["--resume"] if (cnn / "checkpoint").is_dir() else []
        run(["train", "instruments", str(data), "--model", "cnn", "--out", str(cnn), "--epochs", str(args.cnn_epochs),
             "--steps-per-epoch", str(args.cnn_steps), *jobs, *resume], runs / "cnn.log")  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    prefix = RESULTS / "instruments"
    fresh = prefix.with_suffix(".json").is_file() and all(
        prefix.with_suffix(".json").stat().st_mtime > (r / "model.safetensors").stat().st_mtime
        for r in (cnn, runs / "mlp")
    )
    if args.reevaluate or not fresh:
        run(["evaluate", "instruments", str(cnn), str(data), "--also", str(runs / "mlp"),
             "--production", "realistic", "--out", str(prefix)])  # fmt: skip
    table = saved_table(prefix.with_suffix(".json"))
    hidden = json.loads((runs / "mlp" / "config.json").read_text())["model"]["hidden"]
    real = sorted(REAL.glob("*.ogg")) if REAL.is_dir() else []
    lines = [
        "# Instrument recognition",
        "",
        "Written by `experiments/instruments.py`. Test split: every note of the 15 classes rendered with FluidR3 GM, a",
        "soundfont no model was trained on (training: TimGM6mb, MuseScore General Lite and Full, sf_GMbank, OPL3 FM;",
        "note that MuseScore General shares many samples with FluidR3 GM). 'realistic production': the same notes",
        "played and recorded (dynamics, noise floor, room, EQ, codecs; seeded). Accuracy, top-3 and balanced accuracy",
        "(mean per-class recall) in %. cnn: InstrumentCNN on the CQT; mlp: the practicum's network on the 120",
        f"designed features (120 -> {' -> '.join(map(str, hidden))} -> 15, rectifiers, softmax; widths searched);",
        "svm, logreg: linear baselines on the same features, fitted on the same training notes.",
        "",
        f"CNN: {args.cnn_epochs} x {args.cnn_steps} steps of 64 notes; best validation accuracy "
        f"{best_val_accuracy(cnn):.3f}. MLP: best of {args.mlp_trials} random-search trials, {args.mlp_epochs} "
        f"epochs; best validation accuracy {best_val_accuracy(runs / 'mlp'):.3f}.",
        "",
        table.strip(),
        "",
        "Confusion matrices (as rendered): `instruments-<model>.png`.",
    ]
    if real:
        lines += ["", "## Real recordings (`dlmir instrument`, top 3)", "",
                  "No labels; what plays is known for three: a solo trumpet (sorohanro) and solo piano (Setuniman, "
                  "Lena Orsa). The others are ensembles (strings, jazz combo, pop, orchestra with celesta, drums and "
                  "bass), where a spread, low-confidence answer is the honest one.", "", "| file | cnn | mlp |",
                  "|---|---|---|"]  # fmt: skip
        outs = {}
        for name, model in (("cnn", cnn), ("mlp", runs / "mlp")):
            text = run(["instrument", *map(str, real), "--model", str(model), "--json"])
            outs[name] = {Path(d["file"]).name: d for d in map(json.loads, text.strip().splitlines())}
        for f in real:
            cells = []
            for name in ("cnn", "mlp"):
                d = outs[name].get(f.name)
                cells.append(", ".join(f"{t['class']} {t['probability']:.2f}" for t in d["top"]) if d else "failed")
            lines.append(f"| {f.name} | " + " | ".join(cells) + " |")
    prefix.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"written {prefix.with_suffix('.md')}")
    if args.ship:
        better_cnn = best_val_accuracy(cnn) >= best_val_accuracy(runs / "mlp")
        best, other = (cnn, runs / "mlp") if better_cnn else (runs / "mlp", cnn)
        ship(best, other, cnn / "baselines")


if __name__ == "__main__":
    main()
