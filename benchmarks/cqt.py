"""CQT and chroma: speed against librosa (same run) and fidelity, for a batch of 30 s clips at 22050 Hz.

Usage::

    python benchmarks/cqt.py              # 16 x 30 s clips, 3 repeats
    python benchmarks/cqt.py --batch 4 --repeats 1   # a quick run

For each configuration it prints the median wall time of librosa looping over the clips (as users run it)
and of one batched dlmir call (frozen, float32, :func:`torch.inference_mode`), timed in turns so that load
from other processes hits both alike; their ratio dlmir/librosa (<= 1: dlmir is not slower); and the
relative Frobenius error of dlmir against librosa over the whole batch and in the lowest octave. librosa is
warmed up first (its first call compiles numba code for ~3.6 s). With CUDA available the dlmir batch is
also timed on the GPU (synchronised, transfers excluded).

Run it on a quiet machine: with other processes busy on the same cores, torch's OpenMP threads wait for each
other at every parallel region and a 2-thread dlmir run slows down several-fold (measured here with a load
average of 6 on 2 cores: 84@12 CQT 4.4 s with 2 threads, 1.0 s with ``--threads 1``), while librosa, mostly
single-threaded, slows down less. Check ``uptime`` first, or pass ``--threads 1``.

Configurations: ``librosa.cqt`` with 84 bins at 12/octave (its default), 252 at 36/octave, 192 at 24/octave
(the chord datasets' front end), and ``librosa.feature.chroma_cqt(tuning=0.0)`` against ``Chroma(tuning=0.0)``.

Audio: the real recordings in ``../shared/data/real-music`` (cropped/tiled to 30 s) when present, else
chirps with noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import torch

from dlmir.frontends.chroma import Chroma
from dlmir.frontends.cqt import CQT

# One source of benchmark audio for both scripts (run from this folder's parent: python benchmarks/cqt.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontends import SECONDS, SR, clips  # noqa: E402


def interleaved(fns: list[Callable[[], object]], repeats: int, sync: bool = False) -> list[tuple[float, object]]:
    """Median wall time (s) and last result of each function, timed in turns (A B A B ...).

    Taking turns spreads any load from other processes on the machine evenly over the contenders.
    """
    times: list[list[float]] = [[] for _ in fns]
    results: list[object] = [None for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            results[i] = fn()
            if sync:
                torch.cuda.synchronize()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="number of 30 s clips (default 16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    y, source = clips(args.batch)
    print(f"audio: {source}; batch {args.batch} x {SECONDS} s at {SR} Hz; torch threads {torch.get_num_threads()}")
    librosa.cqt(y[0, : SR * 2], sr=SR)  # numba warm-up
    configs: list[tuple[str, Callable[[np.ndarray], np.ndarray], torch.nn.Module, int]] = [
        ("cqt 84@12", lambda x: np.abs(librosa.cqt(x, sr=SR)), CQT(sr=SR), 12),
        (
            "cqt 252@36",
            lambda x: np.abs(librosa.cqt(x, sr=SR, n_bins=252, bins_per_octave=36)),
            CQT(sr=SR, n_bins=252, bins_per_octave=36),
            36,
        ),
        (
            "cqt 192@24",
            lambda x: np.abs(librosa.cqt(x, sr=SR, n_bins=192, bins_per_octave=24)),
            CQT(sr=SR, n_bins=192, bins_per_octave=24),
            24,
        ),
        ("chroma_cqt", lambda x: librosa.feature.chroma_cqt(y=x, sr=SR, tuning=0.0), Chroma(sr=SR, tuning=0.0), 0),
    ]
    header = f"{'feature':<12} {'librosa s':>10} {'dlmir s':>9} {'ratio':>7} {'rel err':>9} {'low oct':>9}"
    cuda = torch.cuda.is_available()
    print(header + (f" {'cuda s':>8} {'ratio':>7}" if cuda else ""))
    yt = torch.from_numpy(y)
    for name, ref_fn, module, bpo in configs:
        with torch.inference_mode():
            module(yt[:1])  # warm-up
            module(yt)
            (t_ref, ref), (t_dl, out) = interleaved(
                [lambda f=ref_fn: np.stack([f(x) for x in y]), lambda m=module: m(yt)], args.repeats
            )
        out_np = out.numpy()
        low = f"{rel(out_np[:, :bpo], ref[:, :bpo]):9.1e}" if bpo else f"{'-':>9}"
        line = f"{name:<12} {t_ref:10.3f} {t_dl:9.3f} {t_dl / t_ref:7.2f} {rel(out_np, ref):9.1e} {low}"
        if cuda:
            gpu = module.to("cuda")
            yg = yt.to("cuda")
            with torch.inference_mode():
                gpu(yg)
                torch.cuda.synchronize()
                ((t_gpu, _),) = interleaved([lambda m=gpu, x=yg: m(x)], args.repeats, sync=True)
            module.to("cpu")
            line += f" {t_gpu:8.3f} {t_gpu / t_ref:7.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
