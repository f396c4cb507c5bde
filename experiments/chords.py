"""Chord recognition: one table of every recogniser on the realistic band test split and the chord test split.

Trains (skipping runs already finished in ``--runs-dir``) the chord models of issue 10 on freshly rendered audio
(``dlmir train chords stream``) -- ChordNet and FretboardNet on realistic production, and ChordNet on clean renders
for the ablation (what realism buys) -- then scores them with ``dlmir evaluate chords`` beside the designed chroma,
the shipped learned chroma and (optionally) a deep learned-chroma run, on the same audio, and writes
``experiments/results/chords.md``.

    .venv/bin/dlmir data band data/band                      # fixed realistic valid/test sets (~1 h)
    .venv/bin/dlmir data chords data/chords                  # the default chord dataset (~5 h)
    .venv/bin/python experiments/chords.py data/band data/chords --runs-dir runs/chords \\
        [--steps 50 --epochs 18] [--chroma-run runs/readme/deep-template]

The step budget is what a 2-core CPU affords in a long session (a ChordNet step of 8 x 12 s excerpts takes ~4 s
there, rendering included); on a GPU raise ``--epochs``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]

# (run name, README row, training options after `dlmir train chords stream --valid BAND --out RUN`)
VARIANTS: list[tuple[str, str, list[str]]] = [
    ("chordnet-realistic", "ChordNet (conv + BiGRU), realistic renders", ["--model", "chordnet"]),
    ("chordnet-clean", "ChordNet, clean renders (ablation)", ["--model", "chordnet", "--production", "clean"]),
    ("fretboard-realistic", "FretboardNet (6 strings + RBF templates), realistic renders", ["--model", "fretboard"]),
]


def train(band: Path, runs_dir: Path, steps: int, epochs: int) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name, _, options in VARIANTS:
        run = runs_dir / name
        if (run / "model.safetensors").exists() and (run / "checkpoint").exists():
            resume = ["--resume"]
        else:
            resume = []
        cmd = [*DLMIR, "train", "chords", "stream", "--valid", str(band), "--out", str(run), *options]
        cmd += ["--epochs", str(epochs), "--steps-per-epoch", str(steps), "--batch-size", "8", "--workers", "1"]
        cmd += ["--patience", "0", *resume]
        print("dlmir " + " ".join(cmd[len(DLMIR) :]), flush=True)
        with (runs_dir / f"{name}.log").open("a") as log:
            subprocess.run(cmd, check=True, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def evaluate(dataset: Path, models: list[Path], vocabulary: str, out: Path) -> str:
    cmd = [*DLMIR, "evaluate", "chords", str(dataset), "--vocabulary", vocabulary, "--out", str(out)]
    for m in models:
        cmd += ["--model", str(m)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return out.with_suffix(".md").read_text().strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("band", type=Path, help="`dlmir data band` folder (valid: validation, test: scoring)")
    ap.add_argument("chords", type=Path, help="`dlmir data chords` folder (its test split is scored too)")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "chords")
    ap.add_argument("--steps", type=int, default=50, help="training steps per epoch")
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--chroma-run", type=Path, default=None, help="a learned-chroma run to compare (e.g. deep)")
    ap.add_argument("--no-train", action="store_true", help="score the runs already in --runs-dir")
    args = ap.parse_args()
    if not args.no_train:
        train(args.band, args.runs_dir, args.steps, args.epochs)
    models = [args.runs_dir / n for n, _, _ in VARIANTS if (args.runs_dir / n / "model.safetensors").exists()]
    if args.chroma_run is not None:
        models.append(args.chroma_run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = {name: row for name, row, _ in VARIANTS}
    text = [
        "# Chord recognition",
        "",
        f"Written by `experiments/chords.py {args.band} {args.chords}`; mir_eval weighted recall, %, each test split; "
        "every row through the same Viterbi decoder. Models: "
        + "; ".join(f"`{m.name}` = {rows.get(m.name, 'learned chroma run')}" for m in models)
        + ".",
    ]
    for dataset, title in ((args.band, "realistic band test split"), (args.chords, "chord test split")):
        for vocabulary in ("full", "majmin"):
            table = evaluate(dataset, models, vocabulary, RESULTS / f"chords_{dataset.name}_{vocabulary}")
            text += ["", f"## {title}, {vocabulary} vocabulary", "", table]
    (RESULTS / "chords.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
