"""What realistic training audio buys: ChordNet trained on clean vs realistic renders at one equal budget.

Both runs hear the same seeded stream of band arrangements (`dlmir train chords stream`, seed 0: the same pieces,
soundfonts and excerpt cuts), produced ``clean`` (dry stems, no room, no codec) or ``realistic`` (rooms, EQ,
compression, amps, detuning, codecs, noise), with the same 9-epoch one-cycle schedule stopped after ``--stop-after``
epochs of 50 steps of 8 x 12 s excerpts (the best model by validation loss on the band valid split so far). Both are
scored by ``dlmir evaluate chords`` on the band test split (unseen pieces, held-out FluidR3 soundfont, realistic
production), full and major/minor vocabularies, and the table goes to ``experiments/results/chords_ablation.md``.

    .venv/bin/python experiments/chords_ablation.py data/band --runs-dir runs/chords/ablation [--stop-after 4]

Cost on the shared 2-core CPU: ~1 h per run at 4 epochs when the machine is otherwise idle, 2-3 h when it is busy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
DLMIR = [str(Path(sys.executable).parent / "dlmir")]
PRODUCTIONS = ("realistic", "clean")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("band", type=Path, help="`dlmir data band` folder (valid: validation, test: scoring)")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "chords" / "ablation")
    ap.add_argument("--stop-after", type=int, default=4, help="epochs of 50 steps trained (of a 9-epoch schedule)")
    args = ap.parse_args()
    runs = []
    for production in PRODUCTIONS:
        run = args.runs_dir / f"chordnet-{production}-e{args.stop_after}"
        runs.append(run)
        if (run / "model.safetensors").exists():
            continue
        cmd = [*DLMIR, "train", "chords", "stream", "--valid", str(args.band), "--out", str(run), "--model", "chordnet"]
        cmd += ["--production", production, "--epochs", "9", "--stop-after", str(args.stop_after)]
        cmd += ["--steps-per-epoch", "50", "--batch-size", "8", "--workers", "1", "--patience", "0"]
        print("dlmir " + " ".join(cmd[len(DLMIR) :]), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    text = [
        "# What realistic training audio buys (ChordNet, equal budget)",
        "",
        f"Written by `experiments/chords_ablation.py {args.band} --stop-after {args.stop_after}`: ChordNet after "
        f"{args.stop_after} x 50 steps of 8 x 12 s excerpts of the same rendered stream, produced clean or realistic; "
        "mir_eval weighted recall (%) on the band test split (unseen pieces, held-out soundfont, realistic "
        "production).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for vocabulary in ("full", "majmin"):
        out = RESULTS / f"chords_ablation_{vocabulary}"
        cmd = [*DLMIR, "evaluate", "chords", str(args.band), "--vocabulary", vocabulary, "--out", str(out)]
        for run in runs:
            cmd += ["--model", str(run)]
        subprocess.run(cmd, check=True, cwd=ROOT)
        text += ["", f"## {vocabulary} vocabulary", "", out.with_suffix(".md").read_text().strip()]
    (RESULTS / "chords_ablation.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
