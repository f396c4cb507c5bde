"""Chord recognition: one table of every recogniser on the realistic band test split and the chord test split.

Trains (skipping runs already finished in ``--runs-dir``) the chord models of issue 10 on freshly rendered audio
(``dlmir train chords stream``) -- ChordNet, a plain CNN and FretboardNet on realistic production, and ChordNet
on clean renders for the ablation (what realism buys) -- then scores them with ``dlmir evaluate chords`` beside the
designed chroma, the shipped learned chroma and (optionally) a deep learned-chroma run, on the same audio, and writes
``experiments/results/chords.md``. Every training option is in ``VARIANTS``.

    .venv/bin/dlmir data band data/band                      # fixed realistic valid/test sets (~1 h)
    .venv/bin/dlmir data chords data/chords                  # the default chord dataset (~5 h)
    .venv/bin/python experiments/chords.py data/band data/chords --runs-dir runs/chords \\
        [--steps 50] [--only NAME ...] [--chroma-run runs/readme/deep-template]

The step budget is what a 2-core CPU affords in a long session (a ChordNet step of 8 x 12 s excerpts takes ~4 s
there, rendering included; ~40 min per 450-step run); on a GPU raise the epochs in ``VARIANTS``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]

# (run name, README row, training options after `dlmir train chords stream --valid BAND --out RUN`, epochs,
# epochs actually trained of that schedule (None: all)).
# Every run: 50 steps per epoch of 8 x 12 s excerpts rendered on the fly from the same seeded stream of arrangements
# (so the clean and realistic runs hear the same music, only produced differently), each with its own one-cycle
# schedule over `epochs`. The shipped `chordnet` is `chordnet-realistic` (18 epochs = 900 steps). The `-200` pair
# is the clean-vs-realistic ablation (a 9-epoch schedule stopped after 4 epochs, as experiments/chords_ablation.py
# trains it); the `-450` runs compare the model families at one budget; FretboardNet got only 150 steps of CPU
# time in the session that wrote the table (raise it here on a GPU).
VARIANTS: list[tuple[str, str, list[str], int, int | None]] = [
    (
        "chordnet-realistic",
        "ChordNet (conv + BiGRU + structured heads), realistic renders, 900 steps; shipped as `chordnet`",
        ["--model", "chordnet"],
        18,
        None,
    ),
    ("chordnet-realistic-450", "ChordNet, realistic renders, 450 steps", ["--model", "chordnet"], 9, None),
    (
        "cnn-realistic-450",
        "plain CNN (conv trunk + temporal conv, 157-way softmax), realistic renders, 450 steps",
        ["--model", "cnn"],
        9,
        None,
    ),
    (
        "fretboard-realistic-150",
        "FretboardNet (6 string softmaxes + RBF chord templates), realistic renders, 150 steps",
        ["--model", "fretboard"],
        3,
        None,
    ),
    (
        "chordnet-realistic-200",
        "ChordNet, realistic renders, 200 steps (ablation arm)",
        ["--model", "chordnet"],
        9,
        4,
    ),
    (
        "chordnet-clean-200",
        "ChordNet, clean renders, 200 steps (ablation arm: what realism buys)",
        ["--model", "chordnet", "--production", "clean"],
        9,
        4,
    ),
]


def train(band: Path, runs_dir: Path, steps: int, only: set[str] | None) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name, _, options, epochs, stop_after in VARIANTS:
        if only and name not in only:
            continue
        run = runs_dir / name
        if (run / "model.safetensors").exists() and (run / "checkpoint").exists():
            resume = ["--resume"]
        elif (run / "model.safetensors").exists():
            continue  # a finished run kept without its checkpoint
        else:
            resume = []
        cmd = [*DLMIR, "train", "chords", "stream", "--valid", str(band), "--out", str(run), *options]
        cmd += ["--epochs", str(epochs), "--steps-per-epoch", str(steps), "--batch-size", "8", "--workers", "1"]
        cmd += ["--patience", "0", *resume]
        if stop_after is not None:
            cmd += ["--stop-after", str(stop_after)]
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
    ap.add_argument("--only", nargs="*", default=None, help="train only these runs (names as in VARIANTS)")
    ap.add_argument("--chroma-run", type=Path, default=None, help="a learned-chroma run to compare (e.g. deep)")
    ap.add_argument("--no-train", action="store_true", help="score the runs already in --runs-dir")
    args = ap.parse_args()
    if not args.no_train:
        train(args.band, args.runs_dir, args.steps, set(args.only or []))
    models = [args.runs_dir / n for n, _, _, _, _ in VARIANTS if (args.runs_dir / n / "model.safetensors").exists()]
    if args.chroma_run is not None:
        models.append(args.chroma_run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = {name: row for name, row, _, _, _ in VARIANTS}
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
