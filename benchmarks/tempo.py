"""Tempo speed: dlmir's designed :class:`~dlmir.frontends.Tempo` against ``librosa.feature.tempo``, same run.

Usage::

    python benchmarks/tempo.py                 # 30 s clips, 9 alternating repeats, results/tempo.md
    python benchmarks/tempo.py --repeats 3     # a quick run
    python benchmarks/tempo.py --threads 1     # on a busy machine (see benchmarks/cqt.py)

For one 30 s clip at 22050 Hz it times, in turns (so that load from other processes hits both alike):

* librosa: ``librosa.feature.tempo(y=y, sr=sr)`` with its defaults, which compute the onset strength
  (``librosa.onset.onset_strength``) and the autocorrelation tempogram inside the call;
* dlmir: :func:`dlmir.rhythm.tempo.estimate_tempo` ``(y, sr)`` (the designed cascade, frozen, float32, under
  :func:`torch.inference_mode`, peak picking included): onset flux, comb-filter resonators, prior, two tempi.

and prints the median of each and their ratio dlmir/librosa (<= 1: dlmir is not slower), for each clip and
overall, plus a batched dlmir call over all clips (one :class:`~dlmir.frontends.Tempo` call on
``(n_clips, samples)``) against the librosa loop. librosa is warmed up first (its first call compiles numba
code for several seconds). The table is written to ``benchmarks/results/tempo.md``.

Audio: the real recordings in ``../shared/data/real-music`` (cropped/tiled to 30 s) when present, else chirps
with noise (see ``benchmarks/frontends.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontends import SR, clips, paired_ms  # noqa: E402  (benchmarks/ is a folder of scripts)

RESULTS = Path(__file__).resolve().parent / "results" / "tempo.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="number of 30 s clips (default 4)")
    parser.add_argument("--repeats", type=int, default=9, help="alternating timed repeats per clip (default 9)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"Markdown results (default {RESULTS})")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import librosa

    from dlmir.frontends.tempo import Tempo
    from dlmir.rhythm.tempo import designed_tempo, estimate_tempo

    ys, source = clips(args.clips)
    fe = designed_tempo()

    def run_librosa(y: np.ndarray) -> float:
        return float(librosa.feature.tempo(y=y, sr=SR)[0])

    def run_dlmir(y: np.ndarray) -> float:
        return estimate_tempo(y, SR).bpm1

    for y in ys[:1]:  # warm-up: numba compilation, torch kernels, lru caches
        run_librosa(y), run_dlmir(y)
    rows = []
    for i, y in enumerate(ys):
        t_lib, t_dl = paired_ms(lambda y=y: run_librosa(y), lambda y=y: run_dlmir(y), args.repeats)
        rows.append((f"clip {i + 1} (30 s)", t_lib, t_dl, run_librosa(y), run_dlmir(y)))
        print(f"{rows[-1][0]}: librosa {t_lib:.1f} ms, dlmir {t_dl:.1f} ms, ratio {t_dl / t_lib:.2f} "
              f"(tempo librosa {rows[-1][3]:.1f}, dlmir {rows[-1][4]:.1f} BPM)", flush=True)  # fmt: skip
    batch = torch.from_numpy(ys)

    def batch_dlmir() -> None:
        with torch.inference_mode():
            Tempo.estimate(fe, batch)

    def batch_librosa() -> None:
        for y in ys:
            run_librosa(y)

    t_lib_b, t_dl_b = paired_ms(batch_librosa, batch_dlmir, max(3, args.repeats // 3))
    single_lib = statistics.median(r[1] for r in rows)
    single_dl = statistics.median(r[2] for r in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Tempo: dlmir (designed Tempo cascade) against librosa.feature.tempo",
        "",
        f"Written by `python benchmarks/tempo.py` on {time.strftime('%Y-%m-%d')}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), librosa "
        f"{librosa.__version__}; load average {load:.1f} at the start of the timed runs. Audio: {source}. "
        f"Medians of {args.repeats} repeats run in turns (dlmir, librosa, dlmir, ...); ratio = dlmir / librosa "
        "(< 1: dlmir faster).",
        "",
        "| audio | librosa (ms) | dlmir (ms) | ratio | librosa tempo (BPM) | dlmir tempo (BPM) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, t_lib, t_dl, b_lib, b_dl in rows:
        lines.append(f"| {name} | {t_lib:.1f} | {t_dl:.1f} | {t_dl / t_lib:.2f} | {b_lib:.1f} | {b_dl:.1f} |")
    lines.append(f"| median of one clip | {single_lib:.1f} | {single_dl:.1f} | {single_dl / single_lib:.2f} | | |")
    lines.append(
        f"| batch of {len(ys)} clips (librosa: a loop) | {t_lib_b:.1f} | {t_dl_b:.1f} | {t_dl_b / t_lib_b:.2f} | | |"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
