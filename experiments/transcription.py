"""Note transcription: the designed baseline (harmonic summation over the CQT) beside the learned Transcriber, on the
held-out test splits, with mir_eval; writes ``experiments/results/transcription.md``.

One command:

    .venv/bin/python experiments/transcription.py [--model default] [--band data-out/band] \\
        [--default-data /work/data-default] [--limit N] [--ship RUN_DIR]

``--ship RUN_DIR`` first makes the run's best model the shipped default (``src/dlmir/assets/transcriber``): its
decoding thresholds are tuned on the *valid* splits of both datasets
(:func:`dlmir.train.transcription.tune_decoding`, at most ``--tune-items`` tracks each) and stored in its config.

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
ASSETS = ROOT / "src" / "dlmir" / "assets" / "transcriber"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]
ASSETS_README = """# The default note transcriber

`dlmir transcribe` and `dlmir.transcription.transcribe(model="default")` use this folder (`load("transcriber")`):
a `dlmir.models.Transcriber` (CQT 36 bins/octave, hop 256 -> harmonic stacking -> small CNN -> frames, onsets,
offsets of MIDI 21-108), trained with `dlmir train transcription stream` on pieces rendered on the fly with
realistic production (`dlmir.data.note_stream.NoteStream`; the held-out FluidR3 GM soundfont never), its decoding
thresholds (`config.json` -> `model.decode`) tuned on the valid splits by `experiments/transcription.py --ship RUN`.
Training settings, validation scores and the tuning are in `config.json` under `extra`.
"""
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
        cfg = read_config("transcriber" if model == "default" else model)  # 'default' of evaluate transcription
    except Exception as exc:  # noqa: BLE001
        return f"(no config for {model}: {exc})"
    extra = cfg.get("extra", {})
    best = extra.get("best", {})
    train = extra.get("train", {})
    data = train.get("data", {})
    parts = [f"`{model}`: {cfg['model']['model']} (channels {cfg['model'].get('channels')}, decoding "
             f"{cfg['model'].get('decode') or 'default thresholds 0.5'})"]  # fmt: skip
    if best:
        parts.append(
            f"trained {best.get('step')} steps of {train.get('batch_size')} x {data.get('excerpt_seconds')} s "
            f"excerpts of `{data.get('dataset')}` (production {data.get('production')}, augment "
            f"{train.get('augment')}, lr {train.get('lr')} one-cycle, seed {train.get('seed')}); "
            f"validation ({data.get('valid')}): loss {best.get('val_loss', float('nan')):.3f}, frame F1 "
            f"{best.get('val_frame_f1', float('nan')):.3f}, note F1 {best.get('val_note_f1', float('nan')):.3f} "
            "(both at thresholds 0.5, before tuning)"
        )
    return "; ".join(parts)


def ship(run: Path, sources: list[tuple[Path, str]], tune_items: int) -> str:
    """Tune the decoding of ``run``'s best model on ``sources`` and save it as the shipped default; a Markdown note."""
    import torch

    from dlmir.models import build, load, read_config, save
    from dlmir.train.transcription import tune_decoding

    torch.set_num_threads(1)
    model = load(run)
    t0 = time.time()
    best, rows = tune_decoding(model, [(r, s) for r, s in sources], limit=tune_items, progress=True)
    cfg = read_config(run)
    tuned = build({**model.config, "decode": best})
    tuned.load_state_dict(model.state_dict())
    extra = {**cfg.get("extra", {}), "decode_tuning": {"sources": [f"{r} ({s})" for r, s in sources],
                                                       "tracks_per_source": tune_items, "top": rows[:5]}}  # fmt: skip
    save(tuned.eval(), ASSETS, frontend=model.frontend_config, extra=extra)
    (ASSETS / "README.md").write_text(ASSETS_README)
    lines = [f"| {' | '.join(f'{r[k]:g}' for k in best)} | {100 * r['note F']:.1f} | {100 * r['frame Acc']:.1f} |"
             for r in rows[:5]]  # fmt: skip
    head = f"| {' | '.join(best)} | note F | frame Acc |\n|{' --- |' * (len(best) + 2)}"
    print(f"shipped {run} -> {ASSETS} with decode {best} ({time.time() - t0:.0f} s)")
    return (f"Decoding thresholds tuned on the valid splits ({', '.join(f'{r.name} {s}' for r, s in sources)}, "
            f"<= {tune_items} tracks each; best 5 of {len(rows)}):\n\n{head}\n" + "\n".join(lines) + "\n")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="learned model: 'default' (shipped) or a run folder")
    ap.add_argument("--band", type=Path, default=ROOT / "data-out" / "band")
    ap.add_argument("--default-data", type=Path, default=Path("/work/data-default"))
    ap.add_argument("--limit", type=int, default=None, help="only the first N test items per dataset")
    ap.add_argument("--ship", type=Path, default=None, help="make this run's best model the shipped default first")
    ap.add_argument("--tune-items", type=int, default=10, help="valid tracks per dataset for tuning the decoding")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections, summary = [], {}
    tuning = ""
    if args.ship is not None:
        valid = [(r, "valid") for r in (args.band, args.default_data) if _has_notes(r)]
        tuning = ship(args.ship, valid, args.tune_items)
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
        *([tuning] if tuning else []),
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
