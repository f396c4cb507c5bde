"""Front-end speed and memory: dlmir against librosa, measured in the same run.

Usage::

    python benchmarks/frontends.py            # 1 x 30 s clip and a batch of 16 x 30 s clips, 5 repeats
    python benchmarks/frontends.py --quick    # batch of 4, 2 repeats (a smoke run)

For each front end (stft, mel, mfcc, onset, cqt, chroma; cqt/chroma only where ``dlmir.frontends`` has them) it
prints the median wall time of librosa and of dlmir, and the ratio dlmir/librosa (< 1: dlmir is faster):

* single: one 30 s clip at 22050 Hz (librosa: one call; dlmir: one call on ``(1, samples)``);
* batch: 16 clips of 30 s (librosa: a Python loop over the clips, as users run it; dlmir: one batched call);
* chroma is compared with ``tuning=0.0`` on both sides (``librosa.feature.chroma_cqt(..., tuning=0.0)`` and
  ``Chroma(tuning=0.0)``): with the default ``tuning=None`` both would add the same numpy tuning estimate.

dlmir runs frozen (designed parameters) under :func:`torch.inference_mode` on float32 audio. Both sides are
warmed up first (librosa's first call compiles numba code for several seconds).

Memory column: the peak growth of the process's resident set size (RSS) above its value just before the call,
sampled every millisecond from ``/proc/self/statm`` by a background thread during one batch call (librosa:
the whole loop, whose outputs are all kept; dlmir: the batched call). It counts the temporaries and the output.
So that freed arrays really leave the process (and later calls are not served from memory glibc kept), the
script sets glibc's ``M_MMAP_THRESHOLD`` to 64 KiB: every array above that is its own mmap.

With CUDA available, the dlmir batch is also timed on the GPU (synchronised, transfers excluded) and its ratio
to librosa's CPU time is printed.

Audio: the real recordings in ``../shared/data/real-music`` (tiled/cropped to 30 s, one clip per offset) when
present, else synthetic chirps with noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

SR = 22050
SECONDS = 30
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-music"


def clips(n: int) -> tuple[np.ndarray, str]:
    """``n`` clips of 30 s at 22050 Hz, float32, shape ``(n, samples)``, and where they came from."""
    length = SR * SECONDS
    files = sorted(DATA.glob("*.ogg")) if DATA.exists() else []
    out = np.empty((n, length), dtype=np.float32)
    if files:
        from dlmir.io import load

        signals = [load(f, sr=SR)[0] for f in files]
        for i in range(n):
            y = signals[i % len(signals)]
            y = np.tile(y, int(np.ceil((length + SR * (i // len(signals))) / y.size)) + 1)
            start = SR * (i // len(signals))  # later clips of the same file start 1 s later
            out[i] = y[start : start + length]
        return out, f"{len(files)} real recordings from {DATA}"
    rng = np.random.default_rng(0)
    t = np.arange(length) / SR
    for i in range(n):
        f0 = 100.0 * (i + 1)
        out[i] = 0.5 * np.sin(2 * np.pi * (f0 * t + 20 * t**2)) + 0.05 * rng.standard_normal(length)
    return out, "synthetic chirps (real recordings not found)"


def _libc() -> object | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def mmap_large_allocations() -> bool:
    """Make glibc serve every allocation >= 64 KiB by mmap (returned to the OS on free); False if not glibc."""
    libc = _libc()
    m_mmap_threshold = -3
    return bool(libc is not None and libc.mallopt(m_mmap_threshold, 64 * 1024))


def release_free_memory() -> None:
    """Give free heap memory back to the OS (glibc ``malloc_trim``), so the next call's growth is visible."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_growth(fn: Callable[[], object]) -> int:
    """Run ``fn`` once and return the peak RSS growth (bytes) above the RSS just before it."""
    release_free_memory()
    base = rss_bytes()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = fn()
    peak = max(peak, rss_bytes())
    done.set()
    thread.join()
    del result
    return max(0, peak - base)


def median_ms(fn: Callable[[], object], repeats: int, sync: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def paired_ms(fn_a: Callable[[], object], fn_b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median times (ms) of ``fn_a`` and ``fn_b`` run alternately, so load changes hit both alike."""
    a, b = [], []
    for _ in range(repeats):
        a.append(median_ms(fn_a, 1))
        b.append(median_ms(fn_b, 1))
    return statistics.median(a), statistics.median(b)


def librosa_funcs() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    import librosa

    return {
        "stft": lambda y: librosa.stft(y, n_fft=2048, hop_length=512),
        "mel": lambda y: librosa.feature.melspectrogram(y=y, sr=SR, hop_length=512),
        "mfcc": lambda y: librosa.feature.mfcc(y=y, sr=SR, hop_length=512),
        "onset": lambda y: librosa.onset.onset_strength(y=y, sr=SR, hop_length=512),
        "cqt": lambda y: np.abs(librosa.cqt(y, sr=SR, hop_length=512)),
        "chroma": lambda y: librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, tuning=0.0),
    }


def dlmir_frontends() -> dict[str, torch.nn.Module]:
    import dlmir.frontends as fe

    out: dict[str, torch.nn.Module] = {
        "stft": fe.STFT(n_fft=2048, hop_length=512),
        "mel": fe.MelSpectrogram(sr=SR, hop_length=512),
        "mfcc": fe.MFCC(sr=SR, hop_length=512),
        "onset": fe.OnsetStrength(sr=SR, hop_length=512),
    }
    for name in ("CQT", "Chroma"):
        cls = getattr(fe, name, None)
        if cls is not None:
            fixed = {"tuning": 0.0} if name == "Chroma" else {}  # as the librosa side (see the docstring)
            out[name.lower()] = cls(sr=SR, hop_length=512, **fixed)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch of 4 and 2 repeats (smoke run)")
    parser.add_argument("--batch", type=int, default=None, help="clips in the batch (default 16, 4 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--only", nargs="*", default=None, help="front ends to run (default: all available)")
    args = parser.parse_args(argv)
    batch_n = args.batch or (4 if args.quick else 16)
    repeats = args.repeats or (2 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")

    audio, source = clips(batch_n)
    single = audio[:1]
    lib, ours = librosa_funcs(), dlmir_frontends()
    kinds = [k for k in lib if k in ours and (args.only is None or k in args.only)]
    skipped = [k for k in lib if k not in ours]
    cuda = torch.cuda.is_available()

    print(f"audio: {source}; clip {SECONDS} s at {SR} Hz; batch {batch_n}; median of {repeats}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, cuda {cuda}")
    print("load average at start (other processes skew CPU timings): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if skipped:
        print(f"skipped (not in dlmir.frontends yet): {', '.join(skipped)}")

    def batch_runners(kind: str) -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
        f_lib, fe = lib[kind], ours[kind]

        def run_ours(x: np.ndarray) -> torch.Tensor:
            with torch.inference_mode():
                return fe(torch.from_numpy(x))

        return (lambda: [f_lib(y) for y in audio]), (lambda: run_ours(audio)), (lambda: run_ours(single))

    # phase 1: times (glibc's default allocator behaviour), librosa and dlmir alternating repeat by repeat
    rows: dict[str, list[float]] = {}
    for kind in kinds:
        lib_batch, ours_batch, ours_single = batch_runners(kind)
        lib_single = lambda f=lib[kind]: f(single[0])  # noqa: E731
        lib_single(), ours_single(), ours_batch()  # warm-up: numba compilation, FFT plans, caches
        lib_1, ours_1 = paired_ms(lib_single, ours_single, repeats)
        lib_b, ours_b = paired_ms(lib_batch, ours_batch, repeats)
        rows[kind] = [lib_1, ours_1, lib_b, ours_b]
        if cuda:
            fe_gpu = ours[kind].to("cuda")
            x_gpu = torch.from_numpy(audio).to("cuda")

            def run_gpu(fe_gpu: torch.nn.Module = fe_gpu, x_gpu: torch.Tensor = x_gpu) -> torch.Tensor:
                with torch.inference_mode():
                    return fe_gpu(x_gpu)

            run_gpu()
            torch.cuda.synchronize()
            rows[kind].append(median_ms(run_gpu, repeats, sync=torch.cuda.synchronize))
            ours[kind].to("cpu")
        print(f"  timed {kind}", file=sys.stderr, flush=True)

    # phase 2: peak memory of one batch call each, with every large array its own mmap
    exact_rss = mmap_large_allocations()
    for kind in kinds:
        lib_batch, ours_batch, _ = batch_runners(kind)
        rows[kind] += [peak_rss_growth(lib_batch) / 2**20, peak_rss_growth(ours_batch) / 2**20]

    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if not exact_rss:
        print("note: could not set M_MMAP_THRESHOLD (not glibc); peak RSS may under-count reused memory")
    header = (
        f"{'front end':<9} | {'single: librosa':>15} {'dlmir':>9} {'ratio':>6} | "
        f"{'batch: librosa':>14} {'dlmir':>9} {'ratio':>6} | {'peak RSS MB: librosa':>20} {'dlmir':>7}"
    )
    if cuda:
        header += f" | {'GPU batch ms':>12} {'GPU/librosa':>11}"
    print(header)
    print("-" * len(header))
    for kind, row in rows.items():
        lib_1, ours_1, lib_b, ours_b = row[:4]
        mem_lib, mem_ours = row[-2:]
        line = (
            f"{kind:<9} | {lib_1:>12.1f} ms {ours_1:>6.1f} ms {ours_1 / lib_1:>6.2f} | "
            f"{lib_b:>11.1f} ms {ours_b:>6.1f} ms {ours_b / lib_b:>6.2f} | {mem_lib:>20.0f} {mem_ours:>7.0f}"
        )
        if cuda:
            line += f" | {row[4]:>9.1f} ms {row[4] / lib_b:>11.4f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
