"""What the shipped networks learned: ``dlmir analyze`` on every shipped model, one summary table.

Runs ``dlmir analyze NAME -o OUT/NAME`` for each shipped model (figures, ``summary.md`` and ``numbers.json`` per
model) and writes ``experiments/results/analysis.md``: how far each model moved from where it started (the designed
cascade for the learned chroma and the tempo model, the seeded initialisation otherwise), per tensor group.

    .venv/bin/python experiments/analysis.py [--out runs/analysis] [--models default chordnet tempo instruments]

About 20-60 s per model on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]
MODELS = ["default", "chordnet", "tempo", "instruments", "transcriber"]


def _relative(t: dict) -> float:
    r = t["relative"]
    return math.inf if r == "inf" else float(r)


def rows(name: str, numbers: dict) -> list[str]:
    """Markdown rows: the weight matrices and kernels with their relative change from the start."""
    designed = numbers.get("designed", {})
    reference = designed.get("reference", "?")
    out = []
    for tensor, t in designed.get("tensors", {}).items():
        if not tensor.endswith("weight") or "norm" in tensor or len(t["shape"]) < 2:
            continue  # weight matrices and kernels only (not normalisation scales)
        rel = _relative(t)
        shown = "inf" if math.isinf(rel) else f"{rel:.3f}"
        out.append(f"| {name} | {reference} | `{tensor}` | {tuple(t['shape'])} | {shown} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "analysis", help="one folder per model")
    ap.add_argument("--models", nargs="*", default=None, help=f"shipped names (default: {' '.join(MODELS)})")
    args = ap.parse_args()
    from dlmir.models import SHIPPED, shipped_model_dir

    names = args.models or [m for m in MODELS if m in SHIPPED and (shipped_model_dir(m) / "config.json").exists()]
    text = [
        "# What the shipped networks learned",
        "",
        "Written by `experiments/analysis.py` (`dlmir analyze NAME` per model; figures and full summaries in "
        f"`{args.out.name}/NAME/`). Relative change of each weight tensor from where training started, "
        "‖learned − start‖ / ‖start‖: the designed cascade (learned chroma, tempo) or the seeded initialisation.",
        "",
        "| model | start | tensor | shape | relative change |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes = []
    for name in names:
        out = args.out / name
        subprocess.run([*DLMIR, "analyze", name, "-o", str(out)], check=True, cwd=ROOT)
        numbers = json.loads((out / "numbers.json").read_text())
        text += rows(name, numbers)
        designed = numbers.get("designed", {})
        if "cosine" in designed:
            notes.append(
                f"- `{name}`: cosine with the octave-equivalence matrix {designed['cosine']:.3f}; share of the "
                f"map's energy that is octave-periodic {designed['octave_share']:.3f} (designed: 1); energy per "
                "input octave from C1: " + ", ".join(f"{100 * e:.0f}%" for e in designed["octave_energy"]) + "."
            )
        sal = numbers.get("saliency", {})
        if sal.get("class"):
            notes.append(f"- `{name}`: saliency on the shipped example, top class {sal['class']}.")
    text += ["", *notes]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analysis.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
