"""The README's learned-chroma tables, run times, peak memory and figures, from one command.

Trains every variant of the README's table with ``dlmir train chroma`` (skipping runs already finished in
``--runs-dir``), scores them with ``dlmir evaluate chroma-table`` on the test split (157-class and 25-class
vocabularies), and writes ``experiments/results/learned_chroma.md`` (the tables the README quotes, with the
wall time and peak RSS of each training run) and the README's figures under ``docs/img/``.

    .venv/bin/dlmir data chords data/chords                  # the default dataset (~5 h of audio)
    .venv/bin/python experiments/learned_chroma.py data/chords --runs-dir runs/readme [--ship]

``--ship`` copies the shipped-default variant (``one-layer-template``: the exact command that made the model in
``src/dlmir/assets/learned_chroma``) into the package. Runs are seeded: the same machine gives the same numbers.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
IMG = ROOT / "docs" / "img"
REAL_RECORDING = ROOT.parent / "shared" / "data" / "real-music" / "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]

COMMON = ["--augment", "rotate", "--frame-step", "3", "--epochs", "8"]
DEEP = [
    "--layers", "3", "--hidden", "512", "--context", "15", "--output", "sigmoid", "--dropout", "0.2",
    "--hidden-dropout", "0.5", "--lr", "1e-3", "--batch-size", "512", "--schedule", "onecycle", "--patience", "0",
]  # fmt: skip
VARIANTS: list[tuple[str, str, list[str]]] = [
    # (run name, README row, training options)
    ("deep-template", "**learned, deep (2 x 512 hidden, 15 frames of context either side, template loss)**",
     [*DEEP, "--loss", "template", *COMMON]),
    ("two-layer-256-ctx3", "learned, 2 layers (256 hidden, PCA start, 3 frames of context, MSE)",
     ["--layers", "2", "--hidden", "256", "--hidden-init", "pca", "--context", "3", "--patience", "3", *COMMON]),
    ("two-layer-128", "learned, 2 layers (128 hidden, PCA start, MSE)",
     ["--layers", "2", "--hidden", "128", "--hidden-init", "pca", "--patience", "3", *COMMON]),
    ("one-layer-template", "learned, 1 layer, octave start, template loss (the shipped default)",
     ["--output", "sigmoid", "--loss", "template", "--patience", "3", *COMMON]),
    ("one-layer-octave", "learned, 1 layer, octave start, MSE", ["--init", "octave", "--patience", "3", *COMMON]),
    ("one-layer-random", "learned, 1 layer, random start, MSE", ["--init", "random", "--patience", "3", *COMMON]),
    ("one-layer-regularised", "learned, 1 layer, regularised (wd, L1, max-norm, dropout), MSE",
     ["--weight-decay", "1e-3", "--l1", "1e-5", "--max-norm", "2.0", "--dropout", "0.2", "--patience", "3", *COMMON]),
]  # fmt: skip
SHIPPED = "one-layer-template"
FIXED_ROWS = {
    "reference templates (decoder ceiling)": "reference templates (the decoder's ceiling)",
    "designed": "designed chroma (= `chroma_cqt`)",
    "designed-log": "designed, log-compressed",
}


def run_measured(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd`` (output to ``log``); return its wall time (s) and peak RSS (MB) from ``os.wait4``."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}; see {log}")
    return wall, usage.ru_maxrss / 1024.0


def train_all(dataset: Path, runs_dir: Path, only: set[str] | None) -> list[dict[str, str]]:
    runs_dir.mkdir(parents=True, exist_ok=True)
    timing_file = runs_dir / "timing.csv"
    timing = {}
    if timing_file.exists():
        with timing_file.open() as fh:
            timing = {r["run"]: r for r in csv.DictReader(fh)}
    for name, _, options in VARIANTS:
        if only and name not in only:
            continue
        run = runs_dir / name
        if (run / "model.safetensors").exists() and name in timing:
            print(f"{name}: done already ({run})", flush=True)
            continue
        cmd = [*DLMIR, "train", "chroma", str(dataset), "--out", str(run), *options]
        print(f"{name}: dlmir {' '.join(cmd[len(DLMIR) :])}", flush=True)
        wall, rss = run_measured(cmd, runs_dir / f"{name}.log")
        timing[name] = {"run": name, "wall_s": f"{wall:.0f}", "peak_rss_mb": f"{rss:.0f}"}
        with timing_file.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["run", "wall_s", "peak_rss_mb"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(timing.values())
        print(f"{name}: {wall:.0f} s, peak RSS {rss:.0f} MB", flush=True)
    return list(timing.values())


def evaluate(dataset: Path, runs: list[Path], vocabulary: str, out: Path) -> list[dict[str, str]]:
    cmd = [*DLMIR, "evaluate", "chroma-table", str(dataset), "--vocabulary", vocabulary, "--out", str(out)]
    for run in runs:
        cmd += ["--runs", str(run)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    with out.with_suffix(".csv").open() as fh:
        return list(csv.DictReader(fh))


def relabel(rows: list[dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    labels = {name: row for name, row, _ in VARIANTS}
    out = []
    for r in rows:
        v = r["variant"]
        name = v.split(" (")[0]
        out.append((FIXED_ROWS.get(v, labels.get(name, v)), r))
    return out


def table(rows: list[tuple[str, dict[str, str]]], metrics: tuple[str, ...]) -> str:
    lines = ["| variant | " + " | ".join(metrics) + " |", "| --- |" + " --- |" * len(metrics)]
    for label, r in rows:
        lines.append(f"| {label} | " + " | ".join(f"{100 * float(r[m]):.1f}" for m in metrics) + " |")
    return "\n".join(lines)


def figures(runs_dir: Path) -> None:
    """The README's figures: weights at start and end, training curves, designed vs learned chromagrams."""
    IMG.mkdir(parents=True, exist_ok=True)
    for name in ("one-layer-template", "deep-template"):
        if (runs_dir / name / "model.safetensors").exists():
            png = IMG / f"weights-{name}.png"
            subprocess.run([*DLMIR, "plot", "weights", str(runs_dir / name), "--out", str(png)], check=True, cwd=ROOT)
    curves = [str(runs_dir / n) for n in ("one-layer-template", "deep-template") if (runs_dir / n).exists()]
    if curves:
        png = IMG / "curves-template.png"
        subprocess.run([*DLMIR, "plot", "curves", *curves, "--out", str(png)], check=True, cwd=ROOT)
    with tempfile.TemporaryDirectory() as tmp:  # the demo draws designed vs learned (shipped) chroma
        subprocess.run([*DLMIR, "demo", "--out", tmp], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        shutil.copy2(Path(tmp) / "chroma_designed_vs_learned.png", IMG / "demo-chroma-designed-vs-learned.png")
    if REAL_RECORDING.exists():
        cmd = [*DLMIR, "plot", "chromagram", str(REAL_RECORDING), "--duration", "20", "--out"]
        subprocess.run([*cmd, str(IMG / "chromagram-lets-go-fishin.png")], check=True, cwd=ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "readme")
    ap.add_argument("--only", default="", help="comma list of run names to train (default: all)")
    ap.add_argument("--ship", action="store_true", help=f"copy the {SHIPPED} run into the package as the default")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s} or None
    timing = train_all(args.dataset, args.runs_dir, only)
    runs = [args.runs_dir / name for name, _, _ in VARIANTS if (args.runs_dir / name / "model.safetensors").exists()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    full = relabel(evaluate(args.dataset, runs, "full", RESULTS / "learned_chroma_full"))
    deep = [r for r in runs if r.name in ("deep-template", SHIPPED)]
    majmin = relabel(evaluate(args.dataset, deep, "majmin", RESULTS / "learned_chroma_majmin"))
    items = full[0][1]["items"] if full else "?"
    options = {name: " ".join(opts) for name, _, opts in VARIANTS}
    text = [
        "# Learned chroma on the held-out split",
        "",
        f"Written by `experiments/learned_chroma.py {args.dataset}`. Test split: {items} items, unseen soundfont; "
        "mir_eval weighted recall, %; the same decoder (template matching + Viterbi) for every row.",
        "",
        "## 157-class vocabulary",
        "",
        table(full, ("root", "majmin", "triads", "sevenths", "tetrads")),
        "",
        "## 25-class (major/minor) vocabulary",
        "",
        table(majmin, ("root", "majmin")),
        "",
        "## Training runs (2-core CPU; wall time and peak RSS of each `dlmir train chroma` process)",
        "",
        "| run | wall time (s) | peak RSS (MB) | `dlmir train chroma DATASET --out RUN` options |",
        "| --- | --- | --- | --- |",
        *[f"| {t['run']} | {t['wall_s']} | {t['peak_rss_mb']} | `{options[t['run']]}` |" for t in timing],
        "",
    ]
    (RESULTS / "learned_chroma.md").write_text("\n".join(text))
    print("\n".join(text))
    if args.ship:
        target = ROOT / "src" / "dlmir" / "assets" / "learned_chroma"
        for f in ("config.json", "model.safetensors"):
            shutil.copy2(args.runs_dir / SHIPPED / f, target / f)
        print(f"shipped {args.runs_dir / SHIPPED} -> {target}")
    figures(args.runs_dir)


if __name__ == "__main__":
    main()
