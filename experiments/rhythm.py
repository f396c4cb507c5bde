"""Tempo, beats and onsets: dlmir designed vs learned vs librosa on the same audio, in one run.

Writes ``experiments/results/rhythm.md``:

- tempo (Acc1, Acc2, mir_eval P-score) of the designed :class:`dlmir.frontends.Tempo` cascade, a learned one
  (``--tempo-run``, trained by ``dlmir train tempo``) and ``librosa.feature.tempo`` on the band test split
  (``dlmir data band``: held-out FluidR3 soundfont, realistic production; the reference tempo of each track is
  60 / the median interval of its exact ``.beats``) and on ``../shared/data/annotated`` (real recordings with
  ``.tempo``/``.bpm`` annotations, when present);
- beats (mir_eval F-measure, CMLt, AMLt; beats after 5 s) of dlmir's tracker following the designed tempo, the
  learned tempo and librosa's ``beat_track`` on the band test split;
- onsets (F-measure at 50 ms) of dlmir's and librosa's detectors on ``../shared/data/annotated``.

    .venv/bin/python experiments/rhythm.py data-out/band [--tempo-run runs/tempo/realistic]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
SHARED = ROOT.parent / "shared" / "data" / "annotated"


def band_tempo_pairs(band: Path, folder: Path) -> list[tuple[str, Path, Path]]:
    """``(id, audio, .bpm)`` for the band test split, the ``.bpm`` files written into ``folder``."""
    from dlmir.data.beat_stream import excerpt_bpm
    from dlmir.rhythm.evaluate import find_rhythm_pairs, read_beats

    out = []
    for p in find_rhythm_pairs(band, "beats", split="test"):
        bpm = excerpt_bpm(read_beats(p.annotation))
        ann = folder / f"{p.id}.bpm"
        ann.write_text(f"{bpm:.3f}\n")
        out.append((p.id, p.audio, ann))
    return out


def main() -> None:
    from dlmir.rhythm.beats import track_beats
    from dlmir.rhythm.evaluate import (
        beat_estimators,
        evaluate_beats,
        evaluate_onsets,
        find_rhythm_pairs,
        rhythm_table,
    )
    from dlmir.rhythm.tempo import evaluate_tempo, find_tempo_pairs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("band", type=Path, help="`dlmir data band` folder (its test split is scored)")
    ap.add_argument("--tempo-run", type=Path, default=None, help="a learned Tempo (`dlmir train tempo --out`)")
    args = ap.parse_args()
    model = str(args.tempo_run) if args.tempo_run else None
    text = [
        "# Tempo, beats and onsets",
        "",
        f"Written by `experiments/rhythm.py {args.band}"
        + (f" --tempo-run {args.tempo_run}" if args.tempo_run else "")
        + "`; every row on the same audio in the same run. Scores in %.",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pairs = band_tempo_pairs(args.band, Path(tmp))
        report = evaluate_tempo([(a, b) for _, a, b in pairs], model=model, progress=True)
        text += ["", f"## Tempo, band test split ({len(pairs)} tracks, held-out soundfont, realistic production)", ""]
        text += [report.markdown()]
    if SHARED.is_dir():
        shared_pairs = find_tempo_pairs(SHARED)
        report = evaluate_tempo(shared_pairs, model=model)
        names = ", ".join(Path(a).name for a, _ in shared_pairs)
        text += ["", f"## Tempo, real recordings in ../shared/data/annotated ({names})", "", report.markdown()]
    estimators = beat_estimators()
    estimators = {"dlmir (designed tempo)": estimators["dlmir"], "librosa": estimators["librosa"]}
    if model:
        estimators["dlmir (learned tempo)"] = lambda y, sr: track_beats(y, sr, tempo_model=model)
    beats = evaluate_beats(find_rhythm_pairs(args.band, "beats", split="test"), estimators=estimators, progress=True)
    text += ["", "## Beats, band test split (beats after 5 s)", "", rhythm_table(beats)]
    if SHARED.is_dir():
        onsets = evaluate_onsets(find_rhythm_pairs(SHARED, "onsets"))
        text += ["", "## Onsets, ../shared/data/annotated (50 ms window)", "", rhythm_table(onsets)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rhythm.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
