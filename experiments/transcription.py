"""Note transcription: the designed baseline (harmonic summation over the CQT) beside the learned Transcriber, on the
held-out test splits, with mir_eval; writes ``experiments/results/transcription.md``.

One command:

    .venv/bin/python experiments/transcription.py [--model default] [--band data-out/band] \\
        [--default-data /work/data-default] [--limit N]

For each dataset that exists and has notes (``labels/<id>.notes.csv``: ``dlmir data notes DATASET``), runs

    dlmir evaluate transcription DATASET --split test --model MODEL --out experiments/results/transcription_<name>

(the designed baseline is always in the same run, on the same audio) and collects the tables: frame precision,
recall and accuracy (``mir_eval.multipitch`` on a 10 ms grid), note P/R/F with onsets (50 ms) and with onsets and
offsets (``mir_eval.transcription``), means over files in %. The test splits hold pieces no model trained on: the
band test split is rendered with the held-out FluidR3 GM soundfont; the learned model trained on
``NoteStream``, which never renders FluidR3 GM and only train-split chorales.

basic-pitch (Spotify) is scored too when ``basic_pitch`` is importable (its ``predict`` with default settings,
on the same files and with the same scoring); it is not installable in the development environment (no network
for its TensorFlow/ONNX runtime), so the table says so when it is absent.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]
GOALS = (
    "note F (onsets) >= 85 %, frame accuracy >= 75 % on the held-out split; the learned model far above the designed"
)


def _has_notes(root: Path) -> bool:
    return (root / "manifest.csv").is_file() and any((root / "labels").glob("*.notes.csv"))


def evaluate(root: Path, name: str, model: str, limit: int | None) -> tuple[str, dict[str, dict[str, float]], float]:
    """Run ``dlmir evaluate transcription`` on the test split of ``root``; ``(markdown, means per model, seconds)``."""
    out = RESULTS / f"transcription_{name}"
    cmd = [*DLMIR, "evaluate", "transcription", str(root), "--split", "test", "--model", model, "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=False)
    seconds = time.time() - t0
    table = out.with_suffix(".md").read_text().strip()
    means: dict[str, dict[str, float]] = {}
    with out.with_suffix(".csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["file"] in ("mean", "all", "MEAN", ""):
                means[row["model"]] = {k: float(v) for k, v in row.items() if k not in ("file", "model", "items") and v}
    return table, means, seconds


def basic_pitch_note() -> str:
    try:
        import basic_pitch  # noqa: F401
    except ImportError:
        return ("basic-pitch is not importable here (`pip install basic-pitch` needs its TensorFlow/ONNX runtime, "
                "which this environment cannot install), so it is not in the tables; `dlmir evaluate transcription` "
                "scores any folder of its MIDI output the same way.")  # fmt: skip
    return "basic-pitch is importable, but this script does not run it yet."


def model_summary(model: str) -> str:
    from dlmir.models.io import read_config

    try:
        cfg = read_config(model)
    except Exception as exc:  # noqa: BLE001
        return f"(no config for {model}: {exc})"
    extra = cfg.get("extra", {})
    best = extra.get("best", {})
    train = extra.get("train", {})
    data = train.get("data", {})
    parts = [f"`{model}`: {cfg['model']['model']} (channels {cfg['model'].get('channels')})"]
    if best:
        parts.append(
            f"trained {best.get('step')} steps of {train.get('batch_size')} x {data.get('excerpt_seconds')} s "
            f"excerpts of `{data.get('dataset')}` (production {data.get('production')}, augment "
            f"{train.get('augment')}, lr {train.get('lr')} one-cycle, seed {train.get('seed')}); "
            f"validation ({data.get('valid')}): loss {best.get('val_loss', float('nan')):.3f}, frame F1 "
            f"{best.get('val_frame_f1', float('nan')):.3f}, note F1 {best.get('val_note_f1', float('nan')):.3f}"
        )
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="learned model: 'default' (shipped) or a run folder")
    ap.add_argument("--band", type=Path, default=ROOT / "data-out" / "band")
    ap.add_argument("--default-data", type=Path, default=Path("/work/data-default"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N test items per dataset")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections, summary = [], {}
    for name, root in (("band", args.band), ("data-default", args.default_data)):
        if not _has_notes(root):
            sections.append(f"## {name}\n\n`{root}`: absent or without notes (run `dlmir data notes {root}`).\n")
            continue
        table, means, seconds = evaluate(root, name, args.model, args.limit)
        summary[name] = means
        sections.append(
            f"## {name} test split (`{root}`)\n\n{table}\n\n"
            f"(`dlmir evaluate transcription {root} --split test --model {args.model}`; {seconds:.0f} s on the "
            f"shared 2-core CPU; per-file scores in `transcription_{name}.csv`.)\n"
        )
    doc = [
        "# Note transcription: designed vs learned",
        "",
        "Written by `experiments/transcription.py`. Scores in %, mean over the files of each test split "
        "(mir_eval: frame P/R/Acc of `multipitch` on a 10 ms grid; note P/R/F of `transcription`, onsets within "
        "50 ms, and with offsets within 20 % of the note or 50 ms). `designed`: harmonic summation over the CQT "
        "(`dlmir transcribe --model designed`); the learned row is the Transcriber.",
        "",
        f"Goals (issue 13): {GOALS}.",
        "",
        "Learned model: " + model_summary(args.model),
        "",
        basic_pitch_note(),
        "",
        *sections,
        "No real recordings with note annotations are available here (`../shared/data/real-music` has no labels), "
        "so the real-audio goal (ahead of basic-pitch on chamber music) is not measured.",
        "",
    ]
    (RESULTS / "transcription.md").write_text("\n".join(doc))
    (RESULTS / "transcription.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n".join(doc))


if __name__ == "__main__":
    main()
