"""Tempo speed: dlmir's designed :class:`~dlmir.frontends.Tempo` against ``librosa.feature.tempo``, same run.

Usage::

    python benchmarks/tempo.py                 # 30 s clips, 9 alternating repeats, results/tempo.md
    python benchmarks/tempo.py --repeats 3     # a quick run
    python benchmarks/tempo.py --threads 1     # on a busy machine (see benchmarks/cqt.py)

For each 30 s clip at 22050 Hz it times, in turns (so that load from other processes hits all alike):

* librosa: ``librosa.feature.tempo(y=y, sr=sr)`` with its defaults, which compute the onset strength
  (``librosa.onset.onset_strength``) and the autocorrelation tempogram inside the call;
* dlmir: :func:`dlmir.rhythm.tempo.estimate_tempo` ``(y, sr)`` (the designed cascade, frozen, float32, under
  :func:`torch.inference_mode`, peak picking included): onset flux, comb-filter resonators, prior, two tempi.

and prints the median of each and their ratio dlmir/librosa (<= 1: dlmir is not slower), for each clip and
overall, plus a batched dlmir call over all clips (one :class:`~dlmir.frontends.Tempo` call on
``(n_clips, samples)``) against the librosa loop. dlmir runs with torch's threads and with one thread (librosa's
tempo is single-threaded; on a 2-core machine shared with other jobs torch's OpenMP threads wait for each other,
see ``benchmarks/cqt.py``). librosa is warmed up first (its first call compiles numba code for several seconds).
With CUDA the batch is also timed on the GPU. The table is written to ``benchmarks/results/tempo.md``.

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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontends import SR, clips  # noqa: E402  (benchmarks/ is a folder of scripts)

RESULTS = Path(__file__).resolve().parent / "results" / "tempo.md"


def rotated_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median times (ms) of each function, run in turns (a, b, c, a, b, c, ...) so that load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: statistics.median(v) for name, v in times.items()}


def with_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with ``torch.set_num_threads(n)`` (restored afterwards)."""

    def run() -> object:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="number of 30 s clips (default 4)")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per clip, in turns (default 9)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"Markdown results (default {RESULTS})")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import librosa

    from dlmir.rhythm.tempo import designed_tempo, estimate_tempo

    ys, source = clips(args.clips)
    fe = designed_tempo()
    threads = torch.get_num_threads()

    def run_librosa(y: np.ndarray) -> float:
        return float(librosa.feature.tempo(y=y, sr=SR)[0])

    def run_dlmir(y: np.ndarray) -> float:
        return estimate_tempo(y, SR).bpm1

    for y in ys[:1]:  # warm-up: numba compilation, torch kernels, lru caches
        run_librosa(y), run_dlmir(y)
    names = ["librosa", f"dlmir ({threads} threads)", "dlmir (1 thread)"][: 3 if threads > 1 else 2]
    rows = []
    for i, y in enumerate(ys):
        fns = {names[0]: lambda y=y: run_librosa(y), names[1]: lambda y=y: run_dlmir(y)}
        if len(names) == 3:
            fns[names[2]] = with_threads(1, lambda y=y: run_dlmir(y))
        t = rotated_ms(fns, args.repeats)
        rows.append((f"clip {i + 1} (30 s)", [t[n] for n in names], run_librosa(y), run_dlmir(y)))
        print(rows[-1], flush=True)
    batch = torch.from_numpy(ys)

    def batch_dlmir() -> None:
        with torch.inference_mode():
            fe.estimate(batch)

    def batch_librosa() -> None:
        for y in ys:
            run_librosa(y)

    fns = {names[0]: batch_librosa, names[1]: batch_dlmir}
    if len(names) == 3:
        fns[names[2]] = with_threads(1, batch_dlmir)
    t = rotated_ms(fns, max(3, args.repeats // 3))
    rows.append((f"batch of {len(ys)} clips (librosa: a loop)", [t[n] for n in names], None, None))
    gpu = ""
    if torch.cuda.is_available():
        from dlmir.frontends.tempo import Tempo

        cuda = Tempo().to("cuda")  # a designed cascade of its own (the cached one stays on the CPU)
        on_gpu = batch.to("cuda")

        def batch_gpu() -> None:
            with torch.inference_mode():
                cuda(on_gpu)
            torch.cuda.synchronize()

        batch_gpu()
        t_gpu = rotated_ms({"gpu": batch_gpu}, args.repeats)["gpu"]
        gpu = (f" On the GPU ({torch.cuda.get_device_name()}) the batch's tempo spectra take {t_gpu:.1f} ms "
               f"(synchronised, transfers excluded; peak picking on the CPU not included).")  # fmt: skip
    singles = [statistics.median(r[1][j] for r in rows[:-1]) for j in range(len(names))]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    head = " | ".join(f"{n} (ms)" for n in names)
    ratios = " | ".join(f"ratio {n}" for n in names[1:])
    lines = [
        "# Tempo: dlmir (designed Tempo cascade) against librosa.feature.tempo",
        "",
        f"Written by `python benchmarks/tempo.py` on {time.strftime('%Y-%m-%d')}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, librosa "
        f"{librosa.__version__}; load average {load:.1f} after the timed runs (other processes were running). "
        f"Audio: {source}. Medians of {args.repeats} repeats run in turns; ratio = dlmir / librosa (< 1: dlmir "
        f"faster). dlmir is timed with torch's {threads} threads and with one (librosa's tempo runs on one core)."
        + gpu,
        "",
        f"| audio | {head} | {ratios} | librosa tempo (BPM) | dlmir tempo (BPM) |",
        "| --- | " + " | ".join("---" for _ in names) + " | " + " | ".join("---" for _ in names[1:]) + " | --- | --- |",
    ]

    def line(name: str, ms: list[float], b_lib: float | None, b_dl: float | None) -> str:
        cells = [f"{v:.1f}" for v in ms] + [f"{v / ms[0]:.2f}" for v in ms[1:]]
        tempi = [f"{b_lib:.1f}", f"{b_dl:.1f}"] if b_lib is not None else ["", ""]
        return f"| {name} | " + " | ".join(cells + tempi) + " |"

    for name, ms, b_lib, b_dl in rows[:-1]:
        lines.append(line(name, ms, b_lib, b_dl))
    lines.append(line("median of one clip", singles, None, None))
    lines.append(line(*rows[-1]))
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
